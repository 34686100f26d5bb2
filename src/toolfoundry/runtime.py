"""This process's DBOS: launched for one home, as one executor, with its liveness lock and its watchdog.

DBOS is a process-wide singleton, so a process runs the workflows of at most one home at a time;
:data:`PROCESS` is that fact made explicit (which home, which executor, how many requests use it), not
a place steps reach into — they work with their pipeline's own parts. Launching: DBOS configured with a
fresh executor id, the home's :class:`~toolfoundry.pipeline.workflow.Pipeline` registered first (so a
recovered workflow finds its instance), the liveness lock taken, the ``requests`` queue registered, the
watchdog started. Nothing locks the home: any number of processes run workflows on it at once.

Two roles. A *runner* (``serve``, ``ui``, ``worker``) dequeues from the ``requests`` queue — anyone's
requests — and enqueues its own there. A *client* (a CLI command, the Python API by default) runs only
its own requests, started in this process, ``[pipeline] concurrency`` at once, and dequeues nothing but
the workflows the watchdog hands on from dead executors. Giving DBOS back (``release``), a client first
finishes what it took over, saying so; a runner leaves it to the next live process, which is safe
because every step is checkpointed and keyed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from toolfoundry.core import Outcome
from toolfoundry.errors import DatabaseError, UsageError
from toolfoundry.pipeline.executors import Executor, FileLiveness, Liveness, new_executor_id, now
from toolfoundry.pipeline.names import (
    CLASS_NAME,
    FORGE_QUEUE,
    INSTANCE,
    MODELS_QUEUE,
    QUEUE,
    SANDBOX_QUEUE,
    request_of,
)
from toolfoundry.pipeline.parts import Parts
from toolfoundry.pipeline.watchdog import Watchdog
from toolfoundry.settings import Settings
from toolfoundry.version import __version__

if TYPE_CHECKING:
    from dbos import DBOSClient, WorkflowHandle

    from toolfoundry.pipeline.workflow import Pipeline

Role = Literal["cli", "api", "serve", "ui", "worker"]
RUNNERS: frozenset[Role] = frozenset({"serve", "ui", "worker"})
"""Roles that may dequeue anyone's requests (``serve`` and ``ui`` only where commands run requests
themselves, ``[pipeline] run = "here"``; a worker always)."""


def is_runner(role: Role, settings: Settings) -> bool:
    """True when a process of ``role`` dequeues anyone's requests; a client runs only its own, or (queued)
    none."""
    return role == "worker" or (role in RUNNERS and not settings.queued)


def queues_of(role: Role, settings: Settings) -> list[str]:
    """The queues a process of ``role`` dequeues from: none for a client; ``requests`` for a runner on one
    machine; in a cluster also ``sandbox`` and ``models``, and ``forge`` on the forge node."""
    if not is_runner(role, settings):
        return []
    if not settings.database.postgres:
        return [QUEUE]
    return [QUEUE, SANDBOX_QUEUE, MODELS_QUEUE, *([FORGE_QUEUE] if settings.cluster.forge_node else [])]


def register_queues(settings: Settings) -> None:
    """The queues and their limits. ``requests``: ``concurrency`` at once per executor, and at most
    ``per_requester`` requests of one requester at once across all of them (its partition), so no requester
    starves the others. In a cluster: ``sandbox`` (``sandbox_slots`` validations per worker), ``forge`` (one
    at a time across the cluster), ``models`` (``model_calls_per_minute``). DBOS keeps a queue's limits in
    the system database, so they are the cluster's: the last process to register them sets them for all."""
    from dbos import DBOS
    p, c = settings.pipeline, settings.cluster
    DBOS.register_queue(QUEUE, worker_concurrency=p.concurrency, partition_concurrency=p.per_requester or p.concurrency,
                        polling_interval_sec=p.poll_seconds, on_conflict="always_update")
    if not settings.database.postgres:
        return
    DBOS.register_queue(SANDBOX_QUEUE, worker_concurrency=c.sandbox_slots, polling_interval_sec=p.poll_seconds,
                        on_conflict="always_update")
    DBOS.register_queue(FORGE_QUEUE, global_concurrency=1, polling_interval_sec=p.poll_seconds,
                        on_conflict="always_update")
    limiter = {"limit": c.model_calls_per_minute, "period": 60.0} if c.model_calls_per_minute else None
    DBOS.register_queue(MODELS_QUEUE, limiter=limiter, polling_interval_sec=p.poll_seconds,  # type: ignore[arg-type]
                        on_conflict="always_update")


