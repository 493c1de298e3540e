"""Conversions between our documents and Label Studio tasks, results and predictions (no network here).

A task's ``data`` holds the NFC text under ``text`` (the ``<Text>`` object of the labeling config)
and the document id under ``doc_id``, plus ``title``, ``date`` and ``source`` so that a pull can
write the gold format without looking anything up. A span is one region of the ``<Labels>``
control::

    {"id": "...", "from_name": "label", "to_name": "text", "type": "labels",
     "value": {"start": 10, "end": 26, "text": "Huyện ủy Hậu Lộc", "labels": ["UNIT"]}}

``start``/``end`` are code-point offsets into ``data.text`` (``end`` exclusive), which is what the
browser counts as well for NFC Vietnamese (see ``labeling_config.GRANULARITY``). A relation is
an arrow between two regions of the same result, by their ids::

    {"from_id": "vner3", "to_id": "vner4", "type": "relation", "direction": "right", "labels": ["HOLDS"]}

``direction`` "right" points from ``from_id`` (the head) to ``to_id`` (the tail), "left" the other
way; the annotator can flip an arrow, so both are read back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from annotation.labeling_config import FROM_NAME, TO_NAME
from corpus.document import Document, Relation, Span
from corpus.relations import RelationProblem, validate_relations
from corpus.schema import LabelSchema, with_default_relations
from corpus.spans import SpanProblem, validate_spans
from corpus.text import normalize

TEXT_KEY = TO_NAME  # the task data key the <Text> object reads ($text)
DOC_ID_KEY = "doc_id"
META_KEYS = ("title", "date", "source")
REGION_TYPE = "labels"
RELATION_TYPE = "relation"


def nfc(text: str) -> str:
    """The text as it is stored in a task: NFC with ``\\n`` line breaks, spaces kept."""
    return normalize(text, spaces=False)[0]


def prepare_document(doc: Document) -> tuple[Document, bool]:
    """``doc`` with NFC text and its spans and relations moved onto that text; also whether the text changed."""
    text, offsets = normalize(doc.text, spaces=False)
    if text == doc.text:
        return doc, False
    spans = []
    for span in doc.spans:
        start, end = offsets.to_normalized(span.start, span.end)
        spans.append(Span(start, end, span.label, span.score))
    relations = None
    if doc.relations is not None:
        relations = [
            Relation(offsets.to_normalized(*r.head), offsets.to_normalized(*r.tail), r.type, r.score)
            for r in doc.relations
        ]
    return replace(doc, text=text, spans=spans, relations=relations), True


def task_data(doc: Document) -> dict[str, Any]:
    """The ``data`` of the task for ``doc`` (whose text must already be NFC: see :func:`prepare_document`)."""
    return {TEXT_KEY: doc.text, DOC_ID_KEY: doc.id, "title": doc.title, "date": doc.date, "source": doc.source}


def span_region(text: str, span: Span, index: int, *, with_score: bool = False) -> dict[str, Any]:
    """One Labels region; ``value.text`` is the covered text, so a reader can check the offsets."""
    region: dict[str, Any] = {
        "id": f"vner{index}",
        "from_name": FROM_NAME,
        "to_name": TO_NAME,
        "type": REGION_TYPE,
        "value": {"start": span.start, "end": span.end, "text": text[span.start:span.end], "labels": [span.label]},
    }
    if with_score and span.score is not None:
        region["score"] = float(span.score)
    return region


def relation_item(from_id: str, to_id: str, kind: str) -> dict[str, Any]:
    """One arrow of the ``<Relations>`` control, from region ``from_id`` (head) to ``to_id`` (tail)."""
    return {"from_id": from_id, "to_id": to_id, "type": RELATION_TYPE, "direction": "right", "labels": [kind]}


def spans_to_result(
    text: str, spans: Iterable[Span], *, relations: Iterable[Relation] = (), with_score: bool = False
) -> list[dict[str, Any]]:
    """Span regions (ids ``vner0``, ``vner1``, ... in span order), then one arrow per relation.

    Each relation's head and tail must be offsets of ``spans`` (see ``corpus.relations.validate_relations``).
    """
    regions = [span_region(text, span, i, with_score=with_score) for i, span in enumerate(sorted(spans))]
    ids = {(r["value"]["start"], r["value"]["end"]): r["id"] for r in regions}
    for relation in sorted(relations):
        if relation.head not in ids or relation.tail not in ids:
            raise ValueError(f"relation {relation.type} {list(relation.head)} -> {list(relation.tail)}: "
                             "an end is not one of the spans")
        regions.append(relation_item(ids[relation.head], ids[relation.tail], relation.type))
    return regions


def entities_to_spans(entities: Iterable[dict[str, Any]]) -> list[Span]:
    """Spans of ``models.predict`` entity dicts (``start``, ``end``, ``label``, ``score``)."""
    return [Span(int(e["start"]), int(e["end"]), str(e["label"]), e.get("score")) for e in entities]


def mean_score(spans: Sequence[Span]) -> float | None:
    """The mean entity score, or None when there are no spans or any score is missing."""
    scores = [s.score for s in spans]
    if not scores or any(score is None for score in scores):
        return None
    return float(sum(scores)) / len(scores)  # type: ignore[arg-type]


def checked_relations(
    spans: Sequence[Span], relations: Iterable[Relation], schema: LabelSchema
) -> tuple[list[Relation], list[RelationProblem]]:
    """The relations valid among ``spans`` (see ``corpus.relations``) and the problems of the others."""
    return validate_relations(spans, relations, with_default_relations(schema))


def prediction_payload(
    text: str,
    entities: Iterable[dict[str, Any]],
    model_version: str,
    schema: LabelSchema,
    relations: Iterable[Relation] = (),
) -> tuple[dict[str, Any], list[SpanProblem | RelationProblem]]:
    """A Label Studio prediction for ``text``: entities (offsets into that very string) and relations between them.

    Spans that break the annotation rules (see ``corpus.spans``) are left out of the draft and
    returned as problems, so that annotators never start from an impossible span; so are
    relations the schema does not allow or whose end was left out.
    """
    spans, refused_spans = validate_spans(text, entities_to_spans(entities), schema)
    links, refused_links = checked_relations(spans, relations, schema)
    refused: list[SpanProblem | RelationProblem] = [*refused_spans, *refused_links]
    result = spans_to_result(text, spans, relations=links, with_score=True)
    payload: dict[str, Any] = {"model_version": model_version, "result": result}
    score = mean_score(spans)
    if score is not None:
        payload["score"] = score
    return payload, refused


def task_payload(
    doc: Document,
    *,
    predictions: Sequence[dict[str, Any]] = (),
    annotation: Sequence[Span] | None = None,
    relations: Sequence[Relation] = (),
    ground_truth: bool = True,
) -> dict[str, Any]:
    """An import item: task data, optional predictions and optional annotation made of ``annotation``
    spans and ``relations`` between them."""
    payload: dict[str, Any] = {"data": task_data(doc)}
    if predictions:
        payload["predictions"] = list(predictions)
    if annotation is not None:
        result = spans_to_result(doc.text, annotation, relations=relations)
        payload["annotations"] = [{"result": result, "ground_truth": ground_truth}]
    return payload


# ----------------------------------------------------------------------------- back from Label Studio


@dataclass(frozen=True)
class Region:
    """One result item read back: a span (when it has the shape of one) and the text it claims to cover."""

    span: Span | None
    surface: str | None  # value.text
    problem: str | None = None  # why it is not a usable span (shape, label count), if it is not


def read_region(item: Any) -> Region:
    """Parse one result item of an annotation; malformed items come back with a ``problem``."""
    if not isinstance(item, dict):
        return Region(None, None, f"result item is not an object: {item!r}"[:200])
    kind = item.get("type")
    if kind != REGION_TYPE:
        return Region(None, None, f"not a span region (type {kind!r})")
    if item.get("from_name") != FROM_NAME or item.get("to_name") != TO_NAME:
        control = f"{item.get('from_name')!r} -> {item.get('to_name')!r}"
        return Region(None, None, f"region of {control}, not of the {FROM_NAME!r} -> {TO_NAME!r} labels")
    value = item.get("value")
    if not isinstance(value, dict):
        return Region(None, None, "region without a value")
    start, end, labels = value.get("start"), value.get("end"), value.get("labels")
    surface = value.get("text") if isinstance(value.get("text"), str) else None
    if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool) or isinstance(end, bool):
        return Region(None, surface, f"offsets are not integers (start={start!r}, end={end!r})")
    if not isinstance(labels, list) or not labels:
        return Region(None, surface, "span without a label")
    if len(labels) > 1:
        return Region(Span(start, end, "+".join(map(str, labels))), surface, f"several labels on one span: {labels}")
    return Region(Span(start, end, str(labels[0])), surface)


def result_spans(result: Any) -> frozenset[tuple[int, int, str]]:
    """``(start, end, label)`` of the well-formed span regions of an annotation or prediction ``result``."""
    spans = set()
    for item in result if isinstance(result, list) else []:
        region = read_region(item)
        if region.span is not None and region.problem is None:
            spans.add((region.span.start, region.span.end, region.span.label))
    return frozenset(spans)


def document_from_task(data: dict[str, Any], doc_id: str) -> Document:
    """The document (no spans yet) of a task's ``data``."""
    date = data.get("date")
    return Document(
        id=doc_id,
        text=str(data.get(TEXT_KEY) or ""),
        title=str(data.get("title") or ""),
        date=str(date) if date not in (None, "") else None,
        source=str(data.get("source") or ""),
    )


