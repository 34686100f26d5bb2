"""Chat models behind ``core.Model``: backend selection, wire mapping, retries, token usage and cost.

This module owns turning ``PROVIDER:NAME`` into a ``Model`` (backends by short name → dotted path),
mapping ``core.Message`` to and from the OpenAI and Anthropic wire formats, the retry policy (timeouts,
exponential backoff with jitter on 429/5xx/connection errors, ``Retry-After`` honoured, no retry on other
4xx), and ``Usage`` with cost. It is the one boundary where SDK exceptions become ``ModelError``.

It does not own prompts (``prompts/``), the audit log (callers record ``Completion.usage``) or the
environment: ``load_model`` is given ``environ`` by the edge; nothing here reads ``os.environ``
(the SDKs still read a few optional variables of their own, such as ``OPENAI_ORG_ID``).

SDKs are imported lazily, so importing this module (or ``toolfoundry.testing``) stays cheap.
"""

from __future__ import annotations

import email.utils
import importlib
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from toolfoundry.core import JSON, Completion, Message, Model, ModelError, ToolCall, Usage, UsageError

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion

__all__ = ["BACKENDS", "AnthropicModel", "ModelSettings", "OpenAIModel", "ScriptedModel", "backoff_delay",
           "load_model", "parse_retry_after", "to_anthropic", "to_openai"]

log = logging.getLogger(__name__)
T = TypeVar("T")

BACKENDS: dict[str, str] = {
    "openai": "toolfoundry.models:OpenAIModel",
    "anthropic": "toolfoundry.models:AnthropicModel",
    "scripted": "toolfoundry.models:ScriptedModel",
}
"""Short provider name → ``module:Class``; the class has ``from_spec(name, *, settings, environ)``."""

OPENAI_URL = "https://api.openai.com/v1"
ANTHROPIC_URL = "https://api.anthropic.com"
ANTHROPIC_EXTRA = "pip install 'toolfoundry[anthropic]'"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSettings:
    """How a model backend is called: timeout, retries, backoff and price."""

    timeout_seconds: float = 60.0
    """Per-request timeout; a request that takes longer counts as a failed attempt."""
    max_retries: int = 4
    """Retries after the first attempt (so at most ``max_retries + 1`` requests)."""
    backoff_base: float = 0.5
    """First backoff in seconds; doubles each retry, with jitter (half fixed, half random)."""
    backoff_max: float = 20.0
    """Cap of any wait between attempts, ``Retry-After`` included."""
    price_per_mtok_in: float | None = None
    """US dollars per million prompt tokens; cost is computed only when both prices are set."""
    price_per_mtok_out: float | None = None
    """US dollars per million completion tokens."""

    def usage(self, prompt_tokens: int, completion_tokens: int) -> Usage:
        """``Usage`` with the cost filled in when both prices are known."""
        cost = None
        if self.price_per_mtok_in is not None and self.price_per_mtok_out is not None:
            cost = (prompt_tokens * self.price_per_mtok_in + completion_tokens * self.price_per_mtok_out) / 1e6
        return Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cost_usd=cost)


def load_model(spec: str, *, settings: ModelSettings | None = None,
               environ: Mapping[str, str] | None = None) -> Model:
    """``openai:gpt-4.1-mini``, ``anthropic:claude-...``, ``scripted:demo.json`` → a ``Model``.

    ``environ`` (given by the edge) supplies ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``,
    ``ANTHROPIC_BASE_URL`` and ``ANTHROPIC_API_KEY``. Raises ``UsageError`` on a bad spec or a missing key.
    """
    provider, sep, name = spec.partition(":")
    known = ", ".join(BACKENDS)
    if not sep or not name:
        raise UsageError(f"model {spec!r}: expected PROVIDER:NAME (providers: {known}), e.g. openai:gpt-4.1-mini")
    if provider not in BACKENDS:
        raise UsageError(f"model {spec!r}: unknown provider {provider!r}; known providers: {known}")
    module, _, cls_name = BACKENDS[provider].partition(":")
    backend = getattr(importlib.import_module(module), cls_name)
    model: Model = backend.from_spec(name, settings=settings or ModelSettings(), environ=environ or {})
    return model


# ── retries ────────────────────────────────────────────────────────────────────────────────────


class _BadResponse(Exception):
    """The server answered 200 with something that is not a usable completion."""