def open_liveness(settings: Settings) -> Liveness:
    """How this home tells live executors from dead ones: lock files on one machine, advisory locks in the
    cluster's PostgreSQL database."""
    if settings.database.postgres:
        from toolfoundry.pipeline.executors_pg import PgLiveness
        return PgLiveness(settings.database.url, settings.database.schema, fence_seconds=settings.cluster.fence_seconds)
    return FileLiveness(settings.home / "executors")


class Runtime:
    """This process's launched home, if any."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.home: Path | None = None
        self.pipeline: Pipeline | None = None
        self.executor: Executor | None = None
        self.role: Role = "api"
        self.users = 0
        self._liveness: Liveness | None = None
        self._watchdog: Watchdog | None = None
        self._slots: threading.BoundedSemaphore | None = None
        self.runner = False
        """True when this process dequeues anyone's requests (``is_runner``)."""

    def launch(self, settings: Settings, parts: Parts, *, role: Role, command: str,
               progress: Callable[[str], None]) -> Pipeline:
        """The home's pipeline, launching DBOS for it first if this process has not (``cond`` held)."""
        if self.home == settings.home and self.pipeline is not None:
            return self.pipeline
        if self.home is not None:
            raise UsageError(f"another foundry ({self.home}) is open in this process; close it first")
        from dbos import DBOS

        from toolfoundry.pipeline.workflow import Pipeline
        executor = Executor(id=new_executor_id(role), role=role, pid=os.getpid(), host=socket.gethostname(), since=now(),
                            command=command)
        DBOS(config={"name": "toolfoundry", "application_version": __version__, "log_level": "WARNING",
                     "executor_id": executor.id, "system_database_url": settings.system_database_url,
                     "notification_listener_polling_interval_sec": 0.05})  # DBOS.destroy waits out one poll
        DBOS.listen_queues(queues_of(role, settings))  # a client: only its own requests, and what the watchdog hands on
        pipeline = Pipeline(parts)  # registered before launch, for recovery
        liveness = open_liveness(settings)
        self.home, self.pipeline, self.executor, self.role = settings.home, pipeline, executor, role
        self.runner = is_runner(role, settings)
        self._liveness = liveness
        self._slots = threading.BoundedSemaphore(settings.pipeline.concurrency)
        try:
            liveness.hold(executor)
            DBOS.launch()
            if self.runner:
                register_queues(settings)
            grace = settings.cluster.grace_seconds if settings.database.postgres else 0.0
            self._watchdog = Watchdog(parts, liveness, executor.id, grace=grace, progress=progress)
            self._watchdog.start()
        except BaseException:
            self.release(progress, finish=False)  # nothing half-launched is left behind
            raise
        return pipeline

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """One of the ``[pipeline] concurrency`` slots, for a request started in this process."""
        slots = self._slots
        if slots is None:
            raise RuntimeError("no home is launched in this process")
        with slots:
            yield

    def live(self) -> list[Executor]:
        """The executors of the launched home that hold their liveness lock."""
        return self._liveness.live() if self._liveness is not None else []

    def release(self, progress: Callable[[str], None], *, finish: bool) -> None:
        """Shut DBOS down (``cond`` held); with ``finish``, first wait for the workflows this executor took
        over from dead ones."""
        if self.pipeline is None:
            return
        from dbos import DBOS

        from toolfoundry.pipeline.durable import unregister
        if self._watchdog is not None:
            self._watchdog.stop()
        if finish and self.executor is not None:
            for wf in DBOS.list_workflows(status="PENDING", executor_id=self.executor.id, load_input=False,
                                          load_output=False):
                progress(f"finishing request {request_of(wf.workflow_id)}, taken over from a process that died…")
                with contextlib.suppress(Exception):  # its outcome is the request's, recorded by its own steps
                    DBOS.retrieve_workflow(wf.workflow_id).get_result(polling_interval_sec=0.05)
        DBOS.destroy(destroy_registry=False)
        unregister(self.pipeline)
        if self._liveness is not None:
            self._liveness.release()
        self.home = self.pipeline = self.executor = self._liveness = self._watchdog = self._slots = None
        self.runner = False


