"""Models built once per ``provider:name`` and closed together: what a home's requests and agents share.

A scripted model replays one script, so the reference agent and the requests it makes must use the same
instance; an SDK-backed model holds an HTTP client worth reusing. A closed cache builds its models
again if it is used once more.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from toolfoundry.models import load_model
from toolfoundry.models.settings import ModelSettings
from toolfoundry.models.types import Model


class ModelCache:
    """``cache("openai:gpt-4.1-mini")`` → the one model of that name, built with ``settings`` and ``environ``."""

    def __init__(self, environ: Mapping[str, str], settings: ModelSettings) -> None:
        self._environ = dict(environ)
        self._settings = settings
        self._models: dict[str, Model] = {}
        self._lock = threading.Lock()

    def __call__(self, spec: str) -> Model:
        with self._lock:
            if spec not in self._models:
                self._models[spec] = load_model(spec, environ=self._environ, settings=self._settings)
            return self._models[spec]

    def close(self) -> None:
        """Close every model built so far (SDK clients and their connections)."""
        with self._lock:
            models, self._models = list(self._models.values()), {}
        for model in models:
            close = getattr(model, "close", None)
            if callable(close):
                close()
