"""Evaluate any model on gold documents by comparing character spans."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from corpus.document import Document, Span
from corpus.scoring import ERROR_KINDS, Scores, score
from models import load_model, predict
from models.base import NerModel


def predict_documents(model: NerModel, docs: Sequence[Document]) -> list[list[Span]]:
    """Predicted spans for each document's text."""
    return [[Span(e["start"], e["end"], e["label"]) for e in ents] for ents in predict([d.text for d in docs], model)]


def evaluate(model: NerModel | str, docs: Sequence[Document]) -> tuple[Scores, list[list[Span]]]:
    """Strict and partial scores of ``model`` on ``docs``, and the predictions."""
    loaded = load_model(model)
    predicted = predict_documents(loaded, docs)
    return score(loaded.schema.names, zip((d.spans for d in docs), predicted)), predicted


def scores_table(scores: Scores, title: str = "") -> Table:
    """Per-label precision, recall, F1, support and error counts, then micro, macro and partial rows."""
    table = Table(title=title, caption="errors: missed, spurious, wrong boundary, wrong label")
    table.add_column("label", no_wrap=True)
    for column in ("P", "R", "F1", "n", "miss", "spur", "bound", "label"):
        table.add_column(column, justify="right", no_wrap=True)
    for label, row in scores.per_label().items():
        errors = [str(scores.errors[kind][label]) for kind in ERROR_KINDS]
        table.add_row(label, *(f"{row[k]:.3f}" for k in ("precision", "recall", "f1")), str(row["support"]), *errors)
    table.add_section()
    n_gold = str(sum(scores.gold.values()))
    for name, row in (("micro", scores.micro()), ("macro", scores.macro()), ("partial", scores.partial())):
        table.add_row(name, *(f"{row[k]:.3f}" for k in ("precision", "recall", "f1")), n_gold, *[""] * len(ERROR_KINDS))
    return table
