"""``toolfoundry cancel REQUEST_ID``: exit 0 when the request was cancelled, 1 when it is too late (saying why),
2 for a usage error; and a cancel racing an approval leaves one story in the ledger, the audit log and the registry.

``Foundry.cancel`` had no command: a person could cancel a request only from Python or an MCP host.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from processes import audit_events, slow_tool, spawn, stop_process, wait_for

from conftest import EXAMPLES, cli_json, run_cli


def _pending(home: Path) -> str:
    proc = run_cli(home, "propose", str(EXAMPLES / "fetch_status.py"), "--allow-net", "example.org",
                   "--examples", str(EXAMPLES / "fetch_status_examples.json"), "--json", user="bob")
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    return str(json.loads(proc.stdout)["request_id"])


def _story(home: Path, rid: str) -> tuple[str, list[tuple[str, str]], list[str]]:
    """(ledger status, the request's deciding and closing events as (kind, actor), deployed tool names)."""
    code, shown = cli_json(home, "review", "show", rid)
    assert code == 0 and isinstance(shown, dict), shown
    code, tools = cli_json(home, "tools")
    assert code == 0 and isinstance(tools, list)
    kinds = ("review.decided", "merge", "deploy", "request.closed")
    return (str(shown["status"]), [(e["kind"], e["actor"]) for e in shown["events"] if e["kind"] in kinds],
            [str(t["name"]) for t in tools])


def test_cancelling_a_request_that_waits_for_review_ends_it_and_no_review_can_approve_it_after(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert run_cli(home, "init").returncode == 0
    rid = _pending(home)
    proc = run_cli(home, "cancel", rid, "--as", "carol")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert proc.stdout == f"cancelled: {rid}: cancelled by carol while it waited for review\n"
    again = run_cli(home, "cancel", rid[:-2], "--as", "dave")  # a unique prefix names it too
    assert again.returncode == 0 and "it was cancelled before: cancelled by carol" in again.stdout, again.stdout
    approve = run_cli(home, "review", "approve", rid, "--as", "alice")
    assert approve.returncode == 2 and approve.stderr.count("\n") == 1 and "cancelled" in approve.stderr
    assert _story(home, rid) == ("cancelled", [("request.closed", "carol")], [])
    assert run_cli(home, "audit", "verify").returncode == 0


def test_cancelling_a_request_that_ended_is_too_late_and_says_why(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert run_cli(home, "init").returncode == 0
    code, deployed = cli_json(home, "propose", str(EXAMPLES / "slugify"))
    assert code == 0 and isinstance(deployed, dict)
    rid = str(deployed["request_id"])
    proc = run_cli(home, "cancel", rid)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stdout == f"not cancelled: {rid} is deployed: it had already ended: deployed\n"
    code, shown = cli_json(home, "cancel", rid)
    assert code == 1 and isinstance(shown, dict)
    assert shown["status"] == "deployed" and shown["reason"] == "not cancelled: it had already ended: deployed"
    assert _story(home, rid)[0::2] == ("deployed", ["slugify"])


def test_cancel_usage_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert run_cli(home, "init").returncode == 0
    for argv, needle in ((["cancel"], "Missing argument 'request_id'"), (["cancel", "nosuch"], "no request 'nosuch'"),
                         (["cancel", "x", "--bogus"], "No such option: --bogus")):
        proc = run_cli(home, *argv)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and needle in proc.stderr, (argv, proc.stderr)
        assert proc.stderr.startswith("toolfoundry: error:") and not proc.stdout


def test_cancelling_a_running_request_stops_it_and_its_proposer_is_told_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert run_cli(home, "init").returncode == 0
    tool = slow_tool(tmp_path, 6)
    proposer = spawn(home, "propose", str(tool))
    try:
        rid = wait_for(lambda: next((e["request_id"] for e in audit_events(home) if e["kind"] == "request.opened"),
                                    None), "the request to open")
        proc = run_cli(home, "cancel", str(rid))
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        assert proc.stdout == f"cancelled: {rid}: cancelled by tester\n"
        out, err = proposer.communicate(timeout=180)
    finally:
        stop_process(proposer)
    assert proposer.returncode == 1, (out, err)
    assert out.endswith("cancelled: cancelled by tester\n"), out
    assert "Traceback" not in err and "DBOS" not in err, err  # not DBOS's log of the cancelled workflow
    assert _story(home, str(rid)) == ("cancelled", [("request.closed", "tester")], [])
    assert run_cli(home, "audit", "verify").returncode == 0


def test_a_cancel_racing_an_approval_leaves_one_story(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert run_cli(home, "init").returncode == 0
    rid = _pending(home)
    procs = [spawn(home, "review", "approve", rid, "--as", "alice", user="alice"), spawn(home, "cancel", rid, user="bob")]
    (approved, cancelled) = [(p.returncode, out, err) for p in procs for out, err in [p.communicate(timeout=180)]]
    status, events, tools = _story(home, rid)
    if status == "cancelled":  # the cancel won: nothing merged, the approval is told
        assert cancelled[0] == 0 and approved[0] in (1, 2), (approved, cancelled)
        assert "cancelled" in approved[1] + approved[2]
        assert events == [("request.closed", "bob")] and tools == []
    else:  # the approval won: deployed, and the cancel says it came too late
        assert status == "deployed" and approved[0] == 0 and cancelled[0] == 1, (approved, cancelled)
        assert cancelled[1].startswith(f"not cancelled: {rid} is "), cancelled
        assert events == [("review.decided", "alice"), ("merge", "foundry"), ("deploy", "foundry"),
                          ("request.closed", "foundry")] and tools == ["fetch_status"]
    assert run_cli(home, "audit", "verify").returncode == 0
    assert subprocess.run(["git", "--git-dir", str(home / "tools.git"), "log", "--merges", "--format=%H", "main"],
                          capture_output=True, text=True, check=True).stdout.count("\n") == (status == "deployed")
