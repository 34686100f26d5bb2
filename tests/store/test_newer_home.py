"""A home from a newer release, or with tables this release did not make (issue 16, item 6).

Before: an extra column in each table made ``review list`` raise ``TypeError``, and ``propose`` merged
into main and then failed to record the deploy — a merge without a deploy, a request stuck running. Now
a home whose schema records a migration this release does not know is refused before anything, and a
merge happens only once the deploy is known to be recordable (the registry's writes are rehearsed first).
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from conftest import ADD, ADD_EXAMPLES, cli_json, run_cli, write


def tables(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                            " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'tool_search%'")]
    conn.close()
    return names


def add_column_to_every_table(db: Path, column: str) -> None:
    with sqlite3.connect(db) as conn:
        for table in tables(db):
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
    conn.close()


def refs(home: Path) -> str:
    return subprocess.run(["git", "--git-dir", str(home / "tools.git"), "for-each-ref"], capture_output=True,
                          text=True, check=True).stdout


def proposal(tmp_path: Path) -> list[str]:
    return ["propose", str(write(tmp_path / "add.py", ADD)), "--examples", str(write(tmp_path / "e.json", ADD_EXAMPLES))]


def test_a_newer_home_with_an_extra_column_everywhere_is_refused_and_propose_merges_nothing(
        home: Path, tmp_path: Path) -> None:
    add_column_to_every_table(home / "foundry.db", "future TEXT NOT NULL DEFAULT 'x'")
    with sqlite3.connect(home / "foundry.db") as conn:  # as the newer release that added them records it
        conn.execute("INSERT INTO schema_migrations(name, applied_at) VALUES ('9999-future-columns', 'x')")
    conn.close()
    before_db, before_refs = (home / "foundry.db").read_bytes(), refs(home)
    for args in (["tools"], ["review", "list"], ["audit", "verify"], ["audit", "log"], ["call", "add"],
                 ["rollback", "add"], proposal(tmp_path), ["workers"], ["resume"], ["cancel", "x"],
                 ["provenance", "add"], ["principals", "list"]):
        proc = run_cli(home, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "newer release of toolfoundry" in proc.stderr and "9999-future-columns" in proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert refs(home) == before_refs  # no branch, no merge
    assert (home / "foundry.db").read_bytes() == before_db


def test_extra_columns_this_release_can_leave_alone_change_nothing(home: Path, tmp_path: Path) -> None:
    add_column_to_every_table(home / "foundry.db", "note TEXT")
    assert cli_json(home, "review", "list") == (0, [])
    code, data = cli_json(home, *proposal(tmp_path))
    assert code == 0 and data["status"] == "deployed", data  # type: ignore[index]
    code, tools = cli_json(home, "tools")
    assert code == 0 and [t["name"] for t in tools] == ["add"]  # type: ignore[union-attr]
    assert cli_json(home, "call", "add", "--args", '{"a": 2}') == (0, {"ok": True, "result": 3})
    assert run_cli(home, "audit", "verify").returncode == 0


def test_a_deploy_that_cannot_be_recorded_is_not_merged(home: Path, tmp_path: Path) -> None:
    with sqlite3.connect(home / "foundry.db") as conn:  # the registry's write will fail, whatever the reason
        conn.execute("CREATE TRIGGER no_new_tools BEFORE INSERT ON tools BEGIN"
                     " SELECT RAISE(ABORT, 'tools are frozen here'); END")
    conn.close()
    main_before = refs(home)
    code, data = cli_json(home, *proposal(tmp_path))
    assert code == 2 and isinstance(data, dict) and data["status"] == "failed", data
    assert "tools are frozen here" in data["reason"] and "before merging" in data["reason"], data["reason"]
    merged = subprocess.run(["git", "--git-dir", str(home / "tools.git"), "log", "main", "--merges", "--format=%H"],
                            capture_output=True, text=True, check=True).stdout
    assert merged == ""  # the branch may exist; main has no merge
    assert [line for line in refs(home).splitlines() if "refs/heads/main" in line] == \
        [line for line in main_before.splitlines() if "refs/heads/main" in line]
    code, shown = cli_json(home, "review", "show", str(data["request_id"]))
    assert code == 0 and shown["status"] == "failed"  # type: ignore[index]
    assert cli_json(home, "tools") == (0, [])
    assert run_cli(home, "audit", "verify").returncode == 0
