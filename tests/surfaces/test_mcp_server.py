"""The MCP server through the SDK's own client, in-process: both protocol eras, every meta-tool, errors.

Over stdio and HTTP (subprocesses) see test_mcp_transport.py.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example
from toolfoundry.surfaces.mcp.server import META_TOOLS, FoundryServer

from conftest import ADD, ADD_EXAMPLES, make_settings, run_cli, write

DOUBLE = '''"""Doubling."""


def double(x: int) -> int:
    """Twice x."""
    return 2 * x
'''

FAILS = '''"""Square roots of non-negative numbers."""
import math


def root(x: float) -> float:
    """The square root of x; ValueError for a negative x."""
    if x < 0:
        raise ValueError("x must not be negative")
    return math.sqrt(x)
'''

TRIPLE = DOUBLE.replace("double", "triple").replace("Twice", "Three times").replace("2 * x", "3 * x")


@pytest.fixture
def served(home: Path) -> Iterator[FoundryServer]:
    """A server over a home with `add` deployed, opened the way `toolfoundry serve` opens it."""
    foundry = Foundry(make_settings(home), hold_home=False)
    try:
        outcome = foundry.propose(Candidate(code=ADD, examples=(Example(args={"a": 1, "b": 2}, expect=3),)))
        assert outcome.status == "deployed", outcome
        yield FoundryServer(foundry)
    finally:
        foundry.close()


class ListChanged:
    """A client message handler that counts notifications/tools/list_changed."""

    def __init__(self) -> None:
        self.count = 0
        self._event = anyio.Event()

    async def __call__(self, message: Any) -> None:
        if isinstance(getattr(message, "root", message), types.ToolListChangedNotification):
            self.count += 1
            self._event.set()

    async def wait(self, seconds: float = 15) -> None:
        with anyio.fail_after(seconds):
            await self._event.wait()
        self._event = anyio.Event()


def text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


def run(fn: Callable[[], Awaitable[None]]) -> None:
    anyio.run(fn)


def test_lists_deployed_tools_with_their_schemas_and_the_meta_tools(served: FoundryServer) -> None:
    async def go() -> None:
        async with Client(served.server, mode="legacy") as client:
            assert client.server_capabilities.tools is not None and client.server_capabilities.tools.list_changed
            tools = {t.name: t for t in (await client.list_tools()).tools}
            # no model is configured: request_capability could only fail, so it is not offered
            assert set(tools) == {"add", *(t.name for t in META_TOOLS)} - {"request_capability"}
            assert "propose_tool" in (client.instructions or "")
            assert "request_capability" not in (client.instructions or "")
            add = next(t for t in served.foundry.tools() if t.ref.name == "add")
            assert tools["add"].input_schema == add.interface.args_schema
            assert tools["add"].description == "Sum of a and b."
            assert tools["add"].output_schema == {"type": "object", "required": ["result"],
                                                  "properties": {"result": {"type": "integer"}}}
    run(go)


def test_call_runs_in_the_sandbox_and_failures_are_error_results(served: FoundryServer, home: Path) -> None:
    foundry = served.foundry
    assert foundry.propose(Candidate(code=FAILS, examples=(Example(args={"x": 4.0}, expect=2.0),))).status \
        == "deployed"

    async def go() -> None:
        async with Client(served.server, mode="legacy") as client:
            ok = await client.call_tool("add", {"a": 2, "b": 40})
            assert not ok.is_error and ok.structured_content == {"result": 42} and json.loads(text(ok)) == 42
            raised = await client.call_tool("root", {"x": -1.0})
            assert raised.is_error and text(raised) == "ValueError: x must not be negative"
            bad = await client.call_tool("add", {"a": "two"})
            assert bad.is_error and "arguments for add" in text(bad) and '$.a: expected integer' in text(bad)
            extra = await client.call_tool("add", {"a": 1, "zzz": 1})
            assert extra.is_error and "zzz" in text(extra)
            with pytest.raises(MCPError) as unknown:
                await client.call_tool("no_such_tool", {})
            assert unknown.value.code == types.INVALID_PARAMS and "not deployed" in unknown.value.message
            assert (await client.call_tool("root", {"x": 9.0})).structured_content == {"result": 3.0}  # still serving
    run(go)
    calls = [e for e in foundry.events() if e.kind == "call"]
    assert [c.data["name"] for c in calls] == ["add", "root", "root"]  # bad arguments never reach a sandbox
    assert {c.actor for c in calls} == {"mcp:mcp"}


def test_propose_tool_notifies_a_handshake_era_client_which_then_calls_the_new_tool(served: FoundryServer) -> None:
    changed = ListChanged()

    async def go() -> None:
        async with Client(served.server, mode="legacy", message_handler=changed) as client:
            progress: list[str] = []

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress.append(message or "")

            result = await client.call_tool("propose_tool", {
                "code": DOUBLE, "examples": [{"args": {"x": 4}, "expect": 8}],
                "tests": "from tool import double\n\n\ndef test_double():\n    assert double(3) == 6\n"},
                progress_callback=on_progress)
            body = json.loads(text(result))
            assert not result.is_error and body["status"] == "deployed", body
            assert body["tool"]["name"] == "double" and "call 'double'" in body["next"]
            await changed.wait()
            assert "double" in {t.name for t in (await client.list_tools()).tools}
            assert (await client.call_tool("double", {"x": 21})).structured_content == {"result": 42}
            assert any("tests passed" in p for p in progress) and any("deployed double v1" in p for p in progress)
            assert all(p.startswith(body["request_id"]) for p in progress)
    run(go)
    assert changed.count == 1
    double = next(t for t in served.foundry.tools() if t.ref.name == "double")
    row = served.foundry.request_row(double.request_id)
    assert row.requester == "mcp:mcp"


def test_a_subscribed_modern_client_is_told_and_calls_the_new_tool(served: FoundryServer) -> None:
    async def go() -> None:
        async with Client(served.server) as client:
            assert client.protocol_version == "2026-07-28"
            async with client.listen(tools_list_changed=True) as subscription:
                result = await client.call_tool("propose_tool", {"code": DOUBLE,
                                                                 "examples": [{"args": {"x": 2}, "expect": 4}]})
                assert json.loads(text(result))["status"] == "deployed"
                with anyio.fail_after(15):
                    event = await subscription.__anext__()
                assert type(event).__name__ == "ToolsListChanged"
            assert (await client.call_tool("double", {"x": 5})).structured_content == {"result": 10}
    run(go)


def test_a_rejected_proposal_returns_findings_and_changes_nothing(served: FoundryServer) -> None:
    changed = ListChanged()
    wrong = DOUBLE.replace("2 * x", "2 + x")

    async def go() -> None:
        async with Client(served.server, mode="legacy", message_handler=changed) as client:
            result = await client.call_tool("propose_tool", {"code": wrong,
                                                             "examples": [{"args": {"x": 5}, "expect": 10}]})
            body = json.loads(text(result))
            assert body["status"] == "rejected" and not result.is_error
            found = [f for s in body["failed_stages"] for f in s["findings"]]
            assert any(f["code"] == "oracle.mismatch" and f["expected"] == 10 and f["actual"] == 7 for f in found)
            assert "fix what the findings say" in body["next"]
            status = json.loads(text(await client.call_tool("request_status", {"id": body["request_id"]})))
            assert status["status"] == "rejected" and status["tool"] is None
            await anyio.sleep(0.6)  # longer than the watcher's interval
            assert "double" not in {t.name for t in (await client.list_tools()).tools}
    run(go)
    assert changed.count == 0


def test_meta_tools_reject_bad_arguments_with_error_results(served: FoundryServer) -> None:
    async def go() -> None:
        async with Client(served.server, mode="legacy") as client:
            missing = await client.call_tool("propose_tool", {})
            assert missing.is_error and "code" in text(missing)
            examples = await client.call_tool("propose_tool", {"code": DOUBLE, "examples": [{"expect": 1}]})
            assert examples.is_error and "args" in text(examples)
            syntax = await client.call_tool("propose_tool", {"code": "def broken(:\n"})
            body = json.loads(text(syntax))
            assert body["status"] == "rejected" and body["failed_stages"][0]["stage"] == "contract"
            unknown = await client.call_tool("request_status", {"id": "nope"})
            assert unknown.is_error and "no request 'nope'" in text(unknown)
            no_model = await client.call_tool("request_capability", {"description": "reverse a string"})
            assert no_model.is_error and text(no_model).startswith("this server cannot generate tools: that needs"
                                                                   " a model configured where it runs")
            assert "propose_tool" in text(no_model) and "--model" not in text(no_model)
            found = json.loads(text(await client.call_tool("search_tools", {"query": "sum two numbers"})))
            assert [t["name"] for t in found["tools"]] == ["add"]
            assert found["tools"][0]["signature"] == "(a: int, b: int = 1) -> int"
            assert found["tools"][0]["description"] == "Sum of a and b."
            assert found["tools"][0]["input_schema"]["required"] == ["a"]
            none = json.loads(text(await client.call_tool("search_tools", {"query": "zebra"})))
            assert none["tools"] == []
    run(go)


def test_a_tool_deployed_by_another_process_reaches_clients_of_both_eras(served: FoundryServer, home: Path,
                                                                          tmp_path: Path) -> None:
    legacy_changed = ListChanged()
    tool = write(tmp_path / "triple.py", TRIPLE)
    examples = write(tmp_path / "triple.json", json.dumps([{"args": {"x": 2}, "expect": 6}]))

    async def go() -> None:
        async with Client(served.server, mode="legacy", message_handler=legacy_changed) as legacy, \
                Client(served.server) as modern:
            await legacy.list_tools()  # the connection is known to the server once it made a request
            async with modern.listen(tools_list_changed=True) as subscription:
                proc = await anyio.to_thread.run_sync(
                    lambda: run_cli(home, "propose", str(tool), "--examples", str(examples)))
                assert proc.returncode == 0, proc.stderr
                await legacy_changed.wait()
                with anyio.fail_after(15):
                    await subscription.__anext__()
            assert (await legacy.call_tool("triple", {"x": 5})).structured_content == {"result": 15}
            assert (await modern.call_tool("triple", {"x": 7})).structured_content == {"result": 21}
            # a rollback in another process changes the list too (the name stays, the version changes)
            proc = await anyio.to_thread.run_sync(lambda: run_cli(home, "rollback", "add"))
            assert proc.returncode == 2 and "earliest version" in proc.stderr  # add has one version: no change
            proc = await anyio.to_thread.run_sync(
                lambda: run_cli(home, "propose", str(write(tmp_path / "t2" / "triple.py",
                                                          TRIPLE.replace('"""Three times x."""',
                                                                         '"""Three times x, exactly."""'))),
                                "--examples", str(examples)))
            assert proc.returncode == 0, proc.stderr
            await legacy_changed.wait()
            proc = await anyio.to_thread.run_sync(lambda: run_cli(home, "rollback", "triple"))
            assert proc.returncode == 0, proc.stderr
            await legacy_changed.wait()
            tools = {t.name: t for t in (await legacy.list_tools()).tools}
            assert tools["triple"].description == "Three times x."
    run(go)
    assert legacy_changed.count == 3


def test_pending_review_says_how_to_approve_and_the_approval_notifies(home: Path) -> None:
    changed = ListChanged()
    code = ADD.replace("add", "plus")  # same behaviour, but the rule below sends it to a human
    config = home / "toolfoundry.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[[policy.rules]]\nname = "humans"\n'
                      'when = { name_matches = "plus" }\nroute = "human"\n', encoding="utf-8")
    foundry = Foundry(make_settings(home), hold_home=False)
    server = FoundryServer(foundry)

    async def go() -> None:
        async with Client(server.server, mode="legacy", message_handler=changed) as client:
            result = await client.call_tool("propose_tool", {"code": code, "examples": json.loads(ADD_EXAMPLES)})
            body = json.loads(text(result))
            assert body["status"] == "pending_review", body
            rid = body["request_id"]
            assert f"toolfoundry review approve {rid} --as NAME" in body["next"]
            proc = await anyio.to_thread.run_sync(lambda: run_cli(home, "review", "approve", rid, "--as", "alice"))
            assert proc.returncode == 0, proc.stderr
            await changed.wait()
            status = json.loads(text(await client.call_tool("request_status", {"id": rid})))
            assert status["status"] == "deployed" and status["tool"]["name"] == "plus"
            assert (await client.call_tool("plus", {"a": 2, "b": 2})).structured_content == {"result": 4}
    try:
        run(go)
    finally:
        foundry.close()


def test_request_capability_has_a_model_write_the_tool_with_progress(home: Path, tmp_path: Path) -> None:
    from test_api import scripted
    changed = ListChanged()
    foundry = Foundry(make_settings(home, TOOLFOUNDRY_MODEL=scripted(tmp_path)), hold_home=False)
    server = FoundryServer(foundry)

    async def go() -> None:
        async with Client(server.server, mode="legacy", message_handler=changed) as client:
            progress: list[str] = []

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress.append(message or "")

            result = await client.call_tool("request_capability", {
                "description": "count the vowels in a text",
                "examples": [{"args": {"text": "Aeiou"}, "expect": 5}]}, progress_callback=on_progress)
            body = json.loads(text(result))
            assert body["status"] == "deployed" and body["tool"]["name"] == "vowels", body
            await changed.wait()
            assert (await client.call_tool("vowels", {"text": "banana"})).structured_content == {"result": 3}
            assert any("the model answered" in p for p in progress) and any("oracle passed" in p for p in progress)
            again = json.loads(text(await client.call_tool("request_capability",
                                                           {"description": "count vowels in text"})))
            assert again["status"] == "deployed" and again["tool"]["name"] == "vowels"  # reused, not regenerated
    try:
        run(go)
    finally:
        foundry.close()
    assert changed.count == 1


def test_a_policy_rule_can_route_what_agents_propose_over_mcp(home: Path) -> None:
    """``source = ["mcp"]``: an agent's own code waits for a human; the same code from the CLI would not."""
    config = home / "toolfoundry.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[[policy.rules]]\nname = "agents-code-needs-a-human"'
                      '\nwhen = { source = ["mcp"] }\nroute = "human"\n', encoding="utf-8")
    foundry = Foundry(make_settings(home), hold_home=False)
    try:
        async def go() -> None:
            async with Client(FoundryServer(foundry).server, mode="legacy") as client:
                result = await client.call_tool("propose_tool", {"code": DOUBLE,
                                                                 "examples": [{"args": {"x": 4}, "expect": 8}]})
                body = json.loads(text(result))
                assert body["status"] == "pending_review", body
                row = foundry.request_row(body["request_id"])
                assert row.source == "mcp" and row.decision and row.decision["rule"] == "agents-code-needs-a-human"
        run(go)
        direct = foundry.propose(Candidate(code=TRIPLE, examples=(Example(args={"x": 1}, expect=3),)))
        assert direct.status == "deployed"
    finally:
        foundry.close()


