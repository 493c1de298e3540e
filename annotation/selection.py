"""Which unlabeled documents to label first: ``uncertainty``, ``random`` or ``diverse``.

Every strategy gives each candidate a usefulness (higher = label sooner) and an order:

* ``uncertainty``: the model's uncertainty (``annotation.uncertainty``, by a chosen measure);
* ``random``: a seeded random number (the baseline every other strategy must beat);
* ``diverse``: uncertainty, but a batch does not take near-copies: from the ``POOL_FACTOR * batch``
  most uncertain candidates, picks greedily the one maximizing ``uncertainty * distance`` to
  everything labeled or already picked (cosine distance of TF-IDF syllable vectors), ``batch``
  times; the other candidates follow by uncertainty, with usefulness below the batch's.

The selector only ever sees the candidates' texts, never their spans.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from annotation.uncertainty import DEFAULT_MEASURE, uncertainty
from corpus.text import split_words
from models.base import NerModel

STRATEGIES = ("uncertainty", "random", "diverse")
POOL_FACTOR = 3  # diverse: candidates considered per document picked
MAX_REFERENCE_DOCS = 500  # diverse: labeled documents compared against (a seeded sample beyond this)
DIVERSE_BATCH = 50  # diverse: documents picked greedily when no batch size is given


@dataclass(frozen=True)
class Ranking:
    """Candidate indexes, most useful first, with their usefulness (non-increasing along ``order``)."""

    order: list[int]
    usefulness: list[float]  # usefulness[j] belongs to order[j]


def tfidf_vectors(texts: Sequence[str]) -> np.ndarray:
    """L2-normalized TF-IDF rows over lowercased syllables (vocabulary and IDF from ``texts`` themselves)."""
    counts = [Counter(text[a:b].lower() for a, b in split_words(text)) for text in texts]
    vocabulary = {word: j for j, word in enumerate(sorted({w for c in counts for w in c}))}
    df = Counter(word for c in counts for word in c)
    n = len(texts)
    idf = {word: math.log((1 + n) / (1 + df[word])) + 1.0 for word in vocabulary}
    matrix = np.zeros((n, len(vocabulary)), dtype=np.float32)
    for i, c in enumerate(counts):
        for word, count in c.items():
            matrix[i, vocabulary[word]] = (1.0 + math.log(count)) * idf[word]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def diverse_pick(scores: Sequence[float], vectors: np.ndarray, reference: np.ndarray, k: int) -> Ranking:
    """Greedy batch: ``k`` rows of ``vectors`` maximizing ``score * distance to reference and picks so far``."""
    distance = np.ones(len(vectors), dtype=np.float32)
    if len(reference):
        distance = np.clip(1.0 - (vectors @ reference.T).max(axis=1), 0.0, 1.0)
    weights = np.asarray(scores, dtype=np.float64)
    weights = weights - weights.min() + 1e-9 if len(weights) else weights  # positive, order kept
    picked: list[int] = []
    values: list[float] = []
    free = np.ones(len(vectors), dtype=bool)
    for _ in range(min(k, len(vectors))):
        objective = np.where(free, weights * distance, -np.inf)
        best = int(np.argmax(objective))
        picked.append(best)
        values.append(float(objective[best]) if not values else min(values[-1], float(objective[best])))
        free[best] = False
        distance = np.minimum(distance, np.clip(1.0 - vectors @ vectors[best], 0.0, 1.0))
    return Ranking(picked, values)


def rank(
    strategy: str,
    texts: Sequence[str],
    *,
    model: NerModel | None = None,
    k: int | None = None,
    batch: int | None = None,
    labeled_texts: Sequence[str] = (),
    measure: str = DEFAULT_MEASURE,
    seed: int = 0,
) -> Ranking:
    """The candidates ``texts`` ranked by ``strategy``; ``k`` caps how many are returned (all by default).

    ``uncertainty`` and ``diverse`` need ``model``; ``diverse`` also reads ``labeled_texts`` and picks
    its first ``batch`` documents greedily (default: ``k``, at most :data:`DIVERSE_BATCH`).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    k = len(texts) if k is None else min(k, len(texts))
    if strategy == "random":
        rng = random.Random(seed)
        values = [rng.random() for _ in texts]
        order = sorted(range(len(texts)), key=lambda i: -values[i])[:k]
        return Ranking(order, [values[i] for i in order])
    if model is None:
        raise ValueError(f"the {strategy} strategy needs a model")
    scores = uncertainty(model, texts, measure)
    by_score = sorted(range(len(texts)), key=lambda i: -scores[i])
    if strategy == "uncertainty":
        return Ranking(by_score[:k], [scores[i] for i in by_score[:k]])
    batch = min(k, DIVERSE_BATCH) if batch is None else min(batch, k)
    candidates = by_score[: POOL_FACTOR * batch]
    reference_texts = list(labeled_texts)
    if len(reference_texts) > MAX_REFERENCE_DOCS:
        reference_texts = random.Random(seed).sample(reference_texts, MAX_REFERENCE_DOCS)
    vectors = tfidf_vectors([texts[i] for i in candidates] + reference_texts)
    picked = diverse_pick([scores[i] for i in candidates], vectors[: len(candidates)], vectors[len(candidates):],
                          batch)
    order = [candidates[j] for j in picked.order]
    values = list(picked.usefulness)
    taken = set(order)
    rest = [i for i in by_score if i not in taken][: k - len(order)]
    if rest:  # below the batch, in uncertainty order
        floor = values[-1] if values else 1.0
        top = max(scores[rest[0]], 1e-9)
        values += [0.5 * floor * max(scores[i], 0.0) / top for i in rest]
        order += rest
    return Ranking(order, values)
