"""The events of review and delivery: the pull request opened, linked and reviewed, review requested,
the reviewer agents' votes and quorum, the decision, the merge and the deploy.

Owns those event classes and their audit data. It does not record them (``pipeline/steps.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from toolfoundry.core import JSON, ReviewDecision, ToolRef
from toolfoundry.pipeline.events.base import Event, EventKind
from toolfoundry.stages.review import QuorumResult, Vote


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
