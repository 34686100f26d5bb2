"""Audit record → typed event: :func:`from_record`, the inverse of :meth:`Event.data`, in one place.

It does not read the audit log (``follow.py`` does, and hands each event to its request's listeners).
"""

from __future__ import annotations

from toolfoundry.core import JSON, Decision, Permissions, ReviewDecision, ToolRef, Verdict
from toolfoundry.models.types import Usage
from toolfoundry.pipeline.events.base import Event
from toolfoundry.pipeline.events.request import (
    Assessed,
    Closed,
    GenerationDone,
    ModelCalled,
    NeedOpened,
    PolicyDecided,
    ProposalOpened,
    StageDone,
)
from toolfoundry.pipeline.events.review import (
    Deployed,
    Merged,
    PrLinked,
    PrOpened,
    PrReviewed,
    QuorumDone,
    ReviewDecided,
    ReviewRequested,
    Voted,
)
from toolfoundry.stages.review import QuorumResult, Vote


def from_record(request_id: str, kind: str, actor: str, data: dict[str, JSON]) -> Event | None:
    """The typed event an audit record of a request's workflow holds (None for other kinds of record).

    The inverse of :meth:`Event.data`, in one place, so a listener in any process — the one that ran the
    step or another one following the request through the audit log — gets the same objects."""
    d, common = data, {"request_id": request_id, "actor": actor}
    match kind:
        case "request.opened" if d.get("source") == "request":
            return NeedOpened(**common, description=str(d.get("description") or ""), model=str(d.get("model") or ""),
                              examples=int(d.get("examples") or 0), holdout=int(d.get("holdout") or 0),
                              max_attempts=int(d.get("max_attempts") or 0),
                              token_budget=int(d.get("token_budget") or 0), sandbox=dict(d.get("sandbox") or {}))
        case "request.opened":
            return ProposalOpened(**common, source=d.get("source", "propose"), sha256=str(d.get("sha256") or ""),
                                  name=d.get("name"), permissions=Permissions.from_json(d.get("permissions") or {}),
                                  examples=int(d.get("examples") or 0), holdout=int(d.get("holdout") or 0),
                                  tests=bool(d.get("tests")), sandbox=dict(d.get("sandbox") or {}))
        case "assess":
            existing = d.get("existing")
            return Assessed(**common, existing=ToolRef.from_json(existing) if existing else None,
                            reason=str(d.get("reason") or ""), candidates=tuple(d.get("candidates") or ()))
        case "model.call":
            return ModelCalled(**common, purpose=str(d["purpose"]), call=int(d["call"]), model=str(d["model"]),
                               prompt_sha256=str(d["prompt_sha256"]), response_sha256=str(d["response_sha256"]),
                               usage=Usage.from_json(d.get("usage")))
        case "stage":
            return StageDone(**common, verdict=Verdict.from_json(d), attempt=int(d.get("attempt") or 0))
        case "generation.done":
            return GenerationDone(**common, attempts=int(d["attempts"]), usage=Usage.from_json(d.get("usage")))
        case "policy.decision":
            return PolicyDecided(**common, decision=Decision.from_json(d), attempt=int(d.get("attempt") or 1))
        case "pr.opened":
            return PrOpened(**common, ref=ToolRef.from_json(d), branch=str(d["branch"]), head=str(d["head"]),
                            attempt=int(d.get("attempt") or 1))
        case "pr.linked":
            return PrLinked(**common, number=int(d["number"]), url=str(d["url"]), head=str(d["head"]),
                            attempt=int(d.get("attempt") or 1))
        case "pr.review":
            commit_id = d.get("commit_id")
            return PrReviewed(**common, number=int(d["number"]), review_id=int(d["review_id"]), login=str(d["login"]),
                              state=str(d["state"]), commit_id=str(commit_id) if commit_id else None,
                              body=str(d.get("body") or ""))
        case "review.requested":
            return ReviewRequested(**common, rule=str(d["rule"]), reason=str(d["reason"]), ref=ToolRef.from_json(d))
        case "review.vote":
            return Voted(**common, vote=Vote.from_json(d), attempt=int(d.get("attempt") or 1))
        case "review.quorum":
            result = QuorumResult.from_json(d) if "votes" in d else None
            return QuorumDone(**common, result=result, reason=str(d.get("reason") or ""),
                              attempt=int(d.get("attempt") or 1))
        case "review.decided":
            return ReviewDecided(**common, review=ReviewDecision(approve=bool(d["approve"]),
                                                                 reviewer=str(d["reviewer"]),
                                                                 reason=str(d.get("reason") or "")))
        case "merge":
            return Merged(**common, ref=ToolRef.from_json(d))
        case "deploy":
            return Deployed(**common, ref=ToolRef.from_json(d))
        case "request.closed":
            tool, usage = d.get("tool"), d.get("usage")
            return Closed(**common, status=d["status"], reason=str(d.get("reason") or ""),
                          tool=ToolRef.from_json(tool) if tool else None,
                          usage=Usage.from_json(usage) if usage is not None else None)
    return None
