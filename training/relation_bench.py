"""Rules or a learned pair classifier for relations? Prints strict relation scores of both on a gold file.

    python -m training.relation_bench --train corpus/data/seeds.gold.jsonl \\
        --dev ../shared/gold/dev-relations.jsonl [--model DIR]

The learned step is a logistic regression (numpy, L2, full-batch gradient descent) over every
(head, tail) candidate pair of allowed labels in one sentence, with features of the pair: the
words between the ends (when few), the words before the tail, distance, direction, entities in
between, punctuation, the tail's form. Decoding keeps, for each tail POSITION (HOLDS) and each
head value (PERIOD), the best candidate over 0.5. It trains on the relation gold of ``--train``
and is scored, like the rules (``models.relations``), on ``--dev``: with gold entities and, given
``--model``, with that model's predicted entities.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from corpus.document import Document, Relation, Span
from corpus.jsonl import read_documents
from corpus.relation_scoring import score_relations
from corpus.schema import LabelSchema, load_schema, with_default_relations
from models.relations import rule_relations, sentence_bounds

_WORD = re.compile(r"\w+|[^\w\s]")
_DAY = re.compile(r"^(?:ngày\s+)?\d{1,2}\s*[-/]\s*\d{1,2}", re.I)


def _candidates(doc_text: str, spans: Sequence[Span], schema: LabelSchema) -> list[tuple[Span, Span, str]]:
    ends = sentence_bounds(doc_text, spans)

    def sentence(pos: int) -> int:
        return sum(1 for e in ends if e <= pos)

    out = []
    for relation in schema.relations:
        for head in spans:
            if head.label not in relation.heads:
                continue
            for tail in spans:
                if tail.label in relation.tails and tail != head and sentence(head.start) == sentence(tail.start):
                    out.append((head, tail, relation.name))
    return out


def _features(text: str, spans: Sequence[Span], head: Span, tail: Span, kind: str) -> list[str]:
    first, second = sorted([head, tail])
    gap = text[first.end:second.start]
    words = [w.lower() for w in _WORD.findall(gap)]
    between = [s for s in spans if first.end <= s.start and s.end <= second.start]
    before_tail = [w.lower() for w in _WORD.findall(text[max(0, tail.start - 30):tail.start])][-3:]
    feats = [f"type={kind}", f"dir={'tail<head' if tail.start < head.start else 'head<tail'}",
             f"dist={min(6, int(math.log2(1 + len(gap))))}", f"n_between={min(3, len(between))}",
             f"head={head.label}"]
    feats += [f"{kind}:between_label={s.label}" for s in between]
    feats += [f"{kind}:gap={w}" for w in words] if len(words) <= 6 else [f"{kind}:gap=LONG"]
    if words:
        feats += [f"{kind}:gap_first={words[0]}", f"{kind}:gap_last={words[-1]}"]
    else:
        feats.append(f"{kind}:gap=EMPTY")
    feats += [f"{kind}:before_tail={w}" for w in before_tail]
    feats += [f"{kind}:punct={p}" for p in ",;()-:" if p in gap]
    if kind == "PERIOD" and _DAY.search(text[tail.start:tail.end]):
        feats.append("PERIOD:tail_is_day")
    same_label_between = any(s.label == head.label for s in between) or any(s.label == tail.label for s in between)
    feats.append(f"{kind}:same_label_between={same_label_between}")
    return feats


class PairClassifier:
    """Logistic regression over binary string features (the vocabulary seen in training)."""

    def __init__(self, l2: float = 1.0, steps: int = 400, lr: float = 0.5):
        self.l2, self.steps, self.lr = l2, steps, lr
        self.vocab: dict[str, int] = {}
        self.weights = np.zeros(0)

    def _matrix(self, rows: list[list[str]]) -> np.ndarray:
        x = np.zeros((len(rows), len(self.vocab) + 1))
        x[:, -1] = 1.0
        for i, feats in enumerate(rows):
            for f in feats:
                if f in self.vocab:
                    x[i, self.vocab[f]] = 1.0
        return x

    def fit(self, rows: list[list[str]], labels: list[int]) -> PairClassifier:
        self.vocab = {f: i for i, f in enumerate(sorted({f for feats in rows for f in feats}))}
        x, y = self._matrix(rows), np.array(labels, dtype=float)
        self.weights = np.zeros(x.shape[1])
        for _ in range(self.steps):
            p = 1 / (1 + np.exp(-x @ self.weights))
            grad = x.T @ (p - y) / len(y) + self.l2 * self.weights / len(y)
            self.weights -= self.lr * grad
        return self

    def predict_proba(self, rows: list[list[str]]) -> np.ndarray:
        return 1 / (1 + np.exp(-self._matrix(rows) @ self.weights))


def _pairs(docs: Sequence[Document], entities: Sequence[Sequence[Span]], schema: LabelSchema):
    for doc, spans in zip(docs, entities, strict=True):
        spans = sorted(spans)
        for head, tail, kind in _candidates(doc.text, spans, schema):
            yield doc, head, tail, kind, _features(doc.text, spans, head, tail, kind)


def train(docs: Sequence[Document], schema: LabelSchema) -> PairClassifier:
    rows, labels = [], []
    for doc, head, tail, kind, feats in _pairs(docs, [d.spans for d in docs], schema):
        gold = {(r.head, r.tail, r.type) for r in doc.relations or []}
        rows.append(feats)
        labels.append(int(((head.start, head.end), (tail.start, tail.end), kind) in gold))
    return PairClassifier().fit(rows, labels)


def learned_relations(model: PairClassifier, doc: Document, spans: Sequence[Span],
                      schema: LabelSchema) -> list[Relation]:
    found = list(_pairs([doc], [spans], schema))
    if not found:
        return []
    scores = model.predict_proba([f for *_, f in found])
    best: dict[tuple, tuple[float, Relation]] = {}
    for (_, head, tail, kind, _), p in zip(found, scores, strict=True):
        if p <= 0.5:
            continue
        key = (kind, (tail.start, tail.end)) if kind == "HOLDS" else (kind, (head.start, head.end))
        relation = Relation((head.start, head.end), (tail.start, tail.end), kind, float(p))
        if key not in best or p > best[key][0]:
            best[key] = (float(p), relation)
    return sorted(r for _, r in best.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=Path, required=True, help="gold with relations to learn from")
    parser.add_argument("--dev", type=Path, required=True, help="gold with relations to score on")
    parser.add_argument("--model", type=Path, help="NER model for end-to-end scores")
    args = parser.parse_args()
    schema = with_default_relations(load_schema())
    train_docs = [d for d in read_documents(args.train) if d.relations is not None]
    dev_docs = [d for d in read_documents(args.dev) if d.relations is not None]
    classifier = train(train_docs, schema)
    inputs = {"gold entities": [d.spans for d in dev_docs]}
    if args.model:
        from models import load_model
        from training.evaluate import predict_documents

        inputs["predicted entities"] = predict_documents(load_model(args.model), dev_docs)
    rows = []
    for name, entities in inputs.items():
        for method in ("rules", "learned"):
            predicted = [
                rule_relations(d.text, spans, schema) if method == "rules"
                else learned_relations(classifier, d, spans, schema)
                for d, spans in zip(dev_docs, entities, strict=True)
            ]
            gold = [d.relations or [] for d in dev_docs]
            table = score_relations(schema.relation_names, zip(gold, predicted, strict=True)).to_dict()
            rows.append({"entities": name, "method": method} | {k: round(v["f1"], 3) for k, v in table.items()})
            print(f"{name:18} {method:8} " + "  ".join(f"{k} F1 {v['f1']:.3f} (P {v['precision']:.3f} "
                                                     f"R {v['recall']:.3f})" for k, v in table.items()))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
