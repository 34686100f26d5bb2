"""GitHub reviews as approvals: which principal a GitHub login is, and checking a ``github:<login>`` decision.

On a GitHub forge, ``review sync`` decides a pending request as ``github:<login>`` when that login's review
approves (or requests changes on) the validated head of its pull request. In a home with principals such
a review counts only when ``login`` is linked to an active human principal (``principals add NAME --github
LOGIN`` or ``principals github NAME LOGIN``) who may review the request — the ``reviewer`` role, the role the
policy rule requires, their risk classes and tool patterns, never the requester — and only while the
policy accepts approvals of any kind (``approval = "signed"`` in ``[policy]`` or the deciding rule asks for
an SSH signature). :func:`gate` tells the forge so, so ``review sync`` waits with the reason instead of
deciding. :func:`verify` is what ``Foundry.review`` runs for a ``github:<login>`` decision: it does not take
the caller's word but reads the pull request again and requires GitHub to show that very decision now.

What the record proves, stated honestly: a GitHub review is authenticated by GitHub (the login's session or
token), read by toolfoundry over the API with the forge's token; it is not a signature anyone can check
offline. It is recorded as its own kind (``review.github``, authority ``github-review``), with the pull
request, the review id and the commit it approved, and the provenance record lists it as such.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from toolfoundry.core import JSON, Proposal
from toolfoundry.errors import AccessDenied
from toolfoundry.identity.approval import approval_message
from toolfoundry.identity.provenance import GITHUB_REVIEW
from toolfoundry.pipeline.parts import Parts
from toolfoundry.store.principals import Principals
from toolfoundry.trust.reviewers import may_review

PREFIX = "github:"
"""How ``review sync`` names a GitHub reviewer: ``github:<login>``."""
AUTHORITY = GITHUB_REVIEW
"""The ``authority`` of a decision made by a GitHub review."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GitHubDecision:
    """A decision GitHub shows now, by a login, and who that login is here."""

    reviewer: str
    """The linked principal; ``github:<login>`` in a home without principals."""
    record: dict[str, JSON]
    """The ``review.github`` audit event's data."""


def refusal(parts: Parts, store: Principals, proposal: Proposal, login: str) -> str | None:
    """Why ``login``'s GitHub review may not decide ``proposal`` here (None: it may)."""
    rid, decision = proposal.request_id, proposal.decision
    if parts.policy.approval_for(decision) == "signed":
        return (f"the policy requires an SSH-signed approval for rule {decision.rule}, so a GitHub review does not"
                f" count: `toolfoundry review approve {rid} --key KEY`")
    if not store.any():  # an open home: the forge's approvers decide alone, as before principals
        return (f"policy rule {decision.rule} requires a reviewer with role {decision.reviewer_role}; register"
                f" principals and link their GitHub logins") if decision.reviewer_role else None
    principal = store.with_github(login)
    if principal is None:
        return (f"no principal of this home is linked to GitHub @{login}: an admin links it with `toolfoundry"
                f" principals github NAME {login}`")
    if principal.name == proposal.requester:
        return f"@{login} is {principal.name}, who requested {rid}"
    try:
        may_review(principal, proposal)
    except AccessDenied as exc:
        return f"@{login} is {principal.name}: {exc}"
    return None


def gate(parts: Parts, store: Principals) -> Callable[[str, str], str | None]:
    """The forge's gate (``forge.github_reviews.Gate``) for this home: ``refusal`` by request id."""
    def check(request_id: str, login: str) -> str | None:
        row = parts.ledger.get(request_id)
        proposal = row.the_proposal() if row is not None else None
        if proposal is None:
            return f"request {request_id} has no recorded proposal"
        return refusal(parts, store, proposal, login)
    return check


def verify(parts: Parts, store: Principals, proposal: Proposal, *, reviewer: str, approve: bool,
           reason: str) -> GitHubDecision:
    """The decision by ``reviewer`` (``github:<login>``), if GitHub shows it now; AccessDenied naming why not."""
    login, rid = reviewer.removeprefix(PREFIX), proposal.request_id
    review_state = getattr(parts.forge, "review_state", None)
    if review_state is None:
        raise AccessDenied(f"{reviewer} names a GitHub reviewer, and this home's forge is not GitHub: a GitHub"
                           f" review decides only through `toolfoundry review sync` on a GitHub forge")
    if proposal.head is None:
        raise AccessDenied(f"request {rid} records no pull-request head, so no GitHub review can be matched to it")
    seen = review_state(rid, proposal.head)
    if seen is None:
        raise AccessDenied(f"request {rid} has no pull request on GitHub, so {reviewer} cannot have reviewed it")
    verdict = "approve" if approve else "reject"
    judgement = seen.judgement
    if judgement.verdict != verdict or judgement.reviewer.lower() != reviewer.lower():
        raise AccessDenied(f"GitHub does not show {reviewer} deciding {verdict} on pull request"
                           f" #{seen.pull.link.number} now ({judgement.reason}); run `toolfoundry review sync` again")
    why = refusal(parts, store, proposal, login)
    if why is not None:
        raise AccessDenied(why)
    review = seen.review_of(login, "APPROVED" if approve else "CHANGES_REQUESTED")
    linked = store.with_github(login) if store.any() else None
    name = linked.name if linked is not None else reviewer
    record: dict[str, JSON] = {
        "reviewer": name, "decision": verdict, "authority": AUTHORITY, "login": login,
        "pull_request": seen.pull.link.number, "url": seen.pull.link.url,
        "review_id": review.id if review else None, "commit_id": review.commit_id if review else None,
        "check": seen.check.state, "proves": "authenticated by GitHub (read over its API with the forge's token),"
                                             " not an SSH signature: checkable against GitHub, not offline",
        "message": approval_message(request_id=rid, ref=proposal.ref, approve=approve, reason=reason).decode()}
    return GitHubDecision(reviewer=name, record=record)
