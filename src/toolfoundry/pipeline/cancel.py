"""Cancelling a request, and leaving one behind for its durable workflow when the process running it exits.

A request can be cancelled until it commits. Three steps commit: ``review`` (a decision to merge or not,
by the policy or a person — the first step of delivery), ``pending`` (parking it for a human) and
``finish`` (ending it). Each first settles the request's fate as ``final`` (:func:`commit`); a cancel
settles it as ``cancel``. That is one compare-and-set on the ledger row, so exactly one side wins: a
cancelled request never merges, and one that was approved or merged is never called cancelled (the
canceller is told it came too late, and why). The winning cancel ends the request as ``cancelled``
(ledger and audit, with who cancelled it), then stops its workflow through DBOS, which stops at the next
step boundary: a step already running finishes, the next one does not start. A request parked for a
human is cancelled by the same compare-and-swap on its status that a review uses. A workflow that
reaches a commit point after a cancel won (the canceller died before stopping it) ends as cancelled itself.

Leaving: a process that exits while it still runs requests (``toolfoundry serve`` when its client goes)
does not wait for them; :func:`leave` audits each as left, and its workflow resumes from the last
completed step in the next live process on the home. Nothing here sequences stages.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import replace

from toolfoundry.core import TERMINAL, Outcome, ToolRef, Verdict
from toolfoundry.errors import Cancelled
from toolfoundry.pipeline import events
from toolfoundry.pipeline.names import deliver_id
from toolfoundry.pipeline.parts import Parts
from toolfoundry.store.ledger import RequestRow

__all__ = ["cancel", "commit", "committed", "end_cancelled", "leave", "outcome_of", "stop_with_client",
           "unless_cancelled"]

Stop = Callable[[list[str]], None]
"""Stops the DBOS workflows with these ids at their next step boundary."""


def commit(parts: Parts, rid: str) -> bool:
    """Called by a committing step before it acts: False when a cancel won first (the step must not act)."""
    return parts.ledger.settle_fate(rid, "final") != "cancel"


def committed(parts: Parts, rid: str) -> None:
    """:func:`commit`, raising :class:`Cancelled` (caught by the workflow, which then finishes) when it lost."""
    if not commit(parts, rid):
        raise Cancelled(f"request {rid} was cancelled")


def cancel(parts: Parts, row: RequestRow, *, actor: str, stop: Stop) -> Outcome:
    """Cancel the request ``row`` on behalf of ``actor``; the outcome says what became of it (``cancelled``, or
    its own status with the reason it could not be cancelled)."""
    rid = row.id
    if row.status in TERMINAL:
        return _too_late(row, f"it had already ended: {row.status}")
    if row.status == "pending_review":
        if parts.ledger.claim(rid, expect="pending_review", status="cancelled"):
            return end_cancelled(parts, rid, actor, f"cancelled by {actor} while it waited for review")
        now = parts.ledger.get(rid) or row
        return _too_late(now, f"a review decided it first: it is {now.status}")
    if parts.ledger.settle_fate(rid, "cancel") != "cancel":
        now = parts.ledger.get(rid) or row
        merged = parts.registry.by_request(rid) is not None or _merged(parts, rid)
        return _too_late(now, "it had already merged: the tool is deployed or being deployed" if merged else
                         "it was already approved, parked for review or closing")
    outcome = end_cancelled(parts, rid, actor, f"cancelled by {actor}")  # before the stop: waiters read this
    stop([rid, deliver_id(rid)])
    return outcome


def end_cancelled(parts: Parts, rid: str, actor: str, reason: str, stages: tuple[Verdict, ...] = ()) -> Outcome:
    """End ``rid`` as cancelled, in the audit log and the ledger. The canceller does it, or the workflow itself;
    whoever comes second writes what the first recorded."""
    event = events.Closed(request_id=rid, actor=actor, status="cancelled", reason=reason)
    first = parts.audit.append(event.kind, request_id=rid, actor=actor, data=event.data(), key=f"{rid}:{event.key()}")
    outcome = Outcome(request_id=rid, status="cancelled", tool=None, stages=stages,
                      reason=str(first.data.get("reason", reason)))
    parts.ledger.update(rid, status="cancelled", reason=outcome.reason, outcome=outcome.to_json())
    return outcome


def outcome_of(parts: Parts, rid: str) -> Outcome:
    """The request's outcome as the ledger records it: what a waiter gets when the workflow was cancelled."""
    row = parts.ledger.get(rid)
    if row is None:
        return Outcome(request_id=rid, status="cancelled", tool=None, stages=(), reason="cancelled")
    return _as_outcome(row)


def unless_cancelled(parts: Parts, rid: str, wait: Callable[[], Outcome]) -> Outcome:
    """``wait()`` for a request's workflow; the ledger's outcome instead when DBOS says it was cancelled."""
    from dbos._error import DBOSAwaitedWorkflowCancelledError, DBOSWorkflowCancelledError
    try:
        return wait()
    except (DBOSAwaitedWorkflowCancelledError, DBOSWorkflowCancelledError):
        return outcome_of(parts, rid)


def leave(parts: Parts, rids: Iterable[str], *, actor: str) -> list[str]:
    """Audit that this process exits while ``rids`` still run in it (each once per process); returns those still
    running, which their durable workflows finish in the next live process on the home."""
    here = f"{socket.gethostname()} pid {os.getpid()}"
    left = []
    for rid in rids:
        row = parts.ledger.get(rid)
        if row is None or row.status != "running":
            continue
        parts.audit.append("request.left", request_id=rid, actor=actor, key=f"{rid}:left:{here}",
                           data={"process": here, "reason": "the process running it exited; its durable workflow"
                                 " resumes from its last completed step in the next live process"})
        left.append(rid)
    return left


def stop_with_client(system_database_url: str) -> Stop:
    """A :data:`Stop` through a ``DBOSClient`` on the home's system database: works from any process."""
    def stop(ids: list[str]) -> None:
        from dbos import DBOSClient
        client = DBOSClient(system_database_url=system_database_url)
        try:
            for wid in ids:
                client.cancel_workflow(wid)
        finally:
            client.destroy()
    return stop


def _merged(parts: Parts, rid: str) -> bool:
    return any(e.kind == "merge" for e in parts.audit.events(request_id=rid))


def _too_late(row: RequestRow, why: str) -> Outcome:
    return replace(_as_outcome(row), reason=f"not cancelled: {why}")


def _as_outcome(row: RequestRow) -> Outcome:
    data = row.outcome or {}
    tool = ToolRef.from_json(data["tool"]) if data.get("tool") else None
    stages = tuple(Verdict.from_json(v) for v in data.get("stages") or ())
    return Outcome(request_id=row.id, status=row.status, tool=tool, stages=stages, reason=row.reason)
