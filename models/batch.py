"""Batch prediction over large corpora: one partitioned job, run in this process or on a Dask cluster.

The input (JSON Lines or Parquet: one file, several, a glob or a directory) is cut into partitions
of ``partition_size`` documents. A runner (:class:`LocalRunner` here, ``DaskRunner`` in
:mod:`models.dask_runner`) predicts each partition with :func:`run_partition`, which returns the
partition's rows already encoded; only the process that started the job writes. Each finished
partition becomes one part file (temporary file, fsync, atomic rename) and then one manifest line,
so a rerun after a crash or Ctrl-C skips the partitions in the manifest and no row is written twice
or half. A document whose prediction raises is left out of the rows and listed, with its id, in the
errors file; the job goes on.

Output layout (``--out``):

- Parquet: ``OUT/`` holds ``part-00000.parquet`` ... (one per partition; columns ``id``,
  ``entities``, ``model``) and the job's own ``_job.json``, ``_manifest.jsonl``, ``_errors.jsonl``
  (names starting with ``_`` are skipped by Parquet readers).
- JSON Lines: ``OUT`` (one ``{"id", "entities", "model"}`` object a line, in input order) appears
  once every partition is done; until then the parts live in ``OUT.batch/``, which keeps
  ``job.json``, ``manifest.jsonl`` and ``errors.jsonl``.

An existing ``--out`` without the job file beside it was not written by this tool and is never
touched; a job file that describes different inputs, settings or model is refused too.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from glob import glob
from pathlib import Path
from typing import Any, Protocol

from corpus.document import Document
from corpus.jsonl import FormatError
from models.hf_engine import THREADS_ENV
from models.loading import RULES_ENGINE, default_model_dir, load_model
from models.predict import DEFAULT_MAX_CHARS, predict

FORMATS = ("jsonl", "parquet")
INPUT_KINDS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
DEFAULT_PARTITION_SIZE = 500  # documents; ~400k words: 15 s of spaCy or 90 s of int8 ONNX on one core
DEFAULT_BATCH_SIZE = 16  # documents per model call
JOB_VERSION = 1
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", THREADS_ENV)


class BatchError(ValueError):
    """The job cannot start: the output belongs to something else, or describes another job."""


# ---------------------------------------------------------------- what to predict


@dataclass(frozen=True)
class BatchJob:
    """What every partition needs to know; sent with each task, so it stays small."""

    model: str  # an absolute model directory, or "rules"
    fmt: str = "jsonl"
    batch_size: int = DEFAULT_BATCH_SIZE
    max_chars: int = DEFAULT_MAX_CHARS


@dataclass(frozen=True)
class Segment:
    """Consecutive documents of one input file: a byte range of whole lines, or a Parquet row range."""

    path: str
    kind: str  # "jsonl" or "parquet"
    start: int
    stop: int
    first_line: int  # JSON Lines: the line number at ``start``, for messages


@dataclass(frozen=True)
class Partition:
    index: int
    segments: tuple[Segment, ...]
    documents: int
    skip: frozenset[int] = frozenset()  # positions (in this partition) of ids seen earlier in the input


@dataclass(frozen=True)
class Plan:
    inputs: list[dict[str, Any]]  # path, size, mtime_ns of each input file: a resumed run needs the same
    partitions: list[Partition]
    documents: int
    repeated: int


def model_ref(model: str | Path | None) -> str:
    """What workers load: ``rules``, or the model directory as an absolute path (default: the latest model)."""
    if model is not None and str(model) == RULES_ENGINE:
        return RULES_ENGINE
    return str((Path(model) if model is not None else default_model_dir()).resolve())


def input_files(specs: Sequence[str | Path]) -> list[Path]:
    """The JSON Lines and Parquet files named by files, globs and directories (searched recursively)."""
    files: list[Path] = []
    for spec in specs:
        text, path = str(spec), Path(spec)
        if path.is_dir():
            found = [p for p in sorted(path.rglob("*")) if _is_input(p, path)]
        elif any(char in text for char in "*?["):
            found = [Path(p) for p in sorted(glob(text, recursive=True)) if _is_input(Path(p))]
        elif path.is_file():
            if path.suffix.lower() not in INPUT_KINDS:
                raise FormatError(f"{path}: give JSON Lines (.jsonl, .ndjson) or Parquet (.parquet) files")
            found = [path]
        else:
            raise FormatError(f"{text}: no such file or directory")
        if not found:
            raise FormatError(f"{text}: no .jsonl, .ndjson or .parquet files there")
        files += found
    unique = {p.resolve(): p for p in files}  # the same file named twice is read once
    return list(unique.values())


def _is_input(path: Path, root: Path | None = None) -> bool:
    parts = path.relative_to(root).parts if root else (path.name,)
    hidden = any(part.startswith((".", "_")) for part in parts)  # Parquet datasets' own metadata files
    return path.is_file() and path.suffix.lower() in INPUT_KINDS and not hidden


def parse_line(raw: bytes, path: str | Path, number: int) -> Document:
    """One JSON Lines document, or a FormatError naming the file and line."""
    try:
        text = raw.decode("utf-8")
        return Document.from_dict(json.loads(text.removeprefix("\ufeff") if number == 1 else text))
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}:{number}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"{path}:{number}: not a document ({exc})") from exc


def _jsonl_rows(path: Path) -> Iterator[tuple[int, int, int, str]]:
    """(first byte, end byte, line number, id) of each document line."""
    with open(path, "rb") as handle:
        offset = 0
        for number, raw in enumerate(handle, 1):
            if raw.strip():
                yield offset, offset + len(raw), number, parse_line(raw, path, number).id
            offset += len(raw)


def _parquet_file(path: str | Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise FormatError(f"{path}: not a Parquet file ({exc})") from exc
    missing = {"id", "text"} - set(parquet.schema_arrow.names)
    if missing:
        raise FormatError(f"{path}: no {' or '.join(sorted(missing))} column (Parquet input needs id and text)")
    return parquet


def _parquet_rows(path: Path) -> Iterator[tuple[int, int, int, str]]:
    """(row, row + 1, row number, id) of each row."""
    row = 0
    for batch in _parquet_file(path).iter_batches(columns=["id"]):
        for value in batch.column(0).to_pylist():
            if value is None or str(value) == "":
                raise FormatError(f"{path}: row {row + 1}: no id")
            yield row, row + 1, row + 1, str(value)
            row += 1


def plan_partitions(files: Sequence[Path], partition_size: int) -> Plan:
    """Read every id once (checking each line), then cut the input into partitions of ``partition_size``."""
    if partition_size < 1:
        raise ValueError("partition_size must be at least 1")
    partitions: list[Partition] = []
    seen: set[str] = set()
    segments: list[Segment] = []
    count, repeated = 0, 0
    skip: set[int] = set()

    def close() -> None:
        nonlocal count, skip
        if count:
            partitions.append(Partition(len(partitions), tuple(segments), count, frozenset(skip)))
        segments.clear()
        count, skip = 0, set()

    inputs = []
    for path in files:
        stat = path.stat()
        inputs.append({"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
        kind = INPUT_KINDS[path.suffix.lower()]
        for start, stop, number, ident in (_jsonl_rows if kind == "jsonl" else _parquet_rows)(path):
            if count == partition_size:
                close()
            if segments and segments[-1].path == str(path):
                segments[-1] = Segment(str(path), kind, segments[-1].start, stop, segments[-1].first_line)
            else:
                segments.append(Segment(str(path), kind, start, stop, number))
            if ident in seen:
                skip.add(count)
                repeated += 1
            seen.add(ident)
            count += 1
    close()
    return Plan(inputs, partitions, len(seen) + repeated, repeated)


# ---------------------------------------------------------------- one partition (runs on a worker)


@dataclass(frozen=True)
class RowError:
    """A document that could not be predicted."""

    id: str
    error: str


def read_partition(part: Partition) -> Iterator[Document | RowError]:
    """The partition's documents in input order (ids already seen earlier in the input left out)."""
    position = 0
    for segment in part.segments:
        for item in _read_segment(segment):
            if position not in part.skip:
                yield item
            position += 1


