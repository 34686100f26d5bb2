"""How fast `toolfoundry serve` starts and stops over stdio, as a host sees it (issue 17).

Each run spawns `python -m toolfoundry serve` on a fresh-enough home and writes `initialize` at once, then
`notifications/initialized` and `tools/list`. It times, from the spawn: the `initialize` reply (what a
host's connect waits for; answered before the MCP SDK is imported) and the `tools/list` reply (the SDK and
the foundry are up). Then, per row, it does some work and closes stdin, timing stdin close → process exit:

  idle                  nothing else
  after a tools/call    one sandboxed call of a deployed tool
  after propose_tool    a whole workflow ran (DBOS launched, then given back)
  propose_tool running  stdin closed while a workflow runs: the server leaves it to its durable workflow

It also counts the modules a start imports and says whether dbos, sqlalchemy, mypy or bandit are among them
before the first request that needs them (`python -X importtime`, one start).

    python bench/mcp_start.py [--runs 7] [--load N] [--write FILE] [--json]

The machine is shared: read medians, and the load average printed with them. The CPU time the server had
used when each reply arrived (from /proc) does not depend on the load: it is what the wall time would be
on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}}
ADD = '"""Add."""\n\n\ndef add(a: int, b: int = 1) -> int:\n    """Sum of a and b."""\n    return a + b\n'
SLOW_TESTS = "import time\n\nfrom tool import {name}\n\n\ndef test_it():\n    time.sleep(5)\n    assert {name}(1) == 2\n"
WATCH = ("dbos", "sqlalchemy", "psycopg", "mypy", "bandit", "mcp", "mcp_types", "uvicorn", "openai")


SRC = Path(__file__).resolve().parents[1] / "src"


def env_for(home: Path) -> dict[str, str]:
    """The server's environment: this checkout's toolfoundry (whatever is installed), on ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLFOUNDRY_")}
    env.update(TOOLFOUNDRY_HOME=str(home), TOOLFOUNDRY_USER="bench",
               PYTHONPATH=os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p))
    return env


class Server:
    """One `serve` over stdio, with a reader thread that hands each reply (by id) over as it comes."""

    def __init__(self, home: Path, extra: list[str] | None = None) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, *(extra or []), "-m", "toolfoundry", "serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env_for(home))
        self.replies: dict[object, tuple[float, dict[str, Any]]] = {}
        self.cpu: dict[object, float] = {}
        """CPU seconds the server had used when each reply arrived: what a quiet machine's wall time would be."""
        self.progress: list[str] = []
        self._cond = threading.Condition()
        self.stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain, daemon=True).start()  # -X importtime writes more than a pipe holds

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message = json.loads(line)
            with self._cond:
                if message.get("method") == "notifications/progress":
                    self.progress.append(message["params"].get("message", ""))
                elif "id" in message:
                    self.replies[message["id"]] = (time.perf_counter(), message)
                    self.cpu[message["id"]] = cpu_seconds(self.proc.pid)
                self._cond.notify_all()

    def send(self, *messages: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
        self.proc.stdin.flush()

    def wait_for(self, what: object, timeout: float = 300) -> tuple[float, dict[str, Any]]:
        """The reply with id ``what`` (or the first progress line, for ``"progress"``): (ms since spawn, it)."""
        def arrived() -> bool:
            return (what in self.replies) if what != "progress" else bool(self.progress)

        with self._cond:  # woken by each message; checks every second whether the server died instead
            end = time.monotonic() + timeout
            while not arrived() and self.proc.poll() is None and time.monotonic() < end:
                self._cond.wait(1.0)
            ok = arrived()
        if not ok:
            why = f"it exited with {self.proc.returncode}" if self.proc.poll() is not None else f"in {timeout} s"
            raise RuntimeError(f"no {what!r} from the server ({why}): {self._stderr()}")
        if what == "progress":
            return 0.0, {"message": self.progress[0]}
        at, reply = self.replies[what]
        return (at - self.started) * 1000, reply

    def close(self) -> tuple[float, int]:
        """Close stdin; (ms until the process exited, its exit code)."""
        assert self.proc.stdin is not None
        closed = time.perf_counter()
        self.proc.stdin.close()
        code = self.proc.wait(timeout=120)
        ms = (time.perf_counter() - closed) * 1000
        return ms, code

    def _stderr(self) -> str:
        return b"".join(self.stderr).decode(errors="replace")[-2000:]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def propose(name: str, *, slow: bool) -> dict[str, Any]:
    code = f'"""Twice."""\n\n\ndef {name}(x: int) -> int:\n    """Twice x."""\n    return 2 * x\n'
    args: dict[str, Any] = {"code": code, "examples": [{"args": {"x": 4}, "expect": 8}]}
    if slow:
        args["tests"] = SLOW_TESTS.format(name=name)
    return {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "propose_tool", "arguments": args, "_meta": {"progressToken": "p"}}}


