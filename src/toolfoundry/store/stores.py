"""Opening a home's stores on the database its settings name: the home's SQLite file, or PostgreSQL.

Owns :func:`open_stores` (the ledger, registry, audit log and search index of one home, as one
:class:`Stores`) and :func:`open_watcher`. With ``[database] url`` empty everything is in
``<home>/foundry.db`` and the audit anchor is ``<home>/audit.head``, as toolfoundry has always kept it.
With a PostgreSQL URL the ledger, registry and audit log (its anchor included) are in the database's
schema, shared by every node; the tool search index stays SQLite FTS5, a per-node cache in
``<home>/search.sqlite`` that callers bring up to date from the registry (``ToolIndex.rebuild``) before
searching. The stores share this process's pool of connections. It decides nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toolfoundry.core import Forge
from toolfoundry.store.audit import AuditLog
from toolfoundry.store.changes import ChangeWatcher
from toolfoundry.store.db import connect_database
from toolfoundry.store.dialect import AnyDatabase
from toolfoundry.store.ledger import Ledger
from toolfoundry.store.registry import Registry
from toolfoundry.store.search import ToolIndex
from toolfoundry.store.settings import DatabaseSettings

SQLITE_NAME = "foundry.db"
"""The home's own database file (SQLite)."""
SEARCH_CACHE_NAME = "search.sqlite"
"""The node's search index file when the state is in PostgreSQL."""
HEAD_NAME = "audit.head"
"""The audit chain's anchor file beside ``foundry.db``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Stores:
    """One home's durable state, opened in this process."""

    ledger: Ledger
    registry: Registry
    audit: AuditLog
    index: ToolIndex

    def close(self) -> None:
        """Close every store (each reopens on next use)."""
        for store in (self.index, self.ledger, self.registry, self.audit):
            store.close()


def database(home: Path, settings: DatabaseSettings, *, timeout: float = 10.0) -> Path | AnyDatabase:
    """Where the home's state is: ``<home>/foundry.db``, or the PostgreSQL database, connected."""
    if not settings.postgres:
        return home / SQLITE_NAME
    return connect_database(settings.url, timeout=timeout, schema=settings.schema, pool_size=settings.pool_size)


def open_stores(home: Path, settings: DatabaseSettings, forge: Forge) -> Stores:
    """The ledger, registry, audit log and search index of ``home``, on the database ``settings`` names."""
    state = database(home, settings)
    if isinstance(state, Path):
        return Stores(ledger=Ledger(state), registry=Registry(state, forge),
                      audit=AuditLog(state, home / HEAD_NAME), index=ToolIndex(state))
    audit = AuditLog(database(home, settings, timeout=30.0))  # appends wait longer for the lock, as on SQLite
    return Stores(ledger=Ledger(state), registry=Registry(state, forge), audit=audit,
                  index=ToolIndex(home / SEARCH_CACHE_NAME))


def open_watcher(home: Path, settings: DatabaseSettings, *, interval: float = 0.25) -> ChangeWatcher:
    """A watcher of the home's deployed tools, on the database ``settings`` names."""
    return ChangeWatcher(database(home, settings), interval=interval)
