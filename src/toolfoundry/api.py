"""``Foundry``: the Python facade over a foundry home. The CLI, the MCP server and the UI all use it, and only it.

It composes the parts below and hides them — the :class:`~toolfoundry.home.Home` (the durable workflows),
the :class:`~toolfoundry.calls.Calls` path, the change watcher — and reads as the list of what a Foundry
does: open and close a home, run requests (propose, request, extend, review, cancel) here; the deployed
tools (list, search, call, roll back: ``facade/tools.py``) and the records (requests, diffs, the audit log:
``facade/records.py``) are method groups it is made of. Requests run from the home's queue, several at
once; each ``on_event`` listener hears only its own request. It does not sequence stages or parse flags.
Example: ``with Foundry("~/.toolfoundry") as f: print(f.extend("convert °C to °F").status)``.
"""
from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolfoundry import batch
from toolfoundry.calls import Calls
from toolfoundry.core import Candidate, Example, Need, Outcome
from toolfoundry.errors import AccessDenied, Conflict, UsageError
from toolfoundry.facade.records import RecordMethods
from toolfoundry.facade.tools import ToolMethods
from toolfoundry.home import Home, InitResult, Workflow
from toolfoundry.models.types import Model
from toolfoundry.pipeline.cancel import cancel as cancel_request
from toolfoundry.pipeline.cancel import leave as leave_requests
from toolfoundry.pipeline.cancel import stop_with_client
from toolfoundry.pipeline.events import Listener
from toolfoundry.pipeline.executors import Executor
from toolfoundry.pipeline.names import new_request_id
from toolfoundry.runtime import Role
from toolfoundry.settings import Settings, default_home, load
from toolfoundry.store.changes import ChangeWatcher
from toolfoundry.store.ledger import RequestRow

if TYPE_CHECKING:
    from toolfoundry.pipeline.sync import Synced
from toolfoundry.trust import Asked, Trust

__all__ = ["Foundry", "InitResult", "new_request_id"]

