"""`toolfoundry serve` as a user runs it, driven by the SDK's client: over stdio and over HTTP on loopback.

Each test lists the tools, calls one, proposes a new one, receives the change notification and calls
the new tool; a second process deploying a tool notifies too; bad input gets protocol errors and the
server keeps serving.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from conftest import ADD, ADD_EXAMPLES, REPO, run_cli, write
from surfaces.test_mcp_server import DOUBLE, TRIPLE, ListChanged, text


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLFOUNDRY_")}
    env.update(TOOLFOUNDRY_HOME=str(home), TOOLFOUNDRY_USER="tester", **extra)
    return env


@pytest.fixture
def home_with_add(home: Path, tmp_path: Path) -> Path:
    proc = run_cli(home, "propose", str(write(tmp_path / "add.py", ADD)), "--examples",
                   str(write(tmp_path / "add.json", ADD_EXAMPLES)))
    assert proc.returncode == 0, proc.stderr
    return home


async def exercise(client: Client, changed: ListChanged | None, home: Path, tmp_path: Path) -> None:
    """The loop from the issue: list, call, propose, be told, call the new tool; then a second process."""
    names = {t.name for t in (await client.list_tools()).tools}
    assert {"add", "request_capability", "propose_tool", "request_status", "search_tools"} <= names
    assert (await client.call_tool("add", {"a": 20, "b": 22})).structured_content == {"result": 42}
    sub = client.listen(tools_list_changed=True) if changed is None else None
    async with sub if sub is not None else _nothing() as subscription:
        result = await client.call_tool("propose_tool", {"code": DOUBLE, "examples": [{"args": {"x": 4}, "expect": 8}]})
        assert json.loads(text(result))["status"] == "deployed", text(result)
        await _told(changed, subscription)
        assert (await client.call_tool("double", {"x": 21})).structured_content == {"result": 42}
        tool = write(tmp_path / "triple.py", TRIPLE)
        examples = write(tmp_path / "triple.json", json.dumps([{"args": {"x": 2}, "expect": 6}]))
        proc = await anyio.to_thread.run_sync(lambda: run_cli(home, "propose", str(tool), "--examples",
                                                              str(examples)))
        assert proc.returncode == 0, proc.stderr
        await _told(changed, subscription)
        assert (await client.call_tool("triple", {"x": 3})).structured_content == {"result": 9}
    with pytest.raises(MCPError) as unknown:
        await client.call_tool("nope", {})
    assert "not deployed" in unknown.value.message
    failed = await client.call_tool("add", {"a": "x"})
    assert failed.is_error and "expected integer" in text(failed)
    assert (await client.call_tool("add", {"a": 1})).structured_content == {"result": 2}  # still serving


class _nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


async def _told(changed: ListChanged | None, subscription: object) -> None:
    if changed is not None:
        await changed.wait(20)
        return
    with anyio.fail_after(20):
        event = await subscription.__anext__()  # type: ignore[attr-defined]
    assert type(event).__name__ == "ToolsListChanged"


# ── stdio ──────────────────────────────────────────────────────────────────────────────────────


def stdio(home: Path) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "toolfoundry", "serve"], env=env_for(home),
                                 cwd=REPO)


@pytest.mark.parametrize("era", ["legacy", "auto"])
def test_over_stdio(home_with_add: Path, tmp_path: Path, era: str) -> None:
    changed = ListChanged() if era == "legacy" else None

    async def go() -> None:
        async with Client(stdio(home_with_add), mode=era, message_handler=changed, read_timeout_seconds=60) as client:
            assert client.server_info is None or client.server_info.name == "toolfoundry"
            await exercise(client, changed, home_with_add, tmp_path)
    anyio.run(go)


def test_stdio_rejects_garbage_and_keeps_serving(home_with_add: Path) -> None:
    lines = [
        "this is not json",
        json.dumps({"jsonrpc": "1.0", "id": 0, "method": 5}),
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                    "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                               "clientInfo": {"name": "raw", "version": "0"}}}),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json.dumps({"jsonrpc": "2.0", "id": 2, "method": "no/such/method"}),
        json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "nope", "arguments": {}}}),
        json.dumps({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"arguments": {}}}),
        json.dumps({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2}}}),
    ]
    proc = subprocess.Popen([sys.executable, "-m", "toolfoundry", "serve"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(home_with_add),
                            cwd=REPO)
    assert proc.stdin is not None and proc.stdout is not None
    replies: dict[object, dict[str, object]] = {}
    try:
        for line in lines:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
        while len(replies) < 7:  # one per request, plus the two id-less errors for the garbage lines
            reply = json.loads(proc.stdout.readline())
            replies[reply.get("id") if reply.get("id") is not None else f"null{len(replies)}"] = reply
    finally:
        proc.stdin.close()
        code = proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()  # type: ignore[union-attr]
    nulls = sorted(r["error"]["code"] for k, r in replies.items() if str(k).startswith("null"))  # type: ignore[index]
    assert nulls == [-32700, -32600]
    assert replies[1]["result"]["serverInfo"]["name"] == "toolfoundry"
    assert replies[1]["result"]["capabilities"]["tools"]["listChanged"] is True
    assert replies[2]["error"]["code"] == -32601
    assert replies[3]["error"]["code"] == -32602 and "not deployed" in replies[3]["error"]["message"]
    assert replies[4]["error"]["code"] == -32602
    assert replies[5]["result"]["structuredContent"] == {"result": 3}
    assert code == 0


# ── HTTP ───────────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def http_server(home_with_add: Path) -> Iterator[tuple[str, str]]:
    """`toolfoundry serve --transport http --port 0`: (url, token)."""
    proc = subprocess.Popen([sys.executable, "-m", "toolfoundry", "serve", "--transport", "http", "--port", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env_for(home_with_add),
                            cwd=REPO)
    try:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:
            seen.append(line)
            found = re.search(r"MCP server at (http://127\.0\.0\.1:\d+/mcp)", line)
            if found:
                break
        else:
            pytest.fail(f"the server did not start: {''.join(seen)}")
        assert any("bearer token created in" in s for s in seen)
        token_path = home_with_add / "mcp-token"
        assert token_path.stat().st_mode & 0o777 == 0o600
        yield found.group(1), token_path.read_text(encoding="utf-8").strip()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stderr.close()  # type: ignore[union-attr]


@asynccontextmanager
async def http_client(url: str, token: str, era: str, changed: ListChanged | None) -> AsyncIterator[Client]:
    """The SDK's client over streamable HTTP, sending the bearer token (it does not close a client it is given)."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"},
                                  timeout=httpx2.Timeout(60, read=300)) as http, \
            Client(streamable_http_client(url, http_client=http), mode=era, message_handler=changed) as client:
        yield client


