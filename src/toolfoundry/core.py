"""The vocabulary of toolfoundry: the data that flows through the pipeline, the few seams, the errors.

This module owns the words, nothing else: frozen dataclasses for what flows (tool specs, candidates,
examples, findings, verdicts, decisions, reviews, outcomes), ``Protocol``s for the seams that have more
than one implementation, and the exception tree. It does no I/O.

Exception tree::

    ToolfoundryError            base of everything we raise on purpose
    ├── UsageError              the caller did something wrong (bad flag, bad file, uninitialised home) → exit 2
    │   └── NotInitialised      the home has not been created with `toolfoundry init`
    └── InfraError              something we depend on is broken or missing → exit 2
        ├── SandboxUnavailable  no bwrap, unusable interpreter, a layer that cannot be applied (fail closed)
        ├── ForgeError          git failed
        └── ModelError          a model backend failed after its retries, or is misconfigured

Expected failures (a tool that fails its tests, a call that raises) are *values* (``Verdict``,
``CallResult``), never exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

JSON = Any
"""Any JSON value: None, bool, int, float, str, list of JSON, dict of str to JSON."""

Severity = Literal["error", "warning", "info"]
Status = Literal["running", "deployed", "rejected", "pending_review", "failed"]
Route = Literal["auto", "reviewers", "human", "deny"]


# ── errors ──────────────────────────────────────────────────────────────────────────────────────


class ToolfoundryError(Exception):
    """Base of every exception toolfoundry raises on purpose."""


class UsageError(ToolfoundryError):
    """The caller asked for something invalid: a bad flag, a malformed file, an unknown tool. Exit 2."""


class NotInitialised(UsageError):
    """The foundry home does not exist yet; run ``toolfoundry init``."""


class InfraError(ToolfoundryError):
    """A dependency is missing or broken (bwrap, git, the database). Exit 2."""


class SandboxUnavailable(InfraError):
    """The sandbox cannot be started with every layer applied. We refuse rather than run weaker."""


class ForgeError(InfraError):
    """A git operation on the tool repository failed."""


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

    def to_json(self) -> dict[str, JSON]:
        """The finding as a JSON object; absent optional parts are left out."""
        out: dict[str, JSON] = {"code": self.code, "message": self.message, "severity": self.severity}
        for key in ("file", "line", "input", "expected", "actual"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


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

    def to_json(self) -> dict[str, JSON]:
        """The spec as JSON (for the registry, `tools --json` and MCP)."""
        return {
            "name": self.name, "function": self.function, "description": self.description,
            "signature": self.signature, "args_schema": self.args_schema,
            "result_schema": self.result_schema,
        }


_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "<missing>"})()


@dataclass(frozen=True, slots=True, kw_only=True)
class Example:
    """One acceptance example: call the tool with ``args``; it must return ``expect`` or raise ``raises``."""

    args: dict[str, JSON]
    """Keyword arguments for the tool's function."""
    expect: JSON = None
    """The exact JSON value expected (compared with strict types); ignored when ``raises`` is set."""
    raises: str | None = None
    """The name of the exception type expected instead of a value, e.g. ``ValueError``."""

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
    source: str = "propose"
    """Where the candidate came from: ``propose``, ``request``, ... (recorded in the audit log)."""


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

    def to_json(self) -> dict[str, JSON]:
        """As recorded in the ledger and the audit log (the review plan only for ``reviewers``)."""
        out: dict[str, JSON] = {"route": self.route, "rule": self.rule, "reason": self.reason}
        if self.route == "reviewers":
            out.update(quorum=self.quorum, roles=list(self.roles), timeout_seconds=self.timeout_seconds,
                       fallback=self.fallback, regenerate=self.regenerate)
        return out


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


# ── sandbox ────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Resource limits for one sandbox run."""

    wall_seconds: float = 10.0
    """Wall-clock timeout for the whole run; the process tree is killed after it."""
    cpu_seconds: int = 5
    """RLIMIT_CPU."""
    memory_mb: int = 512
    """RLIMIT_AS, in MiB."""
    processes: int = 32
    """RLIMIT_NPROC for the sandbox uid."""
    file_mb: int = 16
    """RLIMIT_FSIZE, in MiB: the largest file the tool may write."""
    scratch_mb: int = 64
    """Size of the tmpfs scratch directory, in MiB."""
    output_kb: int = 1024
    """Host keeps at most this much of stdout and of stderr; the rest is drained and dropped."""
    open_files: int = 256
    """RLIMIT_NOFILE: the most file descriptors a sandboxed process may hold open."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseResult:
    """What the sandbox returned for one invocation of the tool function (host-side parsed)."""

    ok: bool
    """True when the function returned a JSON-encodable value."""
    value: JSON = None
    """The returned value, decoded from JSON, when ``ok``."""
    error_type: str | None = None
    """The exception type's name when the function raised (or ``Timeout``, ``Crashed``, ``NotJSON``)."""
    error_message: str = ""
    """The exception's message, truncated."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunReport:
    """What one sandbox run produced, as seen from the host."""

    cases: tuple[CaseResult, ...]
    """One result per requested case, in request order; fewer than asked means the run broke."""
    exit_code: int | None
    """The sandbox's exit status (negative: killed by that signal; None: not collected)."""
    timed_out: bool
    """True when the wall-clock timeout fired."""
    stdout_tail: str
    """Last part of non-protocol stdout/stderr output, for findings."""
    ms: float
    """Wall time of the run, in milliseconds."""
    problems: tuple[str, ...] = ()
    """Protocol violations noticed by the host (bad nonce, extra lines, output truncated, ...)."""
    net_refusals: tuple[str, ...] = ()
    """Requests the tool's egress proxy refused during this run or call, one line each
    (``METHOD host:port: reason``); not a protocol problem — the tool asked for a host it may not reach."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TestReport:
    """What running pytest in the sandbox produced (evidence, but forgeable: not a gate alone)."""

    ran: bool
    """False when there were no tests to run."""
    exit_code: int | None
    """pytest's exit code as seen by the host."""
    passed: int
    """Count of passed tests parsed from the output."""
    failed: int
    """Count of failed or errored tests parsed from the output."""
    failures: tuple[str, ...]
    """Short descriptions of failures (``test_x - AssertionError: ...``)."""
    output_tail: str
    """The last part of pytest's output."""
    timed_out: bool
    """True when the wall-clock timeout fired."""
    ms: float
    """Wall time, in milliseconds."""


