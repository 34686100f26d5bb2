"""What the pipeline's steps and the call path work with: one home's stores, forge, sandbox and models.

Opened by ``home/parts.py`` for one home in one process; importing it imports neither DBOS nor the analysers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from toolfoundry.core import Forge
from toolfoundry.models.settings import GenerationSettings
from toolfoundry.models.types import Model
from toolfoundry.sandbox.bwrap import BwrapSandbox
from toolfoundry.sandbox.types import Limits
from toolfoundry.stages.checks.settings import ChecksSettings
from toolfoundry.stages.policy.settings import PolicySettings
from toolfoundry.store.audit import AuditLog
from toolfoundry.store.ledger import Ledger
from toolfoundry.store.registry import Registry
from toolfoundry.store.search import ToolIndex


@dataclass(frozen=True, slots=True, kw_only=True)
class Parts:
    """What the steps work with, opened for one home in one process."""

    sandbox: BwrapSandbox
    forge: Forge
    audit: AuditLog
    registry: Registry
    ledger: Ledger
    index: ToolIndex
    models: Callable[[str], Model]
    """Builds (or returns the cached) model for ``provider:name``."""
    policy: PolicySettings
    """How candidates are routed."""
    generation: GenerationSettings
    """The default model (which also backs reviewer agents when ``policy.reviewer_model`` is empty)."""
    test_limits: Limits
    """Limits of the sandbox runs that validate a candidate."""
    checks: ChecksSettings = ChecksSettings()
    """Which advisory findings of the static checks block (``[checks]``)."""
    crash_after: str | None = None
    """Fault injection for the durability tests: SIGKILL the process right after the named point."""
    queues: bool = False
    """A cluster (the home's state in PostgreSQL): validations, forge writes and model calls run as child
    workflows on queues of their own (``workflow.py``) rather than inline."""
