"""MCP benchmarks: the cost of a tool call through `toolfoundry serve`, and how fast clients hear of a new tool.

Side by side in one run, on one warm sandbox per tool: `Foundry.call` in-process (the reference), then
the same call through the SDK's client in-process, over stdio and over HTTP on loopback. Then the
change latency: another process (`toolfoundry propose`) deploys a tool and we measure from the
registry's commit (`deployed_at`) to the `notifications/tools/list_changed` arriving at a client.

    python bench/mcp_calls.py [--runs 200] [--deploys 8] [--write FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example
from toolfoundry.settings import load as load_settings
from toolfoundry.surfaces.mcp.server import FoundryServer

ADD = '"""Add."""\n\n\ndef add(a: int, b: int = 1) -> int:\n    """Sum of a and b."""\n    return a + b\n'
PAUSE = 0.02  # seconds between calls, as in bench/run.py: an idle sandbox, not a hot loop


def pct(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


async def time_calls(client: Client, runs: int) -> list[float]:
    for _ in range(5):
        await client.call_tool("add", {"a": 1, "b": 2})
    samples = []
    for i in range(runs):
        start = time.perf_counter()
        result = await client.call_tool("add", {"a": i, "b": 1})
        samples.append((time.perf_counter() - start) * 1000)
        assert result.structured_content == {"result": i + 1}, result
        await anyio.sleep(PAUSE)
    return samples


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLFOUNDRY_")}
    env.update(TOOLFOUNDRY_HOME=str(home), TOOLFOUNDRY_USER="bench")
    return env


def over_http(home: Path, runs: int) -> list[float]:
    proc = subprocess.Popen([sys.executable, "-m", "toolfoundry", "serve", "--transport", "http", "--port", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env_for(home))
    try:
        assert proc.stderr is not None
        url = next(line.split(" at ")[1].split()[0] for line in proc.stderr if "MCP server at" in line)
        token = (home / "mcp-token").read_text(encoding="utf-8").strip()

        async def go() -> list[float]:
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http, \
                    Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
                return await time_calls(client, runs)
        return anyio.run(go)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


def change_latency(home: Path, server: FoundryServer, deploys: int, tmp: Path) -> list[float]:
    """ms from another process's registry commit to the list_changed notification at a connected client."""
    arrived: list[datetime] = []
    event: list[anyio.Event] = []

    async def handler(message: Any) -> None:
        if isinstance(getattr(message, "root", message), types.ToolListChangedNotification):
            arrived.append(datetime.now(UTC))
            event[0].set()

    async def go() -> list[float]:
        samples = []
        async with Client(server.server, mode="legacy", message_handler=handler) as client:
            await client.list_tools()
            for i in range(deploys):
                event[:] = [anyio.Event()]
                path = tmp / f"t{i}.py"
                path.write_text(ADD.replace("def add(", f"def add_{i}("), encoding="utf-8")
                examples = tmp / f"t{i}.json"
                examples.write_text(json.dumps([{"args": {"a": 1}, "expect": 2}]), encoding="utf-8")
                command = [sys.executable, "-m", "toolfoundry", "propose", str(path), "--examples", str(examples)]
                proc = await anyio.to_thread.run_sync(partial(subprocess.run, command, env=env_for(home),
                                                              capture_output=True, text=True))
                assert proc.returncode == 0, proc.stderr
                with anyio.fail_after(10):
                    await event[0].wait()
                tool = next(t for t in server.foundry.tools() if t.ref.name == f"add_{i}")
                deployed = datetime.fromisoformat(tool.deployed_at)
                samples.append((arrived[-1] - deployed).total_seconds() * 1000)
        return samples
    return anyio.run(go)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--deploys", type=int, default=8)
    parser.add_argument("--write", type=Path, help="write the results into this markdown file")
    ns = parser.parse_args()
    rows: list[tuple[str, list[float], str]] = []
    with tempfile.TemporaryDirectory(prefix="tf-bench-mcp-") as tmp:
        home = Path(tmp) / "home"
        Foundry.init(load_settings(home, {}, user="bench"))
        foundry = Foundry(load_settings(home, {}, user="bench"), hold_home=False)
        try:
            assert foundry.propose(Candidate(code=ADD, examples=(Example(args={"a": 1}, expect=2),))).status \
                == "deployed"
            samples = []
            for i in range(ns.runs + 5):
                start = time.perf_counter()
                assert foundry.call("add", a=i).ok
                samples.append((time.perf_counter() - start) * 1000)
                time.sleep(PAUSE)
            rows.append(("Foundry.call in-process (reference)", samples[5:], "same warm sandbox"))
            server = FoundryServer(foundry)
            runs = ns.runs

            def client_run(make: Callable[[], Client]) -> list[float]:
                async def go() -> list[float]:
                    async with make() as client:
                        return await time_calls(client, runs)
                result: list[float] = anyio.run(go)
                return result
            rows.append(("MCP tools/call, SDK client in-process (2026 direct dispatch)",
                         client_run(lambda: Client(server.server)), "protocol + thread hand-off"))
            rows.append(("MCP tools/call, SDK client in-process (handshake era, JSON-RPC)",
                         client_run(lambda: Client(server.server, mode="legacy")), "+ JSON-RPC framing"))
            stdio = StdioServerParameters(command=sys.executable, args=["-m", "toolfoundry", "serve"],
                                          env=env_for(home))
            rows.append(("MCP tools/call over stdio (`toolfoundry serve`)",
                         client_run(lambda: Client(stdio, mode="legacy")), "its own warm sandbox"))
            rows.append(("MCP tools/call over HTTP on loopback (`serve --transport http`)", over_http(home, runs),
                         "bearer token checked per request"))
            rows.append(("another process deploys → list_changed at the client", change_latency(
                home, server, ns.deploys, Path(tmp)), "watcher polls every 250 ms"))
        finally:
            foundry.close()
    lines = ["| measure | runs | p50 ms | p90 ms | note |", "|---|---|---|---|---|"]
    for name, samples, note in rows:
        p50, p90 = pct(samples)
        lines.append(f"| {name} | {len(samples)} | {p50:.2f} | {p90:.2f} | {note} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if ns.write:
        ns.write.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
