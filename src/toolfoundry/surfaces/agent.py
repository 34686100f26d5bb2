"""The reference agent behind `toolfoundry run`: a small tool-calling loop that extends itself mid-task.

Each turn it offers the model every deployed tool (as OpenAI-style function specs, through the OpenAI
adapter of ``frameworks.py``) plus ``request_capability``. When the model asks for a capability — by that tool call or by
a ``NEED_INTEGRATION: <what>`` line — the foundry's workflow runs (models without native tool calling get
the tools described in text and call them with a JSON block: ``[generation] tool_protocol``); a deployed tool is offered from the
next turn, and pending or rejected outcomes are told to the model, which carries on without it. Steps
are bounded. The agent is a client of ``Foundry`` like any other agent: it never imports tool code
(calls go through the sandbox) and records its transcript through the API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from toolfoundry.api import Foundry
from toolfoundry.core import JSON, Example, Outcome
from toolfoundry.errors import ToolfoundryError, UsageError
from toolfoundry.jsonlimits import parse
from toolfoundry.models.replies import text_tool_calls
from toolfoundry.models.types import Message, Model, ToolCall, Usage
from toolfoundry.stages.generate import prompt
from toolfoundry.surfaces.frameworks import openai_tools
from toolfoundry.surfaces.metatools import (
    REQUEST_CAPABILITY_TOOL,
    parse_need_integration,
    parse_request_capability,
)

AgentListener = Callable[[str, dict[str, JSON]], None]
"""Called as ``listener(kind, data)`` for ``turn``, ``tool_call``, ``tool_result``, ``capability``, ``answer``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentResult:
    """How a task ended."""

    answer: str | None
    """The model's final text, when it finished."""
    finished: bool
    """False when the step bound was reached first."""
    steps: int
    """Model turns taken."""
    requests: tuple[str, ...]
    """Ids of the capability requests the agent made (linked in the audit log)."""
    usage: Usage
    """Tokens the agent's own turns used (generation is accounted per request)."""
    transcript: tuple[Message, ...] = field(repr=False)
    """Every message of the conversation."""


def _outcome_text(outcome: Outcome) -> str:
    if outcome.status == "deployed" and outcome.tool is not None:
        return (f"deployed: the tool `{outcome.tool.name}` (v{outcome.tool.version}) is now available;"
                f" call it. ({outcome.reason})")
    if outcome.status == "pending_review":
        return (f"pending human review (request {outcome.request_id}): {outcome.reason}. It is not available"
                " yet; continue without it.")
    return f"{outcome.status}: {outcome.reason}. Continue without it."


