"""Every call to the Label Studio API (SDK 2.x, ``label_studio_sdk.LabelStudio``) goes through here.

Facts about Label Studio 1.23 (community edition) this module relies on:

* ``POST /api/projects/{id}/import`` runs synchronously and, with ``return_task_ids``, answers
  with the new task ids in import order. Annotations imported with a task are stored as ground
  truth unless the item says ``"ground_truth": false``; predictions keep their ``model_version``
  and ``score``, and the first imported model version becomes the project's ``model_version`` when
  it has none.
* The labeling stream pre-fills a task with the predictions of the project's ``model_version``
  only (``show_collab_predictions`` on), so a push with a new model sets that version.
* ``GET /api/tasks`` pages through a project's tasks (``fields=task_only`` leaves annotations out).
* An export snapshot (``POST /api/projects/{id}/exports``) is written synchronously when no Redis
  queue is configured (the local server), but we still poll its status. Its JSON lists full
  predictions only with ``serialization_options.predictions.only_id = false``; the plain
  ``/export`` endpoint lists them as ids.
* The server stores task text byte for byte and does not check annotation results against the
  text or the labeling config (unknown labels, offsets past the end, a ``value.text`` that does not
  match are all accepted): that is the pull's job (``annotation.export``).
* ``expert_instruction`` is cleaned with bleach on save (``<hr />`` comes back as ``<hr>``), so the
  guidelines are rendered as HTML (not XHTML) to read back unchanged.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotation.labeling_config import labeling_config
from annotation.settings import StudioSettings
from annotation.tasks import (
    DOC_ID_KEY,
    checked_relations,
    is_relation_item,
    nfc,
    prediction_payload,
    prepare_document,
    result_relations,
    result_spans,
    spans_to_result,
    task_payload,
)
from corpus.document import Document, Relation, Span
from corpus.relations import RelationProblem
from corpus.schema import LabelSchema, with_default_relations
from corpus.spans import SpanProblem, validate_spans
from models.base import NerModel

DEFAULT_PROJECT_TITLE = "vner: Vietnamese NER"
PAGE_SIZE = 100
EXPORT_TIMEOUT = 600.0
GUIDELINES_FILE = Path(__file__).resolve().parent / "GUIDELINES.md"


class StudioClientError(RuntimeError):
    """The server cannot be reached, refuses the token, or refuses a request; the message says which."""


@contextmanager
def _api(action: str) -> Iterator[None]:
    """Turn SDK and network errors into one readable :class:`StudioClientError`."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except ApiError as exc:
        body = exc.body if isinstance(exc.body, str) else json.dumps(exc.body, ensure_ascii=False, default=str)
        raise StudioClientError(f"{action}: Label Studio answered {exc.status_code}: {body[:500]}") from exc
    except httpx.HTTPError as exc:
        raise StudioClientError(f"{action}: {type(exc).__name__}: {exc}") from exc


@dataclass
class TaskIndex:
    """The tasks of a project by document id."""

    by_doc_id: dict[str, int] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)  # doc_id -> task text
    by_text: dict[str, str] = field(default_factory=dict)  # NFC task text -> doc_id of its first task
    without_doc_id: list[int] = field(default_factory=list)
    duplicates: dict[str, list[int]] = field(default_factory=dict)  # doc_id -> further task ids


