"""The one boundary to PostgreSQL: a bounded connection pool per process, statement translation, error translation.

Owns :class:`PostgresDatabase` — the :class:`~toolfoundry.store.dialect.AnyDatabase` interface over
psycopg 3, every table in one schema (``toolfoundry`` by default, beside DBOS's ``dbos`` schema in the
same database) — and :func:`translate`, which turns every ``psycopg.Error`` into a ``DatabaseError`` of
one line naming the database (its URL without the password) and what to do. No store catches
``psycopg.Error`` itself.

Connections come from the process's bounded pool (``store/pgpool.py``), shared by every
``PostgresDatabase`` on the same URL and schema. A connection that was used before and proves dropped
by the server (a restart, ``pg_terminate_backend``) is replaced and the work tried once more on a fresh
one, when that is safe: a read, the ``BEGIN`` of a transaction (nothing ran yet), or a write the server
refused by ending the session (``57P01``–``57P03``: it did not commit). Any other failure is one line,
and the next statement connects afresh.

Transactions emulate SQLite's ``BEGIN IMMEDIATE``: ``BEGIN`` then ``pg_advisory_xact_lock`` on a key
named by the caller (``lock``; default one lock for every writer), so read-then-write transactions of the
same kind never interleave, across processes and machines. The lock goes with the commit or rollback.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from toolfoundry.errors import DatabaseError, UsageError
from toolfoundry.store.dialect import Cursor, DialectName, is_url, to_postgres
from toolfoundry.store.pgpool import Conn, Pool, pool_for, release

_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def redact(url: str) -> str:
    """The URL without its password and query: how messages name the database."""
    try:
        parts = conninfo_to_dict(_plain(url))
    except psycopg.ProgrammingError:
        return "the PostgreSQL database (malformed URL)"
    host = parts.get("host") or "localhost"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{host}{port}/{parts.get('dbname') or ''}"


def advisory_key(schema: str, name: str) -> int:
    """The 64-bit advisory lock key of the lock ``name`` in ``schema`` (stable across processes and releases)."""
    return int.from_bytes(hashlib.sha256(f"toolfoundry:{schema}:{name}".encode()).digest()[:8], "big", signed=True)


def _plain(url: str) -> str:
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def translate(exc: psycopg.Error, name: str, doing: str) -> DatabaseError:
    """``exc`` as one line a person can act on, naming the database."""
    state = exc.sqlstate or ""
    text = str(exc).strip()
    first = text.splitlines()[0].strip() if text else type(exc).__name__
    fatal = re.search(r"FATAL:\s+(.+)", text)  # libpq's connection errors carry the server's reason here
    if fatal and not state:
        first = fatal.group(1).strip()
        if re.fullmatch(r'database ".*" does not exist', first):
            state = "3D000"
        elif re.search(r'authentication failed|pg_hba\.conf|role ".*" does not exist', first):
            state = "28000"
    if state in ("55P03", "40P01"):
        return DatabaseError(f"{name} is locked by another process and stayed locked while {doing}; try again"
                             f" when it is done")
    if state == "25006":
        return read_only(name, doing)
    if state == "42501":
        return DatabaseError(f"{name}: the database role may not do this while {doing} ({first}); see"
                             f" \"A least-privilege database role\" in the README")
    if state == "3D000":
        return DatabaseError(f"{name} does not exist ({first}); create it first (see \"Running a cluster\" in"
                             f" the README)")
    if state.startswith("28"):
        return DatabaseError(f"cannot log in to {name} while {doing}: {first}")
    if isinstance(exc, psycopg.OperationalError) and (not state or state.startswith(("08", "57P"))):
        return DatabaseError(f"lost or could not open the connection to {name} while {doing}: {first}; check"
                             f" that the server is up (the next attempt connects again)")
    return DatabaseError(f"{name}: {doing} failed: {first}")


def read_only(name: str, doing: str) -> DatabaseError:
    """The error of a write on a database this process may only read."""
    return DatabaseError(f"{name} is read-only, and {doing} needs to write it: the home is read-only here")


class _Translating:
    """The connection a transaction's body sees: the stores' SQL translated, errors as ``DatabaseError``."""

    def __init__(self, conn: Conn, name: str, doing: str) -> None:
        self._conn, self._name, self._doing = conn, name, doing

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        try:
            return self._conn.execute(to_postgres(sql), tuple(parameters))
        except psycopg.Error as exc:
            raise translate(exc, self._name, self._doing) from None


def _dropped(conn: Conn, exc: psycopg.Error) -> bool:
    """True when ``exc`` says the session is gone (not that the statement was wrong)."""
    state = exc.sqlstate or ""
    return isinstance(exc, psycopg.OperationalError) and (conn.closed or conn.broken) and (
        not state or state.startswith(("08", "57P")))


_SESSION_ENDED = ("57P01", "57P02", "57P03")
"""The server ended the session before answering: the statement did not commit, so a write may be sent again."""


T = TypeVar("T")


class PostgresDatabase:
    """One PostgreSQL database (one schema of it): the process's shared, bounded pool, every error translated."""

    dialect: DialectName = "postgresql"

    def __init__(self, url: str, *, schema: str = "toolfoundry", timeout: float = 10.0, pool_size: int = 4) -> None:
        if not is_url(url):
            raise UsageError(f"not a PostgreSQL URL: {redact(url)!r} (expected postgresql://USER@HOST:PORT/DBNAME)")
        if not _SCHEMA.fullmatch(schema):
            raise UsageError(f"[database] schema must be a plain lower-case identifier, got {schema!r}")
        if pool_size < 1:
            raise UsageError("[database] pool_size must be at least 1")
        self.url = _plain(url)
        self.name = redact(url)
        self.schema = schema
        self._timeout = timeout
        self._size = pool_size
        self._pool: Pool | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self._run("opening it", lambda conn: None, retry=lambda exc: True)  # reachable now, or one line now

    @property
    def read_only(self) -> bool:
        """True when the server only reads (a standby, or ``default_transaction_read_only`` for this role)."""
        return bool(self._attached().read_only)

    # ── statements ────────────────────────────────────────────────────────────────────────────

    def query(self, sql: str, params: Sequence[Any] = (), *, doing: str = "reading it",
              empty_on: tuple[str, ...] = ()) -> list[Any]:
        """Every row of a query; no rows when the server's message starts with one of ``empty_on``."""
        def run(conn: Conn) -> list[Any]:
            try:
                cur = conn.execute(to_postgres(sql), tuple(params))
            except psycopg.Error as exc:
                if empty_on and str(exc).startswith(empty_on):
                    return []
                raise
            return cur.fetchall() if cur.description else []
        return self._run(doing, run, retry=lambda exc: True)  # a read may always be asked again

    def one(self, sql: str, params: Sequence[Any] = (), *, doing: str = "reading it") -> Any:
        """The first row of a query, or None."""
        rows = self.query(sql, params, doing=doing)
        return rows[0] if rows else None

    def execute(self, sql: str, params: Sequence[Any] = (), *, doing: str = "writing it") -> int:
        """One statement in its own transaction; returns the number of rows it changed."""
        if self.read_only:
            raise read_only(self.name, doing)
        return self._run(doing, lambda conn: conn.execute(to_postgres(sql), tuple(params)).rowcount,
                         retry=lambda exc: exc.sqlstate in _SESSION_ENDED)

    @contextlib.contextmanager
    def transaction(self, *, doing: str = "writing it", lock: str = "write") -> Iterator[_Translating]:
        """``BEGIN`` + ``pg_advisory_xact_lock(lock)`` … ``COMMIT`` (``ROLLBACK`` on any exception)."""
        if self.read_only:
            raise read_only(self.name, doing)
        if getattr(self._local, "conn", None) is not None:
            raise RuntimeError("transactions do not nest")
        pool = self._attached()

        def begin(conn: Conn) -> Conn:
            conn.execute("BEGIN")
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(self._timeout * 1000)}ms",))
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(self.schema, lock),))
            return conn

        conn = self._run(doing, begin, retry=lambda exc: True, keep=True)  # nothing ran yet: safe to begin again
        try:
            self._local.conn = conn
            try:
                yield _Translating(conn, self.name, doing)
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
                raise
            finally:
                self._local.conn = None
            try:
                conn.execute("COMMIT")
            except psycopg.Error as exc:
                raise translate(exc, self.name, doing) from None
        finally:
            pool.give(conn)

    def has_table(self, table: str) -> bool:
        """True when the schema holds ``table``."""
        return self.one("SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                        (self.schema, table), doing="reading its schema") is not None

    def prepare_schema(self, conn: Any) -> None:
        """Create the schema the tables live in, if missing (inside the migration transaction)."""
        if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = ?", (self.schema,)).fetchone() is None:
            conn.execute(f'CREATE SCHEMA "{self.schema}"')

    def close(self) -> None:
        """Let go of the shared pool (its connections close when no database of this process uses it)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():
            release(pool, self._pid)

    # ── plumbing ──────────────────────────────────────────────────────────────────────────────

    def _attached(self) -> Pool:
        """This process's pool for the URL and schema (joined on first use, again after a fork or close)."""
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = pool_for(self.url, self.schema, size=self._size, name=self.name, timeout=self._timeout)
                self._pid = os.getpid()
            return self._pool

    def _run(self, doing: str, work: Callable[[Conn], T], *, retry: Callable[[psycopg.Error], bool],
             keep: bool = False) -> T:
        """``work(conn)`` on the thread's transaction connection, or on a pooled one (handed back unless ``keep``),
        once more on a fresh connection when a reused one proves dropped and ``retry(exc)`` allows it."""
        held: Conn | None = getattr(self._local, "conn", None)
        if held is not None:
            try:
                return work(held)
            except psycopg.Error as exc:
                raise translate(exc, self.name, doing) from None
        pool = self._attached()
        for attempt in (1, 2):
            try:
                conn, reused = pool.take(doing)
            except psycopg.Error as exc:
                raise translate(exc, self.name, doing) from None
            try:
                done = work(conn)
            except psycopg.Error as exc:
                pool.give(conn)
                if attempt == 1 and reused and _dropped(conn, exc) and retry(exc):
                    continue
                raise translate(exc, self.name, doing) from None
            except BaseException:
                pool.give(conn)
                raise
            if not keep:
                pool.give(conn)
            return done
        raise AssertionError("unreachable")
