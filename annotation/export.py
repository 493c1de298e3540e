"""From a Label Studio export to gold documents, with every problem reported and nothing dropped silently.

Policy when a task has several annotations:

1. Cancelled annotations (``was_cancelled``: the annotator pressed Skip) are never used.
2. Empty annotations (no region at all) are not used either, unless ``allow_empty``: in this genre
   an article without a single entity is nearly always an accidental submit.
3. Of the rest, a ground-truth annotation wins; else the latest one (``updated_at``, then id).
   With several ground-truth annotations, the latest of those.
4. Unless a ground truth settles it, a task whose annotators (``completed_by``; each by their
   latest annotation) marked different spans, or drew different arrows (two annotations that both
   have arrows; ``tasks.dispute``, the rule of ``review`` and ``agreement``), is *disputed*:
   reported and not written, so that a reviewer decides (``vner studio review``); ``take_latest``
   writes the latest one instead.

Tasks with the same (NFC) text are one document: their annotations are weighed together and one
record is written, with the document id of the first task (an article pushed and later imported as
gold under another id, say); the others are reported.

Every annotation not used is reported, and so is every task that has annotations but none usable.
Tasks without any annotation are not written; they are counted.

Every region of the chosen annotation is checked: it must be a span of the ``label`` control with
one label, its offsets must lie inside the text, ``text[start:end]`` must equal the exported
``value.text``, the label must be in the schema, and spans may not overlap or start/end with space
or punctuation (``corpus.spans.validate_spans``). A failing span is reported with the document,
offsets and reason; the valid spans of that annotation are still written.

Every arrow (relation item) of the chosen annotation is checked likewise: it has one relation type
and one direction, both its regions are in the annotation and were written as spans, the schema
allows the type between their labels (an arrow drawn the wrong way is named as such), and it
repeats no other arrow (``corpus.relations.validate_relations``). A failing arrow is reported
with the document and the offsets of its ends; the valid ones are written as ``"relations"``.
A document gets the ``"relations"`` key when its annotation has at least one arrow, as the gold
format has no key for documents not annotated for relations and an annotation without arrows
does not say whether its author linked anything; ``relations_annotated`` declares that every
annotation was made with relations in mind, so that one without arrows is written ``[]``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from annotation.tasks import (
    DOC_ID_KEY,
    TEXT_KEY,
    checked_relations,
    dispute,
    document_from_task,
    is_relation_item,
    read_link,
    read_region,
)
from corpus.document import Document, Relation, Span
from corpus.relations import RelationProblem
from corpus.schema import LabelSchema, with_default_relations
from corpus.spans import validate_spans
from corpus.store import content_id
from corpus.text import normalize

# Kinds of reported items, in the order the summary lists them.
INVALID_SPAN = "invalid span"
INVALID_RELATION = "invalid relation"
CANCELLED = "cancelled annotation"
EMPTY = "empty annotation"
NOT_USED = "annotation not used"
NOT_WRITTEN = "task not written"
DISPUTED = "disputed task"
DUPLICATE = "duplicate document"
NOTE = "note"
KINDS = (INVALID_SPAN, INVALID_RELATION, CANCELLED, EMPTY, NOT_USED, NOT_WRITTEN, DISPUTED, DUPLICATE, NOTE)
_SUMMARY = {
    INVALID_SPAN: "invalid spans (reported, not written)",
    INVALID_RELATION: "invalid relations (reported, not written)",
    CANCELLED: "cancelled annotations (not used)",
    EMPTY: "empty annotations (not used)",
    NOT_USED: "further annotations (not used)",
    NOT_WRITTEN: "annotated tasks not written",
    DISPUTED: "disputed tasks without ground truth (run `vner studio review`)",
    DUPLICATE: "duplicate documents: same id or text (written once)",
    NOTE: "notes",
}


@dataclass(frozen=True)
class Issue:
    kind: str
    doc_id: str
    task_id: int | None
    reason: str
    annotation_id: int | None = None
    span: Span | None = None
    relation: Relation | None = None

    @property
    def where(self) -> str:
        parts = [f"task {self.task_id}"] if self.task_id is not None else []
        if self.annotation_id is not None:
            parts.append(f"annotation {self.annotation_id}")
        if self.span is not None:
            parts.append(f"[{self.span.start}:{self.span.end}] {self.span.label}")
        if self.relation is not None:
            r = self.relation
            parts.append(f"{r.type} [{r.head[0]}:{r.head[1]}] -> [{r.tail[0]}:{r.tail[1]}]")
        return ", ".join(parts)

    def __str__(self) -> str:
        return f"{self.kind}: {self.doc_id} ({self.where}): {self.reason}"


@dataclass
class PullReport:
    documents: list[Document] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    tasks: int = 0
    unannotated: int = 0  # tasks without any annotation (not written)
    predictions_only: int = 0  # of those, tasks that have predictions (drafts nobody submitted)
    without_relations: int = 0  # documents written without a "relations" key (no arrow, not declared annotated)

    def of(self, kind: str) -> list[Issue]:
        return [issue for issue in self.issues if issue.kind == kind]

    @property
    def label_counts(self) -> Counter:
        return Counter(span.label for doc in self.documents for span in doc.spans)

    @property
    def span_count(self) -> int:
        return sum(len(doc.spans) for doc in self.documents)

    @property
    def relation_counts(self) -> Counter:
        return Counter(relation.type for doc in self.documents for relation in doc.relations or [])


def annotation_time(annotation: dict[str, Any]) -> tuple[datetime, int]:
    """Sort key for "latest": last update (else creation) time, then id."""
    stamp = str(annotation.get("updated_at") or annotation.get("created_at") or "")
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    except ValueError:
        moment = datetime.min
    return moment, int(annotation.get("id") or 0)


def annotator_of(annotation: dict[str, Any]) -> Any:
    """Who made an exported annotation: ``completed_by`` as an id (or the user object's id)."""
    who = annotation.get("completed_by")
    return who.get("id") if isinstance(who, dict) else who


_DIFFER = {"spans": "marked different spans", "arrows": "drew different arrows on the same spans"}


def disagreement(annotations: list[dict[str, Any]]) -> tuple[dict[Any, dict[str, Any]], str] | None:
    """Each annotator's latest annotation and what they disagree on (``tasks.dispute``: "spans" or
    "arrows") when two or more annotators marked different spans or drew different arrows, else None."""
    latest: dict[Any, dict[str, Any]] = {}
    for annotation in sorted(annotations, key=annotation_time):
        latest[annotator_of(annotation)] = annotation
    what = dispute(a.get("result") for a in latest.values()) if len(latest) > 1 else None
    return None if what is None else (latest, what)


def choose_annotation(
    annotations: list[dict[str, Any]], doc_id: str, task_id: int | None, *, allow_empty: bool = False,
    take_latest: bool = False,
) -> tuple[dict[str, Any] | None, list[Issue]]:
    """The annotation to export (see the module docstring) and the issues about the others."""
    issues: list[Issue] = []
    usable = []
    for annotation in annotations:
        ann_id = annotation.get("id")
        if annotation.get("was_cancelled"):
            reason = "skipped by the annotator (was_cancelled): not used"
            issues.append(Issue(CANCELLED, doc_id, task_id, reason, ann_id))
        elif not annotation.get("result"):
            if allow_empty:
                usable.append(annotation)
            else:
                issues.append(Issue(EMPTY, doc_id, task_id, "submitted without any span: not used", ann_id))
        else:
            usable.append(annotation)
    if not usable:
        if annotations:
            issues.append(Issue(NOT_WRITTEN, doc_id, task_id, "no usable annotation (only cancelled or empty ones)"))
        return None, issues
    truth = [a for a in usable if a.get("ground_truth")]
    found = None if truth else disagreement(usable)
    if found is not None:
        disputed, what = found
        who = ", ".join(f"user {user}: annotation {a.get('id')}" for user, a in disputed.items())
        if not take_latest:
            issues.append(Issue(DISPUTED, doc_id, task_id, f"{len(disputed)} annotators {_DIFFER[what]} "
                                f"({who}) and none is ground truth: not written"))
            return None, issues
        issues.append(Issue(DISPUTED, doc_id, task_id, f"{len(disputed)} annotators {_DIFFER[what]} ({who}) "
                            "and none is ground truth: the latest is written (--take-latest)"))
    chosen = max(truth or usable, key=annotation_time)
    why = "ground truth" if truth else "latest"
    for annotation in usable:
        if annotation is not chosen:
            issues.append(
                Issue(NOT_USED, doc_id, task_id, f"the task has {len(usable)} usable annotations; "
                      f"used annotation {chosen.get('id')} ({why})", annotation.get("id"))
            )
    return chosen, issues


def annotation_spans(
    text: str, result: list[Any], schema: LabelSchema, doc_id: str, task_id: int | None, annotation_id: int | None
) -> tuple[list[Span], list[Issue]]:
    """The valid spans of one annotation's ``result`` over ``text``, and an issue for each invalid region."""
    issues: list[Issue] = []
    candidates: list[Span] = []

    def refuse(span: Span | None, reason: str) -> None:
        issues.append(Issue(INVALID_SPAN, doc_id, task_id, reason, annotation_id, span))

    for item in result:
        if is_relation_item(item):
            continue  # an arrow: see annotation_relations
        region = read_region(item)
        if region.problem or region.span is None:
            refuse(region.span, region.problem or "not a span")
            continue
        span = region.span
        inside = 0 <= span.start < span.end <= len(text)
        if inside and region.surface is None:
            refuse(span, "no span text (value.text) to check the offsets against; "
                         f"text there is {text[span.start:span.end]!r}")
            continue
        if inside and region.surface != text[span.start:span.end]:
            refuse(span, f"span text {region.surface!r} does not match text[{span.start}:{span.end}] "
                         f"{text[span.start:span.end]!r}")
            continue
        candidates.append(span)
    valid, problems = validate_spans(text, candidates, schema)
    for problem in problems:
        refuse(problem.span, problem.reason)
    issues.sort(key=lambda issue: (issue.span is None, issue.span or Span(0, 0, "")))
    return valid, issues


def _wrong_way(problem: RelationProblem, spans: dict[tuple[int, int], Span], schema: LabelSchema) -> str:
    """The reason of ``problem``, naming an arrow whose reverse the schema would allow as drawn the wrong way."""
    relation = problem.relation
    kind, head, tail = schema.relation(relation.type), spans.get(relation.head), spans.get(relation.tail)
    if kind and head and tail and not kind.allows(head.label, tail.label) and kind.allows(tail.label, head.label):
        return (f"{problem.reason}: the arrow points the wrong way "
                f"(draw it from the {tail.label} to the {head.label}, or flip its direction)")
    return problem.reason


def annotation_relations(
    result: list[Any], spans: list[Span], schema: LabelSchema, doc_id: str, task_id: int | None,
    annotation_id: int | None, *, annotated: bool = False,
) -> tuple[list[Relation] | None, list[Issue]]:
    """The valid relations among the written ``spans`` of one annotation's ``result``, and an issue
    for each arrow not written. Without any arrow: ``[]`` if ``annotated``, else None (not annotated)."""
    items = [item for item in result if is_relation_item(item)]
    if not items:
        return ([] if annotated else None), []
    schema = with_default_relations(schema)
    issues: list[Issue] = []
    regions = {item["id"]: read_region(item) for item in result
               if isinstance(item, dict) and not is_relation_item(item) and isinstance(item.get("id"), str)}
    written = {(s.start, s.end): s for s in spans}

    def end(region_id: str | None, which: str) -> tuple[tuple[int, int] | None, str | None]:
        region = regions.get(region_id or "")
        if region is None:
            return None, f"its {which} region {region_id!r} is not in the annotation"
        if region.span is None or (region.span.start, region.span.end) not in written:
            where = f"[{region.span.start}:{region.span.end}] {region.span.label}" if region.span else repr(region_id)
            return None, f"its {which} {where} is not written (invalid span)"
        return (region.span.start, region.span.end), None

    candidates: list[Relation] = []
    for item in items:
        link = read_link(item)
        head, head_problem = end(link.head_id, "head")
        tail, tail_problem = end(link.tail_id, "tail")
        relation = Relation(head, tail, link.type or "untyped") if head and tail else None
        reason = link.problem or head_problem or tail_problem
        if reason:
            known = [f"{which} [{at[0]}:{at[1]}]" for which, at in (("head", head), ("tail", tail)) if at]
            detail = f" ({', '.join(known)})" if known and relation is None else ""
            issues.append(Issue(INVALID_RELATION, doc_id, task_id, f"{link.describe()}{detail}: {reason}",
                                annotation_id, relation=relation))
        elif relation is not None:
            candidates.append(relation)
    valid, problems = checked_relations(spans, candidates, schema)
    issues += [Issue(INVALID_RELATION, doc_id, task_id, _wrong_way(p, written, schema), annotation_id,
                     relation=p.relation) for p in problems]
    return valid, issues


def convert_task(
    task: dict[str, Any], schema: LabelSchema, *, allow_empty: bool = False, take_latest: bool = False,
    relations_annotated: bool = False,
) -> tuple[Document | None, list[Issue], bool]:
    """A gold document from one exported task (None when nothing is to be written), its issues,
    and whether the task had no annotation at all."""
    task_id = task.get("id")
    data = task.get("data") or {}
    raw_text = str(data.get(TEXT_KEY) or "")
    text, offsets = normalize(raw_text, spaces=False)
    issues: list[Issue] = []
    doc_id = data.get(DOC_ID_KEY)
    if not isinstance(doc_id, str) or not doc_id:
        doc_id = content_id(text)
        issues.append(Issue(NOTE, doc_id, task_id, f"task has no {DOC_ID_KEY}: id derived from its text"))
    annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict)]
    if not annotations:
        return None, [], True  # counted, not itemized
    chosen, choice_issues = choose_annotation(annotations, doc_id, task_id, allow_empty=allow_empty,
                                              take_latest=take_latest)
    issues += choice_issues
    if chosen is None:
        return None, issues, False
    result = chosen.get("result") or []
    spans, span_issues = annotation_spans(raw_text, result, schema, doc_id, task_id, chosen.get("id"))
    issues += span_issues
    relations, relation_issues = annotation_relations(result, spans, schema, doc_id, task_id, chosen.get("id"),
                                                      annotated=relations_annotated)
    issues += relation_issues
    if text != raw_text:  # text imported by other means than `vner studio push`: move the spans onto NFC
        issues.append(Issue(NOTE, doc_id, task_id, "task text is not NFC: written NFC, spans moved onto it"))
        moved = [Span(*offsets.to_normalized(s.start, s.end), s.label) for s in spans]
        spans, problems = validate_spans(text, moved, schema)
        issues += [Issue(INVALID_SPAN, doc_id, task_id, f"after NFC: {p.reason}", chosen.get("id"), p.span)
                   for p in problems]
        if relations is not None:
            shifted = [Relation(offsets.to_normalized(*r.head), offsets.to_normalized(*r.tail), r.type)
                       for r in relations]
            relations, lost = checked_relations(spans, shifted, schema)
            issues += [Issue(INVALID_RELATION, doc_id, task_id, f"after NFC: {p.reason}", chosen.get("id"),
                             relation=p.relation) for p in lost]
    doc = document_from_task(data, doc_id)
    doc.text = text
    doc.spans = spans
    doc.relations = relations
    return doc, issues, False


