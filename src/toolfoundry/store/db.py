"""One place that opens the foundry's SQLite database with the settings every module relies on.

Owns: connection options (WAL, busy timeout, foreign keys). Does not own any table: each module
that keeps state (ledger, registry, audit) creates its own tables.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from toolfoundry.errors import InfraError


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (explicit BEGIN where atomicity matters), WAL, 10 s busy timeout."""
    try:
        conn = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
    except sqlite3.Error as exc:
        raise InfraError(f"cannot open database {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    return conn
