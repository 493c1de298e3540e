"""The transformers engine's span head, for labels whose spans are long phrases around a value (TARGET).

BIO tags decide an entity word by word, so a planned value ("tỷ lệ hộ nghèo giảm bình quân 1-1,5%
/ năm") comes out as the FIGURE it contains. A planned value always states a number, so the head
works from the number words (its *anchors*) in two steps:

1. each anchor is classified: does it belong to a span of a span label (the value is planned)?
2. for an anchor that does, every span of up to ``max_words`` words on its line that contains it is
   scored, and the best one is the entity.

An anchor is represented by the encoder's last hidden state at its word; a span by the states at
its first and last word, the mean over its words, a learned embedding of its length and its
anchor's state. Step 1 is a sigmoid per label over ~10 anchors a window (well calibrated, unlike a
threshold over thousands of candidate spans); step 2 is a choice among the anchor's spans. Spans
are kept by anchor probability, best first, when they do not overlap one already kept, and they
replace the tagger's entities they overlap.

Inference here is numpy only (the onnxruntime runtime needs no torch); ``training/span_training.py``
trains the same computation in PyTorch and saves its weights with :func:`save_span_head`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpus.document import Span

SPAN_HEAD_FILE = "span_head.npz"
SPAN_HEAD_CONFIG = "span_head.json"
DEFAULT_MAX_WORDS = 30
DEFAULT_THRESHOLD = 0.5
# Words that state a number without digits (một người, hai xã, nửa); numbers with digits are found by "\d".
NUMBER_WORDS = frozenset(
    "một hai ba bốn năm sáu bảy tám chín mười mươi mốt lăm tư trăm nghìn ngàn vạn triệu tỷ tỉ nửa rưỡi".split()
)
_DIGIT = re.compile(r"\d")


def is_number_word(word: str) -> bool:
    """A word that states a quantity: it has a digit or is a Vietnamese number word."""
    return bool(_DIGIT.search(word)) or word.lower() in NUMBER_WORDS


def anchors(words: Sequence[str]) -> np.ndarray:
    """Indices of the number words (int64)."""
    return np.asarray([i for i, word in enumerate(words) if is_number_word(word)], dtype=np.int64)


def spans_around(anchor: int, line_start: int, line_end: int, max_words: int = DEFAULT_MAX_WORDS) -> np.ndarray:
    """Word spans ``[start, end)`` in ``[line_start, line_end)`` holding ``anchor``, of at most ``max_words``."""
    starts = np.arange(max(line_start, anchor - max_words + 1), anchor + 1)
    ends = np.arange(anchor + 1, min(line_end, anchor + max_words) + 1)
    grid_start, grid_end = np.meshgrid(starts, ends, indexing="ij")
    keep = grid_end - grid_start <= max_words
    return np.stack([grid_start[keep], grid_end[keep]], axis=1).astype(np.int64)


def line_bounds(breaks: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """For each word, the first word of its line and the word after its line's last (``breaks[i]``: a line
    break precedes word ``i``)."""
    n = len(breaks)
    first = np.zeros(n, dtype=np.int64)
    for i in range(1, n):
        first[i] = i if breaks[i] else first[i - 1]
    after = np.full(n, n, dtype=np.int64)
    for i in range(n - 2, -1, -1):
        after[i] = i + 1 if breaks[i + 1] else after[i + 1]
    return first, after


def span_features(hidden: np.ndarray, spans: np.ndarray, anchor: int, width_embeddings: np.ndarray) -> np.ndarray:
    """``[h_first, h_last, mean(h), width, h_anchor]`` for spans around one anchor; ``hidden`` is ``(n_words, d)``."""
    cumulative = np.concatenate([np.zeros((1, hidden.shape[1]), hidden.dtype), np.cumsum(hidden, axis=0)])
    starts, ends = spans[:, 0], spans[:, 1]
    mean = (cumulative[ends] - cumulative[starts]) / (ends - starts)[:, None].astype(hidden.dtype)
    width = width_embeddings[np.minimum(ends - starts, len(width_embeddings)) - 1]
    anchor_state = np.repeat(hidden[anchor][None, :], len(spans), axis=0)
    return np.concatenate([hidden[starts], hidden[ends - 1], mean, width, anchor_state], axis=1)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # the logistic function, without overflow


@dataclass
class SpanHead:
    """Weights of the anchor classifier and span scorer; ``labels`` are the span labels, one output each."""

    labels: list[str]
    anchor_hidden_weight: np.ndarray  # (d, h)
    anchor_hidden_bias: np.ndarray  # (h,)
    anchor_output_weight: np.ndarray  # (h, len(labels))
    anchor_output_bias: np.ndarray  # (len(labels),)
    width_embeddings: np.ndarray  # (max_words, w)
    span_hidden_weight: np.ndarray  # (4d + w, h)
    span_hidden_bias: np.ndarray  # (h,)
    span_output_weight: np.ndarray  # (h, len(labels))
    span_output_bias: np.ndarray  # (len(labels),)
    max_words: int = DEFAULT_MAX_WORDS
    threshold: float = DEFAULT_THRESHOLD

    def anchor_probabilities(self, hidden: np.ndarray, anchor_words: np.ndarray) -> np.ndarray:
        """``(len(anchor_words), len(labels))``: the probability that each anchor's value has each span label."""
        states = hidden[anchor_words].astype(np.float32)
        inner = _gelu(states @ self.anchor_hidden_weight + self.anchor_hidden_bias)
        return _sigmoid(inner @ self.anchor_output_weight + self.anchor_output_bias)

    def span_scores(self, hidden: np.ndarray, spans: np.ndarray, anchor: int) -> np.ndarray:
        """``(len(spans), len(labels))`` scores of the spans around ``anchor`` (higher: the entity's extent)."""
        features = span_features(hidden.astype(np.float32), spans, anchor, self.width_embeddings)
        return _gelu(features @ self.span_hidden_weight + self.span_hidden_bias) @ self.span_output_weight + \
            self.span_output_bias

    def decode(
        self, hidden: np.ndarray, words: Sequence[str], breaks: Sequence[bool]
    ) -> list[tuple[int, int, str, float]]:
        """Non-overlapping ``(first word, end word, label, anchor probability)``, best anchors first."""
        found = anchors(words)
        if not len(found):
            return []
        probs = self.anchor_probabilities(hidden, found)
        first, after = line_bounds(breaks)
        chosen: list[tuple[int, int, str, float]] = []
        for row in np.argsort(-probs.max(axis=1), kind="stable"):
            label = int(probs[row].argmax())
            probability = float(probs[row, label])
            if probability < self.threshold:
                break
            anchor = int(found[row])
            if any(a <= anchor < b for a, b, _, _ in chosen):
                continue  # the value is part of a span already kept
            spans = spans_around(anchor, int(first[anchor]), int(after[anchor]), self.max_words)
            start, end = (int(x) for x in spans[int(self.span_scores(hidden, spans, anchor)[:, label].argmax())])
            if all(end <= a or b <= start for a, b, _, _ in chosen):
                chosen.append((start, end, self.labels[label], probability))
        return sorted(chosen)


