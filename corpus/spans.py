"""Checks that entity spans fit their text and the label schema."""

from __future__ import annotations

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


def span_problem(text: str, span: Span, schema: LabelSchema) -> str | None:
    """Why ``span`` is not a valid entity of ``text``, or None when it is."""
    if span.label not in schema:
        return f"unknown label (known: {', '.join(schema.names)})"
    if not 0 <= span.start < span.end <= len(text):
        return f"offsets outside the text (length {len(text)})"
    surface = text[span.start:span.end]
    if surface != surface.strip():
        return "leading or trailing whitespace"
    if surface[0] in EDGE_PUNCTUATION or surface[-1] in EDGE_PUNCTUATION:
        return f"starts or ends with punctuation: {surface!r}"
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