class StudioClient:
    """A connection to one Label Studio server with one API token."""

    def __init__(self, url: str, token: str, timeout: float = 120.0) -> None:
        import httpx
        from label_studio_sdk import LabelStudio

        self.url = url.rstrip("/")
        # trust_env=False: the server is on loopback; an HTTP(S)_PROXY of the environment must not be used.
        self._http = httpx.Client(timeout=timeout, follow_redirects=True, trust_env=False)
        self.sdk = LabelStudio(base_url=self.url, api_key=token, httpx_client=self._http)

    @classmethod
    def connect(cls, settings: StudioSettings) -> StudioClient:
        """A client for the configured server, after checking that it answers and accepts the token."""
        from annotation import server

        if settings.credentials is None:
            raise StudioClientError(
                "no Label Studio login is configured: start the server once with `vner studio start` "
                "(or set VNER_LS_TOKEN)"
            )
        if not server.health(settings.url):
            raise StudioClientError(
                f"Label Studio does not answer at {settings.url}: start it with `vner studio start` "
                "(or pass --port of the running server)"
            )
        client = cls(settings.url, settings.credentials.token)
        client.whoami()
        return client

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> StudioClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def whoami(self) -> str:
        from label_studio_sdk.core.api_error import ApiError

        try:
            with _api("checking the API token"):
                return self.sdk.users.whoami().email or ""
        except StudioClientError as exc:
            cause = exc.__cause__
            if isinstance(cause, ApiError) and cause.status_code == 401:
                raise StudioClientError(
                    f"Label Studio at {self.url} does not accept the configured API token (401); "
                    "see `vner studio status`"
                ) from cause
            raise

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        """A call to an API path the SDK has no typed method for (same authentication); the JSON answer."""
        with _api(f"{method} /{path}"):
            response = self.sdk._client_wrapper.httpx_client.request(path, method=method, json=json, params=params)
        if not 200 <= response.status_code < 300:
            raise StudioClientError(f"{method} /{path}: Label Studio answered {response.status_code}: "
                                    f"{response.text[:500]}")
        return response.json() if response.content else None

    # ------------------------------------------------------------------------- projects

    @staticmethod
    def all_pages(fetch: Callable[[int], Any]) -> Iterator[Any]:
        """Every item of a paginated listing, ``fetch(page)`` returning the SDK's pager of that page.

        Stops at the last page by the total the server reports: iterating the SDK's pager instead
        asks for one page past the last, which the server answers 404 and logs as a
        ``NotFound: Invalid page`` traceback.
        """
        page, seen = 1, 0
        while True:
            pager = fetch(page)
            items = list(pager.items or [])
            yield from items
            seen += len(items)
            response = pager.response
            total = getattr(response, "count", None)
            if total is None:
                total = getattr(response, "total", None)
            if not items or total is None or seen >= total:
                return
            page += 1

    def find_projects(self, title: str) -> list[Any]:
        """Projects whose title is exactly ``title`` (the API filters by substring), oldest first."""
        with _api(f"listing projects titled {title!r}"):
            listing = self.all_pages(lambda page: self.sdk.projects.list(title=title, page=page, page_size=PAGE_SIZE))
            found = [p for p in listing if p.title == title]
        return sorted(found, key=lambda p: p.id)

    def project_id(self, title: str) -> int:
        """The id of the project titled ``title``; an error saying what to do when there is none."""
        found = self.find_projects(title)
        if not found:
            raise StudioClientError(f"no project titled {title!r} on {self.url}: create it with `vner studio init`")
        if len(found) > 1:
            ids = ", ".join(str(p.id) for p in found)
            raise StudioClientError(f"{len(found)} projects are titled {title!r} (ids {ids}); rename all but one")
        return found[0].id

    def ensure_project(self, title: str, **settings: Any) -> tuple[int, bool]:
        """Create the project titled ``title`` or update its settings; returns (id, created)."""
        found = self.find_projects(title)
        if len(found) > 1:
            ids = ", ".join(str(p.id) for p in found)
            raise StudioClientError(f"{len(found)} projects are titled {title!r} (ids {ids}); rename all but one")
        if found:
            with _api(f"updating project {found[0].id}"):
                self.sdk.projects.update(found[0].id, **settings)
            return found[0].id, False
        with _api(f"creating project {title!r}"):
            project = self.sdk.projects.create(title=title, **settings)
        return project.id, True

    def get_project(self, project_id: int) -> Any:
        with _api(f"reading project {project_id}"):
            return self.sdk.projects.get(project_id)

    def set_model_version(self, project_id: int, model_version: str) -> None:
        with _api(f"setting the model version of project {project_id}"):
            self.sdk.projects.update(project_id, model_version=model_version)

    # ------------------------------------------------------------------------- tasks

    def iter_tasks(self, project_id: int, page_size: int = PAGE_SIZE) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(task id, data)`` of every task of the project, page by page."""
        with _api(f"listing the tasks of project {project_id}"):
            for task in self.all_pages(lambda page: self.sdk.tasks.list(project=project_id, fields="task_only",
                                                                          page=page, page_size=page_size)):
                yield task.id, dict(task.data or {})

    def task_index(self, project_id: int, page_size: int = PAGE_SIZE) -> TaskIndex:
        index = TaskIndex()
        for task_id, data in self.iter_tasks(project_id, page_size):
            doc_id = data.get(DOC_ID_KEY)
            if not isinstance(doc_id, str) or not doc_id:
                index.without_doc_id.append(task_id)
            elif doc_id in index.by_doc_id:
                index.duplicates.setdefault(doc_id, []).append(task_id)
            else:
                index.by_doc_id[doc_id] = task_id
                index.texts[doc_id] = str(data.get("text") or "")
                index.by_text.setdefault(nfc(index.texts[doc_id]), doc_id)
        return index

    def import_tasks(self, project_id: int, items: Sequence[dict[str, Any]]) -> list[int]:
        """Import task items (``data`` + optional ``predictions``/``annotations``); returns the new task ids."""
        if not items:
            return []
        with _api(f"importing {len(items)} tasks into project {project_id}"):
            response = self.sdk.projects.import_tasks(project_id, request=list(items), return_task_ids=True)
        ids = list(response.task_ids or [])
        if len(ids) != len(items):
            raise StudioClientError(
                f"importing {len(items)} tasks into project {project_id}: the server reports "
                f"{response.task_count} tasks ({len(ids)} ids)"
            )
        return ids

    def replace_predictions(self, project_id: int, items: Sequence[tuple[int, dict[str, Any]]], version: str) -> None:
        """Give each task of ``items`` (task id, prediction with ``result`` and ``score``) this prediction
        of ``version`` instead of the ones of that version it had."""
        with _api(f"listing the predictions of project {project_id}"):
            old = [p for p in self.sdk.predictions.list(project=project_id) if p.model_version == version]
        targets = {task_id for task_id, _ in items}
        for prediction in old:
            if prediction.task in targets:
                with _api(f"deleting prediction {prediction.id}"):
                    self.sdk.predictions.delete(prediction.id)
        for task_id, payload in items:
            with _api(f"adding a prediction to task {task_id}"):
                self.sdk.predictions.create(task=task_id, result=payload["result"], score=payload.get("score"),
                                            model_version=version)

    # ------------------------------------------------------------------------- annotations

    def create_annotation(
        self, task_id: int, result: list[dict[str, Any]], *, ground_truth: bool = False, was_cancelled: bool = False
    ) -> int:
        with _api(f"adding an annotation to task {task_id}"):
            created = self.sdk.annotations.create(
                task_id, result=result, ground_truth=ground_truth, was_cancelled=was_cancelled
            )
        return created.id

    def annotations(self, task_id: int) -> list[dict[str, Any]]:
        with _api(f"reading the annotations of task {task_id}"):
            return [a.model_dump() for a in self.sdk.annotations.list(task_id)]

    # ------------------------------------------------------------------------- export

    def export(self, project_id: int, *, predictions: bool = True, timeout: float = EXPORT_TIMEOUT) -> list[dict]:
        """Every task of the project with its annotations (cancelled ones included) and predictions.

        Made through an export snapshot, which is deleted again once downloaded.
        """
        options: dict[str, Any] = {
            "predictions": {"only_id": not predictions},
            "annotations__completed_by": {"only_id": True},
            "include_annotation_history": False,
        }
        exports = self.sdk.projects.exports
        with _api(f"exporting project {project_id}"):
            snapshot = exports.create(project_id, title="vner studio pull", serialization_options=options)
            began = time.monotonic()
            while snapshot.status not in ("completed", "failed"):
                if time.monotonic() - began > timeout:
                    raise StudioClientError(
                        f"export {snapshot.id} of project {project_id} is still {snapshot.status} after {timeout:.0f} s"
                    )
                time.sleep(0.5)
                snapshot = exports.get(project_id, snapshot.id)
            if snapshot.status == "failed":
                raise StudioClientError(f"export {snapshot.id} of project {project_id} failed (see the server log)")
            raw = b"".join(exports.download(project_id, snapshot.id, export_type="JSON"))
            exports.delete(project_id, snapshot.id)
        try:
            tasks = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise StudioClientError(f"export of project {project_id} is not JSON ({exc})") from exc
        if not isinstance(tasks, list):
            raise StudioClientError(f"export of project {project_id} is not a list of tasks")
        return tasks


# ----------------------------------------------------------------------------- project settings


def guidelines_html(path: Path = GUIDELINES_FILE) -> str:
    """``annotation/GUIDELINES.md`` as HTML, for the project's instructions (shown before labeling)."""
    text = path.read_text(encoding="utf-8")
    try:
        from markdown_it import MarkdownIt  # installed with rich
    except ImportError:  # pragma: no cover - rich always brings it
        return f"<pre>{html.escape(text)}</pre>"
    return MarkdownIt("commonmark", {"html": False, "xhtmlOut": False}).enable("table").render(text)


