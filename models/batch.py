"""Batch prediction over large corpora: one partitioned job, run in this process or on a Dask cluster.

The input (:mod:`models.batch_input`) is cut into partitions of ``partition_size`` documents. A
runner (:class:`LocalRunner` here, ``DaskRunner`` in :mod:`models.dask_runner`) predicts each
partition with :func:`run_partition`, which returns the partition's rows already encoded; only the
process that started the job writes them (:mod:`models.batch_output`), one part file per partition
recorded in a manifest, so a rerun after a crash or Ctrl-C resumes after the finished partitions
and no row is written twice or half. A document whose prediction raises is left out of the rows
and listed, with its id and the reason, in the errors file; the job goes on. Both runners run the
same :func:`run_partition`, so their outputs are the same bytes.

Each row: ``id``, ``entities`` (as :func:`models.predict.predict` gives them) and ``model`` (the
model's version); with ``records`` also ``relations`` and ``records`` (``predict(records=True)``).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from corpus.document import Document
from models.batch_input import Partition, RowError, input_files, plan_partitions, read_partition
from models.batch_output import JSON_COLUMNS, BatchError, BatchOutput
from models.card import read_meta
from models.hf_engine import THREADS_ENV
from models.loading import RULES_ENGINE, default_model_dir, load_model
from models.predict import DEFAULT_MAX_CHARS, predict

DEFAULT_PARTITION_SIZE = 500  # articles, ~400k words: about 30 s of spaCy or 3 min of int8 ONNX on one core
DEFAULT_BATCH_SIZE = 16  # documents per model call
BLAS_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")  # read when a library loads
THREAD_ENV_VARS = (*BLAS_ENV_VARS, THREADS_ENV)


@dataclass(frozen=True)
class BatchJob:
    """What every partition needs to know; sent with each task, so it stays small."""

    model: str  # an absolute model directory, or "rules"
    fmt: str = "jsonl"
    batch_size: int = DEFAULT_BATCH_SIZE
    max_chars: int = DEFAULT_MAX_CHARS
    records: bool = False  # also relations and records (predict(records=True))


def model_ref(model: str | Path | None) -> str:
    """What workers load: ``rules``, or a checked model directory as an absolute path (default: the latest)."""
    if model is not None and str(model) == RULES_ENGINE:
        return RULES_ENGINE
    path = (Path(model) if model is not None else default_model_dir()).resolve()
    read_meta(path)  # a ModelDirError here, before any worker starts
    return str(path)


# ---------------------------------------------------------------- one partition (runs on a worker)


@dataclass(frozen=True)
class PartResult:
    """A predicted partition: its rows encoded in the job's format, and what happened to each document."""

    index: int
    payload: bytes
    rows: int
    words: int
    errors: tuple[RowError, ...]
    seconds: float
    model: str  # the version of the model that predicted it

    def manifest_entry(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "words": self.words,
            "seconds": round(self.seconds, 3),
            "model": self.model,
            "errors": [asdict(e) for e in self.errors],
        }


@dataclass(frozen=True)
class PartFailure:
    """A partition whose task failed as a whole (unreadable input, a worker lost too often)."""

    index: int
    error: str


def output_row(doc_id: str, predicted: list[dict[str, Any]] | dict[str, Any], model_version: str) -> dict[str, Any]:
    """One output row from ``predict``'s result for a document (its entities, or entities, relations, records)."""
    found = predicted if isinstance(predicted, dict) else {"entities": predicted}
    return {"id": doc_id, **found, "model": model_version}


def parquet_schema(records: bool = False) -> Any:
    """The Parquet columns of :func:`output_row`; relations and records are kept as JSON text."""
    import pyarrow as pa

    entity = pa.struct(
        [
            ("start", pa.int64()),
            ("end", pa.int64()),
            ("label", pa.string()),
            ("text", pa.string()),
            ("score", pa.float64()),
        ]
    )
    columns = [("id", pa.string()), ("entities", pa.list_(entity))]
    columns += [(name, pa.string()) for name in JSON_COLUMNS] if records else []
    return pa.schema(columns + [("model", pa.string())])


def _parquet_bytes(rows: list[dict[str, Any]], records: bool) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = [{k: json.dumps(v, ensure_ascii=False) if k in JSON_COLUMNS else v for k, v in row.items()} for row in rows]
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(flat, schema=parquet_schema(records)), sink, compression="zstd")
    return sink.getvalue().to_pybytes()


_predict_lock = threading.Lock()  # one model call at a time in a process, whatever its task threads


def _predict_batch(docs: list[Document], job: BatchJob, model: Any) -> list[Any]:
    """``predict``'s result for each document, or the exception it raised (the batch is redone one by one)."""
    with _predict_lock:
        try:
            return list(predict([d.text for d in docs], model, job.max_chars, records=job.records))
        except Exception:  # noqa: BLE001 - find out which document it was
            results: list[Any] = []
            for doc in docs:
                try:
                    results.append(predict(doc.text, model, job.max_chars, records=job.records))
                except Exception as exc:  # noqa: BLE001 - reported in the errors file, the job goes on
                    results.append(exc)
            return results