@dataclass(frozen=True, slots=True)
class _Failure:
    retryable: bool
    message: str
    retry_after: float | None = None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date); None if unusable."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError):
            return None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def backoff_delay(settings: ModelSettings, attempt: int, retry_after: float | None = None,
                  rand: Callable[[], float] = random.random) -> float:
    """Wait before retry number ``attempt`` (1-based): ``Retry-After`` if given, else capped jittered 2^n."""
    if retry_after is not None:
        return min(retry_after, settings.backoff_max)
    ceiling = min(settings.backoff_max, settings.backoff_base * 2.0 ** (attempt - 1))
    return ceiling / 2 + rand() * ceiling / 2


def _classify(exc: Exception, sdk: Any, timeout: float) -> _Failure | None:
    """Translate an exception of an OpenAI-style (Stainless) SDK; None when it is not one of ours to handle."""
    if isinstance(exc, _BadResponse):
        return _Failure(True, f"malformed response: {exc}")
    if isinstance(exc, json.JSONDecodeError):
        return _Failure(True, f"malformed response: body is not valid JSON ({exc})")
    if isinstance(exc, sdk.APITimeoutError):
        return _Failure(True, f"timed out after {timeout:g}s")
    if isinstance(exc, sdk.APIConnectionError):
        return _Failure(True, f"connection error: {exc.__cause__ or exc}")
    if isinstance(exc, sdk.APIStatusError):
        status: int = exc.status_code
        body = exc.body
        detail = body.get("message") if isinstance(body, dict) else None
        if not isinstance(detail, str) and isinstance(body, dict) and isinstance(body.get("error"), dict):
            detail = body["error"].get("message")
        message = f"HTTP {status}: {detail if isinstance(detail, str) else exc.message}"
        if status in (408, 429) or status >= 500:
            headers = exc.response.headers
            retry_after = None
            if status in (429, 503, 529):  # 529: Anthropic "overloaded"
                ms = parse_retry_after(headers.get("retry-after-ms"))
                retry_after = ms / 1000 if ms is not None else parse_retry_after(headers.get("retry-after"))
            return _Failure(True, message, retry_after)
        return _Failure(False, message)
    if isinstance(exc, sdk.APIResponseValidationError):
        return _Failure(True, f"malformed response: {exc}")
    if isinstance(exc, sdk.APIError):
        return _Failure(False, str(exc))
    return None


def _with_retries(label: str, call: Callable[[], T], sdk: Any, settings: ModelSettings,
                  sleep: Callable[[float], None]) -> T:
    attempts = settings.max_retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:
            failure = _classify(exc, sdk, settings.timeout_seconds)
            if failure is None:
                raise
            if not failure.retryable:
                raise ModelError(f"{label}: {failure.message}") from exc
            if attempt == attempts:
                raise ModelError(f"{label}: gave up after {attempts} attempts: {failure.message}") from exc
            delay = backoff_delay(settings, attempt, failure.retry_after)
            log.warning("%s: attempt %d/%d failed (%s); retrying in %.2fs",
                        label, attempt, attempts, failure.message, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def _text_of(messages: Sequence[Message]) -> str:
    return "".join(m.content + "".join(tc.name + tc.arguments for tc in m.tool_calls) for m in messages)


# ── OpenAI ─────────────────────────────────────────────────────────────────────────────────────


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
                 max_tokens: int | None = None) -> Completion:
        """One chat completion, retried per ``ModelSettings``. Raises ``ModelError``."""
        import openai

        kwargs: dict[str, Any] = {"model": self.model_id, "messages": to_openai(messages)}
        if tools:
            kwargs["tools"] = tools
        if max_tokens is not None:  # OpenAI's newer models only accept max_completion_tokens
            kwargs["max_completion_tokens" if self._official else "max_tokens"] = max_tokens

        def call() -> Completion:
            return self._completion(self._client.chat.completions.create(**kwargs), messages)

        return _with_retries(self.name, call, openai, self.settings, self._sleep)

    def _completion(self, resp: object, sent: Sequence[Message]) -> Completion:
        from openai.types.chat import ChatCompletion

        if not isinstance(resp, ChatCompletion):
            raise _BadResponse(f"expected a chat completion, got {str(resp)[:200]!r}")
        return _from_openai(resp, sent, self.settings, self.model_id)


def _from_openai(resp: ChatCompletion, sent: Sequence[Message], settings: ModelSettings,
                 fallback_model: str) -> Completion:
    if not resp.choices or getattr(resp.choices[0], "message", None) is None:
        raise _BadResponse("the completion has no choices")
    choice = resp.choices[0]
    calls = []
    for tc in choice.message.tool_calls or ():
        fn = getattr(tc, "function", None)
        if fn is None:
            raise _BadResponse(f"unsupported tool call type {getattr(tc, 'type', '?')!r}")
        calls.append(ToolCall(id=tc.id, name=fn.name, arguments=fn.arguments or ""))
    message = Message(role="assistant", content=choice.message.content or "", tool_calls=tuple(calls))
    u = resp.usage
    usage = settings.usage(u.prompt_tokens, u.completion_tokens) if u is not None else \
        settings.usage(_estimate_tokens(_text_of(sent)), _estimate_tokens(_text_of([message])))
    return Completion(message=message, usage=usage, model=f"openai:{resp.model or fallback_model}",
                      finish_reason=choice.finish_reason)


