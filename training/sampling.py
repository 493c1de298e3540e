"""Oversampling of rare labels: which labels count as rare, and how often their examples repeat."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from corpus.document import Document

DEFAULT_RARE_REPEATS = 3


def rare_labels(docs: Sequence[Document], names: Sequence[str]) -> list[str]:
    """Labels with fewer training spans than a quarter of the mean per label (TARGET in the gold data)."""
    counts = Counter(span.label for doc in docs for span in doc.spans if span.label in names)
    mean = sum(counts.values()) / max(len(names), 1)
    return [name for name in names if 0 < counts[name] < mean / 4]
