"""The trusted harness that runs *inside* the sandbox, as ``python -I -S -X utf8 -B runner.py``.

Self-contained and stdlib-only: it never imports toolfoundry (the package is not in the sandbox).
It owns the in-sandbox half of the protocol; the host half is ``protocol.py``.

Three roles, one file:

* **main** (pid 1 of the sandbox, thanks to ``bwrap --as-pid-1``, so code inside cannot signal it):
  forks the zygote *before* reading anything, then reads the request ``{"nonce", "mode", "function",
  "cases", "limits", "pytest_path"}`` as JSON on stdin, hands one job at a time to a fresh worker,
  and writes exactly one line per job to stdout: ``<nonce> <json>``. Only main writes stdout.
* **zygote**: forked before the request was read, so its memory holds neither the nonce nor any
  case, and it never reads anything a tool wrote. For each job it forks a worker, waits for it,
  SIGKILLs every leftover process (``kill(-1)`` spares only pid 1 and itself), reaps them (it is
  the child subreaper), and reports the worker's wait status and CPU time to main, which then wipes
  the scratch dir before the next job.
* **worker**: reads its one job, points stdout at stderr (tool prints never reach the result
  channel), empties the environment, applies the rlimits, then imports ``/tool/tool.py`` and calls
  the function (or runs pytest), and sends the outcome back on a private pipe.

So a worker sees only its own case: it cannot learn the nonce, the other cases' inputs, or what an
earlier case left in the scratch dir.
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
import sys
from typing import Any

TOOL = "/tool/tool.py"
TESTS = "/tool/test_tool.py"
SCRATCH = "/tmp"  # noqa: S108 - the sandbox's private tmpfs
WORK = "/tmp/work"  # noqa: S108 - inside that tmpfs
MIB = 1 << 20
NOFILE = 256
MAX_DEPTH = 200
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36


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


def _apply_limits(limits: dict[str, Any]) -> None:
    cpu = int(limits["cpu_seconds"])
    _limit(resource.RLIMIT_CPU, cpu, cpu + 1)
    _limit(resource.RLIMIT_AS, int(limits["memory_mb"]) * MIB)
    _limit(resource.RLIMIT_NPROC, int(limits["processes"]))
    _limit(resource.RLIMIT_FSIZE, int(limits["file_mb"]) * MIB)
    _limit(resource.RLIMIT_NOFILE, NOFILE)
    _limit(resource.RLIMIT_CORE, 0)


def _import_tool() -> Any:
    spec = importlib.util.spec_from_file_location("tool", TOOL)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {TOOL}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["tool"] = module
    spec.loader.exec_module(module)
    return module


def _call(job: dict[str, Any]) -> bytes:
    me = os.getpid()
    try:
        value = getattr(_import_tool(), job["function"])(**job["args"])
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
    import pytest  # only the pytest worker needs it

    args = ["-q", "-rfE", "-p", "no:cacheprovider", f"--rootdir={WORK}", "test_tool.py"]
    return int(pytest.main(args))


def _worker(go: int, status: int, job_fd: int, result_fd: int) -> None:
    """One job, then exit. Never returns."""
    code = 70
    try:
        os.close(go)
        os.close(status)
        size = int.from_bytes(_read_exactly(job_fd, 8), "big")
        job = json.loads(_read_exactly(job_fd, size))
        os.close(job_fd)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)  # the tool's prints go to stderr; stdout (the result channel) belongs to main
        os.environ.clear()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.dont_write_bytecode = True
        _apply_limits(job["limits"])
        if job["kind"] == "call":
            payload = _call(job)
            _flush()
            _write_all(result_fd, payload)
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


def _zygote(go: int, job_fd: int, result_fd: int, status: int) -> None:
    """Fork one worker per byte on ``go``; report each one's wait status. Never returns."""
    try:
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)  # no worker ever starts holding the request or the result channel
        os.close(null)
        os.dup2(2, 1)
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        gc.freeze()  # workers' collections then leave the zygote's objects (and pages) alone
        while os.read(go, 1):
            pid = os.fork()
            if pid == 0:
                _worker(go, status, job_fd, result_fd)
            _, wait_status, usage = os.wait4(pid, 0)
            with contextlib.suppress(ProcessLookupError):
                os.kill(-1, signal.SIGKILL)  # every leftover process; spares pid 1 (main) and us
            while True:
                try:
                    os.waitpid(-1, 0)
                except ChildProcessError:
                    break
            cpu = usage.ru_utime + usage.ru_stime
            _write_all(status, f"{wait_status} {cpu:.3f}\n".encode())
    finally:
        os._exit(0)


# ── main ─────────────────────────────────────────────────────────────────────────────────────


