"""The ``openai`` backend: any OpenAI-compatible chat-completions server (OpenAI, vLLM, Ollama, llama.cpp)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from toolfoundry.core import JSON
from toolfoundry.errors import UsageError
from toolfoundry.models.retry import BadResponse, estimate_tokens, text_of, with_retries
from toolfoundry.models.settings import ModelSettings
from toolfoundry.models.types import Completion, Message, ToolCall

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion

OPENAI_URL = "https://api.openai.com/v1"

def to_openai(messages: Sequence[Message]) -> list[dict[str, JSON]]:
    """``core.Message``s → the chat-completions ``messages`` list."""
    wire: list[dict[str, JSON]] = []
    for m in messages:
        if m.role == "tool":
            if not m.tool_call_id:
                raise UsageError("a tool message needs the tool_call_id of the call it answers")
            wire.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
        elif m.role == "assistant" and m.tool_calls:
            wire.append({"role": "assistant", "content": m.content or None, "tool_calls": [
                {"id": tc.id, "type": "function", "function": {"name": tc.name, "arguments": tc.arguments}}
                for tc in m.tool_calls]})
        else:
            wire.append({"role": m.role, "content": m.content})
    return wire


class OpenAIModel:
    """Any OpenAI-compatible chat-completions server (OpenAI, vLLM, Ollama, llama.cpp) via the ``openai`` SDK."""

    def __init__(self, name: str, *, base_url: str | None, api_key: str, settings: ModelSettings | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        from openai import OpenAI

        self.name = f"openai:{name}"
        self.model_id = name
        self.settings = settings or ModelSettings()
        self._sleep = sleep
        self._official = base_url is None
        self._client = OpenAI(base_url=base_url or OPENAI_URL, api_key=api_key, max_retries=0,
                              timeout=self.settings.timeout_seconds)

    @classmethod
    def from_spec(cls, name: str, *, settings: ModelSettings, environ: Mapping[str, str]) -> OpenAIModel:
        """Build from ``openai:NAME`` and ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``."""
        base_url = environ.get("OPENAI_BASE_URL") or None
        api_key = environ.get("OPENAI_API_KEY") or ""
        if not api_key and base_url is None:
            raise UsageError(f"openai:{name} needs an API key: set OPENAI_API_KEY (or OPENAI_BASE_URL "
                             "to use a local OpenAI-compatible server that needs no key)")
        return cls(name, base_url=base_url, api_key=api_key or "no-key", settings=settings)

    def close(self) -> None:
        """Close the HTTP client and its connections."""
        self._client.close()

    def complete(self, messages: list[Message], *, tools: list[dict[str, JSON]] | None = None,
                 max_tokens: int | None = None, extra: Mapping[str, Any] | None = None) -> Completion:
        """One chat completion, retried per ``ModelSettings``; ``extra`` adds request fields (``temperature``,
        ``seed``). Raises ``ModelError``."""
        import openai

        kwargs: dict[str, Any] = {"model": self.model_id, "messages": to_openai(messages), **(extra or {})}
        if tools:
            kwargs["tools"] = tools
        if max_tokens is not None:  # OpenAI's newer models only accept max_completion_tokens
            kwargs["max_completion_tokens" if self._official else "max_tokens"] = max_tokens

        def call() -> Completion:
            return self._completion(self._client.chat.completions.create(**kwargs), messages)

        return with_retries(self.name, call, openai, self.settings, self._sleep)

    def _completion(self, resp: object, sent: Sequence[Message]) -> Completion:
        from openai.types.chat import ChatCompletion

        if not isinstance(resp, ChatCompletion):
            raise BadResponse(f"expected a chat completion, got {str(resp)[:200]!r}")
        return _from_openai(resp, sent, self.settings, self.model_id)


def _from_openai(resp: ChatCompletion, sent: Sequence[Message], settings: ModelSettings,
                 fallback_model: str) -> Completion:
    if not resp.choices or getattr(resp.choices[0], "message", None) is None:
        raise BadResponse("the completion has no choices")
    choice = resp.choices[0]
    calls = []
    for tc in choice.message.tool_calls or ():
        fn = getattr(tc, "function", None)
        if fn is None:
            raise BadResponse(f"unsupported tool call type {getattr(tc, 'type', '?')!r}")
        calls.append(ToolCall(id=tc.id, name=fn.name, arguments=fn.arguments or ""))
    message = Message(role="assistant", content=choice.message.content or "", tool_calls=tuple(calls))
    u = resp.usage
    usage = settings.usage(u.prompt_tokens, u.completion_tokens) if u is not None else \
        settings.usage(estimate_tokens(text_of(sent)), estimate_tokens(text_of([message])))
    return Completion(message=message, usage=usage, model=f"openai:{resp.model or fallback_model}",
                      finish_reason=choice.finish_reason)