def project_settings(schema: LabelSchema) -> dict[str, Any]:
    """What `vner studio init` sets on the project: labeling config, instructions, pre-annotation display,
    no empty submissions (an article without a single entity is nearly always an accidental submit)."""
    return {
        "label_config": labeling_config(schema),
        "expert_instruction": guidelines_html(),
        "show_instruction": True,  # the guidelines open before the first task
        "show_collab_predictions": True,  # predictions pre-fill the task as a draft
        "enable_empty_annotation": False,  # the labeling view refuses to submit a task without a span
        "description": f"Named entities in Vietnamese local-government news (labels: {schema.name}).",
    }


# ----------------------------------------------------------------------------- push


# Per text: its entities (``predict`` dicts), or ``{"entities": [...], "relations": [...]}`` as
# ``predict(records=True)`` answers, relations in the gold format.
Predictor = Callable[[list[str]], list[Any]]


def model_predictor(model: NerModel) -> Predictor:
    """The model's entities of each text, with its HOLDS/PERIOD relations when its schema has relation types."""
    from models import predict

    if not predicts_relations(model):
        return lambda texts: predict(list(texts), model)
    return lambda texts: predict(list(texts), model, records=True)


def predicts_relations(model: NerModel) -> bool:
    """Whether the model's schema has relation types, so its answers carry HOLDS/PERIOD relations."""
    return bool(with_default_relations(model.schema).relations)


