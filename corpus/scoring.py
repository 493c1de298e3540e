"""Engine-independent scoring of predicted character spans against gold spans.

Strict: a prediction counts when start, end and label all equal a gold span. Partial: when it
overlaps a not-yet-credited gold span of the same label. Errors are sorted into missed, spurious,
wrong-boundary (same label, overlapping) and wrong-label (overlapping, other label).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from corpus.document import Span

ERROR_KINDS = ("missed", "spurious", "wrong_boundary", "wrong_label")


def prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


@dataclass
class ErrorCase:
    doc_index: int
    kind: str
    gold: Span | None
    pred: Span | None


@dataclass
class Scores:
    labels: Sequence[str]
    n_docs: int = 0
    tp: Counter = field(default_factory=Counter)
    partial_tp_pred: Counter = field(default_factory=Counter)
    partial_tp_gold: Counter = field(default_factory=Counter)
    gold: Counter = field(default_factory=Counter)
    pred: Counter = field(default_factory=Counter)
    errors: dict[str, Counter] = field(default_factory=lambda: {kind: Counter() for kind in ERROR_KINDS})
    cases: list[ErrorCase] = field(default_factory=list)

    def per_label(self) -> dict[str, dict[str, float]]:
        return {
            label: prf(self.tp[label], self.pred[label], self.gold[label]) | {"support": self.gold[label]}
            for label in self.labels
        }

    def micro(self) -> dict[str, float]:
        return prf(sum(self.tp.values()), sum(self.pred.values()), sum(self.gold.values()))

    def macro(self) -> dict[str, float]:
        rows = [row for label, row in self.per_label().items() if self.gold[label] or self.pred[label]]
        if not rows:
            return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
        return {key: sum(row[key] for row in rows) / len(rows) for key in ("precision", "recall", "f1")}

    def partial(self) -> dict[str, float]:
        n_pred, n_gold = sum(self.pred.values()), sum(self.gold.values())
        precision = sum(self.partial_tp_pred.values()) / n_pred if n_pred else 0.0
        recall = sum(self.partial_tp_gold.values()) / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1}

    def to_dict(self) -> dict:
        return {
            "micro": self.micro(),
            "macro": self.macro(),
            "per_label": self.per_label(),
            "partial": self.partial(),
            "errors": {kind: {label: self.errors[kind][label] for label in self.labels} for kind in ERROR_KINDS},
            "n_docs": self.n_docs,
            "n_gold": sum(self.gold.values()),
            "n_pred": sum(self.pred.values()),
        }


def score_document(scores: Scores, gold: Iterable[Span], pred: Iterable[Span]) -> None:
    """Add one document's spans to ``scores``."""
    doc_index = scores.n_docs
    scores.n_docs += 1
    gold_set = {(s.start, s.end, s.label) for s in gold}
    gold_spans = sorted(Span(*g) for g in gold_set)
    pred_spans = sorted({Span(s.start, s.end, s.label) for s in pred})
    scores.gold.update(s.label for s in gold_spans)
    scores.pred.update(s.label for s in pred_spans)

    credited: set[Span] = set()
    for p in pred_spans:
        if (p.start, p.end, p.label) in gold_set:
            scores.tp[p.label] += 1
            continue
        touching = [g for g in gold_spans if _overlaps(g, p)]
        same_label = [g for g in touching if g.label == p.label]
        if same_label:
            kind, gold_span = "wrong_boundary", same_label[0]
        elif touching:
            kind, gold_span = "wrong_label", touching[0]
        else:
            kind, gold_span = "spurious", None
        scores.errors[kind][gold_span.label if gold_span else p.label] += 1
        scores.cases.append(ErrorCase(doc_index, kind, gold_span, p))
    for g in gold_spans:
        if (g.start, g.end, g.label) in {(p.start, p.end, p.label) for p in pred_spans}:
            continue
        if not any(_overlaps(g, p) for p in pred_spans):
            scores.errors["missed"][g.label] += 1
            scores.cases.append(ErrorCase(doc_index, "missed", g, None))
    for p in pred_spans:
        match = next((g for g in gold_spans if g not in credited and g.label == p.label and _overlaps(g, p)), None)
        if match:
            credited.add(match)
            scores.partial_tp_pred[p.label] += 1
            scores.partial_tp_gold[match.label] += 1


def score(labels: Sequence[str], pairs: Iterable[tuple[Iterable[Span], Iterable[Span]]]) -> Scores:
    """Score (gold, predicted) span lists, one pair a document."""
    scores = Scores(labels=list(labels))
    for gold, pred in pairs:
        score_document(scores, gold, pred)
    return scores
