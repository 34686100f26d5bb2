"""The trusted harness that runs *inside* the sandbox, as ``python -I -S -X utf8 -B runner.py SETUP``.

Self-contained and stdlib-only: it never imports toolfoundry (the package is not in the sandbox); it
loads its siblings, ``/harness/landlock.py`` and (for a tool with network hosts) ``/harness/netfwd.py``,
by path. It owns the in-sandbox half of the
protocol; the host half is ``protocol.py`` (one run) and ``pool.py`` (a serving sandbox). ``SETUP``
(argv, so nothing secret) is JSON: ``serve`` (bool), ``landlock`` (the ABI the host saw, 0 = absent),
``read_exec`` (extra read-only paths), ``net`` (the tool has approved network hosts), ``limits``,
``validate`` (validate mode, below), ``test_path`` (where its zygote imports pytest from, if at all; named
so that pid 1's command line never spells "pytest", which the attack suite looks for in the sandbox's
``/proc`` as the sign of a visible host process) and ``preload``.

Network (only with ``net``): the host binds its egress proxy's unix socket at ``/run/egress.sock``;
main, *after* forking the zygote (so no worker inherits the listener), serves ``127.0.0.1:3128``
with ``netfwd.py``, each connection piped to that socket; Landlock lets workers connect to TCP port
3128 and nothing else; each worker gets ``http_proxy``/``https_proxy`` (and the upper-case forms)
pointing there. The proxy on the host decides which hosts are reached.

Three roles, one file:

* **main** (pid 1 of the sandbox, thanks to ``bwrap --as-pid-1``, so code inside cannot signal it):
  forks the zygote *before* reading anything, then reads the request from stdin and writes exactly
  one line per job to stdout, ``<nonce> <json>``. Only main writes stdout. In *run* mode the request
  is one JSON object ``{"nonce", "mode": "cases"|"pytest", "function", "cases", "limits",
  "pytest_path"}``; in *serve* mode the first line is ``{"nonce", "function", "limits"}``, main
  answers ``{"ready": true}``, then every further line ``{"id", "args"}`` is one call, answered by a
  line carrying the same ``id``. In *validate* mode (warm validation, ``warm.py``) the first line is
  ``{"nonce"}``, main answers ``{"ready": true, "pytest": bool}``, then every further line is one
  candidate's job — ``{"id", "kind": "cases", "function", "cases"}`` or ``{"id", "kind": "pytest"}`` — whose
  files the host has just placed under the read-only ``/tool``, answered by one line per case (or one
  pytest line) and an end line, each carrying the job's ``id``. Each job gets two fresh pipes (job in,
  result out) passed to the zygote with SCM_RIGHTS, so a worker that dies mid-read leaves nothing
  behind for the next one.
  Main enforces each job's wall-clock limit and the scratch dir's file count (tmpfs ``--size``
  bounds bytes, not inodes) by SIGKILLing the worker, then wipes the scratch dir.
* **zygote**: forked before the request was read, so its memory holds neither the nonce nor any
  case. It applies Landlock first (a kernel with Landlock where it cannot be applied → refused); in
  validate mode it then imports pytest and trusted standard-library modules (never a candidate) and
  closes every fd but its channel to main; in serve mode it imports the tool once (the pre-warmed
  parent; a tool that starts threads when imported is refused; what it calls afterwards is bound before the import, so patching ``os.fork``
  and the like at import time does not reach it — ``os.register_at_fork`` hooks still would: the
  tool's import-time code is reviewed code, the same for every call). For each job it forks a worker
  (ahead of the job), reports its pid, waits for it, SIGKILLs
  every leftover process (``kill(-1)`` spares only pid 1 and itself), reaps them (it is the child
  subreaper), and reports the wait status and CPU time.
* **worker**: reads its one job, points stdout at stderr (tool prints never reach the result
  channel), empties the environment, applies the rlimits (CPU, AS, NPROC, FSIZE, NOFILE, CORE=0),
  calls the function (importing the tool unless the zygote already did) or runs pytest, and sends
  the outcome back on its private result pipe. Main and all its descendants are non-dumpable.

So a worker sees only its own case: it cannot learn the nonce, the other cases' inputs, or what an
earlier case left in the scratch dir; in serve mode no state survives from one call to the next, and in
validate mode none from one candidate to the next (main also stops the sandbox when the scratch dir
cannot be emptied).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib.machinery
import importlib.util
import json
import math
import os
import resource
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

TOOL = "/tool/tool.py"
TESTS = "/tool/test_tool.py"
LANDLOCK = "/harness/landlock.py"
NETFWD = "/harness/netfwd.py"
EGRESS = "/run/egress.sock"
PROXY_PORT = 3128
PROXY_URL = f"http://127.0.0.1:{PROXY_PORT}"
SCRATCH = "/tmp"  # noqa: S108 - the sandbox's private tmpfs
WORK = "/tmp/work"  # noqa: S108 - inside that tmpfs
MIB = 1 << 20
MAX_DEPTH = 200
PYTEST_EXTRAS = ("_pytest._argcomplete", "_pytest.config.compat", "pdb", "faulthandler")
"""Modules a pytest run imports lazily on top of ``_pytest.config.default_plugins``."""
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
TICK_SECONDS = 0.05
GRACE_SECONDS = 2.0
FILES_PER_MIB = 256
UNTOUCHED = 75

# What the zygote uses after a tool was imported into it (serve mode), bound now, before that import:
# import-time code that patches os.fork, os.kill, ... must not run in the zygote on every call.
_FORK, _WAIT4, _WAITPID, _KILL, _EXIT, _LISTDIR = os.fork, os.wait4, os.waitpid, os.kill, os._exit, os.listdir
_FREEZE, _SIGKILL, _OSERROR, _NOCHILD = gc.freeze, int(signal.SIGKILL), OSError, ChildProcessError
"""Main's exit status when it stops with every call it read either answered or never started (so the
host may safely retry the unanswered one elsewhere); 3 when a started call was lost."""


class NotJSON(Exception):
    """The tool returned something that is not plainly JSON."""


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = os.read(fd, min(size - len(chunks), 1 << 16))
        if not chunk:
            break
        chunks += chunk
    return bytes(chunks)


def max_files(limits: dict[str, Any]) -> int:
    """How many inodes the scratch tmpfs may hold (tmpfs ``size=`` does not bound them)."""
    return max(1024, int(limits["scratch_mb"]) * FILES_PER_MIB)


# ── worker ───────────────────────────────────────────────────────────────────────────────────


def _plain(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON data (tuples become lists); anything else raises NotJSON."""
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise NotJSON(f"returned {value!r}, which JSON cannot represent")
        return value
    if depth >= MAX_DEPTH:
        raise NotJSON(f"returned a value nested deeper than {MAX_DEPTH} levels")
    if kind is list or kind is tuple:
        return [_plain(item, depth + 1) for item in value]
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise NotJSON(f"returned a dict with a {type(key).__name__} key; JSON keys are strings")
            out[key] = _plain(item, depth + 1)
        return out
    raise NotJSON(f"returned a {kind.__name__}, which is not a JSON value")


