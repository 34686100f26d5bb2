"""The shape of a sandbox, as bubblewrap's command line: every namespace, the read-only root, the scratch tmpfs.

Owns :class:`Jail` (what one sandbox looks like from inside: its read-only binds, the size of its
scratch ``/tmp``, the seccomp fd, the unix sockets it may reach) and :func:`jail_argv`, the bwrap
command line for it: every namespace unshared (user, ipc, pid, net, uts, cgroup, mount),
``--disable-userns`` (no nested user namespace), ``--cap-drop ALL``, ``--new-session`` (no TIOCSTI into
the caller's terminal), ``--die-with-parent``, ``--as-pid-1`` (the trusted runner is pid 1), ``/usr`` and
the merged-``/usr`` links read-only, the extra read-only binds, ``/proc``, a read-only ``/dev`` whose
``/dev/pts`` is hidden under an empty read-only tmpfs, a ``--size``d tmpfs at ``/tmp`` (the only
writable place, and the working directory), ``--remount-ro /``, and ``--seccomp FD``. Unix sockets are
bound read-only (connecting needs no writable mount). Starting and stopping it is ``jailed.py``'s job.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

MERGED_USR = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SCRATCH = "/tmp"  # noqa: S108 - the sandbox's own size-limited tmpfs, not the host's /tmp


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