@dataclass(frozen=True)
class Link:
    """One relation item read back: the region ids of its head and tail and its type, or why it is not usable."""

    head_id: str | None
    tail_id: str | None
    type: str | None
    problem: str | None = None

    def describe(self) -> str:
        return f"{self.type or 'untyped'} arrow from region {self.head_id!r} to region {self.tail_id!r}"


def is_relation_item(item: Any) -> bool:
    return isinstance(item, dict) and item.get("type") == RELATION_TYPE


def read_link(item: dict[str, Any]) -> Link:
    """Parse one relation item (see :func:`is_relation_item`); head and tail follow the arrow's direction."""
    direction, labels = item.get("direction"), item.get("labels")
    from_id = item["from_id"] if isinstance(item.get("from_id"), str) else None
    to_id = item["to_id"] if isinstance(item.get("to_id"), str) else None
    head, tail = (to_id, from_id) if direction == "left" else (from_id, to_id)
    kind = str(labels[0]) if isinstance(labels, list) and len(labels) == 1 else None
    if from_id is None or to_id is None:
        problem = f"arrow without both region ids (from_id={item.get('from_id')!r}, to_id={item.get('to_id')!r})"
    elif not isinstance(labels, list) or not labels:
        problem = "arrow without a relation type (choose one of the types for it)"
    elif len(labels) > 1:
        problem = f"several relation types on one arrow: {labels}"
    elif direction == "bi":
        problem = "arrow drawn both ways (direction 'bi'): a relation goes one way, from head to tail"
    elif direction not in ("right", "left"):
        problem = f"arrow direction {direction!r} is not 'right' or 'left'"
    else:
        problem = None
    return Link(head, tail, kind, problem)


