"""Reviewer agents: a role and a model, shown a ``ReviewSubject``, answering with one ``Vote``.

A ``ReviewerAgent`` has a role (``security``, ``correctness``, ``interface``; prompts in
``prompts/review_<role>.md`` and ``prompts/review.md``) and any ``Model``. It is shown the tool's code
(with line numbers), tests, description, signature, permissions and every stage's verdict, between
markers derived from the material's own hash, and answers with JSON: ``{"verdict": "approve" |
"request_changes" | "reject", "reasons": [{"line": 12, "text": ...}], "summary": ...}``. Output that
cannot be read is an ``abstain`` vote that says why; a model that fails is an ``abstain`` vote with
its error. Nothing a model says can crash a review.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Literal, cast

from toolfoundry.core import JSON, ROLES, Candidate, Permissions, ToolSpec, Verdict
from toolfoundry.errors import ModelError, UsageError
from toolfoundry.models.replies import json_objects
from toolfoundry.models.types import Message, Model, Usage

VoteVerdict = Literal["approve", "request_changes", "reject", "abstain", "timeout"]
QuorumOutcome = Literal["approved", "rejected", "unresolved"]
LineReason = tuple[int | None, str]
"""A reason tied to a line of ``tool.py`` (None: about the whole tool)."""

_ALIASES = {"approve": "approve", "approved": "approve", "request_changes": "request_changes",
            "changes_requested": "request_changes", "reject": "reject", "rejected": "reject"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewSubject:
    """Everything a reviewer is shown about one candidate."""

    request_id: str
    """The request under review."""
    name: str
    """The tool's name."""
    code: str
    """``tool.py``."""
    tests: str | None
    """``test_tool.py``, if any."""
    description: str
    """The public function's docstring (what other agents are shown)."""
    signature: str
    """Canonical signature, e.g. ``(text: str) -> str``."""
    permissions: Permissions
    """What the tool asks for."""
    stages: tuple[dict[str, JSON], ...]
    """Each stage's verdict: ``stage``, ``ok``, ``findings`` (as ``Finding.to_json``)."""
    requester: str
    """Who asked for the tool; neither they nor their agent may approve it."""

    @classmethod
    def of(cls, *, request_id: str, candidate: Candidate, spec: ToolSpec, verdicts: Sequence[Verdict],
           requester: str) -> ReviewSubject:
        """The subject for a validated candidate."""
        return cls(request_id=request_id, name=spec.name, code=candidate.code, tests=candidate.tests,
                   description=spec.description, signature=spec.signature, permissions=candidate.permissions,
                   stages=tuple({"stage": v.stage, "ok": v.ok, "findings": [f.to_json() for f in v.findings]}
                                for v in verdicts),
                   requester=requester)


@dataclass(frozen=True, slots=True, kw_only=True)
class Vote:
    """One reviewer's answer."""

    reviewer: str
    """The reviewer's name."""
    role: str
    """Its role: ``security``, ``correctness`` or ``interface``."""
    verdict: VoteVerdict
    """``approve``, ``request_changes``, ``reject``; ``abstain`` (unreadable answer, model failure,
    excluded) and ``timeout`` do not count either way."""
    reasons: tuple[LineReason, ...] = ()
    """Why, each tied to a line of ``tool.py`` where the reviewer gave one."""
    summary: str = ""
    """The reviewer's one-sentence summary."""
    usage: Usage = Usage()
    """Tokens the review took."""
    ms: float = 0.0
    """Wall time of the review, in milliseconds."""

    def to_json(self) -> dict[str, JSON]:
        """As recorded in the audit log."""
        return {"reviewer": self.reviewer, "role": self.role, "verdict": self.verdict,
                "reasons": [{"line": line, "text": text} for line, text in self.reasons],
                "summary": self.summary, "usage": self.usage.to_json(), "ms": round(self.ms, 1)}

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> Vote:
        """The vote ``to_json`` wrote."""
        return cls(reviewer=str(data["reviewer"]), role=str(data["role"]), verdict=data["verdict"],
                   reasons=tuple(_line_reasons(data.get("reasons"))), summary=str(data.get("summary") or ""),
                   usage=Usage.from_json(data.get("usage")), ms=float(data.get("ms") or 0.0))


def _line_reasons(items: JSON) -> list[LineReason]:
    return [(r.get("line"), str(r.get("text", ""))) for r in items or [] if isinstance(r, dict)]


def _prompt(name: str) -> str:
    return resources.files("toolfoundry").joinpath("prompts", f"{name}.md").read_text(encoding="utf-8")


