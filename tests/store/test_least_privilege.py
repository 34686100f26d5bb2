"""The README's least-privilege database role, run as written: DBOS and the stores work under it, nothing else does."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import psycopg
import pytest
from pgserver import PostgresServer

from conftest import REPO

PASSWORD = "change-me"


def readme_sql() -> list[str]:
    """The statements of the SQL block under "A least-privilege database role" in the README."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### A least-privilege database role", 1)[1]
    block = re.search(r"```sql\n(.*?)```", section, re.S)
    assert block is not None, "the README's role section has no sql block"
    return [line.strip().rstrip(";") for line in block.group(1).splitlines() if line.strip()]


@pytest.fixture
def role_database(pg_server: PostgresServer) -> Iterator[str]:
    """The README's SQL run on the session's server; the URL the role connects with."""
    pg_server.start()
    current = pg_server.url("postgres")
    try:
        for statement in readme_sql():
            if statement.startswith("\\connect "):
                current = pg_server.url(statement.split()[1])
            else:
                pg_server.sql(current, statement)
        yield f"postgresql://toolfoundry:{PASSWORD}@127.0.0.1:{pg_server.port}/toolfoundry"
    finally:
        pg_server.start()
        pg_server.drop_database("toolfoundry")
        pg_server.sql(pg_server.url(), "DROP ROLE IF EXISTS toolfoundry")


UNDER_THE_ROLE = textwrap.dedent("""
    import sys
    from dbos import DBOS
    from toolfoundry.store.audit import AuditLog
    from toolfoundry.store.ledger import Ledger
    url = sys.argv[1]
    DBOS(config={"name": "least-privilege", "system_database_url": url, "application_version": "test"})

    @DBOS.step()
    def step(x: int) -> int:
        return x + 1

    @DBOS.workflow()
    def workflow(x: int) -> int:
        return step(x)

    DBOS.launch()
    result = workflow(41)
    DBOS.destroy()
    log = AuditLog(url)
    event = log.append("role.checked", request_id=None, actor="test", data={})
    ledger = Ledger(url)
    ledger.open("r-1", requester="test", source="propose")
    print(result, event.seq, log.verify().ok, ledger.get("r-1").status)
""")


def test_dbos_and_the_stores_run_under_the_role(role_database: str, pg_server: PostgresServer) -> None:
    proc = subprocess.run([sys.executable, "-c", UNDER_THE_ROLE, role_database], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["42", "1", "True", "running"]
    owners = dict(pg_server.sql(pg_server.url("toolfoundry"), "SELECT nspname, pg_get_userbyid(nspowner)"
                                " FROM pg_namespace WHERE nspname IN ('dbos', 'toolfoundry')"))
    assert owners == {"dbos": "toolfoundry", "toolfoundry": "toolfoundry"}


@pytest.mark.parametrize("statement", ["CREATE SCHEMA other", "CREATE TABLE public.planted (a int)",
                                       "CREATE DATABASE other", "CREATE ROLE other"])
def test_the_role_can_do_nothing_else(role_database: str, statement: str) -> None:
    with psycopg.connect(role_database, autocommit=True) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)  # type: ignore[call-overload]
