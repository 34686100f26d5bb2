"""The one boundary to PostgreSQL: a bounded connection pool per process, statement translation, error translation.

Owns :class:`PostgresDatabase` — the :class:`~toolfoundry.store.dialect.AnyDatabase` interface over
psycopg 3, every table in one schema (``toolfoundry`` by default, beside DBOS's ``dbos`` schema in the
same database) — and :func:`translate`, which turns every ``psycopg.Error`` into a ``DatabaseError`` of
one line naming the database (its URL without the password) and what to do. No store catches
``psycopg.Error`` itself.

Connections: every ``PostgresDatabase`` of a process on the same URL and schema shares one pool of at
most ``pool_size`` connections (never one per thread: a worker's many DBOS threads must not exhaust the
server's ``max_connections``). A thread waits for a free connection up to the timeout. An idle connection
the server has dropped (a restart, ``pg_terminate_backend``) is noticed before it is handed out — the
server wrote to its socket — and replaced; one that fails in use is discarded, the statement fails with
a one-line error, and the next statement connects afresh. A forked child gets pools of its own and
never touches its parent's connections. Connections use TCP keepalives, ``autocommit`` (a single
statement is its own transaction, as with SQLite) and a ``lock_timeout``.

Transactions emulate SQLite's ``BEGIN IMMEDIATE``: ``BEGIN`` then ``pg_advisory_xact_lock`` on a key
named by the caller (``lock``; default one lock for every writer), so read-then-write transactions of the
same kind never interleave, across processes and machines. The lock goes with the commit or rollback.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import select
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from toolfoundry.errors import DatabaseError, UsageError
from toolfoundry.store.dialect import Cursor, DialectName, to_postgres

_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")
APPLICATION = "toolfoundry"
"""The ``application_name`` of toolfoundry's sessions (unless the URL sets one)."""


def is_url(target: object) -> bool:
    """True for a PostgreSQL URL (``postgresql://…``, ``postgres://…``, ``postgresql+psycopg://…``)."""
    return isinstance(target, str) and re.match(r"postgres(ql)?(\+\w+)?://", target) is not None


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


class _Row(tuple[Any, ...]):
    """A result row like ``sqlite3.Row``: by position, by column name, ``keys()`` and ``dict(row)``."""

    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


_ROW_CLASSES: dict[tuple[str, ...], type[_Row]] = {}


def _rows(cursor: Any) -> Callable[[Sequence[Any]], _Row]:
    """psycopg row factory: each result's rows as ``_Row``\\s knowing its column names."""
    names = tuple(col.name for col in cursor.description or ())
    cls = _ROW_CLASSES.get(names)
    if cls is None:
        cls = _ROW_CLASSES.setdefault(names, type("Row", (_Row,), {"_index": {n: i for i, n in enumerate(names)}}))
    return cls


Conn = psycopg.Connection[Any]


class _Pool:
    """At most ``size`` connections of this process to one database and schema, shared by every user."""

    def __init__(self, url: str, schema: str, size: int, name: str, timeout: float) -> None:
        self.url, self.schema, self.size, self.name, self.timeout = url, schema, size, name, timeout
        self.users = 0
        self.closed = False
        self.read_only: bool | None = None
        self._cond = threading.Condition()
        self._idle: list[Conn] = []
        self._open = 0

    def take(self, doing: str) -> Conn:
        """A healthy connection, opened if none is idle and fewer than ``size`` are open; waits otherwise."""
        with self._cond:
            while True:
                if self.closed:
                    raise DatabaseError(f"the connections to {self.name} were closed while {doing}")
                while self._idle:
                    conn = self._idle.pop()
                    if _healthy(conn):
                        return conn
                    self._discard(conn)
                if self._open < self.size:
                    self._open += 1
                    break
                if not self._cond.wait(self.timeout):
                    raise DatabaseError(f"all {self.size} connections this process may open to {self.name} stayed"
                                        f" busy for {self.timeout:.0f} s while {doing}; raise [database] pool_size")
        try:
            return self._connect()
        except BaseException:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise

    def give(self, conn: Conn) -> None:
        """Hand a connection back: kept when idle and healthy, else closed."""
        if not conn.closed and not conn.broken and conn.info.transaction_status != pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
        with self._cond:
            if self.closed or conn.closed or conn.broken or conn.info.transaction_status != pq.TransactionStatus.IDLE:
                self._discard(conn)
            else:
                self._idle.append(conn)
            self._cond.notify()

    def close(self) -> None:
        """Close the idle connections (those in use close when handed back: the pool is gone by then)."""
        with self._cond:
            self.closed = True
            idle, self._idle = self._idle, []
            for conn in idle:
                self._discard(conn)
            self._cond.notify_all()

    def _discard(self, conn: Conn) -> None:
        self._open -= 1
        with contextlib.suppress(psycopg.Error, OSError):
            conn.close()

    def _connect(self) -> Conn:
        given = conninfo_to_dict(self.url)
        extra: dict[str, Any] = {"connect_timeout": max(2, int(self.timeout)), "keepalives": 1,
                                 "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
                                 "application_name": APPLICATION}
        conn: Conn = psycopg.connect(self.url, autocommit=True, row_factory=_rows,
                                     **{k: v for k, v in extra.items() if k not in given})
        try:
            conn.execute(f'SET search_path TO "{self.schema}"')
            conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(self.timeout * 1000)}ms",))
            if self.read_only is None:
                row = conn.execute("SHOW transaction_read_only").fetchone()
                self.read_only = row is not None and row[0] == "on"
        except BaseException:
            conn.close()
            raise
        return conn


