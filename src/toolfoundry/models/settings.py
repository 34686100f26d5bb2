"""How models are called (``ModelSettings``) and the ``[generation]`` section of toolfoundry.toml that sets it."""

from __future__ import annotations

from dataclasses import dataclass

from toolfoundry.models.types import Usage


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationSettings:
    """Model-driven generation: which model, and how hard it may try."""

    model: str = ""
    """Default model as ``provider:name`` (``openai:gpt-4.1-mini``, ``scripted:FILE``); empty → must be given."""
    max_attempts: int = 3
    """Candidates generated per request before giving up (the refine loop's bound)."""
    token_budget: int = 60000
    """Tokens (prompt + completion) one request may spend across all its model calls."""
    agent_max_steps: int = 12
    """Model turns the reference agent (`toolfoundry run`) may take for one task."""
    timeout_seconds: float = 60.0
    """Per model call, before it is retried."""
    max_retries: int = 4
    """Retries of a model call on 429, 5xx, timeouts and connection errors."""
    price_per_mtok_in: float = 0.0
    """US dollars per million prompt tokens, for the cost in the audit log (0 → cost unknown)."""
    price_per_mtok_out: float = 0.0
    """US dollars per million completion tokens (0 → cost unknown)."""

    def model_settings(self) -> ModelSettings:
        """How each model call is made: the timeout, the retries, and the price when one is configured."""
        priced = self.price_per_mtok_in > 0 or self.price_per_mtok_out > 0
        return ModelSettings(timeout_seconds=self.timeout_seconds, max_retries=self.max_retries,
                             price_per_mtok_in=self.price_per_mtok_in if priced else None,
                             price_per_mtok_out=self.price_per_mtok_out if priced else None)


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
