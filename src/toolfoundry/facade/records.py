"""The record methods of ``Foundry``: find requests, read a request's diff and deployed tool, the audit log.

Owns the lookup of a request by id or unique prefix. It does not run or decide requests (``api.py``)
and does not write anything.
"""

from __future__ import annotations

from toolfoundry.core import Status
from toolfoundry.errors import UsageError
from toolfoundry.facade import Holds
from toolfoundry.store.audit import Event, VerifyResult
from toolfoundry.store.ledger import RequestRow
from toolfoundry.store.registry import DeployedTool


class RecordMethods(Holds):
    """Reading what requests did: the ledger, the forge's branches, the audit log."""

    def request_row(self, request_id: str) -> RequestRow:
        """A request by id or unique prefix; UsageError if none or ambiguous."""
        rows = self._parts.ledger.find(request_id)
        exact = [r for r in rows if r.id == request_id]
        if exact:
            return exact[0]
        if not rows:
            raise UsageError(f"no request {request_id!r}")
        if len(rows) > 1:
            raise UsageError(f"{request_id!r} matches {len(rows)} requests: {', '.join(r.id for r in rows[:5])}")
        return rows[0]

    def requests(self, *statuses: Status) -> list[RequestRow]:
        """Requests in any of ``statuses`` (default: all), oldest first."""
        return self._parts.ledger.with_status(*statuses)

    def pending(self) -> list[RequestRow]:
        """Requests waiting for a human, oldest first."""
        return self.requests("pending_review")

    def diff(self, request_id: str) -> str:
        """The request's pull request as a unified diff against ``main`` ("" when it has no branch)."""
        forge = self._parts.forge
        return forge.diff(request_id) if forge.branch_head(request_id) else ""

    def deployed_by(self, request_id: str) -> DeployedTool | None:
        """The tool version a request deployed, if any."""
        return self._parts.registry.by_request(request_id)

    # ── audit ──────────────────────────────────────────────────────────────────────────────────

    def verify(self) -> VerifyResult:
        """Check the audit chain."""
        return self._parts.audit.verify()

    def events(self, request_id: str | None = None) -> list[Event]:
        """Audit events, optionally of one request (id or unique prefix)."""
        if request_id is not None:
            request_id = self.request_row(request_id).id
        return self._parts.audit.events(request_id=request_id)
