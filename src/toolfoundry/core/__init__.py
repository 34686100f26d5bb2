"""The vocabulary of toolfoundry: the data that flows through the pipeline, and the seams between parts.

This package owns the words, nothing else, one idea to a module — read them in this order:

- ``words.py``: the ``Literal``s that name severities, statuses, routes, sources and roles (and ``JSON``);
- ``verdicts.py``: ``Finding``, ``Verdict`` and :func:`verdict` — what a stage says about a candidate;
- ``tools.py``: the tool contract — ``Permissions``, ``Param``, ``ToolSpec``, ``Interface``, ``ToolRef``,
  ``CallResult``;
- ``requests.py``: what a request carries — ``Example``, ``Candidate``, ``Need``, ``Decision``,
  ``ReviewDecision``, ``Proposal``, ``Outcome``;
- ``forge.py``: the ``Forge`` protocol (and ``PullRequestLink``).

Every name is re-exported here: import them from ``toolfoundry.core``. It does no I/O. The sandbox's words
(limits, run reports, the ``Sandbox`` seam) live in ``sandbox/types.py`` and the models' (messages, usage,
the ``Model`` seam) in ``models/types.py``; the exceptions in ``errors.py`` (re-exported here, where they
were first).

Expected failures (a tool that fails its tests, a call that raises) are *values* (``Verdict``,
``CallResult``), never exceptions.
"""

from __future__ import annotations

from toolfoundry.core.forge import Forge, PullRequestLink
from toolfoundry.core.requests import Candidate, Decision, Example, Need, Outcome, Proposal, ReviewDecision
from toolfoundry.core.tools import CallResult, Interface, Param, Permissions, ToolRef, ToolSpec
from toolfoundry.core.verdicts import Finding, Verdict, verdict
from toolfoundry.core.words import (
    JSON,
    META_TOOL_NAMES,
    ROLES,
    ROUTES,
    SOURCES,
    TERMINAL,
    Route,
    Severity,
    Source,
    Status,
)
from toolfoundry.errors import (
    Conflict,
    DatabaseError,
    ForgeError,
    InfraError,
    ModelError,
    NotInitialised,
    SandboxUnavailable,
    TamperedTool,
    ToolfoundryError,
    UnknownTool,
    UsageError,
)

__all__ = [  # the errors are re-exported from errors.py, so `from toolfoundry.core import UsageError` keeps working
    "JSON", "META_TOOL_NAMES", "ROLES", "ROUTES", "SOURCES", "TERMINAL", "CallResult", "Candidate", "Conflict",
    "DatabaseError", "Decision", "Example", "Finding", "Forge", "ForgeError", "InfraError", "Interface",
    "ModelError", "Need", "NotInitialised", "Outcome", "Param", "Permissions", "Proposal", "PullRequestLink",
    "ReviewDecision", "Route", "SandboxUnavailable", "Severity", "Source", "Status", "TamperedTool", "ToolRef", "ToolSpec",
    "ToolfoundryError", "UnknownTool", "UsageError", "Verdict", "verdict"]
