"""The PostgreSQL boundary on a real server: translation, migrations, errors as one line, the bounded pool, restarts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from pgserver import PostgresServer

from toolfoundry.errors import DatabaseError
from toolfoundry.store.audit import AuditLog
from toolfoundry.store.db import applied, connect_database, migrate
from toolfoundry.store.dialect import to_postgres
from toolfoundry.store.ledger import Ledger
from toolfoundry.store.migrations import MIGRATIONS
from toolfoundry.store.postgres import PostgresDatabase, redact


def dbname(url: str) -> str:
    return url.rsplit("/", 1)[1]


# ── translation (no server needed) ─────────────────────────────────────────────────────────────

@pytest.mark.parametrize(("sqlite", "postgres"), [
    ("SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = %s AND c = %s"),
    ("SELECT '?', 'it''s ?' FROM t WHERE x = ?", "SELECT '?', 'it''s ?' FROM t WHERE x = %s"),
    ("SELECT '50%' || ? FROM t", "SELECT '50%%' || %s FROM t"),
    ("INSERT OR IGNORE INTO t(a) VALUES (?)", "INSERT INTO t(a) VALUES (%s) ON CONFLICT DO NOTHING"),
    ("SELECT id FROM r WHERE id LIKE ? ESCAPE '\\'", "SELECT id FROM r WHERE id ILIKE %s ESCAPE '\\'"),
    ("SELECT \"like\" FROM t", "SELECT \"like\" FROM t"),
])
def test_the_stores_sql_is_translated_in_one_place(sqlite: str, postgres: str) -> None:
    assert to_postgres(sqlite) == postgres


def test_a_url_is_named_without_its_password() -> None:
    assert redact("postgresql://bob:s3cret@db.internal:5433/foundry?sslmode=require") == \
        "postgresql://bob@db.internal:5433/foundry"
    assert redact("postgresql+psycopg://bob@h/f") == "postgresql://bob@h/f"


# ── migrations ─────────────────────────────────────────────────────────────────────────────────

def test_migrations_are_recorded_in_order_in_their_own_schema(postgres: str, pg_server: PostgresServer) -> None:
    pg_server.sql(postgres, "CREATE SCHEMA dbos")  # DBOS's, beside ours in the same database
    db = connect_database(postgres)
    assert migrate(db) == [m.name for m in MIGRATIONS]
    assert applied(db) == [m.name for m in MIGRATIONS] and migrate(db) == []
    tables = {r[0] for r in pg_server.sql(postgres, "SELECT table_name FROM information_schema.tables"
                                                    " WHERE table_schema = 'toolfoundry'")}
    assert {"requests", "tools", "active", "audit_events", "audit_head", "tool_changes", "schema_migrations"} <= tables
    assert not any(t.startswith("tool_search") for t in tables)  # the search index is a per-node SQLite cache
    assert pg_server.sql(postgres, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'dbos'")[0][0] == 0
    db.close()


def test_a_database_from_a_newer_release_is_refused_with_one_line(postgres: str, pg_server: PostgresServer) -> None:
    Ledger(postgres).close()
    pg_server.sql(postgres, "INSERT INTO toolfoundry.schema_migrations(name, applied_at) VALUES ('9999-future', 'x')")
    with pytest.raises(DatabaseError) as err:
        Ledger(postgres)
    message = str(err.value)
    assert "newer release of toolfoundry" in message and "9999-future" in message and "\n" not in message
    assert redact(postgres) in message


MIGRATOR = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from toolfoundry.store.db import connect_database, migrate
    url, go = sys.argv[1:]
    while not Path(go).exists():
        time.sleep(0.001)
    print(len(migrate(connect_database(url))))
""")