def _read_segment(segment: Segment) -> Iterator[Document | RowError]:
    if segment.kind == "jsonl":
        with open(segment.path, "rb") as handle:
            handle.seek(segment.start)
            data = handle.read(segment.stop - segment.start)
        for number, raw in enumerate(data.split(b"\n"), segment.first_line):
            if raw.strip():
                yield parse_line(raw, segment.path, number)
        return
    parquet = _parquet_file(segment.path)
    groups, first, offset = [], None, 0
    for group in range(parquet.metadata.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        if offset < segment.stop and offset + rows > segment.start:
            groups.append(group)
            first = offset if first is None else first
        offset += rows
    table = parquet.read_row_groups(groups, columns=["id", "text"]).slice(segment.start - (first or 0),
                                                                          segment.stop - segment.start)
    for record in table.to_pylist():
        ident = str(record["id"])
        text = record["text"]
        yield Document(ident, text) if isinstance(text, str) else RowError(ident, "no text (null)")


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


@dataclass(frozen=True)
class PartFailure:
    """A partition whose task failed as a whole (unreadable input, a worker lost too often)."""

    index: int
    error: str


def output_row(doc_id: str, entities: list[dict[str, Any]], model_version: str) -> dict[str, Any]:
    """One output row. Entities are ``predict``'s dicts (start, end, label, text, score)."""
    return {"id": doc_id, "entities": entities, "model": model_version}


def parquet_schema() -> Any:
    """The Parquet columns of :func:`output_row`."""
    import pyarrow as pa

    entity = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()),
                        ("text", pa.string()), ("score", pa.float64())])
    return pa.schema([("id", pa.string()), ("entities", pa.list_(entity)), ("model", pa.string())])


