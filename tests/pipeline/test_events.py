"""Typed events survive the audit log: what a step records is what a listener in another process reads back.

A request may run in a worker while its requester follows it from a CLI process, which only sees the
audit records; ``events.from_record`` must rebuild every kind of event exactly, and a new event kind
without a way back fails here.
"""

from __future__ import annotations

from toolfoundry.core import Decision, Finding, Permissions, ReviewDecision, ToolRef, Verdict
from toolfoundry.models.types import Usage
from toolfoundry.pipeline import events
from toolfoundry.stages.review.agent import Vote
from toolfoundry.stages.review.quorum import QuorumResult

RID = "20261201120000-abcdef"
REF = ToolRef(name="slugify", version=2, sha256="ab" * 32, commit="cd" * 20)
SANDBOX = {"bwrap": "bubblewrap 0.8.0", "seccomp": "88 rules"}
VOTE = Vote(reviewer="safety-1", role="safety", verdict="reject", reasons=((3, "opens a socket"), (None, "and more")),
            summary="no", usage=Usage(prompt_tokens=10, completion_tokens=2, cost_usd=0.01), ms=12.5)

SAMPLES: list[events.Event] = [
    events.ProposalOpened(request_id=RID, actor="alice", source="propose", sha256="ef" * 32, name="slugify",
                          permissions=Permissions(net_hosts=("example.org",), env_vars=("TOKEN",)), examples=3,
                          holdout=1, tests=True, sandbox=SANDBOX),
    events.NeedOpened(request_id=RID, actor="agent-7", description="slugs", model="scripted:x", examples=2, holdout=0,
                      max_attempts=3, token_budget=9000, sandbox=SANDBOX),
    events.Assessed(request_id=RID, existing=REF, reason="fits", candidates=("slugify", "kebab")),
    events.Assessed(request_id=RID, existing=None, reason="nothing fits", candidates=()),
    events.ModelCalled(request_id=RID, purpose="generate", call=2, model="openai:m", prompt_sha256="1" * 64,
                       response_sha256="2" * 64, usage=Usage(prompt_tokens=5, completion_tokens=7)),
    events.StageDone(request_id=RID, verdict=Verdict(stage="checks", ok=False, findings=(
        Finding(code="ast.eval", message="eval", file="tool.py", line=3),
        Finding(code="mypy.return", message="advice", severity="warning")), ms=41.5, details={"attempt": 2}),
        attempt=2),
    events.GenerationDone(request_id=RID, attempts=2, usage=Usage(prompt_tokens=1, completion_tokens=2, cost_usd=0.5)),
    events.PolicyDecided(request_id=RID, actor="policy", decision=Decision(route="reviewers", rule="net", reason="why",
                                                                          quorum=2, roles=("safety", "correctness"),
                                                                          timeout_seconds=60.0), attempt=1),
    events.PrOpened(request_id=RID, ref=ToolRef(name="slugify", version=2, sha256="ab" * 32), branch=f"foundry/{RID}", head="aa" * 20, attempt=1),
    events.PrLinked(request_id=RID, number=12, url="https://github.example/o/r/pull/12", head="aa" * 20, attempt=1),
    events.PrReviewed(request_id=RID, number=12, review_id=99, login="bob", state="APPROVED", commit_id="aa" * 20,
                      body="lgtm"),
    events.PrReviewed(request_id=RID, number=12, review_id=100, login="eve", state="COMMENTED", commit_id=None,
                      body=""),
    events.ReviewRequested(request_id=RID, rule="net", reason="asks for example.org", ref=REF),
    events.Voted(request_id=RID, actor="safety-1", vote=VOTE, attempt=1),
    events.QuorumDone(request_id=RID, result=QuorumResult(outcome="rejected", votes=(VOTE,), reason="safety says no"),
                      reason="safety says no", attempt=1),
    events.QuorumDone(request_id=RID, result=None, reason="no reviewer model is configured", attempt=1),
    events.ReviewDecided(request_id=RID, actor="bob", review=ReviewDecision(approve=True, reviewer="bob", reason="ok")),
    events.Merged(request_id=RID, ref=REF),
    events.Deployed(request_id=RID, ref=REF),
    events.Closed(request_id=RID, status="deployed", reason="deployed slugify v2", tool=REF,
                  usage=Usage(prompt_tokens=3)),
    events.Closed(request_id=RID, status="failed", reason="boom", tool=None, usage=None),
]


def test_every_event_comes_back_from_its_audit_record() -> None:
    for event in SAMPLES:
        assert events.from_record(RID, event.kind, event.actor, event.data()) == event, event.kind


def test_every_kind_of_event_has_a_sample() -> None:
    declared = {name for name, value in vars(events).items()
                if isinstance(value, type) and issubclass(value, events.Event) and value is not events.Event}
    assert declared and declared <= {type(e).__name__ for e in SAMPLES}


def test_records_that_are_not_request_events_are_none() -> None:
    assert events.from_record(RID, "home.initialised", "root", {"home": "/h"}) is None
    assert events.from_record(RID, "request.recovered", "foundry", {"executor": "a", "by": "b"}) is None
