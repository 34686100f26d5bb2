"""Start bubblewrap, feed it, wait for it, and kill it: the host-side process mechanics of the sandbox.

Owns starting bwrap (:func:`spawn`) with the command line of ``jail.py``, and one run of it to
completion (:func:`launch`): a non-root uid, an empty environment, its own process group, the
seccomp program handed over as an inherited fd, stdin written and stdout/stderr read concurrently
through one ``select.poll`` with a cap per stream, and a wall-clock deadline waited on with a pidfd
(no polling sleeps). It knows nothing about tools or the protocol (``protocol.py``), nor which files
go in (``bwrap.py``), nor what the filter says (``seccomp.py``).

Killing (:class:`Jailed`): the sandbox's pid 1 (the runner, ``--as-pid-1``) runs in a session of its
own (``--new-session``), so killing bwrap's process group does not reach it, and bwrap's
``--die-with-parent`` does not either. So :func:`spawn` asks bwrap for the host pid of that pid 1
(``--info-fd``: a JSON object with ``child-pid`` and the namespace inodes), opens a pidfd on it at
once (checked to be bwrap's child, or in bwrap's new pid namespace), and :meth:`Jailed.kill` SIGKILLs
it through that pidfd first — the death of a pid namespace's init kills every process in the
namespace — waits for it, and only then kills bwrap's process group.

The jail itself — its namespaces, mounts and seccomp — is ``jail.py``'s command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolfoundry.sandbox.netproxy import NetLog

GRACE_SECONDS = 1.0
CHUNK = 1 << 16
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


class Jailed:
    """One started bwrap: its ``Popen``, a pidfd on bwrap, and a pidfd on the sandbox's pid 1 (if it started).

    :meth:`kill` is the only way the host stops a sandbox. :meth:`release` closes the pidfds once the
    process was reaped (after ``kill`` or a normal exit).
    """

    def __init__(self, proc: subprocess.Popen[bytes], pidfd: int, init: tuple[int, int] | None) -> None:
        self.proc = proc
        self.pidfd = pidfd
        """A pidfd on bwrap (our child): readable once it exited."""
        self.init_pid = init[0] if init else None
        """The host pid of the sandbox's pid 1 (for reports and tests; killing goes through the pidfd)."""
        self.init_pidfd = init[1] if init else None
        """A pidfd on the sandbox's pid 1; None when bwrap never reported one (it failed before that)."""

    @property
    def pid(self) -> int:
        """The host pid of bwrap."""
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL the sandbox's pid 1 (and with it its pid namespace), then bwrap's process group.

        Waits (at most ``GRACE_SECONDS`` each) for pid 1 to be gone and for bwrap to reap it and exit,
        so no process of the sandbox is left running, nor as a zombie under the host's init.
        """
        if self.init_pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.init_pidfd, signal.SIGKILL)
            _wait_fd(self.init_pidfd, GRACE_SECONDS)
            _wait_fd(self.pidfd, GRACE_SECONDS)  # bwrap reaps its child and exits by itself
        if self.proc.poll() is None:  # not reaped yet, so its pid (= its group id) is not reused
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def release(self) -> None:
        """Close the pidfds (idempotent)."""
        for fd in (self.pidfd, self.init_pidfd):
            if fd is not None and fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.pidfd, self.init_pidfd = -1, None


def spawn(argv: Sequence[str], *, user: tuple[int, int] | None, pass_fds: Sequence[int] = (),
          wait_seconds: float = 10.0) -> Jailed:
    """Start the bwrap command line ``argv`` with three pipes, an empty environment, in its own session,
    as ``user`` if root; ``--info-fd`` is added so the sandbox's pid 1 can be killed (:class:`Jailed`)."""
    info, info_w = os.pipe()
    argv = [argv[0], "--info-fd", str(info_w), *argv[1:]]
    pipe = subprocess.PIPE
    fds = (*pass_fds, info_w)
    try:
        if user is None:
            proc = subprocess.Popen(argv, stdin=pipe, stdout=pipe, stderr=pipe, env={}, cwd="/",
                                    start_new_session=True, pass_fds=fds)
        else:
            proc = subprocess.Popen(argv, stdin=pipe, stdout=pipe, stderr=pipe, env={}, cwd="/",
                                    start_new_session=True, pass_fds=fds, user=user[0], group=user[1],
                                    extra_groups=[])
    except BaseException:
        os.close(info)
        raise
    finally:
        os.close(info_w)
    try:
        pidfd = os.pidfd_open(proc.pid)
        try:
            return Jailed(proc, pidfd, _open_init(proc.pid, _read_info(info, time.monotonic() + wait_seconds)))
        except BaseException:
            os.close(pidfd)
            raise
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        os.close(info)


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


def _read_info(fd: int, deadline: float) -> dict[str, object]:
    """bwrap's ``--info-fd`` JSON (written right after it cloned the sandbox), or {} if it never came."""
    data = bytearray()
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    while len(data) < CHUNK:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poll.poll(remaining * 1000):
            break
        chunk = os.read(fd, CHUNK)
        if not chunk:
            break
        data += chunk
    try:
        info = json.loads(bytes(data))
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def _open_init(bwrap_pid: int, info: dict[str, object]) -> tuple[int, int] | None:
    """(pid, pidfd) of the sandbox's pid 1, if it is (still) the process bwrap reported; else None."""
    child = info.get("child-pid")
    if type(child) is not int or child <= 1:
        return None
    try:
        pidfd = os.pidfd_open(child)
    except ProcessLookupError:
        return None  # already gone: nothing to kill
    # the pidfd pins the process; make sure it is the one bwrap started, not a reused pid
    if _ppid(child) == bwrap_pid or _pid_namespace(child) == info.get("pid-namespace"):
        return child, pidfd
    os.close(pidfd)
    return None


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith("PPid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _pid_namespace(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return None


def _wait_fd(fd: int, seconds: float) -> None:
    """Wait until a pidfd is readable (its process exited), at most ``seconds``."""
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    poll.poll(seconds * 1000)


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