def _healthy(conn: Conn) -> bool:
    """False when the connection is closed, mid-transaction, or the server wrote to it while it sat idle."""
    if conn.closed or conn.broken or conn.info.transaction_status != pq.TransactionStatus.IDLE:
        return False
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        return not poller.poll(0)
    except (OSError, ValueError, psycopg.Error):
        return False


_POOLS: dict[tuple[int, str, str], _Pool] = {}
_POOLS_LOCK = threading.Lock()


class _Translating:
    """The connection a transaction's body sees: the stores' SQL translated, errors as ``DatabaseError``."""

    def __init__(self, conn: Conn, name: str, doing: str) -> None:
        self._conn, self._name, self._doing = conn, name, doing

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        try:
            return self._conn.execute(to_postgres(sql), tuple(parameters))
        except psycopg.Error as exc:
            raise translate(exc, self._name, self._doing) from None


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
        self._pool: _Pool | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        with self._connection("opening it"):
            pass  # reachable now, or a one-line error now

    @property
    def read_only(self) -> bool:
        """True when the server only reads (a standby, or ``default_transaction_read_only`` for this role)."""
        return bool(self._attached().read_only)

    # ── statements ────────────────────────────────────────────────────────────────────────────

    def query(self, sql: str, params: Sequence[Any] = (), *, doing: str = "reading it",
              empty_on: tuple[str, ...] = ()) -> list[Any]:
        """Every row of a query; no rows when the server's message starts with one of ``empty_on``."""
        with self._connection(doing) as conn:
            try:
                cur = conn.execute(to_postgres(sql), tuple(params))
                return cur.fetchall() if cur.description else []
            except psycopg.Error as exc:
                if empty_on and str(exc).startswith(empty_on):
                    return []
                raise translate(exc, self.name, doing) from None

    def one(self, sql: str, params: Sequence[Any] = (), *, doing: str = "reading it") -> Any:
        """The first row of a query, or None."""
        rows = self.query(sql, params, doing=doing)
        return rows[0] if rows else None

    def execute(self, sql: str, params: Sequence[Any] = (), *, doing: str = "writing it") -> int:
        """One statement in its own transaction; returns the number of rows it changed."""
        if self.read_only:
            raise read_only(self.name, doing)
        with self._connection(doing) as conn:
            try:
                return conn.execute(to_postgres(sql), tuple(params)).rowcount
            except psycopg.Error as exc:
                raise translate(exc, self.name, doing) from None

    @contextlib.contextmanager
    def transaction(self, *, doing: str = "writing it", lock: str = "write") -> Iterator[_Translating]:
        """``BEGIN`` + ``pg_advisory_xact_lock(lock)`` … ``COMMIT`` (``ROLLBACK`` on any exception)."""
        if self.read_only:
            raise read_only(self.name, doing)
        if getattr(self._local, "conn", None) is not None:
            raise RuntimeError("transactions do not nest")
        with self._connection(doing) as conn:
            try:
                conn.execute("BEGIN")
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(self._timeout * 1000)}ms",))
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(self.schema, lock),))
            except psycopg.Error as exc:
                raise translate(exc, self.name, doing) from None
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
            if pool is None or self._pid != os.getpid():
                return
        with _POOLS_LOCK:
            pool.users -= 1
            if pool.users <= 0:
                _POOLS.pop((self._pid, pool.url, pool.schema), None)
                pool.close()

    # ── plumbing ──────────────────────────────────────────────────────────────────────────────

    def _attached(self) -> _Pool:
        """This process's pool for the URL and schema (joined on first use, again after a fork or close)."""
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                return self._pool
            pid = os.getpid()
            with _POOLS_LOCK:
                pool = _POOLS.get((pid, self.url, self.schema))
                if pool is None:
                    pool = _POOLS[(pid, self.url, self.schema)] = _Pool(self.url, self.schema, self._size,
                                                                        self.name, self._timeout)
                pool.size = max(pool.size, self._size)
                pool.users += 1
            self._pool, self._pid = pool, pid
            return pool

    @contextlib.contextmanager
    def _connection(self, doing: str) -> Iterator[Conn]:
        """The thread's transaction connection if it is inside one, else one from the pool for the body."""
        held: Conn | None = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        pool = self._attached()
        try:
            conn = pool.take(doing)
        except psycopg.Error as exc:
            raise translate(exc, self.name, doing) from None
        try:
            yield conn
        finally:
            pool.give(conn)
