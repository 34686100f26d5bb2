"""What happens to a request, as typed events: recorded in the audit log, delivered to its listeners only.

Every state change a workflow step makes is one event. An event knows its ``kind`` (a ``Literal``), its
actor, the idempotency key that keeps a re-run step from recording it twice, and the JSON its audit
record holds (:meth:`Event.data`, the same fields the audit log has always had). Surfaces render the
objects — a stage's ``Verdict``, the policy's ``Decision``, the pull request's ``ToolRef`` — and never
parse the audit JSON again.

``follow.py`` hands each event, from the audit log, to the listeners of its own request only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import ClassVar, Literal

from toolfoundry.core import JSON, Decision, Permissions, ReviewDecision, Source, Status, ToolRef, Verdict
from toolfoundry.models.types import Usage
from toolfoundry.stages.review import QuorumResult, Vote

EventKind = Literal["request.opened", "assess", "model.call", "stage", "generation.done", "policy.decision",
                    "pr.opened", "pr.linked", "pr.review", "review.requested", "review.vote", "review.quorum",
                    "review.decided", "merge", "deploy", "request.closed"]
"""Every kind of event a request's workflow records."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Something that happened to one request. Subclasses say what, with typed fields."""

    kind: ClassVar[EventKind]
    keyed: ClassVar[str] = ""
    """The idempotency key's template (``str.format`` over the fields); empty: the kind itself."""
    request_id: str
    """The request it belongs to."""
    actor: str = "foundry"
    """Who caused it: the requester, a reviewer, ``policy``, ``foundry``."""

    def key(self) -> str:
        """The idempotency key, unique within the request: a step re-run after a crash records nothing new."""
        return self.keyed.format(**{f.name: getattr(self, f.name) for f in fields(self)}) if self.keyed else self.kind

    def data(self) -> dict[str, JSON]:
        """The facts the audit record holds (JSON only)."""
        return {}


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalOpened(Event):
    """A candidate someone wrote was handed in (``propose``, the API, an agent over MCP)."""

    kind: ClassVar[EventKind] = "request.opened"
    source: Source
    sha256: str
    name: str | None
    permissions: Permissions
    examples: int
    holdout: int
    tests: bool
    sandbox: dict[str, str]

    keyed: ClassVar[str] = "opened"

    def data(self) -> dict[str, JSON]:
        return {"source": self.source, "sha256": self.sha256, "name": self.name,
                "permissions": self.permissions.to_json(), "examples": self.examples, "holdout": self.holdout,
                "tests": self.tests, "sandbox": self.sandbox}


@dataclass(frozen=True, slots=True, kw_only=True)
class NeedOpened(Event):
    """A capability was described, for a model to write."""

    kind: ClassVar[EventKind] = "request.opened"
    description: str
    model: str
    examples: int
    holdout: int
    max_attempts: int
    token_budget: int
    sandbox: dict[str, str]

    keyed: ClassVar[str] = "opened"

    def data(self) -> dict[str, JSON]:
        return {"source": "request", "description": self.description, "model": self.model,
                "examples": self.examples, "holdout": self.holdout, "max_attempts": self.max_attempts,
                "token_budget": self.token_budget, "sandbox": self.sandbox}


@dataclass(frozen=True, slots=True, kw_only=True)
class Assessed(Event):
    """The deployed tools were searched for one that already fits the need."""

    kind: ClassVar[EventKind] = "assess"
    existing: ToolRef | None
    reason: str
    candidates: tuple[str, ...]

    def data(self) -> dict[str, JSON]:
        return {"existing": self.existing.to_json() if self.existing else None, "reason": self.reason,
                "candidates": list(self.candidates)}


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelCalled(Event):
    """A model answered: what for, the hashes of prompt and reply, the tokens."""

    kind: ClassVar[EventKind] = "model.call"
    purpose: str
    call: int
    model: str
    prompt_sha256: str
    response_sha256: str
    usage: Usage

    keyed: ClassVar[str] = "model:{call}"

    def data(self) -> dict[str, JSON]:
        return {"purpose": self.purpose, "call": self.call, "model": self.model,
                "prompt_sha256": self.prompt_sha256, "response_sha256": self.response_sha256,
                "usage": self.usage.to_json()}


@dataclass(frozen=True, slots=True, kw_only=True)
class StageDone(Event):
    """A stage finished, with its verdict."""

    kind: ClassVar[EventKind] = "stage"
    verdict: Verdict
    attempt: int

    keyed: ClassVar[str] = "stage:{verdict.stage}:{attempt}"

    def data(self) -> dict[str, JSON]:
        return {**self.verdict.to_json(), "attempt": self.attempt}


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationDone(Event):
    """A generated candidate passed every stage."""

    kind: ClassVar[EventKind] = "generation.done"
    attempts: int
    usage: Usage

    keyed: ClassVar[str] = "generation:{attempts}"

    def data(self) -> dict[str, JSON]:
        return {"attempts": self.attempts, "usage": self.usage.to_json()}


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyDecided(Event):
    """The policy routed the candidate."""

    kind: ClassVar[EventKind] = "policy.decision"
    actor: str = "policy"
    decision: Decision
    attempt: int

    keyed: ClassVar[str] = "policy:{attempt}"

    def data(self) -> dict[str, JSON]:
        return {**self.decision.to_json(), "attempt": self.attempt}


