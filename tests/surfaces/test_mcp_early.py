"""`serve` answers `initialize` over stdio before the SDK is imported: with exactly the SDK's reply, once.

The early reply is compared with what the SDK itself answers, version by version, so a change in the SDK
cannot make the two disagree unnoticed. Over a real `serve` subprocess: one reply per request, and the
lines a client sends right behind `initialize` are served too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.shared.message import SessionMessage
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from toolfoundry.api import Foundry
from toolfoundry.surfaces.mcp.early import HANDSHAKE_VERSIONS, initialize_reply, instructions
from toolfoundry.surfaces.mcp.server import FoundryServer
from toolfoundry.version import __version__

from conftest import REPO, make_settings
from surfaces.test_mcp_transport import env_for


def _initialize(version: str, rid: int | str = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "host", "version": "1"}}}


def _sdk_reply(server: FoundryServer, message: dict[str, Any]) -> dict[str, Any]:
    """What the SDK's own server answers to ``message``."""
    replies: list[dict[str, Any]] = []

    async def go() -> None:
        to_server, server_in = anyio.create_memory_object_stream[SessionMessage | Exception](1)
        server_out, from_server = anyio.create_memory_object_stream[SessionMessage](1)
        async with to_server, server_in, server_out, from_server, anyio.create_task_group() as tasks:
            tasks.start_soon(server.server.run, server_in, server_out, server.server.create_initialization_options())
            await to_server.send(SessionMessage(types.jsonrpc_message_adapter.validate_python(message)))
            reply = await from_server.receive()
            replies.append(json.loads(reply.message.model_dump_json(by_alias=True, exclude_unset=True)))
            tasks.cancel_scope.cancel()
    anyio.run(go)
    return replies[0]


def test_the_early_versions_are_the_sdks_handshake_versions() -> None:
    assert sorted(HANDSHAKE_VERSIONS) == sorted(HANDSHAKE_PROTOCOL_VERSIONS)


@pytest.mark.parametrize("model", [None, "scripted:/nonexistent.json"])
def test_the_early_reply_is_the_sdks_reply(home: Path, model: str | None) -> None:
    env = {"TOOLFOUNDRY_MODEL": model} if model else {}
    foundry = Foundry(make_settings(home, **env), hold_home=False)
    try:
        server = FoundryServer(foundry)
        text = instructions(generates=server.generates)
        for version in HANDSHAKE_VERSIONS:
            for rid in (1, "a-string-id"):
                message = _initialize(version, rid)
                assert initialize_reply(message, text=text, version=__version__) == _sdk_reply(server, message)
    finally:
        foundry.close()


@pytest.mark.parametrize("message", [
    _initialize("2026-07-28"), _initialize("1999-01-01"), {**_initialize("2025-11-25"), "id": True},
    {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}}, ["a", "batch"], "initialize",
    {**_initialize("2025-11-25"), "params": {"protocolVersion": "2025-11-25"}},
    {**_initialize("2025-11-25"), "jsonrpc": "1.0"},
])
def test_anything_but_a_handshake_initialize_is_left_to_the_sdk(message: object) -> None:
    assert initialize_reply(message, text="x", version="0") is None


def test_serve_answers_initialize_once_and_serves_the_lines_sent_right_behind_it(home: Path) -> None:
    lines = [_initialize("2025-06-18", 7), {"jsonrpc": "2.0", "method": "notifications/initialized"},
             {"jsonrpc": "2.0", "id": 8, "method": "tools/list"},
             {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "nope", "arguments": {}}}]
    wire = "".join(json.dumps(line) + "\n" for line in lines)  # all at once: more than the first line is read
    proc = subprocess.Popen([sys.executable, "-m", "toolfoundry", "serve"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(home), cwd=REPO)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write(wire)
        proc.stdin.flush()
        replies = [json.loads(proc.stdout.readline()) for _ in range(3)]
    finally:
        proc.stdin.close()
        code = proc.wait(timeout=60)
        rest = proc.stdout.read()
        proc.stdout.close()
        proc.stderr.close()
    assert code == 0 and rest == ""  # nothing more: the SDK's own reply to 7 was not sent a second time
    assert [r.get("id") for r in replies] == [7, 8, 9]
    assert replies[0]["result"]["protocolVersion"] == "2025-06-18"
    assert "propose_tool" in {t["name"] for t in replies[1]["result"]["tools"]}
    assert replies[2]["error"]["code"] == -32602


def test_initialize_list_and_call_import_neither_dbos_nor_the_analysers(home: Path, tmp_path: Path) -> None:
    """DBOS (with SQLAlchemy), mypy and bandit wait for the first request that needs them."""
    from conftest import ADD, ADD_EXAMPLES, run_cli, write
    proc = run_cli(home, "propose", str(write(tmp_path / "add.py", ADD)), "--examples",
                   str(write(tmp_path / "add.json", ADD_EXAMPLES)))
    assert proc.returncode == 0, proc.stderr
    lines = [_initialize("2025-11-25"), {"jsonrpc": "2.0", "method": "notifications/initialized"},
             {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
             {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1}}}]
    log = tmp_path / "importtime.txt"
    with log.open("w", encoding="utf-8") as err:  # a file: -X importtime writes more than a pipe holds
        server = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "toolfoundry", "serve"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                                  env=env_for(home), cwd=REPO)
        assert server.stdin is not None and server.stdout is not None
        try:
            server.stdin.write("".join(json.dumps(line) + "\n" for line in lines))
            server.stdin.flush()
            replies = [json.loads(server.stdout.readline()) for _ in range(3)]
        finally:
            server.stdin.close()
            server.wait(timeout=120)
            server.stdout.close()
    stderr = log.read_text(encoding="utf-8")
    assert replies[2]["result"]["structuredContent"] == {"result": 2}
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in stderr.splitlines()
                if line.startswith("import time:")}
    assert "mcp" in imported  # the parse worked
    assert not imported & {"dbos", "sqlalchemy", "mypy", "bandit"}, sorted(imported & {"dbos", "sqlalchemy", "mypy",
                                                                                        "bandit"})
