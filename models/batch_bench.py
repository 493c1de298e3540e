"""Batch prediction benchmark: words/s of ``vner predict --corpus`` in this process and on Dask.

``python -m models.batch_bench --model var/bench-models/spacy --model var/bench-models/hf-onnx-int8``
replicates ``--corpus`` (default: the shared pool) to about ``--words`` words in a temporary
directory, then runs the batch job once per model and setup, each in a fresh process:

- ``local``: the local runner (one process, the libraries' default threads);
- ``dask:NxT``: a LocalCluster of N workers x T threads;
- ``tcp:NxT``: a ``dask scheduler`` and N ``dask worker`` processes started as separate programs
  talking TCP on 127.0.0.1, the job attached with ``--scheduler`` as on real machines.

Printed per run: words/s over the whole job and after start-up (cluster, model loading), words per
CPU second of the processes that predict (the figure that holds on a busy machine), the start-up
seconds, peak RSS of the driver and of each worker, and the scaling efficiency of N workers x T
threads against one worker of one thread (words/s after start-up / (N x T x the dask:1x1 figure)).
Nothing is written to the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from corpus.paths import shared_dir
from models.batch import BatchJob, LocalRunner, PartFailure, PartResult, model_ref, run_batch
from models.batch_input import Partition
from models.bench import peak_rss_mb

DEFAULT_WORDS = 1_000_000
DEFAULT_CONFIGS = ("local", "dask:1x1", "dask:2x1", "dask:1x2", "tcp:2x1")
DEFAULT_PARTITION_SIZE = 50  # 24 partitions of the replicated pool: enough to keep 2 workers busy to the end


def replicate(source: Path, words: int, target: Path) -> tuple[int, int]:
    """``source``'s documents, again and again under new ids, until ``words`` words; returns (documents, words)."""
    records = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    documents, written = 0, 0
    with open(target, "w", encoding="utf-8") as sink:
        while written < words:
            record = records[documents % len(records)]
            copy = {"id": f"{record['id']}~{documents // len(records)}", "text": record["text"]}
            sink.write(json.dumps(copy, ensure_ascii=False) + "\n")
            documents += 1
            written += len(record["text"].split())
    return documents, written


