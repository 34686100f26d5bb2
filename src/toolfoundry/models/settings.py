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
    max_tokens: int = 0
    """Completion tokens each generation call may produce (0: the backend's default; ``local`` uses 1024)."""
    record: str = ""
    """A directory where every model exchange (request, reply, usage, finish reason) is saved as JSON
    (``--record DIR``); ``scripted:DIR`` replays it. Empty: nothing is recorded."""
    price_per_mtok_in: float = 0.0
    """US dollars per million prompt tokens, for the cost in the audit log (0 → cost unknown)."""
    price_per_mtok_out: float = 0.0
    """US dollars per million completion tokens (0 → cost unknown)."""
    tool_protocol: str = "auto"
    """How the reference agent offers tools: ``native`` (function calling), ``text`` (a JSON block in the
    reply), or ``auto`` (text for models without native calling, such as ``local:``, and a switch to text
    when a model writes its calls as text)."""
    local_models_dir: str = ""
    """Where ``local:`` keeps model files it joins from shipped parts (empty: ``~/.cache/toolfoundry/models``)."""
    local_python: str = ""
    """The interpreter that has llama-cpp-python[server] (empty: the one running toolfoundry)."""
    server_command: str = ""
    """The command that serves a ``local:`` model (empty: llama-cpp-python's server); placeholders {python},
    {model}, {port}, {n_ctx}, {threads}, {chat_format}. It must serve OpenAI chat completions on 127.0.0.1:{port}."""
    local_threads: int = 1
    """Threads of the local server (1: steady on a shared 2-core machine; 2 only when it is idle)."""
    local_n_ctx: int = 4096
    """Context window of the local server."""
    local_max_tokens: int = 1024
    """Completion tokens per local call when ``max_tokens`` is 0 (caps repetition loops at ~70 s)."""
    local_temperature: float = 0.2
    """Sampling temperature of local calls."""
    local_seed: int = 42
    """Seed of the first local call; each later call of the process adds one."""
    local_timeout_seconds: float = 600.0
    """Per local call (a reply that loops to the token limit takes minutes on one thread)."""
    local_chat_format: str = ""
    """``--chat_format`` for the server (empty: the model file's own chat template)."""

    def model_settings(self) -> ModelSettings:
        """How each model call is made: the timeout, the retries, and the price when one is configured."""
        priced = self.price_per_mtok_in > 0 or self.price_per_mtok_out > 0
        local = LocalSettings(models_dir=self.local_models_dir, python=self.local_python,
                              server_command=self.server_command, threads=self.local_threads, n_ctx=self.local_n_ctx,
                              max_tokens=self.local_max_tokens, temperature=self.local_temperature,
                              seed=self.local_seed, timeout_seconds=self.local_timeout_seconds,
                              chat_format=self.local_chat_format)
        return ModelSettings(local=local, timeout_seconds=self.timeout_seconds, max_retries=self.max_retries, record=self.record,
                             price_per_mtok_in=self.price_per_mtok_in if priced else None,
                             price_per_mtok_out=self.price_per_mtok_out if priced else None)


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalSettings:
    """How the ``local`` backend serves a model file (the ``local_*`` settings of ``[generation]``)."""

    models_dir: str = ""
    python: str = ""
    server_command: str = ""
    threads: int = 1
    n_ctx: int = 4096
    max_tokens: int = 1024
    temperature: float = 0.2
    seed: int = 42
    timeout_seconds: float = 600.0
    chat_format: str = ""


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
    record: str = ""
    """A directory where every exchange of the models built with these settings is saved (``models/record.py``)."""
    local: LocalSettings = LocalSettings()
    """How ``local:`` models are served."""
    price_per_mtok_out: float | None = None
    """US dollars per million completion tokens."""

    def usage(self, prompt_tokens: int, completion_tokens: int) -> Usage:
        """``Usage`` with the cost filled in when both prices are known."""
        cost = None
        if self.price_per_mtok_in is not None and self.price_per_mtok_out is not None:
            cost = (prompt_tokens * self.price_per_mtok_in + completion_tokens * self.price_per_mtok_out) / 1e6
        return Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cost_usd=cost)
