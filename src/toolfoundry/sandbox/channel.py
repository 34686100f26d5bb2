"""The host's end of a sandbox that stays up: its three pipes, its nonce, one request out and one result line back.

Owns :class:`Channel`, shared by the two kinds of long-lived sandbox — ``serving.py`` (calls of one
deployed tool version) and ``warm.py`` (validation runs of candidates): writing a request without
blocking, reading stdout up to the next line while draining stderr (the tool's prints) into a capped
:class:`~toolfoundry.sandbox.launcher.Capture`, a deadline, a cap on the length of a line, and the nonce
check of ``protocol.lines`` on every line. Anything unexpected — a line without the nonce, a line that is
not a JSON object, an oversized line, the result channel closing — is a problem and no body, so the
caller retires the sandbox. Killing goes through :meth:`Jailed.kill` (the sandbox's pid 1 first). It does
not know what the lines mean.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import time
from typing import Any

from toolfoundry.sandbox import protocol
from toolfoundry.sandbox.launcher import Capture, Jailed

GRACE_SECONDS = 1.0
UNTOUCHED = 75
"""The runner's exit status when no job it read was lost (``runner.UNTOUCHED``)."""
CHUNK = 1 << 16


class Channel:
    """One started jail's pipes. Not thread-safe: one exchange at a time."""

    def __init__(self, jailed: Jailed, *, nonce: str, line_max: int, first: bytes = b"") -> None:
        self.jailed = jailed
        self.proc = jailed.proc
        self.nonce = nonce
        self.line_max = line_max
        assert self.proc.stdin and self.proc.stdout and self.proc.stderr
        self._stdin, self._stdout, self._stderr = (self.proc.stdin.fileno(), self.proc.stdout.fileno(),
                                                   self.proc.stderr.fileno())
        for fd in (self._stdin, self._stdout, self._stderr):
            os.set_blocking(fd, False)
        self._pidfd = jailed.pidfd
        self._buffer = bytearray()
        self._pending = memoryview(first)

    @property
    def pid(self) -> int:
        """The host pid of this sandbox's bwrap."""
        return self.proc.pid

    @property
    def init_pid(self) -> int | None:
        """The host pid of this sandbox's pid 1 (the runner), when bwrap reported it."""
        return self.jailed.init_pid

    def exit_status(self) -> int | None:
        """bwrap's exit status, or None while it runs."""
        return self.proc.poll()

    def exchange(self, data: bytes, stderr: Capture, problems: list[str], seconds: float) -> dict[str, Any] | None:
        """Send ``data``, return the next result line's body; None (and maybe a problem) if none came in time."""
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
                self.drain(stderr)
                return self._parse(raw, problems)
            if len(self._buffer) > self.line_max:
                problems.append("a result line exceeded its size limit")
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.drain(stderr)
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
                    if not self._read_some(fd, stderr):
                        poll.unregister(fd)
                else:
                    poll.unregister(fd)  # bwrap exited: read what is left, then the stdout EOF ends us

    def drain(self, sink: Capture) -> None:
        """Move what stderr holds now into ``sink``, without blocking."""
        self._read_some(self._stderr, sink)

    def closed_untouched(self) -> bool:
        """Did the runner stop with every job it read answered or never started (exit status 75)?"""
        try:
            return self.proc.wait(timeout=GRACE_SECONDS) == UNTOUCHED
        except subprocess.TimeoutExpired:
            return False

    def close(self) -> None:
        """Kill the sandbox (its pid 1, so the whole pid namespace, then bwrap) and reap it."""
        self.jailed.kill()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.jailed.release()

    # ── internals ────────────────────────────────────────────────────────────────────────────

    @staticmethod
    def _read_some(fd: int, sink: Capture) -> bool:
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
        bodies, bad = protocol.lines(raw + b"\n", nonce=self.nonce)
        if bad or not bodies:
            problems.extend(bad or ["an empty result line"])
            return None
        return bodies[0]