class Agent:
    """One task at a time, against one foundry, with one model."""

    def __init__(self, foundry: Foundry, model: Model, *, max_steps: int = 12,
                 on_event: AgentListener | None = None, on_request_event: Callable[..., None] | None = None) -> None:
        self.foundry = foundry
        self.model = model
        self.max_steps = max_steps
        self._emit = on_event or (lambda kind, data: None)
        self._on_request_event = on_request_event
        self._requests: list[str] = []

    def protocol(self) -> str:
        """``native`` (function calling) or ``text`` (calls as a JSON block): ``[generation] tool_protocol``, or
        for ``auto`` what the model says of itself (``native_tools``; the ``local`` backend has none)."""
        setting = self.foundry.settings.generation.tool_protocol
        if setting in ("native", "text"):
            return setting
        return "native" if getattr(self.model, "native_tools", True) else "text"

    def run(self, task: str) -> AgentResult:
        """Work on ``task`` until the model answers without calling a tool, or the step bound is reached.

        In the text protocol the tools are described in the system message and the model calls them with a
        JSON block (``{"name": ..., "arguments": {...}}``); results come back as user messages. A model
        offered native tools that writes such a block instead is switched to the text protocol."""
        text_mode = self.protocol() == "text"
        messages = [Message(role="system", content=prompt("agent")), Message(role="user", content=task)]
        usage = Usage()
        for step in range(1, self.max_steps + 1):
            tools: list[dict[str, JSON]] = [dict(t) for t in (*openai_tools(self.foundry), REQUEST_CAPABILITY_TOOL)]
            self._emit("turn", {"step": step, "tools": [t["function"]["name"] for t in tools],
                                "protocol": "text" if text_mode else "native"})
            if text_mode:
                messages[0] = Message(role="system", content=prompt("agent") + _text_protocol(tools))
            completion = self.model.complete(messages, tools=None if text_mode else tools)
            usage += completion.usage
            reply = completion.message
            messages.append(reply)
            written = text_tool_calls(reply.content) if not reply.tool_calls else []
            if written and not text_mode:
                text_mode = True
                self._emit("protocol", {"protocol": "text", "reason": "the model wrote its tool calls as text"})
            needs = parse_need_integration(reply.content)
            if not reply.tool_calls and not written and not needs:
                self._emit("answer", {"text": reply.content})
                return self._done(task, reply.content, True, step, usage, messages)
            for call in reply.tool_calls:
                messages.append(Message(role="tool", tool_call_id=call.id, content=self._handle(call)))
            offered = {str(t["function"]["name"]) for t in tools}
            for i, (name, args) in enumerate(written):
                result = self._handle(ToolCall(id=f"text_{step}_{i}", name=name, arguments=json.dumps(args)))
                if name not in offered:
                    result += (f" (the tools you have: {', '.join(sorted(offered))}; for another capability call"
                               " request_capability)")
                messages.append(Message(role="user", content=f"toolfoundry: result of {name}: {result}"))
            for need in needs:
                messages.append(Message(role="user", content=f"toolfoundry: {self._request(need, ())}"))
        return self._done(task, None, False, self.max_steps, usage, messages)

    def _handle(self, call: ToolCall) -> str:
        self._emit("tool_call", {"name": call.name, "arguments": call.arguments[:500]})
        if call.name == "request_capability":
            try:
                wanted = parse_request_capability(call.arguments)
            except UsageError as exc:
                return f"error: {exc}"
            return self._request(wanted.description, wanted.examples)
        try:
            args = parse(call.arguments or "{}")
        except ValueError as exc:
            return f"error: the arguments are not valid JSON ({exc}); call {call.name} again with a JSON object"
        if not isinstance(args, dict):
            return "error: the arguments must be a JSON object"
        try:
            result = self.foundry.call(call.name, args, caller=f"agent:{self.foundry.settings.user}")
        except ToolfoundryError as exc:
            return f"error: {exc}"
        text = json.dumps(result.to_json(), ensure_ascii=False)
        self._emit("tool_result", {"name": call.name, "result": result.to_json()})
        return text

    def _request(self, description: str, examples: tuple[Example, ...]) -> str:
        self._emit("capability", {"description": description})
        try:
            outcome = self.foundry.request(description, examples=examples, model=self.model.name,
                                           on_event=self._on_request_event)
        except ToolfoundryError as exc:
            return f"the capability request failed: {exc}"
        self._requests.append(outcome.request_id)
        text = _outcome_text(outcome)
        self._emit("capability_result", {"request_id": outcome.request_id, "status": outcome.status, "text": text})
        return text

    def _done(self, task: str, answer: str | None, finished: bool, steps: int, usage: Usage,
              messages: list[Message]) -> AgentResult:
        result = AgentResult(answer=answer, finished=finished, steps=steps, requests=tuple(self._requests),
                             usage=usage, transcript=tuple(messages))
        self.foundry.record_agent_run(task=task, model=self.model.name, result_json={
            "answer": answer, "finished": finished, "steps": steps, "requests": list(self._requests),
            "usage": usage.to_json(), "transcript": [_message_json(m) for m in messages]})
        return result


def _text_protocol(tools: list[dict[str, JSON]]) -> str:
    lines = []
    for t in tools:
        fn = t["function"]
        assert isinstance(fn, dict)
        lines.append(f"- {fn['name']}: {str(fn.get('description') or '').strip()[:400]}\n"
                     f"  parameters: {json.dumps(fn.get('parameters') or {}, ensure_ascii=False)[:800]}")
    return prompt("agent_text").format(tools="\n".join(lines))


def _message_json(m: Message) -> dict[str, JSON]:
    out: dict[str, JSON] = {"role": m.role, "content": m.content[:4000]}
    if m.tool_calls:
        out["tool_calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments[:2000]} for c in m.tool_calls]
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    return out


def demo_script() -> Path:
    """The scripted model responses `toolfoundry demo` replays."""
    return Path(__file__).parent / "demo" / "demo.json"
