"""Checks that relations link spans of their document with a type and label pair the schema allows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from corpus.document import Document, Relation, Span
from corpus.schema import LabelSchema, with_default_relations


@dataclass(frozen=True)
class RelationProblem:
    relation: Relation
    reason: str

    def __str__(self) -> str:
        r = self.relation
        return f"{r.type} [{r.head[0]}:{r.head[1]}] -> [{r.tail[0]}:{r.tail[1]}]: {self.reason}"


def spans_by_offsets(spans: Iterable[Span]) -> dict[tuple[int, int], Span]:
    """Each span under its ``(start, end)``."""
    return {(s.start, s.end): s for s in spans}


def relation_problem(relation: Relation, spans: dict[tuple[int, int], Span], schema: LabelSchema) -> str | None:
    """Why ``relation`` is not valid among ``spans`` (see :func:`spans_by_offsets`), or None when it is."""
    kind = schema.relation(relation.type)
    if kind is None:
        known = ", ".join(schema.relation_names) or "none"
        return f"unknown relation type (known: {known})"
    head, tail = spans.get(relation.head), spans.get(relation.tail)
    if head is None or tail is None:
        missing = " and ".join(end for end, span in (("head", head), ("tail", tail)) if span is None)
        return f"{missing} not a span of the document"
    if relation.head == relation.tail:
        return "head and tail are the same span"
    if not kind.allows(head.label, tail.label):
        allowed = f"{'/'.join(kind.heads)} -> {'/'.join(kind.tails)}"
        return f"links {head.label} -> {tail.label}; {relation.type} links {allowed}"
    return None


def validate_relations(
    spans: Iterable[Span], relations: Iterable[Relation], schema: LabelSchema
) -> tuple[list[Relation], list[RelationProblem]]:
    """Split relations into valid ones (sorted) and problems.

    A relation is valid when both ends are spans of ``spans`` (exact offsets), its type is in the
    schema and allows the two labels; a repeat of a valid relation (same head, tail and type) is a
    problem, reported, not silently merged.
    """
    by_offsets = spans_by_offsets(spans)
    valid: list[Relation] = []
    seen: set[Relation] = set()
    problems: list[RelationProblem] = []
    for relation in sorted(relations):
        reason = relation_problem(relation, by_offsets, schema)
        if reason is None and relation in seen:
            reason = "duplicate of an earlier relation"
        if reason:
            problems.append(RelationProblem(relation, reason))
        else:
            seen.add(relation)
            valid.append(relation)
    return valid, problems


def relation_problems(doc: Document, schema: LabelSchema) -> list[str]:
    """Each relation of ``doc`` that is not valid, as ``"relation TYPE [a:b] -> [c:d]: reason"``.

    A gold-file check (``(document, schema) -> reasons``); a schema without relation types (a model
    trained before they existed) is checked against the default ones.
    """
    if doc.relations is None:
        return []
    _, problems = validate_relations(doc.spans, doc.relations, with_default_relations(schema))
    return [f"relation {problem}" for problem in problems]
