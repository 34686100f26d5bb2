"""The hardening layers, with real bwrap: each denied syscall family fails inside, Landlock and rlimits hold.

Each test calls the syscall the way a tool would (ctypes) and asserts the errno the filter or the
layer gives; where the call would succeed without the layer (unshare(0), shmget, keyctl, ptrace
TRACEME, process_vm_readv of itself, writing /proc/self/comm) the failure proves the layer.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import textwrap

import pytest

from toolfoundry.core import Permissions
from toolfoundry.sandbox import BwrapSandbox, landlock, seccomp
from toolfoundry.sandbox.settings import SandboxSettings
from toolfoundry.sandbox.types import CaseResult, Limits, RunReport

ROOT = os.geteuid() == 0

SYSCALL = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def f(number: int, args: list) -> int:
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) for a in args))
    return ctypes.get_errno() if result == -1 else -1000 - (result > 0)
"""
"""Returns the errno of a failed syscall, or -1000 (returned 0) / -1001 (returned > 0) on success."""

# x86_64 syscall numbers
PTRACE, KEYCTL, SHMGET, UNSHARE, BPF, IO_URING_SETUP, PERSONALITY = 101, 250, 29, 272, 321, 425, 135
MOUNT, CLONE, CLONE3, MSGGET, USERFAULTFD, PERF_EVENT_OPEN, SETNS = 165, 56, 435, 68, 323, 298, 308
INIT_MODULE = 175
CLONE_NEWUSER, SIGCHLD = 0x10000000, 17


@pytest.fixture(scope="module")
def sandbox() -> BwrapSandbox:
    box = BwrapSandbox(SandboxSettings())
    box.check()
    return box


def run(sandbox: BwrapSandbox, code: str, *cases: dict[str, object], permissions: Permissions = Permissions(),
        **limits: object) -> RunReport:
    return sandbox.run_cases(code=textwrap.dedent(code), function="f", cases=list(cases) or [{}],
                             permissions=permissions, limits=dataclasses.replace(Limits(), **limits))


def errnos(sandbox: BwrapSandbox, *calls: tuple[int, list[int]]) -> list[object]:
    report = run(sandbox, SYSCALL, *({"number": n, "args": a} for n, a in calls))
    assert report.problems == (), report
    return [c.value if c.ok else c.error_type for c in report.cases]


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="syscall numbers are x86_64's")
def test_denied_syscall_families_fail_with_eperm_inside(sandbox: BwrapSandbox) -> None:
    calls = {
        "ptrace(TRACEME)": (PTRACE, [0, 0, 0, 0]),
        "keyctl(GET_KEYRING_ID, session)": (KEYCTL, [0, -3, 0]),
        "shmget(IPC_PRIVATE)": (SHMGET, [0, 4096, 0o1600]),
        "msgget(IPC_PRIVATE)": (MSGGET, [0, 0o1600]),
        "unshare(0)": (UNSHARE, [0]),
        "setns": (SETNS, [0, 0]),
        "bpf": (BPF, [0, 0, 0]),
        "io_uring_setup": (IO_URING_SETUP, [1, 0]),
        "perf_event_open": (PERF_EVENT_OPEN, [0, 0, -1, -1, 0]),
        "userfaultfd": (USERFAULTFD, [0]),
        "personality(ADDR_NO_RANDOMIZE)": (PERSONALITY, [0x0040000]),
        "mount": (MOUNT, [0, 0, 0, 0, 0]),
        "clone(CLONE_NEWUSER)": (CLONE, [CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0]),
    }
    got = dict(zip(calls, errnos(sandbox, *calls.values()), strict=True))
    assert got == dict.fromkeys(calls, errno.EPERM)


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="syscall numbers are x86_64's")
def test_clone3_is_enosys_so_libc_falls_back_and_processes_still_start(sandbox: BwrapSandbox) -> None:
    assert errnos(sandbox, (CLONE3, [0, 0])) == [errno.ENOSYS]
    case = run(sandbox, """
        import os, subprocess
        def f() -> list:
            pid = os.fork()
            if pid == 0:
                os._exit(7)
            _, status = os.waitpid(pid, 0)
            return [os.waitstatus_to_exitcode(status), subprocess.run(["/usr/bin/true"]).returncode]
    """).cases[0]
    assert case == CaseResult(ok=True, value=[7, 0])


def test_process_vm_readv_of_itself_is_denied(sandbox: BwrapSandbox) -> None:
    case = run(sandbox, """
        import ctypes, os
        class IOVec(ctypes.Structure):
            _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
        def f() -> int:
            libc = ctypes.CDLL(None, use_errno=True)
            src = ctypes.create_string_buffer(b"secret")
            dst = ctypes.create_string_buffer(6)
            local, remote = IOVec(ctypes.addressof(dst), 6), IOVec(ctypes.addressof(src), 6)
            if libc.process_vm_readv(os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0) == -1:
                return ctypes.get_errno()
            return 0
    """).cases[0]
    assert case == CaseResult(ok=True, value=errno.EPERM)


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="syscall numbers are x86_64's")
def test_loading_a_kernel_module_kills_the_process(sandbox: BwrapSandbox) -> None:
    report = run(sandbox, SYSCALL, {"number": INIT_MODULE, "args": [0, 0, 0]}, {"number": UNSHARE, "args": [0]})
    killed, after = report.cases
    assert not killed.ok and killed.error_type == "Crashed" and "SIGSYS" in killed.error_message, killed
    assert after == CaseResult(ok=True, value=errno.EPERM)


