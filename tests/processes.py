"""Several toolfoundry processes on one home, for the tests that need them: CLI commands left running, workers.

``spawn`` starts ``python -m toolfoundry ARGS`` like ``conftest.run_cli`` but without waiting;
``Worker`` runs ``toolfoundry worker`` until the test ends (waiting until it says it is up, and stopping it
with SIGTERM, or SIGKILL when asked); ``wait_for`` polls a condition with a deadline and says what it
waited for when it times out. Nothing here asserts timings: deadlines are generous bounds on a shared
two-core machine, never measurements.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent


def slow_tool(root: Path, seconds: int) -> Path:
    """``root/echo``: a tool whose pytest test sleeps ``seconds``, so its request stays in the tests stage that long."""
    tool = root / "echo"
    tool.mkdir(parents=True, exist_ok=True)
    (tool / "tool.py").write_text('"""Echo text, slowly tested."""\n\n\ndef echo(text: str) -> str:\n'
                                  '    """The text, unchanged."""\n    return text\n', encoding="utf-8")
    (tool / "test_tool.py").write_text(f"import time\n\nfrom tool import echo\n\n\ndef test_echo_slowly():\n"
                                       f"    time.sleep({seconds})\n    assert echo(\"a\") == \"a\"\n", encoding="utf-8")
    (tool / "examples.json").write_text('[{"args": {"text": "x"}, "expect": "x"}]', encoding="utf-8")
    return tool


def cli_env(home: Path, user: str = "tester", env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a CLI process of ``home`` gets (none of the caller's TOOLFOUNDRY_ settings)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("TOOLFOUNDRY_")}
    full["TOOLFOUNDRY_USER"] = user
    full["TOOLFOUNDRY_HOME"] = str(home)
    full.update(env or {})
    return full


def spawn(home: Path, *args: str, env: dict[str, str] | None = None, user: str = "tester",
          stderr: IO[Any] | int = subprocess.PIPE) -> subprocess.Popen[str]:
    """``python -m toolfoundry ARGS`` started in the background (stdout and, unless given, stderr piped)."""
    return subprocess.Popen([sys.executable, "-m", "toolfoundry", *args], stdout=subprocess.PIPE, stderr=stderr,
                            text=True, env=cli_env(home, user, env), cwd=REPO)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 120.0, every: float = 0.1) -> Any:
    """``condition()``'s first truthy value, polled until ``timeout``; AssertionError naming ``what`` after."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


class Worker:
    """A ``toolfoundry worker`` process of one home, its stderr in a file."""

    def __init__(self, home: Path, log: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.log = log
        self._err = open(log, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        self.proc = spawn(home, "worker", *args, env=env, stderr=self._err)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_up(self, timeout: float = 120.0) -> str:
        """Wait until the worker says it runs; return its executor id."""
        def up() -> str | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"the worker exited with {self.proc.returncode}:\n{self.output()}")
            for line in self.output().splitlines():
                if line.startswith("toolfoundry worker "):
                    return line.split()[2]
            return None
        executor: str = wait_for(up, "the worker to start", timeout)
        return executor

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Stop it with ``sig`` and return its exit status (SIGKILL if it does not stop in time)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self._err.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


@contextlib.contextmanager
def workers(home: Path, log_dir: Path, n: int = 1, *args: str,
            env: dict[str, str] | None = None) -> Iterator[list[Worker]]:
    """``n`` running workers of ``home`` for the body (each up before it starts), stopped after it."""
    started = [Worker(home, log_dir / f"worker-{i}.log", *args, env=env) for i in range(n)]
    try:
        for w in started:
            w.wait_up()
        yield started
    finally:
        for w in started:
            w.stop()


def audit_events(home: Path, request_id: str | None = None, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The home's audit events (of one request), as `audit log --json` prints them."""
    args = ["audit", "log", "--json", *(["--request", request_id] if request_id else [])]
    proc = subprocess.run([sys.executable, "-m", "toolfoundry", *args], capture_output=True, text=True,
                          env=cli_env(home, env=env), cwd=REPO, timeout=120, check=True)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def duplicated_keys(events: list[dict[str, Any]]) -> list[str]:
    """Audit keys that appear more than once (there must be none)."""
    counts = Counter(e.get("key") for e in events if e.get("key"))
    return [k for k, n in counts.items() if n > 1]


def merges_of(repo: Path, request_id: str) -> int:
    """How many merge commits on ``main`` of ``repo`` carry ``Foundry-Request: <request_id>``."""
    out = subprocess.run(["git", "-C", str(repo), "log", "main", "--merges", "--format=%B%x00"],
                         capture_output=True, text=True, check=True).stdout
    return sum(1 for body in out.split("\x00") if f"Foundry-Request: {request_id}" in body.splitlines())


def children(pid: int) -> list[str]:
    """The command names of ``pid``'s direct children (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                with contextlib.suppress(OSError):
                    found.append(Path(f"/proc/{child}/comm").read_text().strip())
    return found


def stop_process(proc: subprocess.Popen[str]) -> None:
    """Make sure ``proc`` is gone (SIGCONT first, in case a test stopped it)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        proc.wait(30)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
