"""Batch prediction (models/batch.py) in this process and on Dask: same rows, worker loss, resume, errors.

A real ``LocalCluster`` of two worker processes serves the module (the job attaches to it with
``scheduler=``, as with ``--scheduler``); one test starts its own through the CLI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from distributed import Client, LocalCluster
from typer.testing import CliRunner

from corpus.jsonl import FormatError, read_documents
from corpus.paths import BUNDLED_GOLD_FILE
from models import predict
from models.batch import BatchJob, LocalRunner, model_ref, run_batch
from models.batch_output import BatchError, read_output
from models.cli import register
from models.dask_runner import DaskRunner

SEEDS = read_documents(BUNDLED_GOLD_FILE)
RULES = "rules"  # the rule-based engine: no training, ~30k words/s; enough where model quality does not matter


def write_corpus(path: Path, copies: int, extra: list[dict] | None = None) -> list[dict]:
    """The seed articles ``copies`` times under distinct ids, as a corpus store (JSON Lines)."""
    records = [{"id": f"{d.id}-{k}", "text": d.text, "title": d.title} for k in range(copies) for d in SEEDS]
    records += extra or []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return records


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, one thread each, started once for this module."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        yield local


def dask_runner(cluster: LocalCluster, model: str, **options) -> DaskRunner:
    return DaskRunner(model, scheduler=cluster.scheduler_address, say=lambda _: None, **options)


def test_dask_rows_are_predict_one_by_one_and_the_same_bytes_as_local(
    cluster: LocalCluster, seed_model: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus.jsonl"
    records = write_corpus(corpus, copies=2)
    ref = model_ref(seed_model)
    job = BatchJob(ref, "parquet", batch_size=2)
    local = run_batch([corpus], tmp_path / "local", job, LocalRunner(ref), partition_size=3)
    on_dask = run_batch([corpus], tmp_path / "dask", job, dask_runner(cluster, ref), partition_size=3)

    assert local.complete and on_dask.complete and on_dask.partitions == 4 and on_dask.rows == len(records)
    parts = sorted(p.name for p in (tmp_path / "local").glob("part-*.parquet"))
    assert parts == sorted(p.name for p in (tmp_path / "dask").glob("part-*.parquet")) and len(parts) == 4
    for name in parts:  # the same bytes, partition by partition
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes()

    rows = read_output(tmp_path / "dask", "parquet")
    assert [r["id"] for r in rows] == [r["id"] for r in records]
    version = on_dask.model
    assert version.startswith(seed_model.name + "@")
    found = 0
    for row, record in zip(rows, records, strict=True):
        assert row["model"] == version
        assert row["entities"] == predict(record["text"], seed_model)  # one document at a time, in this process
        found += len(row["entities"])
    assert found > 20
    table = pq.read_table(tmp_path / "dask" / parts[0])
    assert table.schema.field("entities").type == pa.list_(
        pa.struct(
            [
                ("start", pa.int64()),
                ("end", pa.int64()),
                ("label", pa.string()),
                ("text", pa.string()),
                ("score", pa.float64()),
            ]
        )
    )


def test_model_loaded_once_per_worker_with_the_threads_asked(cluster: LocalCluster, seed_model: Path) -> None:
    ref = model_ref(seed_model)

    def state() -> dict:
        from threadpoolctl import threadpool_info

        from models.loading import _cache

        return {
            "loaded": [str(path) for path, _ in _cache],
            "threads": os.environ.get("VNER_THREADS"),
            "blas": sorted({pool["num_threads"] for pool in threadpool_info()}),
        }

    with dask_runner(cluster, ref, threads_per_worker=2) as runner:
        workers = runner.client.run(state)  # after the plugin ran, before any task
    assert len(workers) == 2
    for seen in workers.values():
        assert seen["loaded"].count(ref) == 1 and seen["threads"] == "2" and seen["blas"] == [2]


def test_a_worker_killed_mid_run_the_job_still_completes(cluster: LocalCluster, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    records = write_corpus(corpus, copies=8)
    runner = dask_runner(cluster, RULES)
    killed: list[tuple[int, int, int]] = []

    def kill_one_worker(done: int, total: int) -> None:
        if done == 1 and not killed:
            pids = sorted(runner.client.run(os.getpid).values())
            os.kill(pids[0], signal.SIGKILL)
            killed.append((pids[0], done, total))

    summary = run_batch(
        [corpus], tmp_path / "out.jsonl", BatchJob(RULES, "jsonl"), runner, partition_size=2, progress=kill_one_worker
    )
    assert killed and killed[0][1] < killed[0][2] - 2  # killed while most partitions were still to do
    assert summary.complete and not summary.failed and summary.rows == len(records)
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [r["id"] for r in records]  # each once, in input order
    local = run_batch(
        [corpus], tmp_path / "local.jsonl", BatchJob(RULES, "jsonl"), LocalRunner(RULES), partition_size=2
    )
    assert local.complete and (tmp_path / "local.jsonl").read_bytes() == (tmp_path / "out.jsonl").read_bytes()
    with Client(cluster) as client:  # the nanny replaced the worker
        client.wait_for_workers(2, timeout=30)
        assert killed[0][0] not in client.run(os.getpid).values()


def test_interrupted_dask_run_resumes_with_one_row_per_document(cluster: LocalCluster, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    records = write_corpus(corpus, copies=4)
    out = tmp_path / "predictions"

    def interrupt(done: int, total: int) -> None:
        if done >= 3:
            raise KeyboardInterrupt  # Ctrl-C in the process that started the job

    job = BatchJob(RULES, "parquet")
    with pytest.raises(KeyboardInterrupt):
        run_batch([corpus], out, job, dask_runner(cluster, RULES), partition_size=2, progress=interrupt)
    finished = len((out / "_manifest.jsonl").read_text().splitlines())
    assert 3 <= finished < 10 and len(list(out.glob("part-*.parquet"))) == finished

    resumed = run_batch([corpus], out, job, dask_runner(cluster, RULES), partition_size=2)
    assert resumed.complete and resumed.done_before == finished and resumed.predicted == 10 - finished
    ids = [row["id"] for row in read_output(out, "parquet")]
    assert ids == [r["id"] for r in records]


def test_killed_process_resumes_exactly_once(tmp_path: Path) -> None:
    """`vner predict --corpus` killed (SIGKILL) mid-run, then rerun: every document exactly once, no torn rows."""
    corpus = tmp_path / "corpus.jsonl"
    records = write_corpus(corpus, copies=20)
    out = tmp_path / "entities.jsonl"
    manifest = tmp_path / "entities.jsonl.batch" / "manifest.jsonl"
    command = [
        sys.executable,
        "-c",
        "from corpus.cli import main; main()",
        "predict",
        "--corpus",
        str(corpus),
        "--out",
        str(out),
        "--model",
        RULES,
        "--partition-size",
        "2",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if manifest.exists() and len(manifest.read_bytes().splitlines()) >= 3:
            break
        time.sleep(0.01)
    process.kill()
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    assert not out.exists()  # the JSON Lines file appears only once every partition is in
    with open(manifest, "ab") as handle:  # as if killed while recording a partition
        handle.write(b'{"partition": 4')
    finished = len(manifest.read_bytes().splitlines()) - 1

    resumed = run_batch([corpus], out, BatchJob(RULES, "jsonl"), LocalRunner(RULES), partition_size=2)
    assert resumed.complete and resumed.done_before == finished and resumed.predicted == 50 - finished
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [r["id"] for r in records]
    assert json.loads(lines[7])["entities"] == predict(records[7]["text"], RULES)
    assert not list(out.parent.glob("entities.jsonl.batch/part-*")) and not list(out.parent.rglob("*.tmp"))

    again = run_batch([corpus], out, BatchJob(RULES, "jsonl"), LocalRunner(RULES), partition_size=2)
    assert again.predicted == 0 and again.done_before == 50 and out.read_text(encoding="utf-8").splitlines() == lines


def test_documents_that_raise_go_to_the_errors_file_and_the_job_goes_on(tmp_path: Path) -> None:
    long_text = "Huyện ủy Hậu Lộc tổ chức hội nghị. " * 400  # over --max-chars 10000
    corpus = tmp_path / "corpus.jsonl"
    records = write_corpus(corpus, copies=1, extra=[{"id": "too-long", "text": long_text}])
    parquet_input = tmp_path / "more.parquet"
    pq.write_table(
        pa.table({"id": ["fine", "no-text"], "text": ["Ngày 3-4, Huyện ủy Hậu Lộc họp.", None]}), parquet_input
    )
    out = tmp_path / "out.jsonl"
    summary = run_batch(
        [corpus, parquet_input], out, BatchJob(RULES, "jsonl", max_chars=10_000), LocalRunner(RULES), partition_size=3
    )
    assert summary.complete and summary.errors == 2 and summary.rows == len(records) - 1 + 1
    errors = [json.loads(line) for line in summary.errors_file.read_text().splitlines()]
    assert [e["id"] for e in errors] == ["too-long", "no-text"]
    assert "TextTooLongError" in errors[0]["error"] and "10,000" in errors[0]["error"]
    ids = [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert ids == [r["id"] for r in records[:-1]] + ["fine"]


def test_records_rows_are_predict_with_records_in_both_formats(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    records = write_corpus(corpus, copies=1)
    rows = {}
    for fmt, out in (("jsonl", tmp_path / "out.jsonl"), ("parquet", tmp_path / "out")):
        summary = run_batch([corpus], out, BatchJob(RULES, fmt, records=True), LocalRunner(RULES), partition_size=2)
        assert summary.complete
        rows[fmt] = read_output(out, fmt)
    assert rows["jsonl"] == rows["parquet"]
    for row, record in zip(rows["jsonl"], records, strict=True):
        expected = predict(record["text"], RULES, records=True)
        assert row == {"id": record["id"], **expected, "model": summary.model}
    assert sum(len(r["records"]["values"]) for r in rows["jsonl"]) > 10
    with pytest.raises(BatchError, match="records"):  # a job with records cannot resume one without
        run_batch([corpus], tmp_path / "out", BatchJob(RULES, "parquet"), LocalRunner(RULES), partition_size=2)


def test_inputs_globs_directories_parquet_and_repeated_ids(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = write_corpus(data / "a.jsonl", copies=1)
    repeated = {"id": first[0]["id"], "text": "Ngày 3-4, Huyện ủy Hậu Lộc họp."}
    (data / "sub").mkdir()
    pq.write_table(
        pa.table({"id": ["p-1", repeated["id"]], "text": [SEEDS[1].text, repeated["text"]]}), data / "sub" / "b.parquet"
    )
    (data / "_ignored.jsonl").write_text("not json\n")  # metadata-like names are skipped
    job = BatchJob(RULES, "jsonl")
    from_dir = run_batch([data], tmp_path / "dir.jsonl", job, LocalRunner(RULES), partition_size=4)
    from_glob = run_batch([f"{data}/**/*.*"], tmp_path / "glob.jsonl", job, LocalRunner(RULES), partition_size=4)
    assert from_dir.repeated == 1 and from_dir.rows == len(first) + 1 and from_dir.documents == len(first) + 2
    assert from_glob.repeated == 1 and from_glob.partitions == from_dir.partitions == 2
    assert (tmp_path / "dir.jsonl").read_bytes() == (tmp_path / "glob.jsonl").read_bytes()
    ids = [json.loads(line)["id"] for line in (tmp_path / "dir.jsonl").read_text().splitlines()]
    assert ids == [r["id"] for r in first] + ["p-1"]

    (data / "a.jsonl").write_text((data / "a.jsonl").read_text() + '{"id": "x", "text": 1, "oops"\n')
    with pytest.raises(FormatError, match=r"a\.jsonl:6: not JSON \(Expecting ':' delimiter: line 1"):
        run_batch([data / "a.jsonl"], tmp_path / "bad.jsonl", job, LocalRunner(RULES))
    with pytest.raises(FormatError, match="no .jsonl, .ndjson or .parquet files"):
        run_batch([tmp_path / "nothing-*.jsonl"], tmp_path / "none.jsonl", job, LocalRunner(RULES))


def test_a_resumed_job_must_be_the_same_job(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus, copies=1)
    out = tmp_path / "out"
    run_batch([corpus], out, BatchJob(RULES, "parquet"), LocalRunner(RULES), partition_size=2)
    with pytest.raises(BatchError, match="partition_size"):
        run_batch([corpus], out, BatchJob(RULES, "parquet"), LocalRunner(RULES), partition_size=3)
    write_corpus(corpus, copies=2)  # the input grew
    with pytest.raises(BatchError, match="inputs"):
        run_batch([corpus], out, BatchJob(RULES, "parquet"), LocalRunner(RULES), partition_size=2)
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("mine")
    with pytest.raises(BatchError, match="was not written by"):
        run_batch([corpus], foreign, BatchJob(RULES, "parquet"), LocalRunner(RULES))
    assert (foreign / "todo.txt").read_text() == "mine" and len(list(foreign.iterdir())) == 1


def test_cli_local_cluster_and_local_engine_write_the_same_file(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    corpus = tmp_path / "corpus.jsonl"
    records = write_corpus(corpus, copies=2)
    outputs = {}
    for engine in ("local", "dask"):
        out = tmp_path / f"{engine}.jsonl"
        extra = ["--workers", "2"] if engine == "dask" else []
        result = CliRunner().invoke(
            app,
            [
                "predict",
                "--corpus",
                str(corpus),
                "--out",
                str(out),
                "--model",
                RULES,
                "--engine",
                engine,
                "--partition-size",
                "3",
                *extra,
            ],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        assert f"{len(records)} documents predicted in 4 partitions (0 of 4 done before" in result.stderr
        outputs[engine] = out.read_bytes()
        if engine == "dask":
            assert "Dask LocalCluster: 2 workers x 1 threads" in result.stderr
            assert "Dask dashboard: http://" in result.stderr
    assert outputs["local"] == outputs["dask"] and outputs["local"].count(b"\n") == len(records)

    started = time.monotonic()  # a model directory that is not one: said before any cluster starts
    bad = CliRunner().invoke(
        app,
        [
            "predict",
            "--corpus",
            str(corpus),
            "--out",
            str(tmp_path / "x.jsonl"),
            "--model",
            str(tmp_path),
            "--engine",
            "dask",
        ],
        catch_exceptions=False,
    )
    assert bad.exit_code == 2 and "is not a model directory" in bad.stderr and "Dask" not in bad.stderr
    assert time.monotonic() - started < 2 and not (tmp_path / "x.jsonl.batch").exists()
