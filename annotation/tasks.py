"""Conversions between our documents and Label Studio tasks, results and predictions (no network here).

A task's ``data`` holds the NFC text under ``text`` (the ``<Text>`` object of the labeling config)
and the document id under ``doc_id``, plus ``title``, ``date`` and ``source`` so that a pull can
write the gold format without looking anything up. A span is one region of the ``<Labels>``
control::

    {"id": "...", "from_name": "label", "to_name": "text", "type": "labels",
     "value": {"start": 10, "end": 26, "text": "Huyện ủy Hậu Lộc", "labels": ["UNIT"]}}

``start``/``end`` are code-point offsets into ``data.text`` (``end`` exclusive), which is what the
browser counts as well for NFC Vietnamese (see ``labeling_config.GRANULARITY``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from annotation.labeling_config import FROM_NAME, TO_NAME
from corpus.document import Document, Span
from corpus.schema import LabelSchema
from corpus.spans import SpanProblem, validate_spans
from corpus.text import normalize

TEXT_KEY = TO_NAME  # the task data key the <Text> object reads ($text)
DOC_ID_KEY = "doc_id"
META_KEYS = ("title", "date", "source")
REGION_TYPE = "labels"


def nfc(text: str) -> str:
    """The text as it is stored in a task: NFC with ``\\n`` line breaks, spaces kept."""
    return normalize(text, spaces=False)[0]


def prepare_document(doc: Document) -> tuple[Document, bool]:
    """``doc`` with NFC text and its spans moved onto that text; also whether the text changed."""
    text, offsets = normalize(doc.text, spaces=False)
    if text == doc.text:
        return doc, False
    spans = []
    for span in doc.spans:
        start, end = offsets.to_normalized(span.start, span.end)
        spans.append(Span(start, end, span.label, span.score))
    return replace(doc, text=text, spans=spans), True


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


def spans_to_result(text: str, spans: Iterable[Span], *, with_score: bool = False) -> list[dict[str, Any]]:
    return [span_region(text, span, i, with_score=with_score) for i, span in enumerate(sorted(spans))]


def entities_to_spans(entities: Iterable[dict[str, Any]]) -> list[Span]:
    """Spans of ``models.predict`` entity dicts (``start``, ``end``, ``label``, ``score``)."""
    return [Span(int(e["start"]), int(e["end"]), str(e["label"]), e.get("score")) for e in entities]


def mean_score(spans: Sequence[Span]) -> float | None:
    """The mean entity score, or None when there are no spans or any score is missing."""
    scores = [s.score for s in spans]
    if not scores or any(score is None for score in scores):
        return None
    return float(sum(scores)) / len(scores)  # type: ignore[arg-type]


def prediction_payload(
    text: str, entities: Iterable[dict[str, Any]], model_version: str, schema: LabelSchema
) -> tuple[dict[str, Any], list[SpanProblem]]:
    """A Label Studio prediction for ``text`` (entities with offsets into that very string).

    Spans that break the annotation rules (see ``corpus.spans``) are left out of the draft and
    returned as problems, so that annotators never start from an impossible span.
    """
    spans, refused = validate_spans(text, entities_to_spans(entities), schema)
    payload: dict[str, Any] = {"model_version": model_version, "result": spans_to_result(text, spans, with_score=True)}
    score = mean_score(spans)
    if score is not None:
        payload["score"] = score
    return payload, refused


def task_payload(
    doc: Document,
    *,
    predictions: Sequence[dict[str, Any]] = (),
    annotation: Sequence[Span] | None = None,
    ground_truth: bool = True,
) -> dict[str, Any]:
    """An import item: task data, optional predictions and optional annotation made of ``annotation`` spans."""
    payload: dict[str, Any] = {"data": task_data(doc)}
    if predictions:
        payload["predictions"] = list(predictions)
    if annotation is not None:
        payload["annotations"] = [{"result": spans_to_result(doc.text, annotation), "ground_truth": ground_truth}]
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