def entities_and_relations(found: Any) -> tuple[list[dict[str, Any]], list[Relation]]:
    """A predictor's answer for one text as entities and relations (see :data:`Predictor`)."""
    if isinstance(found, dict):
        return list(found.get("entities") or []), [Relation.from_dict(r) for r in found.get("relations") or []]
    return list(found), []


@dataclass
class PushReport:
    added: list[str] = field(default_factory=list)  # doc ids imported now
    present: list[str] = field(default_factory=list)  # doc ids already in the project (skipped)
    same_text: list[tuple[str, str]] = field(default_factory=list)  # (doc id, project doc id): text already there
    repeated: list[str] = field(default_factory=list)  # doc ids (or texts) given twice in the input (skipped)
    conflicts: list[str] = field(default_factory=list)  # in the project with another text (skipped)
    empty: list[str] = field(default_factory=list)  # no text (skipped)
    normalized: list[str] = field(default_factory=list)  # text was not NFC (imported NFC)
    task_ids: list[int] = field(default_factory=list)
    predictions: int = 0  # tasks imported with a prediction (models that find nothing leave none)
    relations: int = 0  # predicted relations imported in the drafts
    refused_predictions: list[tuple[str, SpanProblem | RelationProblem]] = field(default_factory=list)
    model_version: str | None = None
    batches: int = 0


def _select_new(docs: Iterable[Document], index: TaskIndex, report) -> list[Document]:
    """NFC copies of the documents not yet in the project, matched by doc_id and by text (the same
    article under another id is not imported twice); the others are recorded in ``report``."""
    chosen: list[Document] = []
    seen: set[str] = set()
    seen_texts: set[str] = set()
    for original in docs:
        doc, changed = prepare_document(original)
        if doc.id in seen or doc.text in seen_texts:
            report.repeated.append(doc.id)
            continue
        seen.add(doc.id)
        seen_texts.add(doc.text)
        if doc.id in index.by_doc_id:
            if index.texts.get(doc.id) != doc.text:
                report.conflicts.append(doc.id)
            else:
                report.present.append(doc.id)
            continue
        if doc.text in index.by_text:
            report.same_text.append((doc.id, index.by_text[doc.text]))
            continue
        if not doc.text.strip():
            report.empty.append(doc.id)
            continue
        if changed:
            report.normalized.append(doc.id)
        chosen.append(doc)
    return chosen


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), max(1, size)):
        yield items[start:start + max(1, size)]


