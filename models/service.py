"""The HTTP service behind ``vner serve``: ``POST /predict``, ``GET /health``, ``GET /model``.

Build it with :func:`create_app` (the model is loaded there, once, so a missing model fails
before the server starts) and run it with any ASGI server, e.g. ``uvicorn.run(create_app(path))``.

* Request bodies larger than ``max_body_bytes`` are refused with 413 before any parsing; the
  limit is measured on the raw bytes, whether or not the client sent ``Content-Length``.
* Every error is JSON: ``{"error": "<message>"}`` (422 adds ``"detail"``, a list of problems).
* Predictions run off the event loop (``/health`` and ``/model`` answer while a text is tagged):
  with ``workers`` > 1 in that many worker processes, each with its copy of the model, so
  independent requests run in parallel and a long text does not hold up short ones; with one
  worker in a thread of the server, one at a time (:class:`ModelRunner`).
* Slow clients cannot hold the server: request headers must arrive within ``header_timeout``
  (:func:`server_config`), the body within ``body_timeout`` seconds (else 408).
* A lone surrogate in a text (JSON ``"\\ud800"``, not a character) is read as U+FFFD, offsets
  unchanged, and the answer carries ``"warnings"``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from corpus.text import LONE_SURROGATE
from models.base import NerModel
from models.loading import load_model
from models.predict import DEFAULT_MAX_CHARS, TextTooLongError, predict
from models.workers import ProcessModelPool, reload_ref

MIB = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 1 * MIB
# After the limit is passed, the rest of the body is read and thrown away (so the client sees the
# 413 instead of a reset connection), but never more than this much.
DRAIN_BYTES = 64 * MIB
DEFAULT_WORKERS = 2  # worker processes answering at once, each holding a copy of the model
DEFAULT_HEADER_TIMEOUT = 10.0  # seconds for a client to send its request line and headers
DEFAULT_BODY_TIMEOUT = 30.0  # seconds for a client to send its body

log = logging.getLogger("vner.service")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


# ---------------------------------------------------------------- request and response models


class PredictRequest(BaseModel):
    """Exactly one of ``text`` or ``texts``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"text": "Chủ tịch UBND tỉnh Thanh Hóa Nguyễn Văn A dự hội nghị ngày 5/3/2024."},
                {"texts": ["Huyện ủy Hậu Lộc tổ chức hội nghị.", "Năm 2023, tỉnh trồng 1.200 ha rừng."]},
            ]
        },
    )

    text: StrictStr | None = Field(None, description='One article; the answer is {"entities": [...]}')
    texts: list[StrictStr] | None = Field(
        None, description='Several articles; the answer is {"results": [[...], ...]}, in the same order'
    )
    records: bool = Field(
        False,
        description='Also relations and records: {"entities", "relations", "records"} for each text '
        '(with "texts": {"results": [{...}, ...]})',
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> PredictRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError('give exactly one of "text" (a string) or "texts" (a list of strings)')
        return self


class Entity(BaseModel):
    """An entity: ``text == article[start:end]``, offsets in Unicode code points of the string sent."""

    model_config = ConfigDict(extra="allow")

    start: int = Field(description="First character (code point index into the text as sent)")
    end: int = Field(description="One past the last character")
    label: str = Field(description="Label name from the model's label schema")
    text: str = Field(description="The entity's characters, exactly as in the text sent")
    score: float | None = Field(None, description="Confidence, when the engine gives one")


class EntitiesResponse(BaseModel):
    entities: list[Entity]


class ResultsResponse(BaseModel):
    results: list[list[Entity]]


class RelationOut(BaseModel):
    head: list[int] = Field(description="[start, end] of the head: OFFICIAL for HOLDS, FIGURE or TARGET for PERIOD")
    tail: list[int] = Field(description="[start, end] of the tail entity (POSITION for HOLDS; DATE for PERIOD)")
    type: str = Field(description="HOLDS or PERIOD")
    score: float | None = Field(None, description="Confidence, when the relation step gives one")


class Offsets(BaseModel):
    start: int
    end: int


class Period(Offsets):
    text: str


class PersonRecord(BaseModel):
    name: str = Field(description="The name, NFC and single-spaced; mentions of one name are one person")
    posts: list[str] = Field(description="Posts the article gives the person (HOLDS), in order of appearance")
    mentions: list[Offsets] = Field(description="Every mention of the name")


class ValueRecordOut(BaseModel):
    start: int
    end: int
    text: str
    kind: str = Field(description="target (TARGET) or achieved (FIGURE)")
    number: int | float | None = Field(description="The normalized number (6.325 -> 6325, 1,5 triệu -> 1500000)")
    upper: int | float | None = Field(description="Upper end of a range (8,3-8,5%)")
    total: int | float | None = Field(description="y of a share written x/y (19,43/19,43km)")
    unit: str | None
    qualifier: str | None = Field(description="≥, >, ≈, ≤ or < (trở lên, hơn, khoảng, tối đa, dưới, ...)")
    base: str | None = Field(description="kế hoạch, cùng kỳ or dự toán when the value is a share of one")
    indicator: str | None = Field(description="For a TARGET: what is measured (its text before the value)")
    period: Period | None = Field(description="The DATE linked by PERIOD")


class RecordTables(BaseModel):
    people: list[PersonRecord]
    values: list[ValueRecordOut]


class RecordsResponse(BaseModel):
    entities: list[Entity]
    relations: list[RelationOut]
    records: RecordTables


class RecordsResultsResponse(BaseModel):
    results: list[RecordsResponse]


class ErrorResponse(BaseModel):
    error: str = Field(description="What was wrong with the request")
    detail: list[dict[str, Any]] | None = Field(None, description="Each problem found (422 only)")


class HealthResponse(BaseModel):
    status: str = "ok"
    engine: str
    model: str = Field(description="Model version: <model name>@<created>")


class LabelInfo(BaseModel):
    name: str
    description: str
    color: str


class SplitMetrics(BaseModel):
    micro_f1: float | None = Field(None, description="Strict micro-averaged F1")
    per_label_f1: dict[str, float] = Field(default_factory=dict, description="Strict F1 of each label")


class ModelInfo(BaseModel):
    engine: str
    runtime: str = Field(description="What runs the model: spacy, torch, onnxruntime or rules")
    name: str = Field(description="The model's name (its directory's name, never the path)")
    version: str = Field(description="Model version: <model name>@<created>")
    created: str | None = Field(None, description="When the model was trained (ISO 8601)")
    label_set: str = Field(description="Name of the label schema")
    labels: list[LabelInfo]
    metrics: dict[str, SplitMetrics] = Field(description="Scores recorded at training time, by data split")
    versions: dict[str, str] = Field(description="Library versions the model was trained with")
    max_chars: int = Field(description="Longest text this server accepts, in characters")
    max_body_bytes: int = Field(description="Largest request body this server accepts, in bytes")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body is not valid JSON"},
    413: {"model": ErrorResponse, "description": "The body or a text is too large"},
    415: {"model": ErrorResponse, "description": "The body is not JSON"},
    422: {"model": ErrorResponse, "description": "The JSON does not have the expected shape or types"},
}