# ── hosts that freeze the tool list, schemas, cancellation (issues 13.5 and 17) ────────────────

MODE = '''"""Summing or taking the maximum."""
from typing import Literal


def combine(mode: Literal["sum", "max"], values: list[int]) -> int:
    """The sum or the maximum of the values."""
    return sum(values) if mode == "sum" else max(values)
'''

SLOW_TESTS = "import time\n\nfrom tool import double\n\n\ndef test_double():\n    time.sleep(4)\n    assert double(3) == 6\n"


def test_a_client_that_never_relists_finds_and_calls_a_new_tool_through_call_tool(served: FoundryServer) -> None:
    """A host that froze its tool list at session start: it lists once, proposes, and never lists again."""
    async def go() -> None:
        async with Client(served.server, mode="legacy") as client:
            frozen = {t.name for t in (await client.list_tools()).tools}
            assert "call_tool" in frozen and "double" not in frozen
            body = json.loads(text(await client.call_tool("propose_tool", {
                "code": DOUBLE, "examples": [{"args": {"x": 4}, "expect": 8}]})))
            assert body["status"] == "deployed", body
            assert 'call_tool: {"name": "double", "arguments": {...}}' in body["next"]
            hits = json.loads(text(await client.call_tool("search_tools", {"query": "twice x"})))["tools"]
            assert hits[0]["name"] == "double" and hits[0]["description"] == "Twice x."
            assert hits[0]["input_schema"]["properties"] == {"x": {"type": "integer"}}
            result = await client.call_tool("call_tool", {"name": "double", "arguments": {"x": 21}})
            assert not result.is_error and result.structured_content == {"result": 42}
            bad = await client.call_tool("call_tool", {"name": "double", "arguments": {"x": "two"}})
            assert bad.is_error and "$.x: expected integer" in text(bad)
            missing = await client.call_tool("call_tool", {"name": "halve", "arguments": {}})
            assert missing.is_error and "unknown tool 'halve'" in text(missing) and "search_tools" in text(missing)
            not_args = await client.call_tool("call_tool", {"name": "double", "arguments": [21]})
            assert not_args.is_error and "invalid arguments for call_tool" in text(not_args)
            meta = await client.call_tool("call_tool", {"name": "propose_tool", "arguments": {"code": DOUBLE}})
            assert meta.is_error and "unknown tool 'propose_tool'" in text(meta)  # it dispatches to deployed tools only
    run(go)
    calls = [e for e in served.foundry.events() if e.kind == "call"]
    assert [(c.data["name"], c.actor) for c in calls] == [("double", "mcp:mcp")]  # audited like a direct call


