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
    assert {"add", "propose_tool", "request_status", "search_tools", "call_tool"} <= names
    assert "request_capability" not in names  # no model configured on this server
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


# ── what OAuth-capable hosts probe, stopping with a client connected, cancelling over HTTP (issue 17) ──


def test_http_offers_no_oauth_to_discover_and_takes_the_scheme_in_any_case(http_server: tuple[str, str]) -> None:
    """OAuth clients probe these paths on a 401 and then try to register: every one is 404, token or not."""
    from mcp.client.auth.utils import (
        build_oauth_authorization_server_metadata_discovery_urls,
        build_protected_resource_metadata_discovery_urls,
    )
    url, token = http_server
    origin = url.removesuffix("/mcp")
    probes = [*build_protected_resource_metadata_discovery_urls(None, url),
              *build_oauth_authorization_server_metadata_discovery_urls(origin, url),
              *build_oauth_authorization_server_metadata_discovery_urls(None, url)]
    assert f"{origin}/.well-known/oauth-protected-resource/mcp" in probes
    assert f"{origin}/.well-known/oauth-authorization-server" in probes
    with httpx2.Client(timeout=30) as http:
        for headers in ({}, {"Authorization": f"Bearer {token}"}):
            for probe in probes:
                assert http.get(probe, headers=headers).status_code == 404, probe
            for path in ("/register", "/token"):
                assert http.post(origin + path, json={}, headers=headers).status_code == 404, path
            assert http.get(origin + "/authorize", headers=headers).status_code == 404
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                           "clientInfo": {"name": "raw", "version": "0"}}}
        accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        assert http.post(url, json=init, headers=accept).status_code == 401  # /mcp itself stays behind the token
        lower = http.post(url, json=init, headers={**accept, "Authorization": f"bearer {token}"})
        assert lower.status_code == 200, lower.text  # RFC 7235: the scheme is case-insensitive


def _http_serve(home: Path) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen([sys.executable, "-m", "toolfoundry", "serve", "--transport", "http", "--port", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env_for(home), cwd=REPO)
    assert proc.stderr is not None
    for line in proc.stderr:
        found = re.search(r"MCP server at (http://127\.0\.0\.1:\d+/mcp)", line)
        if found:
            return proc, found.group(1), (home / "mcp-token").read_text(encoding="utf-8").strip()
    proc.wait(30)
    pytest.fail("the server did not start")


def test_ctrl_c_stops_the_http_server_while_a_modern_client_listens(home_with_add: Path) -> None:
    """A 2026-era client holds subscriptions/listen open; SIGINT used to wait for it to hang up."""
    import signal
    proc, url, token = _http_serve(home_with_add)
    exited: list[int] = []
    try:
        async def go() -> None:
            async with http_client(url, token, "auto", None) as client:
                assert client.protocol_version == "2026-07-28"
                async with client.listen(tools_list_changed=True):
                    assert (await client.call_tool("add", {"a": 1, "b": 2})).structured_content == {"result": 3}
                    proc.send_signal(signal.SIGINT)
                    exited.append(await anyio.to_thread.run_sync(lambda: proc.wait(timeout=30)))  # raises if it hangs
        try:
            anyio.run(go)
        except Exception:  # noqa: S110 - closing a client whose server is gone may raise; `exited` tells what matters
            pass
        assert exited and exited[0] in (0, 130, -signal.SIGINT), (exited, proc.poll())
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        proc.stderr.close()  # type: ignore[union-attr]


SLOW_TESTS = "import time\n\nfrom tool import double\n\n\ndef test_double():\n    time.sleep(4)\n    assert double(3) == 6\n"


@pytest.mark.parametrize("era", ["legacy", "auto"])
def test_a_client_cancelling_over_http_stops_the_request(http_server: tuple[str, str], home_with_add: Path,
                                                          era: str) -> None:
    """legacy: the client sends notifications/cancelled; 2026-era: it closes the request's response stream."""
    url, token = http_server
    seen: list[str] = []

    async def go() -> None:
        async with http_client(url, token, era, None) as client:
            started = anyio.Event()

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                seen.append(message or "")
                started.set()

            async with anyio.create_task_group() as tasks:
                async def propose() -> None:
                    await client.call_tool("propose_tool", {"code": DOUBLE, "tests": SLOW_TESTS,
                                                            "examples": [{"args": {"x": 4}, "expect": 8}]},
                                           progress_callback=on_progress)
                tasks.start_soon(propose)
                with anyio.fail_after(60):
                    await started.wait()
                tasks.cancel_scope.cancel()
            rid = seen[0].split(":")[0]
            with anyio.fail_after(60):
                while True:
                    status = json.loads(text(await client.call_tool("request_status", {"id": rid})))
                    if status["status"] != "running":
                        break
                    await anyio.sleep(0.1)
            assert status["status"] == "cancelled" and status["reason"].startswith("cancelled by mcp:"), status
            assert "double" not in {t.name for t in (await client.list_tools()).tools}
    anyio.run(go)
    proc = run_cli(home_with_add, "audit", "log", "--request", seen[0].split(":")[0], "--json")
    trail = [json.loads(line) for line in proc.stdout.splitlines()]
    assert "merge" not in [e["kind"] for e in trail]
    assert [e["data"]["status"] for e in trail if e["kind"] == "request.closed"] == ["cancelled"]


def test_closing_stdin_mid_request_exits_at_once_and_leaves_it_to_its_workflow(home_with_add: Path) -> None:
    """The host goes away while propose_tool runs: the server exits without waiting for the workflow, audits
    the request as left, and the next process on the home finishes it."""
    slower = SLOW_TESTS.replace("time.sleep(4)", "time.sleep(8)")
    lines = [json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                         "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                                    "clientInfo": {"name": "host", "version": "0"}}}),
             json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
             json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
                 "name": "propose_tool", "arguments": {"code": DOUBLE, "tests": slower,
                                                       "examples": [{"args": {"x": 4}, "expect": 8}]},
                 "_meta": {"progressToken": "p"}}})]
    proc = subprocess.Popen([sys.executable, "-m", "toolfoundry", "serve"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(home_with_add),
                            cwd=REPO)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write("\n".join(lines) + "\n")
        proc.stdin.flush()
        rid = ""
        while not rid:  # the first progress notification names the request
            message = json.loads(proc.stdout.readline())
            if message.get("method") == "notifications/progress":
                rid = message["params"]["message"].split(":")[0]
        proc.stdin.close()
        code = proc.wait(timeout=60)
        status = run_cli(home_with_add, "review", "show", rid, "--json")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        stderr = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    assert code == 0 and f"left 1 running request(s) to their durable workflows: {rid}" in stderr, stderr
    assert json.loads(status.stdout)["status"] == "running", status.stdout  # it did not wait for the workflow
    audit = run_cli(home_with_add, "audit", "log", "--request", rid, "--json")
    left = [json.loads(line) for line in audit.stdout.splitlines() if '"request.left"' in line]
    assert len(left) == 1 and left[0]["actor"] == "tester", audit.stdout
    worker = subprocess.Popen([sys.executable, "-m", "toolfoundry", "worker"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=env_for(home_with_add), cwd=REPO)
    try:  # the next live process finishes it, from its last completed step
        import time
        deadline = time.monotonic() + 120
        while (now := json.loads(run_cli(home_with_add, "review", "show", rid, "--json").stdout)["status"]) == "running" \
                and time.monotonic() < deadline:
            time.sleep(0.5)
        assert now == "deployed", now
    finally:
        worker.terminate()
        worker.wait(60)
