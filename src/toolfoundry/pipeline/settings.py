"""The ``[pipeline]`` and ``[cluster]`` sections of toolfoundry.toml: where requests run, how many at once, and
what a node of a cluster does."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal


def _cores() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineSettings:
    """Running request workflows."""

    concurrency: int = field(default_factory=_cores)
    """Requests one process runs at once, from the ``requests`` queue (default: the number of cores)."""
    poll_seconds: float = 0.05
    """How often the queue is looked at for a request to start, in seconds."""
    per_requester: int = 0
    """The most requests of one requester that run at once, across every process (0: ``concurrency``)."""
    run: Literal["auto", "here", "queue"] = "auto"
    """``here``: a command runs its own requests in its own process. ``queue``: it only enqueues them, for
    ``toolfoundry worker`` processes to run, and follows them. ``auto`` (the default): ``here`` on the
    home's SQLite database, ``queue`` on a cluster's PostgreSQL one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterSettings:
    """What this node does when the home's state is in PostgreSQL (``[database] url``); unused otherwise."""

    forge_node: bool = True
    """This node owns the tool repository and runs merges (the ``forge`` queue). Exactly one node should."""
    forge_url: str = ""
    """Where a node that is not the forge node fetches tool code from: the forge node's ``tools.git`` (an
    ``ssh://``, ``https://`` or ``file://`` URL, or a path). Its local ``tools.git`` becomes a mirror."""
    sandbox_slots: int = field(default_factory=_cores)
    """Validations (contract, checks, tests, oracle: the ``sandbox`` queue) one worker runs at once."""
    model_calls_per_minute: int = 0
    """The most model calls started per minute across the cluster (the ``models`` queue); 0: no limit."""
    grace_seconds: float = 2.0
    """How long an executor's liveness lock must have been free before its work is recovered elsewhere
    (longer than the fence check, ``fence_seconds``)."""
    fence_seconds: float = 0.5
    """How often a process checks that it still holds its liveness lock; it exits at once when it does not."""

    def check(self, where: str) -> ClusterSettings:
        """``self``, or a ``UsageError`` naming ``where``."""
        from toolfoundry.errors import UsageError
        if self.sandbox_slots < 1 or self.model_calls_per_minute < 0:
            raise UsageError(f"{where}: sandbox_slots must be at least 1 and model_calls_per_minute at least 0")
        if not 0 < self.fence_seconds < self.grace_seconds:
            raise UsageError(f"{where}: fence_seconds must be above 0 and below grace_seconds (a lock is judged"
                             f" lost only after its holder would have noticed and exited)")
        if not self.forge_node and not self.forge_url:
            raise UsageError(f"{where}: a node that is not the forge node needs forge_url (the forge node's"
                             f" tools.git) to read tool code from")
        return self
