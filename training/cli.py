"""``vner train`` and ``vner evaluate``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from corpus.console import console, err_console
from corpus.jsonl import read_documents
from corpus.paths import BUNDLED_GOLD_FILE, models_dir
from corpus.schema import load_schema
from training.evaluate import evaluate, scores_table
from training.run import ENGINES, train_model


def train_command(
    train: Path = typer.Option(BUNDLED_GOLD_FILE, help="Gold file to train on (default: the bundled seeds)"),
    dev: Path = typer.Option(..., help="Gold file for dev scores and best-model selection"),
    engine: str = typer.Option("spacy", help=f"One of: {', '.join(ENGINES)}"),
    out: Path | None = typer.Option(None, help="Model directory (default: $VNER_HOME/models/ENGINE-TIME)"),
    labels: Path | None = typer.Option(None, help="Label schema JSON (default: $VNER_LABELS or the bundled set)"),
    max_epochs: int = typer.Option(30, help="Stop after this many epochs"),
    seed: int = typer.Option(0, help="Random seed"),
) -> None:
    """Train a model on gold data and score it on dev."""
    out_dir = out or models_dir() / f"{engine}-{datetime.now():%Y%m%d-%H%M%S}"
    meta = train_model(engine, load_schema(labels), train, dev, out_dir, max_epochs=max_epochs, seed=seed)
    err_console.print(meta["alignment"])
    dev_scores = meta["metrics"]["dev"]["micro"]
    console.print(f"model -> {out_dir}  (dev micro F1 {dev_scores['f1']:.3f}, {meta['training']['seconds']} s)")


def evaluate_command(
    data: Path = typer.Option(..., help="Gold file (JSON Lines with spans)"),
    model: Path | None = typer.Option(None, help="Model directory (default: the latest trained)"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object"),
) -> None:
    """Score a model against gold spans (strict and partial match, per label)."""
    docs = read_documents(data)
    scores, _ = evaluate(str(model) if model else None, docs)
    if as_json:
        print(json.dumps(scores.to_dict(), ensure_ascii=False))
    else:
        console.print(scores_table(scores, title=f"{data} ({len(docs)} documents)"))


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root ``vner`` app."""
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