def run_partition(job: BatchJob, part: Partition) -> PartResult:
    """Predict one partition with this process's copy of the model (loaded on first use)."""
    started = time.perf_counter()
    model = load_model(job.model)
    rows: list[dict[str, Any]] = []
    lines: list[bytes] = []
    errors: list[RowError] = []
    words = 0

    def flush(batch: list[Document]) -> None:
        nonlocal words
        for doc, result in zip(batch, _predict_batch(batch, job, model), strict=True):
            if isinstance(result, Exception):
                errors.append(RowError(doc.id, f"{type(result).__name__}: {result}"))
                continue
            row = output_row(doc.id, result, model.version)
            try:
                line = json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n"
            except (UnicodeEncodeError, ValueError) as exc:  # e.g. a lone surrogate in an id
                errors.append(RowError(doc.id, f"{type(exc).__name__}: {exc}"))
                continue
            rows.append(row)
            lines.append(line)
            words += len(doc.text.split())

    batch: list[Document] = []
    for item in read_partition(part):
        if isinstance(item, RowError):
            errors.append(item)
            continue
        batch.append(item)
        if len(batch) == job.batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    payload = b"".join(lines) if job.fmt == "jsonl" else _parquet_bytes(rows, job.records)
    return PartResult(
        part.index, payload, len(rows), words, tuple(errors), time.perf_counter() - started, model.version
    )


def configure_threads(threads: int) -> None:
    """Give this process's numeric libraries ``threads`` threads: BLAS (numpy/spaCy), torch, onnxruntime.

    Environment variables cover libraries not loaded yet (onnxruntime and torch models read
    ``VNER_THREADS`` when they load); threadpoolctl and torch change the ones already running.
    """
    from threadpoolctl import threadpool_limits

    for name in THREAD_ENV_VARS:
        os.environ[name] = str(threads)
    threadpool_limits(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------- runners and the job


class Runner(Protocol):
    """Runs partitions somewhere and yields each outcome as it finishes (in any order)."""

    def __enter__(self) -> Runner: ...
    def __exit__(self, *exc: object) -> None: ...
    def model_version(self) -> str: ...
    def map(self, job: BatchJob, partitions: list[Partition]) -> Iterator[PartResult | PartFailure]: ...


class LocalRunner:
    """Every partition in this process, one after another; the model is loaded once."""

    def __init__(self, model: str, threads: int | None = None):
        self.model, self.threads = model, threads

    def __enter__(self) -> LocalRunner:
        if self.threads:
            configure_threads(self.threads)
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def model_version(self) -> str:
        return load_model(self.model).version

    def map(self, job: BatchJob, partitions: list[Partition]) -> Iterator[PartResult | PartFailure]:
        for part in partitions:
            try:
                result: PartResult | PartFailure = run_partition(job, part)
            except Exception as exc:  # noqa: BLE001 - reported; the other partitions go on
                result = PartFailure(part.index, f"{type(exc).__name__}: {exc}")
            yield result


@dataclass
class BatchSummary:
    out: Path
    errors_file: Path
    model: str
    partitions: int
    documents: int
    repeated: int  # documents whose id came earlier in the input: skipped
    done_before: int  # partitions finished by an earlier run
    predicted: int = 0  # partitions predicted by this run
    rows: int = 0
    words: int = 0
    errors: int = 0  # documents in the errors file (this run and earlier ones)
    failed: list[PartFailure] = field(default_factory=list)
    startup_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return self.done_before + self.predicted == self.partitions


def run_batch(
    inputs: Sequence[str | Path],
    out: Path,
    job: BatchJob,
    runner: Runner,
    partition_size: int = DEFAULT_PARTITION_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> BatchSummary:
    """Predict every document of ``inputs`` into ``out``, resuming from what an earlier run finished.

    ``progress(finished partitions, all partitions)`` is called once the runner is ready and after
    each partition. Raises FormatError for bad input and BatchError for an output that is not this job's.
    """
    started = time.perf_counter()
    files = input_files(inputs)
    output = BatchOutput(out, job.fmt)
    for path in files:
        if output.owns(path):
            raise BatchError(f"{path} is part of the output {out}; write predictions somewhere else")
    plan = plan_partitions(files, partition_size)
    identity: dict[str, Any] = {
        "format": job.fmt,
        "inputs": plan.inputs,
        "partition_size": partition_size,
        "partitions": len(plan.partitions),
        "documents": plan.documents,
        "max_chars": job.max_chars,
        "records": job.records,
    }
    output.check(identity)
    with runner:
        version = runner.model_version()
        done = output.open({**identity, "model": version})
        summary = BatchSummary(
            out,
            output.errors_file,
            version,
            len(plan.partitions),
            plan.documents,
            plan.repeated,
            len(done),
            startup_seconds=time.perf_counter() - started,
        )
        if progress:
            progress(len(done), len(plan.partitions))
        pending = [p for p in plan.partitions if p.index not in done]
        for outcome in runner.map(job, pending):
            if isinstance(outcome, PartResult) and outcome.model != version:
                outcome = PartFailure(
                    outcome.index,
                    f"predicted by model {outcome.model}, not {version} (a worker has another copy of the model)",
                )
            if isinstance(outcome, PartFailure):
                summary.failed.append(outcome)
            else:
                done[outcome.index] = output.commit(outcome.index, outcome.payload, outcome.manifest_entry())
                summary.predicted += 1
                summary.rows += outcome.rows
                summary.words += outcome.words
            if progress:
                progress(len(done), len(plan.partitions))
    output.finish(done, len(plan.partitions))
    summary.errors = sum(len(e.get("errors", [])) for e in done.values())
    summary.seconds = time.perf_counter() - started
    return summary
