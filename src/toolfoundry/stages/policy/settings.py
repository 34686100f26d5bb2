"""The ``[policy]`` section of toolfoundry.toml: the built-in switches and the ordered rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from toolfoundry.core import Decision
from toolfoundry.stages.policy.rules import ApprovalKind, Rule


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
    approval: ApprovalKind = "any"
    """What kind of human approval counts for every decision: ``any`` (an SSH signature, or a GitHub review by a
    principal linked to that login) or ``signed`` (only an SSH signature); a rule's ``approval`` can tighten it."""

    def approval_for(self, decision: Decision) -> ApprovalKind:
        """The approval kind required now for a request the policy routed with ``decision``: ``signed`` when this
        section or the rule that decided (looked up by name, as configured now) says so."""
        rule = next((r for r in self.rules if r.name == decision.rule), None)
        return "signed" if "signed" in (self.approval, rule.approval if rule else "any") else "any"
