"""Landlock, the second filesystem layer, applied from inside the sandbox by the trusted runner.

Stdlib-only and free of toolfoundry imports: the host imports it to probe the kernel's ABI
(:func:`abi`), and ``bwrap.py`` copies it into the sandbox's read-only ``/harness`` directory, where
``runner.py`` loads it and calls :func:`restrict` in the zygote, before any tool code is imported, so
every worker and everything it starts inherits the domain. bwrap's mount namespace already decides
what exists; Landlock then decides what may be done with it, enforced by the kernel per process:

* read and execute: ``/usr`` (and the merged-``/usr`` links), ``/tool``, ``/harness``, and any extra
  read-only bind (an interpreter prefix outside ``/usr``, pytest's directory);
* read only: ``/proc``;
* read and write (files only): ``/dev/null``, ``/dev/zero``, ``/dev/full``, ``/dev/random``,
  ``/dev/urandom``;
* everything: the scratch ``/tmp``;
* nothing else: no write anywhere but ``/tmp``, no ``/dev/pts``, no listing of ``/``;
* TCP bind denied, TCP connect denied except to the ports in ``connect_ports`` (ABI ≥ 4) — for a
  tool with network permission that is 3128 alone, the runner's forwarder to the egress proxy, so
  even then no other loopback port is reachable; abstract unix sockets created outside the domain
  unreachable (ABI ≥ 6).

Syscalls 444/445/446 are the same on every architecture. A kernel without Landlock gives ABI 0: the
host records "absent" and runs without this layer; a kernel with it where it cannot be applied makes
:func:`restrict` raise, and the runner refuses to run the tool (fail closed).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2
PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0

READ_EXEC = EXECUTE | READ_FILE | READ_DIR
READ = READ_FILE | READ_DIR
DEVICE_RW = READ_FILE | WRITE_FILE
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


class _RulesetAttr(ctypes.Structure):
    _fields_ = (("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64))


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class _NetPort(ctypes.Structure):
    _fields_ = (("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64))


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is absent or disabled."""
    libc = _libc()
    version = libc.syscall(ctypes.c_long(SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
                           ctypes.c_uint32(CREATE_RULESET_VERSION))
    return int(version) if version > 0 else 0


def fs_rights(version: int) -> int:
    """Every filesystem right the given ABI knows (all handled, so anything not granted is denied)."""
    rights = (1 << 13) - 1
    if version >= 2:
        rights |= REFER
    if version >= 3:
        rights |= TRUNCATE
    if version >= 5:
        rights |= IOCTL_DEV
    return rights


def restrict(*, required: int, read_exec: Sequence[str], read: Sequence[str], write: Sequence[str],
             connect_ports: Sequence[int] = ()) -> int:
    """Confine this process (and its future children) as described above; return the ABI used.

    ``required`` is the ABI the host saw; finding less here, or any failing step, raises OSError.
    """
    libc = _libc()
    version = abi()
    if version < required or version < 1:
        raise OSError(f"Landlock ABI {version} in the sandbox, the host saw {required}")
    handled = fs_rights(version)
    attr = _RulesetAttr(handled_access_fs=handled)
    size = 8
    if version >= 4:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
        size = 16
    if version >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET
        size = 24
    ruleset = libc.syscall(ctypes.c_long(SYS_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    file_rights = EXECUTE | WRITE_FILE | READ_FILE | (TRUNCATE if version >= 3 else 0)
    try:
        grants = [(p, READ_EXEC) for p in read_exec] + [(p, READ) for p in read]
        grants += [(p, handled) for p in write] + [(p, DEVICE_RW | (TRUNCATE if version >= 3 else 0))
                                                   for p in DEVICES]
        for path, rights in grants:
            _add(libc, int(ruleset), path, rights, file_rights)
        for port in connect_ports if version >= 4 else ():
            rule = _NetPort(allowed_access=NET_CONNECT_TCP, port=port)
            if libc.syscall(ctypes.c_long(SYS_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(RULE_NET_PORT),
                            ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                raise OSError(ctypes.get_errno(), f"landlock_add_rule(tcp connect {port}) failed")
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if libc.syscall(ctypes.c_long(SYS_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(int(ruleset))
    return version


def _add(libc: ctypes.CDLL, ruleset: int, path: str, rights: int, file_rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return  # not in this sandbox (e.g. /lib32): nothing to grant
    try:
        if not os.path.isdir(path):
            rights &= file_rights  # only file rights are valid on a file
        rule = _PathBeneath(allowed_access=rights, parent_fd=fd)
        if libc.syscall(ctypes.c_long(SYS_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH),
                        ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule({path}) failed")
    finally:
        os.close(fd)