def push_documents(
    client: StudioClient,
    project_id: int,
    docs: Iterable[Document],
    schema: LabelSchema,
    *,
    batch_size: int = PAGE_SIZE,
    predictor: Predictor | None = None,
    model_version: str | None = None,
    on_start: Callable[[int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> PushReport:
    """Import documents not yet in the project (by ``doc_id``) as tasks, optionally with predictions.

    ``on_start(n)`` is called with the number of documents to import, ``on_batch(n)`` after each
    imported batch of ``n`` documents.
    """
    if predictor is not None and not model_version:
        raise ValueError("predictions need a model_version")
    report = PushReport(model_version=model_version if predictor else None)
    new = _select_new(docs, client.task_index(project_id), report)
    if on_start:
        on_start(len(new))
    for batch in _batches(new, batch_size):
        predictions: list[list[dict[str, Any]]] = [[] for _ in batch]
        if predictor is not None:
            found = predictor([doc.text for doc in batch])
            for i, (doc, answer) in enumerate(zip(batch, found, strict=True)):
                entities, relations = entities_and_relations(answer)
                payload, refused = prediction_payload(doc.text, entities, model_version or "", schema, relations)
                report.refused_predictions += [(doc.id, problem) for problem in refused]
                if payload["result"]:  # nothing found: no empty draft
                    predictions[i] = [payload]
                    report.predictions += 1
                    report.relations += sum(1 for item in payload["result"] if is_relation_item(item))
        items = [task_payload(doc, predictions=preds) for doc, preds in zip(batch, predictions, strict=True)]
        report.task_ids += client.import_tasks(project_id, items)
        report.added += [doc.id for doc in batch]
        report.batches += 1
        if on_batch:
            on_batch(len(batch))
    if predictor is not None and report.added and model_version:
        client.set_model_version(project_id, model_version)
    return report


# ----------------------------------------------------------------------------- import gold


@dataclass
class GoldImportReport:
    created: list[str] = field(default_factory=list)  # new tasks with the gold annotation
    annotated: list[str] = field(default_factory=list)  # gold annotation added to an existing task
    same_text: list[tuple[str, str]] = field(default_factory=list)  # (gold id, task doc id) matched by text
    unchanged: list[str] = field(default_factory=list)  # the task already has these very spans
    repeated: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # same doc_id, another text: skipped
    empty: list[str] = field(default_factory=list)
    normalized: list[str] = field(default_factory=list)
    refused_spans: list[tuple[str, SpanProblem | RelationProblem]] = field(default_factory=list)
    relations: int = 0  # gold relations imported
    task_ids: list[int] = field(default_factory=list)


def import_gold(
    client: StudioClient,
    project_id: int,
    docs: Iterable[Document],
    schema: LabelSchema,
    *,
    batch_size: int = PAGE_SIZE,
    on_doc: Callable[[int], None] | None = None,
) -> GoldImportReport:
    """Load gold documents as ground-truth annotations on the task holding the document (found by
    doc_id, else by text: a pushed article keeps its task), or on a new task.

    Idempotent: a task that already has a (non-cancelled) annotation with exactly the gold spans
    (and relations, when the gold document has them) is left alone. Invalid gold spans are not
    imported and are reported, and so are the relations that lose an end with them.
    """
    report = GoldImportReport()
    index = client.task_index(project_id)
    new: list[tuple[Document, list[Span], list[Relation]]] = []
    seen: set[str] = set()
    seen_texts: set[str] = set()
    for original in docs:
        doc, changed = prepare_document(original)
        if doc.id in seen or doc.text in seen_texts:
            report.repeated.append(doc.id)
            if on_doc:
                on_doc(1)
            continue
        seen.add(doc.id)
        seen_texts.add(doc.text)
        spans, refused = validate_spans(doc.text, doc.spans, schema)
        report.refused_spans += [(doc.id, problem) for problem in refused]
        relations, lost = checked_relations(spans, doc.relations or [], schema)
        report.refused_spans += [(doc.id, problem) for problem in lost]
        if changed:
            report.normalized.append(doc.id)
        task_doc_id = doc.id if doc.id in index.by_doc_id else index.by_text.get(doc.text)
        if not doc.text.strip():
            report.empty.append(doc.id)
        elif task_doc_id is None:
            new.append((doc, spans, relations))
            continue
        elif index.texts.get(task_doc_id) != doc.text:
            report.conflicts.append(doc.id)
        else:
            if task_doc_id != doc.id:
                report.same_text.append((doc.id, task_doc_id))
            task_id = index.by_doc_id[task_doc_id]
            wanted = {(s.start, s.end, s.label) for s in spans}
            links = {(r.head, r.tail, r.type) for r in relations}
            existing = [a for a in client.annotations(task_id) if not a.get("was_cancelled")]
            if any(result_spans(a.get("result")) == wanted
                   and (doc.relations is None or result_relations(a.get("result")) == links) for a in existing):
                report.unchanged.append(doc.id)
            else:
                result = spans_to_result(doc.text, spans, relations=relations)
                client.create_annotation(task_id, result, ground_truth=True)
                report.annotated.append(doc.id)
                report.relations += len(relations)
        if on_doc:
            on_doc(1)
    for batch in _batches(new, batch_size):
        items = [task_payload(doc, annotation=spans, relations=relations, ground_truth=True)
                 for doc, spans, relations in batch]
        report.task_ids += client.import_tasks(project_id, items)
        report.created += [doc.id for doc, _, _ in batch]
        report.relations += sum(len(relations) for _, _, relations in batch)
        if on_doc:
            on_doc(len(batch))
    return report
