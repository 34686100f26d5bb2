"""Two reviewers deciding one request at once (issue 16, item 1): exactly one decision wins.

The loser is told what happened (exit 2 and one line naming the state it found), and afterwards the
ledger, the audit log and the registry tell the same story — also after the next command, whose
settling must not "repair" a decided request into ``failed``. The tests hold whichever decision wins
the race and however the two processes interleave.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from toolfoundry.api import Foundry
from toolfoundry.core import Outcome
from toolfoundry.errors import Conflict
from toolfoundry.toolfile import load_candidate

from conftest import EXAMPLES, REPO, cli_json, make_settings, run_cli


def _pending(home: Path) -> str:
    proc = run_cli(home, "propose", str(EXAMPLES / "fetch_status.py"), "--allow-net", "example.org",
                   "--examples", str(EXAMPLES / "fetch_status_examples.json"), "--json", user="bob")
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    code, rows = cli_json(home, "review", "list")
    assert code == 0 and isinstance(rows, list)
    return str(rows[-1]["id"])


def _decide(home: Path, rid: str, action: str, reviewer: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLFOUNDRY_")}
    env.update(TOOLFOUNDRY_HOME=str(home), TOOLFOUNDRY_USER=reviewer)
    reason = ["--reason", f"{reviewer} says no"] if action == "reject" else []
    return subprocess.Popen([sys.executable, "-m", "toolfoundry", "review", action, rid, *reason, "--as", reviewer],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def _story(home: Path, rid: str) -> tuple[str, str | None, list[dict[str, object]], list[str]]:
    """(ledger status, ledger reviewer, the request's audit events, deployed tool names) as the CLI tells them."""
    code, shown = cli_json(home, "review", "show", rid)
    assert code == 0 and isinstance(shown, dict), shown
    code, tools = cli_json(home, "tools")
    assert code == 0 and isinstance(tools, list)
    return str(shown["status"]), shown["reviewer"], list(shown["events"]), [str(t["name"]) for t in tools]


@pytest.mark.parametrize("actions", [("approve", "approve"), ("approve", "reject"), ("reject", "approve")])
def test_two_reviewers_at_once_exactly_one_wins_and_the_loser_is_told(tmp_path: Path,
                                                                      actions: tuple[str, str]) -> None:
    home = tmp_path / "h"
    assert run_cli(home, "init").returncode == 0
    rid = _pending(home)
    reviewers = ("alice", "carol")
    procs = [_decide(home, rid, action, who) for action, who in zip(actions, reviewers, strict=True)]
    results = [(p.returncode, out, err) for p in procs for out, err in [p.communicate(timeout=180)]]

    winners = [i for i, (code, _, _) in enumerate(results) if code in (0, 1)]
    assert len(winners) == 1, results
    won = winners[0]
    loser_code, loser_out, loser_err = results[1 - won]
    assert loser_code == 2, results
    errors = [line for line in loser_err.splitlines() if line.startswith("toolfoundry: error:")]
    assert len(errors) == 1 and loser_err.endswith(errors[0] + "\n"), loser_err  # progress lines may come first
    told = ("deployed", "rejected", "already being decided")  # the outcome, or that it is under way
    assert rid in errors[0] and any(t in errors[0] for t in told), loser_err
    assert "deployed" not in loser_out and "rejected by" not in loser_out, loser_out

    action, who = actions[won], reviewers[won]
    expected = "deployed" if action == "approve" else "rejected"
    code, out, _ = results[won]
    assert code == (0 if action == "approve" else 1)
    assert (f"approved by {who}" if action == "approve" else f"rejected by {who}") in out, out

    for _ in range(2):  # and the next command's settling changes nothing
        status, reviewer, events, tools = _story(home, rid)
        assert status == expected and reviewer == who
        decided = [e for e in events if e["kind"] == "review.decided"]
        assert [e["actor"] for e in decided] == [who], decided
        closed = [e for e in events if e["kind"] == "request.closed"]
        assert [e["data"]["status"] for e in closed] == [expected], closed  # type: ignore[index]
        assert tools == (["fetch_status"] if expected == "deployed" else [])
        assert sum(e["kind"] == "merge" for e in events) == (1 if expected == "deployed" else 0)
    assert run_cli(home, "audit", "verify").returncode == 0


def test_two_threads_reviewing_through_one_foundry_one_wins_the_other_gets_conflict(home: Path) -> None:
    with Foundry(make_settings(home, user="bob")) as foundry:
        pending = foundry.propose(load_candidate(EXAMPLES / "fetch_status.py", allow_net=["example.org"],
                                                 examples=EXAMPLES / "fetch_status_examples.json"))
        assert pending.status == "pending_review"
        rid = pending.request_id
        start = threading.Barrier(2)
        got: dict[str, Outcome | BaseException] = {}

        def decide(reviewer: str, approve: bool) -> None:
            start.wait()
            try:
                got[reviewer] = foundry.review(rid, approve=approve, reviewer=reviewer, reason="no")
            except BaseException as exc:  # the test looks at it below
                got[reviewer] = exc

        threads = [threading.Thread(target=decide, args=("alice", True)),
                   threading.Thread(target=decide, args=("carol", False))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        outcomes = {who: r for who, r in got.items() if isinstance(r, Outcome)}
        lost = {who: r for who, r in got.items() if not isinstance(r, Outcome)}
        assert len(outcomes) == 1 and len(lost) == 1, got
        (winner, outcome), (_, error) = next(iter(outcomes.items())), next(iter(lost.items()))
        assert isinstance(error, Conflict) and rid in str(error), error
        assert outcome.status == ("deployed" if winner == "alice" else "rejected")
        row = foundry.request_row(rid)
        assert row.status == outcome.status and row.reviewer == winner
        decided = [e for e in foundry.events(rid) if e.kind == "review.decided"]
        assert [e.actor for e in decided] == [winner]
        assert [t.ref.name for t in foundry.tools()] == (["fetch_status"] if winner == "alice" else [])


def test_a_review_of_a_request_whose_decision_is_under_way_says_so_and_changes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert run_cli(home, "init").returncode == 0
    rid = _pending(home)
    killed = run_cli(home, "review", "approve", rid, "--as", "alice", env={"TOOLFOUNDRY_CRASH_AFTER": "review"})
    assert killed.returncode == -9, killed.stderr  # alice's approval was claimed and recorded, then the power went
    with Foundry(make_settings(home, user="carol")) as foundry:
        assert foundry.request_row(rid).status == "running"
        with pytest.raises(Conflict, match=f"request {rid} is already being decided"):
            foundry.review(rid, approve=False, reviewer="carol", reason="no")
        assert foundry.request_row(rid).status == "running"
        assert [e.actor for e in foundry.events(rid) if e.kind == "review.decided"] == ["alice"]