def _describe(exc: BaseException) -> dict[str, Any]:
    name = type(exc).__name__
    try:
        message = str(exc)[:500]
    except BaseException:  # a hostile __str__ must not break the harness
        message = "<unprintable>"
    return {"ok": False, "error_type": name if isinstance(name, str) else "Exception", "error_message": message}


def _limit(which: int, soft: int, hard: int | None = None) -> None:
    resource.setrlimit(which, (soft, soft if hard is None else hard))


def _apply_limits(limits: dict[str, Any], *, cpu: bool = True) -> None:
    if cpu:
        seconds = int(limits["cpu_seconds"])
        _limit(resource.RLIMIT_CPU, seconds, seconds + 1)
    _limit(resource.RLIMIT_AS, int(limits["memory_mb"]) * MIB)
    _limit(resource.RLIMIT_NPROC, int(limits["processes"]))
    _limit(resource.RLIMIT_FSIZE, int(limits["file_mb"]) * MIB)
    _limit(resource.RLIMIT_NOFILE, int(limits.get("open_files", 256)))
    _limit(resource.RLIMIT_CORE, 0)


def _import_tool() -> Any:
    spec = importlib.util.spec_from_file_location("tool", TOOL)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {TOOL}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["tool"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop("tool", None)
        raise
    return module


def _call(job: dict[str, Any]) -> bytes:
    me = os.getpid()
    try:
        module = sys.modules.get("tool") or _import_tool()  # serve mode: the zygote imported it already
        value = getattr(module, job["function"])(**job["args"])
        if os.getpid() != me:  # a process the tool forked must not answer for it
            os._exit(0)
        try:
            result: dict[str, Any] = {"ok": True, "value": _plain(value)}
            return json.dumps(result, allow_nan=False).encode()
        except (NotJSON, ValueError, RecursionError) as exc:
            result = {"ok": False, "error_type": "NotJSON", "error_message": str(exc)[:500]}
    except BaseException as exc:  # every failure of the tool is a result
        if os.getpid() != me:
            os._exit(0)
        result = _describe(exc)
    return json.dumps(result).encode()


def _pytest(job: dict[str, Any]) -> int:
    os.makedirs(WORK, exist_ok=True)
    for src in (TOOL, TESTS):
        with open(src, "rb") as f, open(os.path.join(WORK, os.path.basename(src)), "wb") as g:
            g.write(f.read())
    os.chdir(WORK)
    sys.path.append(job["pytest_path"])
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    os.environ["COLUMNS"] = "300"  # pytest cuts -rfE lines to the terminal's width (80 here); the host keeps 300
    import pytest  # only the pytest worker needs it

    args = ["-q", "-rfE", "-p", "no:cacheprovider", f"--rootdir={WORK}", "test_tool.py"]
    return int(pytest.main(args))


def _worker(ctl: socket.socket, limits: dict[str, Any], env: dict[str, str]) -> None:
    """Get ready, wait for one job, do it, exit. Never returns.

    Forked ahead of its job, so fork, rlimits and first-touch page faults are off the call's path;
    nothing of the tool runs before the job arrives. The job's two pipes come from main over ``ctl``
    (only a waiting worker reads it), which the worker closes before anything else happens.
    """
    code = 70
    try:
        os.dup2(2, 1)  # the tool's prints go to stderr; stdout (the result channel) belongs to main
        os.environ.clear()
        os.environ.update(env)  # only the egress proxy's address, for a tool with network hosts
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.dont_write_bytecode = True
        _apply_limits(limits)
        json.loads(json.dumps({"ok": True, "value": [0, 1.5, "x", None, {"k": False}]}))  # touch the codec
        data, fds, _, _ = socket.recv_fds(ctl, 16, 2)
        ctl.close()
        if data != b"g" or len(fds) != 2:
            return
        job_fd, result_fd = fds
        size = int.from_bytes(_read_exactly(job_fd, 8), "big")
        job = json.loads(_read_exactly(job_fd, size))
        os.close(job_fd)
        if job["kind"] == "call":
            payload = _call(job)
            _flush()
            _write_all(result_fd, len(payload).to_bytes(8, "big") + payload)
            code = 0
        else:
            code = _pytest(job)
            _flush()
    finally:
        os._exit(code)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


# ── zygote ───────────────────────────────────────────────────────────────────────────────────


def _wipe(path: str) -> None:
    """Remove everything under ``path`` (not ``path`` itself), whatever modes the tool left."""
    try:
        os.chmod(path, 0o700)
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                _wipe(entry.path)
                os.rmdir(entry.path)
            else:
                os.unlink(entry.path)


def _confine(setup: dict[str, Any]) -> None:
    """Landlock this process (the zygote) and so every worker; OSError if the kernel has it and it fails."""
    required = int(setup["landlock"])
    if required == 0:
        return  # the host found no Landlock in this kernel and reports the layer as absent
    _sibling("_toolfoundry_landlock", LANDLOCK).restrict(
        required=required, read_exec=["/usr", "/tool", "/harness", *setup["read_exec"]], read=["/proc"],
        write=[SCRATCH], connect_ports=[PROXY_PORT] if setup["net"] else [])


def _sibling(name: str, path: str) -> Any:
    """Load a harness module by path (toolfoundry itself is not in the sandbox)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise OSError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _prepare(setup: dict[str, Any]) -> bytes:
    """Everything the zygote does before its first job; the message for main (``ready`` or ``fail ...``)."""
    try:
        _confine(setup)
    except OSError as exc:
        return f"fail landlock {exc}".encode()
    if setup.get("validate"):
        return _preload(setup)
    if not setup["serve"]:
        return b"ready"
    os.environ.clear()
    _apply_limits(setup["limits"], cpu=False)  # the host bounds the import by its wall-clock deadline
    try:
        _import_tool()
    except BaseException:  # noqa: S110 - each call imports again and reports the error as its result
        pass
    if len(_LISTDIR("/proc/self/task")) != 1:
        return b"fail tool the tool starts threads when it is imported; warm workers refuse such tools"
    return b"ready"


def _preload(setup: dict[str, Any]) -> bytes:
    """Validate mode: import pytest (when asked) and trusted standard-library modules once, in the zygote,
    before any candidate exists; close every fd a worker must not inherit. ``ready`` or ``ready nopytest``."""
    os.environ.clear()
    _apply_limits(setup["limits"], cpu=False)
    message = b"ready"
    if setup.get("test_path"):
        message = b"ready" if _preload_pytest(setup["test_path"]) else b"ready nopytest"
    for name in setup.get("preload", ()):
        with contextlib.suppress(Exception):  # a module this interpreter lacks is imported (and fails) per job
            importlib.import_module(name)
    keep = {0, 1, 2, setup["ctl"]}
    for fd in [int(name) for name in _LISTDIR("/proc/self/fd")]:
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)
    if len(_LISTDIR("/proc/self/task")) != 1:
        return b"fail preload a preloaded module started a thread"
    return message


def _preload_pytest(path: str) -> bool:
    """Import pytest and the plugins a run loads, from ``path``; False when pytest is not there."""
    saved = list(sys.path)
    sys.path.append(path)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        if importlib.machinery.PathFinder.find_spec("pytest", [path]) is None:
            return False
        import _pytest.config
        import pytest  # noqa: F401 - imported for the workers forked from here

        for name in [f"_pytest.{plugin}" for plugin in _pytest.config.default_plugins] + list(PYTEST_EXTRAS):
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
        return True
    finally:
        sys.path[:] = saved  # a case's worker imports from the standard library only, as in run mode
        os.environ.clear()


def _zygote(ctl: socket.socket, setup: dict[str, Any]) -> None:
    """Keep one fresh worker waiting; when it ends, clean up, report, fork the next. Never returns."""
    try:
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)  # no worker ever starts holding the request or the result channel
        os.close(null)
        os.dup2(2, 1)
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        send, limits = ctl.send, setup["limits"]
        env = {name: PROXY_URL for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")
               } if setup["net"] else {}
        message = _prepare({**setup, "ctl": ctl.fileno()})
        send(message)
        if not message.startswith(b"ready"):
            return
        _FREEZE()  # workers' collections then leave the zygote's objects (and pages) alone
        while True:
            pid = _FORK()
            if pid == 0:
                _worker(ctl, limits, env)
            send(b"pid %d" % pid)
            _, wait_status, usage = _WAIT4(pid, 0)
            try:
                _KILL(-1, _SIGKILL)  # every leftover process; spares pid 1 (main) and us
            except _OSERROR:
                pass  # nothing left to kill
            while True:
                try:
                    _WAITPID(-1, 0)
                except _NOCHILD:
                    break
            send(b"done %d %.3f" % (wait_status, usage.ru_utime + usage.ru_stime))
    finally:
        _EXIT(0)


# ── main ─────────────────────────────────────────────────────────────────────────────────────


class Main:
    """pid 1: owns the request, the nonce and the result channel."""

    def __init__(self, setup: dict[str, Any]) -> None:
        self.ctl, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            self.ctl.close()
            _zygote(theirs, setup)
        theirs.close()
        self.zygote = pid
        self.setup = setup
        self.nonce = ""
        self.limit_kb = 0
        self.budget = 0
        self.pytest = False

    def emit(self, body: dict[str, Any]) -> None:
        _write_all(1, f"{self.nonce} {json.dumps(body, allow_nan=False)}\n".encode())

    def ready(self) -> dict[str, Any] | None:
        """None when the zygote is ready, else the refusal to report (``refused``, ``by``)."""
        message = self.ctl.recv(4096).decode("utf-8", "replace")
        if message in ("ready", "ready nopytest"):
            self.pytest = message == "ready"
            _wipe(SCRATCH)  # whatever importing the tool left there
            return None
        _, by, reason = (message.split(" ", 2) + ["", ""])[:3] if message else ("", "zygote", "it died")
        return {"refused": reason or "unknown", "by": by or "zygote"}

    def job(self, job: dict[str, Any], wall: float, files: int,
            early: Callable[[bytes], bool] | None = None) -> tuple[bytes | None, int, float, str]:
        """Run one job in the waiting worker: (result bytes or None if too large, wait status, cpu, why killed).

        ``early`` gets the complete result as soon as it is in, before the worker has exited; when it
        returns True (it reported the result), the cleanup that follows is off the caller's path.
        """
        worker = self._next_worker(wall)
        data = json.dumps(job).encode()
        pending = memoryview(len(data).to_bytes(8, "big") + data)
        job_r, job_w = os.pipe()
        result_r, result_w = os.pipe()
        os.set_blocking(job_w, False)
        os.set_blocking(result_r, False)
        try:
            with contextlib.suppress(BlockingIOError):  # most jobs fit the pipe: in before the worker wakes
                pending = pending[os.write(job_w, pending):]
            socket.send_fds(self.ctl, [b"g"], [job_r, result_w])
        finally:
            os.close(job_r)
            os.close(result_w)
        poll = select.poll()
        poll.register(job_w, select.POLLOUT)
        poll.register(result_r, select.POLLIN)
        poll.register(self.ctl.fileno(), select.POLLIN)
        got, too_big, done, why, answered = bytearray(), False, "", "", False
        deadline = time.monotonic() + wall
        tick = time.monotonic() + TICK_SECONDS
        while not done:
            now = time.monotonic()
            if now >= deadline:
                if why:
                    raise SystemExit(UNTOUCHED if answered else 3)  # the zygote hangs: the host replaces us
                why, deadline = "wall", now + GRACE_SECONDS
                _kill(worker)
            elif now >= tick:
                tick = now + TICK_SECONDS
                if not why and _files_used() > files:
                    why, deadline = "files", now + GRACE_SECONDS
                    _kill(worker)
            for fd, _event in poll.poll(max(0.0, min(deadline, tick) - now) * 1000):
                if fd == job_w:
                    try:
                        pending = pending[os.write(job_w, pending):]
                    except BrokenPipeError:
                        pending = pending[:0]
                    if not pending:
                        poll.unregister(job_w)
                        os.close(job_w)
                        job_w = -1
                elif fd == result_r:
                    too_big, ended = self._drain(result_r, got, too_big)
                    if ended:  # the worker closed it (it exited): a hung-up pipe would wake every poll from now on
                        poll.unregister(result_r)
                    if early is not None and not too_big and _complete(got) and early(bytes(got[8:])):
                        early, answered = None, True
                        deadline = time.monotonic() + GRACE_SECONDS  # it only has to exit now
                else:
                    message = self.ctl.recv(64)
                    if not message:
                        raise SystemExit(UNTOUCHED if answered else 3)  # the zygote died: stop
                    done = message.decode()
        too_big, _ = self._drain(result_r, got, too_big)
        for fd in (job_w, result_r):
            if fd >= 0:
                os.close(fd)
        _wipe(SCRATCH)  # here, not in the zygote: file names the tool chose must not reach the next worker
        if _LISTDIR(SCRATCH):
            raise SystemExit(3)  # a scratch dir that cannot be emptied must not reach the next worker
        _, wait_status, cpu = done.split()
        payload = bytes(got[8:]) if _complete(got) else b""
        return (None if too_big else payload), int(wait_status), float(cpu), why

    def _next_worker(self, wall: float) -> int:
        """The pid of the worker the zygote has ready (it announces each one as ``pid N``)."""
        ready, _, _ = select.select([self.ctl], [], [], wall)
        message = self.ctl.recv(64) if ready else b""
        if not message.startswith(b"pid "):
            raise SystemExit(UNTOUCHED)  # the zygote died or hangs before this job reached any worker
        return int(message[4:])

    def _drain(self, fd: int, got: bytearray, too_big: bool) -> tuple[bool, bool]:
        """Read what the result pipe holds: (too big for the budget, at its end)."""
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                return too_big, False
            if not chunk:
                return too_big, True
            if not too_big and len(got) + len(chunk) <= self.budget:
                got += chunk
            else:
                too_big = True
                got.clear()

    def call(self, function: str, args: Any, limits: dict[str, Any], tag: dict[str, Any]) -> None:
        """One case in a fresh worker; emit its result (with ``tag``) as soon as it is known."""

        emitted = False

        def early(payload: bytes) -> bool:
            nonlocal emitted
            kept = self.accept(payload)
            if kept is not None:
                self.emit({**tag, **kept})
                emitted = True
            return emitted

        job = {"kind": "call", "function": function, "args": args}
        # serve mode answers as soon as the result is in; run mode after the worker is gone, so a case
        # that kills the zygote is reported as missing rather than answered
        payload, wait_status, cpu, why = self.job(job, float(limits["wall_seconds"]), max_files(limits),
                                                  early if self.setup["serve"] else None)
        if emitted:
            return
        if why == "wall":
            self.emit({**tag, **_error("Timeout", f"exceeded the wall-clock limit of {limits['wall_seconds']}s"),
                       "wall": True})
        elif why == "files":
            self.emit({**tag, **_error("TooManyFiles",
                                       f"created more than {max_files(limits)} files in the scratch dir")})
        else:
            self.emit({**tag, **self.outcome(payload, wait_status, cpu, int(limits["cpu_seconds"]))})

    def accept(self, payload: bytes) -> dict[str, Any] | None:
        """What to report for a complete answer: the worker's result if well-formed (charged to the
        output budget) or TooLarge beyond the budget; None when it is not a well-formed answer."""
        try:
            body = json.loads(payload, parse_constant=_reject)
        except (ValueError, RecursionError):
            return None
        if not _well_formed(body):
            return None
        if body["ok"]:
            kept = {"ok": True, "value": body["value"]}
        else:
            kept = _error(body["error_type"][:200], body["error_message"][:500])
        size = len(json.dumps(kept))
        if size > self.budget:
            return _error("TooLarge", f"the results exceed the {self.limit_kb} KiB output budget")
        self.budget -= size
        return kept

    def outcome(self, payload: bytes | None, wait_status: int, cpu: float, cpu_limit: int) -> dict[str, Any]:
        """The case's result as main reports it: the worker's answer if well-formed, else why not."""
        if payload is None:
            return _error("TooLarge", f"the results exceed the {self.limit_kb} KiB output budget")
        kept = self.accept(payload) if payload else None
        if kept is not None:
            return kept
        if os.WIFSIGNALED(wait_status):
            sig = os.WTERMSIG(wait_status)
            if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= cpu_limit):
                return _error("Timeout", f"used more than the CPU limit of {cpu_limit}s")
            return _error("Crashed", f"killed by signal {signal.Signals(sig).name}")
        code = os.waitstatus_to_exitcode(wait_status)
        return _error("Crashed", f"exited with status {code} without returning a result")

    def run(self) -> int:
        """Run mode: one request, its cases (or pytest), then exit."""
        request = json.loads(sys.stdin.buffer.read())
        self.nonce = request["nonce"]
        limits = request["limits"]
        self.limit_kb = int(limits["output_kb"])
        self.budget = self.limit_kb * 1024
        refused = self.ready()
        if refused is not None:
            self.emit(refused)
            return 0
        if request["mode"] == "pytest":
            if importlib.machinery.PathFinder.find_spec("pytest", [request["pytest_path"]]) is None:
                self.emit({"pytest": "missing"})
                return 0
            self._run_pytest(request["pytest_path"], limits, {})
            return 0
        for args in request["cases"]:
            self.call(request["function"], args, limits, {})
        return 0

    def _run_pytest(self, path: str, limits: dict[str, Any], tag: dict[str, Any]) -> None:
        job = {"kind": "pytest", "pytest_path": path}
        _, wait_status, _, why = self.job(job, float(limits["wall_seconds"]), max_files(limits))
        if why == "files":
            self.emit({**tag, "signal": signal.SIGKILL, "why": "files"})
        elif os.WIFSIGNALED(wait_status):
            self.emit({**tag, "signal": os.WTERMSIG(wait_status)})
        else:
            self.emit({**tag, "exit_code": os.waitstatus_to_exitcode(wait_status)})

    def serve(self) -> int:
        """Serve mode: a setup line, then one call per line until stdin closes."""
        stdin = sys.stdin.buffer
        setup = json.loads(stdin.readline())
        self.nonce = setup["nonce"]
        function, limits = setup["function"], self.setup["limits"]
        self.limit_kb = int(limits["output_kb"])
        refused = self.ready()
        self.emit(refused or {"ready": True})
        if refused is not None:
            return 0
        for line in stdin:
            request = json.loads(line)
            self.budget = self.limit_kb * 1024
            self.call(function, request["args"], limits, {"id": request["id"]})
        return 0

    def validate(self) -> int:
        """Validate mode: a setup line, then one job per line — the cases of one candidate, or its pytest
        run — each answered by its lines (``{"id": N, ...}``) and an end line ``{"id": N, "end": true}``.
        The host places each job's candidate under /tool (read-only here) before it sends the job."""
        stdin = sys.stdin.buffer
        self.nonce = json.loads(stdin.readline())["nonce"]
        limits = self.setup["limits"]
        self.limit_kb = int(limits["output_kb"])
        refused = self.ready()
        self.emit(refused or {"ready": True, "pytest": self.pytest})
        if refused is not None:
            return 0
        for line in stdin:
            request = json.loads(line)
            tag = {"id": request["id"]}
            self.budget = self.limit_kb * 1024
            if request["kind"] == "pytest":
                if self.pytest:
                    self._run_pytest(self.setup["test_path"], limits, tag)
                else:
                    self.emit({**tag, "pytest": "missing"})
            else:
                for args in request["cases"]:
                    self.call(request["function"], args, limits, tag)
            self.emit({**tag, "end": True})
        return UNTOUCHED


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _complete(got: bytearray) -> bool:
    """True when ``got`` holds a whole length-prefixed answer (and nothing after it)."""
    return len(got) >= 8 and len(got) == 8 + int.from_bytes(got[:8], "big")