def cpu_seconds() -> float:
    """CPU time (user + system) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class MeasuredRunner:
    """A runner wrapper: start-up time, CPU seconds spent on the partitions, and the workers' peak RSS.

    CPU seconds do not grow when other programs share the cores, so words per CPU second is the
    figure to compare on a busy machine (wall-clock words/s there mostly measures the others).
    """

    def __init__(self, runner: Any):
        self.runner = runner
        self.entered = 0.0
        self.startup_seconds = 0.0
        self.cpu_seconds = 0.0
        self.worker_rss_mb: list[int] = []

    def _cpu(self) -> float:
        client = getattr(self.runner, "client", None)
        return sum(client.run(cpu_seconds).values()) if client is not None else cpu_seconds()

    def __enter__(self) -> MeasuredRunner:
        self.entered = time.perf_counter()
        self.runner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.__exit__(*exc)

    def model_version(self) -> str:
        version = self.runner.model_version()
        self.startup_seconds = time.perf_counter() - self.entered
        return version

    def map(self, job: BatchJob, partitions: list[Partition]) -> Iterator[PartResult | PartFailure]:
        before = self._cpu()
        yield from self.runner.map(job, partitions)
        self.cpu_seconds = self._cpu() - before
        client = getattr(self.runner, "client", None)
        if client is not None:
            self.worker_rss_mb = sorted(client.run(peak_rss_mb).values())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def tcp_cluster(workers: int, threads: int) -> Iterator[str]:
    """``dask scheduler`` and ``workers`` x ``dask worker`` as separate programs on loopback; yields the address."""
    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port)]
    worker = [dask, "worker", address, "--nworkers", "1", "--nthreads", str(threads), "--host", "127.0.0.1"]
    commands = [scheduler + ["--dashboard-address", f"127.0.0.1:{_free_port()}"]]
    commands += [worker + ["--no-dashboard"]] * workers
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for command in commands:
            processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def run_one(model: str, config: str, corpus: Path, out_dir: Path, partition_size: int) -> dict[str, Any]:
    """One batch job; returns its figures."""
    ref = model_ref(model)
    job = BatchJob(ref, "parquet")
    kind, _, shape = config.partition(":")
    workers, threads = (int(n) for n in shape.split("x")) if shape else (1, 0)
    started = time.perf_counter()
    if kind == "local":
        runner = MeasuredRunner(LocalRunner(ref))
        summary = run_batch([corpus], out_dir / "out", job, runner, partition_size)
    else:
        from models.dask_runner import DaskRunner

        if kind == "dask":
            runner = MeasuredRunner(
                DaskRunner(ref, workers=workers, threads_per_worker=threads, dashboard_address=":0", say=lambda _: None)
            )
            summary = run_batch([corpus], out_dir / "out", job, runner, partition_size)
        else:
            with tcp_cluster(workers, threads) as address:
                started = time.perf_counter()  # the cluster's own start is the operator's, not the job's
                runner = MeasuredRunner(
                    DaskRunner(ref, scheduler=address, threads_per_worker=threads, say=lambda _: None)
                )
                summary = run_batch([corpus], out_dir / "out", job, runner, partition_size)
    seconds = time.perf_counter() - started
    if not summary.complete or summary.errors:
        raise SystemExit(f"{model} {config}: incomplete run ({summary.failed[:1]}, {summary.errors} errors)")
    work = seconds - runner.startup_seconds
    return {
        "model": Path(model).name,
        "config": config,
        "workers": workers,
        "threads_per_worker": threads or None,
        "documents": summary.rows,
        "words": summary.words,
        "partitions": summary.partitions,
        "seconds": round(seconds, 1),
        "startup_seconds": round(runner.startup_seconds, 1),
        "words_per_second": round(summary.words / seconds),
        "words_per_second_after_startup": round(summary.words / work),
        "words_per_cpu_second": round(summary.words / runner.cpu_seconds),
        "driver_peak_rss_mb": peak_rss_mb(),
        "worker_peak_rss_mb": runner.worker_rss_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="model directory or 'rules' (repeatable)")
    parser.add_argument("--corpus", type=Path, default=shared_dir() / "corpus" / "pool.jsonl")
    parser.add_argument("--words", type=int, default=DEFAULT_WORDS, help="replicate the corpus to about this many")
    parser.add_argument(
        "--configs", default=",".join(DEFAULT_CONFIGS), help="comma-separated: local, dask:NxT, tcp:NxT"
    )
    parser.add_argument("--partition-size", type=int, default=DEFAULT_PARTITION_SIZE)
    parser.add_argument("--json", type=Path, help="also write the figures here (a JSON list)")
    parser.add_argument("--one", nargs=3, metavar=("MODEL", "CONFIG", "CORPUS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a child run: one job, figures as JSON on the last line
        model, config, corpus = args.one
        with tempfile.TemporaryDirectory(prefix="vner-batch-bench-out-") as out_dir:
            print(json.dumps(run_one(model, config, Path(corpus), Path(out_dir), args.partition_size)))
        return

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vner-batch-bench-") as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        documents, words = replicate(args.corpus, args.words, corpus)
        print(
            f"corpus: {documents:,} documents, {words:,} words ({args.corpus.name} replicated); "
            f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}",
            file=sys.stderr,
        )
        for model in args.model:
            for config in args.configs.split(","):
                load = os.getloadavg()[0]
                child = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "models.batch_bench",
                        "--model",
                        model,
                        "--partition-size",
                        str(args.partition_size),
                        "--one",
                        model,
                        config,
                        str(corpus),
                    ],
                    capture_output=True,
                    text=True,
                )
                if child.returncode:
                    raise SystemExit(f"{model} {config} failed:\n{child.stderr[-3000:]}")
                row = {**json.loads(child.stdout.strip().splitlines()[-1]), "load_average_before": round(load, 1)}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    _add_scaling(rows)
    _print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


def _add_scaling(rows: list[dict[str, Any]]) -> None:
    """Scaling efficiency of each cluster run: words/s after start-up / (workers x threads x dask:1x1's)."""
    after = "words_per_second_after_startup"
    for row in rows:
        base = next((r for r in rows if r["model"] == row["model"] and r["config"] == "dask:1x1"), None)
        if row["config"] != "local" and base is not None:
            cores = row["workers"] * row["threads_per_worker"]
            row["scaling_efficiency"] = round(row[after] / (cores * base[after]), 2)


def _print_table(rows: list[dict[str, Any]]) -> None:
    """The figures as a Markdown table (what the README shows)."""
    print(
        "| model | setup | words/s | words/s after start-up | words per CPU s | start-up s | scaling "
        "| peak RSS MB: driver; workers | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        setup = "local (1 process)" if row["config"] == "local" else row["config"]
        workers = ", ".join(map(str, row["worker_peak_rss_mb"]))
        rss = f"{row['driver_peak_rss_mb']}; {workers}" if workers else str(row["driver_peak_rss_mb"])
        cells = [
            row["model"],
            setup,
            f"{row['words_per_second']:,}",
            f"{row['words_per_second_after_startup']:,}",
            f"{row.get('words_per_cpu_second', 0):,}",
            row["startup_seconds"],
            row.get("scaling_efficiency", ""),
            rss,
            row["load_average_before"],
        ]
        print("| " + " | ".join(map(str, cells)) + " |")


if __name__ == "__main__":
    main()
