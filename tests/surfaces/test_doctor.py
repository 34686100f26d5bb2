"""A damaged home (issue 16, item 7): every command names the part, init does not paper over a loss, and
``toolfoundry doctor`` checks each part — the merge commit and bytes of every deployed version included.

Before, a deleted ``tools.git`` made every command say "not a toolfoundry home; run init"; after running
init, ``tools`` listed tools whose commits were gone and ``audit verify`` said ok (it still does: it checks
the audit chain only, and keeps that meaning).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from conftest import EXAMPLES, cli_json, run_cli

COMMANDS = (["tools"], ["call", "slugify", "--args", '{"text": "a"}'], ["review", "list"], ["audit", "verify"],
            ["audit", "log"], ["rollback", "slugify"], ["propose", str(EXAMPLES / "slugify")])


@pytest.fixture
def deployed(tmp_path: Path) -> Path:
    """A home with slugify deployed."""
    home = tmp_path / "h"
    assert run_cli(home, "init").returncode == 0
    assert run_cli(home, "propose", str(EXAMPLES / "slugify")).returncode == 0
    return home


def git(home: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(home / "tools.git"), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def doctor(home: Path) -> tuple[int, dict[str, dict[str, object]]]:
    code, data = cli_json(home, "doctor")
    assert isinstance(data, dict) and set(data) == {"ok", "checks"}, data
    assert data["ok"] == (code == 0)
    return code, {c["name"]: c for c in data["checks"]}  # type: ignore[union-attr]


def one_line(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, (proc.args, proc.stdout, proc.stderr)
    assert proc.stderr.startswith("toolfoundry: error:") and proc.stderr.count("\n") == 1, proc.stderr
    assert needle in proc.stderr, (proc.args, proc.stderr)


def test_doctor_on_a_sound_home_passes_every_check(deployed: Path) -> None:
    code, checks = doctor(deployed)
    assert code == 0, checks
    assert list(checks) == ["home", "schema", "tools.git", "deployed versions", "audit log", "sandbox"]
    assert "1 version(s)" in str(checks["deployed versions"]["detail"])
    text = run_cli(deployed, "doctor")
    assert text.returncode == 0 and "every check passed" in text.stdout


def test_a_deleted_tools_git_is_named_and_init_does_not_recreate_it_empty(deployed: Path) -> None:
    shutil.rmtree(deployed / "tools.git")
    needle = (f"the toolfoundry home {deployed} is damaged: the tool repository tools.git is missing, but"
              " foundry.db records 1 deployed tool version(s) whose reviewed code was in it: restore tools.git from"
              " a backup")
    for args in COMMANDS:
        one_line(run_cli(deployed, *args), needle)
    proc = run_cli(deployed, "init")
    one_line(proc, "init will not create empty parts over what was lost: the tool repository tools.git is missing")
    assert not (deployed / "tools.git").exists()
    code, checks = doctor(deployed)
    assert code == 1 and not checks["home"]["ok"] and not checks["tools.git"]["ok"]
    assert "restore tools.git from a backup" in str(checks["home"]["detail"])


def test_a_tools_git_without_its_merge_commits_is_found_by_doctor_and_audit_verify_keeps_its_meaning(
        deployed: Path, tmp_path: Path) -> None:
    backup = tmp_path / "old-tools.git"
    fresh = tmp_path / "fresh"
    assert run_cli(fresh, "init").returncode == 0  # a repository from before the deploy, restored in its place
    shutil.rmtree(deployed / "tools.git")
    shutil.copytree(fresh / "tools.git", backup)
    shutil.copytree(backup, deployed / "tools.git")
    commit = cli_json(deployed, "tools")[1][0]["commit"]  # type: ignore[index]
    code, checks = doctor(deployed)
    assert code == 1 and checks["tools.git"]["ok"] and not checks["deployed versions"]["ok"]
    assert f"slugify v1: its merge commit {str(commit)[:12]} is missing from tools.git" in \
        str(checks["deployed versions"]["detail"])
    assert run_cli(deployed, "audit", "verify").returncode == 0  # the audit chain itself is intact


def test_doctor_finds_a_rewritten_main_a_missing_object_and_a_wrong_hash(deployed: Path) -> None:
    merge = str(cli_json(deployed, "tools")[1][0]["commit"])  # type: ignore[index]
    main = git(deployed, "rev-parse", "main")
    root = git(deployed, "rev-list", "--max-parents=0", "main")
    git(deployed, "update-ref", "refs/heads/main", root)
    code, checks = doctor(deployed)
    assert code == 1 and f"its merge commit {merge[:12]} is not on main" in str(checks["deployed versions"]["detail"])
    git(deployed, "update-ref", "refs/heads/main", main)

    with sqlite3.connect(deployed / "foundry.db") as conn:
        conn.execute("UPDATE tools SET sha256 = ?", ("0" * 64,))
    conn.close()
    code, checks = doctor(deployed)
    assert code == 1 and "tools/slugify/tool.py at" in str(checks["deployed versions"]["detail"])
    assert "not the reviewed 0000000000000000" in str(checks["deployed versions"]["detail"])

    tree = git(deployed, "rev-parse", f"{merge}^{{tree}}")
    (deployed / "tools.git" / "objects" / tree[:2] / tree[2:]).unlink()
    code, checks = doctor(deployed)
    assert code == 1 and not checks["tools.git"]["ok"] and "is damaged" in str(checks["tools.git"]["detail"])


def test_a_deleted_database_is_named_and_init_does_not_start_an_empty_one(deployed: Path) -> None:
    for name in ("foundry.db", "foundry.db-wal", "foundry.db-shm"):
        (deployed / name).unlink(missing_ok=True)
    needle = "the database foundry.db is missing, but tools.git holds 1 merged tool version(s)"
    for args in COMMANDS:
        one_line(run_cli(deployed, *args), needle)
    one_line(run_cli(deployed, "init"), needle)
    assert not (deployed / "foundry.db").exists()


def test_a_missing_config_is_named_and_init_writes_it_again(deployed: Path) -> None:
    (deployed / "toolfoundry.toml").unlink()
    one_line(run_cli(deployed, "tools"), "is damaged: toolfoundry.toml is missing; `toolfoundry init` recreates it")
    assert run_cli(deployed, "init").returncode == 0
    code, tools = cli_json(deployed, "tools")
    assert code == 0 and [t["name"] for t in tools] == ["slugify"]  # type: ignore[union-attr]


def test_doctor_reports_a_broken_audit_chain_and_a_newer_schema(deployed: Path) -> None:
    with sqlite3.connect(deployed / "foundry.db") as conn:
        conn.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    conn.close()
    code, checks = doctor(deployed)
    assert code == 1 and "broken at event #2" in str(checks["audit log"]["detail"])
    with sqlite3.connect(deployed / "foundry.db") as conn:
        conn.execute("INSERT INTO schema_migrations(name, applied_at) VALUES ('9999-later', 'x')")
    conn.close()
    code, checks = doctor(deployed)
    assert code == 1 and "newer release" in str(checks["schema"]["detail"]) and "audit log" not in checks


def test_doctor_outside_any_home_is_exit_2(tmp_path: Path) -> None:
    one_line(run_cli(tmp_path / "nothing", "doctor"), "is not a toolfoundry home")
    (tmp_path / "empty").mkdir()
    one_line(run_cli(tmp_path / "empty", "doctor"), "is not a toolfoundry home")
