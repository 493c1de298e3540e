"""The Dask runner of the batch job: a ``LocalCluster`` started here, or an existing cluster's scheduler.

Each worker loads the model once, when it starts (a worker plugin, so a worker that replaces a
dead one loads it too), and gives its numeric libraries ``threads`` threads: the worker's Dask
threads (one task at a time) times the model's threads must not exceed the machine's cores. Tasks
carry only a partition's description; workers read their input files themselves (so on real
machines the input must be readable at the same path everywhere) and return encoded rows, which the
process that started the job writes (see :mod:`models.batch`).
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from distributed import Client, LocalCluster, as_completed
from distributed.diagnostics.plugin import WorkerPlugin

from models.batch import (
    BLAS_ENV_VARS,
    THREAD_ENV_VARS,
    BatchJob,
    PartFailure,
    PartResult,
    configure_threads,
    run_partition,
)
from models.batch_input import Partition
from models.batch_output import BatchError
from models.loading import load_model

PLUGIN_NAME = "vner-model"
CONNECT_TIMEOUT = "20s"


class ModelPlugin(WorkerPlugin):
    """On every worker: set the compute threads, then load the model (kept in the process's model cache).

    Workers of a cluster started here ignore Ctrl-C (the terminal sends it to them too): the job's
    own process stops them, instead of each printing a traceback.
    """

    def __init__(self, model: str, threads: int | None, ignore_interrupt: bool = False):
        self.model, self.threads, self.ignore_interrupt = model, threads, ignore_interrupt

    def setup(self, worker: Any) -> None:
        if self.ignore_interrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        configure_threads(self.threads or worker.state.nthreads)
        load_model(self.model)


def _model_version(model: str) -> str:
    return load_model(model).version


class DaskRunner:
    """Partitions as Dask tasks; results are yielded as they finish.

    Without ``scheduler`` a ``LocalCluster`` of ``workers`` processes (default: cores //
    ``threads_per_worker``) runs here, each one task at a time with ``threads_per_worker`` (default
    1) compute threads. With ``scheduler`` the job attaches to that cluster; a worker then gives the
    model ``threads_per_worker`` threads, else as many as it has Dask threads.
    """

    def __init__(
        self,
        model: str,
        *,
        workers: int | None = None,
        threads_per_worker: int | None = None,
        scheduler: str | None = None,
        dashboard_address: str = ":8787",
        say: Callable[[str], None] = print,
    ):
        self.model, self.workers, self.threads = model, workers, threads_per_worker
        self.scheduler, self.dashboard_address, self.say = scheduler, dashboard_address, say
        self.cluster: LocalCluster | None = None
        self.client: Client | None = None
        self._environ: dict[str, str] = {}

    def __enter__(self) -> DaskRunner:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                raise BatchError(f"cannot reach the Dask scheduler at {self.scheduler}: {exc}") from exc
            threads = self.threads
            self.say(f"attached to {self.scheduler}: {len(self.client.scheduler_info()['workers'])} workers")
        else:
            import dask

            threads = self.threads or 1
            workers = self.workers or max(1, (os.cpu_count() or 1) // threads)
            # Dask's nannies export these before spawning each worker, into this process too: restored on exit
            self._environ = {name: os.environ[name] for name in THREAD_ENV_VARS if name in os.environ}
            spawn_env = {
                **dask.config.get("distributed.nanny.pre-spawn-environ"),
                **{name: threads for name in BLAS_ENV_VARS},
            }
            with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn_env}):
                self.cluster = LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=self.dashboard_address
                )
            self.client = Client(self.cluster)
            self.say(f"Dask LocalCluster: {workers} workers x {threads} threads")
        if self.client.dashboard_link:
            self.say(f"Dask dashboard: {self.client.dashboard_link}")
        try:
            plugin = ModelPlugin(self.model, threads, ignore_interrupt=self.cluster is not None)
            self.client.register_plugin(plugin, name=PLUGIN_NAME)
        except Exception as exc:  # noqa: BLE001 - whatever the worker raised, said in one line
            raise BatchError(
                f"a Dask worker could not load the model {self.model}: {type(exc).__name__}: {exc}"
            ) from exc

    def __exit__(self, *exc: object) -> None:
        try:
            if self.client is not None:
                if self.cluster is None:  # someone else's cluster: leave it as found
                    self.client.unregister_worker_plugin(PLUGIN_NAME)
                self.client.close()
            if self.cluster is not None:
                self.cluster.close()
        finally:
            self.client = self.cluster = None
            for name in THREAD_ENV_VARS:
                if name in self._environ:
                    os.environ[name] = self._environ[name]
                elif self.scheduler is None:
                    os.environ.pop(name, None)

    def model_version(self) -> str:
        assert self.client is not None, "use the runner inside `with`"
        try:
            return self.client.submit(_model_version, self.model, pure=False).result()
        except Exception as exc:  # noqa: BLE001 - whatever the worker raised, said in one line
            raise BatchError(
                f"a Dask worker could not load the model {self.model}: {type(exc).__name__}: {exc}"
            ) from exc

    def map(self, job: BatchJob, partitions: list[Partition]) -> Iterator[PartResult | PartFailure]:
        assert self.client is not None, "use the runner inside `with`"
        token = uuid.uuid4().hex[:8]
        futures = {
            self.client.submit(run_partition, job, part, key=f"vner-partition-{part.index:05d}-{token}"): part
            for part in partitions
        }
        pending = set(futures)
        try:
            for future in as_completed(futures):
                pending.discard(future)
                if future.status == "finished":
                    outcome: PartResult | PartFailure = future.result()
                else:  # the task raised, or killed more workers than distributed.scheduler.allowed-failures
                    error = future.exception()
                    outcome = PartFailure(futures[future].index, f"{type(error).__name__}: {error}")
                future.release()
                yield outcome
        finally:
            if pending:
                self.client.cancel(list(pending))
