"""Warm validation: candidates' pytest runs and example cases in sandboxes that are already up.

Owns :class:`WarmSandbox` — one bwrap jail with every layer of a cold run, whose runner stays up in
*validate* mode (``runner.py``): before any candidate exists, its zygote imports pytest (a *pytest*
sandbox) or only trusted standard-library modules (a *cases* sandbox); then every job brings its
candidate's files and runs in a worker freshly forked from that zygote. Which job goes to which warm
sandbox, replacing a broken one and reaping idle ones, is ``validation.py``'s
:class:`~toolfoundry.sandbox.validation.WarmValidation`.

What a candidate shares with the next one in the same sandbox, and what it does not:

* **never** a process: candidate code runs only in its job's workers, each forked from a zygote that no
  candidate code ever ran in; when a worker ends, the zygote SIGKILLs every other process (``kill(-1)``)
  and reaps them all before it forks the next worker, so nothing a candidate started is alive when the
  next one begins. Module state, patched builtins and imported modules live in the worker's own
  copy-on-write memory and die with it.
* **never** a file: the host places a job's candidate (``tool.py``, ``test_tool.py``) in the directory
  bound read-only at ``/tool`` just before the job and removes it when the job ends, so a candidate sees
  exactly what a cold run shows it; main wipes the scratch dir after every worker and stops the sandbox if
  anything is left.
* **never** a file descriptor: the zygote closes every fd but its channel to main before it forks;
  each job's input and result travel over pipes made for that job.
* **shared** are the kernel counters of the namespaces the jail was started with — the next pid, the
  tmpfs's next inode number, the zygote's accumulated child CPU time. A candidate could use them to
  signal to a later one in the same sandbox; such a covert channel needs a colluding sender and carries
  only what the sender saw. The one secret that ever enters a sandbox is a held-out example's input,
  so a run that carries held-out examples (``fresh=True``) gets a sandbox that no run used before and
  none uses after: closed after its one job, like a cold run.

Tools with network hosts are not run here: ``bwrap.py`` runs them cold, each with its own egress proxy.
The verdict is not judged here (``stages/oracle.py``, on the host), as in a cold run.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Callable
from typing import Any

from toolfoundry.core import JSON, Permissions
from toolfoundry.errors import SandboxUnavailable
from toolfoundry.sandbox import protocol
from toolfoundry.sandbox.channel import Channel
from toolfoundry.sandbox.launcher import ERROR_LINE_MAX, TAIL_CHARS, Capture, Jailed, Launch, spawn
from toolfoundry.sandbox.staging import write
from toolfoundry.sandbox.types import CaseResult, Limits, RunReport, TestReport

PRELOAD = ("base64", "bisect", "collections", "copy", "csv", "dataclasses", "datetime", "decimal", "enum",
           "fractions", "functools", "hashlib", "heapq", "io", "itertools", "json", "math", "operator", "re",
           "statistics", "string", "textwrap", "typing", "unicodedata")
"""Standard-library modules a warm zygote imports before any job (what small tools import most): trusted
code, imported once instead of in every worker."""
START_SECONDS = 30.0
"""How long a warm sandbox may take to become ready (its zygote imports pytest) before it counts as broken."""
MISSING_PYTEST = ("pytest is not importable by the sandbox interpreter from {path}: apt-get install "
                  "python3-pytest (or set [sandbox] pytest_path)")

Prepare = Callable[..., contextlib.AbstractContextManager[Launch]]
"""``bwrap.prepared`` bound to one checked sandbox: stages the harness and builds the jail's argv."""
Starter = Callable[[Callable[[], Jailed]], Jailed]
"""Runs a spawn in the thread that owns the sandboxes (bwrap's --die-with-parent follows that thread)."""