def test_schemas_name_a_type_for_every_enum_and_for_expect(served: FoundryServer) -> None:
    assert served.foundry.propose(Candidate(code=MODE, examples=(
        Example(args={"mode": "max", "values": [1, 5]}, expect=5),))).status == "deployed"

    async def go() -> None:
        async with Client(served.server, mode="legacy") as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert tools["combine"].input_schema["properties"]["mode"] == {"type": "string", "enum": ["sum", "max"]}
            expect = tools["propose_tool"].input_schema["properties"]["examples"]["items"]["properties"]["expect"]
            assert [b["type"] for b in expect["anyOf"]] == ["object", "array", "string", "number", "boolean", "null"]
            bad = await client.call_tool("combine", {"mode": "avg", "values": [1]})
            assert bad.is_error and 'expected one of "sum", "max", got string "avg"' in text(bad)
    run(go)


def _settled(foundry: Foundry, rid: str, server: FoundryServer) -> str:
    """Wait until the request stopped running and this server's thread for it returned; its status."""
    import time
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = foundry.request_row(rid)
        if row.status != "running" and rid not in server.inflight.now():
            return row.status
        time.sleep(0.05)
    raise AssertionError(f"request {rid} still running")


def test_a_propose_tool_the_client_cancels_stops_and_deploys_nothing(served: FoundryServer) -> None:
    changed = ListChanged()
    seen: list[str] = []

    async def go() -> None:
        async with Client(served.server, mode="legacy", message_handler=changed) as client:
            started = anyio.Event()

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                seen.append(message or "")
                started.set()

            async with anyio.create_task_group() as tasks:
                async def propose() -> None:
                    await client.call_tool("propose_tool", {"code": DOUBLE, "tests": SLOW_TESTS,
                                                            "examples": [{"args": {"x": 4}, "expect": 8}]},
                                           progress_callback=on_progress)
                    raise AssertionError("the cancelled call returned")
                tasks.start_soon(propose)
                with anyio.fail_after(60):
                    await started.wait()
                tasks.cancel_scope.cancel()  # the client sends notifications/cancelled
            rid = seen[0].split(":")[0]
            status = await anyio.to_thread.run_sync(_settled, served.foundry, rid, served)
            assert status == "cancelled"
            assert "double" not in {t.name for t in (await client.list_tools()).tools}
            now = json.loads(text(await client.call_tool("request_status", {"id": rid})))
            assert now["status"] == "cancelled" and now["reason"] == "cancelled by mcp:mcp" and now["tool"] is None
            assert (await client.call_tool("add", {"a": 1, "b": 1})).structured_content == {"result": 2}  # still serving
    run(go)
    assert changed.count == 0 and "double" not in {t.ref.name for t in served.foundry.tools()}
    rid = seen[0].split(":")[0]
    trail = served.foundry.events(rid)
    kinds = [e.kind for e in trail]
    assert "merge" not in kinds and "deploy" not in kinds and "policy.decision" not in kinds  # stopped before
    closed = [e for e in trail if e.kind == "request.closed"]
    assert len(closed) == 1 and closed[0].data["status"] == "cancelled" and closed[0].actor == "mcp:mcp"
    assert served.foundry.verify().ok