def test_processes_migrating_a_fresh_database_at_once_apply_each_migration_once(postgres: str, tmp_path: Path,
                                                                               pg_server: PostgresServer) -> None:
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", MIGRATOR, postgres, str(go)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    go.touch()
    applied_counts = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        applied_counts.append(int(out))
    assert sorted(applied_counts) == [0, 0, 0, len(MIGRATIONS)]
    names = [r[0] for r in pg_server.sql(postgres, "SELECT name FROM toolfoundry.schema_migrations ORDER BY position")]
    assert names == [m.name for m in MIGRATIONS]


# ── errors ─────────────────────────────────────────────────────────────────────────────────────

def test_a_stopped_server_is_one_line_naming_the_database_without_its_password(postgres: str,
                                                                              pg_server: PostgresServer) -> None:
    url = postgres.replace("postgres@", "postgres:s3cret@")  # trust authentication ignores the password
    ledger = Ledger(url)
    ledger.open("r-1", requester="alice", source="propose")
    pg_server.stop()
    for attempt in (lambda: ledger.get("r-1"), lambda: ledger.update("r-1", status="failed"), lambda: Ledger(url)):
        with pytest.raises(DatabaseError) as err:
            attempt()
        message = str(err.value)
        assert message.startswith("lost or could not open the connection to " + redact(postgres)), message
        assert "\n" not in message and "s3cret" not in message
    pg_server.start()
    assert ledger.get("r-1") is not None  # the same object connects again
    ledger.close()


def test_a_missing_database_is_named(pg_server: PostgresServer) -> None:
    with pytest.raises(DatabaseError, match=r"t_missing does not exist .*create it first"):
        connect_database(pg_server.url("t_missing"))


def test_a_read_only_database_reads_and_refuses_writes_before_trying(postgres: str, pg_server: PostgresServer) -> None:
    Ledger(postgres).close()
    AuditLog(postgres).close()
    pg_server.sql(postgres, f'ALTER DATABASE "{dbname(postgres)}" SET default_transaction_read_only = on')
    ledger, log = Ledger(postgres), AuditLog(postgres)
    assert ledger.with_status() == [] and log.verify().ok
    for write in (lambda: ledger.open("r-1", requester="a", source="propose"),
                  lambda: log.append("x", request_id=None, actor="a", data={})):
        with pytest.raises(DatabaseError, match="is read-only, and .* needs to write it: the home is read-only here"):
            write()
    ledger.close()
    log.close()


def test_a_role_that_may_only_read_is_told_what_it_lacks(postgres: str, pg_server: PostgresServer) -> None:
    Ledger(postgres).close()
    pg_server.sql(postgres, "CREATE ROLE reader LOGIN")
    pg_server.sql(postgres, "GRANT USAGE ON SCHEMA toolfoundry TO reader")
    pg_server.sql(postgres, "GRANT SELECT ON ALL TABLES IN SCHEMA toolfoundry TO reader")
    ledger = Ledger(postgres.replace("postgres@", "reader@"))
    assert ledger.with_status() == []
    with pytest.raises(DatabaseError, match="the database role may not do this while recording request r-1"):
        ledger.open("r-1", requester="a", source="propose")
    ledger.close()


# ── connections ────────────────────────────────────────────────────────────────────────────────

def test_many_threads_share_a_bounded_pool(postgres: str, pg_server: PostgresServer) -> None:
    """The probe of notes/scale-out.md exhausted max_connections with a connection per thread; this stays at 3."""
    db = PostgresDatabase(postgres, pool_size=3)
    ledger, log = Ledger(db), AuditLog(PostgresDatabase(postgres, pool_size=3))
    done = threading.Event()
    peak = [0]

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], pg_server.backends(dbname(postgres), "toolfoundry"))

    def work(n: int) -> None:
        for i in range(25):
            ledger.open(f"r-{n}-{i}", requester="a", source="propose")
            log.append("stage.done", request_id=f"r-{n}-{i}", actor="foundry", data={"i": i})
            assert ledger.get(f"r-{n}-{i}") is not None

    sampler = threading.Thread(target=sample)
    sampler.start()
    workers = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    done.set()
    sampler.join()
    assert len(ledger.with_status()) == 400 and log.verify().count == 400
    assert 1 <= peak[0] <= 3, peak[0]
    ledger.close()
    log.close()
    deadline = time.monotonic() + 30  # the last user closed the pool; the server notices each close on its own time
    while pg_server.backends(dbname(postgres), "toolfoundry") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pg_server.backends(dbname(postgres), "toolfoundry") == 0


