"""The files a sandbox reads, staged on the host: a fresh root-owned directory the sandbox uid can read but not write.

Owns where staging happens (a directory every path component of which the sandbox uid may traverse,
never under ``/root``), writing the tool, the harness and their modes (0755 directories, 0644 files),
removing it after the run, and the checks that a path (the interpreter, pytest's directory) is usable
by the sandbox uid with no supplementary groups.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from toolfoundry.errors import SandboxUnavailable


def under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def usable(path: str, uid: int, gid: int, *, root: bool, bits: int) -> bool:
    """Can ``uid``/``gid`` (no supplementary groups) reach ``path`` and use it with ``bits``?"""
    if not root:
        return os.access(path, os.R_OK | os.X_OK if bits & stat.S_IXOTH else os.R_OK)
    parts = Path(os.path.abspath(path)).parts
    for depth in range(1, len(parts)):
        if not allowed(os.path.join(*parts[:depth]), uid, gid, stat.S_IXOTH):
            return False
    return allowed(path, uid, gid, bits)


def allowed(path: str, uid: int, gid: int, bits: int) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    if st.st_uid == uid:
        mode = st.st_mode >> 6
    elif st.st_gid == gid:
        mode = st.st_mode >> 3
    else:
        mode = st.st_mode
    return mode & bits == bits


def staging_dir(uid: int, gid: int, *, root: bool) -> str:
    """A host directory the sandbox uid can traverse, for the per-run read-only files."""
    # only a parent for mkdtemp's fresh 0700-then-0755 directory, never a predictable path
    for candidate in (tempfile.gettempdir(), "/var/tmp", "/tmp"):  # noqa: S108
        if os.path.isdir(candidate) and usable(candidate, uid, gid, root=root, bits=stat.S_IXOTH):
            return candidate
    raise SandboxUnavailable("no temporary directory is traversable by the sandbox uid "
                             f"{uid} (tried $TMPDIR, /var/tmp, /tmp)")


@contextlib.contextmanager
def staged(base: str, files: dict[str, str], harness: tuple[Path, ...]) -> Iterator[str]:
    """A fresh directory ``tool/<files>`` + ``harness/<harness files>``, readable by all, writable by us only."""
    root = tempfile.mkdtemp(prefix="toolfoundry-run-", dir=base)
    try:
        # world-readable on purpose: the sandbox uid must read the tool; only we can write
        os.chmod(root, 0o755)  # noqa: S103
        for sub in ("tool", "harness"):
            os.mkdir(os.path.join(root, sub))
            os.chmod(os.path.join(root, sub), 0o755)  # noqa: S103
        for name, text in files.items():
            write(os.path.join(root, "tool", name), text.encode("utf-8"))
        for source in harness:
            write(os.path.join(root, "harness", source.name), source.read_bytes())
        yield root
    finally:
        shutil.rmtree(root)


def write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        os.fchmod(fd, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
