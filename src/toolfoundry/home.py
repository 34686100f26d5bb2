"""A foundry home: its paths, creating it, its parts, and running its durable workflows in this process.

A home is a directory: ``toolfoundry.toml``, ``tools.git`` (the bare tool repository), ``foundry.db``
(ledger, registry, audit log, search index), ``audit.head`` (the audit chain's anchor) and
``dbos.sqlite`` (DBOS's checkpoints). :class:`Home` owns creating it (:meth:`Home.init`), telling what
part of it is missing, opening its :class:`~toolfoundry.pipeline.steps.Parts`, and the DBOS lifecycle:
launching DBOS with the home's :class:`~toolfoundry.pipeline.workflow.Pipeline` (which resumes
interrupted requests), settling them (``pipeline/recovery.py``), and shutting DBOS down again.

One process at a time runs a home's workflows: the one holding ``<home>/.lock``; the others wait for
it. DBOS is a process-wide singleton, so a process has at most one launched home; :data:`_PROCESS`
says which, and how many requests of this process are using it. ``hold=False`` gives the home back
(DBOS shut down, the lock released, on a background thread) once no request of this process runs,
so a long-lived process never keeps the CLI waiting. It does not sequence stages (the workflow does).
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, TypeVar

from toolfoundry.core import Outcome
from toolfoundry.errors import Conflict, NotInitialised, SandboxUnavailable, UsageError
from toolfoundry.forge import init_forge, open_forge
from toolfoundry.health import refuse_to_paper_over, why_not_open
from toolfoundry.models.cache import ModelCache
from toolfoundry.models.types import Model
from toolfoundry.pipeline.bus import Bus, Listener
from toolfoundry.pipeline.cancel import unless_cancelled
from toolfoundry.pipeline.names import QUEUE, deliver_id
from toolfoundry.pipeline.parts import Parts
from toolfoundry.pipeline.recovery import settle
from toolfoundry.sandbox.bwrap import BwrapSandbox
from toolfoundry.settings import CONFIG_NAME, DEFAULT_TOML, Settings
from toolfoundry.store.audit import AuditLog
from toolfoundry.store.ledger import Ledger
from toolfoundry.store.registry import Registry
from toolfoundry.store.search import ToolIndex
from toolfoundry.version import __version__

if TYPE_CHECKING:
    from toolfoundry.pipeline.workflow import Pipeline

Workflow = Literal["validate", "generate", "deliver"]
"""The request workflows of the pipeline."""
Progress = Callable[[str], None]
"""Receives one-line messages about long waits (the home lock, resuming interrupted requests)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InitResult:
    """What ``init`` did."""

    home: Path
    created: bool
    """False when the home already existed (init is idempotent)."""
    sandbox_problem: str | None
    """Why the sandbox cannot run here, if it cannot; proposals and calls will refuse until fixed."""


def missing(home: Path) -> list[str]:
    """What a home lacks to be one made by ``toolfoundry init``; empty when it is complete."""
    gaps = []
    if not home.is_dir():
        return [f"{home} does not exist"]
    if not (home / CONFIG_NAME).is_file():
        gaps.append(f"{CONFIG_NAME} is missing")
    if not (home / "tools.git" / "HEAD").is_file():
        gaps.append("the tool repository tools.git is missing or damaged")
    if not (home / "foundry.db").is_file():
        gaps.append("the database foundry.db is missing")
    return gaps


def open_parts(settings: Settings, models: Callable[[str], Model], bus: Bus | None = None) -> Parts:
    """The stores, forge and sandbox of a home, opened in this process."""
    forge = open_forge(settings.forge, settings.repo)
    return Parts(sandbox=BwrapSandbox(settings.sandbox), forge=forge,
                 audit=AuditLog(settings.db, settings.home / "audit.head"), registry=Registry(settings.db, forge),
                 ledger=Ledger(settings.db), index=ToolIndex(settings.db), models=models, bus=bus or Bus(),
                 policy=settings.policy, generation=settings.generation, test_limits=settings.test_limits,
                 checks=settings.checks, crash_after=settings.crash_after)


def close_parts(parts: Parts) -> None:
    """Close what :func:`open_parts` opened."""
    for store in (parts.index, parts.ledger, parts.registry, parts.audit):
        store.close()