def test_memfd_create_is_denied_so_memory_outside_the_address_space_cannot_be_held(sandbox: BwrapSandbox) -> None:
    """A memfd's pages are not counted by RLIMIT_AS; shmem through /dev/shm is read-only, through /tmp sized."""
    report = run(sandbox, """
        import os
        def f(where: str) -> str:
            try:
                if where == "memfd":
                    os.close(os.memfd_create("hoard"))
                else:
                    open(where, "wb").close()
                return "created"
            except OSError as exc:
                return f"{type(exc).__name__} {exc.errno}"
    """, {"where": "memfd"}, {"where": "/dev/shm/hoard"}, {"where": "/tmp/bounded"})
    assert [c.value for c in report.cases] == [f"PermissionError {errno.EPERM}", f"OSError {errno.EROFS}",
                                               "created"]


SOCKETS = """
import socket
def f(family: str) -> str:
    try:
        socket.socket(getattr(socket, family), socket.SOCK_STREAM).close()
        return "created"
    except OSError as exc:
        return type(exc).__name__
"""


def test_only_unix_sockets_without_network_permission(sandbox: BwrapSandbox) -> None:
    report = run(sandbox, SOCKETS, {"family": "AF_UNIX"}, {"family": "AF_INET"}, {"family": "AF_INET6"},
                 {"family": "AF_NETLINK"}, {"family": "AF_PACKET"})
    assert [c.value for c in report.cases] == ["created", "OSError", "OSError", "OSError", "OSError"]


def test_inet_sockets_are_allowed_with_network_permission_and_nothing_else(sandbox: BwrapSandbox) -> None:
    report = run(sandbox, SOCKETS, {"family": "AF_UNIX"}, {"family": "AF_INET"}, {"family": "AF_INET6"},
                 {"family": "AF_NETLINK"}, {"family": "AF_PACKET"},
                 permissions=Permissions(net_hosts=("example.org",)))
    assert [c.value for c in report.cases] == ["created", "created", "created", "OSError", "OSError"]


def test_the_filter_is_built_per_network_permission_and_cached() -> None:
    closed, opened = seccomp.build(allow_inet=False), seccomp.build(allow_inet=True)
    assert closed is seccomp.build(allow_inet=False)
    assert closed.bpf != opened.bpf and len(closed.bpf) % 8 == 0
    assert "inet denied" in closed.summary and "inet allowed" in opened.summary


def test_layers_reports_every_layer(sandbox: BwrapSandbox) -> None:
    layers = sandbox.layers()
    assert {"bwrap", "uid", "seccomp", "landlock", "rlimits", "dumpable"} <= set(layers)
    assert layers["seccomp"].startswith("libseccomp")
    assert layers["landlock"] == (f"ABI {landlock.abi()}" if landlock.abi() else "absent")
    if ROOT:
        assert layers["uid"].startswith(f"{SandboxSettings().uid}:")


@pytest.mark.skipif(landlock.abi() == 0, reason="this kernel has no Landlock")
def test_landlock_denies_writes_that_the_mounts_alone_would_allow(sandbox: BwrapSandbox) -> None:
    """A process may always write its own /proc/self/comm; under Landlock only /tmp is writable."""
    report = run(sandbox, """
        def f(path: str) -> str:
            try:
                with open(path, "w") as handle:
                    handle.write("renamed")
                return "written"
            except OSError as exc:
                return type(exc).__name__
    """, {"path": "/proc/self/comm"}, {"path": "/proc/self/attr/current"}, {"path": "/tmp/fine"})
    assert [c.value for c in report.cases] == ["PermissionError", "PermissionError", "written"]


def test_the_seccomp_filter_is_in_force_and_no_new_privileges(sandbox: BwrapSandbox) -> None:
    case = run(sandbox, """
        def f() -> dict:
            status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines()
                          if ":\\t" in line)
            return {k: status[k].strip() for k in ("Seccomp", "NoNewPrivs", "CapEff")}
    """).cases[0]
    assert case.value == {"Seccomp": "2", "NoNewPrivs": "1", "CapEff": "0000000000000000"}


def test_rlimits_are_applied_to_the_worker(sandbox: BwrapSandbox) -> None:
    limits = Limits(cpu_seconds=3, memory_mb=300, processes=20, file_mb=5, open_files=64)
    report = sandbox.run_cases(code=textwrap.dedent("""
        import resource
        def f() -> dict:
            names = ("CPU", "AS", "NPROC", "FSIZE", "NOFILE", "CORE")
            return {n: list(resource.getrlimit(getattr(resource, "RLIMIT_" + n))) for n in names}
    """), function="f", cases=[{}], permissions=Permissions(), limits=limits)
    assert report.cases[0].value == {"CPU": [3, 4], "AS": [300 << 20] * 2, "NPROC": [20, 20],
                                     "FSIZE": [5 << 20] * 2, "NOFILE": [64, 64], "CORE": [0, 0]}


def test_no_pseudo_terminal_can_be_opened(sandbox: BwrapSandbox) -> None:
    case = run(sandbox, """
        import os
        def f() -> list:
            try:
                os.close(os.open("/dev/ptmx", os.O_RDWR))
                opened = True
            except OSError:
                opened = False
            return [os.path.exists("/dev/pts/ptmx"), opened]
    """).cases[0]
    assert case == CaseResult(ok=True, value=[False, False])


def test_creating_files_without_end_is_stopped_by_the_file_count_limit(sandbox: BwrapSandbox) -> None:
    report = run(sandbox, """
        def f() -> int:
            n = 0
            while True:
                open(f"/tmp/f{n}", "w").close()
                n += 1
    """, {}, {}, scratch_mb=4, wall_seconds=20.0)
    first, second = report.cases
    assert not first.ok and first.error_type == "TooManyFiles", first
    assert second.error_type == "TooManyFiles"  # the scratch dir was wiped in between: it starts from zero
