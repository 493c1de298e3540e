"""Training benchmark: train one engine in this fresh process, then print time, peak memory and scores.

``python -m training.bench --engine transformers --train TRAIN.jsonl --dev DEV.jsonl --out DIR
[--set epochs=6 --set batch_size=8 ...]`` trains exactly as ``vner train`` does (``--set`` passes
trainer options, values read as JSON), then times ``vner evaluate``'s path over the dev file, and
prints one JSON object: training seconds, peak RSS of the training, evaluation words/s, and the
strict dev F1 (micro and per label). Training logs go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from corpus.jsonl import read_documents
from corpus.schema import load_schema
from models.bench import peak_rss_mb
from training import ENGINES
from training.evaluate import evaluate
from training.options import key_value
from training.run import train_model


def _option(pair: str) -> tuple[str, Any]:
    try:
        return key_value(pair)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def bench_training(engine: str, train: Path, dev: Path, out: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Train, then evaluate on ``dev``; the figures as a JSON-safe dict."""
    train_words = sum(len(d.text.split()) for d in read_documents(train))
    started, cpu_started = time.perf_counter(), time.process_time()
    meta = train_model(engine, load_schema(), train, dev, out, promote="never", **options).meta
    train_seconds = time.perf_counter() - started  # includes writing the model dir and its dev scores
    train_cpu_seconds = time.process_time() - cpu_started
    train_rss = peak_rss_mb()
    dev_docs = read_documents(dev)
    dev_words = sum(len(d.text.split()) for d in dev_docs)
    started = time.perf_counter()
    scores, _ = evaluate(str(out), dev_docs)
    eval_seconds = time.perf_counter() - started
    return {
        "engine": engine,
        "model": str(out),
        "options": meta.training,
        "train_documents": meta.data["train"].documents,
        "train_words": train_words,
        "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": round(train_cpu_seconds, 1),  # all threads; near the wall time of a 1-thread run
        "train_peak_rss_mb": train_rss,
        "eval_words": dev_words,
        "eval_seconds": round(eval_seconds, 2),
        "eval_words_per_second": round(dev_words / eval_seconds),
        "dev_micro": scores.micro(),
        "dev_f1_per_label": {label: row["f1"] for label, row in scores.per_label().items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=ENGINES, required=True)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--dev", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="model directory to write")
    parser.add_argument("--set", dest="options", type=_option, action="append", default=[],
                        help="trainer option KEY=VALUE (train_hf or train_spacy keywords)")
    args = parser.parse_args()
    with contextlib.redirect_stdout(sys.stderr):  # spaCy's training table; stdout carries only the figures
        figures = bench_training(args.engine, args.train, args.dev, args.out, dict(args.options))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
