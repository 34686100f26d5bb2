"""What a pull request and toolfoundry's comments say to reviewers, in GitHub-flavoured Markdown.

This module owns the text: the pull request body (the request, each stage with its time and findings,
the permissions asked for, the policy decision, how approval works, and a trailer-like footer with the
request id and the sha256 of the tool file), the comments that record toolfoundry's own decisions, and
the hidden markers that make each comment idempotent. Text that came from a requester or a model is
escaped so it can neither close a marker nor mention people. It renders; it sends nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from toolfoundry.core import Decision, Permissions, ToolRef, Verdict

MAX_BODY = 60_000
"""GitHub refuses bodies over 65,536 characters; findings are cut to stay below."""
MAX_FINDINGS = 40


@dataclass(frozen=True, slots=True, kw_only=True)
class PrContext:
    """Everything the pull request body shows."""

    request_id: str
    requester: str
    source: str
    """``propose``, ``request`` or ``mcp``."""
    description: str
    """What was asked for (a model-driven request's description; "" for proposed code)."""
    ref: ToolRef
    stages: tuple[Verdict, ...]
    permissions: Permissions
    decision: Decision


def marker(request_id: str, key: str) -> str:
    """The hidden line that identifies one of toolfoundry's texts on a pull request."""
    return f"<!-- toolfoundry:{request_id}:{key} -->"


def safe(text: str, limit: int = 2000) -> str:
    """Untrusted text made inert in Markdown: no HTML (so no marker), no @-mentions, one table-safe line."""
    text = text[:limit].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("@", "@\u200b").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def pull_request_body(c: PrContext) -> str:
    """The pull request's body."""
    lines = [marker(c.request_id, "body"), f"## toolfoundry: `{c.ref.name}` v{c.ref.version}", "",
             f"Request `{c.request_id}` by **{safe(c.requester, 200)}** (via `{c.source}`).", ""]
    if c.description:
        lines += [f"> {safe(c.description)}", ""]
    lines += ["### Stages", "", "| stage | result | time | findings |", "|---|---|---:|---|"]
    for v in c.stages:
        lines.append(f"| {v.stage} | {'passed' if v.ok else '**failed**'} | {v.ms:.0f} ms | {len(v.findings)} |")
    findings = [(v.stage, f) for v in c.stages for f in v.findings]
    if findings:
        lines += ["", "<details><summary>Findings</summary>", ""]
        for stage, f in findings[:MAX_FINDINGS]:
            where = f" `{safe(f.where, 200)}`" if f.where else ""
            lines.append(f"- {stage}: **{f.severity}** `{safe(f.code, 100)}`{where}: {safe(f.message, 500)}")
        if len(findings) > MAX_FINDINGS:
            lines.append(f"- … and {len(findings) - MAX_FINDINGS} more (`toolfoundry review show {c.request_id}`)")
        lines += ["", "</details>"]
    lines += ["", "### Permissions", "", _permissions(c.permissions), "", "### Policy", "",
              f"Route **{c.decision.route}** by rule `{safe(c.decision.rule, 100)}`: {safe(c.decision.reason)}", "",
              "### Review", "", _how_to_review(c), "", "---", "```",
              f"Foundry-Request: {c.request_id}", f"Tool-Name: {c.ref.name}", f"Tool-Version: {c.ref.version}",
              f"Tool-Sha256: {c.ref.sha256}", "```"]
    return "\n".join(lines)[:MAX_BODY] + "\n"


def _permissions(p: Permissions) -> str:
    if not p.any():
        return "None: pure computation (no network, no environment variables)."
    hosts = ", ".join(f"`{safe(h, 260)}`" for h in p.net_hosts) or "none"
    env = ", ".join(f"`{safe(v, 130)}`" for v in p.env_vars) or "none"
    return f"- network hosts: {hosts}\n- environment variables: {env}"


def _how_to_review(c: PrContext) -> str:
    if c.decision.route == "auto":
        return "The policy approved it: toolfoundry merges it now."
    return ("Approve with a GitHub review (by an allowed approver; the author's own review does not count) and,"
            " once the required check has passed, toolfoundry merges this exact commit and deploys it from the"
            " merge commit with the sha256"
            " below. **Request changes** to reject it; your text becomes the reason. Do not push to this branch:"
            " a moved head is not merged.")


def decision_comment(title: str, lines: Sequence[str]) -> str:
    """A comment recording one of toolfoundry's decisions (``lines`` are already safe Markdown); the forge
    adds the marker."""
    return "\n".join([f"**toolfoundry — {title}**", "", *lines]) + "\n"