def merge_same_text(tasks: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Issue]]:
    """Tasks in id order, those with the same NFC text folded into the first (annotations and
    predictions together), and an issue for each task folded away."""
    merged: dict[str, dict[str, Any]] = {}
    issues: list[Issue] = []
    for task in sorted(tasks, key=lambda t: int(t.get("id") or 0)):
        data = task.get("data") or {}
        text = normalize(str(data.get(TEXT_KEY) or ""), spaces=False)[0]
        key = text if text.strip() else f"\0{task.get('id')}"  # empty texts are not one document
        first = merged.get(key)
        if first is None:
            merged[key] = task
            continue
        first_data = first.get("data") or {}
        merged[key] = {**first, "annotations": [*(first.get("annotations") or []), *(task.get("annotations") or [])],
                       "predictions": [*(first.get("predictions") or []), *(task.get("predictions") or [])]}
        doc_id = data.get(DOC_ID_KEY) or content_id(text)
        issues.append(Issue(DUPLICATE, str(doc_id), task.get("id"),
                            f"same text as task {first.get('id')} ({first_data.get(DOC_ID_KEY)}): "
                            "their annotations are weighed together, one record is written under that id"))
    return list(merged.values()), issues


def convert_export(
    tasks: list[dict[str, Any]], schema: LabelSchema, *, allow_empty: bool = False, take_latest: bool = False,
    relations_annotated: bool = False,
) -> PullReport:
    """Gold documents of an export (in task order) and the report of everything not written as is."""
    report = PullReport(tasks=len(tasks))
    merged, report.issues = merge_same_text(tasks)
    seen: dict[str, int | None] = {}
    for task in merged:
        doc, issues, unannotated = convert_task(task, schema, allow_empty=allow_empty, take_latest=take_latest,
                                                relations_annotated=relations_annotated)
        report.issues += issues
        if unannotated:
            report.unannotated += 1
            if task.get("predictions"):
                report.predictions_only += 1
        if doc is None:
            continue
        if doc.id in seen:
            reason = f"task {seen[doc.id]} has the same document id and was written; this one was not"
            report.issues.append(Issue(DUPLICATE, doc.id, task.get("id"), reason))
            continue
        seen[doc.id] = task.get("id")
        report.documents.append(doc)
        report.without_relations += doc.relations is None
    return report


