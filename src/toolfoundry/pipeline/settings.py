"""The ``[pipeline]`` section of toolfoundry.toml: how many requests a process runs at once."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _cores() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineSettings:
    """Running request workflows."""

    concurrency: int = field(default_factory=_cores)
    """Requests one process runs at once, from the ``requests`` queue (default: the number of cores)."""
    poll_seconds: float = 0.05
    """How often the queue is looked at for a request to start, in seconds."""
