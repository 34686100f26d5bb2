"""What a request carries: the examples, the candidate or need it starts from, the policy's decision, the
proposal that waits for review, a reviewer's answer, and the outcome.

Owns ``Example``, ``Candidate``, ``Need``, ``Decision``, ``ReviewDecision``, ``Proposal`` and ``Outcome`` with
their JSON forms. It does not decide, review or run anything (``stages/``, ``pipeline/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from toolfoundry.core.tools import Interface, Permissions, ToolRef
from toolfoundry.core.verdicts import Verdict
from toolfoundry.core.words import JSON, Route, Source, Status
from toolfoundry.jsonlimits import check_depth


@dataclass(frozen=True, slots=True, kw_only=True)
class Example:
    """One acceptance example: call the tool with ``args``; it must return ``expect`` or raise ``raises``."""

    args: dict[str, JSON]
    """Keyword arguments for the tool's function."""
    expect: JSON = None
    """The exact JSON value expected (compared with strict types); ignored when ``raises`` is set."""
    raises: str | None = None
    """The name of the exception type expected instead of a value, e.g. ``ValueError``."""

    def __post_init__(self) -> None:  # an example travels through checkpoints and validators: bound its depth
        check_depth(self.args, what="an example's args")
        check_depth(self.expect, what="an example's expected value")

    def to_json(self) -> dict[str, JSON]:
        """The example in the ``examples.json`` format."""
        if self.raises is not None:
            return {"args": self.args, "raises": self.raises}
        return {"args": self.args, "expect": self.expect}


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """A proposed tool: everything the pipeline needs to judge it. Built by `propose` or by generation."""

    code: str
    """The source of ``tool.py``."""
    tests: str | None = None
    """The source of ``test_tool.py`` (pytest), if any."""
    examples: tuple[Example, ...] = ()
    """Visible acceptance examples (they go into the tool repository)."""
    holdout: tuple[Example, ...] = ()
    """Held-out examples: judged like ``examples`` but never shown to a generator, never in the repo."""
    permissions: Permissions = Permissions()
    """What the tool asks for."""
    name: str | None = None
    """The name requested in ``tool.toml``; None → the public function's name."""
    source: Source = "propose"
    """Where the candidate came from (recorded in the audit log; policy rules can match it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Need:
    """A capability request: what is needed, how it should behave, and which model writes it."""

    description: str
    """What the tool must do, in plain words."""
    examples: tuple[Example, ...] = ()
    """Visible examples: shown to the model and judged by the oracle."""
    holdout: tuple[Example, ...] = ()
    """Held-out examples: judged by the oracle, never shown to the model."""
    model: str
    """The model that writes the tool, as ``provider:name``."""
    max_attempts: int = 3
    """Candidates generated before giving up (the refine loop's bound)."""
    token_budget: int = 60000
    """Tokens all the request's model calls may spend together."""
    reuse: bool = True
    """Return a deployed tool that already fits instead of generating a duplicate."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What the policy decided for a candidate that reached review."""

    route: Route
    """``auto`` approve, ask ``reviewers`` (agents, with a quorum), wait for a ``human``, or ``deny``."""
    rule: str
    """The policy rule that made the decision, e.g. ``permissions-need-human``."""
    reason: str
    """One sentence a reviewer can read."""
    quorum: int = 0
    """``reviewers`` only: approvals needed; 0 for the other routes."""
    roles: tuple[str, ...] = ()
    """``reviewers`` only: one reviewer agent per role (``security``, ``correctness``, ``interface``)."""
    timeout_seconds: float = 0.0
    """``reviewers`` only: how long each reviewer may take; a reviewer that takes longer counts as ``timeout``."""
    fallback: Literal["human", "deny"] = "human"
    """``reviewers`` only: the route when the quorum is not reached (no approval quorum and no rejection)."""
    regenerate: bool = False
    """``reviewers`` only: whether requested changes may start a new generation attempt with the reasons."""
    reviewer_role: str = ""
    """``human`` (and ``reviewers``, when it falls back to a human): the principal role the approving person
    must hold (e.g. ``security-lead``); empty: any reviewer."""

    def to_json(self) -> dict[str, JSON]:
        """As recorded in the ledger and the audit log (the review plan only for ``reviewers``)."""
        out: dict[str, JSON] = {"route": self.route, "rule": self.rule, "reason": self.reason}
        if self.route == "reviewers":
            out.update(quorum=self.quorum, roles=list(self.roles), timeout_seconds=self.timeout_seconds,
                       fallback=self.fallback, regenerate=self.regenerate)
        if self.reviewer_role:
            out["reviewer_role"] = self.reviewer_role
        return out

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> Decision:
        """The decision ``to_json`` wrote."""
        return cls(route=data["route"], rule=str(data["rule"]), reason=str(data["reason"]),
                   quorum=int(data.get("quorum", 0)), roles=tuple(data.get("roles") or ()),
                   timeout_seconds=float(data.get("timeout_seconds", 0.0)), fallback=data.get("fallback", "human"),
                   regenerate=bool(data.get("regenerate", False)), reviewer_role=str(data.get("reviewer_role", "")))


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewDecision:
    """A reviewer's answer to a pending request."""

    approve: bool
    """True to approve, False to reject."""
    reviewer: str
    """Who decided (a user name, or ``policy`` for automatic approvals)."""
    reason: str = ""
    """Why; required for rejections."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    """A validated candidate with its pull request, waiting for (or given to) review: what delivery needs."""

    request_id: str
    """The request."""
    requester: str
    """Who asked; never its own reviewer."""
    ref: ToolRef
    """The version the pull request holds (no commit until merged)."""
    interface: Interface
    """The tool's interface, recorded in the registry at deploy."""
    permissions: Permissions
    """What the tool asks for and will be granted if approved."""
    stages: tuple[Verdict, ...]
    """Every stage's verdict, in order."""
    decision: Decision
    """The policy's decision that sent it to review."""

    head: str | None = None
    """The pull request's head commit as validated: it is merged only while the head is still this commit
    (None for proposals recorded by a release that did not keep it)."""

    def to_json(self) -> dict[str, JSON]:
        """As stored on the request's ledger row, so a review survives any process."""
        return {"request_id": self.request_id, "requester": self.requester, "ref": self.ref.to_json(),
                "interface": self.interface.to_json(), "permissions": self.permissions.to_json(),
                "stages": [v.to_json() for v in self.stages], "decision": self.decision.to_json(),
                **({"head": self.head} if self.head else {})}

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> Proposal:
        """The proposal ``to_json`` wrote."""
        return cls(request_id=str(data["request_id"]), requester=str(data["requester"]),
                   ref=ToolRef.from_json(data["ref"]), interface=Interface.from_json(data["interface"]),
                   permissions=Permissions.from_json(data["permissions"]),
                   stages=tuple(Verdict.from_json(v) for v in data["stages"]),
                   decision=Decision.from_json(data["decision"]), head=data.get("head"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """The end (or the current pause) of one request."""

    request_id: str
    """The request's id (also the workflow id and the branch suffix)."""
    status: Status
    """``deployed``, ``rejected``, ``pending_review`` (or ``running``/``failed`` while recovering)."""
    tool: ToolRef | None
    """The tool version concerned, when the candidate got far enough to have one."""
    stages: tuple[Verdict, ...]
    """Every stage's verdict, in order."""
    reason: str = ""
    """Why it ended this way, in one sentence."""

    def to_json(self) -> dict[str, JSON]:
        """The object `propose --json` prints."""
        return {
            "request_id": self.request_id,
            "status": self.status,
            "tool": self.tool.to_json() if self.tool else None,
            "stages": [v.to_json() for v in self.stages],
            "reason": self.reason,
        }
