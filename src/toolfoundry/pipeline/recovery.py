"""Finishing interrupted requests: wait for the ones DBOS resumed, and repair those whose workflow cannot finish.

When a home's workflows are launched, DBOS resumes every workflow that was interrupted (a crash, a
kill) from its last completed step. :func:`settle` waits for each request the ledger still calls
``running`` to finish or park, so the command that launched them sees a consistent home. :func:`repair`
puts a request whose workflow cannot finish back where it truly is: pending again when an approval
died before it was recorded, else ``failed`` with the reason (another release's workflow, or one that
ended in an error), audited as the request's close.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toolfoundry.core import Outcome
from toolfoundry.pipeline import events
from toolfoundry.pipeline.names import deliver_id
from toolfoundry.pipeline.parts import Parts
from toolfoundry.version import __version__


def settle(parts: Parts, progress: Callable[[str], None]) -> None:
    """Wait for every interrupted request to finish or park (DBOS launched in this process)."""
    from dbos import DBOS
    for row in parts.ledger.with_status("running"):
        progress(f"resuming interrupted request {row.id}…")
        for wid in (deliver_id(row.id), row.id):
            status = DBOS.get_workflow_status(wid)
            if status is None:
                continue
            if status.status in ("PENDING", "ENQUEUED") and status.app_version == __version__:
                DBOS.retrieve_workflow(wid).get_result(polling_interval_sec=0.05)  # resumed at launch
            break
        after = parts.ledger.get(row.id)
        if after is not None and after.status == "running":
            repair(parts, row.id)


def repair(parts: Parts, rid: str) -> None:
    """A request left 'running' whose workflow is not running: put it back where it truly is."""
    from dbos import DBOS
    validate: Any = DBOS.get_workflow_status(rid)
    if validate is not None and validate.status == "SUCCESS" and DBOS.get_workflow_status(deliver_id(rid)) is None \
            and isinstance(validate.output, Outcome) and validate.output.status == "pending_review":
        parts.ledger.update(rid, status="pending_review")  # an approval died before it was recorded
        return
    if validate is None:
        reason = "interrupted, and its workflow could not be resumed"
    elif validate.app_version != __version__:
        reason = (f"interrupted under toolfoundry {validate.app_version}; this is {__version__}, which does"
                  f" not resume another version's workflows — propose it again")
    else:
        reason = f"its workflow ended in {validate.status}: {validate.error!r}"[:500]
    parts.ledger.update(rid, status="failed", reason=reason)
    event = events.Closed(request_id=rid, status="failed", reason=reason)
    parts.audit.append(event.kind, request_id=rid, actor=event.actor, data=event.data(), key=f"{rid}:{event.key()}")
