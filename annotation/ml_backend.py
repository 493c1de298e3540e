"""A Label Studio ML backend serving our own models: ``vner studio backend --model DIR|rules``.

Label Studio (1.23, ``label_studio/ml/api_connector.py`` and ``ml/models.py``) talks to an ML
backend over plain HTTP + JSON; this module answers exactly what it sends:

* ``GET /health`` (1 s timeout): any 2xx JSON answer means "up". We answer
  ``{"status": "UP", "model_class": ..., "model_version": ...}``.
* ``POST /setup`` (3 s timeout) with ``{"project": "<id>.<created ts>", "schema": <label config>,
  "hostname", "access_token", "extra_params"}``, sent when the backend is added and again before
  every prediction run; ``{"model_version": ...}`` of the answer becomes the backend's model
  version. A non-2xx answer puts the backend in the ERROR state (we refuse a labeling config
  without our ``<Labels name="label" toName="text">`` / ``<Text name="text">`` pair).
* ``POST /predict`` (100 s, ``ML_TIMEOUT_PREDICT`` of the server) with ``{"tasks": [task, ...],
  "project", "label_config", "params": {"login", "password", "context"}}``; each task is the
  whole serialized task (``id``, ``data``, ``annotations``, ``predictions``, ...). The answer must
  be ``{"results": [...]}`` with exactly one item per task, in order (otherwise Label Studio
  retries task by task or stores nothing); each item is ``{"result": [regions, then arrows],
  "score", "model_version"}``, an arrow being ``{"type": "relation", "from_id", "to_id",
  "direction": "right", "labels": [type]}`` between two region ids of the same list. Label
  Studio stores them as predictions (``model_version`` defaults to the one from ``/setup``) and,
  on the next run, skips tasks that already hold a prediction of the model version ``/setup``
  reports: so ``/predict`` uses that very version.
* ``POST /webhook``: adding a backend also registers ``<url>/webhook`` as a project webhook for
  every action with payload (ANNOTATION_CREATED, TASKS_CREATED, ...); the answer is not read. We
  count the events. The "Start Training" button sends ``{"action": "START_TRAINING", "project":
  {...}}`` there too (through the backend's own connection, so with its credentials): it starts a
  retraining in the background (``annotation.retrain``), one at a time (a second one is answered
  409 while the first runs), with its state on ``/health``. A promoted model is served at once
  (no restart) and re-ranks the project's queue.
* ``GET /versions`` (``/api/ml/{id}/versions``): ``{"versions": [...]}``.
* ``POST /train`` (only without the webhook-training feature flag): the same retraining.
* ``POST /reload`` ``{"model": DIR}`` (ours, used by `vner studio retrain`): serve another model.

Access: with credentials (``vner studio backend`` always has them, see ``annotation.settings``)
every request needs HTTP basic auth, else 401. `vner studio connect` registers them on the
project's ML backend (Label Studio's ``BASIC_AUTH`` method) and as an ``Authorization`` header of
the ``<url>/webhook`` webhook. Label Studio shows neither to anyone, but every account of the
organization may edit the project's ML backends and webhooks (Community has no roles).

The text is read from the task ``data`` key named by the ``value="$key"`` of the config's
``<Text name="text">`` object; spans are made by ``models.predict`` and turned into regions with
``annotation.tasks.prediction_payload`` (the conversion `vner studio push --pre-annotate` uses),
so a pushed draft and a retrieved prediction of the same model have the same spans and arrows.
Arrows are the relations ``models.predict(records=True)`` finds among the predicted entities
(``models.relations``: HOLDS, PERIOD, the relation types of the label schema). They are sent
only when the labeling config has a ``<Relations>`` block, and only of the ``<Relation>`` types it
lists between regions of the labels it offers (a config without one gets regions only); a
request without a config gets every relation type of the schema, as a pushed draft does.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import re
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from annotation.client import DEFAULT_PROJECT_TITLE, entities_and_relations, predicts_relations
from annotation.labeling_config import FROM_NAME, TO_NAME
from annotation.retrain import RetrainPlan
from annotation.settings import BackendCredentials
from annotation.tasks import is_relation_item, prediction_payload
from corpus.schema import LabelSchema, load_schema
from models.base import NerModel
from models.card import ModelDirError
from models.loading import load_model
from models.predict import DEFAULT_MAX_CHARS
from models.service import (
    MIB,
    BodyLimitMiddleware,
    ModelRunner,
    error_response,
    install_error_handlers,
    model_lock,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9090
DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
# Label Studio sends every selected task in one /predict request, with its annotations and
# predictions: far more than the 1 MiB of `vner serve`.
DEFAULT_MAX_BODY_BYTES = 100 * MIB
WEBHOOK_PARSE_BYTES = 1 * MIB  # webhook bodies (whole task lists on import) are read, parsed only up to this
MODEL_CLASS = "VnerBackend"

log = logging.getLogger("vner.ml_backend")


class LabelConfigError(ValueError):
    """The project's labeling config lacks what the backend writes into (our Labels -> Text pair)."""


