"""The models' vocabulary: chat messages, tool calls, token usage, completions, and the ``Model`` seam.

Owns the words only (no I/O, no SDK import): every backend in this package maps its provider's wire
format to and from these, and every caller (generation, reviewer agents, the reference agent) speaks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from toolfoundry.core import JSON


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """A function call a model asked for, as it produced it."""

    id: str
    """The call id the model gave (echoed back in the tool message)."""
    name: str
    """The function name."""
    arguments: str
    """The arguments as raw JSON text, exactly as the model wrote it (it may be malformed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One chat message, provider-neutral."""

    role: Literal["system", "user", "assistant", "tool"]
    """Who speaks."""
    content: str = ""
    """The text (may be empty for an assistant message that only calls tools)."""
    tool_calls: tuple[ToolCall, ...] = ()
    """Function calls requested by an assistant message."""
    tool_call_id: str | None = None
    """For a ``tool`` message: the id of the call it answers."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Tokens (and cost where the price is known) of one completion or of several added up."""

    prompt_tokens: int = 0
    """Input tokens."""
    completion_tokens: int = 0
    """Output tokens."""
    cost_usd: float | None = None
    """Cost in US dollars when the model's price is configured; None when unknown."""

    def __add__(self, other: Usage) -> Usage:
        cost = None if self.cost_usd is None and other.cost_usd is None else \
            (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        return Usage(prompt_tokens=self.prompt_tokens + other.prompt_tokens,
                     completion_tokens=self.completion_tokens + other.completion_tokens, cost_usd=cost)

    @property
    def total(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> dict[str, JSON]:
        """As recorded in the audit log."""
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "cost_usd": self.cost_usd}

    @classmethod
    def from_json(cls, data: dict[str, JSON] | None) -> Usage:
        """The usage ``to_json`` wrote (none → zero)."""
        data = data or {}
        return cls(prompt_tokens=int(data.get("prompt_tokens") or 0),
                   completion_tokens=int(data.get("completion_tokens") or 0), cost_usd=data.get("cost_usd"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    """What a model answered."""

    message: Message
    """The assistant message (text and/or tool calls)."""
    usage: Usage
    """Tokens used by this completion."""
    model: str
    """The model that answered, as ``provider:name``."""
    finish_reason: str | None = None
    """``stop``, ``tool_calls``, ``length``, ... as the provider reported it."""


class Model(Protocol):
    """A chat model behind any provider. Implementations retry transient failures themselves."""

    name: str
    """``provider:model``, e.g. ``openai:gpt-4.1-mini`` or ``scripted:demo.json``."""

    def complete(self, messages: list[Message], *, tools: list[dict[str, JSON]] | None = None,
                 max_tokens: int | None = None) -> Completion:
        """One chat completion; ``tools`` are OpenAI-style function specs. Raises ``ModelError``."""
