"""The requests ledger: one row per request with its current status, decision, permissions and proposal.

Owns the ``requests`` table (created by ``store/migrations.py``). It is the quick answer to "where is
request X" for the CLI, the review queue, the UI and the settle-on-start logic; the audit log remains
the history. A request's policy decision, the permissions it asks for, and — while it waits for a
human — the ``Proposal`` a review delivers, live on its row, so a review needs nothing but the ledger.
The workflow writes statuses; a review claims a pending request with a compare-and-swap
(:meth:`Ledger.claim`), so exactly one decision wins, and a cancel races a committing step on the
row's ``fate`` (:meth:`Ledger.settle_fate`), so exactly one of them does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from toolfoundry.core import JSON, Permissions, Proposal, Source, Status
from toolfoundry.store.db import connect_database, migrate
from toolfoundry.store.dialect import AnyDatabase, Row

_JSON_COLUMNS = ("decision", "outcome", "permissions", "proposal")
Fate = Literal["cancel", "final"]
"""How a running request ends, once settled: cancelled, or committed by a step (``pipeline/cancel.py``)."""
_COLUMNS = "id, created, updated, requester, source, name, status, reason, decision, outcome, reviewer, permissions, proposal"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestRow:
    """A request as the ledger knows it."""

    id: str
    """The request id."""
    created: str
    """ISO 8601 UTC time the request was opened."""
    updated: str
    """ISO 8601 UTC time of the last status change."""
    requester: str
    """Who asked (the CLI user, an agent, ...)."""
    source: Source
    """``propose``, ``request`` or ``mcp``."""
    name: str | None
    """The tool name, once the contract stage learned it."""
    status: Status
    """Current status."""
    reason: str
    """Why it is in this status."""
    decision: dict[str, JSON] | None
    """The policy decision, once made."""
    outcome: dict[str, JSON] | None
    """The outcome JSON (as `propose --json` prints it), once there is one."""
    reviewer: str | None
    """Who approved or rejected it, when a review happened."""
    permissions: dict[str, JSON] | None = None
    """What the candidate asks for (``net_hosts``, ``env_vars``); None for a model-driven request."""
    proposal: dict[str, JSON] | None = None
    """While pending review (and after): what a review delivers, as ``Proposal.to_json``."""

    def to_json(self) -> dict[str, JSON]:
        """The row as JSON (the proposal, which repeats the outcome, is left out)."""
        return {k: getattr(self, k) for k in self.__slots__ if k != "proposal"}

    @property
    def asks(self) -> Permissions:
        """The permissions the request asks for (none recorded → none)."""
        return Permissions.from_json(self.permissions or {})

    def the_proposal(self) -> Proposal | None:
        """The recorded proposal, or None (not yet validated, or made by a release that kept it elsewhere)."""
        return Proposal.from_json(self.proposal) if self.proposal else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Ledger:
    """The ``requests`` table."""

    def __init__(self, db: Path | str | AnyDatabase) -> None:
        """``db``: the SQLite file, a ``postgresql://`` URL, or an open database."""
        self._db = connect_database(db)
        migrate(self._db)

    def open(self, request_id: str, *, requester: str, source: Source, permissions: Permissions | None = None) -> None:
        """Record a new request as running (no-op if it exists: a retried step)."""
        now = _now()
        self._db.execute("INSERT OR IGNORE INTO requests(id, created, updated, requester, source, status, permissions)"
                         " VALUES (?, ?, ?, ?, ?, 'running', ?)",
                         (request_id, now, now, requester, source,
                          json.dumps(permissions.to_json()) if permissions is not None else None),
                         doing=f"recording request {request_id}")

    def update(self, request_id: str, **fields: Any) -> None:
        """Set columns of a request: ``status``, ``reason``, ``name``, ``decision``, ``outcome``, ``reviewer``,
        ``permissions``, ``proposal`` (the JSON ones as JSON values)."""
        allowed = {"status", "reason", "name", "decision", "outcome", "reviewer", "permissions", "proposal"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"unknown ledger columns: {sorted(bad)}")
        values = {k: json.dumps(v) if k in _JSON_COLUMNS else v for k, v in fields.items()}
        cols = ", ".join(f"{k} = ?" for k in values)
        self._db.execute(f"UPDATE requests SET {cols}, updated = ? WHERE id = ?",  # noqa: S608
                         (*values.values(), _now(), request_id), doing=f"updating request {request_id}")

    def claim(self, request_id: str, *, expect: Status, status: Status, reviewer: str | None = None) -> bool:
        """Move a request from ``expect`` to ``status`` only if it is still in ``expect``: True for the one winner."""
        changed = self._db.execute(
            "UPDATE requests SET status = ?, reviewer = COALESCE(?, reviewer), updated = ? WHERE id = ? AND status = ?",
            (status, reviewer, _now(), request_id, expect), doing=f"claiming request {request_id}")
        return changed == 1

    def settle_fate(self, request_id: str, fate: Fate) -> Fate | None:
        """Settle a running request's fate once, atomically: ``cancel`` (a cancel won) or ``final`` (a step
        committed: approved, parked or ended). Returns the fate that holds now (None: no such request)."""
        self._db.execute("UPDATE requests SET fate = ? WHERE id = ? AND fate IS NULL", (fate, request_id),
                         doing=f"settling the fate of request {request_id}")
        row = self._db.one("SELECT fate FROM requests WHERE id = ?", (request_id,))
        return row["fate"] if row else None

    def get(self, request_id: str) -> RequestRow | None:
        """The request, or None."""
        row = self._db.one(f"SELECT {_COLUMNS} FROM requests WHERE id = ?", (request_id,))  # noqa: S608
        return _row(row) if row else None

    def find(self, prefix: str) -> list[RequestRow]:
        """Requests whose id starts with ``prefix`` (so users can type a short id)."""
        rows = self._db.query(f"SELECT {_COLUMNS} FROM requests WHERE id LIKE ? ESCAPE '\\' ORDER BY created",  # noqa: S608
                              (prefix.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%",))
        return [_row(r) for r in rows]

    def with_status(self, *statuses: Status) -> list[RequestRow]:
        """Requests in any of ``statuses`` (none given: every request), oldest first."""
        marks = ", ".join("?" for _ in statuses)
        where = f"WHERE status IN ({marks})" if statuses else ""
        rows = self._db.query(f"SELECT {_COLUMNS} FROM requests {where} ORDER BY created", statuses)  # noqa: S608
        return [_row(r) for r in rows]

    def close(self) -> None:
        """Close the connection."""
        self._db.close()


def _row(row: Row) -> RequestRow:
    data = dict(row)
    for key in _JSON_COLUMNS:
        data[key] = json.loads(data[key]) if data[key] else None
    return RequestRow(**data)
