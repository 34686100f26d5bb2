"""``Foundry``: the Python facade over a foundry home. The CLI, the MCP server and the UI all use it.

Owns the lifecycle of a home in this process: building the components from Settings, the home lock,
launching DBOS (which resumes interrupted requests) and settling them, and the audit events of actions
that are not workflow steps (init, calls, rollbacks, settling). It does not sequence stages — that is
``workflow.py`` — and it does not parse flags — that is ``cli.py``.

Durability across processes: only one process at a time runs workflows on a home (``<home>/.lock``);
others wait for it. Read-only commands take the lock only when a request was interrupted, to finish it.
A long-lived process (the MCP server, an agent) opens the home with ``hold_home=False``: it takes the
lock and launches DBOS only while one of its requests is running, so the CLI and the review UI can
work on the same home in between.

Example::

    from toolfoundry import Foundry

    with Foundry("~/.toolfoundry") as foundry:
        foundry.on_change(lambda change: print("new tools:", change.added))
        outcome = foundry.extend("convert Celsius to Fahrenheit")
        if outcome.status == "deployed":
            print(foundry.call("celsius_to_fahrenheit", celsius=37).result)
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from toolfoundry import settings as config
from toolfoundry.core import JSON, CallResult, Candidate, Example, Outcome, ReviewDecision
from toolfoundry.errors import NotInitialised, SandboxUnavailable, UsageError
from toolfoundry.forge import LocalForge
from toolfoundry.models import ModelSettings, load_model
from toolfoundry.models.types import Model
from toolfoundry.pipeline import workflow
from toolfoundry.sandbox import BwrapSandbox
from toolfoundry.sandbox.pool import WorkerPool
from toolfoundry.sandbox.types import RunReport
from toolfoundry.settings import CONFIG_NAME, DEFAULT_TOML, Settings
from toolfoundry.stages import contract
from toolfoundry.store.audit import AuditLog, Event, VerifyResult
from toolfoundry.store.changes import ChangeWatcher, ToolChange
from toolfoundry.store.ledger import Ledger, RequestRow
from toolfoundry.store.registry import DeployedTool, Registry
from toolfoundry.store.search import Match, ToolIndex
from toolfoundry.toolfile import code_digest
from toolfoundry.version import __version__

Listener = workflow.Listener


def new_request_id() -> str:
    """A sortable, readable, unique request id: ``YYYYmmddHHMMSS-xxxxxx``."""
    return f"{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def is_initialised(home: Path) -> bool:
    """True when ``home`` holds a foundry created by ``toolfoundry init``."""
    return (home / CONFIG_NAME).is_file() and (home / "tools.git" / "HEAD").is_file() \
        and (home / "foundry.db").is_file()


@dataclass(frozen=True, slots=True, kw_only=True)
class InitResult:
    """What ``init`` did."""

    home: Path
    created: bool
    """False when the home already existed (init is idempotent)."""
    sandbox_problem: str | None
    """Why the sandbox cannot run here, if it cannot; proposals and calls will refuse until fixed."""


# DBOS is a process-wide singleton: at most one home has it launched at a time. ``users`` counts the
# requests running workflows in this process (any Foundry object); ``_lease`` guards all three.
_launched: dict[str, Any] = {"home": None, "lock": None, "users": 0}
_lease = threading.Condition()


class Foundry:
    """A foundry home, opened. Use as a context manager or call ``close()``.

    ``home`` is a path (settings come from its ``toolfoundry.toml`` and the environment, as for the CLI),
    resolved ``Settings``, or None for ``$TOOLFOUNDRY_HOME`` / ``./.toolfoundry``. ``user`` is who
    requests and calls are recorded as (default ``$TOOLFOUNDRY_USER``, else the login name).
    ``hold_home=False`` releases the home's workflow lock whenever no request of this object is running
    (see the module docstring); calls, listings and ``on_change`` never need the lock.
    """

    def __init__(self, home: Settings | str | os.PathLike[str] | None = None, *, user: str | None = None,
                 hold_home: bool = True) -> None:
        if isinstance(home, Settings):
            settings = home if user is None else dataclasses.replace(home, user=user)
        else:
            path = config.default_home() if home is None else Path(home).expanduser()
            settings = config.load(path, user=user)
        if not is_initialised(settings.home):
            raise NotInitialised(f"{settings.home} is not a toolfoundry home; run `toolfoundry init`"
                                 f" (or pass --home / set TOOLFOUNDRY_HOME)")
        self.settings = settings
        self.forge = LocalForge(settings.repo)
        self.audit = AuditLog(settings.db, settings.home / "audit.head")
        self.ledger = Ledger(settings.db)
        self.registry = Registry(settings.db, self.forge)
        self.sandbox = BwrapSandbox(settings.sandbox)
        self._pool: WorkerPool | None = None  # warm sandboxes for calls, started on the first call
        self._pool_lock = threading.Lock()
        self._code: dict[tuple[str, int], tuple[str | None, str]] = {}  # (name, version) → (commit, code)
        self.index = ToolIndex(settings.db)
        self._models: dict[str, Model] = {}
        self._runtime = workflow.Runtime(settings=settings, sandbox=self.sandbox, forge=self.forge,
                                         audit=self.audit, registry=self.registry, ledger=self.ledger,
                                         index=self.index, models=self.model)
        self._progress: Callable[[str], None] = lambda message: None
        self._hold = hold_home
        self._watcher: ChangeWatcher | None = None
        self._watcher_lock = threading.Lock()

    # ── lifecycle ──────────────────────────────────────────────────────────────────────────────

    @staticmethod
    def init(settings: Settings) -> InitResult:
        """Create the home: bare tool repository with an initial commit, config, database. Idempotent."""
        home = settings.home
        created = not is_initialised(home)
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o700)  # the database, the repo and the held-out examples are nobody else's business
        if not (home / CONFIG_NAME).exists():
            (home / CONFIG_NAME).write_text(DEFAULT_TOML, encoding="utf-8")
        commit = LocalForge(settings.repo).init()
        audit = AuditLog(settings.db, home / "audit.head")
        Ledger(settings.db).close()
        Registry(settings.db, LocalForge(settings.repo)).close()
        audit.append("home.initialised", request_id=None, actor=settings.user,
                     data={"home": str(home), "initial_commit": commit, "version": __version__}, key="init")
        problem, layers = None, {}
        try:
            layers = BwrapSandbox(settings.sandbox).layers()
        except SandboxUnavailable as exc:
            problem = str(exc)
        audit.append("sandbox.checked", request_id=None, actor=settings.user, key=None,
                     data={"ok": problem is None, "problem": problem, "layers": layers})
        return InitResult(home=home, created=created, sandbox_problem=problem)

    def __enter__(self) -> Foundry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the warm sandboxes and DBOS if this foundry launched it, release the home lock, close the databases."""
        with self._watcher_lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        with _lease:
            if _launched["users"] == 0:  # another Foundry object of this process may be mid-request
                self._release()
        for model in self._models.values():
            close = getattr(model, "close", None)
            if callable(close):
                close()
        self._models.clear()
        self.index.close()
        self.ledger.close()
        self.registry.close()
        self.audit.close()

    def _release(self) -> None:
        """Shut DBOS down and unlock the home if it is launched for this home (``_lease`` held)."""
        if _launched["home"] != str(self.settings.home):
            return
        from dbos import DBOS
        DBOS.destroy(destroy_registry=False)
        workflow.install(None)
        lock: IO[str] = _launched["lock"]
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
        _launched.update(home=None, lock=None)

    @contextmanager
    def _working(self, *, wait: bool = True) -> Iterator[None]:
        """Hold DBOS launched (and the home locked) while the body runs workflows; ``wait=False`` goes on
        without them when another process has the home.

        With ``hold_home=False`` the last request to finish releases the home again, on a background
        thread (DBOS takes about a second to shut down); a request arriving meanwhile waits for it.
        """
        with _lease:
            _launched["users"] += 1
            try:
                self._launch(wait=wait)
            except BaseException:
                _launched["users"] -= 1
                raise
        try:
            yield
        finally:
            with _lease:
                _launched["users"] -= 1
                last = _launched["users"] == 0
            if last and not self._hold:
                threading.Thread(target=self._release_if_idle, name="toolfoundry-release", daemon=True).start()

    def _release_if_idle(self) -> None:
        with _lease:
            if _launched["users"] == 0:
                self._release()

    def on_progress(self, callback: Callable[[str], None]) -> None:
        """Receive one-line messages about long waits (the lock, resuming interrupted requests)."""
        self._progress = callback

    def _launch(self, *, wait: bool = True) -> bool:
        """Take the home lock and launch DBOS (resuming interrupted workflows); False if busy and not wait."""
        home = str(self.settings.home)
        if _launched["home"] == home:
            return True
        if _launched["home"] is not None:
            raise UsageError(f"another foundry ({_launched['home']}) is open in this process; close it first")
        lock = open(self.settings.home / ".lock", "a+", encoding="utf-8")  # noqa: SIM115 (held until close)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                lock.close()
                return False
            self._progress("waiting for another toolfoundry process working on this home…")
            fcntl.flock(lock, fcntl.LOCK_EX)
        from dbos import DBOS
        workflow.install(self._runtime)
        DBOS(config={"name": "toolfoundry", "application_version": __version__, "log_level": "WARNING",
                     "system_database_url": f"sqlite:///{self.settings.dbos_db}"})
        DBOS.launch()
        _launched.update(home=home, lock=lock)
        self._settle()
        return True

    def _settle(self) -> None:
        """Wait for every interrupted request to finish or park, so commands see a consistent home."""
        from dbos import DBOS
        for row in self.ledger.with_status("running"):
            self._progress(f"resuming interrupted request {row.id}…")
            for wid in (workflow.deliver_id(row.id), row.id):
                status = DBOS.get_workflow_status(wid)
                if status is None:
                    continue
                if status.status not in ("SUCCESS", "ERROR", "CANCELLED") and status.app_version == __version__:
                    DBOS.retrieve_workflow(wid).get_result()  # DBOS resumed it at launch; wait for it
                break
            after = self.ledger.get(row.id)
            if after is not None and after.status == "running":
                self._repair(row.id)

    def _repair(self, rid: str) -> None:
        """A request left 'running' whose workflow is not running: put it back where it truly is."""
        from dbos import DBOS
        validate = DBOS.get_workflow_status(rid)
        if validate is not None and validate.status == "SUCCESS" and DBOS.get_workflow_status(
                workflow.deliver_id(rid)) is None and isinstance(validate.output, Outcome) \
                and validate.output.status == "pending_review":
            self.ledger.update(rid, status="pending_review")  # an approval died before it was recorded
            return
        if validate is None:
            reason = "interrupted, and its workflow could not be resumed"
        elif validate.app_version != __version__:
            reason = (f"interrupted under toolfoundry {validate.app_version}; this is {__version__}, which does"
                      f" not resume another version's workflows — propose it again")
        else:
            reason = f"its workflow ended in {validate.status}: {validate.error!r}"[:500]
        self.ledger.update(rid, status="failed", reason=reason)
        self.audit.append("request.closed", request_id=rid, actor="foundry",
                          data={"status": "failed", "reason": reason}, key=f"{rid}:closed")

    def settle(self) -> None:
        """Finish any interrupted request (cheap when there is none); skip if another process is at work."""
        if self.ledger.with_status("running"):
            with self._working(wait=False):  # launching resumes and settles them
                pass

    # ── requests ───────────────────────────────────────────────────────────────────────────────

    def propose(self, candidate: Candidate, *, requester: str | None = None,
                on_event: Listener | None = None) -> Outcome:
        """Run a candidate through the whole workflow; returns deployed, rejected or pending_review."""
        self.sandbox.check()  # fail closed before anything is recorded
        return self._run(workflow.validate, candidate, requester, on_event)

    def model(self, spec: str | None = None) -> Model:
        """The model for ``provider:name`` (default: the configured one), built once per foundry."""
        spec = spec or self.settings.generation.model
        if not spec:
            raise UsageError("no model configured: pass --model PROVIDER:NAME, set TOOLFOUNDRY_MODEL, or set"
                             " [generation] model in toolfoundry.toml")
        if spec not in self._models:
            gen = self.settings.generation
            priced = gen.price_per_mtok_in > 0 or gen.price_per_mtok_out > 0
            self._models[spec] = load_model(spec, environ=self.settings.model_env, settings=ModelSettings(
                timeout_seconds=gen.timeout_seconds, max_retries=gen.max_retries,
                price_per_mtok_in=gen.price_per_mtok_in if priced else None,
                price_per_mtok_out=gen.price_per_mtok_out if priced else None))
        return self._models[spec]

    def request(self, description: str, *, examples: tuple[Example, ...] = (), holdout: tuple[Example, ...] = (),
                model: str | None = None, requester: str | None = None, reuse: bool = True,
                on_event: Listener | None = None) -> Outcome:
        """Have a model write the tool a description asks for; validate, review and deploy it like `propose`.

        If a deployed tool already fits (and ``reuse``), it is returned instead of generating a duplicate.
        Held-out examples judge the candidates but never reach the model.
        """
        if not description.strip():
            raise UsageError("describe the capability you need")
        spec = model or self.settings.generation.model
        self.model(spec)  # a bad model spec or missing key is a usage error before anything is recorded
        self.sandbox.check()
        gen = self.settings.generation
        need = workflow.Need(description=description.strip(), examples=examples, holdout=holdout,
                             model=spec or "", max_attempts=gen.max_attempts, token_budget=gen.token_budget,
                             reuse=reuse)
        return self._run(workflow.generate_tool, need, requester, on_event)

    def extend(self, need: str | Candidate, *, examples: tuple[Example, ...] = (),
               holdout: tuple[Example, ...] = (), model: str | None = None, requester: str | None = None,
               on_event: Listener | None = None) -> Outcome:
        """Get a capability into this home and tell everyone: the one call an agent makes when it lacks a tool.

        ``need`` is a description (a model writes the tool, as ``request``; a deployed tool that already
        fits is returned instead) or a ``Candidate`` the caller wrote (as ``propose``). When the outcome is
        ``deployed``, every ``on_change`` callback has already run by the time this returns, and
        ``call(outcome.tool.name, ...)`` works at once. A ``pending_review`` outcome deploys later, when a
        reviewer approves (``toolfoundry review approve ID``); ``on_change`` reports it then.
        """
        if isinstance(need, Candidate):
            if examples or holdout or model:
                raise UsageError("examples, holdout and model go inside the Candidate when proposing code")
            outcome = self.propose(need, requester=requester, on_event=on_event)
        else:
            outcome = self.request(need, examples=examples, holdout=holdout, model=model, requester=requester,
                                   on_event=on_event)
        return outcome  # _run has reported any change to on_change callbacks already

    def _run(self, fn: Any, payload: Any, requester: str | None, on_event: Listener | None) -> Outcome:
        """Start a request workflow under a new id and wait for its outcome, reporting events as they come."""
        with self._working():
            rid = new_request_id()
            outcome = self._workflow(rid, on_event, fn, rid, payload, requester or self.settings.user)
        self._changed()
        return outcome

    def _workflow(self, wid: str, on_event: Listener | None, fn: Any, *args: Any) -> Outcome:
        """Run the workflow ``fn(*args)`` under id ``wid`` and wait for it, reporting its events to ``on_event``.
        Call inside ``_working()``."""
        from dbos import DBOS, SetWorkflowID
        if on_event is not None:
            self._runtime.listeners.append(on_event)
        try:
            with SetWorkflowID(wid):
                handle = DBOS.start_workflow(fn, *args)
            outcome: Outcome = handle.get_result()
            return outcome
        finally:
            if on_event is not None:
                self._runtime.listeners.remove(on_event)

    def request_row(self, request_id: str) -> RequestRow:
        """A request by id or unique prefix; UsageError if none or ambiguous."""
        rows = self.ledger.find(request_id)
        exact = [r for r in rows if r.id == request_id]
        if exact:
            return exact[0]
        if not rows:
            raise UsageError(f"no request {request_id!r}")
        if len(rows) > 1:
            raise UsageError(f"{request_id!r} matches {len(rows)} requests: {', '.join(r.id for r in rows[:5])}")
        return rows[0]

    def pending(self) -> list[RequestRow]:
        """Requests waiting for a human, oldest first."""
        return self.ledger.with_status("pending_review")

    def review(self, request_id: str, *, approve: bool, reviewer: str, reason: str = "",
               on_event: Listener | None = None) -> Outcome:
        """Approve (merge and deploy) or reject a pending request. The requester may not review its own."""
        row = self.request_row(request_id)
        if row.status != "pending_review":
            raise UsageError(f"request {row.id} is {row.status}, not pending review")
        if reviewer == row.requester:
            raise UsageError(f"{reviewer} requested {row.id} and cannot review it; another person must"
                             f" (use --as NAME to say who is reviewing)")
        if not approve and not reason.strip():
            raise UsageError("a rejection needs a reason (--reason TEXT)")
        with self._working():
            from dbos import DBOS
            proposal = DBOS.get_event(row.id, "proposal", timeout_seconds=0)
            if not isinstance(proposal, workflow.Proposal):
                raise UsageError(f"request {row.id} has no recorded proposal to review")
            self.ledger.update(row.id, status="running")
            outcome = self._workflow(workflow.deliver_id(row.id), on_event, workflow.deliver, proposal,
                                     ReviewDecision(approve=approve, reviewer=reviewer, reason=reason))
        self._changed()
        return outcome

    # ── deployed tools ─────────────────────────────────────────────────────────────────────────

    def tools(self) -> list[DeployedTool]:
        """The active version of every deployed tool."""
        return self.registry.active()

    def search(self, query: str, *, limit: int = 5) -> list[Match]:
        """Deployed tools that fit a free-text need, best first (SQLite FTS5, bm25); [] when none does."""
        if not 1 <= limit <= 100:
            raise UsageError("limit must be between 1 and 100")
        self.index.rebuild(self.tools())
        return self.index.search(query, limit=limit)

    def on_change(self, callback: Callable[[ToolChange], None]) -> Callable[[], None]:
        """Call ``callback(change)`` whenever a tool is deployed, updated or rolled back — by this object or
        by any other process on the home (a CLI approval, another agent). Returns a function that stops it.

        Changes made through this object are reported before the call that made them returns; changes
        from elsewhere within about ``interval`` (0.25 s) on a background thread, so keep callbacks short
        and thread-safe. A callback that raises is logged and does not stop the others.
        """
        return self._changes().subscribe(callback)

    def _changes(self) -> ChangeWatcher:
        with self._watcher_lock:
            if self._watcher is None:
                self._watcher = ChangeWatcher(self.settings.db)
            return self._watcher

    def _changed(self) -> None:
        """Report a change this object may just have made to on_change callbacks, without waiting for a poll."""
        with self._watcher_lock:
            watcher = self._watcher
        if watcher is not None:
            watcher.check()

    def call(self, name: str, args: Mapping[str, JSON] | None = None, /, *, caller: str | None = None,
             **kwargs: JSON) -> CallResult:
        """Call a deployed tool in the sandbox: the reviewed bytes, hash-checked, never in this process.

        Arguments go as keywords (``call("add", a=1, b=2)``) or as one mapping (``call("add", {"a": 1})``),
        which is also how to pass an argument named ``caller``. ``caller`` is who the audit log records.
        A tool that raises, times out or returns the wrong type gives ``ok=False`` with ``error``; bad
        arguments raise ``UsageError``.
        """
        if args is not None and kwargs:
            raise UsageError("pass the arguments either as a mapping or as keywords, not both")
        args = dict(args if args is not None else kwargs)
        self.sandbox.check()
        # the registry row says which version and which reviewed sha256; the code is read from git once
        # per (name, version) and its hash checked against the registry's record on every call
        tool = self.registry.get(name)
        cached = self._code.get((name, tool.ref.version)) if tool is not None else None
        if tool is not None and cached is not None and cached[0] == tool.ref.commit \
                and code_digest(cached[1]) == tool.ref.sha256:
            code = cached[1]
        else:
            loaded = self.registry.load(name)
            tool, code = loaded.tool, loaded.code
            self._code[(name, tool.ref.version)] = (tool.ref.commit, code)
        spec = tool.spec
        problems = contract.validate(spec["args_schema"], args)
        if problems:
            raise UsageError(f"arguments for {name}{spec['signature']}: {'; '.join(problems)}")
        with self._pool_lock:
            if self._pool is None:
                self._pool = WorkerPool(self.sandbox, self.settings.pool)
            pool = self._pool
        start = time.perf_counter()
        report = pool.call(key=(tool.ref.name, tool.ref.version, tool.ref.sha256), code=code,
                           function=str(spec["function"]), args=args, permissions=tool.permissions,
                           limits=self.settings.call_limits)
        ms = (time.perf_counter() - start) * 1000
        result = _call_result(report, spec)
        error = result.error
        refused = list(report.net_refusals)
        if error is not None and refused:  # the caller learns why the tool could not reach a host
            error = {**error, "message": f"{error.get('message', '')} (the egress proxy refused: "
                                         f"{'; '.join(refused)})"[:2000], "net_refused": list(refused)}
        result = CallResult(ok=result.ok, result=result.result, error=error, tool=tool.ref, ms=ms)
        self.audit.append("call", request_id=tool.request_id, actor=caller or self.settings.user, data={
            **tool.ref.to_json(), "ok": result.ok, "ms": round(ms, 2),
            "args_sha256": hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest(),
            "error": result.error, **({"net_refused": list(refused)} if refused else {})})
        return result

    def rollback(self, name: str, to: int | None = None, *, actor: str | None = None) -> DeployedTool:
        """Make an earlier version of ``name`` the active one; audited."""
        old, new = self.registry.rollback(name, to)
        self.registry.load(name)  # the version we roll back to must still load with its reviewed hash
        self.audit.append("rollback", request_id=new.request_id, actor=actor or self.settings.user,
                          data={"name": name, "from": old.ref.version, "to": new.ref.version,
                                "sha256": new.ref.sha256, "commit": new.ref.commit})
        self._changed()
        return new

    def record_agent_run(self, *, task: str, model: str, result_json: dict[str, JSON]) -> None:
        """Audit an agent's transcript, linked to the capability requests it made."""
        self.audit.append("agent.run", request_id=None, actor=self.settings.user,
                          data={"task": task[:2000], "model": model, **result_json})

    # ── audit ──────────────────────────────────────────────────────────────────────────────────

    def verify(self) -> VerifyResult:
        """Check the audit chain."""
        return self.audit.verify()

    def events(self, request_id: str | None = None) -> list[Event]:
        """Audit events, optionally of one request (id or unique prefix)."""
        if request_id is not None:
            request_id = self.request_row(request_id).id
        return self.audit.events(request_id=request_id)


def _call_result(report: RunReport, spec: dict[str, JSON]) -> CallResult:
    """Turn the sandbox's report for one case into a CallResult; the result must match the declared schema."""
    if report.timed_out:
        return CallResult(ok=False, error={"type": "Timeout", "message": "the call exceeded its wall-clock limit"})
    if len(report.cases) != 1 or report.problems:
        detail = "; ".join(report.problems) or "no result came back"
        return CallResult(ok=False, error={"type": "SandboxProtocolError", "message": detail[:500]})
    case = report.cases[0]
    if not case.ok:
        return CallResult(ok=False, error={"type": case.error_type or "Error", "message": case.error_message})
    problems = contract.validate(spec["result_schema"], case.value)
    if problems:
        return CallResult(ok=False, error={"type": "BadResult",
                                           "message": f"result does not match {spec['signature']}: "
                                                      + "; ".join(problems)[:400]})
    return CallResult(ok=True, result=case.value)


@contextmanager
def opened(settings: Settings) -> Iterator[Foundry]:
    """``with opened(settings) as foundry:`` — open, settle interrupted requests, close."""
    foundry = Foundry(settings)
    try:
        yield foundry
    finally:
        foundry.close()