def test_an_enum_stored_without_a_type_by_an_earlier_release_is_listed_with_one(served: FoundryServer,
                                                                                home: Path) -> None:
    import sqlite3

    from toolfoundry.adapters import anthropic_tools, openai_tools
    assert served.foundry.propose(Candidate(code=MODE, examples=(
        Example(args={"mode": "max", "values": [1, 5]}, expect=5),))).status == "deployed"
    with sqlite3.connect(home / "foundry.db") as db:  # what toolfoundry 0.1 stored: {"enum": [...]} alone
        (spec,) = db.execute("SELECT spec FROM tools WHERE name = 'combine'").fetchone()
        old = json.loads(spec)
        assert old["args_schema"]["properties"]["mode"].pop("type") == "string"
        db.execute("UPDATE tools SET spec = ? WHERE name = 'combine'", (json.dumps(old),))
    stored = next(t for t in served.foundry.tools() if t.ref.name == "combine").interface.args_schema
    assert stored["properties"]["mode"] == {"enum": ["sum", "max"]}
    typed = {"type": "string", "enum": ["sum", "max"]}

    async def go() -> None:
        async with Client(served.server, mode="legacy") as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert tools["combine"].input_schema["properties"]["mode"] == typed
    run(go)
    openai = next(t for t in openai_tools(served.foundry) if t["function"]["name"] == "combine")
    assert openai["function"]["parameters"]["properties"]["mode"] == typed  # type: ignore[index]
    anthropic = next(t for t in anthropic_tools(served.foundry) if t["name"] == "combine")
    assert anthropic["input_schema"]["properties"]["mode"] == typed  # type: ignore[index]