# ----------------------------------------------------------------------------- labeling config


@dataclass(frozen=True)
class ConfigTarget:
    """Where predictions go in a labeling config: the task data key of the text, the allowed labels."""

    data_key: str = TO_NAME
    labels: frozenset[str] | None = None  # None: no config given, every schema label
    relations: frozenset[str] | None = None  # <Relation> types of <Relations>; None: no config given, every type


@lru_cache(maxsize=64)
def config_target(label_config: str | None) -> ConfigTarget:
    """The data key of ``<Text name="text" value="$key">``, the ``<Label>`` values of
    ``<Labels name="label" toName="text">`` (:class:`LabelConfigError` when either is missing) and
    the ``<Relation>`` values of the ``<Relations>`` blocks (none without such a block)."""
    if not label_config:
        return ConfigTarget()
    try:
        root = ET.fromstring(label_config)
    except ET.ParseError as exc:
        raise LabelConfigError(f"the labeling config is not XML: {exc}") from exc
    objects = [el for el in root.iter() if el.get("name") == TO_NAME and el.get("value", "").startswith("$")]
    if not objects:
        raise LabelConfigError(
            f'the labeling config has no object named "{TO_NAME}" with value="$..." '
            f'(e.g. <Text name="{TO_NAME}" value="${TO_NAME}"/>): create the project with `vner studio init`'
        )
    data_key = objects[0].get("value", "")[1:]
    controls = [
        el for el in root.iter()
        if el.tag == "Labels" and el.get("name") == FROM_NAME
        and TO_NAME in [part.strip() for part in el.get("toName", "").split(",")]
    ]
    if not controls:
        raise LabelConfigError(f'the labeling config has no <Labels name="{FROM_NAME}" toName="{TO_NAME}">: '
                               "create the project with `vner studio init`")
    labels = frozenset(el.get("value", "") for el in controls[0].iter("Label") if el.get("value"))
    if not data_key:
        raise LabelConfigError(f'the "{TO_NAME}" object of the labeling config reads no data key (value="$")')
    relations = frozenset(
        el.get("value", "") for block in root.iter("Relations") for el in block.iter("Relation") if el.get("value")
    )
    return ConfigTarget(data_key, labels, relations)


# ----------------------------------------------------------------------------- model version


# ----------------------------------------------------------------------------- request bodies


class TaskIn(BaseModel):
    """A task as Label Studio serializes it; only ``data`` (and ``id``, for messages) is read."""

    model_config = ConfigDict(extra="allow")

    id: int | None = None
    data: dict[str, Any]


class PredictIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    tasks: list[TaskIn] = Field(description="Tasks to predict; the answer has one result per task, in order")
    label_config: str | None = Field(None, description="The project's labeling config (XML)")
    project: str | int | None = Field(None, description='"<project id>.<created timestamp>"')
    params: dict[str, Any] | None = None