class Sandbox(Protocol):
    """Runs untrusted tool code in isolation. Implementations must fail closed."""

    def check(self) -> None:
        """Raise ``SandboxUnavailable`` with a clear reason when the sandbox cannot run."""

    def layers(self) -> dict[str, str]:
        """Which isolation layers are in force, one line each, for the audit log."""

    def run_cases(self, *, code: str, function: str, cases: list[dict[str, JSON]],
                  permissions: Permissions, limits: Limits) -> RunReport:
        """Call ``function`` from ``code`` once per args dict in ``cases``; return JSON outputs only."""

    def run_pytest(self, *, code: str, tests: str, limits: Limits) -> TestReport:
        """Run ``tests`` (pytest) against ``code`` as ``tool.py`` and report what happened."""


class Forge(Protocol):
    """A git host for the tool repository: branches as pull requests, atomic merges."""

    def open_pr(self, *, request_id: str, files: dict[str, bytes], message: str,
                trailers: dict[str, str]) -> str:
        """Create or reuse branch ``foundry/<request_id>`` with one commit holding ``files``; return its sha."""

    def merge(self, *, request_id: str, message: str, trailers: dict[str, str]) -> str:
        """Merge the request's branch into ``main`` atomically and idempotently; return the merge commit."""

    def read_file(self, commit: str, path: str) -> bytes:
        """The bytes of ``path`` at ``commit``."""


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

    def to_json(self) -> dict[str, JSON]:
        """``{"ok": true, "result": ...}`` or ``{"ok": false, "error": {...}}``."""
        if self.ok:
            return {"ok": True, "result": self.result}
        return {"ok": False, "error": self.error or {}}


# ── models ─────────────────────────────────────────────────────────────────────────────────────


class ModelError(InfraError):
    """A model backend failed for good: after the last retry, on a non-retryable error, or a bad config."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """A function call a model asked for, as it produced it."""

    id: str
    """The call id the model gave (echoed back in the tool message)."""
    name: str
    """The function name."""
    arguments: str
    """The arguments as raw JSON text, exactly as the model wrote it (it may be malformed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One chat message, provider-neutral."""

    role: Literal["system", "user", "assistant", "tool"]
    """Who speaks."""
    content: str = ""
    """The text (may be empty for an assistant message that only calls tools)."""
    tool_calls: tuple[ToolCall, ...] = ()
    """Function calls requested by an assistant message."""
    tool_call_id: str | None = None
    """For a ``tool`` message: the id of the call it answers."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Tokens (and cost where the price is known) of one completion or of several added up."""

    prompt_tokens: int = 0
    """Input tokens."""
    completion_tokens: int = 0
    """Output tokens."""
    cost_usd: float | None = None
    """Cost in US dollars when the model's price is configured; None when unknown."""

    def __add__(self, other: Usage) -> Usage:
        cost = None if self.cost_usd is None and other.cost_usd is None else \
            (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        return Usage(prompt_tokens=self.prompt_tokens + other.prompt_tokens,
                     completion_tokens=self.completion_tokens + other.completion_tokens, cost_usd=cost)

    @property
    def total(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> dict[str, JSON]:
        """As recorded in the audit log."""
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "cost_usd": self.cost_usd}


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    """What a model answered."""

    message: Message
    """The assistant message (text and/or tool calls)."""
    usage: Usage
    """Tokens used by this completion."""
    model: str
    """The model that answered, as ``provider:name``."""
    finish_reason: str | None = None
    """``stop``, ``tool_calls``, ``length``, ... as the provider reported it."""


class Model(Protocol):
    """A chat model behind any provider. Implementations retry transient failures themselves."""

    name: str
    """``provider:model``, e.g. ``openai:gpt-4.1-mini`` or ``scripted:demo.json``."""

    def complete(self, messages: list[Message], *, tools: list[dict[str, JSON]] | None = None,
                 max_tokens: int | None = None) -> Completion:
        """One chat completion; ``tools`` are OpenAI-style function specs. Raises ``ModelError``."""
