"""The store tests run on both databases: ``backend`` is SQLite (a file in tmp_path) or PostgreSQL (a fresh database).

A test asks for ``backend`` and gets a :class:`Backend` naming what the stores open (a path or a URL),
and a way to change the tables behind the stores' back, as someone with write access to the database
would (the tamper tests).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from pgserver import PostgresServer

from toolfoundry.store.dialect import to_postgres


@dataclass
class Backend:
    """One database the stores run on in a test."""

    name: str
    """``sqlite`` or ``postgresql``."""
    target: Path | str
    """What the stores open: the SQLite file, or the PostgreSQL URL."""
    tmp: Path
    """The test's directory (the SQLite file and the audit head live there)."""
    server: PostgresServer | None = None
    """The PostgreSQL server (None on SQLite)."""

    @property
    def head(self) -> Path | None:
        """The audit head file for ``AuditLog`` (None on PostgreSQL, whose anchor is a row)."""
        return self.tmp / "audit.head" if self.name == "sqlite" else None

    @property
    def dbname(self) -> str:
        """The PostgreSQL database's name."""
        return str(self.target).rsplit("/", 1)[1]

    def raw(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        """Run ``sql`` (SQLite's spelling) directly on the tables, outside every store."""
        if self.name == "sqlite":
            with sqlite3.connect(self.target) as conn:
                rows = conn.execute(sql, params).fetchall()
            conn.close()
            return rows
        with psycopg.connect(str(self.target), autocommit=True) as pg:
            pg.execute('SET search_path TO "toolfoundry"')
            cur = pg.execute(to_postgres(sql), params)  # type: ignore[call-overload]
            return list(cur.fetchall()) if cur.description else []

    def set_head(self, seq: int, hash_: str) -> None:
        """Put the audit anchor at ``(seq, hash_)`` (as a crash between an append and its anchor would)."""
        if self.head is not None:
            self.head.write_text(f"{seq} {hash_}\n")
        else:
            self.raw("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", seq, hash_)

    def drop_head(self) -> None:
        """Remove the audit anchor."""
        if self.head is not None:
            self.head.unlink()
        else:
            self.raw("DELETE FROM audit_head")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """SQLite, then PostgreSQL (skipped when PostgreSQL is not installed)."""
    if request.param == "sqlite":
        yield Backend(name="sqlite", target=tmp_path / "foundry.db", tmp=tmp_path)
        return
    url = request.getfixturevalue("postgres")
    yield Backend(name="postgresql", target=url, tmp=tmp_path, server=request.getfixturevalue("pg_server"))