@pytest.mark.parametrize("era", ["legacy", "auto"])
def test_over_http(http_server: tuple[str, str], home_with_add: Path, tmp_path: Path, era: str) -> None:
    url, token = http_server
    changed = ListChanged() if era == "legacy" else None

    async def go() -> None:
        async with http_client(url, token, era, changed) as client:
            await exercise(client, changed, home_with_add, tmp_path)
    anyio.run(go)


def test_http_needs_the_token_and_rejects_bad_requests(http_server: tuple[str, str]) -> None:
    url, token = http_server
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}
    accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    auth = {**accept, "Authorization": f"Bearer {token}"}
    with httpx2.Client(timeout=30) as http:
        for headers in (accept, {**accept, "Authorization": "Bearer wrong-token-wrong-token"},
                        {**accept, "Authorization": token}):
            refused = http.post(url, json=init, headers=headers)
            assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
        garbage = http.post(url, content=b"{not json", headers=auth)
        assert garbage.status_code == 400 and garbage.json()["error"]["code"] == -32700
        rebinding = http.post(url, json=init, headers={**auth, "Origin": "http://evil.example"})
        assert rebinding.status_code == 403
        ok = http.post(url, json=init, headers=auth)
        assert ok.status_code == 200, ok.text

    async def still_serving() -> None:
        async with http_client(url, token, "legacy", None) as client:
            assert (await client.call_tool("add", {"a": 1, "b": 1})).structured_content == {"result": 2}
    anyio.run(still_serving)


def test_serve_refuses_bad_options(home: Path) -> None:
    for args, message in ((["--transport", "sse"], "--transport must be stdio or http"),
                          (["--transport", "http", "--host", "0.0.0.0", "--no-auth"], "only allowed on a loopback"),
                          (["--transport", "http", "--port", "70000"], "--port must be between")):
        proc = run_cli(home, "serve", *args, timeout=60)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    proc = run_cli(home.parent / "not-a-home", "serve", timeout=60)
    assert proc.returncode == 2 and "not a toolfoundry home" in proc.stderr
