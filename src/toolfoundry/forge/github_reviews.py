"""Reading a pull request's reviews and required check from GitHub, and who may approve it there.

This module owns the reads behind ``GitHubForge.review_state``: the pull request, its submitted reviews
and the required check (check runs, else commit statuses), each read conditionally (ETags: an unchanged
one costs no rate limit), and who may approve — the configured ``[forge] approvers`` logins or
``approver_team``, or (neither set) users with write access, and then, when the home links principals to
GitHub logins, only a login the *gate* lets through (``Gate``: a function of the request and the login
that returns why the login may not decide it, or None). The rule that turns what was read into a
decision is ``reviews.py``. It changes nothing on GitHub and writes no audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

from toolfoundry.core import PullRequestLink
from toolfoundry.forge.rest import GitHubError, Rest
from toolfoundry.forge.reviews import Check, Judgement, PullState, ReviewSeen, judge
from toolfoundry.forge.settings import ForgeSettings

Gate = Callable[[str, str], "str | None"]
"""``gate(request_id, login)``: None when ``login`` may decide the request, else the reason it may not."""
_GOOD = frozenset({"success", "neutral", "skipped"})
_NOT_CONFIGURED = "not in [forge] approvers or approver_team"
"""The words ``reviews.judge`` gives for a login ``allowed`` refused; replaced by the gate's reason."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PullReview:
    """What ``review sync`` learned about one pending request's pull request."""

    pull: PullState
    reviews: tuple[ReviewSeen, ...]
    check: Check
    judgement: Judgement

    def review_of(self, login: str, state: str) -> ReviewSeen | None:
        """The latest review by ``login`` in ``state`` (``APPROVED`` or ``CHANGES_REQUESTED``)."""
        found = [r for r in self.reviews if r.login.lower() == login.lower() and r.state == state]
        return max(found, key=lambda r: r.id) if found else None


def review_state(api: Rest, settings: ForgeSettings, link: PullRequestLink, *, request_id: str, validated_head: str,
                 gate: Gate | None) -> PullReview:
    """The state, reviews and required check of ``link`` (the request's pull request), judged."""
    owner, name, n = settings.owner, settings.name, link.number
    _, pull = api.poll(f"pull:{n}", f"reading #{n}", lambda h: api.api.pulls.get(owner, name, n, headers=h))
    _, listed = api.poll(f"reviews:{n}", f"reading the reviews of #{n}", lambda h: api.api.pulls.list_reviews(
        owner, name, n, per_page=100, headers=h))
    reviews = tuple(ReviewSeen(id=r.id, login=r.user.login if r.user else "ghost", state=r.state,
                               commit_id=r.commit_id, body=r.body or "")
                    for r in cast("list[Any]", listed) if r.state != "PENDING")
    state = PullState(link=link, author=pull.user.login, head=pull.head.sha, state=pull.state,
                      merged=bool(pull.merged))
    check = _check(settings, api, validated_head)
    configured = _allowed(settings, api)
    refused: dict[str, str] = {}

    def allowed(login: str) -> bool:
        if not configured(login):
            return False
        why = gate(request_id, login) if gate is not None else None
        if why is not None:
            refused[login] = why
        return why is None

    judgement = judge(state, reviews, check, validated_head=validated_head, allowed=allowed)
    reason = judgement.reason
    for login, why in refused.items():
        reason = reason.replace(f"@{login} may not approve ({_NOT_CONFIGURED})", f"@{login} may not approve ({why})")
    return PullReview(pull=state, reviews=reviews, check=check, judgement=replace(judgement, reason=reason))


def _check(settings: ForgeSettings, api: Rest, head: str) -> Check:
    name = settings.required_check
    if not name:
        return Check(name="", state="not-required")
    owner, repo = settings.owner, settings.name
    _, runs = api.poll(f"checks:{head}:{name}", f"reading the checks of {head[:12]}",
                       lambda h: api.api.checks.list_for_ref(owner, repo, head, check_name=name, filter_="latest",
                                                             headers=h))
    if runs.check_runs:
        run = max(runs.check_runs, key=lambda r: r.id)
        if run.status != "completed":
            return Check(name=name, state="pending", detail=str(run.status))
        return Check(name=name, state="passed" if run.conclusion in _GOOD else "failed", detail=str(run.conclusion))
    _, combined = api.poll(f"status:{head}", f"reading the statuses of {head[:12]}",
                           lambda h: api.api.repos.get_combined_status_for_ref(owner, repo, head, headers=h))
    status = next((s for s in combined.statuses if s.context == name), None)
    if status is None:
        return Check(name=name, state="missing")
    state = {"success": "passed", "pending": "pending"}.get(status.state, "failed")
    return Check(name=name, state=state, detail=status.state)  # type: ignore[arg-type]


def _allowed(settings: ForgeSettings, api: Rest) -> Callable[[str], bool]:
    """Who may approve: the configured logins and team, or (neither set) users with write access."""
    s, seen = settings, dict[str, bool]()
    logins = {a.lower() for a in s.approvers}

    def allowed(login: str) -> bool:
        if login.lower() in logins:
            return True
        if login not in seen:
            seen[login] = _member(s, api, login) if s.approver_team else (
                not s.approvers and _writer(s, api, login))
        return seen[login]

    return allowed


def _member(settings: ForgeSettings, api: Rest, login: str) -> bool:
    org, _, slug = settings.approver_team.partition("/")
    try:
        found = api.call(f"reading {login}'s membership of {org}/{slug}",
                         lambda: api.api.teams.get_membership_for_user_in_org(org, slug, login)).parsed_data
    except GitHubError as exc:
        if exc.status == 404:
            return False
        raise
    return found.state == "active"


def _writer(settings: ForgeSettings, api: Rest, login: str) -> bool:
    try:
        found = api.call(f"reading {login}'s permission", lambda: api.api.repos.get_collaborator_permission_level(
            settings.owner, settings.name, login)).parsed_data
    except GitHubError as exc:
        if exc.status == 404:
            return False
        raise
    return bool(found.permission in ("write", "admin"))
