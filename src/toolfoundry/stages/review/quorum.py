"""Quorum voting: every eligible reviewer asked at once, the votes counted into a ``QuorumResult``.

``run_quorum`` runs the reviewers concurrently (threads, one shared deadline), never lets the
requester's own agent vote, and decides: any ``reject`` → rejected; at least ``quorum`` approvals →
approved; otherwise unresolved (the policy's ``fallback`` then routes to a human or denies). A reviewer
that does not answer in time is a ``timeout`` vote.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from toolfoundry.core import JSON
from toolfoundry.errors import UsageError
from toolfoundry.models.types import Usage
from toolfoundry.stages.review.agent import LineReason, ReviewerAgent, ReviewSubject, Vote

QuorumOutcome = Literal["approved", "rejected", "unresolved"]


@dataclass(frozen=True, slots=True, kw_only=True)
class QuorumResult:
    """What the reviewers decided together."""

    outcome: QuorumOutcome
    """``approved``, ``rejected``, or ``unresolved`` (the policy's fallback decides)."""
    votes: tuple[Vote, ...]
    """One vote per reviewer, in the order given (excluded reviewers abstain, saying why)."""
    reason: str
    """One sentence: who decided and why."""
    changes_requested: tuple[LineReason, ...] = ()
    """The reasons of ``request_changes`` votes, for a new generation attempt."""
    excluded: tuple[str, ...] = ()
    """Reviewers not asked because they are, or act for, the requester."""

    @property
    def usage(self) -> Usage:
        """Tokens of every review added up."""
        total = Usage()
        for vote in self.votes:
            total = total + vote.usage
        return total

    def to_json(self) -> dict[str, JSON]:
        """As recorded in the audit log."""
        return {"outcome": self.outcome, "reason": self.reason, "votes": [v.to_json() for v in self.votes],
                "changes_requested": [{"line": line, "text": text} for line, text in self.changes_requested],
                "excluded": list(self.excluded), "usage": self.usage.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> QuorumResult:
        """The result ``to_json`` wrote."""
        return cls(outcome=data["outcome"], reason=str(data.get("reason") or ""),
                   votes=tuple(Vote.from_json(v) for v in data.get("votes") or ()),
                   changes_requested=tuple((r.get("line"), str(r.get("text", "")))
                                           for r in data.get("changes_requested") or () if isinstance(r, dict)),
                   excluded=tuple(data.get("excluded") or ()))


def _principal(name: str) -> str:
    return name.removeprefix("agent:")


def run_quorum(reviewers: Sequence[ReviewerAgent], *, subject: ReviewSubject, quorum: int, requester: str,
               timeout_seconds: float) -> QuorumResult:
    """Ask every eligible reviewer at once, wait at most ``timeout_seconds``, and count the votes."""
    if quorum < 1 or timeout_seconds <= 0:
        raise UsageError(f"a quorum needs quorum >= 1 and timeout_seconds > 0 (got {quorum}, {timeout_seconds})")
    if len({r.name for r in reviewers}) != len(reviewers):
        raise UsageError(f"reviewer names must be unique: {[r.name for r in reviewers]}")
    excluded = [r for r in reviewers if _principal(r.name) == _principal(requester) or
                (r.acting_for is not None and _principal(r.acting_for) == _principal(requester))]
    eligible = [r for r in reviewers if r not in excluded]
    answers = _ask_all(eligible, subject, timeout_seconds)
    votes: list[Vote] = []
    for r in reviewers:
        if r in excluded:
            votes.append(Vote(reviewer=r.name, role=r.role, verdict="abstain", reasons=((None, (
                f"excluded: {r.name} is, or acts for, the requester {requester}; a requester's own agent "
                "never approves its request")),)))
        else:
            votes.append(answers.get(r.name) or Vote(reviewer=r.name, role=r.role, verdict="timeout", reasons=(
                (None, f"no answer within {timeout_seconds:g}s"),), ms=timeout_seconds * 1000))
    return _count(tuple(votes), quorum, tuple(r.name for r in excluded))


def _ask_all(reviewers: Sequence[ReviewerAgent], subject: ReviewSubject, timeout: float) -> dict[str, Vote]:
    """Each reviewer in its own daemon thread; answers after the deadline are dropped."""
    answers: dict[str, Vote] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def ask(reviewer: ReviewerAgent) -> None:
        try:
            vote = reviewer.review(subject)
        except Exception as exc:  # a bug in a backend or in our code: re-raised in the caller below
            with lock:
                errors.append(exc)
            return
        with lock:
            answers[reviewer.name] = vote

    threads = [threading.Thread(target=ask, args=(r,), name=f"review-{r.name}", daemon=True) for r in reviewers]
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        if errors:
            raise errors[0]
        return dict(answers)


def _count(votes: tuple[Vote, ...], quorum: int, excluded: tuple[str, ...]) -> QuorumResult:
    by = {kind: [v for v in votes if v.verdict == kind] for kind in
          ("approve", "request_changes", "reject", "abstain", "timeout")}
    changes = tuple(reason for v in by["request_changes"] for reason in (v.reasons or ((None, v.summary),)))
    note = f" ({', '.join(excluded)} excluded as the requester's own)" if excluded else ""
    if by["reject"]:
        first = by["reject"][0]
        why = first.reasons[0][1] if first.reasons else first.summary
        return QuorumResult(outcome="rejected", votes=votes, changes_requested=changes, excluded=excluded,
                            reason=f"rejected by {', '.join(v.reviewer for v in by['reject'])}: {why}{note}")
    approvals = len(by["approve"])
    if approvals >= quorum:
        return QuorumResult(outcome="approved", votes=votes, changes_requested=changes, excluded=excluded,
                            reason=f"{approvals} approval(s), {quorum} needed: "
                                   f"{', '.join(v.reviewer for v in by['approve'])}{note}")
    return QuorumResult(outcome="unresolved", votes=votes, changes_requested=changes, excluded=excluded, reason=(
        f"{approvals} approval(s), {quorum} needed; {len(by['request_changes'])} requested changes, "
        f"{len(by['abstain'])} abstained, {len(by['timeout'])} timed out{note}"))
