"""The sandbox's fail-closed check: does a real sandboxed python run here, and with which layers?

Owns :func:`probe` — it finds bwrap and the interpreter, checks that the sandbox uid can read and run the
interpreter, builds both seccomp filters, and runs a trivial python in a jail that must report a non-root
uid with seccomp in force — and :class:`Ready`, what a successful probe established for every later run.
Every reason it refuses is a ``SandboxUnavailable`` with one line saying what to fix. It does not run tools
(``bwrap.py``).
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass

from toolfoundry.errors import SandboxUnavailable
from toolfoundry.sandbox import landlock, seccomp
from toolfoundry.sandbox.jail import Jail, jail_argv
from toolfoundry.sandbox.launcher import Capture, Completed, launch
from toolfoundry.sandbox.settings import SandboxSettings
from toolfoundry.sandbox.staging import staging_dir, under, usable

PROBE = ("import os, sys\nstatus = open('/proc/self/status').read()\n"
         "seccomp = status.split('Seccomp:')[1].split()[0] if 'Seccomp:' in status else 'none'\n"
         "sys.stdout.write('toolfoundry-sandbox-ok %d %s' % (os.getuid(), seccomp))")
PYTHON_HINT = "set [sandbox] python in toolfoundry.toml or TOOLFOUNDRY_SANDBOX_PYTHON (e.g. /usr/bin/python3)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ready:
    """What a successful check() established, reused by every run."""

    bwrap: str
    python: str
    binds: tuple[tuple[str, str], ...]
    user: tuple[int, int] | None
    uid: int
    gid: int
    staging: str
    landlock: int


def probe(settings: SandboxSettings) -> Ready:
    """What a real sandboxed python running here establishes (bwrap, interpreter, uid, staging dir, Landlock
    ABI), or SandboxUnavailable with a one-line reason: the fail-closed check every run relies on."""
    s = settings
    bwrap = shutil.which(s.bwrap)
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed (looked for {s.bwrap!r}): "
                                 "apt-get install bubblewrap")
    root = os.geteuid() == 0
    if root and s.uid == 0:
        raise SandboxUnavailable("the sandbox must not run as root: set [sandbox] uid to a non-root uid")
    uid, gid = (s.uid, s.gid) if root else (os.getuid(), os.getgid())
    python = shutil.which(s.python) if not os.path.isabs(s.python) else s.python
    if python is None or not os.path.isfile(python):
        raise SandboxUnavailable(f"the sandbox interpreter {s.python} does not exist: {PYTHON_HINT}")
    for path in (python, os.path.realpath(python)):
        if not usable(path, uid, gid, root=root, bits=stat.S_IROTH | stat.S_IXOTH):
            raise SandboxUnavailable(f"the sandbox interpreter {python} is not readable by the sandbox "
                                     f"uid {uid}: {PYTHON_HINT}")
    binds: tuple[tuple[str, str], ...] = ()
    real = os.path.realpath(python)
    if not under(real, "/usr"):
        prefix = os.path.dirname(os.path.dirname(real))
        binds = ((prefix, prefix),)
    program = seccomp.build(allow_inet=False)
    seccomp.build(allow_inet=True)
    ready = Ready(bwrap=bwrap, python=python, binds=binds, user=(uid, gid) if root else None,
                   uid=uid, gid=gid, staging=staging_dir(uid, gid, root=root), landlock=landlock.abi())
    fd = seccomp.memfd(program)
    try:
        argv = jail_argv(bwrap, Jail(binds=binds, scratch_bytes=1 << 20, seccomp_fd=fd),
                         [python, "-I", "-S", "-c", PROBE])
        done = launch(argv, stdin=b"", wall_seconds=10.0, user=ready.user,
                      stdout=Capture(4096, 0), stderr=Capture(4096, 4096), pass_fds=(fd,))
    finally:
        os.close(fd)
    _judge(done, python, uid)
    return ready


def _judge(done: Completed, python: str, uid: int) -> None:
    """Raise SandboxUnavailable unless the probe printed the ok line with a non-root uid."""
    out = bytes(done.stdout.head).decode("utf-8", "replace").split()
    if done.exit_code == 0 and len(out) == 3 and out[0] == "toolfoundry-sandbox-ok":
        if out[1] == "0":
            raise SandboxUnavailable("the sandboxed process runs as uid 0: set [sandbox] uid to a non-root uid")
        if out[2] != "2":
            raise SandboxUnavailable(f"the seccomp filter is not in force in the sandbox (Seccomp: {out[2]}); "
                                     "a kernel with CONFIG_SECCOMP_FILTER is required")
        return
    err = done.stderr.text().strip().splitlines()
    first = err[0] if err else f"exit status {done.exit_code}"
    lowered = " ".join(err).lower()
    if done.timed_out:
        raise SandboxUnavailable(f"a trivial sandboxed python did not finish within 10s ({first})")
    if "namespace" in lowered or "uid map" in lowered or "setting up uid" in lowered:
        raise SandboxUnavailable(f"user namespaces are unavailable to uid {uid} ({first}): enable unprivileged "
                                 "user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
                                 "user.max_user_namespaces > 0)")
    if "execvp" in lowered or "python" in lowered:
        raise SandboxUnavailable(f"the sandbox interpreter {python} does not start in the sandbox ({first}): "
                                 f"{PYTHON_HINT}")
    raise SandboxUnavailable(f"the sandbox does not start ({first})")


@functools.cache
def bwrap_version(bwrap: str) -> str:
    """``bwrap --version``, asked once per process and only for the audit log's ``layers()`` (not for a call)."""
    done = subprocess.run([bwrap, "--version"], capture_output=True, text=True, check=False, env={})
    return done.stdout.strip() or "bubblewrap (version unknown)"