class ReviewerAgent:
    """A reviewer with a role, backed by any ``Model``."""

    def __init__(self, role: str, model: Model, *, name: str, acting_for: str | None = None,
                 max_tokens: int = 1500, max_attempts: int = 2) -> None:
        if role not in ROLES:
            raise UsageError(f"unknown reviewer role {role!r} (known: {', '.join(ROLES)})")
        self.role, self.model, self.name, self.acting_for, self.max_tokens = role, model, name, acting_for, max_tokens
        self.max_attempts = max(1, max_attempts)
        """Answers asked for in all when one cannot be read."""

    def messages(self, subject: ReviewSubject) -> list[Message]:
        """The system prompt of the role and the subject, fenced as untrusted material."""
        return [Message(role="system", content=_prompt(f"review_{self.role}")),
                Message(role="user", content=render(subject))]

    def review(self, subject: ReviewSubject) -> Vote:
        """Ask the model; never raises for what the model does (fails → ``abstain`` with the reason).

        An answer that cannot be read is asked for again, with what was wrong, up to ``max_attempts``
        answers in all; the vote's usage counts every answer."""
        start, usage = time.perf_counter(), Usage()
        messages = self.messages(subject)
        parsed: tuple[VoteVerdict, tuple[LineReason, ...], str] | str = "no answer"
        for attempt in range(self.max_attempts):
            try:
                done = self.model.complete(messages, max_tokens=self.max_tokens)
            except ModelError as exc:
                why = f"the reviewer's model failed: {exc}"
                return Vote(reviewer=self.name, role=self.role, verdict="abstain", usage=usage,
                            reasons=((None, why if attempt == 0 else f"{parsed}; asked again, {why}"),),
                            ms=(time.perf_counter() - start) * 1000)
            usage += done.usage
            parsed = parse_answer(done.message.content, lines=subject.code.count("\n") + 1)
            if not isinstance(parsed, str):
                break
            if done.finish_reason == "length":
                parsed += f" (the answer was cut off at the token limit of {self.max_tokens}; answer shorter)"
            messages = [*messages, Message(role="assistant", content=done.message.content[:4000]),
                        Message(role="user", content=f"Your answer could not be read: {parsed}. {_ANSWER_AGAIN}")]
        ms = (time.perf_counter() - start) * 1000
        if isinstance(parsed, str):
            return Vote(reviewer=self.name, role=self.role, verdict="abstain", reasons=((None, parsed),),
                        usage=usage, ms=ms)
        verdict, reasons, summary = parsed
        return Vote(reviewer=self.name, role=self.role, verdict=verdict, reasons=reasons, summary=summary,
                    usage=usage, ms=ms)


_ANSWER_AGAIN = ('Answer again with ONE JSON object and nothing else: {"verdict": "approve" | "request_changes"'
                 ' | "reject", "reasons": [{"line": 12, "text": "..."}], "summary": "one sentence"}')


def reviewers_for(roles: Sequence[str], model: Model) -> list[ReviewerAgent]:
    """One reviewer per role, named ``reviewer:<role>``, all backed by ``model``."""
    return [ReviewerAgent(role, model, name=f"reviewer:{role}") for role in roles]


def render(subject: ReviewSubject) -> str:
    """The user message: the subject between markers derived from its own hash (so it cannot fake them)."""
    code = "\n".join(f"{i:>4} | {line}" for i, line in enumerate(subject.code.splitlines(), 1))
    stages = "\n".join(_stage_lines(s) for s in subject.stages) or "(none)"
    perms = ", ".join([f"network host {h}" for h in subject.permissions.net_hosts]
                      + [f"env var {e}" for e in subject.permissions.env_vars]) or "none"
    material = json.dumps([subject.code, subject.tests, subject.description, subject.signature, stages])
    marker = f"=== UNTRUSTED MATERIAL {hashlib.sha256(material.encode()).hexdigest()[:16]} ==="
    return _prompt("review").format(
        request_id=subject.request_id, requester=subject.requester, marker=marker, name=subject.name,
        signature=subject.signature, permissions=perms, description=subject.description or "(none)",
        code=code, tests=subject.tests or "(none)", stages=stages)


def _stage_lines(stage: dict[str, JSON]) -> str:
    out = [f"- {stage.get('stage')}: {'passed' if stage.get('ok') else 'FAILED'}"]
    findings = stage.get("findings") or []
    for f in findings[:20]:
        where = f":{f['line']}" if f.get("line") else ""
        out.append(f"  - [{f.get('severity', 'error')}] {f.get('code')}{where}: {f.get('message')}")
    if len(findings) > 20:
        out.append(f"  - ... and {len(findings) - 20} more")
    return "\n".join(out)


def parse_answer(text: str, *, lines: int) -> tuple[VoteVerdict, tuple[LineReason, ...], str] | str:
    """The verdict, reasons and summary in a reviewer's answer, or a sentence saying why it cannot be read.

    The JSON object may sit in prose or a fenced block; the first object with a ``verdict`` key counts.
    Reason lines outside ``1..lines`` are kept as whole-tool reasons (line None).
    """
    obj = next((o for o in json_objects(text) if "verdict" in o), None)
    if obj is None:
        return f"unreadable review: no JSON object with a 'verdict' in the answer ({_clip(text)!r})"
    raw = obj.get("verdict")
    verdict = _ALIASES.get(str(raw).strip().lower().replace("-", "_").replace(" ", "_"))
    if verdict is None:
        return f"unreadable review: verdict {raw!r} is not approve, request_changes or reject"
    items = obj.get("reasons", [])
    reasons = tuple(_reason(item, lines) for item in (items if isinstance(items, list) else [items]))
    summary = obj.get("summary")
    return cast(VoteVerdict, verdict), reasons, summary if isinstance(summary, str) else ""


def _reason(item: JSON, lines: int) -> LineReason:
    if not isinstance(item, dict):
        return None, str(item)
    text = item.get("text", item.get("reason", item.get("message", "")))
    line = item.get("line")
    if isinstance(line, str) and line.strip().isdigit():
        line = int(line)
    ok = isinstance(line, int) and not isinstance(line, bool) and 1 <= line <= lines
    return (line if ok else None), str(text)


def _clip(text: str, size: int = 120) -> str:
    return text if len(text) <= size else text[:size] + "…"
