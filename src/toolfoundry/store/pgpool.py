"""The bounded pool of PostgreSQL connections of one process, shared by every ``PostgresDatabase`` on a database.

Owns :class:`Pool` — at most ``size`` connections to one database and schema, handed to any thread,
waited for up to a timeout when all are busy (never one per thread: a worker's many DBOS threads must
not exhaust the server's ``max_connections``) — and :func:`pool_for` / :func:`release`, the process's
pools by (pid, URL, schema): a forked child gets pools of its own and never touches its parent's
sockets. An idle connection the server has dropped (a restart, ``pg_terminate_backend``) is noticed
before it is handed out — the server wrote to its socket — and replaced; :meth:`Pool.take` also says
whether a connection was used before, so a caller may retry once on a fresh one when a reused one turns
out dead anyway (the server's goodbye can arrive a moment after the check). Connections use
``autocommit`` (a statement is its own transaction, as with SQLite), TCP keepalives, the schema as
``search_path``, and a ``lock_timeout``. Rows come back as :class:`Row`\\s (by position, by name,
``dict(row)``), as ``sqlite3.Row`` does. It translates no error and runs no store's SQL.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from toolfoundry.errors import DatabaseError

APPLICATION = "toolfoundry"
"""The ``application_name`` of toolfoundry's sessions (unless the URL sets one)."""

Conn = psycopg.Connection[Any]


class Row(tuple[Any, ...]):
    """A result row like ``sqlite3.Row``: by position, by column name, ``keys()`` and ``dict(row)``."""

    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


_ROW_CLASSES: dict[tuple[str, ...], type[Row]] = {}


def _rows(cursor: Any) -> Callable[[Sequence[Any]], Row]:
    """psycopg row factory: each result's rows as ``Row``\\s knowing its column names."""
    names = tuple(col.name for col in cursor.description or ())
    cls = _ROW_CLASSES.get(names)
    if cls is None:
        cls = _ROW_CLASSES.setdefault(names, type("Row", (Row,), {"_index": {n: i for i, n in enumerate(names)}}))
    return cls


class Pool:
    """At most ``size`` connections of this process to one database and schema, shared by every user."""

    def __init__(self, url: str, schema: str, size: int, name: str, timeout: float) -> None:
        self.url, self.schema, self.size, self.name, self.timeout = url, schema, size, name, timeout
        self.users = 0
        self.closed = False
        self.read_only: bool | None = None
        """Whether the server only reads (``transaction_read_only``), learnt on the first connection."""
        self._cond = threading.Condition()
        self._idle: list[Conn] = []
        self._used: weakref.WeakSet[Conn] = weakref.WeakSet()
        self._open = 0

    def take(self, doing: str) -> tuple[Conn, bool]:
        """(a healthy connection, True when it was used before); opened if none is idle and fewer than ``size``
        are open, else waited for."""
        with self._cond:
            while True:
                if self.closed:
                    raise DatabaseError(f"the connections to {self.name} were closed while {doing}")
                while self._idle:
                    conn = self._idle.pop()
                    if healthy(conn):
                        return conn, True
                    self._discard(conn)
                if self._open < self.size:
                    self._open += 1
                    break
                if not self._cond.wait(self.timeout):
                    raise DatabaseError(f"all {self.size} connections this process may open to {self.name} stayed"
                                        f" busy for {self.timeout:.0f} s while {doing}; raise [database] pool_size")
        try:
            return self._connect(), False
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
                self._used.add(conn)
                self._idle.append(conn)
            self._cond.notify()

    def close(self) -> None:
        """Close the idle connections; those in use close when handed back."""
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


def healthy(conn: Conn) -> bool:
    """False when the connection is closed, mid-transaction, or the server wrote to it while it sat idle."""
    if conn.closed or conn.broken or conn.info.transaction_status != pq.TransactionStatus.IDLE:
        return False
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        return not poller.poll(0)
    except (OSError, ValueError, psycopg.Error):
        return False


_POOLS: dict[tuple[int, str, str], Pool] = {}
_POOLS_LOCK = threading.Lock()


def _after_fork_in_child() -> None:
    """A thread of the parent may have held the lock at the fork; the child's pools are new anyway."""
    global _POOLS_LOCK
    _POOLS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def pool_for(url: str, schema: str, *, size: int, name: str, timeout: float) -> Pool:
    """This process's pool for ``url`` and ``schema`` (made on first use), with one more user."""
    key = (os.getpid(), url, schema)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = Pool(url, schema, size, name, timeout)
        pool.size = max(pool.size, size)
        pool.users += 1
        return pool


def release(pool: Pool, pid: int) -> None:
    """One user fewer; the last one closes the pool."""
    with _POOLS_LOCK:
        pool.users -= 1
        if pool.users <= 0:
            _POOLS.pop((pid, pool.url, pool.schema), None)
            pool.close()
