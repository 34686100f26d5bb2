"""``BwrapSandbox``: the :class:`~toolfoundry.core.Sandbox` built on bubblewrap.

Owns the decisions about *what* goes into a run: which interpreter, which read-only files (the tool
at ``/tool``, the trusted harness — ``runner.py`` and ``landlock.py``, plus ``netfwd.py`` for a tool
with network hosts — at ``/harness``), which uid, which seccomp filter (``seccomp.py``; AF_INET
allowed only for a tool with network hosts), which limits, the fail-closed ``check()`` (the probe itself
is ``probe.py``'s) and the ``layers()`` report the audit log records. The files are staged in a fresh root-owned host directory
(0755 dirs, 0644 files) that the sandbox uid can read but not write, removed after the run (or, for
a serving sandbox of ``pool.py``, when it stops). Held-out expected values never come here: only
the args of each case. Process mechanics live in ``launcher.py``, the protocol in ``protocol.py``,
the in-sandbox half in ``runner.py``.

Network: a tool whose permissions list ``net_hosts`` gets its own :class:`~.netproxy.EgressProxy`
for the run (or for the life of a serving sandbox), never shared with another tool; its unix socket
is bound read-only at ``/run/egress.sock`` and ``runner.py`` forwards ``127.0.0.1:3128`` to it. The
network namespace stays unshared (loopback only). What the proxy refused is collected (:class:`NetLog`)
and returned as ``RunReport.net_refusals``.

Layers, all or nothing: bwrap namespaces and mounts; a dedicated non-root uid (when run as root);
an empty environment; seccomp; Landlock where the kernel has it (absent → reported as absent; present
but failing → SandboxUnavailable); rlimits per worker; non-dumpable harness and workers; a
size-limited scratch tmpfs whose file count the runner polices.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import secrets
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from toolfoundry.core import JSON, Permissions
from toolfoundry.errors import SandboxUnavailable
from toolfoundry.sandbox import protocol, seccomp
from toolfoundry.sandbox.jail import MERGED_USR, Jail, jail_argv
from toolfoundry.sandbox.launcher import ERROR_LINE_MAX, TAIL_CHARS, Capture, Completed, Launch, launch
from toolfoundry.sandbox.probe import Ready, bwrap_version, probe
from toolfoundry.sandbox.settings import SandboxSettings
from toolfoundry.sandbox.staging import staged, under
from toolfoundry.sandbox.types import Limits, RunReport, TestReport

if TYPE_CHECKING:
    from toolfoundry.sandbox.netproxy import NetLog
    from toolfoundry.sandbox.validation import WarmValidation

HARNESS_FILES = (Path(__file__).with_name("runner.py"), Path(__file__).with_name("landlock.py"))
NET_HARNESS_FILES = (Path(__file__).with_name("netfwd.py"),)
HARNESS = "/harness/runner.py"
EGRESS_SOCKET = "/run/egress.sock"
class BwrapSandbox:
    """Runs tool code under bubblewrap as a non-root uid, with rlimits and a trusted runner."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self._ready: Ready | None = None
        self._lock = threading.Lock()
        self._warm: WarmValidation | None = None

    def check(self) -> None:
        """Raise SandboxUnavailable with a one-line reason unless a real sandboxed python runs."""
        if self._ready is None:
            self._ready = probe(self.settings)

    def layers(self) -> dict[str, str]:
        """Which isolation layers are in force (after a successful check), for the audit log."""
        self.check()
        ready = self._ready
        assert ready is not None
        return {
            "bwrap": f"{bwrap_version(ready.bwrap)}: unshare user, ipc, pid, net, uts, cgroup, mount; "
                     "--disable-userns, --cap-drop ALL, --new-session, --die-with-parent, --as-pid-1, "
                     "--remount-ro /, read-only /dev without /dev/pts",
            "uid": f"{ready.uid}:{ready.gid}" + (" (dedicated, dropped from root)" if ready.user
                                                else " (the caller's own uid)"),
            "environment": "empty",
            "seccomp": seccomp.build(allow_inet=False).summary,
            "landlock": f"ABI {ready.landlock}" if ready.landlock else "absent",
            "rlimits": "CPU, AS, NPROC, FSIZE, NOFILE, CORE=0 per worker (from Limits)",
            "dumpable": "0 for the runner (pid 1), the zygote and every worker",
            "scratch": "tmpfs /tmp of Limits.scratch_mb, file count capped by the runner",
            "network": "none (loopback only); a tool with net_hosts: its own egress proxy on a unix socket, "
                       "reached through 127.0.0.1:3128 (the only TCP port Landlock lets it connect to)",
        }

    def run_cases(self, *, code: str, function: str, cases: list[dict[str, JSON]],
                  permissions: Permissions, limits: Limits, fresh: bool = False) -> RunReport:
        """Call ``function`` once per args dict, each in a fresh worker; JSON outputs only.

        Warm (``[sandbox] warm``, no network hosts): in a warm cases sandbox; with ``fresh`` (the cases carry
        held-out inputs) in one that no other run used before or will use after."""
        if self.settings.warm and not permissions.net_hosts:
            return self._warm_pool().cases(code=code, function=function, cases=cases, limits=limits, fresh=fresh)
        nonce = secrets.token_hex(16)
        stdin = protocol.request(nonce=nonce, mode="cases", function=function, cases=cases,
                                 limits=dataclasses.asdict(limits), pytest_path=self.settings.pytest_path)
        # the runner keeps values within output_kb in total; an error line is at most a few KiB
        cap = limits.output_kb * 1024 + ERROR_LINE_MAX * (len(cases) + 1)
        done, refusals = self._run({"tool.py": code}, stdin, limits, permissions, stdout_cap=cap)
        _refused(bytes(done.stdout.head), nonce)
        results, problems = protocol.cases(bytes(done.stdout.head), nonce=nonce, expected=len(cases))
        return RunReport(cases=tuple(results), exit_code=done.exit_code, timed_out=done.timed_out,
                         stdout_tail=done.stderr.text()[-TAIL_CHARS:], ms=done.ms,
                         problems=tuple(_launch_problems(done, limits) + problems), net_refusals=refusals)

    def run_pytest(self, *, code: str, tests: str, limits: Limits) -> TestReport:
        """Run ``tests`` as test_tool.py beside ``code`` as tool.py, in the sandbox's scratch dir."""
        if not tests:
            return TestReport(ran=False, exit_code=None, passed=0, failed=0, failures=(), output_tail="",
                              timed_out=False, ms=0.0)
        if self.settings.warm:
            return self._warm_pool().run_pytest(code=code, tests=tests, limits=limits)
        nonce = secrets.token_hex(16)
        stdin = protocol.request(nonce=nonce, mode="pytest", function="", cases=[],
                                 limits=dataclasses.asdict(limits), pytest_path=self.settings.pytest_path)
        done, _ = self._run({"tool.py": code, "test_tool.py": tests}, stdin, limits, Permissions(),
                            stdout_cap=4096)
        _refused(bytes(done.stdout.head), nonce)
        bodies, _problems = protocol.lines(bytes(done.stdout.head), nonce=nonce)
        body = bodies[0] if bodies else {}
        if body.get("pytest") == "missing":
            raise SandboxUnavailable(f"pytest is not importable by the sandbox interpreter from "
                                     f"{self.settings.pytest_path}: apt-get install python3-pytest "
                                     f"(or set [sandbox] pytest_path)")
        exit_code = body.get("exit_code")
        if type(body.get("signal")) is int:
            exit_code = -body["signal"]
        output = done.stderr.text()
        passed, failed, failures = protocol.pytest_summary(done.stderr.tail.decode("utf-8", "replace")
                                                           if done.stderr.truncated else output)
        return TestReport(ran=True, exit_code=exit_code if type(exit_code) is int else None, passed=passed,
                          failed=failed, failures=failures, output_tail=output[-TAIL_CHARS:],
                          timed_out=done.timed_out, ms=done.ms)

    def close(self) -> None:
        """Stop the warm validation sandboxes (also done when this object is collected, or at exit)."""
        with self._lock:
            warm, self._warm = self._warm, None
        if warm is not None:
            warm.close()

    # ── internals ────────────────────────────────────────────────────────────────────────────

    def _warm_pool(self) -> WarmValidation:
        """The warm validation sandboxes of this sandbox, created on first use."""
        self.check()
        assert self._ready is not None
        with self._lock:
            if self._warm is None:
                # only a process that validates needs it
                from toolfoundry.sandbox.validation import WarmValidation

                self._warm = WarmValidation(functools.partial(prepared, self._ready, self.settings),
                                            pytest_path=self.settings.pytest_path,
                                            idle_seconds=self.settings.warm_idle_seconds)
                weakref.finalize(self, self._warm.close)  # no reference back: collected sandboxes stop theirs
            return self._warm

    def prepared(self, files: dict[str, str], *, permissions: Permissions, limits: Limits, serve: bool,
                 validate: bool = False, pytest: bool = False,
                 preload: tuple[str, ...] = ()) -> contextlib.AbstractContextManager[Launch]:
        """Stage ``files`` and the harness, build the filter fd and the argv; clean up on exit.

        ``validate`` starts the runner in validate mode (``warm.py``): no tool is staged yet (the host places
        each job's candidate under /tool); its zygote imports ``preload`` and, with ``pytest``, pytest first."""
        self.check()
        assert self._ready is not None
        return prepared(self._ready, self.settings, files, permissions=permissions, limits=limits, serve=serve,
                        validate=validate, pytest=pytest, preload=preload)

    def _run(self, files: dict[str, str], stdin: bytes, limits: Limits, permissions: Permissions, *,
             stdout_cap: int) -> tuple[Completed, tuple[str, ...]]:
        """One sandbox run to its end: how it ended, and what its egress proxy refused."""
        half = limits.output_kb * 1024 // 2
        with self.prepared(files, permissions=permissions, limits=limits, serve=False) as start:
            done = launch(start.argv, stdin=stdin, wall_seconds=limits.wall_seconds, user=start.user,
                          stdout=Capture(stdout_cap, 0), stderr=Capture(half, half), pass_fds=start.pass_fds)
            return done, start.net.take() if start.net is not None else ()

