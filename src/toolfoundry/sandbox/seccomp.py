"""The seccomp filter every sandboxed process runs under, built on the host with libseccomp.

Owns the rule list and its compilation to a classic-BPF program (``seccomp_export_bpf``), loaded
through ``ctypes`` from Debian's ``libseccomp2`` (no PyPI dependency). bwrap installs the program
(``--seccomp FD``) right before it executes the interpreter, after ``PR_SET_NO_NEW_PRIVS``, so the
runner's main, zygote and workers and everything they start are filtered; a filter can only be
tightened afterwards, never removed. The program is built once per process for each value of
``allow_inet`` and cached as bytes; :func:`memfd` hands a fresh copy to each bwrap.

Default action: allow. Denied (the call fails with the errno shown; the process goes on):

* EPERM — debugging and cross-process memory: ``ptrace``, ``process_vm_readv/writev``,
  ``pidfd_getfd``, ``process_madvise``, ``kcmp``; kernel attack surface: ``io_uring_*``, ``bpf``,
  ``perf_event_open``, ``userfaultfd``, ``keyctl``/``add_key``/``request_key``, ``personality``;
  filesystems and namespaces: ``mount``, ``umount2``, ``pivot_root``, ``chroot``, the new mount API
  (``open_tree``, ``move_mount``, ``fsopen``, ``fsconfig``, ``fsmount``, ``fspick``,
  ``mount_setattr``), ``unshare``, ``setns``, ``name_to_handle_at``/``open_by_handle_at``;
  SysV and POSIX message IPC (``shm*``, ``msg*``, ``sem*``, ``mq_*``: a channel between cases
  otherwise); memory the address-space limit does not count: ``memfd_create`` (shmem pages that
  ``fallocate`` fills without mapping them; each file bounded only by RLIMIT_FSIZE) and
  ``memfd_secret`` — the harness never uses memfds inside (the filter itself reaches bwrap as an fd
  the host created), and the only other shmem left, ``/tmp``, is a ``--size``d tmpfs (``/dev`` and
  so ``/dev/shm`` are read-only); host administration (``swapon``, ``reboot``, ``acct``, ``syslog``,
  clocks, ...);
  ``clone`` with any ``CLONE_NEW*`` flag; ``ioctl`` ``TIOCSTI``/``TIOCLINUX`` (terminal injection);
  ``socket``/``socketpair`` with a family other than ``AF_UNIX`` — or other than ``AF_UNIX``,
  ``AF_INET``, ``AF_INET6`` when ``allow_inet`` (a tool with approved network hosts: its network
  namespace still has only loopback, the egress proxy is the way out).
* ENOSYS — ``clone3`` (its flags sit behind a pointer the filter cannot read; glibc then falls back
  to ``clone``, whose flags it can).
* KILL_PROCESS — kernel code loading: ``kexec_load``, ``kexec_file_load``, ``init_module``,
  ``finit_module``, ``delete_module``; and any syscall of a foreign architecture (i386, x32).

It knows nothing about bwrap's command line (``launcher.py``) or what runs inside (``runner.py``).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from toolfoundry.errors import SandboxUnavailable

LIBRARY = "libseccomp.so.2"
INSTALL_HINT = "apt-get install libseccomp2"

ACT_KILL_PROCESS = 0x80000000
ACT_ALLOW = 0x7FFF0000
FLTATR_ACT_BADARCH = 2
CMP_EQ, CMP_GT, CMP_MASKED_EQ = 4, 6, 7
AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
CLONE_NEW = {"CLONE_NEWTIME": 0x80, "CLONE_NEWNS": 0x20000, "CLONE_NEWCGROUP": 0x02000000,
             "CLONE_NEWUTS": 0x04000000, "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000,
             "CLONE_NEWPID": 0x20000000, "CLONE_NEWNET": 0x40000000}
TIOCSTI, TIOCLINUX = 0x5412, 0x541C

EPERM_SYSCALLS = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "process_madvise", "kcmp",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "bpf", "perf_event_open", "userfaultfd",
    "keyctl", "add_key", "request_key", "personality",
    "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "unshare", "setns", "name_to_handle_at", "open_by_handle_at",
    "shmget", "shmat", "shmdt", "shmctl", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop",
    "semtimedop", "semctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify",
    "mq_getsetattr", "memfd_create", "memfd_secret",
    "swapon", "swapoff", "reboot", "acct", "syslog", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "quotactl", "quotactl_fd", "iopl", "ioperm", "uselib", "vhangup", "fanotify_init",
    "lookup_dcookie",
)
"""Denied outright with EPERM."""
KILL_SYSCALLS = ("kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module")
"""Attempting one kills the whole process."""
OPTIONAL = frozenset({"quotactl_fd", "mount_setattr", "lookup_dcookie", "uselib", "process_madvise",
                      "memfd_secret"})
"""Names an older libseccomp may not know; everything else must resolve or the build fails."""


class _ArgCmp(ctypes.Structure):
    _fields_ = (("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64))


@dataclass(frozen=True, slots=True, kw_only=True)
class Filter:
    """A compiled filter: the BPF program and a description for ``layers()``."""

    bpf: bytes
    """The classic-BPF program (``struct sock_filter`` array) bwrap's ``--seccomp`` expects."""
    rules: int
    """How many rules went in."""
    summary: str
    """One line for the audit log: library version, rule count, program digest."""


