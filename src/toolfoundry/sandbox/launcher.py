"""Start bubblewrap, feed it, wait for it, and kill it: the host-side process mechanics of the sandbox.

Owns the bwrap command line (:func:`jail_argv`), starting it (:func:`spawn`) and one run of it to
completion (:func:`launch`): a non-root uid, an empty environment, its own process group, the
seccomp program handed over as an inherited fd, stdin written and stdout/stderr read concurrently
through one ``select.poll`` with a cap per stream, and a wall-clock deadline waited on with a pidfd
(no polling sleeps). On timeout the whole process group gets SIGKILL; ``--die-with-parent`` and the
pid namespace take everything inside down with it. It knows nothing about tools or the protocol
(``protocol.py``), nor which files go in (``bwrap.py``), nor what the filter says (``seccomp.py``).

The jail (``jail_argv``): every namespace unshared (user, ipc, pid, net, uts, cgroup, mount),
``--disable-userns`` (no nested user namespace), ``--cap-drop ALL``, ``--new-session`` (no TIOCSTI
into the caller's terminal), ``--die-with-parent``, ``--as-pid-1`` (the trusted runner is pid 1),
``/usr`` and the merged-``/usr`` links read-only, the extra read-only binds, ``/proc``, a
read-only ``/dev`` whose ``/dev/pts`` is hidden under an empty read-only tmpfs, a ``--size``d
tmpfs at ``/tmp`` (the only writable place, and the working directory), ``--remount-ro /``, and
``--seccomp FD``. Unix sockets listed in ``Jail.sockets`` (the egress proxy's, when a tool has
network hosts) are bound read-only at their sandbox paths — connecting needs no writable mount.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

MERGED_USR = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SCRATCH = "/tmp"  # noqa: S108 - the sandbox's own size-limited tmpfs, not the host's /tmp
GRACE_SECONDS = 1.0
CHUNK = 1 << 16


@dataclass(frozen=True, slots=True, kw_only=True)
class Jail:
    """What one sandbox looks like from inside."""

    binds: tuple[tuple[str, str], ...]
    """Read-only bind mounts (host path, sandbox path), beyond /usr and its merged-/usr links."""
    scratch_bytes: int
    """Size of the tmpfs mounted at /tmp, the only writable place and the working directory."""
    seccomp_fd: int | None
    """An fd (inherited by bwrap: list it in ``pass_fds``) holding the seccomp BPF program; None only
    for the bare probe that checks bwrap itself starts."""
    sockets: tuple[tuple[str, str], ...] = ()
    """Host unix sockets to expose (host path, sandbox path), e.g. the egress proxy at /run/egress.sock."""


def jail_argv(bwrap: str, jail: Jail, command: Sequence[str]) -> list[str]:
    """The bwrap command line that runs ``command`` in ``jail``."""
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--new-session", "--as-pid-1", "--cap-drop", "ALL", "--ro-bind", "/usr", "/usr"]
    for path in MERGED_USR:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for host, inside in jail.binds + jail.sockets:
        argv += ["--ro-bind", host, inside]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/pts", "--remount-ro", "/dev/pts",
             "--remount-ro", "/dev", "--size", str(jail.scratch_bytes), "--tmpfs", SCRATCH,
             "--remount-ro", "/", "--chdir", SCRATCH]
    if jail.seccomp_fd is not None:
        argv += ["--seccomp", str(jail.seccomp_fd)]
    return [*argv, "--", *command]


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


def spawn(argv: Sequence[str], *, user: tuple[int, int] | None, pass_fds: Sequence[int] = ()
          ) -> subprocess.Popen[bytes]:
    """Start ``argv`` with three pipes, an empty environment, in its own session, as ``user`` if root."""
    pipe = subprocess.PIPE
    if user is None:
        return subprocess.Popen(argv, stdin=pipe, stdout=pipe, stderr=pipe, env={}, cwd="/",
                                start_new_session=True, pass_fds=tuple(pass_fds))
    return subprocess.Popen(argv, stdin=pipe, stdout=pipe, stderr=pipe, env={}, cwd="/",
                            start_new_session=True, pass_fds=tuple(pass_fds), user=user[0], group=user[1],
                            extra_groups=[])


def launch(argv: Sequence[str], *, stdin: bytes, wall_seconds: float, stdout: Capture,
           stderr: Capture, user: tuple[int, int] | None, pass_fds: Sequence[int] = ()) -> Completed:
    """Run ``argv`` to completion or to the deadline; ``user`` is the (uid, gid) to drop to, if root."""
    start = time.perf_counter()
    proc = spawn(argv, user=user, pass_fds=pass_fds)
    timed_out = False
    try:
        pidfd = os.pidfd_open(proc.pid)
        try:
            timed_out = _pump(proc, pidfd, stdin, start + wall_seconds, stdout, stderr)
        finally:
            os.close(pidfd)
    finally:
        if timed_out or proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        code = proc.wait()
    return Completed(exit_code=code, timed_out=timed_out, stdout=stdout, stderr=stderr,
                     ms=(time.perf_counter() - start) * 1000)


def _pump(proc: subprocess.Popen[bytes], pidfd: int, data: bytes, deadline: float,
          stdout: Capture, stderr: Capture) -> bool:
    """Write stdin, read both outputs, until both outputs end and bwrap exits. True if timed out."""
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
            os.killpg(proc.pid, signal.SIGKILL)
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
