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
import os
import secrets
import select
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from toolfoundry.core import JSON, Permissions
from toolfoundry.errors import SandboxUnavailable
from toolfoundry.sandbox import protocol
from toolfoundry.sandbox.bwrap import ERROR_LINE_MAX, TAIL_CHARS, BwrapSandbox
from toolfoundry.sandbox.launcher import Capture, Jailed, spawn
from toolfoundry.sandbox.types import CaseResult, Limits, RunReport

Key = tuple[str, int, str]
"""A tool version: (name, version, sha256 of its code)."""
GRACE_SECONDS = 1.0
UNTOUCHED = 75
"""The runner's exit status when no call it read was lost (``runner.UNTOUCHED``)."""
CHUNK = 1 << 16


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
        self._nonce = secrets.token_hex(16)
        self._buffer = bytearray()
        limits = spec.limits
        self._line_max = limits.output_kb * 1024 + ERROR_LINE_MAX
        self._stack = contextlib.ExitStack()
        try:
            start = self._stack.enter_context(sandbox.prepared({"tool.py": code}, permissions=spec.permissions,
                                                               limits=limits, serve=True))
            self._net = start.net
            self._jailed = starter(lambda: spawn(start.argv, user=start.user, pass_fds=start.pass_fds))
        except BaseException:
            self._stack.close()
            raise
        self._proc = self._jailed.proc
        assert self._proc.stdin and self._proc.stdout and self._proc.stderr
        self._stdin, self._stdout, self._stderr = (self._proc.stdin.fileno(), self._proc.stdout.fileno(),
                                                   self._proc.stderr.fileno())
        for fd in (self._stdin, self._stdout, self._stderr):
            os.set_blocking(fd, False)
        self._pidfd = self._jailed.pidfd
        self._pending = memoryview(json.dumps({"nonce": self._nonce, "function": spec.function}).encode() + b"\n")

    @property
    def pid(self) -> int:
        """The host pid of this sandbox's bwrap."""
        return self._proc.pid

    @property
    def init_pid(self) -> int | None:
        """The host pid of this sandbox's pid 1 (the runner), when bwrap reported it."""
        return self._jailed.init_pid

    def call(self, args: dict[str, JSON]) -> RunReport:
        """One call in a fresh worker; a broken sandbox afterwards has ``broken`` set."""
        start = time.perf_counter()
        limits = self.spec.limits
        half = limits.output_kb * 1024 // 2
        stderr = Capture(half, half)
        problems: list[str] = []
        if not self._ready:
            body = self._exchange(b"", stderr, problems, limits.wall_seconds)
            if body is None or body.get("ready") is not True:
                self.broken = True
                if body is not None and body.get("by") == "landlock":
                    raise SandboxUnavailable(f"the sandbox could not apply landlock: {body.get('refused')}")
                return self._report((_refusal(body),) if body else (), stderr, start, problems,
                                    timed_out=body is None and not problems)
            self._ready = True
        self._next_id += 1
        line = json.dumps({"id": self._next_id, "args": args}, allow_nan=False).encode() + b"\n"
        body = self._exchange(line, stderr, problems, limits.wall_seconds + GRACE_SECONDS)
        self.last_used = time.monotonic()
        if body is None:
            self.broken = True
            self.retryable = self._closed_untouched()
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

    def _closed_untouched(self) -> bool:
        """Did the runner stop with every call it read answered or never started (exit status 75)?"""
        try:
            return self._proc.wait(timeout=GRACE_SECONDS) == UNTOUCHED
        except subprocess.TimeoutExpired:
            return False

    def close(self) -> None:
        """Kill the sandbox (its pid 1, so the whole pid namespace, then bwrap) and remove its files."""
        self.broken = True
        self._jailed.kill()
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        self._jailed.release()
        self._stack.close()

    # ── internals ────────────────────────────────────────────────────────────────────────────

    def _report(self, cases: tuple[CaseResult, ...], stderr: Capture, start: float, problems: list[str], *,
                timed_out: bool) -> RunReport:
        if stderr.truncated:
            problems.append(f"output truncated: the tool wrote {stderr.total} bytes, more than the "
                            f"{self.spec.limits.output_kb} KiB kept")
        return RunReport(cases=cases, exit_code=self._proc.poll(), timed_out=timed_out,
                         stdout_tail=stderr.text()[-TAIL_CHARS:], ms=(time.perf_counter() - start) * 1000,
                         problems=tuple(problems), net_refusals=self._net.take() if self._net else ())

    def _exchange(self, data: bytes, stderr: Capture, problems: list[str], seconds: float) -> dict[str, Any] | None:
        """Send ``data``, return the next result line's body; None (and maybe a problem) if none came."""
        self._pending = memoryview(bytes(self._pending) + data) if self._pending else memoryview(data)
        try:  # a request usually fits the pipe: write it now, poll only for the rest
            self._pending = self._pending[os.write(self._stdin, self._pending):]
        except BlockingIOError:
            pass
        except BrokenPipeError:
            problems.append("the sandbox closed its request channel")
            return None
        poll = select.poll()
        poll.register(self._stdout, select.POLLIN)
        poll.register(self._stderr, select.POLLIN)
        poll.register(self._pidfd, select.POLLIN)
        if self._pending:
            poll.register(self._stdin, select.POLLOUT)
        deadline = time.monotonic() + seconds
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                raw = bytes(self._buffer[:newline])
                del self._buffer[:newline + 1]
                self._drain(self._stderr, stderr)
                return self._parse(raw, problems)
            if len(self._buffer) > self._line_max:
                problems.append("a result line exceeded its size limit")
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._drain(self._stderr, stderr)
                return None
            for fd, _event in poll.poll(remaining * 1000):
                if fd == self._stdin:
                    try:
                        self._pending = self._pending[os.write(fd, self._pending):]
                    except BrokenPipeError:
                        self._pending = memoryview(b"")
                    if not self._pending:
                        poll.unregister(fd)
                elif fd == self._stdout:
                    chunk = os.read(fd, CHUNK)
                    if not chunk:
                        problems.append("the sandbox closed its result channel")
                        return None
                    self._buffer += chunk
                elif fd == self._stderr:
                    if not self._drain(fd, stderr):
                        poll.unregister(fd)
                else:
                    poll.unregister(fd)  # bwrap exited: read what is left, then the stdout EOF ends us

    @staticmethod
    def _drain(fd: int, sink: Capture) -> bool:
        """Read what is there without blocking; False at end of stream."""
        while True:
            try:
                chunk = os.read(fd, CHUNK)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            sink.feed(chunk)

    def _parse(self, raw: bytes, problems: list[str]) -> dict[str, Any] | None:
        bodies, bad = protocol.lines(raw + b"\n", nonce=self._nonce)
        if bad or not bodies:
            problems.extend(bad or ["an empty result line"])
            return None
        return bodies[0]


def _refusal(body: dict[str, Any]) -> CaseResult:
    reason = str(body.get("refused", "the sandbox did not become ready"))[:500]
    return CaseResult(ok=False, error_type="WarmRefused", error_message=reason)
