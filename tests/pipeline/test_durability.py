"""Invariant 5, nothing is lost: SIGKILL the process at every stage; the next process finishes the request.

Fault injection is ``TOOLFOUNDRY_CRASH_AFTER=<point>``: the process kills itself with SIGKILL right after
that point, as a power cut would. A read-only command afterwards answers at once and names the
interrupted request; `toolfoundry resume` (or any process that runs workflows: its watchdog sees the dead
executor's free lock) finishes it, and the home must be consistent: the tool deployed exactly once,
exactly one merge of the request on main, the registry and git agreeing, and the audit chain intact with
no duplicated event.
"""

from __future__ import annotations

import subprocess
import threading
from collections import Counter
from pathlib import Path

import pytest

from conftest import EXAMPLES, cli_json, run_cli

AUTO_POINTS = ["open", "contract", "checks", "tests", "oracle", "policy", "pr", "review",
               "merge.ref-updated", "merge", "load"]


def merges_of(home: Path, rid: str) -> int:
    out = subprocess.run(["git", "-C", str(home / "tools.git"), "log", "main", "--merges", "--format=%B%x00"],
                         capture_output=True, text=True, check=True).stdout
    return sum(1 for body in out.split("\x00") if f"Foundry-Request: {rid}" in body.splitlines())


def assert_consistent(home: Path, name: str) -> str:
    resumed = run_cli(home, "resume")
    assert resumed.returncode == 0, resumed.stderr
    code, tools = cli_json(home, "tools")
    assert code == 0 and [t["name"] for t in tools] == [name], tools  # type: ignore[union-attr]
    rid = tools[0]["request_id"]  # type: ignore[index]
    assert merges_of(home, rid) == 1
    proc = run_cli(home, "audit", "log", "--request", rid, "--json")
    kinds = Counter(line.split('"kind": "')[1].split('"')[0] for line in proc.stdout.splitlines())
    assert kinds["merge"] == 1 and kinds["deploy"] == 1 and kinds["request.closed"] == 1, kinds
    assert run_cli(home, "audit", "verify").returncode == 0
    return str(rid)


@pytest.mark.parametrize("point", AUTO_POINTS)
def test_a_kill_at_any_stage_is_resumed_by_the_next_command(tmp_path: Path, point: str) -> None:
    home = tmp_path / "h"
    run_cli(home, "init")
    proc = run_cli(home, "propose", str(EXAMPLES / "slugify"), env={"TOOLFOUNDRY_CRASH_AFTER": point})
    assert proc.returncode == -9, (proc.returncode, proc.stdout, proc.stderr)
    rid = assert_consistent(home, "slugify")
    assert cli_json(home, "call", "slugify", "--args", '{"text": "Back Up"}') == (0, {"ok": True, "result": "back-up"})
    code, shown = cli_json(home, "review", "show", rid)
    assert code == 0 and shown["status"] == "deployed"  # type: ignore[index]


@pytest.mark.parametrize("point", ["review", "merge.ref-updated", "merge", "load"])
def test_a_kill_during_an_approval_is_resumed(tmp_path: Path, point: str) -> None:
    home = tmp_path / "h"
    run_cli(home, "init")
    assert run_cli(home, "propose", str(EXAMPLES / "fetch_status.py"), "--allow-net", "example.org",
                   "--examples", str(EXAMPLES / "fetch_status_examples.json")).returncode == 3
    rid = cli_json(home, "review", "list")[1][0]["id"]  # type: ignore[index]
    proc = run_cli(home, "review", "approve", rid, "--as", "alice", env={"TOOLFOUNDRY_CRASH_AFTER": point})
    assert proc.returncode == -9, proc.stderr
    assert assert_consistent(home, "fetch_status") == rid
    assert cli_json(home, "review", "list") == (0, [])


def test_a_rejected_request_killed_before_closing_ends_rejected(tmp_path: Path) -> None:
    home = tmp_path / "h"
    run_cli(home, "init")
    proc = run_cli(home, "propose", str(EXAMPLES / "broken_word_stats.py"), "--examples",
                   str(EXAMPLES / "word_stats" / "examples.json"), env={"TOOLFOUNDRY_CRASH_AFTER": "policy"})
    assert proc.returncode == -9
    assert run_cli(home, "resume").returncode == 0
    assert cli_json(home, "tools") == (0, [])
    log = run_cli(home, "audit", "log", "--json").stdout
    assert '"status": "rejected"' in log and run_cli(home, "audit", "verify").returncode == 0


def test_two_processes_proposing_at_once_both_land(tmp_path: Path) -> None:
    home = tmp_path / "h"
    run_cli(home, "init")
    results: dict[str, int] = {}

    def go(path: str) -> None:
        results[path] = run_cli(home, "propose", path).returncode

    threads = [threading.Thread(target=go, args=(str(EXAMPLES / p),)) for p in ("slugify", "word_stats")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {str(EXAMPLES / "slugify"): 0, str(EXAMPLES / "word_stats"): 0}
    code, tools = cli_json(home, "tools")
    assert sorted(t["name"] for t in tools) == ["slugify", "word_stats"]  # type: ignore[union-attr]
    assert run_cli(home, "audit", "verify").returncode == 0


def test_a_request_interrupted_under_another_version_fails_cleanly_instead_of_hanging(tmp_path: Path) -> None:
    import sqlite3

    home = tmp_path / "h"
    run_cli(home, "init")
    proc = run_cli(home, "propose", str(EXAMPLES / "slugify"), env={"TOOLFOUNDRY_CRASH_AFTER": "oracle"})
    assert proc.returncode == -9
    with sqlite3.connect(home / "dbos.sqlite") as db:  # as if toolfoundry had been upgraded meanwhile
        assert db.execute("UPDATE workflow_status SET application_version = '0.0.1'").rowcount == 1
    proc = run_cli(home, "tools", "--json", timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]"
    assert "left unfinished by a process that died" in proc.stderr  # named, not silently finished first
    assert run_cli(home, "resume").returncode == 0
    log = run_cli(home, "audit", "log", "--json").stdout
    assert '"status": "failed"' in log and "interrupted under toolfoundry 0.0.1" in log
    assert run_cli(home, "audit", "verify").returncode == 0
