"""One serving sandbox: a full bwrap jail whose runner stays up, answering one call per request line.

Owns :class:`Serving`: starting the jail for one tool version (``BwrapSandbox.prepared``, every layer of
a test run) with its runner in *serve* mode — its zygote has imported the tool once, and every call is
one request line answered by one ``<nonce> {"id": ...}`` line, executed in a fresh worker forked for
that call, so no state survives from one call to the next — and retiring it on any misbehaviour: a
call that times out, a result line with the wrong nonce or id, a malformed or oversized line, or the
sandbox dying. Which sandbox serves which call is ``pool.py``'s job.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from toolfoundry.core import JSON, Permissions
from toolfoundry.errors import SandboxUnavailable
from toolfoundry.sandbox import protocol
from toolfoundry.sandbox.bwrap import BwrapSandbox
from toolfoundry.sandbox.channel import GRACE_SECONDS, Channel
from toolfoundry.sandbox.launcher import ERROR_LINE_MAX, TAIL_CHARS, Capture, Jailed, spawn
from toolfoundry.sandbox.types import CaseResult, Limits, RunReport

Key = tuple[str, int, str]
"""A tool version: (name, version, sha256 of its code)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingSpec:
    """What a serving sandbox was started for, beyond its key."""

    function: str
    permissions: Permissions
    limits: Limits


class Serving:
    """One serving sandbox of one tool version. Not thread-safe: the pool lends it to one caller at a time."""

    def __init__(self, sandbox: BwrapSandbox, *, code: str, spec: ServingSpec,
                 starter: Callable[[Callable[[], Jailed]], Jailed] = lambda start: start()) -> None:
        self.spec = spec
        self.broken = False
        self.retryable = False
        """True when the sandbox died without starting the last call (safe to run it elsewhere)."""
        self.last_used = time.monotonic()
        self._ready = False
        self._next_id = 0
        nonce = secrets.token_hex(16)
        limits = spec.limits
        self._stack = contextlib.ExitStack()
        try:
            start = self._stack.enter_context(sandbox.prepared({"tool.py": code}, permissions=spec.permissions,
                                                               limits=limits, serve=True))
            self._net = start.net
            jailed = starter(lambda: spawn(start.argv, user=start.user, pass_fds=start.pass_fds))
        except BaseException:
            self._stack.close()
            raise
        first = json.dumps({"nonce": nonce, "function": spec.function}).encode() + b"\n"
        self._channel = Channel(jailed, nonce=nonce, line_max=limits.output_kb * 1024 + ERROR_LINE_MAX, first=first)

    @property
    def pid(self) -> int:
        """The host pid of this sandbox's bwrap."""
        return self._channel.pid

    @property
    def init_pid(self) -> int | None:
        """The host pid of this sandbox's pid 1 (the runner), when bwrap reported it."""
        return self._channel.init_pid

    def call(self, args: dict[str, JSON]) -> RunReport:
        """One call in a fresh worker; a broken sandbox afterwards has ``broken`` set."""
        start = time.perf_counter()
        limits = self.spec.limits
        half = limits.output_kb * 1024 // 2
        stderr = Capture(half, half)
        problems: list[str] = []
        if not self._ready:
            body = self._channel.exchange(b"", stderr, problems, limits.wall_seconds)
            if body is None or body.get("ready") is not True:
                self.broken = True
                if body is not None and body.get("by") == "landlock":
                    raise SandboxUnavailable(f"the sandbox could not apply landlock: {body.get('refused')}")
                return self._report((_refusal(body),) if body else (), stderr, start, problems,
                                    timed_out=body is None and not problems)
            self._ready = True
        self._next_id += 1
        line = json.dumps({"id": self._next_id, "args": args}, allow_nan=False).encode() + b"\n"
        body = self._channel.exchange(line, stderr, problems, limits.wall_seconds + GRACE_SECONDS)
        self.last_used = time.monotonic()
        if body is None:
            self.broken = True
            self.retryable = self._channel.closed_untouched()
            return self._report((), stderr, start, problems, timed_out=not problems)
        if body.pop("id", None) != self._next_id:
            problems.append("the result line does not carry this call's id")
        elif body.pop("wall", None) is True:
            self.broken = True
            return self._report((), stderr, start, problems, timed_out=True)
        case = protocol.case_result(body) if not problems else None
        if case is None:
            self.broken = True
            problems.append("the result line is not a case result")
            return self._report((), stderr, start, problems, timed_out=False)
        return self._report((case,), stderr, start, problems, timed_out=False)

    def close(self) -> None:
        """Kill the sandbox (its pid 1, so the whole pid namespace, then bwrap) and remove its files."""
        self.broken = True
        self._channel.close()
        self._stack.close()

    # ── internals ────────────────────────────────────────────────────────────────────────────

    def _report(self, cases: tuple[CaseResult, ...], stderr: Capture, start: float, problems: list[str], *,
                timed_out: bool) -> RunReport:
        if stderr.truncated:
            problems.append(f"output truncated: the tool wrote {stderr.total} bytes, more than the "
                            f"{self.spec.limits.output_kb} KiB kept")
        return RunReport(cases=cases, exit_code=self._channel.exit_status(), timed_out=timed_out,
                         stdout_tail=stderr.text()[-TAIL_CHARS:], ms=(time.perf_counter() - start) * 1000,
                         problems=tuple(problems), net_refusals=self._net.take() if self._net else ())


def _refusal(body: dict[str, Any]) -> CaseResult:
    reason = str(body.get("refused", "the sandbox did not become ready"))[:500]
    return CaseResult(ok=False, error_type="WarmRefused", error_message=reason)
