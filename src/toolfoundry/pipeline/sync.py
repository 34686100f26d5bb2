"""Reading GitHub's verdict on pending requests: what ``review sync`` does before it decides them.

For each request waiting for a human on a GitHub forge, :func:`read_pending` reads its pull request,
reviews and required check (conditionally, with ETags; the forge honours rate limits), records each
review it sees as a ``pr.review`` audit event (keyed by GitHub's review id, so a review is recorded once
however often it is read), and says what to do: approve, reject (with the reviewer's text), or wait.
The decision itself goes through the ordinary review path (``Foundry.review``), so a GitHub approval is
the same durable, audited delivery as ``toolfoundry review approve``. Outside a workflow, so events are
appended with their key directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from toolfoundry.core import JSON, PullRequestLink
from toolfoundry.errors import UsageError
from toolfoundry.forge.reviews import Judgement
from toolfoundry.pipeline import events
from toolfoundry.pipeline.parts import Parts
from toolfoundry.store.ledger import RequestRow


@dataclass(frozen=True, slots=True, kw_only=True)
class Synced:
    """One pending request, as ``review sync`` found (and, unless it waits, decided) it."""

    request_id: str
    """The request."""
    pull: PullRequestLink | None
    """Its pull request, when it has one."""
    action: str
    """``approve``, ``reject``, ``wait``, or ``decided`` / ``conflict`` once the decision was made."""
    reviewer: str
    """``github:<login>`` (or ``github``) behind the decision."""
    reason: str
    """Why, in a sentence or two."""
    status: str = "pending_review"
    """The request's status afterwards."""

    def to_json(self) -> dict[str, JSON]:
        """As ``review sync --json`` prints it."""
        return {"request_id": self.request_id, "pull_request": self.pull.number if self.pull else None,
                "url": self.pull.url if self.pull else None, "action": self.action, "reviewer": self.reviewer,
                "reason": self.reason, "status": self.status}


def read_pending(parts: Parts, rows: list[RequestRow]) -> Iterator[Synced]:
    """What GitHub says about each of ``rows`` (pending requests), with the reviews seen audited."""
    from toolfoundry.forge.github import GitHubForge
    forge = parts.forge
    if not isinstance(forge, GitHubForge):
        raise UsageError('review sync reads approvals from GitHub: set [forge] kind = "github" in toolfoundry.toml')
    for row in rows:
        proposal = row.the_proposal()
        if proposal is None or proposal.head is None:
            yield Synced(request_id=row.id, pull=None, action="wait", reviewer="github", reason=(
                "its proposal records no pull-request head (made by an earlier release); review it with"
                " `toolfoundry review approve|reject`"))
            continue
        seen = forge.review_state(row.id, proposal.head)
        if seen is None:
            yield Synced(request_id=row.id, pull=None, action="wait", reviewer="github",
                         reason=f"no pull request found for branch foundry/{row.id}")
            continue
        for review in seen.reviews:
            event = events.PrReviewed(request_id=row.id, actor=f"github:{review.login}",
                                      number=seen.pull.link.number, review_id=review.id, login=review.login,
                                      state=review.state, commit_id=review.commit_id, body=review.body)
            parts.audit.append(event.kind, request_id=row.id, actor=event.actor, data=event.data(),
                               key=f"{row.id}:{event.key()}")
        yield _synced(row.id, seen.pull.link, seen.judgement)


def _synced(rid: str, link: PullRequestLink, judgement: Judgement) -> Synced:
    return Synced(request_id=rid, pull=link, action=judgement.verdict, reviewer=judgement.reviewer,
                  reason=judgement.reason)
