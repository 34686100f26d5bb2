"""The vocabulary of toolfoundry: the data that flows through the pipeline, and the seams between parts.

This module owns the words, nothing else: frozen dataclasses for what flows (tool specs and
interfaces, candidates, needs, examples, findings, verdicts, decisions, proposals, reviews,
outcomes, call results), the ``Literal``s that name sources, statuses, routes and roles, and the
``Forge`` protocol. It does no I/O. The sandbox's words (limits, run reports, the ``Sandbox`` seam)
live in ``sandbox/types.py`` and the models' (messages, usage, the ``Model`` seam) in
``models/types.py``; the exceptions in ``errors.py`` (re-exported here, where they were first).

Expected failures (a tool that fails its tests, a call that raises) are *values* (``Verdict``,
``CallResult``), never exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

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
from toolfoundry.jsonlimits import check_depth

__all__ = [  # the errors are re-exported from errors.py, so `from toolfoundry.core import UsageError` keeps working
    "JSON", "META_TOOL_NAMES", "ROLES", "ROUTES", "SOURCES", "TERMINAL", "CallResult", "Candidate", "Conflict",
    "DatabaseError", "Decision", "Example", "Finding", "Forge", "ForgeError", "InfraError", "Interface",
    "ModelError", "Need", "NotInitialised", "Outcome", "Param", "Permissions", "Proposal", "PullRequestLink",
    "ReviewDecision", "Route", "SandboxUnavailable", "Severity", "Source", "Status", "TamperedTool", "ToolRef", "ToolSpec",
    "ToolfoundryError", "UnknownTool", "UsageError", "Verdict", "verdict"]

JSON = Any
"""Any JSON value: None, bool, int, float, str, list of JSON, dict of str to JSON."""

Severity = Literal["error", "warning", "info"]
"""``error`` fails its stage; ``warning`` and ``info`` are shown (to reviewers, to the model) and do not."""
Status = Literal["running", "deployed", "rejected", "pending_review", "failed", "cancelled"]
"""Where a request is. ``running`` and ``pending_review`` are the only non-terminal ones; ``cancelled``: its
requester stopped it before it merged."""
Route = Literal["auto", "reviewers", "human", "deny"]
"""Where the policy sends a candidate that reached review."""
Source = Literal["propose", "request", "mcp"]
"""Where a candidate came from: ``propose`` (a person or a program, CLI or API), ``request`` (a model
wrote it for a described need), ``mcp`` (an agent proposed its own code through the MCP server)."""
SOURCES: tuple[Source, ...] = ("propose", "request", "mcp")
"""Every value of ``Source``, in that order (policy rules may match any of them)."""
ROUTES: tuple[Route, ...] = ("auto", "reviewers", "human", "deny")
"""Every route a policy rule may name."""
ROLES: tuple[str, ...] = ("security", "correctness", "interface")
"""The reviewer-agent roles; ``prompts/review_<role>.md`` holds each one's instructions."""
META_TOOL_NAMES = frozenset({"request_capability", "propose_tool", "request_status", "search_tools", "call_tool"})
"""The meta-tools every agent is offered (MCP server, reference agent); no deployed tool may take a name of one."""
TERMINAL: frozenset[Status] = frozenset({"deployed", "rejected", "failed", "cancelled"})
"""Statuses a request never leaves."""