def save_span_head(directory: Path, head: SpanHead) -> None:
    """Write ``span_head.npz`` (weights) and ``span_head.json`` (labels and settings) into ``directory``."""
    arrays: dict[str, Any] = {key: value for key, value in vars(head).items() if isinstance(value, np.ndarray)}
    np.savez(directory / SPAN_HEAD_FILE, **arrays)
    settings = {"labels": head.labels, "max_words": head.max_words, "threshold": head.threshold}
    (directory / SPAN_HEAD_CONFIG).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")


def load_span_head(directory: Path) -> SpanHead | None:
    """The span head saved in ``directory``, or None when the model has none."""
    if not (directory / SPAN_HEAD_FILE).is_file():
        return None
    settings = json.loads((directory / SPAN_HEAD_CONFIG).read_text(encoding="utf-8"))
    with np.load(directory / SPAN_HEAD_FILE) as weights:
        arrays = {key: weights[key].astype(np.float32) for key in weights.files}
    return SpanHead(labels=list(settings["labels"]), max_words=int(settings["max_words"]),
                    threshold=float(settings["threshold"]), **arrays)


def merge_spans(tagged: list[Span], span_picks: list[Span]) -> list[Span]:
    """The span head's spans plus the tagger's entities that overlap none of them, in order."""
    kept = [s for s in tagged if all(s.end <= p.start or p.end <= s.start for p in span_picks)]
    return sorted(kept + span_picks)
