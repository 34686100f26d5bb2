"""The sandbox's vocabulary: limits of a run, what a run reports, and the ``Sandbox`` seam.

Owns the words only (no I/O): ``Limits``, ``CaseResult``, ``RunReport``, ``TestReport`` and the
``Sandbox`` protocol that the oracle and the tests stage call and that ``BwrapSandbox`` implements.
Importing it does not import bubblewrap's machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from toolfoundry.core import JSON, Permissions


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
    """The sandbox's exit status (negative: killed by that signal; None: not collected); for a run in a warm
    sandbox, 0 when it ended normally and the sandbox lives on."""
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
                  permissions: Permissions, limits: Limits, fresh: bool = False) -> RunReport:
        """Call ``function`` from ``code`` once per args dict in ``cases``; return JSON outputs only.
        ``fresh``: the cases carry held-out inputs, so they run where no other run has run or will."""

    def run_pytest(self, *, code: str, tests: str, limits: Limits) -> TestReport:
        """Run ``tests`` (pytest) against ``code`` as ``tool.py`` and report what happened."""


