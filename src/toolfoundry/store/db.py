"""The one boundary to SQLite: connecting, translating its errors, and migrating a home's schema.

Owns :class:`Database` — one connection to one database file, opened with the settings every store
relies on (WAL, ``synchronous=NORMAL``, a busy timeout), reopened in a forked child, guarded by a lock
so any thread may use it — and :func:`translate`, which turns every ``sqlite3.Error`` into a
``DatabaseError`` of one line naming the file and what to do (locked, damaged, read-only, missing).
No store module catches ``sqlite3.Error`` itself.

Migrations: the tables of ``foundry.db`` are created and upgraded by the ordered, named migrations of
``store/migrations.py``; each one applied is recorded in ``schema_migrations``. :func:`migrate` applies
the missing ones in one transaction, and refuses a database that records a migration this release
does not know (a home from a newer toolfoundry) before anything else touches it. It owns no table.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from toolfoundry.errors import DatabaseError
from toolfoundry.store.migrations import MIGRATIONS, Migration

_INHERITED: list[sqlite3.Connection] = []
"""Connections a forked child inherited; kept referenced so that their finaliser never runs in the child."""


def translate(exc: sqlite3.Error, path: Path, doing: str) -> DatabaseError:
    """``exc`` as one line a person can act on, naming the database file."""
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return DatabaseError(f"{path} is locked by another process and stayed locked while {doing}; try again"
                             f" when it is done")
    if "readonly" in lowered or "read-only" in lowered:
        return DatabaseError(f"{path} is read-only, and {doing} needs to write it: the home is read-only here")
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return DatabaseError(f"{path} is damaged ({text}); restore the home from a backup"
                             f" (see Troubleshooting in the README)")
    if "unable to open" in lowered:
        return DatabaseError(f"cannot open {path} while {doing}: the file or its directory is missing or"
                             f" not accessible")
    return DatabaseError(f"{path}: {doing} failed: {text}")


class Database:
    """One SQLite database file: a connection per process, every error translated."""

    def __init__(self, path: Path, *, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self._timeout = timeout
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        with self._lock:
            self._connection()

    def _connection(self) -> sqlite3.Connection:
        """This process's connection (the lock held); reopened after a fork."""
        if self._conn is None or self._pid != os.getpid():
            if self._conn is not None:  # inherited through fork: never close the parent's connection here
                _INHERITED.append(self._conn)
            if not self.path.parent.is_dir():
                raise DatabaseError(f"cannot open {self.path}: its directory does not exist")
            try:
                conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None,
                                       check_same_thread=False)
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout={int(self._timeout * 1000)}")
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as exc:
                raise translate(exc, self.path, "opening it") from None
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def query(self, sql: str, params: Sequence[Any] = (), *, doing: str = "reading it",
              empty_on: tuple[str, ...] = ()) -> list[sqlite3.Row]:
        """Every row of a query; no rows when SQLite's message starts with one of ``empty_on``."""
        with self._lock:
            try:
                return self._connection().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                if empty_on and str(exc).startswith(empty_on):
                    return []
                raise translate(exc, self.path, doing) from None

    def one(self, sql: str, params: Sequence[Any] = (), *, doing: str = "reading it") -> sqlite3.Row | None:
        """The first row of a query, or None."""
        rows = self.query(sql, params, doing=doing)
        return rows[0] if rows else None

    def execute(self, sql: str, params: Sequence[Any] = (), *, doing: str = "writing it") -> int:
        """One statement in its own transaction; returns the number of rows it changed."""
        with self._lock:
            try:
                return self._connection().execute(sql, params).rowcount
            except sqlite3.Error as exc:
                raise translate(exc, self.path, doing) from None

    @contextlib.contextmanager
    def transaction(self, *, doing: str = "writing it") -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any exception) holding this process's lock."""
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise translate(exc, self.path, doing) from None

    def close(self) -> None:
        """Close this process's connection (reopened on next use)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


def applied(db: Database) -> list[str]:
    """The names of the migrations the database records, in the order they were applied."""
    exists = db.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
    if exists is None:
        return []
    return [r["name"] for r in db.query("SELECT name FROM schema_migrations ORDER BY rowid")]


def check_version(db: Database, migrations: Sequence[Migration] = MIGRATIONS) -> list[Migration]:
    """The migrations still to apply; ``DatabaseError`` when the database is from a newer release."""
    done = applied(db)
    known = {m.name for m in migrations}
    newer = [name for name in done if name not in known]
    if newer:
        raise DatabaseError(f"{db.path} was written by a newer release of toolfoundry (its schema has migration"
                            f" {newer[0]!r}, which this release does not know); upgrade toolfoundry to use this home")
    return [m for m in migrations if m.name not in done]


def migrate(db: Database, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply the missing migrations in order, in one transaction; return the names applied."""
    if not check_version(db, migrations):
        return []
    with db.transaction(doing="upgrading its schema") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
        todo = [m for m in migrations if m.name not in done]  # another process may have applied some meanwhile
        for migration in todo:
            for statement in migration.statements():
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations(name, applied_at) VALUES (?, ?)",
                         (migration.name, datetime.now(UTC).isoformat(timespec="seconds")))
    return [m.name for m in todo]
