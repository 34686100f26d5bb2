"""A foundry home: its paths, creating it, its parts, and running its requests' durable workflows.

A home is a directory: ``toolfoundry.toml``, ``tools.git`` (the bare tool repository), ``foundry.db``
(ledger, registry, audit log, search index), ``audit.head`` (the audit chain's anchor), ``dbos.sqlite``
(DBOS's checkpoints) and ``executors/`` (one liveness lock per running process). :class:`Home` owns
opening it, running a request (:meth:`Home.run`: started here or enqueued, followed through the audit
log, waited for), finishing interrupted ones (:meth:`Home.resume`) and the DBOS lifecycle, through this
process's :data:`~toolfoundry.runtime.PROCESS`. Beside it: ``files.py`` (what a complete home holds,
creating one), ``parts.py`` (opening its :class:`~toolfoundry.pipeline.parts.Parts`) and ``loop.py``
(blocking work beside an event loop); their names are re-exported here.

Nothing locks the home: the CLI, ``serve``, ``ui`` and any number of ``worker`` processes act on it at
once, each an executor of its own; a dead one's requests are finished by the others' watchdogs.
``hold=False`` gives DBOS back (on a background thread) once no request of this process runs. It does
not sequence stages (the workflow does).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from toolfoundry.core import Outcome, Proposal
from toolfoundry.errors import Conflict, DatabaseError, NotInitialised
from toolfoundry.health import why_not_open
from toolfoundry.home.files import InitResult, create, missing
from toolfoundry.home.loop import off_loop
from toolfoundry.home.parts import close_parts, node_forge, open_parts
from toolfoundry.models.cache import ModelCache
from toolfoundry.pipeline.cancel import unless_cancelled
from toolfoundry.pipeline.events import Listener
from toolfoundry.pipeline.executors import Executor
from toolfoundry.pipeline.follow import Follower
from toolfoundry.pipeline.names import FORGE_QUEUE, QUEUE, deliver_id
from toolfoundry.pipeline.recovery import settle
from toolfoundry.runtime import PROCESS, Role, enqueue, is_runner, open_liveness, running_by_executor
from toolfoundry.settings import Settings
from toolfoundry.store.ledger import RequestRow

__all__ = ["Home", "InitResult", "Progress", "Workflow", "close_parts", "missing", "node_forge", "off_loop",
           "open_parts"]

if TYPE_CHECKING:
    from toolfoundry.pipeline.workflow import Pipeline

Workflow = Literal["validate", "generate", "deliver"]
"""The request workflows of the pipeline."""
Progress = Callable[[str], None]
"""Receives one-line messages about long waits (interrupted requests being finished, and by whom)."""


class Home:
    """An initialised foundry home, opened in this process as ``role`` (see ``runtime.py``)."""

    def __init__(self, settings: Settings, *, hold: bool = True, role: Role = "api", command: str = "") -> None:
        gaps = missing(settings.home, postgres=settings.database.postgres)
        if gaps:
            raise NotInitialised(why_not_open(settings.home, gaps))  # never made, or which part is damaged
        self.settings = settings
        self.role: Role = role
        self.command = command
        self._hold = hold
        self._serving = False
        self.progress: Progress = lambda message: None
        self.models = ModelCache(settings.model_env, settings.generation.model_settings())
        self.parts = open_parts(settings, self.models)

    @staticmethod
    def init(settings: Settings) -> InitResult:
        """Create the home: bare tool repository with an initial commit, config, database. Idempotent."""
        return create(settings)

    def serve_queue(self, slots: int | None = None) -> Executor:
        """Launch DBOS here and keep it until ``close``, running queued requests (a ``worker``, ``slots`` requests
        and, in a cluster, ``slots`` validations at once)."""
        settings = self.settings if slots is None else dataclasses.replace(
            self.settings, pipeline=dataclasses.replace(self.settings.pipeline, concurrency=slots),
            cluster=dataclasses.replace(self.settings.cluster, sandbox_slots=slots))
        with PROCESS.cond:
            PROCESS.launch(settings, open_parts(settings, self.models), role=self.role, command=self.command,
                           progress=self.progress)
            PROCESS.users += 1
            self._serving = True
        assert PROCESS.executor is not None
        return PROCESS.executor

    def close(self) -> None:
        """Give DBOS back if no request of this process still runs on it; close this object's parts."""
        with PROCESS.cond:
            if self._serving:
                PROCESS.users -= 1
                self._serving = False
            if PROCESS.users == 0 and PROCESS.home == self.settings.home:  # DBOS refuses to block beside a loop
                off_loop(lambda: PROCESS.release(self.progress, finish=not PROCESS.runner))
        self.models.close()
        close_parts(self.parts)

    # ── running workflows ──────────────────────────────────────────────────────────────────────

    @contextlib.contextmanager
    def running(self) -> Iterator[Pipeline]:
        """The home's pipeline, with DBOS launched in this process for the body (launched first if needed).

        With ``hold=False`` the last request of this process to finish gives DBOS back."""
        with PROCESS.cond:
            PROCESS.users += 1
            try:
                pipeline = PROCESS.launch(self.settings, open_parts(self.settings, self.models), role=self.role,
                                          command=self.command, progress=self.progress)
            except BaseException:
                PROCESS.users -= 1
                raise
        try:
            yield pipeline
        finally:
            with PROCESS.cond:
                PROCESS.users -= 1
                last = PROCESS.users == 0
            if last and not self._hold:
                threading.Thread(target=self._release_if_idle, name="toolfoundry-release", daemon=True).start()

    def _release_if_idle(self) -> None:
        with PROCESS.cond:
            if PROCESS.users == 0 and PROCESS.home == self.settings.home:
                PROCESS.release(self.progress, finish=not PROCESS.runner)

    def run(self, workflow: Workflow, rid: str, args: tuple[Any, ...], on_event: Listener | None, *,
            claim: str | None = None) -> Outcome:
        """Run a request workflow under its id and wait for the outcome, ``on_event`` hearing each event of
        this request only (followed through the audit log, wherever it runs). ``claim``: the pending request
        a review must win first (``Conflict`` when another decision won). Called where an event loop runs (a
        notebook, an async app), the wait happens on a thread of its own: DBOS's blocking calls refuse to run
        beside a loop."""
        return off_loop(lambda: unless_cancelled(self.parts, rid, lambda: self._run(workflow, rid, args, on_event, claim)))

    def _run(self, workflow: Workflow, rid: str, args: tuple[Any, ...], on_event: Listener | None,
             claim: str | None) -> Outcome:
        if claim is not None and not self.parts.ledger.claim(claim, expect="pending_review", status="running"):
            now = self.parts.ledger.get(claim)
            raise Conflict(f"request {claim} is already being decided (an approval or rejection started and has not"
                           f" finished); `toolfoundry review show {claim}` tells its outcome"
                           if now is not None and now.status == "running" else  # its reason is still the pending one
                           f"request {claim} was decided meanwhile: it is {now.status if now else 'gone'}"
                           f"{f' ({now.reason})' if now and now.reason else ''}")
        follower = Follower(self.parts.audit, rid, on_event) if on_event is not None else None
        wid, call = (deliver_id(rid), args) if workflow == "deliver" else (rid, (rid, *args))
        try:
            if self.settings.queued and not is_runner(self.role, self.settings):
                return self._enqueued(workflow, rid, wid, call, claim)
            return self._here(workflow, wid, call)
        finally:
            if follower is not None:
                follower.stop()

    def _enqueued(self, workflow: Workflow, rid: str, wid: str, call: tuple[Any, ...], claim: str | None) -> Outcome:
        """A client's request: enqueued for the workers, and waited for."""
        try:
            handle = enqueue(self.settings, workflow, wid, call, partition=self._partition(call if workflow ==
                                                                                           "deliver" else call[1:]))
        except DatabaseError:
            if claim is not None:  # nothing was enqueued: the review is still to be decided
                self.parts.ledger.claim(claim, expect="running", status="pending_review")
            raise
        if not any(e.role == "worker" for e in self.executors()):
            self.progress(f"request {rid} is queued, and no worker is running on this home: it starts when one"
                          f" does (`toolfoundry worker`)")
        outcome: Outcome = handle.get_result(polling_interval_sec=0.05)
        return outcome

    def _here(self, workflow: Workflow, wid: str, call: tuple[Any, ...]) -> Outcome:
        """A request run by this process's DBOS: enqueued for any runner when this process is one (deliveries
        of a cluster on the forge queue), else started here in one of this process's slots."""
        from dbos import DBOS, SetEnqueueOptions, SetWorkflowID, WorkflowHandle
        with self.running() as pipeline:
            fn: Callable[..., Outcome] = getattr(pipeline, workflow)
            handle: WorkflowHandle[Outcome]
            if PROCESS.runner and workflow == "deliver" and self.settings.database.postgres:
                with SetWorkflowID(wid):
                    handle = DBOS.enqueue_workflow(FORGE_QUEUE, fn, *call)
                return handle.get_result(polling_interval_sec=0.02)
            if PROCESS.runner:
                partition = self._partition(call if workflow == "deliver" else call[1:])
                with SetWorkflowID(wid), SetEnqueueOptions(queue_partition_key=partition):
                    handle = DBOS.enqueue_workflow(QUEUE, fn, *call)
                return handle.get_result(polling_interval_sec=0.02)
            with PROCESS.slot(), SetWorkflowID(wid):
                return DBOS.start_workflow(fn, *call).get_result()

    @staticmethod
    def _partition(args: tuple[Any, ...]) -> str:
        """The requester a request's workflow runs for: its queue partition."""
        first = args[0]
        return first.requester if isinstance(first, Proposal) else str(args[1])

    def resume(self) -> list[RequestRow]:
        """Finish every interrupted request now (their dead executors' work handed on, then waited for), and end
        the ones that cannot finish; return the requests that were running, as they ended."""
        def work() -> list[RequestRow]:
            with self.running():
                return settle(self.parts, self.progress, live=self.executors)
        return off_loop(work)

    def interrupted(self) -> list[RequestRow]:
        """Requests left running by a process that died, when no live process could be finishing them."""
        rows = self.parts.ledger.with_status("running")
        return rows if rows and not self.executors() else []

    def executors_running(self) -> list[tuple[Executor, list[str]]]:
        """The live executors, each with the requests it is running (none are asked about when none is live)."""
        live = self.executors()
        running = running_by_executor(self.settings) if live else {}
        return [(e, running.get(e.id, [])) for e in live]

    def executors(self) -> list[Executor]:
        """The processes running this home's workflows now."""
        liveness = open_liveness(self.settings)
        try:
            return liveness.live()
        finally:
            liveness.release()
