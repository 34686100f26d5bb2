"""The policy's vocabulary: the risk facts it may look at, the conditions a rule can test, and the rule.

``RiskFacts`` are what is known about a validated (or failed) candidate; ``When`` holds a rule's
conditions (each one a ``CONDITIONS`` entry: does it hold, how to say so); ``Rule`` is one
``[[policy.rules]]`` entry. Pure data and pure functions; ``__init__.py`` makes the decision and
``file.py`` reads the rules from toolfoundry.toml.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from fnmatch import fnmatchcase
from typing import Any, Literal

from toolfoundry.core import Candidate, Decision, Permissions, Route, Source, ToolSpec, Verdict

ApprovalKind = Literal["any", "signed"]
"""What a human approval must be: ``any`` kind toolfoundry accepts, or ``signed`` (an SSH signature only)."""
APPROVAL_KINDS: tuple[ApprovalKind, ...] = ("any", "signed")


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskFacts:
    """What the policy may look at: facts about a validated (or failed) candidate. No behaviour."""

    name: str
    """The tool's name (from the contract, else the requested name)."""
    source: Source = "propose"
    """Where the candidate came from: ``propose``, ``request`` or ``mcp``."""
    permissions: Permissions = Permissions()
    """What the candidate asks for."""
    previous_permissions: Permissions | None = None
    """What the deployed version of this tool was granted; None when the tool is new."""
    imports: tuple[str, ...] = ()
    """Top-level modules the code imports (``ToolSpec.imports``)."""
    lines: int = 0
    """Lines of ``tool.py``."""
    examples: int = 0
    """Examples judged on the host: visible plus held-out."""
    signature_changed: bool = False
    """True when a deployed version exists and its signature differs from this one's."""
    verdicts: tuple[Verdict, ...] = ()
    """Every stage's verdict."""

    @classmethod
    def of(cls, *, candidate: Candidate, spec: ToolSpec | None, verdicts: Sequence[Verdict],
           previous: tuple[str, Permissions] | None) -> RiskFacts:
        """The facts about ``candidate``; ``previous`` is the deployed version's (signature, permissions),
        None when no version of the tool is deployed. ``spec`` is None when the contract failed."""
        return cls(name=spec.name if spec else candidate.name or "", source=candidate.source,
                   permissions=candidate.permissions, previous_permissions=previous[1] if previous else None,
                   imports=spec.imports if spec else (), lines=len(candidate.code.splitlines()),
                   examples=len(candidate.examples) + len(candidate.holdout),
                   signature_changed=bool(previous and spec and spec.signature != previous[0]),
                   verdicts=tuple(verdicts))

    @property
    def new_tool(self) -> bool:
        """No version of this tool is deployed."""
        return self.previous_permissions is None

    @property
    def added_permissions(self) -> tuple[str, ...]:
        """Permissions asked for beyond the deployed version's (all of them for a new tool)."""
        before = self.previous_permissions or Permissions()
        return tuple([f"network host {h}" for h in self.permissions.net_hosts if h not in before.net_hosts]
                     + [f"env var {e}" for e in self.permissions.env_vars if e not in before.env_vars])


@dataclass(frozen=True, slots=True, kw_only=True)
class When:
    """A rule's conditions; None means "not part of this rule". All given conditions must hold."""

    net_hosts: bool | None = None
    """True: asks for at least one network host; False: asks for none."""
    env_vars: bool | None = None
    """True: asks for at least one environment variable; False: none."""
    imports_any: tuple[str, ...] | None = None
    """Imports at least one of these top-level modules."""
    adds_permissions: bool | None = None
    """Asks for a permission the deployed version does not have (any permission, for a new tool)."""
    signature_changed: bool | None = None
    """A deployed version exists and the signature differs."""
    new_tool: bool | None = None
    """No version of the tool is deployed yet."""
    lines_over: int | None = None
    """``tool.py`` has more than this many lines."""
    examples_min: int | None = None
    """At least this many examples were judged on the host."""
    pure: bool | None = None
    """True: asks for no permission at all; False: asks for some."""
    source: tuple[Source, ...] | None = None
    """The candidate came from one of these sources (``propose``, ``request``, ``mcp``)."""
    name_matches: str | None = None
    """The tool's name matches this glob (``fnmatch``, case-sensitive)."""