def _files_used() -> int:
    st = os.statvfs(SCRATCH)
    return st.f_files - st.f_ffree


def _reject(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error_type": kind, "error_message": message}


def _well_formed(body: Any) -> bool:
    if type(body) is not dict or type(body.get("ok")) is not bool:
        return False
    if body["ok"]:
        return "value" in body
    return type(body.get("error_type")) is str and type(body.get("error_message")) is str


def _egress() -> None:
    """Serve 127.0.0.1:3128 → the host's egress proxy from threads of main (a failure means no network)."""
    try:
        _sibling("_toolfoundry_netfwd", NETFWD).serve(EGRESS, "127.0.0.1", PROXY_PORT)
    except OSError as exc:
        sys.stderr.write(f"toolfoundry: no network for this tool: the egress forwarder failed: {exc}\n")


def main() -> int:
    if os.getpid() != 1:  # kill(-1) in the zygote must only ever reach a private pid namespace
        sys.stderr.write("runner.py runs only as pid 1 of its own pid namespace (bwrap --as-pid-1)\n")
        return 2
    os.environ.clear()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _prctl(PR_SET_DUMPABLE, 0)  # no one in here may open /proc/1/mem or /proc/1/fd/*
    setup = json.loads(sys.argv[1])
    box = Main(setup)  # forks the zygote: nothing below reaches it or any worker
    if setup["net"] and os.path.exists(EGRESS):
        _egress()
    if setup.get("validate"):
        return box.validate()
    return box.serve() if setup["serve"] else box.run()


if __name__ == "__main__":
    sys.exit(main())
