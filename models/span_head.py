"""The transformers engine's span classifier, for labels whose spans are long phrases around a value (TARGET).

BIO tags decide an entity word by word, so a planned value ("tỷ lệ hộ nghèo giảm bình quân 1-1,5%
/ năm") comes out as the FIGURE it contains. The span head instead scores whole candidate
spans: every run of up to ``max_words`` words on one line that holds a number (a planned value
always states one). A span is represented by the encoder's last hidden state at its first and
last word, the mean over its words and a learned embedding of its length; a small MLP gives the
probability of each span label. Spans above ``threshold`` are kept best first when they do not
overlap, and they replace the tagger's entities they overlap.

Inference here is numpy only (the onnxruntime runtime needs no torch); ``training/hf_train.py``
trains the same computation in PyTorch and saves its weights with :func:`save_span_head`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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


def candidate_spans(words: Sequence[str], breaks: Sequence[bool], max_words: int = DEFAULT_MAX_WORDS) -> np.ndarray:
    """Word spans ``[start, end)`` (int64, shape ``(n, 2)``) of at most ``max_words`` holding a number word.

    ``breaks[i]`` is true when a line break precedes word ``i``: no span crosses one.
    """
    n = len(words)
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64)
    numbers = np.concatenate([[0], np.cumsum([is_number_word(w) for w in words])])
    lines = np.cumsum(np.asarray(breaks, dtype=np.int64))
    starts = np.arange(n)[:, None]
    ends = starts + np.arange(1, max_words + 1)[None, :]
    inside = ends <= n
    clipped = np.minimum(ends, n)
    keep = inside & (numbers[clipped] > numbers[starts]) & (lines[clipped - 1] == lines[starts])
    return np.stack([np.broadcast_to(starts, ends.shape)[keep], ends[keep]], axis=1).astype(np.int64)


def span_features(hidden: np.ndarray, spans: np.ndarray, width_embeddings: np.ndarray) -> np.ndarray:
    """``[h_first, h_last, mean(h), width]`` for each span; ``hidden`` is ``(n_words, d)``."""
    cumulative = np.concatenate([np.zeros((1, hidden.shape[1]), hidden.dtype), np.cumsum(hidden, axis=0)])
    starts, ends = spans[:, 0], spans[:, 1]
    lengths = (ends - starts)[:, None].astype(hidden.dtype)
    mean = (cumulative[ends] - cumulative[starts]) / lengths
    width = width_embeddings[np.minimum(ends - starts, len(width_embeddings)) - 1]
    return np.concatenate([hidden[starts], hidden[ends - 1], mean, width], axis=1)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))


@dataclass
class SpanHead:
    """Weights of the span MLP and its settings; ``labels`` are the span labels, one output each."""

    labels: list[str]
    width_embeddings: np.ndarray  # (max_words, w)
    hidden_weight: np.ndarray  # (3d + w, h)
    hidden_bias: np.ndarray  # (h,)
    output_weight: np.ndarray  # (h, len(labels))
    output_bias: np.ndarray  # (len(labels),)
    max_words: int = DEFAULT_MAX_WORDS
    threshold: float = DEFAULT_THRESHOLD

    def probabilities(self, hidden: np.ndarray, spans: np.ndarray) -> np.ndarray:
        """``(len(spans), len(labels))`` probabilities (tanh-approximated GELU, as in training)."""
        if not len(spans):
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        features = span_features(hidden.astype(np.float32), spans, self.width_embeddings)
        logits = _gelu(features @ self.hidden_weight + self.hidden_bias) @ self.output_weight + self.output_bias
        return 0.5 * (1.0 + np.tanh(0.5 * logits))  # the logistic function, without overflow

    def decode(
        self, hidden: np.ndarray, words: Sequence[str], breaks: Sequence[bool]
    ) -> list[tuple[int, int, str, float]]:
        """Non-overlapping ``(first word, end word, label, probability)`` above the threshold, best first kept."""
        spans = candidate_spans(words, breaks, self.max_words)
        probs = self.probabilities(hidden, spans)
        if not len(spans):
            return []
        best = probs.argmax(axis=1)
        score = probs[np.arange(len(spans)), best]
        chosen: list[tuple[int, int, str, float]] = []
        taken = np.zeros(len(words), dtype=bool)
        for index in np.argsort(-score, kind="stable"):
            if score[index] < self.threshold:
                break
            start, end = int(spans[index, 0]), int(spans[index, 1])
            if not taken[start:end].any():
                taken[start:end] = True
                chosen.append((start, end, self.labels[int(best[index])], float(score[index])))
        return sorted(chosen)


def save_span_head(directory: Path, head: SpanHead) -> None:
    """Write ``span_head.npz`` (weights) and ``span_head.json`` (labels and settings) into ``directory``."""
    np.savez(directory / SPAN_HEAD_FILE, width_embeddings=head.width_embeddings, hidden_weight=head.hidden_weight,
             hidden_bias=head.hidden_bias, output_weight=head.output_weight, output_bias=head.output_bias)
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