@pytest.mark.parametrize("cut", ["restart", "terminate"])
def test_idle_connections_the_server_dropped_are_replaced_before_use(postgres: str, pg_server: PostgresServer,
                                                                    cut: str) -> None:
    db = PostgresDatabase(postgres, pool_size=2)
    ledger = Ledger(db)
    ledger.open("r-1", requester="a", source="propose")
    if cut == "restart":
        pg_server.restart()
    else:
        assert pg_server.terminate(dbname(postgres)) >= 1
    assert ledger.get("r-1") is not None  # first try, no error: the dead connection was never handed out
    ledger.update("r-1", status="failed")
    ledger.close()


def test_a_forked_child_uses_connections_of_its_own(postgres: str) -> None:
    ledger = Ledger(postgres)
    ledger.open("r-parent", requester="a", source="propose")
    pid = os.fork()
    if pid == 0:  # the child: its own pool; the parent's sockets are left alone
        code = 1
        try:
            ledger.open("r-child", requester="b", source="propose")
            code = 0 if ledger.get("r-parent") is not None else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert {r.id for r in ledger.with_status()} == {"r-parent", "r-child"}  # the parent's connection still works
    ledger.close()


# ── audit across a restart ─────────────────────────────────────────────────────────────────────

RETRYING_APPENDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from toolfoundry.errors import DatabaseError
    from toolfoundry.store.audit import AuditLog
    url, name, count, progress = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    log = None
    for i in range(count):
        while True:  # what a workflow step does: try again with the same key until it lands
            try:
                log = log or AuditLog(url)
                log.append("stage.done", request_id=name, actor=name, data={"i": i}, key=f"{name}:{i}")
                break
            except DatabaseError as exc:
                print(exc, file=sys.stderr, flush=True)
                time.sleep(0.02)
        if i == 10:  # wait for the others, so that the restart finds every appender mid-run
            progress.touch()
            while not progress.with_suffix(".go").exists():
                time.sleep(0.01)
        if i > 10:
            time.sleep(0.02)  # the rest takes over a second: longer than the restart takes to begin
""")


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_restart_mid_run_loses_and_duplicates_no_audit_event(postgres: str, pg_server: PostgresServer,
                                                               tmp_path: Path, mode: str) -> None:
    """``immediate`` is a crash of the server: every appender sees one-line errors, then carries on."""
    AuditLog(postgres).close()
    names, count = ["p0", "p1", "p2"], 80
    procs = [subprocess.Popen([sys.executable, "-c", RETRYING_APPENDER, postgres, name, str(count),
                               str(tmp_path / name)], stderr=subprocess.PIPE, text=True) for name in names]
    try:
        while not all((tmp_path / name).exists() for name in names):
            assert all(p.poll() is None for p in procs), "an appender ended early"
            threading.Event().wait(0.01)
        for name in names:
            (tmp_path / name).with_suffix(".go").touch()
        pg_server.restart(mode)
        errors = []
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            errors.extend(err.splitlines())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(line.startswith(("lost or could not open the connection to " + redact(postgres),
                                redact(postgres))) for line in errors), errors[:5]
    assert not any("Traceback" in line for line in errors)
    with AuditLog(postgres) as log:
        result = log.verify()
        events = log.events()
    assert result.ok and result.count == len(names) * count, result
    keys = [e.key for e in events]
    assert len(set(keys)) == len(keys) == len(names) * count
    for name in names:
        assert [e.data["i"] for e in events if e.actor == name] == list(range(count))
