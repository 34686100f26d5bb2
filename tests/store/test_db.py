"""The database boundary: schema migrations, homes from older and newer releases, and errors as one line."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from toolfoundry.errors import DatabaseError
from toolfoundry.store.db import Database, applied, migrate
from toolfoundry.store.migrations import MIGRATIONS

from conftest import ADD, ADD_EXAMPLES, cli_json, run_cli, write


def columns(db: Path, table: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    conn.close()
    return cols


def test_a_new_home_records_every_migration_in_order(home: Path) -> None:
    db = Database(home / "foundry.db")
    assert applied(db) == [m.name for m in MIGRATIONS]
    assert migrate(db) == []  # nothing left to do
    db.close()


def columns_of(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def as_made_by_release_0_1(home: Path) -> None:
    """Take a home back to 0.1's format: its events hashed by rule 1 (no key), no migrations table, no new columns."""
    from toolfoundry.store.audit import GENESIS, chain_hash
    with sqlite3.connect(home / "foundry.db") as conn:
        rows = conn.execute("SELECT seq, key, ts, request_id, kind, actor, data FROM audit_events ORDER BY seq").fetchall()
        prev = GENESIS
        for seq, key, ts, rid, kind, actor, data in rows:
            new = chain_hash(prev, seq=seq, key=key, ts=ts, request_id=rid, kind=kind, actor=actor,
                             data=json.loads(data), v=1)
            conn.execute("UPDATE audit_events SET hash = ?, prev_hash = ? WHERE seq = ?", (new, prev, seq))
            prev = new
        conn.execute("DROP TABLE schema_migrations")
        release_0_1 = sqlite3.connect(":memory:")  # 0.1's schema is migration 0001's
        for statement in MIGRATIONS[0].statements():
            release_0_1.execute(statement)
        old = {t: columns_of(release_0_1, t) for (t,) in release_0_1.execute("SELECT name FROM sqlite_master"
                                                                             " WHERE type = 'table'")}
        release_0_1.close()
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            if table not in old:
                conn.execute(f"DROP TABLE {table}")  # tables added after 0.1
                continue
            for column in columns_of(conn, table):
                if column not in old[table]:  # columns added after 0.1 (every later migration's)
                    conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    conn.close()
    (home / "audit.head").write_text(f"{rows[-1][0]} {prev}\n")


def test_a_home_made_by_the_previous_release_opens_and_upgrades(home: Path, tmp_path: Path) -> None:
    proc = run_cli(home, "propose", str(write(tmp_path / "add.py", ADD)), "--examples",
                   str(write(tmp_path / "ex.json", ADD_EXAMPLES)))
    assert proc.returncode == 0, proc.stderr
    as_made_by_release_0_1(home)
    assert "v" not in columns(home / "foundry.db", "audit_events")
    code, tools = cli_json(home, "tools")
    assert code == 0 and [t["name"] for t in tools] == ["add"]  # type: ignore[index,union-attr]
    assert {"permissions", "proposal"} <= set(columns(home / "foundry.db", "requests"))
    db = Database(home / "foundry.db")
    assert applied(db) == [m.name for m in MIGRATIONS]
    db.close()
    assert run_cli(home, "audit", "verify").returncode == 0  # 0.1's events verify by their own rule
    assert run_cli(home, "call", "add", "--args", '{"a": 2}').returncode == 0
    double = ADD.replace("def add(a: int, b: int = 1)", "def plus(a: int, b: int = 1)")
    proc = run_cli(home, "propose", str(write(tmp_path / "plus.py", double)), "--examples",
                   str(write(tmp_path / "ex.json", ADD_EXAMPLES)))
    assert proc.returncode == 0, proc.stderr
    verified = run_cli(home, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    with sqlite3.connect(home / "foundry.db") as conn:
        assert {r[0] for r in conn.execute("SELECT DISTINCT v FROM audit_events")} == {1, 2}
    conn.close()


def test_a_home_from_a_newer_release_is_refused_before_anything_else(home: Path, tmp_path: Path) -> None:
    with sqlite3.connect(home / "foundry.db") as conn:
        conn.execute("INSERT INTO schema_migrations(name, applied_at) VALUES ('9999-from-the-future', 'x')")
    conn.close()
    before = (home / "foundry.db").read_bytes()
    for args in (["tools"], ["audit", "verify"], ["review", "list"],
                 ["propose", str(write(tmp_path / "add.py", ADD)), "--examples", str(write(tmp_path / "e.json", ADD_EXAMPLES))]):
        proc = run_cli(home, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "newer release of toolfoundry" in proc.stderr and "9999-from-the-future" in proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert (home / "foundry.db").read_bytes() == before


def test_a_locked_database_is_one_line_naming_the_file(home: Path) -> None:
    holder = sqlite3.connect(home / "foundry.db", isolation_level=None, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        db = Database(home / "foundry.db", timeout=0.2)
        with pytest.raises(DatabaseError) as err:
            db.execute("UPDATE requests SET reason = 'x'")
        assert str(err.value).startswith(f"{home / 'foundry.db'} is locked by another process")
        db.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_corrupt_database_is_exit_2_with_one_line_naming_the_file(home: Path) -> None:
    db = home / "foundry.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database at all" * 200)
    for args in (["tools"], ["audit", "verify"]):
        proc = run_cli(home, *args)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and str(db) in proc.stderr and "damaged" in proc.stderr
        assert proc.stderr.count("\n") == 1


def test_a_database_in_a_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="its directory does not exist"):
        Database(tmp_path / "gone" / "foundry.db")
    assert not os.path.exists(tmp_path / "gone")


def test_a_sqlite_home_never_imports_psycopg(tmp_path: Path) -> None:
    """psycopg costs tens of milliseconds to import; a command on a SQLite home must not pay them."""
    code = ("import sys; from toolfoundry.store.db import connect_database, migrate;"
            f" migrate(connect_database({str(tmp_path / 'foundry.db')!r})); print('psycopg' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr
