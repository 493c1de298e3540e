"""The annotators' queue, most useful document first: ``vner studio queue``.

Every unlabeled task of the project (and every new document of a store, up to a limit) gets a
draft from the model whose prediction ``score`` is the document's usefulness
(``annotation.selection``); the project's model version becomes the model's, so that the labeling
view shows these drafts and Label Studio's ``predictions_score`` column reads these scores.

The order reaches the annotators through a Data Manager tab, :data:`QUEUE_VIEW`, sorted by
prediction score, highest first, and placed first (tabs are shared by every account of the
organization), with the project on sequential sampling: "Label Tasks As Displayed" (and the
labeling stream) then serve the tasks in that order, each annotator skipping what they did.

Not Label Studio's own "Uncertainty sampling": it serves the *lowest* score first, and, as soon as
the organization has more than one member, picks at random among all tasks with a prediction
(``projects/functions/next_task.py``: ``_get_random_unlocked`` ignores its ``upper_limit`` and
orders by ``?``), so a team would get a random queue.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from annotation.client import StudioClient, _api
from annotation.selection import rank
from annotation.tasks import DOC_ID_KEY, TEXT_KEY, nfc, prediction_payload, prepare_document, task_payload
from annotation.uncertainty import DEFAULT_MEASURE
from corpus.document import Document
from corpus.schema import LabelSchema
from models.base import NerModel

QUEUE_VIEW = "Queue: most useful first"
QUEUE_ORDERING = ["-tasks:predictions_score"]
SEQUENTIAL = "Sequential sampling"


@dataclass
class Candidate:
    text: str
    doc: Document | None = None  # a new document from the store
    task_id: int | None = None  # an unlabeled task of the project
    doc_id: str = ""


@dataclass
class QueueReport:
    model_version: str
    strategy: str
    measure: str
    ranked: list[tuple[str, int | None, float]] = field(default_factory=list)  # (doc id, task id, usefulness)
    pushed: list[str] = field(default_factory=list)  # new tasks from the store
    updated: list[str] = field(default_factory=list)  # project tasks with a fresh draft and score
    left_out: list[str] = field(default_factory=list)  # store documents beyond --limit
    labeled: int = 0  # tasks of the project that are labeled (not queued)
    view_id: int | None = None


def project_tasks(client: StudioClient, project_id: int) -> list[dict[str, Any]]:
    """``id``, ``data`` and ``is_labeled`` of every task of the project."""
    tasks = []
    with _api(f"listing the tasks of project {project_id}"):
        listing = client.all_pages(lambda page: client.sdk.tasks.list(project=project_id, fields="task_only",
                                                                        page=page, page_size=100))
        for task in listing:
            tasks.append({"id": task.id, "data": dict(task.data or {}), "is_labeled": bool(task.is_labeled)})
    return tasks


def ensure_queue_view(client: StudioClient, project_id: int) -> int:
    """The Data Manager tab :data:`QUEUE_VIEW` (created or updated), placed first; its id."""
    data = {"title": QUEUE_VIEW, "ordering": QUEUE_ORDERING, "type": "list", "target": "tasks",
            "filters": {"conjunction": "and", "items": []}}
    views = client.request("GET", "api/dm/views", params={"project": project_id}) or []
    mine = [v for v in views if (v.get("data") or {}).get("title") == QUEUE_VIEW]
    if mine:
        view_id = mine[0]["id"]
        client.request("PATCH", f"api/dm/views/{view_id}", json={"project": project_id, "data": data})
    else:
        view_id = client.request("POST", "api/dm/views", json={"project": project_id, "data": data})["id"]
    others = [v["id"] for v in views if v["id"] != view_id]
    client.request("POST", "api/dm/views/order", json={"project": project_id, "ids": [view_id, *others]})
    return int(view_id)


def queue_documents(
    client: StudioClient,
    project_id: int,
    model: NerModel,
    schema: LabelSchema,
    *,
    docs: Sequence[Document] = (),
    strategy: str = "uncertainty",
    measure: str = DEFAULT_MEASURE,
    limit: int | None = None,
    seed: int = 0,
    on_step: Callable[[str], None] | None = None,
) -> QueueReport:
    """Rank the project's unlabeled tasks and the store's new documents, push the best ``limit`` new
    ones, give every queued task a draft scored by its usefulness, and order the queue by it."""
    from models import predict

    say = on_step or (lambda _: None)
    version = model.version
    report = QueueReport(version, strategy, measure)
    tasks = project_tasks(client, project_id)
    texts_in_project = {nfc(str(t["data"].get(TEXT_KEY) or "")) for t in tasks}
    ids_in_project = {t["data"].get(DOC_ID_KEY) for t in tasks}
    candidates = [Candidate(str(t["data"].get(TEXT_KEY) or ""), task_id=t["id"],
                            doc_id=str(t["data"].get(DOC_ID_KEY) or t["id"]))
                  for t in tasks if not t["is_labeled"]]
    labeled = [str(t["data"].get(TEXT_KEY) or "") for t in tasks if t["is_labeled"]]
    report.labeled = len(labeled)
    seen: set[str] = set()
    for original in docs:
        doc, _ = prepare_document(original)
        if doc.text.strip() and doc.id not in ids_in_project and doc.text not in texts_in_project | seen:
            candidates.append(Candidate(doc.text, doc=doc, doc_id=doc.id))
            seen.add(doc.text)
    say(f"ranking {len(candidates)} documents by {strategy}")
    ranking = rank(strategy, [c.text for c in candidates], model=model, batch=limit, labeled_texts=labeled,
                   measure=measure, seed=seed)
    queued: list[tuple[Candidate, float]] = []
    new = 0
    for index, usefulness in zip(ranking.order, ranking.usefulness, strict=True):
        candidate = candidates[index]
        if candidate.doc is not None:
            if limit is not None and new >= limit:
                report.left_out.append(candidate.doc_id)
                continue
            new += 1
        queued.append((candidate, usefulness))
    say(f"drafting {len(queued)} documents with {version}")
    found = predict([c.text for c, _ in queued], model) if queued else []
    updates: list[tuple[int, dict[str, Any]]] = []
    imports: list[dict[str, Any]] = []
    for (candidate, usefulness), entities in zip(queued, found, strict=True):
        payload, _ = prediction_payload(candidate.text, entities, version, schema)
        payload["score"] = round(float(usefulness), 6)
        if candidate.doc is None:
            updates.append((candidate.task_id, payload))  # type: ignore[arg-type]
            report.updated.append(candidate.doc_id)
        else:
            imports.append(task_payload(candidate.doc, predictions=[payload]))
            report.pushed.append(candidate.doc_id)
    client.replace_predictions(project_id, updates, version)
    new_ids = client.import_tasks(project_id, imports) if imports else []
    ids = iter(new_ids)
    for candidate, usefulness in queued:
        task_id = candidate.task_id if candidate.doc is None else next(ids)
        report.ranked.append((candidate.doc_id, task_id, round(float(usefulness), 6)))
    with _api(f"updating project {project_id}"):
        client.sdk.projects.update(project_id, model_version=version, sampling=SEQUENTIAL,
                                   show_collab_predictions=True)
    report.view_id = ensure_queue_view(client, project_id)
    return report
