"""Checks that entity spans fit their text and the label schema."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from corpus.document import Span
from corpus.schema import LabelSchema

# Punctuation a span never starts or ends with (the spec; "%" may close a FIGURE, so it is not here).
EDGE_PUNCTUATION = set(".,;:!?\"'“”‘’()[]{}…-–—/")


@dataclass(frozen=True)
class SpanProblem:
    span: Span
    reason: str

    def __str__(self) -> str:
        return f"[{self.span.start}:{self.span.end}] {self.span.label}: {self.reason}"


def trim_span(text: str, span: Span, *, punctuation: bool = False) -> Span | None:
    """``span`` without the whitespace (and, with ``punctuation``, the :data:`EDGE_PUNCTUATION`) at its
    edges; None when nothing is left."""
    start, end = span.start, span.end
    while start < end and (text[start].isspace() or punctuation and text[start] in EDGE_PUNCTUATION):
        start += 1
    while end > start and (text[end - 1].isspace() or punctuation and text[end - 1] in EDGE_PUNCTUATION):
        end -= 1
    if start == end:
        return None
    return span if (start, end) == (span.start, span.end) else Span(start, end, span.label, span.score)


def offset_problem(start: int, end: int, length: int) -> str | None:
    """Why ``[start, end)`` is not a stretch of a text of ``length`` characters, or None."""
    if start < 0 or end < 0:
        return "negative offset"
    if start >= end:
        return "empty or reversed (start must be before end)"
    if end > length:
        return f"ends past the end of the text (length {length})"
    return None


def span_problem(text: str, span: Span, schema: LabelSchema) -> str | None:
    """Why ``span`` is not a valid entity of ``text``, or None when it is."""
    if span.label not in schema:
        return f"unknown label (known: {', '.join(schema.names)})"
    if (reason := offset_problem(span.start, span.end, len(text))) is not None:
        return reason
    surface = text[span.start : span.end]
    if surface != surface.strip():
        return f"leading or trailing whitespace: {surface!r}"
    if surface[0] in EDGE_PUNCTUATION or surface[-1] in EDGE_PUNCTUATION:
        return f"starts or ends with punctuation: {surface!r}"
    if unicodedata.combining(surface[0]) or (span.end < len(text) and unicodedata.combining(text[span.end])):
        return f"cuts a letter from its combining mark: {surface!r}"
    return None


def validate_spans(text: str, spans: Iterable[Span], schema: LabelSchema) -> tuple[list[Span], list[SpanProblem]]:
    """Split spans into valid ones (sorted) and problems; of two overlapping spans the later one is refused."""
    valid: list[Span] = []
    problems: list[SpanProblem] = []
    for span in sorted(spans):
        reason = span_problem(text, span, schema)
        if reason is None and valid and span.start < valid[-1].end:
            reason = f"overlaps [{valid[-1].start}:{valid[-1].end}] {valid[-1].label}"
        if reason:
            problems.append(SpanProblem(span, reason))
        else:
            valid.append(span)
    return valid, problems
