"""The whole pipeline through the Python API, on a real home: sandbox, git, SQLite, DBOS."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example, Permissions
from toolfoundry.errors import TamperedTool, UsageError
from toolfoundry.pipeline.parts import Parts
from toolfoundry.toolfile import load_candidate

from conftest import ADD, EXAMPLES, home_parts, make_settings, run_cli

EXAMPLES_ADD = (Example(args={"a": 1, "b": 2}, expect=3), Example(args={"a": 5}, expect=6))


def add_candidate(**kw: object) -> Candidate:
    return Candidate(code=ADD, examples=EXAMPLES_ADD, **kw)  # type: ignore[arg-type]


def kinds(foundry: Foundry, rid: str) -> list[str]:
    return [e.kind for e in foundry.events(rid)]


def test_a_correct_tool_is_deployed_and_callable(foundry: Foundry) -> None:
    outcome = foundry.propose(add_candidate())
    assert outcome.status == "deployed", outcome.to_json()
    assert outcome.tool is not None and outcome.tool.version == 1 and outcome.tool.commit
    assert [s.stage for s in outcome.stages] == ["contract", "checks", "tests", "oracle"]
    assert all(s.ok for s in outcome.stages)
    result = foundry.call("add", {"a": 40, "b": 2})
    assert result.to_json() == {"ok": True, "result": 42}
    assert result.tool == outcome.tool


def test_every_state_change_of_a_request_is_in_the_audit_log(foundry: Foundry) -> None:
    outcome = foundry.propose(add_candidate())
    foundry.call("add", {"a": 1})
    assert kinds(foundry, outcome.request_id) == [
        "request.opened", "stage", "stage", "stage", "stage", "policy.decision", "pr.opened",
        "review.decided", "merge", "deploy", "request.closed", "call"]
    events = foundry.events(outcome.request_id)
    assert events[0].data["sha256"] == outcome.tool.sha256  # type: ignore[union-attr]
    layers = events[0].data["sandbox"]
    assert isinstance(layers, dict) and "seccomp" in layers and "landlock" in layers  # what isolation was in force
    assert next(e for e in events if e.kind == "review.decided").actor == "policy"
    assert next(e for e in events if e.kind == "merge").data["commit"] == outcome.tool.commit  # type: ignore[union-attr]
    assert foundry.verify().ok


def test_the_pr_branch_and_merge_commit_carry_the_request_and_the_hash(foundry: Foundry, parts: Parts) -> None:
    outcome = foundry.propose(add_candidate())
    assert outcome.tool is not None
    trailers = parts.forge.trailers(outcome.tool.commit or "")
    assert trailers["Foundry-Request"] == outcome.request_id
    assert trailers["Tool-Sha256"] == outcome.tool.sha256
    assert parts.forge.read_file(outcome.tool.commit or "", "tools/add/tool.py") == ADD.encode()
    opened = next(e for e in foundry.events(outcome.request_id) if e.kind == "pr.opened")
    assert opened.data["head"] == parts.forge.branch_head(outcome.request_id)
    assert opened.data["branch"] == f"foundry/{outcome.request_id}"
    manifest = parts.forge.read_file(outcome.tool.commit or "", "tools/add/tool.toml").decode()
    assert f'request = "{outcome.request_id}"' in manifest


def test_a_wrong_tool_is_rejected_with_findings_a_model_can_act_on(foundry: Foundry, parts: Parts) -> None:
    wrong = ADD.replace("return a + b", "return a - b")
    outcome = foundry.propose(Candidate(code=wrong, examples=EXAMPLES_ADD))
    assert outcome.status == "rejected"
    oracle = next(s for s in outcome.stages if s.stage == "oracle")
    mismatch = next(f for f in oracle.findings if f.code == "oracle.mismatch")
    assert mismatch.input == {"a": 1, "b": 2} and mismatch.expected == 3 and mismatch.actual == -1
    assert foundry.tools() == []
    assert parts.forge.branch_head(outcome.request_id) is None  # nothing to review, nothing merged


def test_held_out_failures_never_reveal_their_inputs(foundry: Foundry) -> None:
    secret = Example(args={"a": 1234567, "b": 7654321}, expect=-1)
    outcome = foundry.propose(add_candidate(holdout=(secret,)))
    assert outcome.status == "rejected"
    text = json.dumps(outcome.to_json())
    assert "1234567" not in text and "7654321" not in text
    assert "1234567" not in json.dumps([e.to_json() for e in foundry.events(outcome.request_id)])
    assert any(f.code == "oracle.holdout-failed" for s in outcome.stages for f in s.findings)


def test_code_that_fails_static_checks_never_runs(foundry: Foundry, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    code = f'''"""Writes a canary."""
import os


def touch(x: int) -> int:
    """Touch."""
    os.system("touch {canary}")
    return x
'''
    outcome = foundry.propose(Candidate(code=code, examples=(Example(args={"x": 1}, expect=1),)))
    assert outcome.status == "rejected"
    assert [s.stage for s in outcome.stages] == ["contract", "checks"]
    assert any(f.code == "checks.import-not-allowed" and f.line == 2 for f in outcome.stages[1].findings)
    assert not canary.exists()


def test_a_tool_asking_for_the_network_waits_for_a_human(foundry: Foundry, home: Path) -> None:
    outcome = foundry.propose(load_candidate(EXAMPLES / "fetch_status.py", allow_net=["example.org"],
                                             examples=EXAMPLES / "fetch_status_examples.json"))
    assert outcome.status == "pending_review", outcome.to_json()
    assert [r.id for r in foundry.pending()] == [outcome.request_id]
    assert foundry.tools() == []
    with pytest.raises(UsageError, match="cannot review it"):
        foundry.review(outcome.request_id, approve=True, reviewer="tester")
    done = foundry.review(outcome.request_id, approve=True, reviewer="alice", reason="ok")
    assert done.status == "deployed"
    assert [t.ref.name for t in foundry.tools()] == ["fetch_status"]
    decided = next(e for e in foundry.events(outcome.request_id) if e.kind == "review.decided")
    assert decided.actor == "alice" and decided.data["approve"] is True
    with pytest.raises(UsageError, match="not pending review"):
        foundry.review(outcome.request_id, approve=True, reviewer="bob")


def test_a_rejected_review_merges_nothing(foundry: Foundry, parts: Parts) -> None:
    outcome = foundry.propose(add_candidate(permissions=Permissions(env_vars=("API_KEY",))))
    assert outcome.status == "pending_review"
    with pytest.raises(UsageError, match="needs a reason"):
        foundry.review(outcome.request_id, approve=False, reviewer="alice")
    main_before = parts.forge.main_head()
    done = foundry.review(outcome.request_id[:10], approve=False, reviewer="alice", reason="no secrets")
    assert done.status == "rejected" and "no secrets" in done.reason
    assert parts.forge.main_head() == main_before and foundry.tools() == []


def test_a_tool_without_examples_needs_a_human(foundry: Foundry, parts: Parts) -> None:
    outcome = foundry.propose(Candidate(code=ADD))
    assert outcome.status == "pending_review"
    assert parts.ledger.get(outcome.request_id).decision["rule"] == "no-host-evidence"  # type: ignore[index,union-attr]


def test_a_new_signature_is_allowed_as_a_new_version_and_rollback_moves_back(foundry: Foundry, parts: Parts) -> None:
    first = foundry.propose(add_candidate())
    v2 = ADD.replace("b: int = 1) -> int", "b: int = 1, c: int = 0) -> int").replace("a + b", "a + b + c")
    second = foundry.propose(Candidate(code=v2, examples=EXAMPLES_ADD))
    assert second.status == "deployed" and second.tool and second.tool.version == 2
    contract_stage = second.stages[0]
    assert any(f.code == "contract.signature-changed" and f.severity == "warning" for f in contract_stage.findings)
    assert foundry.call("add", {"a": 1, "b": 1, "c": 1}).result == 3
    back = foundry.rollback("add")
    assert back.ref == first.tool
    assert foundry.call("add", {"a": 1, "b": 1}).result == 2
    with pytest.raises(UsageError):
        foundry.call("add", {"a": 1, "b": 1, "c": 1})  # v1 has no parameter c
    assert foundry.rollback("add", to=2).ref.version == 2
    with pytest.raises(UsageError, match="no version 9"):
        foundry.rollback("add", to=9)
    assert [e.data["to"] for e in parts.audit.events(kinds=["rollback"])] == [1, 2]


def test_a_tool_whose_bytes_differ_from_the_reviewed_ones_refuses_to_load(foundry: Foundry, home: Path, parts: Parts) -> None:
    first = foundry.propose(add_candidate())
    assert first.status == "deployed"
    # A commit in the same repository whose tools/add/tool.py is not what was reviewed.
    evil = parts.forge.open_pr(request_id="evil", message="evil", trailers={},
                               files={"tools/add/tool.py": ADD.replace("a + b", "a + b + 1000").encode()})
    with sqlite3.connect(home / "foundry.db") as db:
        db.execute("UPDATE tools SET commit_sha = ? WHERE name = 'add'", (evil,))
    with pytest.raises(TamperedTool, match="refusing to load add"):
        foundry.call("add", {"a": 1})
    assert parts.audit.events(kinds=["call"]) == []
    tampered = parts.audit.events(kinds=["tool.tampered"])
    assert len(tampered) == 1 and tampered[0].request_id == first.request_id
    assert tampered[0].data["name"] == "add" and "reviewed sha256" in str(tampered[0].data["problem"])
    assert foundry.verify().ok
    proc = run_cli(home, "call", "add", "--args", '{"a": 1}')
    assert proc.returncode == 2 and "refusing to load add" in proc.stderr and "Traceback" not in proc.stderr


def test_a_call_failure_is_an_error_result_not_a_crash(foundry: Foundry, parts: Parts) -> None:
    code = '''"""Divide."""


def divide(a: float, b: float) -> float:
    """a / b."""
    return a / b
'''
    outcome = foundry.propose(Candidate(code=code, examples=(Example(args={"a": 1, "b": 2}, expect=0.5),
                                                             Example(args={"a": 1, "b": 0}, raises="ZeroDivisionError"))))
    assert outcome.status == "deployed"
    result = foundry.call("divide", {"a": 1, "b": 0})
    assert result.ok is False and result.error and result.error["type"] == "ZeroDivisionError"
    assert parts.audit.events(kinds=["call"])[-1].data["ok"] is False


def test_a_call_whose_result_breaks_the_declared_type_is_an_error(foundry: Foundry) -> None:
    code = '''"""Lies about its type."""


def liar(x: int) -> int:
    """Returns a string when x is 0."""
    if x == 0:
        return "zero"  # type: ignore[return-value]
    return x
'''
    assert foundry.propose(Candidate(code=code, examples=(Example(args={"x": 1}, expect=1),))).status == "deployed"
    result = foundry.call("liar", {"x": 0})
    assert result.ok is False and result.error and result.error["type"] == "BadResult"


def test_no_sandbox_means_nothing_is_proposed(home: Path) -> None:
    settings = make_settings(home, TOOLFOUNDRY_BWRAP="/nonexistent/bwrap")
    with Foundry(settings) as foundry, home_parts(settings) as parts:
        from toolfoundry.errors import SandboxUnavailable
        with pytest.raises(SandboxUnavailable, match="bubblewrap"):
            foundry.propose(add_candidate())
        assert parts.ledger.with_status("running", "deployed", "rejected", "pending_review", "failed") == []
        assert [e.kind for e in parts.audit.events()] == ["home.initialised", "sandbox.checked"]