def one_run(home: Path, row: str, n: int) -> dict[str, float]:
    server = Server(home)
    server.send(INIT, {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
    init_ms, _ = server.wait_for(1)
    listed_ms, _ = server.wait_for(2)
    if row == "after a tools/call":
        server.send({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                     "params": {"name": "add", "arguments": {"a": 1, "b": 2}}})
        server.wait_for(3)
    elif row == "after propose_tool":
        server.send(propose(f"twice_{os.getpid()}_{n}", slow=False))
        _, reply = server.wait_for(3)
        assert reply["result"]["structuredContent"]["status"] == "deployed", reply
    elif row == "propose_tool running":
        server.send(propose(f"slow_{os.getpid()}_{n}", slow=True))
        server.wait_for("progress")
    exit_ms, code = server.close()
    assert code == 0, f"exit {code}"
    return {"initialize_ms": init_ms, "initialize_cpu_ms": server.cpu[1] * 1000, "tools_list_ms": listed_ms,
            "tools_list_cpu_ms": server.cpu[2] * 1000, "exit_ms": exit_ms}


def imports(home: Path) -> dict[str, Any]:
    """One start under -X importtime, through initialize, tools/list and a tools/call: the module count, and
    which of WATCH that path imported (DBOS, mypy and bandit wait for a request that needs them)."""
    server = Server(home, ["-X", "importtime"])
    server.send(INIT, {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
                {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1}}})
    server.wait_for(3)
    server.close()
    stderr = b"".join(server.stderr).decode(errors="replace")
    names = [line.split("|")[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")]
    return {"modules": len(names), "imported": sorted({n.split(".")[0] for n in names} & set(WATCH))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--write", type=Path, help="also write the table (markdown) to this file")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--load", type=int, default=0, metavar="N",
                        help="run N busy loops (niced 0) beside the server throughout: a loaded machine on demand")
    args = parser.parse_args()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    try:
        result = measure(args.runs)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    result["busy_loops"] = args.load
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print_table(result, args.write)


def measure(runs: int) -> dict[str, Any]:
    """Every row ``runs`` times on one fresh home: medians and ranges, the load average, the imports."""
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tf-bench-start-") as tmp:
        home = Path(tmp) / "home"
        subprocess.run([sys.executable, "-m", "toolfoundry", "init"], env=env_for(home), check=True,
                       capture_output=True)
        (Path(tmp) / "add.py").write_text(ADD, encoding="utf-8")
        (Path(tmp) / "add.json").write_text('[{"args": {"a": 1, "b": 2}, "expect": 3}]', encoding="utf-8")
        subprocess.run([sys.executable, "-m", "toolfoundry", "propose", str(Path(tmp) / "add.py"), "--examples",
                        str(Path(tmp) / "add.json")], env=env_for(home), check=True, capture_output=True)
        seen = imports(home)  # first: later starts may take over the requests the last row leaves
        rows: dict[str, list[dict[str, float]]] = {}
        for row in ("idle", "after a tools/call", "after propose_tool", "propose_tool running"):
            rows[row] = [one_run(home, row, n) for n in range(runs)]
    return {"runs": runs, "load": [round(x, 2) for x in (*load_before, *os.getloadavg())], "imports": seen,
            "rows": {row: {k: round(statistics.median(r[k] for r in done), 1) for k in done[0]}
                     for row, done in rows.items()},
            "ranges": {row: {k: [round(min(r[k] for r in done), 1), round(max(r[k] for r in done), 1)]
                             for k in done[0]} for row, done in rows.items()}}


def print_table(result: dict[str, Any], write: Path | None) -> None:
    lines = ["| row | start → initialize reply, ms (CPU ms) | start → tools/list reply, ms (CPU ms) |"
             " stdin close → exit, ms |", "|---|---|---|---|"]

    def cell(med: dict[str, float], rng: dict[str, list[float]], key: str) -> str:
        return f"{med[key]:.0f} ({rng[key][0]:.0f}–{rng[key][1]:.0f})"

    for row, med in result["rows"].items():
        rng = result["ranges"][row]
        lines.append(f"| {row} | {cell(med, rng, 'initialize_ms')} ({med['initialize_cpu_ms']:.0f} CPU)"
                     f" | {cell(med, rng, 'tools_list_ms')} ({med['tools_list_cpu_ms']:.0f} CPU)"
                     f" | {cell(med, rng, 'exit_ms')} |")
    table = "\n".join(lines)
    seen, load = result["imports"], result["load"]
    footer = (f"\nmedians (min–max) of {result['runs']} runs; {result['busy_loops']} busy loops beside;"
              f" load average (1, 5, 15 min) {load[:3]} before, {load[3:]} after; a start imports"
              f" {seen['modules']} modules, of those watched: {', '.join(seen['imported'])}")
    print(table + footer)
    if write:
        write.write_text(table + footer + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