PROCESS = Runtime()
"""This process's DBOS, launched for at most one home."""

_CLIENTS: dict[str, DBOSClient] = {}
_CLIENTS_LOCK = threading.Lock()


def client_of(settings: Settings) -> DBOSClient:
    """This process's DBOS client of the home's system database (one per database), without launching DBOS."""
    from dbos import DBOS, DBOSClient
    url = settings.system_database_url
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(url)
        if client is None:
            DBOS.migrate(url)  # a client never creates the schema itself; the first worker may not be up yet
            client = _CLIENTS[url] = DBOSClient(system_database_url=url, application_name="toolfoundry")
        return client


def running_by_executor(settings: Settings) -> dict[str, list[str]]:
    """The requests each executor is running now (its pending workflows, children counted as their request)."""
    try:
        pending = client_of(settings).list_workflows(status="PENDING", load_input=False, load_output=False)
    except Exception as exc:  # the system database refused or is unreachable
        raise DatabaseError(f"cannot read what is running from {_printable(settings.system_database_url)}:"
                            f" {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    found: dict[str, list[str]] = {}
    for wf in pending:
        rid = request_of(wf.workflow_id)
        if wf.executor_id and rid not in found.setdefault(wf.executor_id, []):
            found[wf.executor_id].append(rid)
    return found


def enqueue(settings: Settings, workflow: str, workflow_id: str, args: tuple[Any, ...], *,
            partition: str) -> WorkflowHandle[Outcome]:
    """Enqueue a request workflow for the workers, without launching DBOS here (a client: ``[pipeline] run =
    "queue"``); its handle gives the outcome. The request waits durably in the queue while no worker is up.
    ``DatabaseError`` when the system database cannot take it (nothing was enqueued then)."""
    from dbos import EnqueueOptions
    url = settings.system_database_url
    queue = FORGE_QUEUE if workflow == "deliver" and settings.database.postgres else QUEUE
    options: EnqueueOptions = {"workflow_name": f"Pipeline.{workflow}", "queue_name": queue,
                               "workflow_id": workflow_id, "class_name": CLASS_NAME, "instance_name": INSTANCE,
                               "app_version": __version__}
    if queue == QUEUE:
        options["queue_partition_key"] = partition
    deadline, pause = time.monotonic() + ENQUEUE_PATIENCE, 0.2
    while True:
        try:
            handle: WorkflowHandle[Outcome] = client_of(settings).enqueue(options, *args)
            return handle
        except Exception as exc:  # SQLAlchemy's and DBOS's errors alike: the database refused or is unreachable
            if _lost_connection(exc) and time.monotonic() + pause < deadline:
                time.sleep(pause)  # the same workflow id again: DBOS enqueues it at most once
                pause = min(pause * 2, 2.0)
                continue
            raise DatabaseError(f"cannot enqueue request {request_of(workflow_id)} in {_printable(url)}: "
                                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc


ENQUEUE_PATIENCE = 30.0
"""Seconds a client keeps trying to enqueue while the database is unreachable (restarting, failing over)."""


def _lost_connection(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is a dropped or refused connection, not a refusal of the data."""
    import sqlalchemy.exc
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
            return True
        if isinstance(seen, sqlalchemy.exc.DBAPIError) and seen.connection_invalidated:
            return True
        if type(seen).__name__ in ("OperationalError", "InterfaceError"):  # the driver's own, unwrapped
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _printable(url: str) -> str:
    """A database URL without its password."""
    import sqlalchemy as sa
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the system database"