# ---------------------------------------------------------------- helpers


def error_response(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` (413, JSON) by counting raw bytes before parsing.

    The body is buffered (at most ``max_bytes``) and replayed to the app. Over the limit the rest
    is drained and discarded, up to :data:`DRAIN_BYTES`, so ordinary clients read the 413 instead of
    a broken connection; a client that announced ``Expect: 100-continue`` is answered at once.
    A body not received within ``body_timeout`` seconds is answered with 408 and the connection closed.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], max_bytes: int, body_timeout: float = DEFAULT_BODY_TIMEOUT):
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        declared = headers.get("content-length", "")
        too_big = declared.isdigit() and int(declared) > self.max_bytes
        if too_big and "100-continue" in headers.get("expect", "").lower():
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        received = False
        with anyio.move_on_after(self.body_timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body = message.get("body", b"")
                size += len(body)
                too_big = too_big or size > self.max_bytes
                if not too_big:
                    chunks.append(body)
                elif size > self.max_bytes + DRAIN_BYTES:
                    break
                if not message.get("more_body", False):
                    break
            received = True
        if not received:
            late = error_response(
                408, f"request body not received within {self.body_timeout:g} s", headers={"Connection": "close"}
            )
            await late(scope, receive, send)
            return
        if too_big:
            await self._refuse(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = f"{self.max_bytes / MIB:g} MiB" if self.max_bytes >= MIB else f"{self.max_bytes:,} bytes"
        response = error_response(
            413, f"request body too large: this server accepts at most {limit} ({self.max_bytes:,} bytes)"
        )
        await response(scope, receive, send)


_model_locks: weakref.WeakKeyDictionary[NerModel, threading.Lock] = weakref.WeakKeyDictionary()
_model_locks_guard = threading.Lock()


def model_lock(model: NerModel) -> threading.Lock:
    """The lock serializing calls into ``model`` (one per loaded model object, shared by all apps)."""
    with _model_locks_guard:
        return _model_locks.setdefault(model, threading.Lock())


class ModelRunner:
    """Runs ``predict`` off the event loop.

    With ``workers`` > 1 and a model that worker processes can load again (a model directory, or
    ``"rules"``), in a :class:`~models.workers.ProcessModelPool` of that many processes: requests
    run in parallel, past the GIL, each worker on its share of the cores. Otherwise in a thread of
    this process, one call at a time (a lock shared by every app using the same loaded model)
    unless the engine says it is thread-safe.
    """

    def __init__(self, model: NerModel, max_chars: int, workers: int = 1):
        self.model = model
        self.max_chars = max_chars
        self.thread_safe = bool(getattr(model, "thread_safe", False))
        ref = reload_ref(model) if workers > 1 else None
        self.pool = ProcessModelPool(ref, workers, max_chars) if ref is not None else None
        self._lock = model_lock(model)
        self._limiter: anyio.CapacityLimiter | None = None

    def _predict(self, texts: list[str], records: bool = False) -> list[Any]:
        if self.thread_safe:
            return predict(texts, self.model, self.max_chars, records=records)
        with self._lock:
            return predict(texts, self.model, self.max_chars, records=records)

    async def __call__(self, texts: list[str], records: bool = False) -> list[Any]:
        if not texts:
            return []
        if self.pool is not None:
            return await self.pool.predict(texts, records)
        if self._limiter is None:  # created in the event loop; waiting requests then hold no thread
            self._limiter = anyio.CapacityLimiter(4 if self.thread_safe else 1)
        return await anyio.to_thread.run_sync(self._predict, texts, records, limiter=self._limiter)

    def start(self) -> None:
        """Start the worker processes, if any (blocking until each has loaded the model)."""
        if self.pool is not None:
            self.pool.start()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


def model_info(model: NerModel, max_chars: int, max_body_bytes: int) -> ModelInfo:
    """What ``GET /model`` answers, from the model directory's ``vner-model.json``."""
    meta = model.meta
    metrics = {
        split: SplitMetrics(micro_f1=meta.micro_f1(split), per_label_f1=meta.per_label_f1(split))
        for split in meta.metrics
    }
    return ModelInfo(
        engine=model.engine,
        runtime=model.runtime,
        name=Path(model.path).resolve().name,
        version=model.version,
        created=meta.created,
        label_set=model.schema.name,
        labels=[LabelInfo(name=x.name, description=x.description, color=x.color) for x in model.schema.labels],
        metrics=metrics,
        versions=meta.versions,
        max_chars=max_chars,
        max_body_bytes=max_body_bytes,
    )


def _surrogate_warnings(texts: list[str], single: bool) -> list[str]:
    """A warning for each text holding lone surrogates (read as U+FFFD)."""
    warnings = []
    for index, text in enumerate(texts):
        count = len(LONE_SURROGATE.findall(text))
        if count:
            where = "text" if single else f"texts[{index}]"
            warnings.append(f"{where}: {count} lone surrogate(s) (invalid Unicode) read as U+FFFD; offsets unchanged")
    return warnings


def server_config(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    **options: Any,
) -> uvicorn.Config:
    """uvicorn settings for ``app``: a connection that has not sent a complete request line and
    headers within ``header_timeout`` seconds of connecting (or of its previous answer) is closed."""
    return uvicorn.Config(app, host=host, port=port, http=_header_timeout_protocol(header_timeout), **options)


def _header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        """uvicorn's HTTP/1.1 protocol, closing connections that do not send their headers in time."""

        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and self._header_timer is None:
                self._arm()
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete:  # the headers are in
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            self._header_timer = None
            if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutProtocol


def _package_version() -> str:
    try:
        return version("vner")
    except PackageNotFoundError:
        return "0+unknown"


def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    if not parts:
        return "body"
    out = parts[0]
    for part in parts[1:]:
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


# ---------------------------------------------------------------- the app


def install_error_handlers(app: FastAPI) -> None:
    """JSON errors everywhere: 400 bad JSON, 415 not JSON, 422 wrong shape, 413 too long, 500 with a log."""

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        for err in errors:
            if err.get("type") == "json_invalid":
                position = err.get("loc", ("body", "?"))[-1]
                reason = (err.get("ctx") or {}).get("error", "JSON decode error")
                return error_response(400, f"the request body is not valid JSON: {reason} (at character {position})")
        content_type = request.headers.get("content-type", "")
        if content_type and not _is_json(content_type):
            return error_response(415, f"send a JSON body with Content-Type: application/json (got {content_type})")
        detail: list[dict[str, Any]] = [
            {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "")), "type": str(err.get("type"))}
            for err in errors
        ]
        problems = "; ".join(f"{_where(d['loc'])}: {d['msg'].removeprefix('Value error, ')}" for d in detail)
        return error_response(422, f"invalid request: {problems}", detail=detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(TextTooLongError)
    async def _too_long(request: Request, exc: TextTooLongError) -> JSONResponse:
        return error_response(413, str(exc))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error: {type(exc).__name__}")


def create_app(
    model: str | Path | NerModel | None = None,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_chars: int = DEFAULT_MAX_CHARS,
    workers: int = DEFAULT_WORKERS,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
) -> FastAPI:
    """The service for ``model`` (a model directory, a loaded model, or None for the default model).

    The model is loaded here, so a missing or broken model raises (``ModelDirError``) at once; the
    worker processes start with the server (lifespan) or at the first request.
    """
    loaded = load_model(model)
    runner = ModelRunner(loaded, max_chars, workers)
    info = model_info(loaded, max_chars, max_body_bytes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(runner.start)
        try:
            yield
        finally:
            runner.close()

    app = FastAPI(
        lifespan=lifespan,
        title="vner",
        version=_package_version(),
        description=(
            "Named entities in Vietnamese local-government news. Offsets are Unicode code points "
            "into the text exactly as sent (NFD, CRLF, tabs are handled). Errors are JSON: "
            '`{"error": "..."}`.'
        ),
    )
    app.state.model = loaded
    app.state.runner = runner
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes, body_timeout=body_timeout)

    install_error_handlers(app)

    @app.get("/", include_in_schema=False)
    async def _root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/health", response_model=HealthResponse, summary="Liveness: the model is loaded")
    async def health() -> HealthResponse:
        return HealthResponse(engine=loaded.engine, model=info.version)

    @app.get("/model", response_model=ModelInfo, summary="The loaded model: labels, scores, versions")
    async def model_endpoint() -> ModelInfo:
        return info

    @app.post(
        "/predict",
        response_model=RecordsResponse | RecordsResultsResponse | EntitiesResponse | ResultsResponse,
        responses=ERROR_RESPONSES,
        summary="Entities of one text or of a list of texts (with relations and records on request)",
    )
    async def predict_endpoint(request: PredictRequest) -> dict[str, Any] | JSONResponse:
        texts = [request.text] if request.text is not None else list(request.texts or [])
        for index, text in enumerate(texts):
            if len(text) > max_chars:
                where = "text" if request.text is not None else f"texts[{index}]"
                return error_response(
                    413, f"{where} has {len(text):,} characters; this server accepts at most {max_chars:,} per text"
                )
        results = await runner(texts, request.records)
        if request.text is not None:
            body = results[0] if request.records else {"entities": results[0]}
        else:
            body = {"results": results}
        warnings = _surrogate_warnings(texts, single=request.text is not None)
        return JSONResponse({**body, "warnings": warnings}) if warnings else body

    return app
