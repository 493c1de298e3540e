"""Evaluate any model on gold documents by comparing character spans, and relations where gold has them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table

from corpus.document import Document, Relation, Span
from corpus.relation_scoring import RELATION_ERROR_KINDS, RelationScores, score_relations
from corpus.schema import LabelSchema, with_default_relations
from corpus.scoring import ERROR_KINDS, Scores, score
from models import load_model, predict
from models.base import NerModel
from models.relations import rule_relations


def predict_documents(model: NerModel, docs: Sequence[Document]) -> list[list[Span]]:
    """Predicted spans for each document's text."""
    return [[Span(e["start"], e["end"], e["label"]) for e in ents] for ents in predict([d.text for d in docs], model)]


def evaluate(model: NerModel | str, docs: Sequence[Document]) -> tuple[Scores, list[list[Span]]]:
    """Strict and partial scores of ``model`` on ``docs``, and the predictions."""
    loaded = load_model(model)
    predicted = predict_documents(loaded, docs)
    return score(loaded.schema.names, zip((d.spans for d in docs), predicted, strict=True)), predicted


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


@dataclass
class RelationResults:
    """Relation scores over the documents that carry relation annotation.

    ``end_to_end`` links the model's predicted entities; ``gold_entities`` the gold ones (the
    relation step alone). ``docs`` and ``predicted`` (end to end) are indexed like the cases.
    """

    docs: list[Document]
    end_to_end: RelationScores
    gold_entities: RelationScores
    predicted: list[list[Relation]]

    def to_dict(self) -> dict:
        """``{TYPE: {precision, recall, f1, support}, "micro": {...}, "gold_entities": {same shape}}``."""
        return self.end_to_end.to_dict() | {"gold_entities": self.gold_entities.to_dict()}


def evaluate_relations(
    schema: LabelSchema, docs: Sequence[Document], predicted: Sequence[list[Span]]
) -> RelationResults | None:
    """Relation scores of the documents with a ``relations`` key (None when there is none)."""
    schema = with_default_relations(schema)
    chosen = [(doc, spans) for doc, spans in zip(docs, predicted, strict=True) if doc.relations is not None]
    if not chosen or not schema.relations:
        return None
    end_to_end = [rule_relations(doc.text, spans, schema) for doc, spans in chosen]
    from_gold = [rule_relations(doc.text, doc.spans, schema) for doc, _ in chosen]
    gold = [doc.relations or [] for doc, _ in chosen]
    return RelationResults(
        docs=[doc for doc, _ in chosen],
        end_to_end=score_relations(schema.relation_names, zip(gold, end_to_end, strict=True)),
        gold_entities=score_relations(schema.relation_names, zip(gold, from_gold, strict=True)),
        predicted=end_to_end,
    )


def relations_table(results: RelationResults, title: str = "") -> Table:
    """Per relation type and micro: P, R, F1 end to end and with gold entities, support, errors end to end."""
    table = Table(title=title, caption="P/R/F1: predicted entities (end to end); gold-entity F1: the relation step "
                                       "alone; errors end to end")
    table.add_column("relation", no_wrap=True)
    for column in ("P", "R", "F1", "gold-entity F1", "n", "miss", "spur"):
        table.add_column(column, justify="right", no_wrap=True)
    ends, golds = results.end_to_end.to_dict(), results.gold_entities.to_dict()
    for name in [*results.end_to_end.types, "micro"]:
        if name == "micro":
            table.add_section()
        row = ends[name]
        counts = [results.end_to_end.errors(kind) for kind in RELATION_ERROR_KINDS]
        errors = [str(sum(c.values()) if name == "micro" else c[name]) for c in counts]
        table.add_row(name, *(f"{row[k]:.3f}" for k in ("precision", "recall", "f1")), f"{golds[name]['f1']:.3f}",
                      str(row["support"]), *errors)
    return table
