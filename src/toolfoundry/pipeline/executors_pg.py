"""Liveness across machines: a PostgreSQL advisory lock per executor, held on a connection of its own, with fencing.

An executor of a cluster takes ``pg_try_advisory_lock(key(id))`` on a dedicated connection (TCP
keepalives on) when it launches and keeps it for its life; the server frees it when that session ends —
the process died, or its connection did. The second case is why **fencing** is not optional: a process
whose lock connection fails cannot know whether its lock was freed and its work handed on, so it exits
at once (:data:`FENCED_EXIT`; its sandboxes die with it, ``--die-with-parent``), and a supervisor
restarts it. A check runs every ``fence_seconds``; recoverers wait ``grace_seconds`` (longer) after a
lock is seen free before they recover (``watchdog.py``), so the fenced process is gone first.

Whether a lock is held is read from ``pg_locks`` (nothing is taken to find out). The ``executors`` table
says who each executor is (role, pid, host, what it was started for) for ``toolfoundry workers`` and for
the messages of whoever waits; a row whose lock is free is a dead executor, removed once its work was
recovered (``forget``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from toolfoundry.errors import DatabaseError
from toolfoundry.pipeline.executors import Executor

log = logging.getLogger(__name__)

FENCED_EXIT = 75
"""The exit status of a process that lost its liveness lock (EX_TEMPFAIL: restart it)."""

_HELD = """SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
           AND classid = %(high)s::bigint::oid AND objid = %(low)s::bigint::oid"""


def _parts(key: int) -> dict[str, int]:
    """How ``pg_locks`` shows a bigint advisory key: its high and low 32 bits, unsigned."""
    return {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF}


def lock_key(schema: str, executor_id: str) -> int:
    """The advisory lock key of ``executor_id``'s liveness lock."""
    from toolfoundry.store.postgres import advisory_key
    return advisory_key(schema, f"executor:{executor_id}")


def _exit_fenced(reason: str) -> None:
    """What a fenced process does: say why on stderr, and exit at once (no cleanup can be trusted now)."""
    with contextlib.suppress(Exception):
        sys.stderr.write(f"toolfoundry: error: lost the liveness lock ({reason}); exiting so that another"
                         f" worker may safely finish this one's requests (exit {FENCED_EXIT}: restart it)\n")
        sys.stderr.flush()
    os._exit(FENCED_EXIT)


class PgLiveness:
    """Liveness in a cluster: advisory locks in the cluster's PostgreSQL database."""

    def __init__(self, url: str, schema: str, *, fence_seconds: float = 0.5,
                 on_lost: Callable[[str], None] = _exit_fenced) -> None:
        from toolfoundry.store.postgres import redact
        self.url = url
        self.schema = schema
        self.name = redact(url)
        self.fence_seconds = fence_seconds
        self._on_lost = on_lost
        self._conn: Any = None
        self._key: int | None = None
        self._executor: Executor | None = None
        self._stop = threading.Event()
        self._fence: threading.Thread | None = None
        self._lock = threading.Lock()

    def _connect(self, application: str) -> Any:
        import psycopg
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5, keepalives=1, keepalives_idle=5,
                                   keepalives_interval=2, keepalives_count=2, application_name=application[:63])
            conn.execute(f'SET search_path TO "{self.schema}"')
            conn.execute("SET statement_timeout = '5s'")
        except psycopg.Error as exc:
            from toolfoundry.store.postgres import translate
            raise translate(exc, self.name, "taking this process's liveness lock") from exc
        return conn

    def hold(self, executor: Executor) -> None:
        conn = self._connect(f"toolfoundry-liveness {executor.id}")
        key = lock_key(self.schema, executor.id)
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if not row or not row[0]:
                raise DatabaseError(f"executor id {executor.id} is already live in {self.name}")
            conn.execute("INSERT INTO executors (id, role, pid, host, since, command) VALUES (%s, %s, %s, %s, %s, %s)"
                         " ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role, pid = EXCLUDED.pid,"
                         " host = EXCLUDED.host, since = EXCLUDED.since, command = EXCLUDED.command",
                         (executor.id, executor.role, executor.pid, executor.host, executor.since, executor.command))
        except BaseException:
            conn.close()
            raise
        self._conn, self._key, self._executor = conn, key, executor
        self._stop.clear()
        self._fence = threading.Thread(target=self._watch, name="toolfoundry-fence", daemon=True)
        self._fence.start()

    def _watch(self) -> None:
        """Every ``fence_seconds``: is this session, and so the lock, still there? If not, fence."""
        assert self._key is not None
        held = _HELD + " AND pid = pg_backend_pid()"
        key = _parts(self._key)
        while not self._stop.wait(self.fence_seconds):
            try:
                with self._lock:
                    if self._stop.is_set():
                        return
                    row = self._conn.execute(held, key).fetchone()
                if row is None:
                    raise RuntimeError("the lock is no longer held by this session")
            except Exception as exc:  # any failure: the lock may be gone, and its work handed on
                if self._stop.is_set():
                    return
                self._on_lost(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
                return

    def _query(self, sql: str, params: Any, doing: str) -> list[Any]:
        import psycopg
        try:
            with self._lock:
                conn = self._conn
                if conn is not None:
                    return list(conn.execute(sql, params).fetchall())
            with self._connect("toolfoundry-liveness-check") as conn:
                return list(conn.execute(sql, params).fetchall())
        except psycopg.Error as exc:
            from toolfoundry.store.postgres import translate
            raise translate(exc, self.name, doing) from exc

    def alive(self, executor_id: str) -> bool:
        return bool(self._query(_HELD, _parts(lock_key(self.schema, executor_id)), "checking an executor's lock"))

    def live(self) -> list[Executor]:
        rows = self._query("SELECT e.id, e.role, e.pid, e.host, e.since, e.command, l.classid::bigint, l.objid::bigint"
                           " FROM executors e LEFT JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted"
                           " AND l.objsubid = 1 ORDER BY e.since, e.id", (), "listing executors")
        held: dict[str, set[tuple[int, int]]] = {}
        found: dict[str, Executor] = {}
        for r in rows:
            found[r[0]] = Executor(id=r[0], role=r[1], pid=int(r[2]), host=r[3], since=r[4], command=r[5])
            if r[6] is not None:
                held.setdefault(r[0], set()).add((int(r[6]), int(r[7])))
        live = []
        for executor_id, executor in found.items():
            key = _parts(lock_key(self.schema, executor_id))
            if (key["high"], key["low"]) in held.get(executor_id, set()):
                live.append(executor)
        return live

    def forget(self, executor_id: str) -> None:
        """Remove a dead executor's row (after its work was recovered)."""
        if not self.alive(executor_id):
            self._query("DELETE FROM executors WHERE id = %s RETURNING id", (executor_id,), "forgetting an executor")

    def release(self) -> None:
        self._stop.set()
        fence, self._fence = self._fence, None
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None and self._executor is not None:
                with contextlib.suppress(Exception):
                    conn.execute("DELETE FROM executors WHERE id = %s", (self._executor.id,))
                    conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        if fence is not None and fence is not threading.current_thread():
            fence.join(timeout=5)
        self._executor = self._key = None
