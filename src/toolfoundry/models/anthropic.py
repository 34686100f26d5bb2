"""The ``anthropic`` backend: Anthropic's Messages API through the ``anthropic`` SDK (the ``anthropic`` extra)."""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from toolfoundry.core import JSON
from toolfoundry.errors import UsageError
from toolfoundry.jsonlimits import parse
from toolfoundry.models.retry import BadResponse, with_retries
from toolfoundry.models.settings import ModelSettings
from toolfoundry.models.types import Completion, Message, ToolCall

ANTHROPIC_URL = "https://api.anthropic.com"
ANTHROPIC_EXTRA = "pip install 'toolfoundry[anthropic]'"

def to_anthropic(messages: Sequence[Message], tools: list[dict[str, JSON]] | None = None,
                 ) -> tuple[str, list[dict[str, JSON]], list[dict[str, JSON]]]:
    """``core.Message``s and OpenAI-style tools → Anthropic ``(system, messages, tools)``.

    System messages join the ``system`` text; tool calls become ``tool_use`` blocks and tool messages
    ``tool_result`` blocks in a user turn; consecutive turns of one role are merged (the API alternates).
    """
    system: list[str] = []
    wire: list[dict[str, JSON]] = []
    for m in messages:
        if m.role == "system":
            system.append(m.content)
            continue
        blocks: list[JSON] = [{"type": "text", "text": m.content}] if m.content else []
        if m.role == "tool":
            if not m.tool_call_id:
                raise UsageError("a tool message needs the tool_call_id of the call it answers")
            blocks = [{"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}]
        for tc in m.tool_calls:
            try:
                tool_input = parse(tc.arguments or "{}")
            except json.JSONDecodeError:
                tool_input = None
            if not isinstance(tool_input, dict):
                raise UsageError(f"tool call {tc.id} ({tc.name}): arguments are not a JSON object, which "
                                 f"Anthropic requires: {tc.arguments[:200]!r}")
            blocks.append({"type": "tool_use", "id": tc.id, "name": tc.name, "input": tool_input})
        role = "assistant" if m.role == "assistant" else "user"
        if wire and wire[-1]["role"] == role:
            previous = wire[-1]["content"]
            assert isinstance(previous, list)
            previous.extend(blocks)
        else:
            wire.append({"role": role, "content": blocks})
    specs: list[dict[str, JSON]] = []
    for tool in tools or ():
        fn = tool.get("function", tool)
        specs.append({"name": fn["name"], "description": fn.get("description", ""),
                      "input_schema": fn.get("parameters") or {"type": "object", "properties": {}}})
    return "\n\n".join(system), wire, specs


class AnthropicModel:
    """Claude through the ``anthropic`` SDK (the optional extra ``toolfoundry[anthropic]``)."""

    def __init__(self, name: str, *, api_key: str, base_url: str | None = None,
                 settings: ModelSettings | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        try:
            self._sdk: Any = importlib.import_module("anthropic")
        except ImportError as exc:
            raise UsageError(f"anthropic:{name} needs the anthropic extra: {ANTHROPIC_EXTRA}") from exc
        self.name = f"anthropic:{name}"
        self.model_id = name
        self.settings = settings or ModelSettings()
        self._sleep = sleep
        self._client = self._sdk.Anthropic(api_key=api_key, base_url=base_url or ANTHROPIC_URL, max_retries=0,
                                           timeout=self.settings.timeout_seconds)

    @classmethod
    def from_spec(cls, name: str, *, settings: ModelSettings, environ: Mapping[str, str]) -> AnthropicModel:
        """Build from ``anthropic:NAME`` and ``ANTHROPIC_API_KEY`` (``ANTHROPIC_BASE_URL`` optional)."""
        base_url = environ.get("ANTHROPIC_BASE_URL") or None
        api_key = environ.get("ANTHROPIC_API_KEY") or ""
        if not api_key and base_url is None:
            raise UsageError(f"anthropic:{name} needs an API key: set ANTHROPIC_API_KEY")
        return cls(name, api_key=api_key or "no-key", base_url=base_url, settings=settings)

    def close(self) -> None:
        """Close the HTTP client and its connections."""
        self._client.close()

    def complete(self, messages: list[Message], *, tools: list[dict[str, JSON]] | None = None,
                 max_tokens: int | None = None) -> Completion:
        """One Messages API call, retried per ``ModelSettings``. Raises ``ModelError``."""
        system, wire, specs = to_anthropic(messages, tools)
        kwargs: dict[str, Any] = {"model": self.model_id, "messages": wire, "max_tokens": max_tokens or 4096}
        if system:
            kwargs["system"] = system
        if specs:
            kwargs["tools"] = specs

        def call() -> Completion:
            return self._completion(self._client.messages.create(**kwargs))

        return with_retries(self.name, call, self._sdk, self.settings, self._sleep)

    def _completion(self, resp: Any) -> Completion:
        if not isinstance(resp, self._sdk.types.Message):
            raise BadResponse(f"expected a message, got {str(resp)[:200]!r}")
        texts, calls = [], []
        for block in resp.content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use":
                calls.append(ToolCall(id=block.id, name=block.name, arguments=json.dumps(block.input)))
        usage = self.settings.usage(resp.usage.input_tokens, resp.usage.output_tokens)
        return Completion(message=Message(role="assistant", content="".join(texts), tool_calls=tuple(calls)),
                          usage=usage, model=f"anthropic:{resp.model or self.model_id}",
                          finish_reason=resp.stop_reason)
