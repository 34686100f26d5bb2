"""Cancelling requests: before they commit they end as cancelled (audited); after, the reply says why not.

Real workflows on a real home: a candidate with slow pytest tests keeps its workflow busy long enough to
be cancelled mid-way. The MCP path (a client's notifications/cancelled) is in tests/surfaces.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example, Outcome
from toolfoundry.errors import Conflict, UsageError
from toolfoundry.pipeline.parts import Parts

from conftest import ADD, make_settings

SLOW = "import time\n\nfrom tool import add\n\n\ndef test_add():\n    time.sleep(4)\n    assert add(1, 2) == 3\n"
EXAMPLES = (Example(args={"a": 1, "b": 2}, expect=3),)


def _start(foundry: Foundry, candidate: Candidate) -> tuple[threading.Thread, list[Outcome], list[str]]:
    """Propose on a thread; wait for the request's id (its first event)."""
    outcomes: list[Outcome] = []
    ids: list[str] = []
    opened = threading.Event()

    def on_event(event: object) -> None:
        ids.append(event.request_id)  # type: ignore[attr-defined]
        opened.set()

    thread = threading.Thread(target=lambda: outcomes.append(foundry.propose(candidate, on_event=on_event)))
    thread.start()
    assert opened.wait(60), "the request never opened"
    return thread, outcomes, ids


def test_a_running_request_stops_at_the_next_step_and_ends_cancelled(foundry: Foundry) -> None:
    thread, outcomes, ids = _start(foundry, Candidate(code=ADD, tests=SLOW, examples=EXAMPLES))
    rid = ids[0]
    done = foundry.cancel(rid, actor="alice")
    assert done.status == "cancelled" and done.reason == "cancelled by alice"
    thread.join(60)
    assert outcomes and outcomes[0].status == "cancelled"  # the waiter gets the cancelled outcome, not an error
    assert foundry.request_row(rid).status == "cancelled" and foundry.tools() == []
    trail = [e.kind for e in foundry.events(rid)]
    assert "policy.decision" not in trail and "pr.opened" not in trail and "merge" not in trail
    closed = [e for e in foundry.events(rid) if e.kind == "request.closed"]
    assert [(e.actor, e.data["status"]) for e in closed] == [("alice", "cancelled")]
    again = foundry.cancel(rid)
    assert again.status == "cancelled" and again.reason == "not cancelled: it had already ended: cancelled"
    assert foundry.verify().ok


def test_a_deployed_request_is_not_cancelled_and_the_reply_says_so(foundry: Foundry) -> None:
    outcome = foundry.propose(Candidate(code=ADD, examples=EXAMPLES))
    assert outcome.status == "deployed"
    reply = foundry.cancel(outcome.request_id[:8], actor="alice")
    assert reply.status == "deployed" and reply.tool is not None and reply.tool.name == "add"
    assert reply.reason == "not cancelled: it had already ended: deployed"
    assert foundry.call("add", a=1, b=1).result == 2
    with pytest.raises(UsageError, match="no request 'nope'"):
        foundry.cancel("nope")


def test_a_request_waiting_for_review_can_be_cancelled_and_then_not_approved(home: Path) -> None:
    config = home / "toolfoundry.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[[policy.rules]]\nname = "humans"\n'
                      'when = { name_matches = "add" }\nroute = "human"\n', encoding="utf-8")
    with Foundry(make_settings(home)) as foundry:
        pending = foundry.propose(Candidate(code=ADD, examples=EXAMPLES))
        assert pending.status == "pending_review"
        done = foundry.cancel(pending.request_id, actor="tester")
        assert done.status == "cancelled" and "while it waited for review" in done.reason
        with pytest.raises(Conflict):
            foundry.review(pending.request_id, approve=True, reviewer="alice")
        assert foundry.tools() == [] and foundry.request_row(pending.request_id).status == "cancelled"


def test_a_cancel_that_lost_the_race_to_a_commit_says_what_happened(foundry: Foundry, parts: Parts) -> None:
    """The fate is settled once: after the review step committed, a cancel is refused with the reason."""
    thread, outcomes, ids = _start(foundry, Candidate(code=ADD, tests=SLOW, examples=EXAMPLES))
    rid = ids[0]
    assert parts.ledger.settle_fate(rid, "final") == "final"  # as the review step does before it merges
    reply = foundry.cancel(rid, actor="alice")
    assert reply.status == "running" and reply.reason.startswith("not cancelled: it was already approved")
    thread.join(60)
    assert outcomes[0].status == "deployed"


def test_a_workflow_that_reaches_a_commit_after_a_cancel_won_ends_cancelled_itself(foundry: Foundry,
                                                                                   parts: Parts) -> None:
    """The canceller settled the fate and died before stopping the workflow: the workflow must not merge."""
    thread, outcomes, ids = _start(foundry, Candidate(code=ADD, tests=SLOW, examples=EXAMPLES))
    rid = ids[0]
    assert parts.ledger.settle_fate(rid, "cancel") == "cancel"  # and nothing else: no DBOS cancel, no ledger write
    thread.join(60)
    assert outcomes[0].status == "cancelled" and foundry.tools() == []
    assert "merge" not in [e.kind for e in foundry.events(rid)]
    assert foundry.request_row(rid).status == "cancelled"
