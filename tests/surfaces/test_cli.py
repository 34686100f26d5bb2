"""The command line as a user runs it: a subprocess, exit codes 0/1/2/3, --json outputs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import ADD, ADD_EXAMPLES, EXAMPLES, cli_json, run_cli, write


def test_every_command_on_an_uninitialised_home_says_so_and_exits_2(tmp_path: Path) -> None:
    for args in (["tools"], ["propose", str(EXAMPLES / "slugify")], ["call", "x"], ["review", "list"],
                 ["audit", "verify"], ["audit", "log"], ["rollback", "x"]):
        proc = run_cli(tmp_path / "nothing", *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "not a toolfoundry home" in proc.stderr and "toolfoundry init" in proc.stderr
        assert proc.stderr.count("\n") == 1  # one line


def test_init_creates_a_bare_repo_config_and_database_and_is_idempotent(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert run_cli(home, "init").returncode == 0
    assert (home / "tools.git" / "HEAD").is_file() and (home / "foundry.db").is_file()
    assert "# auto_approve_pure = true" in (home / "toolfoundry.toml").read_text()
    code, data = cli_json(home, "init")
    assert code == 0 and data == {"home": str(home), "created": False, "sandbox_problem": None}


def test_propose_json_prints_the_contract_object_and_exit_codes_follow_the_status(tmp_path: Path) -> None:
    home = tmp_path / "h"
    run_cli(home, "init")
    code, data = cli_json(home, "propose", str(EXAMPLES / "slugify"), "--holdout",
                          str(EXAMPLES / "slugify_holdout.json"))
    assert code == 0, data
    assert isinstance(data, dict) and data["status"] == "deployed"
    assert set(data) == {"request_id", "status", "tool", "stages", "reason"}
    assert set(data["tool"]) == {"name", "version", "sha256", "commit"} and data["tool"]["name"] == "slugify"
    assert [s["stage"] for s in data["stages"]] == ["contract", "checks", "tests", "oracle"]
    assert data["stages"][2]["details"]["passed"] == 2
    assert all({"stage", "ok", "ms", "findings"} <= set(s) for s in data["stages"])

    code, data = cli_json(home, "propose", str(EXAMPLES / "broken_word_stats.py"), "--examples",
                          str(EXAMPLES / "word_stats" / "examples.json"))
    assert code == 1 and data["status"] == "rejected"  # type: ignore[index]
    finding = data["stages"][-1]["findings"][0]  # type: ignore[index]
    assert {"code", "message", "severity"} <= set(finding) and finding["code"] == "oracle.mismatch"

    code, data = cli_json(home, "propose", str(EXAMPLES / "fetch_status.py"), "--allow-net", "example.org")
    assert code == 3 and data["status"] == "pending_review"  # type: ignore[index]


def test_call_prints_ok_or_error_objects(tmp_path: Path) -> None:
    home = tmp_path / "h"
    run_cli(home, "init")
    assert run_cli(home, "propose", str(EXAMPLES / "slugify")).returncode == 0
    assert cli_json(home, "call", "slugify", "--args", '{"text": "A B"}') == (0, {"ok": True, "result": "a-b"})
    code, data = cli_json(home, "call", "slugify", "--args", '{"text": "x", "max_length": 0}')
    assert code == 1 and data == {"ok": False, "error": {"type": "ValueError", "message": "max_length must be positive"}}
    for bad in ('{"text": 1}', '{"nope": 1}', "[1]", "{not json", '{"text": NaN}'):
        proc = run_cli(home, "call", "slugify", "--args", bad)
        assert proc.returncode == 2 and proc.stderr.startswith("toolfoundry: error:"), (bad, proc.stderr)
    proc = run_cli(home, "call", "nosuchtool")
    assert proc.returncode == 2 and "no deployed tool named 'nosuchtool'" in proc.stderr


def test_the_human_flow_from_the_terminal(tmp_path: Path) -> None:
    home = tmp_path / "h"
    run_cli(home, "init")
    proc = run_cli(home, "propose", str(EXAMPLES / "fetch_status.py"), "--allow-net", "example.org",
                   "--examples", str(EXAMPLES / "fetch_status_examples.json"), user="bob")
    assert proc.returncode == 3 and "pending_review" in proc.stdout and "review approve" in proc.stdout
    code, pending = cli_json(home, "review", "list")
    assert code == 0 and isinstance(pending, list) and len(pending) == 1
    rid = pending[0]["id"]
    show = run_cli(home, "review", "show", rid)
    assert show.returncode == 0 and "+def fetch_status" in show.stdout and "permissions-need-human" in show.stdout
    mine = run_cli(home, "review", "approve", rid, user="bob")
    assert mine.returncode == 2 and "cannot review it" in mine.stderr
    assert run_cli(home, "review", "approve", rid, "--as", "carol").returncode == 0
    code, tools = cli_json(home, "tools")
    assert code == 0 and [t["name"] for t in tools] == ["fetch_status"]  # type: ignore[union-attr]
    events = run_cli(home, "audit", "log", "--request", rid, "--json").stdout.splitlines()
    assert any('"review.decided"' in line and '"carol"' in line for line in events)


def test_malformed_examples_exit_2_naming_the_file_and_nothing_is_proposed(tmp_path: Path) -> None:
    home = tmp_path / "h"
    run_cli(home, "init")
    tool = write(tmp_path / "add.py", ADD)
    cases = {"bad.json": "{not json", "obj.json": '{"args": {}}', "item.json": "[1]",
             "noargs.json": '[{"expect": 1}]', "both.json": '[{"args": {}, "expect": 1, "raises": "E"}]'}
    for name, text in cases.items():
        path = write(tmp_path / name, text)
        proc = run_cli(home, "propose", str(tool), "--examples", str(path))
        assert proc.returncode == 2, (name, proc.stdout, proc.stderr)
        assert str(path) in proc.stderr, proc.stderr
    proc = run_cli(home, "propose", str(tmp_path / "missing.py"))
    assert proc.returncode == 2 and "tool module not found" in proc.stderr
    proc = run_cli(home, "propose", str(tool), "--allow-net", "not a host!")
    assert proc.returncode == 2 and "not a host name" in proc.stderr
    assert cli_json(home, "review", "list") == (0, [])
    log = run_cli(home, "audit", "log", "--json").stdout.splitlines()
    assert [json.loads(line)["kind"] for line in log] == ["home.initialised", "sandbox.checked"]


def test_bad_tools_are_rejected_with_their_finding_codes(tmp_path: Path) -> None:
    home = tmp_path / "h"
    run_cli(home, "init")
    examples = write(tmp_path / "ex.json", ADD_EXAMPLES)
    bad = {
        "syntax": ("def add(:\n", "contract.syntax"),
        "nopublic": ('"""m."""\n\ndef _add(a: int) -> int:\n    """d."""\n    return a\n', "contract.no-public-function"),
        "two": (ADD + '\n\ndef sub(a: int) -> int:\n    """d."""\n    return a\n', "contract.several-public-functions"),
        "unannotated": ('"""m."""\n\n\ndef add(a, b: int = 1) -> int:\n    """d."""\n    return a + b\n',
                        "contract.missing-annotation"),
        "notjson": ('"""m."""\n\n\ndef add(a: set[int], b: int = 1) -> int:\n    """d."""\n    return 1\n',
                    "contract.unsupported-annotation"),
        "argsmismatch": (ADD.replace("a: int", "x: int").replace("a + b", "x + b"), "contract.example-args"),
    }
    for name, (code_text, finding) in bad.items():
        code, data = cli_json(home, "propose", str(write(tmp_path / f"{name}.py", code_text)), "--examples", str(examples))
        assert code == 1, (name, data)
        codes = [f["code"] for s in data["stages"] for f in s["findings"]]  # type: ignore[index]
        assert finding in codes, (name, codes)
    write(tmp_path / "badname" / "tool.py", ADD)
    write(tmp_path / "badname" / "tool.toml", 'name = "My-Tool"\n')
    code, data = cli_json(home, "propose", str(tmp_path / "badname"), "--examples", str(examples))
    assert code == 1 and "contract.bad-name" in [f["code"] for s in data["stages"] for f in s["findings"]]  # type: ignore[index]
    assert cli_json(home, "tools") == (0, [])
    assert run_cli(home, "audit", "verify").returncode == 0


def test_audit_verify_exits_1_naming_the_first_bad_event(tmp_path: Path) -> None:
    home = tmp_path / "h"
    run_cli(home, "init")
    assert run_cli(home, "propose", str(EXAMPLES / "slugify")).returncode == 0
    ok = run_cli(home, "audit", "verify")
    assert ok.returncode == 0 and "chain intact" in ok.stdout
    with sqlite3.connect(home / "foundry.db") as db:
        db.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    proc = run_cli(home, "audit", "verify")
    assert proc.returncode == 1 and "#3" in proc.stderr
    code, data = cli_json(home, "audit", "verify")
    assert code == 1 and data["first_bad_seq"] == 3  # type: ignore[index]


def test_propose_shows_each_stage_while_it_runs(tmp_path: Path) -> None:
    home = tmp_path / "h"
    run_cli(home, "init")
    proc = run_cli(home, "propose", str(EXAMPLES / "slugify"))
    assert proc.returncode == 0
    for needle in ("contract", "checks", "tests", "oracle", "policy: auto", "pull request foundry/",
                   "merged into main", "verified", "deployed"):
        assert needle in proc.stdout, (needle, proc.stdout)


def test_a_missing_bwrap_is_exit_2_naming_the_package(tmp_path: Path) -> None:
    home = tmp_path / "h"
    run_cli(home, "init")
    proc = run_cli(home, "propose", str(EXAMPLES / "slugify"), env={"TOOLFOUNDRY_BWRAP": "/nonexistent/bwrap"})
    assert proc.returncode == 2 and "apt-get install bubblewrap" in proc.stderr
    assert cli_json(home, "review", "list") == (0, [])
