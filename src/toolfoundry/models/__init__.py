"""Chat models behind ``core.Model``: backend selection, wire mapping, retries, token usage and cost.

This package owns turning ``PROVIDER:NAME`` into a ``Model`` (backends by short name → dotted path),
mapping ``core.Message`` to and from the OpenAI and Anthropic wire formats, the retry policy (timeouts,
exponential backoff with jitter on 429/5xx/connection errors, ``Retry-After`` honoured, no retry on other
4xx), and ``Usage`` with cost. It is the one boundary where SDK exceptions become ``ModelError``.

It does not own prompts (``prompts/``), the audit log (callers record ``Completion.usage``) or the
environment: ``load_model`` is given ``environ`` by the edge; nothing here reads ``os.environ``
(the SDKs still read a few optional variables of their own, such as ``OPENAI_ORG_ID``).

SDKs are imported lazily, so importing this module (or ``toolfoundry.testing``) stays cheap.
"""


from __future__ import annotations

import importlib
from collections.abc import Mapping

from toolfoundry.errors import UsageError
from toolfoundry.models.retry import backoff_delay, parse_retry_after
from toolfoundry.models.settings import GenerationSettings, ModelSettings
from toolfoundry.models.types import Model

__all__ = ["BACKENDS", "GenerationSettings", "ModelSettings", "backoff_delay", "load_model", "parse_retry_after"]

BACKENDS: dict[str, str] = {
    "openai": "toolfoundry.models.openai:OpenAIModel",
    "anthropic": "toolfoundry.models.anthropic:AnthropicModel",
    "scripted": "toolfoundry.models.scripted:ScriptedModel",
    "local": "toolfoundry.models.local:LocalModel",
}
"""Short provider name → ``module:Class``; the class has ``from_spec(name, *, settings, environ)``."""


def load_model(spec: str, *, settings: ModelSettings | None = None,
               environ: Mapping[str, str] | None = None) -> Model:
    """``openai:gpt-4.1-mini``, ``anthropic:claude-...``, ``local:qwen2.5-coder-1.5b``, ``scripted:demo.json`` → a ``Model``.

    With ``settings.record`` set, the model is wrapped so that every exchange is saved there (``record.py``).

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
    settings = settings or ModelSettings()
    model: Model = backend.from_spec(name, settings=settings, environ=environ or {})
    if settings.record:
        from toolfoundry.models.record import RecordingModel
        return RecordingModel(model, settings.record)
    return model