_lock = threading.Lock()
_cache: dict[bool, Filter] = {}


def build(*, allow_inet: bool) -> Filter:
    """The filter for one sandbox, cached per ``allow_inet``; SandboxUnavailable if it cannot be built."""
    with _lock:
        if allow_inet not in _cache:
            _cache[allow_inet] = _compile(allow_inet)
        return _cache[allow_inet]


def memfd(program: Filter) -> int:
    """A fresh sealed-by-convention memfd holding ``program``, offset 0, for one bwrap (caller closes it)."""
    fd = os.memfd_create("toolfoundry-seccomp", os.MFD_CLOEXEC)
    try:
        view = memoryview(program.bpf)
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _library() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(LIBRARY, use_errno=True)
    except OSError as exc:
        raise SandboxUnavailable(f"libseccomp is not available ({exc}): {INSTALL_HINT}") from exc
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = (ctypes.c_uint32,)
    lib.seccomp_release.argtypes = (ctypes.c_void_p,)
    lib.seccomp_rule_add_array.argtypes = (ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgCmp))
    lib.seccomp_syscall_resolve_name.argtypes = (ctypes.c_char_p,)
    lib.seccomp_export_bpf.argtypes = (ctypes.c_void_p, ctypes.c_int)
    lib.seccomp_attr_set.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32)
    lib.seccomp_version.restype = ctypes.POINTER(ctypes.c_uint * 3)
    return lib


def _errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


def _rules(allow_inet: bool) -> Iterable[tuple[int, str, tuple[tuple[int, int, int, int], ...]]]:
    """(action, syscall, comparisons) — comparisons are (arg, op, a, b), all of which must hold."""
    for name in EPERM_SYSCALLS:
        yield _errno(errno.EPERM), name, ()
    for name in KILL_SYSCALLS:
        yield ACT_KILL_PROCESS, name, ()
    yield _errno(errno.ENOSYS), "clone3", ()
    for flag in CLONE_NEW.values():
        yield _errno(errno.EPERM), "clone", ((0, CMP_MASKED_EQ, flag, flag),)
    for request in (TIOCSTI, TIOCLINUX):
        yield _errno(errno.EPERM), "ioctl", ((1, CMP_MASKED_EQ, 0xFFFFFFFF, request),)
    allowed = {AF_UNIX, AF_INET, AF_INET6} if allow_inet else {AF_UNIX}
    top = max(allowed)
    for name in ("socket", "socketpair"):
        # anything above the largest allowed family (including values with high bits set) ...
        yield _errno(errno.EAFNOSUPPORT), name, ((0, CMP_GT, top, 0),)
        for family in range(top):  # ... and every family below it that is not allowed
            if family not in allowed:
                yield _errno(errno.EAFNOSUPPORT), name, ((0, CMP_EQ, family, 0),)


def _compile(allow_inet: bool) -> Filter:
    lib = _library()
    ctx = lib.seccomp_init(ACT_ALLOW)
    if not ctx:
        raise SandboxUnavailable(f"libseccomp could not create a filter context: {INSTALL_HINT}")
    try:
        if lib.seccomp_attr_set(ctx, FLTATR_ACT_BADARCH, ACT_KILL_PROCESS) != 0:
            raise SandboxUnavailable("libseccomp refused to kill foreign-architecture syscalls")
        count = 0
        for action, name, comparisons in _rules(allow_inet):
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number == -1:  # __NR_SCMP_ERROR: this libseccomp does not know the name
                if name in OPTIONAL:
                    continue
                raise SandboxUnavailable(f"libseccomp does not know the syscall {name}: upgrade libseccomp2")
            array = (_ArgCmp * max(1, len(comparisons)))(*(_ArgCmp(*c) for c in comparisons))
            rc = lib.seccomp_rule_add_array(ctx, action, number, len(comparisons), array)
            if rc != 0:
                raise SandboxUnavailable(f"libseccomp refused the rule for {name}: {os.strerror(-rc)}")
            count += 1
        bpf = _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)
    version = ".".join(str(v) for v in lib.seccomp_version().contents)
    digest = hashlib.sha256(bpf).hexdigest()[:16]
    return Filter(bpf=bpf, rules=count, summary=f"libseccomp {version}, {count} rules, "
                  f"{len(bpf) // 8} BPF instructions, inet {'allowed' if allow_inet else 'denied'}, "
                  f"sha256 {digest}")


def _export(lib: ctypes.CDLL, ctx: int) -> bytes:
    fd = os.memfd_create("toolfoundry-seccomp-export", os.MFD_CLOEXEC)
    try:
        rc = lib.seccomp_export_bpf(ctx, fd)
        if rc != 0:
            raise SandboxUnavailable(f"libseccomp could not export the filter: {os.strerror(-rc)}")
        size = os.fstat(fd).st_size
        data = os.pread(fd, size, 0)
    finally:
        os.close(fd)
    if not data or len(data) % 8:
        raise SandboxUnavailable("libseccomp exported an empty or malformed filter")
    return data