_predict_lock = threading.Lock()  # one model call at a time in a process, whatever its task threads


def _predict_batch(docs: list[Document], job: BatchJob, model: Any) -> list[list[dict[str, Any]] | Exception]:
    """Entities of each document; a document that raises gets its exception (its batch is redone one by one)."""
    with _predict_lock:
        try:
            return list(predict([d.text for d in docs], model, job.max_chars))
        except Exception:  # noqa: BLE001 - find out which document it was
            results: list[list[dict[str, Any]] | Exception] = []
            for doc in docs:
                try:
                    results.append(predict(doc.text, model, job.max_chars))
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
            except (UnicodeEncodeError, ValueError) as exc:  # e.g. a lone surrogate in the text
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
    payload = b"".join(lines) if job.fmt == "jsonl" else _parquet_bytes(rows)
    return PartResult(part.index, payload, len(rows), words, tuple(errors), time.perf_counter() - started,
                      model.version)


def _parquet_bytes(rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows, schema=parquet_schema()), sink, compression="zstd")
    return sink.getvalue().to_pybytes()


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


# ---------------------------------------------------------------- the output (written by the driver only)


def _write_atomic(path: Path, data: bytes) -> None:
    """``data`` at ``path`` whole or not at all: a temporary file beside it, fsync, rename."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _write_json(path: Path, data: Any) -> None:
    _write_atomic(path, (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))


class BatchOutput:
    """Part files, the job file and the manifest of finished partitions for one ``--out``."""

    def __init__(self, out: Path, fmt: str):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}")
        self.out, self.fmt = Path(out), fmt
        parquet = fmt == "parquet"
        self.state_dir = self.out if parquet else self.out.with_name(self.out.name + ".batch")
        prefix = "_" if parquet else ""
        self.job_file = self.state_dir / f"{prefix}job.json"
        self.manifest = self.state_dir / f"{prefix}manifest.jsonl"
        self.errors_file = self.state_dir / f"{prefix}errors.jsonl"

    def part_path(self, index: int) -> Path:
        return self.state_dir / f"part-{index:05d}.{self.fmt}"

    def _stored_job(self) -> dict[str, Any] | None:
        if not self.job_file.is_file():
            return None
        try:
            stored = json.loads(self.job_file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            stored = None
        if not isinstance(stored, dict) or stored.get("vner_batch") != JOB_VERSION:
            raise BatchError(f"{self.job_file} is not a `vner predict --corpus` job file; "
                             f"choose another --out or remove {self.state_dir}")
        return stored

    def check(self, identity: dict[str, Any]) -> None:
        """Refuse an output this tool did not write, or one written by a different job (model aside)."""
        foreign = f"was not written by `vner predict --corpus` (no {self.job_file}): left as is; choose another --out"
        if self.fmt == "jsonl":
            if self.out.is_dir():
                raise BatchError(f"{self.out} is a directory; JSON Lines output is a file (a directory is "
                                 f"written as Parquet: --format parquet)")
            if self.out.exists() and not self.job_file.exists():
                raise BatchError(f"{self.out} exists and {foreign}")
            if self.state_dir.exists() and not self.job_file.exists() and any(self.state_dir.iterdir()):
                raise BatchError(f"{self.state_dir} exists and {foreign}")
        elif self.out.exists():
            if not self.out.is_dir():
                raise BatchError(f"{self.out} is a file; Parquet output is a dataset directory "
                                 f"(for one JSON Lines file name it .jsonl)")
            if not self.job_file.exists() and any(self.out.iterdir()):
                raise BatchError(f"{self.out} is a directory that {foreign}")
        stored = self._stored_job()
        if stored is not None:
            changed = sorted(k for k in identity if k != "model" and stored.get(k) != identity[k])
            if changed:
                raise BatchError(f"{self.out} was started by a different job (it differs in: {', '.join(changed)}); "
                                 f"rerun with the same input and options, or remove {self.state_dir} to start over")

    def open(self, identity: dict[str, Any]) -> dict[int, dict[str, Any]]:
        """Start or resume: the manifest entries of the partitions already finished, by partition."""
        self.check(identity)
        stored = self._stored_job()
        if stored is None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            _write_json(self.job_file, {"vner_batch": JOB_VERSION, **identity, "complete": False})
            stored = {"complete": False}
        elif stored.get("model") != identity["model"]:
            raise BatchError(f"{self.out} holds predictions of model {stored.get('model')}, not "
                             f"{identity['model']}; use that model, another --out, or remove {self.state_dir}")
        for temp in self.state_dir.glob(".*.tmp"):  # left by a run killed while writing
            temp.unlink()
        entries: dict[int, dict[str, Any]] = {}
        if self.manifest.exists():
            for line in self.manifest.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    index = int(entry["partition"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short when the run was killed: that partition is redone
                if 0 <= index < identity["partitions"]:
                    entries[index] = entry
        if stored.get("complete") and self.fmt == "jsonl":  # the parts are gone, the assembled file is there
            if not self.out.is_file() or self.out.stat().st_size != stored.get("bytes"):
                raise BatchError(f"{self.out} was changed or removed after the job finished; "
                                 f"remove {self.state_dir} to predict again")
            for part in self.state_dir.glob("part-*.jsonl"):
                part.unlink()  # left by a run killed while cleaning up
        else:
            entries = {i: e for i, e in entries.items()
                       if self.part_path(i).is_file() and self.part_path(i).stat().st_size == e.get("bytes")}
        _write_atomic(self.manifest, b"".join(json.dumps(e, ensure_ascii=False).encode("utf-8") + b"\n"
                                              for _, e in sorted(entries.items())))
        return entries

    def commit(self, result: PartResult) -> dict[str, Any]:
        """Write one partition's part file, then record it in the manifest (the commit point)."""
        _write_atomic(self.part_path(result.index), result.payload)
        entry = {"partition": result.index, "rows": result.rows, "words": result.words,
                 "bytes": len(result.payload), "seconds": round(result.seconds, 3), "model": result.model,
                 "errors": [asdict(e) for e in result.errors]}
        with open(self.manifest, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return entry

    def finish(self, entries: dict[int, dict[str, Any]], partitions: int) -> None:
        """Write the errors file; once every partition is in, assemble the JSON Lines file and mark the job done."""
        errors = [e for _, entry in sorted(entries.items()) for e in entry.get("errors", [])]
        _write_atomic(self.errors_file, b"".join(json.dumps(e).encode("ascii") + b"\n" for e in errors))
        stored = self._stored_job() or {}
        if len(entries) < partitions or stored.get("complete"):
            return
        if self.fmt == "jsonl":
            temp = self.state_dir / f".assembled.{os.getpid()}.tmp"
            with open(temp, "wb") as sink:
                for index in range(partitions):
                    with open(self.part_path(index), "rb") as part:
                        while chunk := part.read(1 << 20):
                            sink.write(chunk)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(temp, self.out)
            stored["bytes"] = self.out.stat().st_size
        _write_json(self.job_file, {**stored, "complete": True})
        if self.fmt == "jsonl":
            for index in range(partitions):
                self.part_path(index).unlink()


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
    owned = {output.out.resolve(), output.state_dir.resolve()}
    for path in files:
        if owned & {path.resolve(), *path.resolve().parents}:
            raise BatchError(f"{path} is part of the output {out}; write predictions somewhere else")
    plan = plan_partitions(files, partition_size)
    identity: dict[str, Any] = {"format": job.fmt, "inputs": plan.inputs, "partition_size": partition_size,
                                "partitions": len(plan.partitions), "documents": plan.documents,
                                "max_chars": job.max_chars}
    output.check(identity)
    with runner:
        version = runner.model_version()
        done = output.open({**identity, "model": version})
        summary = BatchSummary(out, output.errors_file, version, len(plan.partitions), plan.documents,
                               plan.repeated, len(done), startup_seconds=time.perf_counter() - started)
        if progress:
            progress(len(done), len(plan.partitions))
        pending = [p for p in plan.partitions if p.index not in done]
        for outcome in runner.map(job, pending):
            if isinstance(outcome, PartResult) and outcome.model != version:
                outcome = PartFailure(outcome.index, f"predicted by model {outcome.model}, not {version} "
                                                     f"(a worker has another copy of the model)")
            if isinstance(outcome, PartFailure):
                summary.failed.append(outcome)
            else:
                done[outcome.index] = output.commit(outcome)
                summary.predicted += 1
                summary.rows += outcome.rows
                summary.words += outcome.words
            if progress:
                progress(len(done), len(plan.partitions))
    output.finish(done, len(plan.partitions))
    summary.errors = sum(len(e.get("errors", [])) for e in done.values())
    summary.seconds = time.perf_counter() - started
    return summary


def read_output(out: Path, fmt: str) -> list[dict[str, Any]]:
    """Every row of a finished job's output (Parquet: all part files, in partition order)."""
    if fmt == "jsonl":
        return [json.loads(line) for line in Path(out).read_text(encoding="utf-8").splitlines()]
    import pyarrow.parquet as pq

    return [row for part in sorted(Path(out).glob("part-*.parquet")) for row in pq.read_table(part).to_pylist()]

