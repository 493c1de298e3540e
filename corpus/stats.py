"""Corpus figures: documents, words, dates covered and entities per label."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from corpus.document import Document


@dataclass
class CorpusStats:
    documents: int = 0
    words: int = 0
    characters: int = 0
    dates: Counter = field(default_factory=Counter)
    undated: int = 0
    annotated: int = 0
    entities: Counter = field(default_factory=Counter)


def corpus_stats(docs: Iterable[Document]) -> CorpusStats:
    """Count documents, whitespace-separated words, dates (``YYYY-MM``) and entity labels."""
    stats = CorpusStats()
    for doc in docs:
        stats.documents += 1
        stats.words += len(doc.text.split())
        stats.characters += len(doc.text)
        if doc.date:
            stats.dates[doc.date[:7]] += 1
        else:
            stats.undated += 1
        if doc.spans:
            stats.annotated += 1
            stats.entities.update(span.label for span in doc.spans)
    return stats
