"""The schema history of a home's ``foundry.db``: every table, created and changed by named migrations, in order.

A migration is never edited once released: a change to a table is a new migration at the end of
:data:`MIGRATIONS`. ``0001-initial`` is the schema of toolfoundry 0.1 (written with ``IF NOT EXISTS``,
so a home made by 0.1, which records no migrations, adopts it as it is); the ones after it upgrade
such a home. ``store/db.py`` applies them. The tables' owners: ``requests`` — ``ledger.py``;
``tools``, ``active`` — ``registry.py``; ``audit_events`` — ``audit.py``; ``tool_search*`` — ``search.py``;
``principals``, ``tokens`` — ``principals.py``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    """One named, ordered change to the schema."""

    name: str
    """``NNNN-what``: recorded in ``schema_migrations`` once applied."""
    sql: str
    """Statements separated by ``;`` (no ``;`` inside them), run in one transaction."""

    def statements(self) -> list[str]:
        """The statements, one by one."""
        return [s.strip() for s in self.sql.split(";") if s.strip()]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(name="0001-initial", sql="""
        CREATE TABLE IF NOT EXISTS requests (
            id TEXT PRIMARY KEY, created TEXT NOT NULL, updated TEXT NOT NULL, requester TEXT NOT NULL,
            source TEXT NOT NULL, name TEXT, status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
            decision TEXT, outcome TEXT, reviewer TEXT);
        CREATE INDEX IF NOT EXISTS requests_status ON requests(status);
        CREATE TABLE IF NOT EXISTS tools (
            name TEXT NOT NULL, version INTEGER NOT NULL, sha256 TEXT NOT NULL, commit_sha TEXT NOT NULL,
            request_id TEXT NOT NULL UNIQUE, spec TEXT NOT NULL, permissions TEXT NOT NULL,
            deployed_at TEXT NOT NULL, PRIMARY KEY (name, version));
        CREATE TABLE IF NOT EXISTS active (name TEXT PRIMARY KEY, version INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS audit_events(seq INTEGER PRIMARY KEY, key TEXT UNIQUE, ts TEXT,
            request_id TEXT, kind TEXT, actor TEXT, data TEXT, prev_hash TEXT, hash TEXT);
        CREATE INDEX IF NOT EXISTS audit_events_request ON audit_events(request_id, seq);
        CREATE TABLE IF NOT EXISTS tool_search_meta (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, version INTEGER NOT NULL, digest TEXT NOT NULL,
            description TEXT NOT NULL, signature TEXT NOT NULL);
        CREATE VIRTUAL TABLE IF NOT EXISTS tool_search USING fts5(name, description, args,
            tokenize = 'porter unicode61')
    """),
    Migration(name="0002-requests-permissions-proposal", sql="""
        ALTER TABLE requests ADD COLUMN permissions TEXT;
        ALTER TABLE requests ADD COLUMN proposal TEXT
    """),
    Migration(name="0003-audit-hash-covers-key", sql="""
        ALTER TABLE audit_events ADD COLUMN v INTEGER NOT NULL DEFAULT 1
    """),
    Migration(name="0004-principals-and-tokens", sql="""
        CREATE TABLE IF NOT EXISTS principals (
            name TEXT PRIMARY KEY, kind TEXT NOT NULL, roles TEXT NOT NULL, risk TEXT NOT NULL DEFAULT '[]',
            tools TEXT NOT NULL DEFAULT '[]', keys TEXT NOT NULL DEFAULT '[]', created TEXT NOT NULL,
            created_by TEXT NOT NULL, revoked TEXT);
        CREATE TABLE IF NOT EXISTS tokens (
            id TEXT PRIMARY KEY, principal TEXT NOT NULL, secret_sha256 TEXT NOT NULL, scopes TEXT NOT NULL,
            created TEXT NOT NULL, expires TEXT, revoked TEXT);
        CREATE INDEX IF NOT EXISTS tokens_principal ON tokens(principal)
    """),
)
"""Every migration, oldest first."""