def _gold_order(relation: Relation) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """Relations as the gold files list them: by type, then head, then tail."""
    return relation.type, relation.head, relation.tail


def gold_record(doc: Document) -> dict[str, Any]:
    """A document in the gold format of the annotation spec, keys in the spec's order."""
    record: dict[str, Any] = {
        "id": doc.id,
        "title": doc.title,
        "date": doc.date,
        "source": doc.source,
        "text": doc.text,
        "spans": [{"start": s.start, "end": s.end, "label": s.label} for s in sorted(doc.spans)],
    }
    if doc.relations is not None:
        record["relations"] = [r.to_dict() for r in sorted(doc.relations, key=_gold_order)]
    return record


def write_gold(path: str | Path, docs: list[Document]) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for doc in docs:
            handle.write(json.dumps(gold_record(doc), ensure_ascii=False) + "\n")
    return len(docs)


def render_report(report: PullReport, schema: LabelSchema, console, out: str | Path | None = None) -> None:
    """The summary table (spans per label, tasks), then one row per reported item."""
    from rich.table import Table

    counts = report.label_counts
    summary = Table(title=f"vner studio pull{f' -> {out}' if out else ''}", show_footer=True)
    summary.add_column("label", footer="all")
    summary.add_column("spans", justify="right", footer=str(report.span_count))
    for name in schema.names:
        summary.add_row(name, str(counts.get(name, 0)))
    console.print(summary)
    relation_names = with_default_relations(schema).relation_names
    if relation_names:
        links = report.relation_counts
        relations = Table(show_footer=True)
        relations.add_column("relation", footer="all")
        relations.add_column("links", justify="right", footer=str(sum(links.values())))
        for name in relation_names:
            relations.add_row(name, str(links.get(name, 0)))
        console.print(relations)

    tasks = Table(show_header=False, box=None)
    tasks.add_column()
    tasks.add_column(justify="right")
    tasks.add_row("tasks in the project", str(report.tasks))
    tasks.add_row("documents written", str(len(report.documents)))
    tasks.add_row("tasks without annotations (not written)", str(report.unannotated))
    if report.predictions_only:
        tasks.add_row("  of which with predictions only (drafts, never submitted)", str(report.predictions_only))
    if relation_names and report.without_relations:
        tasks.add_row('documents without arrows (no "relations" key; --relations-annotated writes [])',
                      str(report.without_relations))
    for kind in KINDS:
        found = report.of(kind)
        if found:
            tasks.add_row(_SUMMARY[kind], str(len(found)))
    console.print(tasks)

    if report.issues:
        issues = Table(title="reported", show_lines=False)
        for column in ("kind", "document", "where", "reason"):
            issues.add_column(column, overflow="fold")
        for kind in KINDS:
            for issue in report.of(kind):
                issues.add_row(issue.kind, issue.doc_id, issue.where, issue.reason)
        console.print(issues)
