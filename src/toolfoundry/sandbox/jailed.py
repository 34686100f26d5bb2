"""Starting bwrap and killing it: :func:`spawn` and :class:`Jailed`, the host's handle on one sandbox.

Killing (:class:`Jailed`): the sandbox's pid 1 (the runner, ``--as-pid-1``) runs in a session of its
own (``--new-session``), so killing bwrap's process group does not reach it, and bwrap's
``--die-with-parent`` does not either. So :func:`spawn` asks bwrap for the host pid of that pid 1
(``--info-fd``: a JSON object with ``child-pid`` and the namespace inodes), opens a pidfd on it at
once (checked to be bwrap's child, or in bwrap's new pid namespace), and :meth:`Jailed.kill` SIGKILLs
it through that pidfd first — the death of a pid namespace's init kills every process in the
namespace — waits for it, and only then kills bwrap's process group.

It does not feed a run or read its output (``launcher.py``), nor build the command line (``jail.py``).
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

GRACE_SECONDS = 1.0
"""How long a kill waits for the sandbox's pid 1 and then bwrap to be gone (and a run's pipes to drain)."""
CHUNK = 1 << 16


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