class ReloadIn(BaseModel):
    model: str = Field(description="Model directory to serve from now on")


class SetupIn(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    project: str | int | None = None
    label_config: str | None = Field(None, alias="schema", description="The project's labeling config (XML)")
    hostname: str | None = None
    # access_token (the project owner's API token) and extra_params are accepted and never used or logged.


# ----------------------------------------------------------------------------- the app


class _BodyLimitExcept:
    """``models.service.BodyLimitMiddleware`` for every path but ``skip`` (webhooks stream their bodies)."""

    def __init__(self, app: Callable[..., Awaitable[None]], max_bytes: int, skip: frozenset[str]):
        self.app = app
        self.limited = BodyLimitMiddleware(app, max_bytes=max_bytes)
        self.skip = skip

    async def __call__(self, scope, receive, send) -> None:
        target = self.app if scope.get("type") == "http" and scope.get("path") in self.skip else self.limited
        await target(scope, receive, send)


_ACTION = re.compile(rb'^\s*\{\s*"action"\s*:\s*"([^"\\]{1,100})"')
_PROJECT_ID = re.compile(rb'"project"\s*:\s*\{[^{}]*?"id"\s*:\s*(\d+)')


class _BasicAuth:
    """Every request needs HTTP basic auth with ``credentials``; others get 401 (JSON) before anything runs."""

    def __init__(self, app: Callable[..., Awaitable[None]], credentials: BackendCredentials):
        self.app = app
        token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
        self.expected = f"Basic {token}".encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope.get("type") == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = error_response(401, "this ML backend needs HTTP basic auth: `vner studio connect` "
                                          "registers it on the project", {"WWW-Authenticate": 'Basic realm="vner"'})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class Serving:
    """The model a backend answers with; replaced as a whole on reload (requests keep the one they began with)."""

    model: NerModel
    version: str
    runner: ModelRunner


class Retrainer:
    """Runs one retraining at a time in a background thread; :attr:`state` is shown on ``/health``."""

    def __init__(self, run: Callable[[int | None], dict[str, Any]]):
        self.run = run
        self.lock = threading.Lock()
        self.state: dict[str, Any] = {"state": "idle", "runs": 0}

    def start(self, project_id: int | None, trigger: str) -> bool:
        """Start a retraining unless one is running; whether it started."""
        with self.lock:
            if self.state["state"] == "running":
                return False
            self.state = {"state": "running", "trigger": trigger, "project": project_id,
                          "started": _now(), "runs": self.state["runs"] + 1}
        threading.Thread(target=self._work, args=(project_id,), name="vner-retrain", daemon=True).start()
        return True

    def _work(self, project_id: int | None) -> None:
        try:
            result = self.run(project_id)
            update = {"state": "done", "result": result}
        except Exception as exc:  # reported on /health: the backend keeps serving its model
            log.exception("retraining failed")
            update = {"state": "failed", "error": f"{type(exc).__name__}: {exc}"}
        with self.lock:
            self.state = {**self.state, **update, "finished": _now()}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def create_backend_app(
    model: str | Path | NerModel,
    *,
    model_version: str | None = None,
    schema: LabelSchema | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_chars: int = DEFAULT_MAX_CHARS,
    credentials: BackendCredentials | None = None,
    retrain_plan: RetrainPlan | None = None,
    studio: Callable[[], Any] | None = None,
    project_title: str | None = None,
) -> FastAPI:
    """The ML backend for ``model`` (a model directory, ``"rules"``, or a loaded model).

    The model is loaded here, so a missing model fails before the server starts (``ModelDirError``).
    Spans are checked against ``schema`` (default: the active label schema, as for `vner studio push`).
    With ``credentials`` every request needs that HTTP basic auth. With ``retrain_plan`` and
    ``studio`` (a factory of :class:`annotation.client.StudioClient`), Label Studio's training event
    retrains in the background (``annotation.retrain``); a promoted model replaces the served one at
    once and re-ranks the queue of the project (``project_title`` when the event names none).
    """
    loaded = load_model(model)
    schema = schema or load_schema()

    app = FastAPI(
        title="vner Label Studio ML backend",
        description="Label Studio's ML backend protocol over the vner models (see annotation/ml_backend.py).",
    )
    app.state.events = Counter()  # webhook actions received
    app.state.stats = Counter()  # predict requests / tasks / regions, setups
    stats, events = app.state.stats, app.state.events

    def serve(new: NerModel, version: str | None = None) -> Serving:
        serving = Serving(new, version or new.version, ModelRunner(new, max_chars))
        app.state.serving = serving
        app.state.model, app.state.model_version = serving.model, serving.version
        return serving

    serve(loaded, model_version)

    def reload(model_dir: str | Path) -> Serving:
        old = app.state.serving.version
        serving = serve(load_model(model_dir))
        stats["reloads"] += 1
        log.info("now serving %s (was %s)", serving.version, old)
        return serving

    def retrain_project(project_id: int | None) -> dict[str, Any]:
        from annotation.queue import queue_documents
        from annotation.retrain import retrain, summary

        assert retrain_plan is not None and studio is not None
        with studio() as client:
            pid = project_id if project_id is not None else client.project_id(project_title or DEFAULT_PROJECT_TITLE)
            old = app.state.serving
            result = retrain(client, pid, retrain_plan, old.model, say=log.info, guard=lambda: model_lock(old.model))
            answer = summary(result)
            if result.promoted:  # re-rank with the new model before it serves: no request uses it meanwhile
                queued = queue_documents(client, pid, load_model(result.model_dir), schema)
                answer["queue"] = {"tasks": len(queued.ranked), "model_version": queued.model_version}
                serving = reload(result.model_dir)
                retitle_backends(client, pid, old.version, serving.version, credentials)
        return answer

    app.state.retrainer = retrainer = Retrainer(retrain_project) if retrain_plan and studio else None

    install_error_handlers(app)

    def health_body() -> dict[str, Any]:
        serving = app.state.serving
        training = retrainer.state if retrainer else {"state": "off", "detail": "start the backend with "
                                                      "--train-base and --train-dev to retrain on Start Training"}
        return {"status": "UP", "model_class": MODEL_CLASS, "model_version": serving.version,
                "engine": serving.model.engine, "model_path": str(Path(serving.model.path).resolve()),
                "predicted_tasks": stats["tasks"], "training": training}

    @app.get("/", summary="Same as /health")
    async def root() -> dict[str, Any]:
        return health_body()

    @app.get("/health", summary="Liveness (Label Studio: 1 s timeout), model version, training status")
    async def health() -> dict[str, Any]:
        return health_body()

    @app.post("/setup", summary="Label Studio connects a project: answers the model version")
    async def setup(body: SetupIn) -> Any:
        try:
            config_target(body.label_config)
        except LabelConfigError as exc:
            return error_response(422, str(exc))
        stats["setups"] += 1
        log.info("setup for project %s", body.project)
        return {"model_version": app.state.serving.version}

    @app.get("/versions", summary="Model versions this backend can serve")
    async def versions() -> dict[str, Any]:
        version = app.state.serving.version
        return {"versions": [version], "model_version": version}

    @app.post("/reload", summary="Serve another model directory from now on (no restart)")
    async def reload_endpoint(body: ReloadIn) -> Any:
        try:
            serving = await anyio.to_thread.run_sync(reload, body.model)
        except (ModelDirError, OSError) as exc:
            return error_response(422, f"cannot load {body.model}: {exc}")
        return {"model_version": serving.version, "model_path": str(Path(serving.model.path).resolve())}

    @app.post("/predict", summary="One prediction per task, in order")
    async def predict_endpoint(body: PredictIn) -> Any:
        serving = app.state.serving
        version = serving.version
        try:
            target = config_target(body.label_config)
        except LabelConfigError as exc:
            return error_response(422, str(exc))
        texts: list[str] = []
        for index, task in enumerate(body.tasks):
            text = task.data.get(target.data_key)
            where = f"tasks[{index}]" + (f" (task {task.id})" if task.id is not None else "")
            if not isinstance(text, str):
                got = "no such key" if text is None else type(text).__name__
                return error_response(
                    422, f'{where}: data["{target.data_key}"] must be the text (a string); got {got}'
                )
            if len(text) > max_chars:
                return error_response(
                    413, f"{where}: text has {len(text):,} characters; this backend accepts at most {max_chars:,}"
                )
            texts.append(text)
        # Relations only when the config offers arrows and the model's schema has relation types (as for push).
        with_relations = target.relations != frozenset() and predicts_relations(serving.model)
        found = await serving.runner(texts, records=with_relations)
        results = []
        refused = arrows = 0
        for text, answer in zip(texts, found, strict=True):
            entities, relations = entities_and_relations(answer)
            if target.labels is not None:
                entities = [e for e in entities if e["label"] in target.labels]
            if target.relations is not None:  # arrows the config cannot show are not sent (nor counted as refused)
                kept = {(e["start"], e["end"]) for e in entities}
                relations = [r for r in relations
                             if r.type in target.relations and r.head in kept and r.tail in kept]
            payload, problems = prediction_payload(text, entities, version, schema, relations)
            refused += len(problems)
            arrows += sum(1 for item in payload["result"] if is_relation_item(item))
            results.append({"result": payload["result"], "score": payload.get("score"), "model_version": version})
        items = sum(len(r["result"]) for r in results)
        stats["requests"] += 1
        stats["tasks"] += len(results)
        stats["regions"] += items - arrows
        stats["relations"] += arrows
        log.info("predicted %d tasks of project %s (%d regions, %d relations, %d spans or relations refused by "
                 "the annotation rules)", len(results), body.project, items - arrows, arrows, refused)
        return {"results": results, "model_version": version}

    def start_training(project_id: int | None, trigger: str) -> JSONResponse:
        if retrainer is None:
            return JSONResponse({"status": "ignored", "detail": health_body()["training"]["detail"]})
        if not retrainer.start(project_id, trigger):
            return error_response(409, "a retraining is already running (see /health)", state="busy")
        return JSONResponse({"status": "started", "job": str(retrainer.state["runs"])})

    @app.post("/train", summary="Retrain in the background (as Label Studio's training event does)")
    async def train(request: Request) -> JSONResponse:
        if retrainer is None:
            return error_response(501, health_body()["training"]["detail"])
        return start_training(None, "/train")

    @app.post("/webhook", summary="Label Studio project events (counted; START_TRAINING retrains)")
    async def webhook(request: Request) -> Any:
        head = bytearray()
        size = 0
        async for chunk in request.stream():  # bodies of big imports are large: read, keep only the start
            size += len(chunk)
            if len(head) <= WEBHOOK_PARSE_BYTES:
                head += chunk
        action = project_id = None
        if size <= WEBHOOK_PARSE_BYTES:
            try:
                payload = json.loads(bytes(head) or b"null")
            except ValueError as exc:
                return error_response(400, f"the webhook body is not valid JSON: {exc}")
            if isinstance(payload, dict) and isinstance(payload.get("action"), str):
                action = payload["action"]
                project = payload.get("project")
                if isinstance(project, dict) and isinstance(project.get("id"), int):
                    project_id = project["id"]
        else:  # Label Studio writes "action" first
            match = _ACTION.match(bytes(head[:4096]))
            action = match.group(1).decode(errors="replace") if match else None
            found = _PROJECT_ID.search(bytes(head[:WEBHOOK_PARSE_BYTES]))
            project_id = int(found.group(1)) if found else None
        if action is None:
            return error_response(422, 'a webhook body is a JSON object with an "action"')
        events[action] += 1
        log.info("webhook %s (%d bytes)", action, size)
        if action == "START_TRAINING":
            return start_training(project_id, "START_TRAINING")
        return {"status": "ok", "action": action}

    app.add_middleware(_BodyLimitExcept, max_bytes=max_body_bytes, skip=frozenset({"/webhook"}))
    if credentials is not None:
        app.add_middleware(_BasicAuth, credentials=credentials)
    return app


def _auth_fields(credentials: BackendCredentials | None) -> dict[str, Any]:
    """The ML backend's authentication as Label Studio stores it (it checks it on every update)."""
    if credentials is None:
        return {"auth_method": "NONE"}
    return {"auth_method": "BASIC_AUTH", "basic_auth_user": credentials.username,
            "basic_auth_pass": credentials.password}


def retitle_backends(client, project_id: int, old: str, new: str,
                     credentials: BackendCredentials | None = None) -> None:
    """ML backends of the project named after the model version ``old`` are renamed ``new``, and the
    project's model version follows (Label Studio asks a backend only when the two match)."""
    from annotation.client import _api

    with _api(f"listing the ML backends of project {project_id}"):
        backends = list(client.sdk.ml.list(project=project_id))
    for backend in backends:
        if backend.title == old:  # Label Studio re-checks url and auth on any update (500/400 without them)
            with _api(f"renaming ML backend {backend.id}"):
                client.sdk.ml.update(backend.id, url=backend.url, project=project_id, title=new,
                                     **_auth_fields(credentials))
    if any(b.title == old for b in backends):
        client.set_model_version(project_id, new)


# ----------------------------------------------------------------------------- connecting a project


def backend_http(credentials: BackendCredentials | None, timeout: float = 10.0):
    """An HTTP client for a backend on loopback (no proxy) sending its basic auth."""
    import httpx

    auth = (credentials.username, credentials.password) if credentials else None
    return httpx.Client(timeout=timeout, trust_env=False, auth=auth)


def backend_info(url: str, label_config: str | None = None, timeout: float = 10.0,
                 credentials: BackendCredentials | None = None) -> dict[str, Any]:
    """``/health`` and ``/setup`` of the backend at ``url``, as Label Studio will call them.

    Returns ``{"health": {...}, "model_version": ...}``; raises ``RuntimeError`` with a readable
    message when the backend does not answer, refuses the credentials or the labeling config.
    """
    import httpx

    base = url.rstrip("/")
    with backend_http(credentials, timeout) as http:
        try:
            health = http.get(f"{base}/health")
        except httpx.HTTPError as exc:
            raise RuntimeError(f"no ML backend answers at {base} ({type(exc).__name__}: {exc}); "
                               "start it with `vner studio backend --model MODEL_DIR`") from exc
        if health.status_code == 401:
            raise RuntimeError(f"{base} refuses the backend credential (401): start it and connect with the same "
                               "config file or VNER_BACKEND_PASSWORD")
        if health.status_code != 200:
            raise RuntimeError(f"{base}/health answered {health.status_code}: {health.text[:300]}")
        setup = http.post(f"{base}/setup", json={"project": None, "schema": label_config})
        if setup.status_code != 200:
            raise RuntimeError(f"{base}/setup answered {setup.status_code}: {setup.text[:500]}")
    try:
        return {"health": health.json(), "model_version": setup.json().get("model_version")}
    except (ValueError, AttributeError) as exc:
        raise RuntimeError(f"{base} does not answer JSON on /health and /setup: not an ML backend") from exc


@dataclass
class ConnectReport:
    backend_id: int
    created: bool
    title: str
    model_version: str
    state: str | None
    others: list[Any]  # other ML backends of the project (Label Studio uses only the first one)
    removed: list[Any]


def connect_backend(client, project_id: int, url: str, title: str, *, replace: bool = False,
                    credentials: BackendCredentials | None = None) -> ConnectReport:
    """Add (or update, found by URL) the ML backend ``url`` on the project, named ``title``, and make
    ``title`` the project's model version: Label Studio then asks the backend for the predictions
    of a task opened without one, and shows them (``Project.ml_backend_in_model_version``).

    With ``credentials`` the backend is registered with basic auth, and the project's webhook to
    ``<url>/webhook`` (created with the backend) sends them as an ``Authorization`` header."""
    from annotation.client import _api

    url = url.rstrip("/")
    sdk = client.sdk
    with _api(f"listing the ML backends of project {project_id}"):
        existing = sorted(sdk.ml.list(project=project_id), key=lambda b: b.id)
    same = [b for b in existing if (b.url or "").rstrip("/") == url]
    others = [b for b in existing if b not in same]
    removed = []
    if replace:
        for backend in others + same[1:]:
            with _api(f"removing ML backend {backend.id}"):
                sdk.ml.delete(backend.id)
            removed.append(backend)
        others = []
    auth = _auth_fields(credentials)
    if same:
        with _api(f"updating ML backend {same[0].id}"):
            backend = sdk.ml.update(same[0].id, url=url, project=project_id, title=title, is_interactive=False,
                                    **auth)
        created = False
    else:
        with _api(f"adding the ML backend {url} to project {project_id}"):
            backend = sdk.ml.create(url=url, project=project_id, title=title, is_interactive=False, **auth)
        created = True
    if credentials is not None:
        token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
        with _api(f"listing the webhooks of project {project_id}"):
            hooks = [h for h in sdk.webhooks.list(project=str(project_id)) if (h.url or "") == f"{url}/webhook"]
        for hook in hooks:
            with _api(f"adding the backend credential to webhook {hook.id}"):
                sdk.webhooks.update(hook.id, url=hook.url, headers={"Authorization": f"Basic {token}"})
    client.set_model_version(project_id, title)
    with _api(f"reading ML backend {backend.id}"):
        backend = sdk.ml.get(backend.id)  # GET refreshes its state (health + setup)
    return ConnectReport(backend.id, created, title, backend.model_version or "", str(backend.state or ""),
                         others, removed)


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def predicted_tasks(client, project_id: int, model_version: str) -> set[int]:
    """Ids of the project's tasks holding a prediction of ``model_version``."""
    from annotation.client import _api

    with _api(f"listing the predictions of project {project_id}"):
        return {p.task for p in client.sdk.predictions.list(project=project_id) if p.model_version == model_version}


@dataclass
class RetrieveReport:
    """What "Retrieve Predictions" did, counted on the server before and after (not what was asked)."""

    sent: int  # tasks asked for
    fetched: int  # tasks that hold a prediction of the version now and did not before
    already: int  # tasks that already held one (Label Studio skips them)
    missing: list[int]  # tasks still without one (the backend failed or answered nothing: see the logs)


def retrieve_predictions(client, project_id: int, model_version: str, task_ids: list[int] | None = None,
                         batch_size: int = 50) -> RetrieveReport:
    """Ask Label Studio to fetch predictions of ``model_version`` from the project's ML backend (the
    Data Manager's "Retrieve Predictions" action), ``batch_size`` tasks per request so that each stays
    well inside Label Studio's 100 s prediction timeout. Tasks that already hold a prediction of the
    backend's model version are skipped by Label Studio itself."""
    from annotation.client import _api

    if task_ids is None:
        task_ids = [task_id for task_id, _ in client.iter_tasks(project_id)]
    before = predicted_tasks(client, project_id, model_version) & set(task_ids)
    for chunk in _chunks(task_ids, max(1, batch_size)):
        with _api(f"retrieving predictions for {len(chunk)} tasks of project {project_id}"):
            client.sdk.actions.create(id="retrieve_tasks_predictions", project=project_id,
                                      selected_items={"all": False, "included": chunk})
    after = predicted_tasks(client, project_id, model_version) & set(task_ids)
    return RetrieveReport(len(task_ids), len(after - before), len(before),
                          sorted(set(task_ids) - after))
