"""Model worker processes: predictions in parallel past the GIL, each process with its own model.

:class:`ProcessModelPool` starts ``size`` processes (``spawn``: nothing is inherited from the
server), gives each its share of the CPU cores for its numeric libraries, loads the model in each
(from a model directory, or ``"rules"``) and sends them ``predict`` calls. A pool whose worker
died is replaced at the next call.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from models.base import NerModel
from models.card import ModelDirError
from models.loading import RULES_ENGINE, load_model
from models.predict import predict

_model: NerModel | None = None  # the model of this worker process


def reload_ref(model: NerModel) -> str | None:
    """What a worker process loads to get ``model`` again (``"rules"`` or its directory), or None
    when that would give another model (one built in code rather than loaded)."""
    ref = RULES_ENGINE if model.engine == RULES_ENGINE else str(Path(model.path).resolve())
    try:
        return ref if load_model(ref) is model else None
    except (ModelDirError, OSError):
        return None


def _load(ref: str, threads: int) -> None:
    global _model
    from models.batch import configure_threads

    configure_threads(threads)
    _model = load_model(ref)


def _ready(hold: float) -> int:
    time.sleep(hold)  # busy for a moment, so that each start-up call reaches another process
    return os.getpid()


def _predict(texts: list[str], max_chars: int, records: bool) -> list[Any]:
    assert _model is not None, "the worker's model is loaded by the pool's initializer"
    return predict(texts, _model, max_chars, records=records)


class WorkerError(RuntimeError):
    """A model worker process could not start or died."""


class ProcessModelPool:
    """``size`` worker processes answering :func:`~models.predict.predict` calls for the model ``ref``."""

    def __init__(self, ref: str, size: int, max_chars: int, threads: int | None = None):
        self.ref, self.size, self.max_chars = ref, size, max_chars
        self.threads = threads or max(1, (os.cpu_count() or 1) // size)
        self._executor: ProcessPoolExecutor | None = None
        self._starting = threading.Lock()

    def start(self) -> None:
        """Start every worker and wait until each has loaded the model (blocking; a few seconds)."""
        with self._starting:
            if self._executor is None:
                self._executor = self._started()

    def _started(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            self.size,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load,
            initargs=(self.ref, self.threads),
        )
        try:
            for future in [executor.submit(_ready, 0.5) for _ in range(self.size)]:
                future.result()
        except BrokenProcessPool as exc:
            executor.shutdown(cancel_futures=True)
            raise WorkerError(f"model workers could not load {self.ref} (see the log above)") from exc
        return executor

    async def predict(self, texts: list[str], records: bool = False) -> list[Any]:
        if self._executor is None:
            await asyncio.to_thread(self.start)
        executor = self._executor
        assert executor is not None
        try:
            return await asyncio.wrap_future(executor.submit(_predict, texts, self.max_chars, records))
        except BrokenProcessPool as exc:
            self.close(wait=False)  # the next call starts a fresh pool
            raise WorkerError("a model worker process died (out of memory?); the workers are restarted") from exc

    def close(self, wait: bool = True) -> None:
        """Stop the workers (``wait``: until they have exited)."""
        if self._executor is not None:
            self._executor.shutdown(wait=wait, cancel_futures=True)
            self._executor = None
