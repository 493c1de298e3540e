"""How long bulk work takes on a local Label Studio: ``python -m annotation.bulk_bench --n 2000``.

A script, not a test. It starts its own Label Studio (``annotation.server``) in a temporary data
dir on a free loopback port, with a throw-away login, and then times:

* push: N synthetic tasks (the bundled seed articles again and again, each with a counter line
  appended so every task is a distinct document), with pre-annotations from the rules engine
  when it is installed (``load_model("rules")``), through ``annotation.client.push_documents``;
* annotate: one annotation per sampled task through the API (the seed's gold spans, which still
  fit since the counter is appended at the end), as annotators' submissions would be stored;
* pull: the export snapshot of the whole project and its conversion to gold documents
  (``annotation.export.convert_export``), checked against what was annotated.

The server is stopped (and the data dir removed, unless ``--keep``) at the end, also on error.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from annotation import server
from annotation.client import StudioClient, project_settings, push_documents
from annotation.export import convert_export
from annotation.settings import Credentials, StudioSettings
from annotation.tasks import spans_to_result
from corpus.document import Document
from corpus.jsonl import read_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import LabelSchema, load_schema
from corpus.spans import validate_spans

PROJECT_TITLE = "vner bulk benchmark"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def synthetic_documents(n: int, seeds: list[Document]) -> list[Document]:
    """``n`` distinct documents: seed ``i % len(seeds)`` with a counter line appended (spans stay valid)."""
    docs = []
    for i in range(n):
        seed = seeds[i % len(seeds)]
        docs.append(replace(seed, id=f"bench-{i + 1:06d}", title=f"{seed.title} (#{i + 1})",
                            text=f"{seed.text}\n\nBản tin thử nghiệm số {i + 1}.", spans=list(seed.spans), meta={}))
    return docs


def rules_predictor() -> tuple[Callable[[list[str]], list[list[dict[str, Any]]]], str]:
    """``models.predict`` with the rules engine, and its model version."""
    from annotation.client import model_predictor
    from models import load_model

    model = load_model("rules")
    return model_predictor(model), model.version


def _timed(fn: Callable, clock: list[float]) -> Callable:
    def wrapper(*args: Any) -> Any:
        began = time.monotonic()
        try:
            return fn(*args)
        finally:
            clock[0] += time.monotonic() - began

    return wrapper


def bench(client: StudioClient, schema: LabelSchema, n: int, sample: int, batch_size: int) -> dict[str, Any]:
    """Push, annotate, pull on the server of ``client``; the figures (seconds, counts)."""
    figures: dict[str, Any] = {"n": n}
    project_id, _ = client.ensure_project(PROJECT_TITLE, **project_settings(schema))
    seeds = read_documents(BUNDLED_GOLD_FILE)
    docs = synthetic_documents(n, seeds)

    predictor, version = rules_predictor()
    predict_clock = [0.0]
    began = time.monotonic()
    report = push_documents(client, project_id, docs, schema, batch_size=batch_size,
                            predictor=_timed(predictor, predict_clock), model_version=version)
    figures["push_s"] = time.monotonic() - began
    figures["predict_s"] = predict_clock[0]
    figures["model_version"] = version
    figures["pushed"] = len(report.task_ids)
    figures["batches"] = report.batches
    figures["with_predictions"] = report.predictions
    if len(report.task_ids) != n:
        raise RuntimeError(f"pushed {len(report.task_ids)} tasks, expected {n}")
    task_of = dict(zip(report.added, report.task_ids, strict=True))

    step = max(1, n // max(1, sample))
    chosen = docs[::step][:sample]
    expected = {}
    began = time.monotonic()
    for doc in chosen:
        spans, _ = validate_spans(doc.text, doc.spans, schema)
        client.create_annotation(task_of[doc.id], spans_to_result(doc.text, spans))
        expected[doc.id] = spans
    figures["annotate_s"] = time.monotonic() - began
    figures["annotated"] = len(chosen)
    figures["annotated_spans"] = sum(len(s) for s in expected.values())

    began = time.monotonic()
    tasks = client.export(project_id, predictions=True)
    figures["export_s"] = time.monotonic() - began
    pulled = convert_export(tasks, schema)
    figures["pull_s"] = time.monotonic() - began
    figures["pulled_tasks"] = len(tasks)
    figures["pulled_documents"] = len(pulled.documents)
    figures["pulled_predictions"] = sum(len(t.get("predictions") or []) for t in tasks)
    wrong = [d.id for d in pulled.documents if d.spans != expected.get(d.id)]
    if len(tasks) != n or sorted(d.id for d in pulled.documents) != sorted(expected) or wrong:
        raise RuntimeError(f"pull mismatch: {len(tasks)} tasks, {len(pulled.documents)} documents, "
                           f"{len(wrong)} with other spans than annotated")
    return figures


def render(figures: dict[str, Any]) -> str:
    n = figures["n"]
    lines = [f"Label Studio start:  {figures['start_s']:.1f} s (first start: migrations)"]
    pre = (f"; rules pre-annotation {figures['predict_s']:.1f} s of it, {figures['with_predictions']} tasks with "
           f"predictions ({figures['model_version']})" if figures.get("predict_s") is not None
           else "; no pre-annotations")
    lines.append(f"push:      {n} tasks in {figures['batches']} batches: {figures['push_s']:.1f} s "
                 f"= {n / figures['push_s']:.1f} tasks/s{pre}")
    lines.append(f"annotate:  {figures['annotated']} annotations ({figures['annotated_spans']} spans) via the API: "
                 f"{figures['annotate_s']:.1f} s = {figures['annotated'] / figures['annotate_s']:.1f} annotations/s")
    lines.append(f"pull:      {figures['pulled_tasks']} tasks ({figures['pulled_predictions']} predictions) exported "
                 f"in {figures['export_s']:.1f} s, converted: {figures['pull_s']:.1f} s = "
                 f"{n / figures['pull_s']:.1f} tasks/s; {figures['pulled_documents']} gold documents, all as annotated")
    lines.append(f"stop:      {figures['stop_s']:.1f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m annotation.bulk_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="tasks to push (default 2000)")
    parser.add_argument("--annotate", type=int, default=200, help="tasks to annotate through the API (default 200)")
    parser.add_argument("--batch-size", type=int, default=100, help="tasks per import request (default 100)")
    parser.add_argument("--port", type=int, default=None, help="Label Studio port (default: a free one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir (its path is printed)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.annotate < 0 or args.annotate > args.n:
        parser.error("need --n >= 1 and 0 <= --annotate <= --n")

    root = Path(tempfile.mkdtemp(prefix="vner-bulk-bench-"))
    credentials = Credentials(username="bench@vner.test", password=secrets.token_urlsafe(16),
                              token=secrets.token_hex(20), source="generated for this benchmark run")
    settings = StudioSettings(data_dir=root / "label-studio", port=args.port or free_port(), credentials=credentials)
    schema = load_schema()
    figures: dict[str, Any] = {}
    started = False
    try:
        began = time.monotonic()
        result = server.start(settings, progress=print)
        started = True
        figures["start_s"] = time.monotonic() - began
        print(f"Label Studio at {result.url} (pid {result.pid}), data in {settings.data_dir}")
        with StudioClient(settings.url, credentials.token, timeout=600.0) as client:
            figures.update(bench(client, schema, args.n, args.annotate, args.batch_size))
    finally:
        if started:
            began = time.monotonic()
            print(server.stop(settings).message)
            figures["stop_s"] = time.monotonic() - began
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(render(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
