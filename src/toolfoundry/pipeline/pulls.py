"""What the pipeline tells a forge with pull-request pages: the body of a request's pull request and the
comments that record toolfoundry's own decisions (the policy's route, the reviewer agents' votes).

The steps call these while they open the pull request and after the reviewer agents voted; the forge
posts each comment once per key (``core.Forge.comment``). This module only composes text from what the
step has and from the request's ``request.opened`` audit record (a model-driven request's description);
the Markdown itself is ``forge/body.py``'s.
"""

from __future__ import annotations

from toolfoundry.core import Decision, Permissions, ToolRef, Verdict
from toolfoundry.forge.body import PrContext, decision_comment, pull_request_body, safe
from toolfoundry.pipeline.parts import Parts
from toolfoundry.stages.review import QuorumResult


def body(parts: Parts, rid: str, *, ref: ToolRef, requester: str, source: str, stages: tuple[Verdict, ...],
         permissions: Permissions, decision: Decision) -> str:
    """The pull request's body for this request."""
    opened = next((e for e in parts.audit.events(request_id=rid) if e.kind == "request.opened"), None)
    description = str(opened.data.get("description") or "") if opened is not None else ""
    return pull_request_body(PrContext(request_id=rid, requester=requester, source=source, description=description,
                                       ref=ref, stages=stages, permissions=permissions, decision=decision))


def policy_comment(decision: Decision) -> str:
    """The policy's decision, as a comment."""
    then = {"auto": "approved by the policy: merging this commit now",
            "human": "waiting for an approving review by an allowed reviewer",
            "reviewers": f"asking reviewer agents ({', '.join(decision.roles)}; {decision.quorum} approval(s)"
                         " needed)",
            "deny": "denied"}[decision.route]
    return decision_comment(f"policy: {decision.route}", [
        f"Rule `{safe(decision.rule, 100)}`: {safe(decision.reason)}", "", f"Next: {then}."])


def quorum_comment(result: QuorumResult | None, reason: str = "") -> str:
    """The reviewer agents' votes and their outcome, as a comment."""
    if result is None:
        return decision_comment("reviewer agents: not asked", [safe(reason)])
    lines = [f"- `{safe(v.reviewer, 100)}` ({v.role}): **{v.verdict}**"
             + "".join(f"\n  - line {line}: {safe(text, 500)}" for line, text in v.reasons) for v in result.votes]
    return decision_comment(f"reviewer agents: {result.outcome}", [*lines, "", safe(result.reason)])