T = TypeVar("T")


def off_loop(work: Callable[[], T]) -> T:
    """``work()`` here, or on a thread of its own when this thread runs an event loop; its exception is re-raised."""
    import asyncio  # here: a command that never reaches an event loop does not import it

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    done: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(work())
        except BaseException as exc:  # handed back to the caller below
            failed.append(exc)

    thread = threading.Thread(target=run, name="toolfoundry-off-loop")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return done[0]


class _Launched:
    """This process's launched home (DBOS is one per process): its pipeline, its lock, the requests using it."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.home: Path | None = None
        self.pipeline: Pipeline | None = None
        self.lock: IO[str] | None = None
        self.users = 0


_PROCESS = _Launched()


class Home:
    """An initialised foundry home, opened in this process."""

    def __init__(self, settings: Settings, *, hold: bool = True) -> None:
        gaps = missing(settings.home)
        if gaps:
            raise NotInitialised(why_not_open(settings.home, gaps))  # never made, or which part is damaged
        self.settings = settings
        self._hold = hold
        self.progress: Progress = lambda message: None
        self.models = ModelCache(settings.model_env, settings.generation.model_settings())
        self.parts = open_parts(settings, self.models)

    @staticmethod
    def init(settings: Settings) -> InitResult:
        """Create the home: bare tool repository with an initial commit, config, database. Idempotent."""
        home = settings.home
        if home.exists() and not home.is_dir():
            raise UsageError(f"{home} exists and is not a directory; choose another --home")
        refuse_to_paper_over(home)  # a lost part is restored from a backup, not recreated empty
        created = bool(missing(home))
        try:
            home.mkdir(parents=True, exist_ok=True)
            home.chmod(0o700)  # the database, the repo and the held-out examples are nobody else's business
            if not (home / CONFIG_NAME).exists():
                (home / CONFIG_NAME).write_text(DEFAULT_TOML, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot create the home {home}: {exc.strerror}") from None
        commit = init_forge(settings.forge, settings.repo)
        parts = open_parts(settings, ModelCache(settings.model_env, settings.generation.model_settings()))
        try:
            parts.audit.append("home.initialised", request_id=None, actor=settings.user,
                               data={"home": str(home), "initial_commit": commit, "version": __version__}, key="init")
            problem, layers = None, {}
            try:
                layers = parts.sandbox.layers()
            except SandboxUnavailable as exc:
                problem = str(exc)
            parts.audit.append("sandbox.checked", request_id=None, actor=settings.user, key=None,
                               data={"ok": problem is None, "problem": problem, "layers": layers})
        finally:
            close_parts(parts)
        return InitResult(home=home, created=created, sandbox_problem=problem)

    def close(self) -> None:
        """Give the home back if no request of this process still runs on it; close this object's parts."""
        with _PROCESS.cond:
            if _PROCESS.users == 0:
                self._release()
        self.models.close()
        close_parts(self.parts)

    # ── running workflows ──────────────────────────────────────────────────────────────────────

    @contextlib.contextmanager
    def running(self, *, wait: bool = True) -> Iterator[Pipeline | None]:
        """The home's pipeline, launched in this process for the body (None when busy and not ``wait``).

        Takes the home lock and launches DBOS (resuming interrupted requests and settling them) if this
        process does not have it yet. With ``hold=False`` the last request to finish gives the home back.
        """
        with _PROCESS.cond:
            _PROCESS.users += 1
            try:
                launched = self._launch(wait=wait)
            except BaseException:
                _PROCESS.users -= 1
                raise
        try:
            yield _PROCESS.pipeline if launched else None
        finally:
            with _PROCESS.cond:
                _PROCESS.users -= 1
                last = _PROCESS.users == 0
            if last and not self._hold:
                threading.Thread(target=self._release_if_idle, name="toolfoundry-release", daemon=True).start()

    def run(self, workflow: Workflow, rid: str, args: tuple[Any, ...], on_event: Listener | None, *,
            claim: str | None = None) -> Outcome:
        """Run a request workflow from the queue under its id and wait for the outcome, telling ``on_event``
        each event of this request only. ``claim``: the pending request a review must win first (``Conflict``
        when another decision won). Called where an event loop runs (a notebook, an async app), the wait
        happens on a thread of its own: DBOS's blocking calls refuse to run beside a loop."""
        return off_loop(lambda: unless_cancelled(self.parts, rid, lambda: self._run(workflow, rid, args, on_event, claim)))

    def _run(self, workflow: Workflow, rid: str, args: tuple[Any, ...], on_event: Listener | None,
             claim: str | None) -> Outcome:
        from dbos import DBOS, SetWorkflowID, WorkflowHandle
        with self.running() as pipeline:
            assert pipeline is not None
            if claim is not None and not pipeline.parts.ledger.claim(claim, expect="pending_review", status="running"):
                now = pipeline.parts.ledger.get(claim)
                raise Conflict(f"request {claim} is already being decided (an approval or rejection started and has not"
                               f" finished); `toolfoundry review show {claim}` tells its outcome"
                               if now is not None and now.status == "running" else  # its reason is still the pending one
                               f"request {claim} was decided meanwhile: it is {now.status if now else 'gone'}"
                               f"{f' ({now.reason})' if now and now.reason else ''}")
            stop = pipeline.parts.bus.subscribe(rid, on_event) if on_event is not None else None
            try:
                fn: Callable[..., Outcome] = getattr(pipeline, workflow)
                with SetWorkflowID(deliver_id(rid) if workflow == "deliver" else rid):
                    handle: WorkflowHandle[Outcome] = DBOS.enqueue_workflow(
                        QUEUE, fn, *((rid, *args) if workflow != "deliver" else args))
                return handle.get_result(polling_interval_sec=0.02)
            finally:
                if stop is not None:
                    stop()

    def settle(self) -> None:
        """Finish any interrupted request (cheap when there is none); skip if another process is at work."""
        if self.parts.ledger.with_status("running"):
            off_loop(self._settle)

    def _settle(self) -> None:
        with self.running(wait=False):  # launching resumes and settles them
            pass

    def _launch(self, *, wait: bool) -> bool:
        """Take the home lock and launch DBOS with the pipeline (``_PROCESS.cond`` held)."""
        if _PROCESS.home == self.settings.home:
            return True
        if _PROCESS.home is not None:
            raise UsageError(f"another foundry ({_PROCESS.home}) is open in this process; close it first")
        lock = open(self.settings.home / ".lock", "a+", encoding="utf-8")  # noqa: SIM115 (held until released)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                lock.close()
                return False
            self.progress("waiting for another toolfoundry process working on this home…")
            fcntl.flock(lock, fcntl.LOCK_EX)
        from dbos import DBOS

        from toolfoundry.pipeline.workflow import Pipeline
        DBOS(config={"name": "toolfoundry", "application_version": __version__, "log_level": "WARNING",
                     "system_database_url": f"sqlite:///{self.settings.dbos_db}"})
        # the pipeline shares this home's models: a scripted model replays one script for the agent and its requests
        pipeline = Pipeline(open_parts(self.settings, self.models))  # registered before launch, for recovery
        _PROCESS.home, _PROCESS.pipeline, _PROCESS.lock = self.settings.home, pipeline, lock
        try:
            DBOS.launch()
            DBOS.register_queue(QUEUE, worker_concurrency=self.settings.pipeline.concurrency,
                                polling_interval_sec=self.settings.pipeline.poll_seconds)
            settle(self.parts, self.progress)
        except BaseException:
            self._release()  # nothing half-launched is left behind: DBOS down, the lock given back
            raise
        return True

    def _release_if_idle(self) -> None:
        with _PROCESS.cond:
            if _PROCESS.users == 0:
                self._release()

    def _release(self) -> None:
        """Shut DBOS down and unlock the home, if it is this home that is launched (``_PROCESS.cond`` held)."""
        if _PROCESS.home != self.settings.home or _PROCESS.pipeline is None:
            return
        from dbos import DBOS

        from toolfoundry.pipeline.durable import unregister
        DBOS.destroy(destroy_registry=False)
        unregister(_PROCESS.pipeline)
        close_parts(_PROCESS.pipeline.parts)
        if _PROCESS.lock is not None:
            fcntl.flock(_PROCESS.lock, fcntl.LOCK_UN)
            _PROCESS.lock.close()
        _PROCESS.home = _PROCESS.pipeline = _PROCESS.lock = None