@contextlib.contextmanager
def prepared(ready: Ready, settings: SandboxSettings, files: dict[str, str], *, permissions: Permissions,
             limits: Limits, serve: bool, validate: bool = False, pytest: bool = False,
             preload: tuple[str, ...] = ()) -> Iterator[Launch]:
    """:meth:`BwrapSandbox.prepared` for a sandbox that passed its check (``ready``): it holds no reference
    to the :class:`BwrapSandbox`, so warm sandboxes do not keep theirs alive."""
    binds = list(ready.binds)
    pytest_path = settings.pytest_path
    if os.path.isdir(pytest_path) and not under(os.path.realpath(pytest_path), "/usr"):
        binds.append((pytest_path, pytest_path))
    net = bool(permissions.net_hosts)
    program = seccomp.build(allow_inet=net)
    setup = {"serve": serve, "landlock": ready.landlock, "net": net, "limits": dataclasses.asdict(limits),
             "read_exec": [inside for _, inside in binds] + _real_dirs(MERGED_USR), "validate": validate,
             "test_path": pytest_path if pytest else "", "preload": list(preload)}
    harness = HARNESS_FILES + (NET_HARNESS_FILES if net else ())
    with contextlib.ExitStack() as stack:
        log: NetLog | None = None
        sockets: tuple[tuple[str, str], ...] = ()
        if net:  # this sandbox's own proxy: started here, stopped when the run or the sandbox ends (the module
            # is imported only here: only a tool with network hosts needs it)
            from toolfoundry.sandbox.netproxy import EgressProxy, NetLog

            log = NetLog()
            proxy = stack.enter_context(EgressProxy(permissions.net_hosts, on_refusal=log.add))
            sockets = ((str(proxy.start()), EGRESS_SOCKET),)
        root = stack.enter_context(staged(ready.staging, files, harness))
        binds += [(os.path.join(root, "tool"), "/tool"), (os.path.join(root, "harness"), "/harness")]
        fd = seccomp.memfd(program)
        stack.callback(os.close, fd)
        jail = Jail(binds=tuple(binds), scratch_bytes=limits.scratch_mb << 20, seccomp_fd=fd, sockets=sockets)
        argv = jail_argv(ready.bwrap, jail, [ready.python, "-I", "-S", "-X", "utf8", "-B", HARNESS,
                                             json.dumps(setup)])
        yield Launch(argv=argv, user=ready.user, pass_fds=(fd,), net=log, tool_dir=os.path.join(root, "tool"))


def _refused(stdout: bytes, nonce: str) -> None:
    """Raise SandboxUnavailable when the runner refused to run (a layer could not be applied)."""
    bodies, _ = protocol.lines(stdout, nonce=nonce)
    if bodies and "refused" in bodies[0]:
        raise SandboxUnavailable(f"the sandbox could not apply {bodies[0].get('by')}: {bodies[0]['refused']}")


def _real_dirs(paths: tuple[str, ...]) -> list[str]:
    """The merged-/usr paths that are real directories here (bound read-only, so granted to Landlock)."""
    return [p for p in paths if os.path.isdir(p) and not os.path.islink(p)]


def _launch_problems(done: Completed, limits: Limits) -> list[str]:
    problems = []
    if done.stderr.truncated:
        problems.append(f"output truncated: the tool wrote {done.stderr.total} bytes, more than the "
                        f"{limits.output_kb} KiB kept")
    if done.stdout.truncated:
        problems.append("the result channel exceeded its size limit and was truncated")
    if not done.timed_out and done.exit_code != 0:
        problems.append(f"the sandbox exited with status {done.exit_code}")
    return problems