class Foundry(RecordMethods, ToolMethods):
    """A foundry home, opened. Use as a context manager or call ``close()``.

    ``home`` is a path (settings come from its ``toolfoundry.toml`` and the environment, as for the CLI),
    resolved ``Settings``, or None for ``$TOOLFOUNDRY_HOME`` / ``./.toolfoundry``. ``user`` is who
    requests and calls are recorded as (default ``$TOOLFOUNDRY_USER``, else the login name).
    ``hold_home=False`` gives DBOS back whenever no request of this object runs. ``role``: how this process
    takes part (``runtime.py``): ``api``/``cli`` run their own requests, ``serve``/``ui``/``worker`` anyone's.
    ``token``: act as that principal, with its scopes (``trust/``), instead of as the local ``user``.
    """

    def __init__(self, home: Settings | str | os.PathLike[str] | None = None, *, user: str | None = None,
                 hold_home: bool = True, role: Role = "api", command: str = "", token: str | None = None) -> None:
        if isinstance(home, Settings):
            settings = home if user is None else dataclasses.replace(home, user=user)
        else:
            settings = load(default_home() if home is None else Path(home).expanduser(), user=user)
        self.settings = settings
        self._home = Home(settings, hold=hold_home, role=role, command=command)
        self._parts = self._home.parts
        self._calls = Calls(self._parts, pool=settings.pool, limits=settings.call_limits)
        self.trust = Trust(settings, self._parts, token=token)  # who acts: the token's principal, else the local user
        self._watcher: ChangeWatcher | None = None
        self._watcher_lock = threading.Lock()

    @staticmethod
    def init(settings: Settings) -> InitResult:
        """Create the home: bare tool repository with an initial commit, config, database. Idempotent."""
        return Home.init(settings)

    def __enter__(self) -> Foundry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the watcher and the warm sandboxes, give the home back, close the databases."""
        with self._watcher_lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()
        self._calls.close()
        self.trust.close()
        self._home.close()

    def on_progress(self, callback: Callable[[str], None]) -> None:
        """Receive one-line messages about long waits (the home lock, resuming interrupted requests)."""
        self._home.progress = callback

    def resume(self) -> list[RequestRow]:
        """Finish every interrupted request now (and end those that cannot finish); returns them as they ended."""
        return self._home.resume()

    def interrupted(self) -> list[RequestRow]:
        """Requests left running by a process that died and that no live process is finishing yet."""
        return self._home.interrupted()

    def serve_queue(self, slots: int | None = None) -> Executor:
        """Run this home's queued requests in this process, ``slots`` at once, until ``close`` (a worker)."""
        return self._home.serve_queue(slots)

    def executors(self) -> list[tuple[Executor, list[str]]]:
        """The processes running this home's workflows now, each with the requests it runs (``toolfoundry workers``)."""
        return self._home.executors_running()

    # ── requests ───────────────────────────────────────────────────────────────────────────────

    def propose(self, candidate: Candidate, *, requester: str | None = None,
                on_event: Listener | None = None) -> Outcome:
        """Run a candidate through the whole workflow; returns deployed, rejected or pending_review."""
        requester = self.trust.actor("propose", requester)  # a token's principal, with the scope, or refused
        self._parts.sandbox.check()  # fail closed before anything is recorded
        return self._run("validate", new_request_id(), (candidate, requester), on_event)

    def propose_many(self, candidates: Sequence[Candidate], *, jobs: int | None = None, requester: str | None = None,
                     on_event: Listener | None = None) -> list[Outcome]:
        """``propose`` each candidate, ``jobs`` at once (default ``[pipeline] concurrency``); the outcomes in the
        given order. ``on_event`` hears every request's events (``event.request_id`` says whose), from several
        threads. Two candidates for one tool name are a ``UsageError`` before anything is proposed (``batch.py``)."""
        batch.check_distinct(candidates)
        self._parts.sandbox.check()
        return batch.run_all(candidates, lambda c: self.propose(c, requester=requester, on_event=on_event),
                             jobs=jobs or self.settings.pipeline.concurrency)

    def request(self, description: str, *, examples: tuple[Example, ...] = (), holdout: tuple[Example, ...] = (),
                model: str | None = None, requester: str | None = None, reuse: bool = True,
                on_event: Listener | None = None) -> Outcome:
        """Have a model write the tool a description asks for, then the same gate as `propose`. A deployed tool
        that already fits is returned instead (``reuse``); held-out examples judge but never reach the model."""
        requester = self.trust.actor("request", requester)
        if not description.strip():
            raise UsageError("describe the capability you need")
        spec = model or self.settings.generation.model
        self.model(spec)  # a bad model spec or missing key is a usage error before anything is recorded
        self._parts.sandbox.check()
        gen = self.settings.generation
        need = Need(description=description.strip(), examples=examples, holdout=holdout, model=spec,
                    max_attempts=gen.max_attempts, token_budget=gen.token_budget, reuse=reuse)
        return self._run("generate", new_request_id(), (need, requester), on_event)

    def extend(self, need: str | Candidate, *, examples: tuple[Example, ...] = (),
               holdout: tuple[Example, ...] = (), model: str | None = None, requester: str | None = None,
               on_event: Listener | None = None) -> Outcome:
        """The one call an agent makes when it lacks a tool: ``need`` is a description (as ``request``) or a
        ``Candidate`` (as ``propose``). A ``deployed`` outcome has been told to every ``on_change`` callback
        and can be called at once; a ``pending_review`` one deploys when a reviewer approves."""
        if isinstance(need, Candidate):
            if examples or holdout or model:
                raise UsageError("examples, holdout and model go inside the Candidate when proposing code")
            return self.propose(need, requester=requester, on_event=on_event)
        return self.request(need, examples=examples, holdout=holdout, model=model, requester=requester,
                            on_event=on_event)

    def review(self, request_id: str, *, approve: bool, reviewer: str | None = None, reason: str = "",
               signature: str | None = None, on_event: Listener | None = None) -> Outcome:
        """Approve (merge and deploy) or reject a pending request. ``signature``: the reviewer's SSH signature
        (``trust.sign``); unsigned only in an open home or with an admin token. Never by the requester."""
        row = self.request_row(request_id)
        if row.status == "running" and row.proposal is not None:  # another decision is being carried out
            raise Conflict(f"request {row.id} is already being decided (an approval or rejection started and has not"
                           f" finished); `toolfoundry review show {row.id}` tells its outcome")
        if row.status != "pending_review":
            raise Conflict(f"request {row.id} is {row.status}, not pending review")
        proposal = row.the_proposal()
        if proposal is None:
            raise UsageError(f"request {row.id} has no recorded proposal to review (it was made by an earlier"
                             f" release of toolfoundry); propose it again")
        decision = self.trust.decide(Asked(proposal=proposal, approve=approve, reviewer=reviewer, reason=reason,
                                           signature=signature))  # signer, requester, role: trust/approvals.py
        return self._run("deliver", row.id, (proposal, decision), on_event, claim=row.id)

    def sync_reviews(self) -> list[Synced]:
        """Decide the requests pending on a GitHub forge by their pull requests' reviews and required check
        (``pipeline/sync.py``): an approval or a rejection goes through :meth:`review` as ``github:<login>``."""
        from toolfoundry.pipeline.sync import read_pending
        done = []
        for seen in read_pending(self._parts, self.pending()):
            if seen.action in ("approve", "reject"):
                try:
                    outcome = self.review(seen.request_id, approve=seen.action == "approve", reviewer=seen.reviewer,
                                          reason=seen.reason)
                    seen = dataclasses.replace(seen, status=outcome.status, reason=outcome.reason)
                except Conflict as exc:  # decided meanwhile, by a person or another sync
                    seen = dataclasses.replace(seen, action="conflict", reason=str(exc), status="")
            done.append(seen)
        return done

    def _run(self, workflow: Workflow, rid: str, args: tuple[Any, ...], on_event: Listener | None, *,
             claim: str | None = None) -> Outcome:
        outcome = self._home.run(workflow, rid, args, on_event, claim=claim)
        self._changed()
        return outcome

    def model(self, spec: str | None = None) -> Model:
        """The model for ``provider:name`` (default: the configured one), built once per foundry."""
        spec = spec or self.settings.generation.model
        if not spec:
            raise UsageError("no model configured: pass --model PROVIDER:NAME, set TOOLFOUNDRY_MODEL, or set"
                             " [generation] model in toolfoundry.toml")
        return self._home.models(spec)

    def cancel(self, request_id: str, *, actor: str | None = None) -> Outcome:
        """Stop a running or pending request at its next step boundary: ``cancelled``, audited. One already approved,
        merged or ended stays as it is, and the outcome's reason says so (``pipeline/cancel.py``). A foundry bound
        to a token cancels only its principal's own requests, unless the token may review or administer."""
        row, who = self.request_row(request_id), self.trust.identity
        if who is not None and who.name != row.requester and not {"review", "admin"} & set(who.scopes):
            raise AccessDenied(f"{who.name} may not cancel request {row.id}: {row.requester} made it; only its"
                               f" requester, a reviewer or an admin may")
        return cancel_request(self._parts, row, actor=who.name if who else actor or self.settings.user,
                              stop=stop_with_client(self.settings.system_database_url))

    def leave(self, request_ids: Iterable[str]) -> list[str]:
        """Before this process exits with ``request_ids`` still running here: audit each as left to its durable
        workflow (it resumes in the next live process on the home) and return those ids. Exit soon after."""
        return leave_requests(self._parts, request_ids, actor=self.settings.user)
