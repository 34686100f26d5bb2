"""The one boundary to SQLite, the choice between SQLite and PostgreSQL, and migrating a database's schema.

Owns :class:`Database` — one connection to one SQLite file, opened with the settings every store
relies on (WAL, ``synchronous=NORMAL``, a busy timeout), reopened in a forked child, guarded by a lock
so any thread may use it — and :func:`translate`, which turns every ``sqlite3.Error`` into a
``DatabaseError`` of one line naming the file and what to do (locked, damaged, read-only, missing).
No store module catches ``sqlite3.Error`` itself. :func:`connect_database` picks SQLite (a path) or
PostgreSQL (a ``postgresql://`` URL, ``store/postgres.py``); both offer the same
:class:`~toolfoundry.store.dialect.AnyDatabase` interface, and the stores do not know which they got.

A read-only home (a read-only mount, a directory this user may not write): the file is opened read-only,
and a write fails at once with a ``DatabaseError`` saying the home is read-only. SQLite can read a WAL
database read-only only when its ``-shm`` and ``-wal`` files exist (another process has it open) or can
be created; when neither exists (every connection closed cleanly) it is opened ``immutable``, which is
exact because no process has the database open, and goes stale if one starts writing it later.

Migrations: the tables are created and upgraded by the ordered, named migrations of
``store/migrations.py`` (each in SQLite's and, where it differs, PostgreSQL's SQL); each one applied is
recorded in ``schema_migrations``. :func:`migrate` applies the missing ones in one transaction (on
PostgreSQL under an advisory lock, in the database's ``toolfoundry`` schema, created if missing), and
refuses a database that records a migration this release does not know (a home from a newer
toolfoundry) before anything else touches it. It owns no table.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from toolfoundry.errors import DatabaseError
from toolfoundry.store.dialect import AnyDatabase, Connection, DialectName, is_url
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
        return read_only_error(path, doing)
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return DatabaseError(f"{path} is damaged ({text}); restore the home from a backup"
                             f" (see Troubleshooting in the README)")
    if "unable to open" in lowered:
        return DatabaseError(f"cannot open {path} while {doing}: the file or its directory is missing or"
                             f" not accessible")
    return DatabaseError(f"{path}: {doing} failed: {text}")


def read_only_error(path: Path | str, doing: str) -> DatabaseError:
    """The one error of a write on a database this process may only read."""
    return DatabaseError(f"{path} is read-only, and {doing} needs to write it: the home is read-only here")


def writable(path: Path) -> bool:
    """True when this process may write the database file ``path`` and create its ``-wal`` and ``-shm`` files."""
    return os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


class Database:
    """One SQLite database file: a connection per process, every error translated."""

    dialect: DialectName = "sqlite"

    def __init__(self, path: Path, *, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        self.read_only = not writable(self.path)
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
                conn = self._open()
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout={int(self._timeout * 1000)}")
                if not self.read_only:
                    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                        conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as exc:
                raise translate(exc, self.path, "opening it") from None
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if not self.read_only:
            return sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False)
        if not self.path.is_file():
            raise DatabaseError(f"cannot open {self.path}: it is missing, and the home is read-only here")
        closed = not any(Path(f"{self.path}{suffix}").exists() for suffix in ("-wal", "-shm"))
        uri = f"file:{urllib.parse.quote(str(self.path.absolute()))}?mode=ro" + ("&immutable=1" if closed else "")
        return sqlite3.connect(uri, uri=True, timeout=self._timeout, isolation_level=None, check_same_thread=False)

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
        if self.read_only:
            raise read_only_error(self.path, doing)
        with self._lock:
            try:
                return self._connection().execute(sql, params).rowcount
            except sqlite3.Error as exc:
                raise translate(exc, self.path, doing) from None

    @contextlib.contextmanager
    def transaction(self, *, doing: str = "writing it", lock: str = "write") -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any exception) holding this process's lock.
        SQLite has one writer at a time, so ``lock`` (PostgreSQL's advisory lock name) changes nothing here."""
        if self.read_only:
            raise read_only_error(self.path, doing)
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

    def has_table(self, table: str) -> bool:
        """True when the database holds ``table``."""
        return self.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,),
                        doing="reading its schema") is not None

    def prepare_schema(self, conn: Connection) -> None:
        """Nothing: a SQLite file is its own namespace."""

    def close(self) -> None:
        """Close this process's connection (reopened on next use)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


def connect_database(target: Path | str | AnyDatabase, *, timeout: float = 10.0, schema: str = "toolfoundry",
                     pool_size: int = 4) -> AnyDatabase:
    """The database at ``target``: a SQLite file (a path), PostgreSQL (a ``postgresql://`` URL), or ``target``
    itself when it is already open. ``schema`` and ``pool_size`` apply to PostgreSQL only."""
    if isinstance(target, Database) or not isinstance(target, (str, os.PathLike)):
        return target
    if is_url(target):
        from toolfoundry.store.postgres import PostgresDatabase  # psycopg only where PostgreSQL is used
        return PostgresDatabase(str(target), schema=schema, timeout=timeout, pool_size=pool_size)
    return Database(Path(target), timeout=timeout)


_MIGRATIONS_TABLE: dict[DialectName, tuple[str, str]] = {
    "sqlite": ("CREATE TABLE IF NOT EXISTS schema_migrations(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)",
               "rowid"),
    "postgresql": ("CREATE TABLE IF NOT EXISTS schema_migrations(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL,"
                   " position BIGSERIAL)", "position"),
}
"""Per dialect: how ``schema_migrations`` is created, and the column that keeps the order migrations were applied in."""


def applied(db: AnyDatabase) -> list[str]:
    """The names of the migrations the database records, in the order they were applied."""
    if not db.has_table("schema_migrations"):
        return []
    order = _MIGRATIONS_TABLE[db.dialect][1]
    return [r[0] for r in db.query(f"SELECT name FROM schema_migrations ORDER BY {order}")]  # noqa: S608


def check_version(db: AnyDatabase, migrations: Sequence[Migration] = MIGRATIONS) -> list[Migration]:
    """The migrations still to apply; ``DatabaseError`` when the database is from a newer release."""
    done = applied(db)
    known = {m.name for m in migrations}
    newer = [name for name in done if name not in known]
    if newer:
        raise DatabaseError(f"{db.name} was written by a newer release of toolfoundry (its schema has migration"
                            f" {newer[0]!r}, which this release does not know); upgrade toolfoundry to use this home")
    return [m for m in migrations if m.name not in done]


def migrate(db: AnyDatabase, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply the missing migrations in order, in one transaction; return the names applied."""
    missing = check_version(db, migrations)
    if not missing:
        return []
    if db.read_only:
        raise DatabaseError(f"{db.name} is read-only here, and its schema needs upgrading first (migration"
                            f" {missing[0].name!r}): open the home once where it can be written")
    with db.transaction(doing="upgrading its schema", lock="migrate") as conn:
        db.prepare_schema(conn)
        conn.execute(_MIGRATIONS_TABLE[db.dialect][0])
        done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations").fetchall()}
        todo = [m for m in migrations if m.name not in done]  # another process may have applied some meanwhile
        for migration in todo:
            for statement in migration.statements(db.dialect):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations(name, applied_at) VALUES (?, ?)",
                         (migration.name, datetime.now(UTC).isoformat(timespec="seconds")))
    return [m.name for m in todo]
