"""Finishing interrupted requests, and ending those that cannot finish with the reason they cannot.

A request whose process died keeps its ledger row ``running`` and its workflow ``PENDING`` under the dead
executor, until a live process's watchdog hands it on (``watchdog.py``). Here: :func:`record_recovery`
audits that hand-over; :func:`close_failed` ends a request that cannot be resumed (another release's
workflow, one DBOS gave up on) as ``failed`` with its reason, once; :func:`settle` waits for every
running request to finish or park, repairing the ones whose workflow is gone (``toolfoundry resume``);
:func:`repair` puts such a request back where it truly is — pending again when an approval died before
it was recorded, else failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from toolfoundry.core import Outcome
from toolfoundry.pipeline import events
from toolfoundry.pipeline.executors import Executor, describe
from toolfoundry.pipeline.names import deliver_id
from toolfoundry.pipeline.parts import Parts
from toolfoundry.store.ledger import RequestRow
from toolfoundry.version import __version__


def record_recovery(parts: Parts, rid: str, dead: str, by: str) -> None:
    """Audit that ``by`` handed on the workflow of ``rid`` that executor ``dead`` left unfinished."""
    parts.audit.append("request.recovered", request_id=rid, actor="foundry", key=f"{rid}:recovered:{dead}",
                       data={"executor": dead, "by": by})


def close_failed(parts: Parts, rid: str, reason: str) -> None:
    """End ``rid`` as failed with ``reason``, if it is still running (idempotent)."""
    if not parts.ledger.claim(rid, expect="running", status="failed"):
        return
    parts.ledger.update(rid, reason=reason)
    event = events.Closed(request_id=rid, status="failed", reason=reason)
    parts.audit.append(event.kind, request_id=rid, actor=event.actor, data=event.data(), key=f"{rid}:{event.key()}")


def settle(parts: Parts, progress: Callable[[str], None], *, timeout: float = 600.0,
           live: Callable[[], list[Executor]] = list) -> list[RequestRow]:
    """Wait until no request is ``running`` (each finishes or parks), repairing those whose workflow is gone;
    return the requests that were running when it began, as they ended. ``live`` names the live executors,
    so that a wait says who is finishing what."""
    from dbos import DBOS
    started = parts.ledger.with_status("running")
    deadline = time.monotonic() + timeout
    for row in started:
        for wid in (deliver_id(row.id), row.id):
            status = DBOS.get_workflow_status(wid)
            if status is None:
                continue
            if status.status in ("PENDING", "ENQUEUED") and status.app_version == __version__:
                owner = next((e for e in live() if e.id == status.executor_id), None)
                progress(f"waiting for request {row.id}: {describe(owner)} is running it…" if owner is not None else
                         f"waiting for request {row.id}: it is queued for the next free worker…"
                         if status.status == "ENQUEUED" else f"finishing interrupted request {row.id}…")
                _wait(row.id, deadline, parts)
            break
        after = parts.ledger.get(row.id)
        if after is not None and after.status == "running":
            repair(parts, row.id)
    return [r for r in (parts.ledger.get(row.id) for row in started) if r is not None]


def _wait(rid: str, deadline: float, parts: Parts) -> None:
    while time.monotonic() < deadline:
        row = parts.ledger.get(rid)
        if row is None or row.status != "running":
            return
        time.sleep(0.05)


def repair(parts: Parts, rid: str) -> None:
    """A request left 'running' whose workflow is not running: put it back where it truly is."""
    from dbos import DBOS
    validate: Any = DBOS.get_workflow_status(rid)
    if validate is not None and validate.status == "SUCCESS" and DBOS.get_workflow_status(deliver_id(rid)) is None \
            and isinstance(validate.output, Outcome) and validate.output.status == "pending_review":
        parts.ledger.claim(rid, expect="running", status="pending_review")  # an approval died before it was recorded
        return
    if validate is None:
        reason = "interrupted, and its workflow could not be resumed"
    elif validate.app_version != __version__:
        reason = (f"interrupted under toolfoundry {validate.app_version}; this is {__version__}, which does"
                  f" not resume another version's workflows — propose it again")
    else:
        reason = f"its workflow ended in {validate.status}: {validate.error!r}"[:500]
    close_failed(parts, rid, reason)