def _hosts(f: RiskFacts) -> str:
    return ", ".join(f.permissions.net_hosts) or "none"


def _envs(f: RiskFacts) -> str:
    return ", ".join(f.permissions.env_vars) or "none"


_Check = Callable[[Any, RiskFacts], bool]
_Explain = Callable[[Any, RiskFacts], str]
CONDITIONS: dict[str, tuple[_Check, _Explain]] = {
    "net_hosts": (lambda v, f: bool(f.permissions.net_hosts) == v, lambda v, f: f"network hosts: {_hosts(f)}"),
    "env_vars": (lambda v, f: bool(f.permissions.env_vars) == v, lambda v, f: f"env vars: {_envs(f)}"),
    "imports_any": (lambda v, f: bool(set(f.imports) & set(v)),
                    lambda v, f: "imports " + ", ".join(sorted(set(f.imports) & set(v)))),
    "adds_permissions": (lambda v, f: bool(f.added_permissions) == v,
                         lambda v, f: "adds " + (", ".join(f.added_permissions) or "no permission")),
    "signature_changed": (lambda v, f: f.signature_changed == v,
                          lambda v, f: "signature " + ("changed" if f.signature_changed else "unchanged")),
    "new_tool": (lambda v, f: f.new_tool == v, lambda v, f: "new tool" if f.new_tool else "new version"),
    "lines_over": (lambda v, f: f.lines > v,
                   lambda v, f: f"{f.lines} lines (more than {v})"),
    "examples_min": (lambda v, f: f.examples >= v,
                     lambda v, f: f"{f.examples} host-judged example(s)"),
    "pure": (lambda v, f: (not f.permissions.any()) == v,
             lambda v, f: "pure" if not f.permissions.any() else "asks for permissions"),
    "source": (lambda v, f: f.source in v, lambda v, f: f"source {f.source}"),
    "name_matches": (lambda v, f: fnmatchcase(f.name, str(v)), lambda v, f: f"name {f.name} matches {v}"),
}
"""Condition name → (does it hold for these facts, how to say so in a reason); one per ``When`` field."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One ``[[policy.rules]]`` entry: when its conditions hold, it routes the candidate."""

    name: str
    """The rule's name, recorded with the decision."""
    when: When
    """The conditions; all must hold (an empty ``When`` matches everything)."""
    route: Route
    """Where a matching candidate goes."""
    reason: str = ""
    """A sentence for reviewers; empty → built from the conditions that matched."""
    quorum: int = 0
    """``reviewers``: approvals needed (validated: 1 ≤ quorum ≤ len(roles))."""
    roles: tuple[str, ...] = ()
    """``reviewers``: one reviewer agent per role."""
    timeout_seconds: float = 0.0
    """``reviewers``: per-review time limit."""
    then: Literal["human", "deny"] = "human"
    """``reviewers``: the route when the quorum is not reached."""
    regenerate: bool = False
    """``reviewers``: requested changes may start a new generation attempt with the reasons."""
    reviewer_role: str = ""
    """``human`` and ``reviewers``: the principal role the person who approves must hold; empty: any reviewer."""
    approval: ApprovalKind = "any"
    """``human`` and ``reviewers``: what kind of human approval counts — ``any`` (an SSH-signed one, or a GitHub
    review by a linked principal) or ``signed`` (only an SSH signature). Read when the approval is given."""

    def matches(self, facts: RiskFacts) -> bool:
        """True when every condition of the rule holds for ``facts``."""
        return all(CONDITIONS[c][0](v, facts) for c, v in _given(self.when))

    def decision(self, facts: RiskFacts) -> Decision:
        """The decision this rule makes for ``facts`` (which it matches)."""
        said = "; ".join(CONDITIONS[c][1](v, facts) for c, v in _given(self.when))
        reason = self.reason or f"policy rule {self.name!r} matched" + (f" ({said})" if said else "")
        return Decision(route=self.route, rule=self.name, reason=reason, quorum=self.quorum, roles=self.roles,
                        timeout_seconds=self.timeout_seconds, fallback=self.then, regenerate=self.regenerate,
                        reviewer_role=self.reviewer_role)


def _given(when: When) -> list[tuple[str, object]]:
    return [(f.name, getattr(when, f.name)) for f in fields(when) if getattr(when, f.name) is not None]