def region_spans(result: Any) -> dict[str, Span]:
    """The well-formed span regions of ``result`` by region id."""
    found = {}
    for item in result if isinstance(result, list) else []:
        region = read_region(item)
        if region.span is not None and region.problem is None and isinstance(item.get("id"), str):
            found[item["id"]] = region.span
    return found


def result_relations(result: Any) -> frozenset[tuple[tuple[int, int], tuple[int, int], str]]:
    """``(head, tail, type)`` of the well-formed arrows of ``result`` between well-formed span regions."""
    spans = region_spans(result)
    links = set()
    for item in result if isinstance(result, list) else []:
        if not is_relation_item(item):
            continue
        link = read_link(item)
        head, tail = spans.get(link.head_id or ""), spans.get(link.tail_id or "")
        if link.problem is None and link.type and head is not None and tail is not None:
            links.add(((head.start, head.end), (tail.start, tail.end), link.type))
    return frozenset(links)


def drawn_links(result: Any) -> frozenset[tuple[tuple[int, int], tuple[int, int], str]] | None:
    """:func:`result_relations` of a ``result`` that has at least one arrow (relation item), else None:
    a result without arrows does not say whether its author linked anything."""
    if not isinstance(result, list) or not any(is_relation_item(item) for item in result):
        return None
    return result_relations(result)


def dispute(results: Iterable[Any]) -> str | None:
    """What the annotation ``results`` of a task (each annotator's latest) disagree on, the one rule of
    ``review`` and ``pull``: "spans" when their well-formed spans differ, else "arrows" when two results
    that both have arrows differ in them (strict: type and both ends' offsets, as ``agreement`` scores
    them; a result without arrows is left out, see :func:`drawn_links`), else None."""
    results = list(results)
    if len({result_spans(result) for result in results}) > 1:
        return "spans"
    if len({links for result in results if (links := drawn_links(result)) is not None}) > 1:
        return "arrows"
    return None
