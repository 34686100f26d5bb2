"""The ``[policy]`` section of toolfoundry.toml: the built-in switches and the ordered rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from toolfoundry.stages.policy.rules import Rule


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicySettings:
    """The policy: ordered rules that route a candidate by risk, then the built-in defaults (policy.py)."""

    auto_approve_pure: bool = True
    """Auto-approve a tool that passes every stage and asks for no permission."""
    human_for_permissions: bool = True
    """A tool asking for any permission (network host, env var) waits for a human."""
    require_examples: bool = False
    """Reject a candidate that comes without any example (visible or held-out)."""
    default_route: Literal["human", "deny"] = "human"
    """Where a candidate goes when nothing else routed it (only reached with ``auto_approve_pure = false``)."""
    reviewer_model: str = ""
    """The model reviewer agents use, as ``provider:name``; empty → ``[generation] model``."""
    rules: tuple[Rule, ...] = ()
    """The ``[[policy.rules]]``, in file order; the first that matches decides (after failed validation)."""
