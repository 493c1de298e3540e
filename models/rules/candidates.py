"""Proposed entities (each with the rule that proposed it) and how overlaps between them are resolved."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from corpus.document import Span
from corpus.spans import trim_span

# Labels in the order they win a tie between two candidates of the same length.
PRIORITY = ("POSITION", "UNIT", "DATE", "FIGURE", "OFFICIAL", "LOCATION")


@dataclass(frozen=True)
class Candidate:
    """A proposed entity and the rule that proposed it."""

    start: int
    end: int
    label: str
    rule: str

    def overlaps(self, other: Candidate) -> bool:
        return self.start < other.end and other.start < self.end


def resolve(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Non-overlapping candidates: longest first; ties by label priority, then position."""
    rank = {label: i for i, label in enumerate(PRIORITY)}
    ordered = sorted(set(candidates), key=lambda c: (c.start - c.end, rank.get(c.label, len(rank)), c.start, c.rule))
    kept: list[Candidate] = []
    for cand in ordered:
        if not any(cand.overlaps(k) for k in kept):
            kept.append(cand)
    return sorted(kept, key=lambda c: (c.start, c.end))


def trim(text: str, cand: Candidate) -> Candidate | None:
    """The candidate without surrounding spaces and punctuation ("%" may close a FIGURE)."""
    span = trim_span(text, Span(cand.start, cand.end, cand.label), punctuation=True)
    return None if span is None else Candidate(span.start, span.end, cand.label, cand.rule)