@dataclass(frozen=True, slots=True, kw_only=True)
class PrOpened(Event):
    """The pull request (branch ``foundry/<request>``) holds this version of the tool."""

    kind: ClassVar[EventKind] = "pr.opened"
    ref: ToolRef
    branch: str
    head: str
    attempt: int

    keyed: ClassVar[str] = "pr:{attempt}"

    def data(self) -> dict[str, JSON]:
        return {"name": self.ref.name, "version": self.ref.version, "sha256": self.ref.sha256,
                "branch": self.branch, "head": self.head, "attempt": self.attempt}


@dataclass(frozen=True, slots=True, kw_only=True)
class PrLinked(Event):
    """The pull request has a page on the forge (GitHub): its number and address."""

    kind: ClassVar[EventKind] = "pr.linked"
    number: int
    url: str
    head: str
    attempt: int

    keyed: ClassVar[str] = "pr-link:{attempt}"

    def data(self) -> dict[str, JSON]:
        return {"number": self.number, "url": self.url, "head": self.head, "attempt": self.attempt}


@dataclass(frozen=True, slots=True, kw_only=True)
class PrReviewed(Event):
    """A review of the pull request on the forge was seen (``review sync``), whether or not it counts."""

    kind: ClassVar[EventKind] = "pr.review"
    number: int
    review_id: int
    login: str
    state: str
    commit_id: str | None
    body: str

    keyed: ClassVar[str] = "pr-review:{review_id}"

    def data(self) -> dict[str, JSON]:
        return {"number": self.number, "review_id": self.review_id, "login": self.login, "state": self.state,
                "commit_id": self.commit_id, "body": self.body[:2000]}


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewRequested(Event):
    """The request waits for a human reviewer."""

    kind: ClassVar[EventKind] = "review.requested"
    actor: str = "policy"
    rule: str
    reason: str
    ref: ToolRef

    keyed: ClassVar[str] = "review-requested"

    def data(self) -> dict[str, JSON]:
        return {"rule": self.rule, "reason": self.reason, **self.ref.to_json()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Voted(Event):
    """One reviewer agent voted."""

    kind: ClassVar[EventKind] = "review.vote"
    vote: Vote
    attempt: int

    keyed: ClassVar[str] = "vote:{attempt}:{vote.reviewer}"

    def data(self) -> dict[str, JSON]:
        return {**self.vote.to_json(), "attempt": self.attempt}


@dataclass(frozen=True, slots=True, kw_only=True)
class QuorumDone(Event):
    """The reviewer agents decided together (``result``), or could not be asked (``result`` None)."""

    kind: ClassVar[EventKind] = "review.quorum"
    actor: str = "reviewers"
    result: QuorumResult | None
    reason: str = ""
    """Why no reviewer was asked, when ``result`` is None."""
    attempt: int

    keyed: ClassVar[str] = "quorum:{attempt}"

    @property
    def outcome(self) -> str:
        """``approved``, ``rejected`` or ``unresolved``."""
        return self.result.outcome if self.result is not None else "unresolved"

    def data(self) -> dict[str, JSON]:
        if self.result is None:
            return {"outcome": "unresolved", "reason": self.reason}
        return {**self.result.to_json(), "attempt": self.attempt}


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewDecided(Event):
    """A reviewer (a person, the policy, or the reviewer agents) approved or rejected the request."""

    kind: ClassVar[EventKind] = "review.decided"
    review: ReviewDecision

    keyed: ClassVar[str] = "review"

    def data(self) -> dict[str, JSON]:
        return {"approve": self.review.approve, "reviewer": self.review.reviewer, "reason": self.review.reason}


@dataclass(frozen=True, slots=True, kw_only=True)
class Merged(Event):
    """The pull request was merged into ``main``; ``ref.commit`` is the merge commit."""

    kind: ClassVar[EventKind] = "merge"
    ref: ToolRef

    def data(self) -> dict[str, JSON]:
        return self.ref.to_json()


@dataclass(frozen=True, slots=True, kw_only=True)
class Deployed(Event):
    """The merged version is recorded and loads from its merge commit with the reviewed hash."""

    kind: ClassVar[EventKind] = "deploy"
    ref: ToolRef

    def data(self) -> dict[str, JSON]:
        return self.ref.to_json()


@dataclass(frozen=True, slots=True, kw_only=True)
class Closed(Event):
    """The request ended: deployed, rejected or failed."""

    kind: ClassVar[EventKind] = "request.closed"
    status: Status
    reason: str
    tool: ToolRef | None = None
    usage: Usage | None = None

    keyed: ClassVar[str] = "closed"

    def data(self) -> dict[str, JSON]:
        data: dict[str, JSON] = {"status": self.status, "reason": self.reason,
                                 "tool": self.tool.to_json() if self.tool else None}
        if self.usage is not None:
            data["usage"] = self.usage.to_json()
        return data


Listener = Callable[[Event], None]
"""Called with each event of the request it follows, in order, once each."""


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
