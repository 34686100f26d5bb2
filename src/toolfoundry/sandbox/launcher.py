"""Start bubblewrap, feed it, wait for it: one run of the sandbox to completion, on the host.

Owns one run (:func:`launch`): started through ``jailed.py``'s :func:`~toolfoundry.sandbox.jailed.spawn`
(a non-root uid, an empty environment, its own process group, the seccomp program handed over as an
inherited fd), stdin written and stdout/stderr read concurrently through one ``select.poll`` with a cap
per stream (:class:`Capture`), and a wall-clock deadline waited on with a pidfd (no polling sleeps); at
the deadline the sandbox is killed (:meth:`Jailed.kill`). It knows nothing about tools or the protocol
(``protocol.py``), nor which files go in (``bwrap.py``), nor what the filter says (``seccomp.py``).
``Jailed`` and ``spawn`` are re-exported here, where they were first.

The jail itself — its namespaces, mounts and seccomp — is ``jail.py``'s command line.
"""
from __future__ import annotations

import contextlib
import os
import select
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolfoundry.sandbox.jailed import CHUNK, GRACE_SECONDS
from toolfoundry.sandbox.jailed import Jailed as Jailed
from toolfoundry.sandbox.jailed import spawn as spawn

if TYPE_CHECKING:
    from toolfoundry.sandbox.netproxy import NetLog

TAIL_CHARS = 4000
"""How many characters of a run's output (the tool's prints, pytest's report) a report keeps."""
ERROR_LINE_MAX = 8192
"""The longest result line that is not a value (an error result, a refusal): values are bounded by output_kb."""


class Capture:
    """Keeps the first ``head`` and the last ``tail`` bytes of a stream; drops (and counts) the rest."""

    def __init__(self, head: int, tail: int) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.head_max = head
        self.tail_max = tail
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_max - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data and self.tail_max:
            self.tail += data[-self.tail_max:]
            del self.tail[:max(0, len(self.tail) - self.tail_max)]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> str:
        gap = "\n[... output truncated ...]\n" if self.truncated else ""
        return (bytes(self.head).decode("utf-8", "replace") + gap
                + bytes(self.tail).decode("utf-8", "replace"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Launch:
    """Everything needed to start one sandbox: the bwrap argv, the uid to drop to, the fds to pass."""

    argv: list[str]
    user: tuple[int, int] | None
    pass_fds: tuple[int, ...]
    net: NetLog | None = None
    """The refusals of this sandbox's egress proxy; None for a tool without network hosts."""
    tool_dir: str = ""
    """The host directory bound read-only at /tool (a warm sandbox's host places each job's candidate there)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Completed:
    """How one launch ended, as seen from the host."""

    exit_code: int | None
    """bwrap's exit status (negative: killed by that signal; None: not collected)."""
    timed_out: bool
    """True when the wall-clock deadline killed it."""
    stdout: Capture
    """What came out on stdout (the result channel), capped."""
    stderr: Capture
    """What came out on stderr (the tool's prints, pytest's output), capped."""
    ms: float
    """Wall time from start to reaped, in milliseconds."""


def launch(argv: Sequence[str], *, stdin: bytes, wall_seconds: float, stdout: Capture,
           stderr: Capture, user: tuple[int, int] | None, pass_fds: Sequence[int] = ()) -> Completed:
    """Run ``argv`` to completion or to the deadline; ``user`` is the (uid, gid) to drop to, if root."""
    start = time.perf_counter()
    jailed = spawn(argv, user=user, pass_fds=pass_fds, wait_seconds=wall_seconds)
    proc = jailed.proc
    timed_out = False
    try:
        timed_out = _pump(jailed, stdin, start + wall_seconds, stdout, stderr)
    finally:
        if timed_out or proc.poll() is None:
            jailed.kill()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        code = proc.wait()
        jailed.release()
    return Completed(exit_code=code, timed_out=timed_out, stdout=stdout, stderr=stderr,
                     ms=(time.perf_counter() - start) * 1000)


def _pump(jailed: Jailed, data: bytes, deadline: float, stdout: Capture, stderr: Capture) -> bool:
    """Write stdin, read both outputs, until both outputs end and bwrap exits. True if timed out."""
    proc, pidfd = jailed.proc, jailed.pidfd
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    sinks = {proc.stdout.fileno(): stdout, proc.stderr.fileno(): stderr}
    poll = select.poll()
    for fd in sinks:
        poll.register(fd, select.POLLIN)
    poll.register(pidfd, select.POLLIN)
    writer: int | None = proc.stdin.fileno()
    view = memoryview(data)
    if view:
        os.set_blocking(proc.stdin.fileno(), False)
        poll.register(proc.stdin.fileno(), select.POLLOUT)
    else:
        proc.stdin.close()
        writer = None
    exited = False
    while sinks or not exited:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            jailed.kill()
            _drain_after_kill(sinks)
            return True
        for fd, _event in poll.poll(remaining * 1000):
            if fd == pidfd:
                exited = True
                poll.unregister(pidfd)
            elif fd == writer:
                try:
                    view = view[os.write(writer, view[:CHUNK]):]
                except BrokenPipeError:
                    view = view[:0]
                if not view:
                    poll.unregister(writer)
                    proc.stdin.close()
                    writer = None
            else:
                chunk = os.read(fd, CHUNK)
                if chunk:
                    sinks[fd].feed(chunk)
                else:
                    poll.unregister(fd)
                    del sinks[fd]
    return False


def _drain_after_kill(sinks: dict[int, Capture]) -> None:
    """After SIGKILL, keep what is still in the pipes for a short grace period, then stop."""
    poll = select.poll()
    for fd in sinks:
        poll.register(fd, select.POLLIN)
    deadline = time.perf_counter() + GRACE_SECONDS
    while sinks and time.perf_counter() < deadline:
        for fd, _event in poll.poll(100):
            if fd in sinks:
                chunk = os.read(fd, CHUNK)
                if chunk:
                    sinks[fd].feed(chunk)
                else:
                    poll.unregister(fd)
                    del sinks[fd]
