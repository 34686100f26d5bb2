"""How GitHub reviews and checks of a pull request map to a decision on its pending request.

This module owns the rule, as a pure function of what the forge read (:func:`judge`): it decides
nothing about *who* is allowed (the caller passes ``allowed``), makes no HTTP call and records nothing.

The rule, in order:

1. a pull request merged or closed on GitHub outside toolfoundry, or whose head moved away from the
   commit toolfoundry validated, is rejected (toolfoundry merges and deploys only the validated commit;
   a new version is a new request);
2. each reviewer's *latest* review counts (``APPROVED``, ``CHANGES_REQUESTED`` or ``DISMISSED``; comments
   do not change it); reviews by the pull request's author never count, nor do those of users who are
   not allowed to approve;
3. "changes requested" by an allowed reviewer rejects, with the reviewer's text as the reason;
4. an approval counts only for the validated head (``commit_id``): GitHub keeps older approvals as
   approving, so a stale one is named and ignored;
5. an approval approves once the required check passed on that head; until then the request waits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from toolfoundry.core import PullRequestLink

CheckState = Literal["passed", "failed", "pending", "missing", "not-required"]
"""The required check on the head: passed, failed, running or queued, not (yet) reported, or none required."""
Verdict = Literal["approve", "reject", "wait"]
"""What toolfoundry does with the pending request."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PullState:
    """A pull request as the forge read it."""

    link: PullRequestLink
    """Its number and page."""
    author: str
    """The login that opened it (toolfoundry's token)."""
    head: str
    """Its head commit now."""
    state: Literal["open", "closed"]
    """Open or closed."""
    merged: bool
    """Merged (closed by a merge)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewSeen:
    """One submitted review."""

    id: int
    """GitHub's review id (unique: the audit key of the review)."""
    login: str
    """Who reviewed."""
    state: str
    """``APPROVED``, ``CHANGES_REQUESTED``, ``COMMENTED``, ``DISMISSED`` (``PENDING`` ones are not listed)."""
    commit_id: str | None
    """The head the review was given for."""
    body: str
    """The reviewer's text."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """The required check on a commit."""

    name: str
    """Its name (``[forge] required_check``)."""
    state: CheckState
    """Where it is."""
    detail: str = ""
    """GitHub's conclusion or status, for the reason."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Judgement:
    """What the reviews and the check say about a pending request."""

    verdict: Verdict
    """Approve (merge and deploy), reject, or wait."""
    reason: str
    """One or two sentences for the audit log, the request's reason and the person running ``review sync``."""
    reviewer: str = "github"
    """``github:<login>`` of the deciding reviewer, or ``github`` when GitHub's state decided (closed, moved)."""


def judge(pull: PullState, reviews: Sequence[ReviewSeen], check: Check, *, validated_head: str,
          allowed: Callable[[str], bool]) -> Judgement:
    """The decision on a pending request from its pull request, its reviews (oldest first) and the check."""
    number = f"#{pull.link.number}"
    if pull.merged:
        return Judgement(verdict="reject", reason=f"pull request {number} was merged on GitHub outside toolfoundry;"
                         " it is not deployed: toolfoundry deploys only what it merges at the validated commit")
    if pull.state == "closed":
        return Judgement(verdict="reject", reason=f"pull request {number} was closed on GitHub without merging")
    if pull.head != validated_head:
        return Judgement(verdict="reject", reason=(
            f"the head of pull request {number} moved from {validated_head[:12]} (validated) to {pull.head[:12]};"
            " toolfoundry merges only the commit it validated, so it is not merged: propose the new version as a"
            " new request"))
    latest: dict[str, ReviewSeen] = {}
    ignored: list[str] = []
    for review in reviews:
        if review.login.lower() == pull.author.lower():
            ignored.append(f"@{review.login} is the pull request's author")
        elif review.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[review.login] = review
    decisive = {login: r for login, r in latest.items() if r.state != "DISMISSED"}
    for login in [login for login in decisive if not allowed(login)]:
        ignored.append(f"@{login} may not approve (not in [forge] approvers or approver_team)")
        del decisive[login]
    changes = [r for r in decisive.values() if r.state == "CHANGES_REQUESTED"]
    if changes:
        last = max(changes, key=lambda r: r.id)
        text = last.body.strip() or "(no text)"
        return Judgement(verdict="reject", reviewer=f"github:{last.login}",
                         reason=f"changes requested on GitHub by @{last.login}: {text}")
    approvals = [r for r in decisive.values() if r.state == "APPROVED"]
    fresh = [r for r in approvals if r.commit_id == validated_head]
    ignored += [f"@{r.login} approved an older head {str(r.commit_id)[:12]}" for r in approvals if r not in fresh]
    note = f" (not counted: {'; '.join(ignored)})" if ignored else ""
    if not fresh:
        return Judgement(verdict="wait", reason=f"no approving review of {validated_head[:12]} by an allowed"
                         f" reviewer yet{note}")
    first = min(fresh, key=lambda r: r.id)
    if check.state in ("passed", "not-required"):
        passed = f"check {check.name!r} passed" if check.state == "passed" else "no check required"
        return Judgement(verdict="approve", reviewer=f"github:{first.login}", reason=(
            f"approved on GitHub by @{first.login} at {validated_head[:12]} ({number}); {passed}"))
    waiting = {"failed": f"check {check.name!r} failed ({check.detail})", "pending": f"check {check.name!r} is"
               f" {check.detail or 'running'}", "missing": f"check {check.name!r} has not reported"}[check.state]
    return Judgement(verdict="wait", reason=f"approved by @{first.login}, but {waiting} on {validated_head[:12]}"
                     f"{note}")
