"""The schema history of a home's ``foundry.db``: every table, created and changed by named migrations, in order.

A migration is never edited once released: a change to a table is a new migration at the end of
:data:`MIGRATIONS`. Each is written in SQLite's SQL (``sql``) and, where PostgreSQL's differs, in its
own (``sql_postgres``): the same names in the same order on both, so a PostgreSQL database records the
same history (its tables in the ``toolfoundry`` schema, without the search index, which stays a SQLite
file on each node). ``0001-initial`` is the schema of toolfoundry 0.1 (written with ``IF NOT EXISTS``,
so a home made by 0.1, which records no migrations, adopts it as it is); the ones after it upgrade
such a home. ``store/db.py`` applies them. The tables' owners: ``requests`` — ``ledger.py``;
``tools``, ``active`` — ``registry.py``; ``audit_events`` — ``audit.py``; ``tool_search*`` — ``search.py``;
``principals``, ``tokens`` — ``principals.py``. PostgreSQL only (``0005``; on SQLite the audit head is a
file and ``PRAGMA data_version`` tells changes): ``audit_head`` — ``audit.py``; ``tool_changes``, a
count its triggers move on every write of ``tools`` or ``active`` — ``changes.py``.
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
    sql_postgres: str | None = None
    """The same change in PostgreSQL's SQL where it differs (None: ``sql`` serves both); a ``;`` may sit
    inside a ``$$ … $$`` body."""

    def statements(self, dialect: str = "sqlite") -> list[str]:
        """The statements for ``dialect`` (``sqlite`` or ``postgresql``), one by one."""
        sql = self.sql_postgres if dialect == "postgresql" and self.sql_postgres is not None else self.sql
        out, current = [], ""
        for i, piece in enumerate(sql.split("$$")):
            if i % 2:  # inside a $$ … $$ body: kept whole
                current += f"$${piece}$$"
                continue
            first, *rest = piece.split(";")
            current += first
            if rest:
                out.append(current)
                *done, current = rest
                out.extend(done)
        return [s.strip() for s in [*out, current] if s.strip()]


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
    """, sql_postgres="""
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
        CREATE TABLE IF NOT EXISTS audit_events(seq BIGINT PRIMARY KEY, key TEXT UNIQUE, ts TEXT,
            request_id TEXT, kind TEXT, actor TEXT, data TEXT, prev_hash TEXT, hash TEXT);
        CREATE INDEX IF NOT EXISTS audit_events_request ON audit_events(request_id, seq)
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
    Migration(name="0005-postgres-audit-head-and-tool-changes", sql="", sql_postgres="""
        CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL);
        INSERT INTO audit_head SELECT 1, 0, repeat('0', 64) WHERE NOT EXISTS (SELECT 1 FROM audit_events);
        CREATE TABLE tool_changes (id INTEGER PRIMARY KEY CHECK (id = 1), n BIGINT NOT NULL);
        INSERT INTO tool_changes VALUES (1, 0);
        CREATE FUNCTION tool_changes_count() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
            BEGIN UPDATE tool_changes SET n = n + 1 WHERE id = 1; RETURN NULL; END $$;
        CREATE TRIGGER active_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON active
            FOR EACH STATEMENT EXECUTE FUNCTION tool_changes_count();
        CREATE TRIGGER tools_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tools
            FOR EACH STATEMENT EXECUTE FUNCTION tool_changes_count()
    """),
    Migration(name="0006-requests-fate", sql="""
        ALTER TABLE requests ADD COLUMN fate TEXT
    """),
    Migration(name="0007-cluster-executors", sql="", sql_postgres="""
        CREATE TABLE executors (id TEXT PRIMARY KEY, role TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
            since TEXT NOT NULL, command TEXT NOT NULL)
    """),
    Migration(name="0008-principals-github-login", sql="""
        ALTER TABLE principals ADD COLUMN github TEXT
    """),
)
"""Every migration, oldest first."""
