"""Policy rules that route to reviewer agents, end to end: votes, quorum, fallback to a human."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example
from toolfoundry.testing import FakeOpenAIServer, Reply

from conftest import ADD, home_parts, make_settings

RULES = """
[[policy.rules]]
name = "adders-get-reviewers"
when = { name_matches = "add*" }
route = "reviewers"
roles = ["security", "correctness", "interface"]
quorum = 2
timeout_seconds = 30
"""
CANDIDATE = Candidate(code=ADD, examples=(Example(args={"a": 1, "b": 2}, expect=3),))


def vote(verdict: str, text: str = "looks right") -> Reply:
    return Reply.text(json.dumps({"verdict": verdict, "reasons": [{"line": 6, "text": text}], "summary": text}))


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def reviewed(home: Path, server: FakeOpenAIServer) -> Iterator[Foundry]:
    (home / "toolfoundry.toml").write_text(RULES)
    settings = make_settings(home, OPENAI_BASE_URL=server.base_url, TOOLFOUNDRY_MODEL="openai:fake-model")
    with Foundry(settings) as f:
        yield f


def test_a_quorum_of_reviewer_agents_approves_and_the_tool_is_deployed(
        reviewed: Foundry, server: FakeOpenAIServer) -> None:
    server.add(vote("approve"), vote("approve"), vote("approve"))
    outcome = reviewed.propose(CANDIDATE)
    assert outcome.status == "deployed", outcome.to_json()
    events = reviewed.events(outcome.request_id)
    decision = next(e for e in events if e.kind == "policy.decision")
    assert decision.data["rule"] == "adders-get-reviewers" and decision.data["route"] == "reviewers"
    votes = [e for e in events if e.kind == "review.vote"]
    assert len(votes) == 3 and all(v.data["verdict"] == "approve" for v in votes)
    assert {v.data["role"] for v in votes} == {"security", "correctness", "interface"}
    assert votes[0].data["reasons"] == [{"line": 6, "text": "looks right"}]
    decided = next(e for e in events if e.kind == "review.decided")
    assert decided.actor.startswith("reviewers(") and decided.data["approve"] is True
    sent = json.dumps(server.requests[0])
    assert "def add" in sent  # reviewers are shown the code


def test_one_reviewer_rejecting_rejects_the_request(reviewed: Foundry, server: FakeOpenAIServer) -> None:
    server.add(vote("reject", "subtracts instead of adding"), vote("reject", "wrong"), vote("reject", "wrong"))
    outcome = reviewed.propose(CANDIDATE)
    assert outcome.status == "rejected" and reviewed.tools() == []
    quorum = next(e for e in reviewed.events(outcome.request_id) if e.kind == "review.quorum")
    assert quorum.data["outcome"] == "rejected"


def test_an_unresolved_quorum_falls_back_to_a_human(reviewed: Foundry, server: FakeOpenAIServer) -> None:
    server.add(Reply.text("I am not sure."), Reply.text("{not json"), vote("approve"))
    outcome = reviewed.propose(CANDIDATE)
    assert outcome.status == "pending_review", outcome.to_json()
    assert "reviewers did not decide" in outcome.reason
    done = reviewed.review(outcome.request_id, approve=True, reviewer="alice", reason="checked by hand")
    assert done.status == "deployed"
    assert reviewed.verify().ok


def test_a_reviewer_rejection_starts_a_new_generation_attempt_when_the_policy_allows_it(
        home: Path, server: FakeOpenAIServer) -> None:
    (home / "toolfoundry.toml").write_text("""
[[policy.rules]]
name = "generated-tools-get-a-correctness-review"
when = { source = "request" }
route = "reviewers"
roles = ["correctness"]
quorum = 1
timeout_seconds = 30
regenerate = true
""")
    spec = json.dumps({"name": "add", "signature": "(a: int, b: int = 1) -> int", "description": "Add.",
                       "permissions": {"net_hosts": [], "env_vars": []}})
    clumsy = ADD.replace("return a + b", "return sum([a, b])")
    server.add(Reply.text(spec), Reply.text(f"```python\n{clumsy}```"),
               vote("reject", "build no list just to add two numbers"),
               Reply.text(f"```python\n{ADD}```"), vote("approve"))
    settings = make_settings(home, OPENAI_BASE_URL=server.base_url, TOOLFOUNDRY_MODEL="openai:fake-model")
    with Foundry(settings) as f, home_parts(settings) as parts:
        outcome = f.request("add two integers", examples=(Example(args={"a": 1, "b": 2}, expect=3),))
        assert outcome.status == "deployed", outcome.to_json()
        assert parts.forge.read_file(outcome.tool.commit or "", "tools/add/tool.py") == ADD.encode()  # type: ignore[union-attr]
        events = f.events(outcome.request_id)
    refine = server.requests[3]["messages"][-1]["content"]
    assert "review.reject" in refine and "build no list just to add two numbers" in refine and "tool.py:6" in refine
    assert [e.data["attempt"] for e in events if e.kind == "pr.opened"] == [1, 2]
    assert [e.data["outcome"] for e in events if e.kind == "review.quorum"] == ["rejected", "approved"]
