"""Deeply nested JSON (issue 16, item 3): every way JSON comes in is bounded in depth (and size), with a clear message.

Before, ``call`` arguments 500 deep hit ``RecursionError`` in the schema validator, 60,000 deep in
``json.loads``, and an examples file 600 deep crashed in DBOS's argument serialisation (pickle).
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp import Client

from toolfoundry import jsonlimits
from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example
from toolfoundry.errors import UsageError
from toolfoundry.examples import load_examples, parse_examples
from toolfoundry.jsonlimits import MAX_DEPTH, JSONLimitError, depth_problem
from toolfoundry.models.replies import json_objects
from toolfoundry.sandbox.protocol import cases
from toolfoundry.stages.contract import validate
from toolfoundry.surfaces.mcp.server import FoundryServer
from toolfoundry.surfaces.metatools import parse_request_capability

from conftest import ADD, cli_json, make_settings, run_cli, write

ECHO = '''"""Echo a value."""
from typing import Any


def echo(value: Any) -> Any:
    """The value, unchanged."""
    return value
'''

NEST = '''"""Nested lists."""
from typing import Any


def nest(n: int) -> Any:
    """A list nested n deep."""
    v: Any = []
    for _ in range(n - 1):
        v = [v]
    return v
'''


def nested(depth: int) -> str:
    """JSON text of lists ``depth`` levels deep."""
    return "[" * depth + "]" * depth


def nested_value(depth: int) -> object:
    value: object = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_depth_is_measured_without_recursing_and_the_bound_is_exact() -> None:
    assert depth_problem(1) is None and depth_problem([]) is None and depth_problem({"a": {"b": [1]}}, 3) is None
    assert depth_problem({"a": {"b": [1]}}, 2) is not None
    assert depth_problem(nested_value(MAX_DEPTH)) is None
    assert "limit of 100 levels" in str(depth_problem(nested_value(MAX_DEPTH + 1)))
    assert depth_problem(nested_value(100_000)) is not None  # far past the interpreter's recursion limit
    assert jsonlimits.parse(nested(MAX_DEPTH)) == nested_value(MAX_DEPTH)
    for depth in (MAX_DEPTH + 1, 500, 60_000):
        with pytest.raises(JSONLimitError, match="nested deeper than the limit of 100 levels"):
            jsonlimits.parse(nested(depth))
        with pytest.raises(json.JSONDecodeError):  # what code handling bad JSON already catches
            jsonlimits.parse(nested(depth))
    with pytest.raises(UsageError, match=r"^--args is \d+ bytes of JSON, more than the limit of 10 bytes$"):
        jsonlimits.loads('{"a": "12345678"}', what="--args", max_bytes=10)
    with pytest.raises(UsageError, match="^x is not valid JSON: NaN is not JSON"):
        jsonlimits.loads('{"a": NaN}', what="x")


def test_examples_files_and_parsed_examples_are_bounded_naming_where(tmp_path: Path) -> None:
    ok = json.dumps([{"args": {"value": nested_value(MAX_DEPTH - 1)}, "expect": nested_value(MAX_DEPTH)}])
    assert len(load_examples(ok, where="ok.json")) == 1
    for depth in (MAX_DEPTH + 1, 600, 60_000):
        text = f'[{{"args": {{"value": 1}}, "expect": {nested(depth)}}}]'
        with pytest.raises(UsageError, match="^deep.json: an example's args or expected value is nested deeper"
                                             " than the limit of 100 levels$"):
            load_examples(text, where="deep.json")
    with pytest.raises(UsageError, match="^examples: example 2: args is nested deeper than the limit"):
        parse_examples([{"args": {}, "expect": 1}, {"args": {"v": nested_value(600)}, "expect": 1}],
                       where="examples")
    with pytest.raises(UsageError, match="^examples: example 1: expect is nested deeper than the limit of 100"):
        parse_examples([{"args": {}, "expect": nested_value(MAX_DEPTH + 1)}], where="examples")
    with pytest.raises(UsageError, match="an example's args is nested deeper"):
        Example(args={"v": nested_value(600)}, expect=1)  # the API path: no parser in between
    with pytest.raises(UsageError, match="an example's expected value is nested deeper"):
        Example(args={}, expect=nested_value(600))
    with pytest.raises(UsageError, match="not valid JSON"):
        parse_request_capability('{"description": "x", "examples": ' + nested(60_000) + "}")


def test_the_validator_refuses_deep_values_before_it_recurses() -> None:
    schema = {"type": "object", "properties": {"value": {}}, "required": ["value"]}
    assert validate(schema, {"value": nested_value(MAX_DEPTH - 1)}) == []
    for depth in (MAX_DEPTH, 500, 5000):
        assert validate(schema, {"value": nested_value(depth)}) == ["$: nested deeper than the limit of 100 levels"]


def test_the_host_refuses_a_too_deep_result_line_even_if_the_runner_let_it_through() -> None:
    line = b"n0nce " + json.dumps({"ok": True, "value": nested_value(900)}).encode() + b"\n"
    results, problems = cases(line, nonce="n0nce", expected=1)
    assert problems == [] and len(results) == 1
    assert not results[0].ok and results[0].error_type == "NotJSON"
    assert "nested deeper than the limit of 100 levels" in results[0].error_message


def test_model_replies_offer_no_object_deeper_than_the_bound() -> None:
    deep = '{"name": "x", "signature": "(a: int) -> int", "extra": ' + nested(500) + "}"
    assert list(json_objects(f"here: {deep} and then {{\"name\": \"ok\"}}")) == [{"name": "ok"}]


def test_deep_arguments_from_the_command_line_are_one_line_and_exit_2(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert run_cli(home, "init").returncode == 0
    echo = write(tmp_path / "echo.py", ECHO)
    examples = write(tmp_path / "ex.json", '[{"args": {"value": [1]}, "expect": [1]}]')
    assert run_cli(home, "propose", str(echo), "--examples", str(examples)).returncode == 0
    fine = '{"value": ' + nested(MAX_DEPTH - 1) + "}"
    assert cli_json(home, "call", "echo", "--args", fine) == (0, {"ok": True, "result": nested_value(MAX_DEPTH - 1)})
    for depth in (500, 60_000):
        proc = run_cli(home, "call", "echo", "--args", '{"value": ' + nested(depth) + "}")
        assert proc.returncode == 2, proc.stderr[-500:]
        assert proc.stderr == "toolfoundry: error: --args is nested deeper than the limit of 100 levels\n"

    deep = write(tmp_path / "deep.json", f'[{{"args": {{"value": 1}}, "expect": {nested(600)}}}]')
    assert len(deep.read_bytes()) < 1300
    proc = run_cli(home, "propose", str(echo), "--examples", str(deep))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr[-500:]
    assert f"{deep}: an example's args or expected value is nested deeper than the limit of 100" in proc.stderr
    log = run_cli(home, "audit", "log", "--json").stdout.splitlines()
    assert sum(json.loads(line)["kind"] == "request.opened" for line in log) == 1  # nothing more was proposed


def test_a_result_deeper_than_the_bound_is_an_error_result(foundry: Foundry) -> None:
    outcome = foundry.propose(Candidate(code=NEST, examples=(Example(args={"n": 2}, expect=[[]]),)))
    assert outcome.status == "deployed", outcome.to_json()
    assert foundry.call("nest", n=MAX_DEPTH).result == nested_value(MAX_DEPTH)
    deep = foundry.call("nest", n=150)  # within the runner's own bound of 200, past the host's
    assert not deep.ok and deep.error == {"type": "NotJSON",
                                          "message": "returned a value nested deeper than the limit of 100 levels"}


def test_deep_mcp_arguments_are_error_results_and_the_server_carries_on(home: Path) -> None:
    foundry = Foundry(make_settings(home), hold_home=False)
    try:
        assert foundry.propose(Candidate(code=ECHO, examples=(Example(args={"value": 1}, expect=1),))).status \
            == "deployed"
        server = FoundryServer(foundry)

        async def go() -> None:
            async with Client(server.server, mode="legacy") as client:
                deep = await client.call_tool("echo", {"value": nested_value(150)})  # the SDK itself stops at 255
                assert deep.is_error and "nested deeper than the limit of 100 levels" in _text(deep)
                proposed = await client.call_tool("propose_tool", {
                    "code": ADD, "examples": [{"args": {"a": 1}, "expect": nested_value(150)}]})
                assert proposed.is_error and "nested deeper than the limit" in _text(proposed)
                ok = await client.call_tool("echo", {"value": [1]})
                assert not ok.is_error and ok.structured_content == {"result": [1]}
        anyio.run(go)
    finally:
        foundry.close()


def _text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


def test_deeply_nested_toml_is_one_line_naming_the_file(tmp_path: Path) -> None:
    from toolfoundry.settings import load
    from toolfoundry.toolfile import load_candidate
    write(tmp_path / "t" / "tool.py", ADD)
    for depth in (MAX_DEPTH + 1, 500, 50_000):
        write(tmp_path / "t" / "tool.toml", f'name = "add"\nextra = {nested(depth)}\n')
        with pytest.raises(UsageError, match=r"tool.toml is nested deeper than the limit of 100 levels$"):
            load_candidate(tmp_path / "t")
        write(tmp_path / "home" / "toolfoundry.toml", f"[pool]\nsize = {nested(depth)}\n")
        if depth > 300:  # shallower ones parse, and the setting's type check refuses them
            with pytest.raises(UsageError, match="toolfoundry.toml: nested too deeply to be settings$"):
                load(tmp_path / "home", {})
    proc = run_cli(tmp_path / "home", "tools")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "nested too deeply" in proc.stderr
