"""Strict scoring of predicted relations against gold relations.

A predicted relation counts when its type and the exact offsets of both ends equal a gold
relation. Errors are missed (a gold relation not predicted) and spurious (a prediction not in gold).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from corpus.document import Relation
from corpus.scoring import prf

RELATION_ERROR_KINDS = ("missed", "spurious")


@dataclass
class RelationCase:
    doc_index: int
    kind: str
    relation: Relation


@dataclass
class RelationScores:
    types: Sequence[str]
    n_docs: int = 0
    tp: Counter = field(default_factory=Counter)
    gold: Counter = field(default_factory=Counter)
    pred: Counter = field(default_factory=Counter)
    cases: list[RelationCase] = field(default_factory=list)

    def per_type(self) -> dict[str, dict[str, float]]:
        return {t: prf(self.tp[t], self.pred[t], self.gold[t]) | {"support": self.gold[t]} for t in self.types}

    def micro(self) -> dict[str, float]:
        n_gold = sum(self.gold.values())
        return prf(sum(self.tp.values()), sum(self.pred.values()), n_gold) | {"support": n_gold}

    def errors(self, kind: str) -> Counter:
        """Count of ``kind`` errors per relation type."""
        return Counter(case.relation.type for case in self.cases if case.kind == kind)

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{TYPE: {precision, recall, f1, support}, ..., "micro": {...}}``."""
        return self.per_type() | {"micro": self.micro()}


def score_relations_document(scores: RelationScores, gold: Iterable[Relation], pred: Iterable[Relation]) -> None:
    """Add one document's relations to ``scores`` (repeats count once; scores are ignored)."""
    doc_index = scores.n_docs
    scores.n_docs += 1
    gold_set = {Relation(r.head, r.tail, r.type) for r in gold}
    pred_set = {Relation(r.head, r.tail, r.type) for r in pred}
    scores.gold.update(r.type for r in gold_set)
    scores.pred.update(r.type for r in pred_set)
    scores.tp.update(r.type for r in gold_set & pred_set)
    scores.cases += [RelationCase(doc_index, "missed", r) for r in sorted(gold_set - pred_set)]
    scores.cases += [RelationCase(doc_index, "spurious", r) for r in sorted(pred_set - gold_set)]


def score_relations(
    types: Sequence[str], pairs: Iterable[tuple[Iterable[Relation], Iterable[Relation]]]
) -> RelationScores:
    """Score (gold, predicted) relation lists, one pair a document."""
    scores = RelationScores(types=list(types))
    for gold, pred in pairs:
        score_relations_document(scores, gold, pred)
    return scores