class WarmSandbox:
    """One jail in validate mode. Not thread-safe: :class:`WarmValidation` lends it to one caller at a time."""

    def __init__(self, prepare: Prepare, *, limits: Limits, pytest: bool, starter: Starter) -> None:
        self.limits = limits
        self.pytest = pytest
        self.broken = False
        self.jobs = 0
        self.last_used = time.monotonic()
        self.has_pytest = False
        self._next_id = 0
        nonce = secrets.token_hex(16)
        self._stack = contextlib.ExitStack()
        try:
            start = self._stack.enter_context(prepare({}, permissions=Permissions(), limits=limits, serve=False,
                                                      validate=True, pytest=pytest, preload=PRELOAD))
            jailed = starter(lambda: spawn(start.argv, user=start.user, pass_fds=start.pass_fds))
        except BaseException:
            self._stack.close()
            raise
        self._tool_dir = start.tool_dir
        self._channel = Channel(jailed, nonce=nonce, line_max=limits.output_kb * 1024 + ERROR_LINE_MAX,
                                first=json.dumps({"nonce": nonce}).encode() + b"\n")

    @property
    def init_pid(self) -> int | None:
        """The host pid of this sandbox's pid 1 (the runner)."""
        return self._channel.init_pid

    def start(self) -> None:
        """Wait until the zygote is ready; SandboxUnavailable (and closed) if it refused or never became ready."""
        stderr = Capture(4096, 4096)
        problems: list[str] = []
        body = self._channel.exchange(b"", stderr, problems, max(self.limits.wall_seconds, START_SECONDS))
        if body is None or body.get("ready") is not True:
            self.close()
            if body is not None and "refused" in body:
                raise SandboxUnavailable(f"the sandbox could not apply {body.get('by')}: {body['refused']}")
            said = stderr.text().strip().splitlines()
            raise SandboxUnavailable("a warm validation sandbox did not start ("
                                     + "; ".join(problems + said[-1:] or ["no answer in time"]) + ")")
        self.has_pytest = body.get("pytest") is True

    def alive(self) -> bool:
        """Usable for another job: not broken, and its bwrap still running."""
        return not self.broken and self._channel.exit_status() is None

    def cases(self, *, code: str, function: str, cases: list[dict[str, JSON]]) -> tuple[RunReport, bool]:
        """Call ``function`` once per args dict, each in a fresh worker: the report, and whether the
        sandbox died before the job reached any worker (so it may run elsewhere)."""
        start = time.perf_counter()
        bodies, stderr, problems, timed_out = self._job({"kind": "cases", "function": function, "cases": cases},
                                                        {"tool.py": code})
        results: list[CaseResult] = []
        for number, body in enumerate(bodies, start=1):
            result = protocol.case_result(body)
            if result is None:
                problems.append(f"result line {number} is not a case result; ignoring it and the rest")
                self.broken = True
                break
            if len(results) == len(cases):
                problems.append(f"the runner sent more than the {len(cases)} results asked for")
                self.broken = True
                break
            results.append(result)
        if len(results) < len(cases):
            problems.append(f"got {len(results)} of {len(cases)} results")
        retry = self._retryable(bodies, timed_out)
        self._truncated(stderr, problems)
        return RunReport(cases=tuple(results), exit_code=self._exit_code(), timed_out=timed_out,
                         stdout_tail=stderr.text()[-TAIL_CHARS:], ms=(time.perf_counter() - start) * 1000,
                         problems=tuple(problems)), retry

    def run_pytest(self, *, code: str, tests: str, pytest_path: str) -> tuple[TestReport, bool]:
        """``tests`` as test_tool.py beside ``code`` as tool.py, in a fresh worker: the report, and whether it may
        run elsewhere (as for :meth:`cases`)."""
        if not self.has_pytest:
            raise SandboxUnavailable(MISSING_PYTEST.format(path=pytest_path))
        start = time.perf_counter()
        bodies, stderr, problems, timed_out = self._job({"kind": "pytest"}, {"tool.py": code, "test_tool.py": tests})
        body = bodies[0] if bodies else {}
        if body.get("pytest") == "missing":
            raise SandboxUnavailable(MISSING_PYTEST.format(path=pytest_path))
        exit_code = body.get("exit_code")
        if type(body.get("signal")) is int:
            exit_code = -body["signal"]
        output = stderr.text()
        passed, failed, failures = protocol.pytest_summary(stderr.tail.decode("utf-8", "replace")
                                                           if stderr.truncated else output)
        report = TestReport(ran=True, exit_code=exit_code if type(exit_code) is int else None, passed=passed,
                            failed=failed, failures=failures, output_tail=output[-TAIL_CHARS:],
                            timed_out=timed_out, ms=(time.perf_counter() - start) * 1000)
        return report, self._retryable(bodies, timed_out)

    def close(self) -> None:
        """Kill the sandbox (its pid 1 first) and remove its staged files."""
        self.broken = True
        self._channel.close()
        self._stack.close()

    # ── internals ────────────────────────────────────────────────────────────────────────────

    def _job(self, request: dict[str, Any], files: dict[str, str]) -> tuple[list[dict[str, Any]], Capture,
                                                                           list[str], bool]:
        """Place ``files`` under /tool, send one job and read its lines up to its end line, within the run's
        wall-clock limit, then remove them: the result bodies (without ``id``), the tool's output, the
        problems, and whether the deadline passed."""
        self._place(files)
        try:
            return self._exchange(request)
        finally:
            self._place({})

    def _place(self, files: dict[str, str]) -> None:
        """Make ``files`` the whole content of the host directory bound at /tool (read-only inside)."""
        for name in os.listdir(self._tool_dir):
            os.unlink(os.path.join(self._tool_dir, name))
        for name, text in files.items():
            write(os.path.join(self._tool_dir, name), text.encode("utf-8"))

    def _exchange(self, request: dict[str, Any]) -> tuple[list[dict[str, Any]], Capture, list[str], bool]:
        self._next_id += 1
        self.jobs += 1
        job = self._next_id
        half = self.limits.output_kb * 1024 // 2
        stderr = Capture(half, half)
        problems: list[str] = []
        bodies: list[dict[str, Any]] = []
        data = json.dumps({"id": job, **request}, allow_nan=False).encode() + b"\n"
        deadline = time.monotonic() + self.limits.wall_seconds
        timed_out = False
        while True:
            body = self._channel.exchange(data, stderr, problems, max(0.0, deadline - time.monotonic()))
            data = b""
            if body is None:
                self.broken, timed_out = True, not problems
                break
            if body.pop("id", None) != job:
                problems.append("a result line does not carry this job's id")
                self.broken = True
                break
            if body == {"end": True}:
                break
            if body.get("wall") is True:  # the run reached its wall-clock limit: it ends here, as a cold run does
                self.broken, timed_out = True, True
                break
            bodies.append(body)
        self.last_used = time.monotonic()
        return bodies, stderr, problems, timed_out

    def _retryable(self, bodies: list[dict[str, Any]], timed_out: bool) -> bool:
        """The sandbox died before this job reached a worker (the runner's exit status 75): nothing ran."""
        return self.broken and not bodies and not timed_out and self._channel.closed_untouched()

    def _exit_code(self) -> int | None:
        """0 for a job that ended normally in a live sandbox; else how the sandbox ended (it is closed)."""
        if not self.broken:
            return 0
        self.close()
        return self._channel.exit_status()

    def _truncated(self, stderr: Capture, problems: list[str]) -> None:
        if stderr.truncated:
            problems.append(f"output truncated: the tool wrote {stderr.total} bytes, more than the "
                            f"{self.limits.output_kb} KiB kept")
