"""The MCP server with principals: per-principal HTTP tokens, stdio as the principal named at start, and audit
events that name the authenticated principal, never the name a client declares."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example
from toolfoundry.surfaces.mcp.server import FoundryServer
from trust.conftest import SQUARE, People

from conftest import ADD, REPO, make_settings, run_cli
from surfaces.test_mcp_server import DOUBLE, text

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "alice", "version": "0"}}}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def env_for(home: Path, **extra: str) -> dict[str, str]:
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLFOUNDRY_")}
    env.update(TOOLFOUNDRY_HOME=str(home), TOOLFOUNDRY_USER="operator", **extra)
    return env


@pytest.fixture
def with_add(people: People) -> People:
    with people.foundry() as f:
        assert f.propose(Candidate(code=ADD, examples=(Example(args={"a": 1}, expect=2),))).status == "deployed"
    return people


def actors(people: People, kind: str) -> list[str]:
    with people.foundry() as f:
        return [e.actor for e in f.events() if e.kind == kind]


def test_in_process_the_server_acts_as_its_named_principal_and_rechecks_it(with_add: People) -> None:
    people = with_add
    foundry = Foundry(make_settings(people.home), hold_home=False)
    try:
        server = FoundryServer(foundry, identity=foundry.trust.named("agent7"))
        anonymous = FoundryServer(foundry)

        async def go() -> None:
            async with Client(server.server, mode="legacy") as client:  # the client says it is "mcp"
                assert (await client.call_tool("add", {"a": 2, "b": 3})).structured_content == {"result": 5}
                made = await client.call_tool("propose_tool", {"code": DOUBLE, "examples": [{"args": {"x": 1},
                                                                                             "expect": 2}]})
                assert json.loads(text(made))["status"] == "deployed", text(made)
                with people.foundry(people.admin) as admin:
                    admin.trust.revoke("agent7")
                refused = await client.call_tool("add", {"a": 2, "b": 3})
                assert refused.is_error and "agent7 was revoked" in text(refused)
            async with Client(anonymous.server, mode="legacy") as client:
                refused = await client.call_tool("add", {"a": 1})
                assert refused.is_error and "must authenticate" in text(refused)
        anyio.run(go)
    finally:
        foundry.close()
    assert actors(people, "call") == ["agent7"]
    assert "agent7" in actors(people, "request.opened") and not any(a.startswith("mcp:") for a in actors(
        people, "request.opened"))


@pytest.fixture
def http_server(with_add: People) -> Iterator[str]:
    """`toolfoundry serve --transport http --port 0` on a home with principals; a shared token is also set."""
    proc = subprocess.Popen([sys.executable, "-m", "toolfoundry", "serve", "--transport", "http", "--port", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env=env_for(with_add.home, TOOLFOUNDRY_MCP_TOKEN="a-shared-token-for-everyone"))
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
        assert any("each client sends its own token" in s for s in seen)
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stderr.close()  # type: ignore[union-attr]


def test_over_http_each_client_has_its_own_token_and_revoking_it_works_at_once(with_add: People,
                                                                               http_server: str) -> None:
    people, url = with_add, http_server
    with httpx2.Client(timeout=30) as http:
        for bearer in ("a-shared-token-for-everyone", "tft_000000000000_" + "x" * 43, "nonsense"):
            refused = http.post(url, json=INIT, headers={**ACCEPT, "Authorization": f"Bearer {bearer}"})
            assert refused.status_code == 401, bearer
        assert "own token" in http.post(url, json=INIT, headers={
            **ACCEPT, "Authorization": "Bearer a-shared-token-for-everyone"}).json()["message"]

    async def call() -> object:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {people.agent}"},
                                      timeout=httpx2.Timeout(60, read=120)) as http, \
                Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            return (await client.call_tool("add", {"a": 20, "b": 22})).structured_content
    assert anyio.run(call) == {"result": 42}
    assert actors(people, "call") == ["agent7"]  # not mcp:<the name the client declared>
    with people.foundry(people.admin) as admin:
        admin.trust.revoke_token(people.agent.split("_")[1])
    with httpx2.Client(timeout=30) as http:
        revoked = http.post(url, json=INIT, headers={**ACCEPT, "Authorization": f"Bearer {people.agent}"})
    assert revoked.status_code == 401 and "was revoked" in revoked.json()["message"]


def test_stdio_serves_as_the_principal_named_at_start_and_refuses_to_start_unnamed(with_add: People) -> None:
    people = with_add
    unnamed = subprocess.run([sys.executable, "-m", "toolfoundry", "serve"], capture_output=True, text=True,
                             cwd=REPO, env=env_for(people.home), timeout=120, stdin=subprocess.DEVNULL)
    assert unnamed.returncode == 2 and "--principal NAME" in unnamed.stderr
    params = StdioServerParameters(command=sys.executable, args=["-m", "toolfoundry", "serve", "--principal",
                                                                 "agent7"], env=env_for(people.home), cwd=REPO)

    async def go() -> None:
        async with Client(params, mode="legacy", read_timeout_seconds=60) as client:
            assert (await client.call_tool("add", {"a": 1, "b": 1})).structured_content == {"result": 2}
    anyio.run(go)
    assert actors(people, "call") == ["agent7"]
    refused = subprocess.run([sys.executable, "-m", "toolfoundry", "serve", "--principal", "nobody"],
                             capture_output=True, text=True, cwd=REPO, env=env_for(people.home), timeout=120,
                             stdin=subprocess.DEVNULL)
    assert refused.returncode == 2 and "no principal named 'nobody'" in refused.stderr


def test_every_audit_event_names_an_authenticated_principal(with_add: People, http_server: str) -> None:
    """An agent proposes and calls over HTTP (its client declares another name), a reviewer signs: the log names
    agent7 and alice, and otherwise only the foundry's own actors — never a client's self-declared name."""
    people, url = with_add, http_server

    async def as_agent(name: str, args: dict[str, object]) -> str:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {people.agent}"},
                                      timeout=httpx2.Timeout(60, read=120)) as http, \
                Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            return text(await client.call_tool(name, args))
    made = json.loads(anyio.run(as_agent, "propose_tool", {"code": SQUARE}))
    assert made["status"] == "pending_review", made
    proc = run_cli(people.home, "review", "approve", made["request_id"], "--key", str(people.keys["alice"]))
    assert proc.returncode == 0, proc.stderr
    assert anyio.run(as_agent, "square", {"x": 4}) == "16"
    with people.foundry() as f:
        mine = [e for e in f.events() if e.request_id == made["request_id"] or e.kind == "call"]
    by = {(e.kind, e.actor) for e in mine}
    assert ("request.opened", "agent7") in by and ("review.signed", "alice") in by
    assert ("review.decided", "alice") in by and ("call", "agent7") in by
    assert {e.actor for e in mine} <= {"agent7", "alice", "foundry", "policy"}, by
