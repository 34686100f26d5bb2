"""Noticing that the set of deployed tools changed — by this process or any other on the same home.

Owns ``ToolChange`` (what changed between two looks at the registry) and ``ChangeWatcher`` (a thread
that looks every ``interval`` seconds and calls its listeners with each change). It reads the
registry's ``active`` and ``tools`` tables and never writes. A look costs one cheap read, so an idle
watcher is nearly free; only when it moved does the watcher read the active versions and compare them
with the last look. On SQLite that read is ``PRAGMA data_version`` on the watcher's own connection (it
moves only when another connection committed); on PostgreSQL it is the ``tool_changes`` count, which
triggers move on every write of ``tools`` or ``active`` (one primary-key read of a one-row table: it
works across machines, misses no writer, and does not move on the far more frequent audit appends).

The MCP server turns changes into ``notifications/tools/list_changed`` and subscription events;
``Foundry.on_change`` hands them to Python callbacks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toolfoundry.errors import DatabaseError
from toolfoundry.store.db import Database, connect_database, migrate
from toolfoundry.store.dialect import AnyDatabase

log = logging.getLogger(__name__)

Snapshot = dict[str, tuple[int, str]]
"""Active tools: name → (version, reviewed sha256)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolChange:
    """The difference between two snapshots of the active tools."""

    added: tuple[str, ...] = ()
    """Names that are newly deployed."""
    updated: tuple[str, ...] = ()
    """Names whose active version changed: a new version, or a rollback."""
    removed: tuple[str, ...] = ()
    """Names no longer active."""
    versions: tuple[tuple[str, int], ...] = ()
    """The active (name, version) pairs after the change, sorted by name."""

    def __bool__(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the change touched."""
        return tuple(sorted({*self.added, *self.updated, *self.removed}))


def diff(before: Snapshot, after: Snapshot) -> ToolChange:
    """What changed from ``before`` to ``after``."""
    return ToolChange(
        added=tuple(sorted(after.keys() - before.keys())),
        updated=tuple(sorted(n for n in after.keys() & before.keys() if after[n] != before[n])),
        removed=tuple(sorted(before.keys() - after.keys())),
        versions=tuple(sorted((n, v) for n, (v, _) in after.items())))


Listener = Callable[[ToolChange], None]


class ChangeWatcher:
    """Calls its listeners with every change of the active tools, from any process on the home."""

    def __init__(self, db: Path | str | AnyDatabase, *, interval: float = 0.25) -> None:
        """``db``: the SQLite file, a ``postgresql://`` URL, or an open database (on SQLite the watcher
        opens a connection of its own to the same file: ``data_version`` is per connection)."""
        if interval <= 0:
            raise ValueError("the watch interval must be positive")
        self._db = Database(db.path) if isinstance(db, Database) else connect_database(db)
        migrate(self._db)
        self._closed = False
        self._interval = interval
        self._lock = threading.Lock()  # one look at a time; guards _last, _data_version, the connection
        self._listeners: dict[object, Listener] = {}
        self._last = self._snapshot()
        self._data_version = self._version()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with each change from now on (on the watcher's thread); returns unsubscribe."""
        token = object()
        with self._lock:
            self._listeners[token] = listener
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="toolfoundry-watch", daemon=True)
                self._thread.start()

        def unsubscribe() -> None:
            with self._lock:
                self._listeners.pop(token, None)

        return unsubscribe

    def check(self) -> ToolChange:
        """Look now (e.g. right after a deploy in this process) and notify listeners if anything changed."""
        with self._lock:
            if self._closed:
                return ToolChange()
            current = self._snapshot()
            change = diff(self._last, current)
            self._last = current
            self._data_version = self._version()
            listeners = list(self._listeners.values())
        if change:
            for listener in listeners:
                try:
                    listener(change)
                except Exception:  # one broken callback must not silence the others or stop the watcher
                    log.exception("a tool-change listener raised; continuing")
        return change

    def close(self) -> None:
        """Stop the thread and close the connection; idempotent."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with self._lock:
                    moved = not self._closed and self._version() != self._data_version
                if moved:
                    self.check()
            except DatabaseError:  # a busy or briefly unavailable database: look again next time
                log.warning("could not read the registry to watch for tool changes", exc_info=True)

    def _version(self) -> int:
        if self._db.dialect == "postgresql":
            row = self._db.one("SELECT n FROM tool_changes WHERE id = 1", doing="watching for tool changes")
        else:
            row = self._db.one("PRAGMA data_version")
        return int(row[0]) if row is not None else 0

    def _snapshot(self) -> Snapshot:
        rows = self._db.query("SELECT a.name, a.version, t.sha256 FROM active a JOIN tools t"
                              " ON t.name = a.name AND t.version = a.version", doing="watching for tool changes")
        return {str(r[0]): (int(r[1]), str(r[2])) for r in rows}