# ── findings and verdicts ───────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem found in a candidate, written so a model (or a person) can act on it."""

    code: str
    """Stable machine code, e.g. ``contract.no-public-function``, ``ruff.F821``, ``oracle.mismatch``."""
    message: str
    """What failed, in one or two sentences."""
    severity: Severity = "error"
    """``error`` fails the stage; ``warning`` and ``info`` are reported only."""
    file: str | None = None
    """The file the finding is about, relative to the tool directory (``tool.py``)."""
    line: int | None = None
    """1-based line in ``file`` where known."""
    input: JSON = None
    """The failing input (example args) where the finding comes from running the tool."""
    expected: JSON = None
    """What the example expected, where relevant."""
    actual: JSON = None
    """What the tool produced, where relevant."""

    @property
    def where(self) -> str:
        """``tool.py:12``, ``tool.py`` or "" — where the finding is, as every surface shows it."""
        return f"{self.file}:{self.line}" if self.file and self.line else (self.file or "")

    def headline(self) -> str:
        """``[code] where: message`` in one line, the way findings are rendered for people and models."""
        return f"[{self.code}]{' ' + self.where if self.where else ''}: {self.message}"

    def to_json(self) -> dict[str, JSON]:
        """The finding as a JSON object; absent optional parts are left out."""
        out: dict[str, JSON] = {"code": self.code, "message": self.message, "severity": self.severity}
        for key in ("file", "line", "input", "expected", "actual"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> Finding:
        """The finding ``to_json`` wrote (as stored in the ledger and the audit log)."""
        return cls(code=str(data["code"]), message=str(data["message"]), severity=data.get("severity", "error"),
                   file=data.get("file"), line=data.get("line"), input=data.get("input"),
                   expected=data.get("expected"), actual=data.get("actual"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The result of one stage (contract, checks, tests, oracle, ...)."""

    stage: str
    """The stage's name as shown to users: ``contract``, ``checks``, ``tests``, ``oracle``, ..."""
    ok: bool
    """True when the stage passed (no finding of severity ``error``)."""
    findings: tuple[Finding, ...] = ()
    """What the stage found, errors first."""
    ms: float = 0.0
    """Wall time the stage took, in milliseconds."""
    details: dict[str, JSON] = field(default_factory=dict)
    """Stage-specific facts worth keeping (counts, tool versions); JSON only."""

    def to_json(self) -> dict[str, JSON]:
        """The verdict as the JSON object `propose --json` prints under ``stages``."""
        return {
            "stage": self.stage,
            "ok": self.ok,
            "ms": round(self.ms, 2),
            "findings": [f.to_json() for f in self.findings],
            **({"details": self.details} if self.details else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> Verdict:
        """The verdict ``to_json`` wrote."""
        return cls(stage=str(data["stage"]), ok=bool(data["ok"]), ms=float(data.get("ms") or 0.0),
                   findings=tuple(Finding.from_json(f) for f in data.get("findings") or ()),
                   details=dict(data.get("details") or {}))


def verdict(stage: str, findings: list[Finding] | tuple[Finding, ...], ms: float = 0.0,
            details: dict[str, JSON] | None = None) -> Verdict:
    """Build a verdict whose ``ok`` follows from its findings (no error-severity finding → ok)."""
    ordered = tuple(sorted(findings, key=lambda f: {"error": 0, "warning": 1, "info": 2}[f.severity]))
    return Verdict(stage=stage, ok=not any(f.severity == "error" for f in ordered), findings=ordered,
                   ms=ms, details=details or {})


# ── the tool contract ───────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True, kw_only=True)
class Permissions:
    """What a tool asks for beyond pure computation. Empty means default deny everywhere."""

    net_hosts: tuple[str, ...] = ()
    """Hosts (``name`` or ``name:port``) the tool may reach; empty → no network."""
    env_vars: tuple[str, ...] = ()
    """Environment variables the tool may read; empty → none."""

    def any(self) -> bool:
        """True when the tool asks for any permission at all."""
        return bool(self.net_hosts or self.env_vars)

    def to_json(self) -> dict[str, JSON]:
        """The permissions as written into ``tool.toml`` and JSON outputs."""
        return {"net_hosts": list(self.net_hosts), "env_vars": list(self.env_vars)}

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> Permissions:
        """The permissions ``to_json`` wrote."""
        return cls(net_hosts=tuple(data.get("net_hosts") or ()), env_vars=tuple(data.get("env_vars") or ()))


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """One parameter of a tool's public function."""

    name: str
    """The parameter's name (a Python identifier)."""
    annotation: str
    """The annotation as written in the source, e.g. ``list[int] | None``."""
    schema: dict[str, JSON]
    """JSON Schema for the parameter's value (including ``default`` when it has one)."""
    required: bool
    """False when the parameter has a default."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolSpec:
    """What the contract module learns from a tool's source: its interface, no behaviour."""

    name: str
    """The tool's name: a lowercase identifier, unique in the registry."""
    function: str
    """The name of the single public function in the module."""
    description: str
    """The function's docstring: what other agents are shown."""
    module_doc: str
    """The module's docstring."""
    params: tuple[Param, ...]
    """The parameters, in order."""
    args_schema: dict[str, JSON]
    """JSON Schema (type object) for the keyword arguments."""
    result_schema: dict[str, JSON]
    """JSON Schema for the return value."""
    signature: str
    """Canonical signature text, e.g. ``(text: str, width: int = 80) -> str``; compared across versions."""
    imports: tuple[str, ...] = ()
    """Top-level module names imported anywhere in the source (``os.path`` → ``os``)."""

    @property
    def interface(self) -> Interface:
        """How the tool is called, as the registry records it at deploy."""
        return Interface(name=self.name, function=self.function, description=self.description,
                         signature=self.signature, args_schema=self.args_schema, result_schema=self.result_schema)

    def to_json(self) -> dict[str, JSON]:
        """The spec as JSON (its interface: for the registry, `tools --json` and MCP)."""
        return self.interface.to_json()


@dataclass(frozen=True, slots=True, kw_only=True)
class Interface:
    """How a deployed tool is called: what the registry records at deploy and every surface offers."""

    name: str
    """The tool's name."""
    function: str
    """The public function the sandbox calls."""
    description: str
    """The function's docstring: what agents are shown."""
    signature: str
    """Canonical signature text, e.g. ``(text: str, width: int = 80) -> str``."""
    args_schema: dict[str, JSON]
    """JSON Schema (type object) the arguments of a call are validated against."""
    result_schema: dict[str, JSON]
    """JSON Schema a call's result is checked against."""

    @property
    def summary(self) -> str:
        """The first line of the description ("" when there is none)."""
        return self.description.splitlines()[0] if self.description else ""

    def to_json(self) -> dict[str, JSON]:
        """As stored in the registry (``spec``) and offered over MCP and the adapters."""
        return {"name": self.name, "function": self.function, "description": self.description,
                "signature": self.signature, "args_schema": self.args_schema, "result_schema": self.result_schema}

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> Interface:
        """The interface ``to_json`` wrote."""
        return cls(name=str(data["name"]), function=str(data["function"]), description=str(data["description"]),
                   signature=str(data["signature"]), args_schema=dict(data["args_schema"]),
                   result_schema=dict(data["result_schema"]))


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


# ── decisions, reviews, outcomes ───────────────────────────────────────────────────────────────


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
class ToolRef:
    """A specific deployed (or deployable) version of a tool."""

    name: str
    """The tool's name."""
    version: int
    """1 for the first deployed version of a name, then 2, 3, ..."""
    sha256: str
    """sha256 of ``tool.py`` as reviewed."""
    commit: str | None = None
    """The merge commit on ``main`` that holds these bytes (None before merge)."""

    def to_json(self) -> dict[str, JSON]:
        """The reference as `propose --json` prints it under ``tool``."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "commit": self.commit}

    @classmethod
    def from_json(cls, data: dict[str, JSON]) -> ToolRef:
        """The reference ``to_json`` wrote."""
        return cls(name=str(data["name"]), version=int(data["version"]), sha256=str(data["sha256"]),
                   commit=data.get("commit"))


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




@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequestLink:
    """Where people see a request's pull request on a forge that has pull-request pages (GitHub)."""

    number: int
    """The pull request's number in its repository."""
    url: str
    """Its web page."""


class Forge(Protocol):
    """A git host for the tool repository: branches as pull requests, atomic merges.

    Two implementations: ``forge.local.LocalForge`` (a bare repository in the home, the default) and
    ``forge.github.GitHubForge`` (pull requests on GitHub, merged through its API)."""

    def open_pr(self, *, request_id: str, files: dict[str, bytes], message: str,
                trailers: dict[str, str], body: str | None = None) -> str:
        """Create or reuse branch ``foundry/<request_id>`` with one commit holding ``files``; return its sha.
        ``body`` is what the pull request says to reviewers (Markdown), where the forge shows one."""

    def merge(self, *, request_id: str, message: str, trailers: dict[str, str],
              expected_head: str | None = None) -> str:
        """Merge the request's branch into ``main`` atomically and idempotently; return the merge commit.
        With ``expected_head``, merge only if the branch still points there (``ForgeError`` otherwise)."""

    @property
    def repo(self) -> Path:
        """The bare repository on disk that holds the forge's commits (on GitHub: the local mirror)."""

    def read_file(self, commit: str, path: str) -> bytes:
        """The bytes of ``path`` at ``commit``."""

    def main_head(self) -> str:
        """The commit ``main`` points at (on GitHub: fetched first)."""

    def branch_head(self, request_id: str) -> str | None:
        """The head commit of the request's branch, or None when it has none."""

    def trailers(self, commit: str) -> dict[str, str]:
        """The trailers of ``commit``'s message."""

    def diff(self, request_id: str) -> str:
        """The request's changes against ``main``, as a unified diff."""

    def pull_request(self, request_id: str) -> PullRequestLink | None:
        """The request's pull request page, or None (none opened yet, or a forge without pages)."""

    def comment(self, *, request_id: str, key: str, text: str) -> bool:
        """Post ``text`` on the request's pull request once per ``key`` (a re-run posts nothing new); False
        when there is nowhere to post (no pull request page)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallResult:
    """The result of calling a deployed tool, as `call --json` prints it."""

    ok: bool
    """True when the tool returned a value."""
    result: JSON = None
    """The value returned, when ``ok``."""
    error: dict[str, JSON] | None = None
    """``{"type": ..., "message": ...}`` when not ``ok``."""
    tool: ToolRef | None = None
    """The exact version that ran."""
    ms: float = 0.0
    """Wall time of the call, in milliseconds."""

    @classmethod
    def failed(cls, error_type: str, message: str) -> CallResult:
        """A call that did not return a value: ``error_type`` (``ValueError``, ``Timeout``, ``UsageError``, ...)."""
        return cls(ok=False, error={"type": error_type, "message": message})

    def error_text(self) -> str:
        """``<type>: <message>``: how every surface tells a model that the call failed."""
        error = self.error or {}
        return f"{error.get('type', 'Error')}: {error.get('message', '')}"

    def to_json(self) -> dict[str, JSON]:
        """``{"ok": true, "result": ...}`` or ``{"ok": false, "error": {...}}``."""
        if self.ok:
            return {"ok": True, "result": self.result}
        return {"ok": False, "error": self.error or {}}