class Main:
    """pid 1: owns the request, the nonce and the result channel."""

    def __init__(self) -> None:
        go_r, self.go = os.pipe()
        job_r, self.jobs = os.pipe()
        self.result, result_w = os.pipe()
        self.status, status_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            for fd in (self.go, self.jobs, self.result, self.status):
                os.close(fd)
            _zygote(go_r, job_r, result_w, status_w)
        self.zygote = pid
        for fd in (go_r, job_r, result_w, status_w):
            os.close(fd)
        os.set_blocking(self.result, False)
        self.nonce = ""
        self.limit_kb = 0
        self.budget = 0

    def emit(self, body: dict[str, Any]) -> None:
        _write_all(1, f"{self.nonce} {json.dumps(body, allow_nan=False)}\n".encode())

    def job(self, job: dict[str, Any]) -> tuple[bytes | None, int, float]:
        """Run one job in a fresh worker: (its result bytes or None if too large, wait status, cpu)."""
        data = json.dumps(job).encode()
        _write_all(self.go, b"g")
        _write_all(self.jobs, len(data).to_bytes(8, "big") + data)
        poll = select.poll()
        poll.register(self.result, select.POLLIN)
        poll.register(self.status, select.POLLIN)
        got = bytearray()
        too_big = False
        line = b""
        while not line.endswith(b"\n"):
            for fd, _ in poll.poll():
                if fd == self.status:
                    chunk = os.read(self.status, 64)
                    if not chunk:
                        raise SystemExit(3)  # the zygote died: stop; the host sees missing results
                    line += chunk
                else:
                    too_big = self._drain(got, too_big)
        too_big = self._drain(got, too_big)
        _wipe(SCRATCH)  # here, not in the zygote: file names the tool chose must not reach the next worker
        wait_status, cpu = line.split()
        return (None if too_big else bytes(got)), int(wait_status), float(cpu)

    def _drain(self, got: bytearray, too_big: bool) -> bool:
        while True:
            try:
                chunk = os.read(self.result, 1 << 16)
            except BlockingIOError:
                return too_big
            if not chunk:
                return too_big
            if not too_big and len(got) + len(chunk) <= self.budget:
                got += chunk
            else:
                too_big = True
                got.clear()

    def outcome(self, payload: bytes | None, wait_status: int, cpu: float, cpu_limit: int) -> dict[str, Any]:
        """The case's result as main reports it: the worker's answer if well-formed, else why not."""
        if payload is None:
            return _error("TooLarge", f"the results exceed the {self.limit_kb} KiB output budget")
        if payload:
            try:
                body = json.loads(payload, parse_constant=_reject)
            except (ValueError, RecursionError):
                body = None
            if _well_formed(body):
                if body["ok"]:
                    kept = {"ok": True, "value": body["value"]}
                else:
                    kept = _error(body["error_type"][:200], body["error_message"][:500])
                size = len(json.dumps(kept))
                if size > self.budget:
                    return _error("TooLarge", f"the results exceed the {self.limit_kb} KiB output budget")
                self.budget -= size
                return kept
        if os.WIFSIGNALED(wait_status):
            sig = os.WTERMSIG(wait_status)
            if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= cpu_limit):
                return _error("Timeout", f"used more than the CPU limit of {cpu_limit}s")
            return _error("Crashed", f"killed by signal {signal.Signals(sig).name}")
        code = os.waitstatus_to_exitcode(wait_status)
        return _error("Crashed", f"exited with status {code} without returning a result")

    def run(self) -> int:
        request = json.loads(sys.stdin.buffer.read())
        self.nonce = request["nonce"]
        limits = request["limits"]
        self.limit_kb = int(limits["output_kb"])
        self.budget = self.limit_kb * 1024
        if request["mode"] == "pytest":
            path = request["pytest_path"]
            if importlib.machinery.PathFinder.find_spec("pytest", [path]) is None:
                self.emit({"pytest": "missing"})
                return 0
            _, wait_status, _ = self.job({"kind": "pytest", "pytest_path": path, "limits": limits})
            if os.WIFSIGNALED(wait_status):
                self.emit({"signal": os.WTERMSIG(wait_status)})
            else:
                self.emit({"exit_code": os.waitstatus_to_exitcode(wait_status)})
            return 0
        for args in request["cases"]:
            job = {"kind": "call", "function": request["function"], "args": args, "limits": limits}
            payload, wait_status, cpu = self.job(job)
            self.emit(self.outcome(payload, wait_status, cpu, int(limits["cpu_seconds"])))
        return 0


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


def main() -> int:
    os.environ.clear()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _prctl(PR_SET_DUMPABLE, 0)  # no one in here may open /proc/1/mem or /proc/1/fd/*
    return Main().run()


if __name__ == "__main__":
    sys.exit(main())