# ── Anthropic ──────────────────────────────────────────────────────────────────────────────────


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
                tool_input = json.loads(tc.arguments or "{}")
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

        return _with_retries(self.name, call, self._sdk, self.settings, self._sleep)

    def _completion(self, resp: Any) -> Completion:
        if not isinstance(resp, self._sdk.types.Message):
            raise _BadResponse(f"expected a message, got {str(resp)[:200]!r}")
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


# ── scripted ───────────────────────────────────────────────────────────────────────────────────


def _scripted_entry(entry: object, where: str, index: int) -> tuple[Message, dict[str, Any] | None]:
    if isinstance(entry, str):
        return Message(role="assistant", content=entry), None
    if not isinstance(entry, dict) or not isinstance(entry.get("content", ""), str):
        raise UsageError(f"{where}: expected a string or an object with 'content' and/or 'tool_calls'")
    calls = []
    for i, call in enumerate(entry.get("tool_calls") or []):
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise UsageError(f"{where}: tool call {i} needs a 'name'")
        args = call.get("arguments", {})
        raw = args if isinstance(args, str) else json.dumps(args)
        calls.append(ToolCall(id=str(call.get("id") or f"call_{index}_{i}"),
                              name=call["name"], arguments=raw))
    usage = entry.get("usage")
    if usage is not None and not isinstance(usage, dict):
        raise UsageError(f"{where}: 'usage' must be an object with prompt_tokens and completion_tokens")
    return Message(role="assistant", content=entry.get("content", ""), tool_calls=tuple(calls)), usage


class ScriptedModel:
    """Replays recorded responses in order (``scripted:<file>``), and records what it was sent.

    The script is a JSON list; each entry is assistant text, or ``{"content": ..., "tool_calls":
    [{"name": ..., "arguments": {...} or "raw text"}], "usage": {"prompt_tokens": n,
    "completion_tokens": m}}``. Without ``usage``, tokens are estimated as characters / 4.
    """

    def __init__(self, path_or_responses: str | Path | Sequence[str | dict[str, JSON]], *,
                 name: str | None = None, settings: ModelSettings | None = None) -> None:
        if isinstance(path_or_responses, str | Path):
            path = Path(path_or_responses)
            try:
                entries = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise UsageError(f"scripted model file not found: {path}") from None
            except (OSError, json.JSONDecodeError) as exc:
                raise UsageError(f"scripted model file {path} is not readable JSON: {exc}") from exc
            if not isinstance(entries, list):
                raise UsageError(f"scripted model file {path} must hold a JSON list of responses")
            label = str(path)
        else:
            entries, label = list(path_or_responses), "inline"
        self.name = name or f"scripted:{label}"
        self.settings = settings or ModelSettings()
        self._script = [_scripted_entry(e, f"{label}: response {i}", i) for i, e in enumerate(entries)]
        self._lock = threading.Lock()
        self.received: list[list[Message]] = []
        """The messages of every ``complete`` call, in order."""

    @classmethod
    def from_spec(cls, name: str, *, settings: ModelSettings, environ: Mapping[str, str]) -> ScriptedModel:
        """``scripted:<file>``: the file holds the JSON script."""
        return cls(Path(name), name=f"scripted:{name}", settings=settings)

    @property
    def remaining(self) -> int:
        """Responses not yet replayed."""
        return len(self._script) - len(self.received)

    def complete(self, messages: list[Message], *, tools: list[dict[str, JSON]] | None = None,
                 max_tokens: int | None = None) -> Completion:
        """The next recorded response; ``ModelError`` once the script is exhausted."""
        with self._lock:
            index = len(self.received)
            self.received.append(list(messages))
        if index >= len(self._script):
            raise ModelError(f"{self.name}: scripted model ran out of responses after {len(self._script)}")
        message, usage = self._script[index]
        prompt = int(usage.get("prompt_tokens", 0)) if usage else _estimate_tokens(_text_of(messages))
        output = int(usage.get("completion_tokens", 0)) if usage else _estimate_tokens(_text_of([message]))
        return Completion(message=message, usage=self.settings.usage(prompt, output), model=self.name,
                          finish_reason="tool_calls" if message.tool_calls else "stop")
