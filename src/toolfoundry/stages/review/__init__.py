"""Reviewer agents and quorum voting: a ``ReviewSubject`` → one ``Vote`` per reviewer → a ``QuorumResult``.

A ``ReviewerAgent`` has a role (``security``, ``correctness``, ``interface``; prompts in
``prompts/review_<role>.md`` and ``prompts/review.md``) and any ``Model``. It is shown the tool's code
(with line numbers), tests, description, signature, permissions and every stage's verdict, and answers
with JSON: ``{"verdict": "approve"|"request_changes"|"reject", "reasons": [{"line": 12, "text": ...}],
"summary": ...}``. Output that cannot be read is an ``abstain`` vote that says why; a model that fails
is an ``abstain`` vote with its error; a reviewer that does not answer in time is a ``timeout`` vote.
Nothing a model says can crash a review.

``run_quorum`` runs the reviewers concurrently (threads, one shared deadline), never lets the
requester's own agent vote, and decides: any ``reject`` → rejected; at least ``quorum`` approvals →
approved; otherwise unresolved (the policy's ``fallback`` then routes to a human or denies).

``agent.py`` holds the agents, ``quorum.py`` the voting. This package returns data. It does not know the workflow, the audit log or which model to use: the
caller records the votes and decides what happens next.
"""


from toolfoundry.stages.review.agent import (
    LineReason,
    ReviewerAgent,
    ReviewSubject,
    Vote,
    VoteVerdict,
    parse_answer,
    render,
    reviewers_for,
)
from toolfoundry.stages.review.quorum import QuorumOutcome, QuorumResult, run_quorum

__all__ = ["LineReason", "QuorumOutcome", "QuorumResult", "ReviewSubject", "ReviewerAgent", "Vote", "VoteVerdict",
           "parse_answer", "render", "reviewers_for", "run_quorum"]
