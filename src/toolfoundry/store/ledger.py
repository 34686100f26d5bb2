"""The requests ledger: one row per request with its current status, decision and outcome.

Owns the ``requests`` table. It is the quick answer to "where is request X" for the CLI, the review
queue and the settle-on-start logic; the audit log remains the history. The workflow is the only
writer of statuses; the API reads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from toolfoundry.core import JSON, Status
from toolfoundry.store.db import connect

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    requester TEXT NOT NULL,
    source TEXT NOT NULL,
    name TEXT,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    decision TEXT,
    outcome TEXT,
    reviewer TEXT
);
CREATE INDEX IF NOT EXISTS requests_status ON requests(status);
"""


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
    source: str
    """``propose`` or ``request``."""
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

    def to_json(self) -> dict[str, JSON]:
        """The row as JSON."""
        return {k: getattr(self, k) for k in self.__slots__}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Ledger:
    """The ``requests`` table."""

    def __init__(self, db_path: Path) -> None:
        self._conn = connect(db_path)
        self._lock = threading.Lock()
        self._conn.executescript(_SCHEMA)

    def open(self, request_id: str, *, requester: str, source: str) -> None:
        """Record a new request as running (no-op if it exists: a retried step)."""
        now = _now()
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO requests(id, created, updated, requester, source, status)"
                " VALUES (?, ?, ?, ?, ?, 'running')", (request_id, now, now, requester, source))

    def update(self, request_id: str, **fields: Any) -> None:
        """Set columns of a request (``status``, ``reason``, ``name``, ``decision``, ``outcome``, ``reviewer``)."""
        allowed = {"status", "reason", "name", "decision", "outcome", "reviewer"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"unknown ledger columns: {sorted(bad)}")
        values = {k: json.dumps(v) if k in ("decision", "outcome") else v for k, v in fields.items()}
        cols = ", ".join(f"{k} = ?" for k in values)
        with self._lock:
            self._conn.execute(f"UPDATE requests SET {cols}, updated = ? WHERE id = ?",  # noqa: S608
                               (*values.values(), _now(), request_id))

    def get(self, request_id: str) -> RequestRow | None:
        """The request, or None."""
        with self._lock:
            row = self._conn.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        return _row(row) if row else None

    def find(self, prefix: str) -> list[RequestRow]:
        """Requests whose id starts with ``prefix`` (so users can type a short id)."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM requests WHERE id LIKE ? ESCAPE '\\' ORDER BY created",
                                      (prefix.replace("%", r"\%").replace("_", r"\_") + "%",)).fetchall()
        return [_row(r) for r in rows]

    def with_status(self, *statuses: Status) -> list[RequestRow]:
        """Requests in any of ``statuses``, oldest first."""
        marks = ", ".join("?" for _ in statuses)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT * FROM requests WHERE status IN ({marks}) ORDER BY created", statuses).fetchall()  # noqa: S608
        return [_row(r) for r in rows]

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


def _row(row: sqlite3.Row) -> RequestRow:
    data = dict(row)
    for key in ("decision", "outcome"):
        data[key] = json.loads(data[key]) if data[key] else None
    return RequestRow(**data)
