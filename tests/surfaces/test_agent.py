"""The reference agent extends itself mid-task; `toolfoundry demo` shows it on local defaults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolfoundry.api import Foundry
from toolfoundry.surfaces.agent import Agent
from toolfoundry.testing import FakeOpenAIServer, Reply

from conftest import make_settings, run_cli

SPEC = json.dumps({"name": "reverse_words", "signature": "(text: str) -> str",
                   "description": "Reverse the order of words.", "permissions": {"net_hosts": [], "env_vars": []}})
CODE = ('"""Words."""\n\n\ndef reverse_words(text: str) -> str:\n    """Reverse the order of the words in text."""\n'
        '    return " ".join(reversed(text.split()))\n')
EXAMPLES = [{"args": {"text": "a b c"}, "expect": "c b a"}]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def foundry_llm(home: Path, server: FakeOpenAIServer) -> Iterator[Foundry]:
    settings = make_settings(home, OPENAI_BASE_URL=server.base_url, TOOLFOUNDRY_MODEL="openai:fake-model")
    with Foundry(settings) as f:
        yield f


def test_the_agent_requests_a_missing_tool_and_finishes_its_task_with_it(
        foundry_llm: Foundry, server: FakeOpenAIServer) -> None:
    server.add(
        Reply.tool_call("request_capability", {"description": "reverse the order of words", "examples": EXAMPLES}),
        Reply.text(SPEC), Reply.text(f"```python\n{CODE}```"),
        Reply.tool_call("reverse_words", {"text": "safe agents extend themselves"}),
        Reply.text("Reversed: themselves extend agents safe"))
    result = Agent(foundry_llm, foundry_llm.model(), max_steps=5).run("Reverse 'safe agents extend themselves'.")
    assert result.finished and result.answer == "Reversed: themselves extend agents safe"
    assert len(result.requests) == 1 and result.steps == 3
    assert [t.ref.name for t in foundry_llm.tools()] == ["reverse_words"]
    offered = [[t["function"]["name"] for t in r.get("tools", [])] for r in server.requests
               if any(m["role"] == "system" for m in r["messages"])]
    assert offered[0] == ["request_capability"] and offered[1] == ["reverse_words", "request_capability"]
    tool_msg = next(m for m in server.requests[4]["messages"] if m["role"] == "tool" and "ok" in m["content"])
    assert json.loads(tool_msg["content"]) == {"ok": True, "result": "themselves extend agents safe"}
    run = [e for e in foundry_llm.events() if e.kind == "agent.run"][-1]
    assert run.data["requests"] == list(result.requests) and run.data["finished"] is True
    assert foundry_llm.request_row(result.requests[0]).status == "deployed"


def test_a_capability_pending_review_is_told_to_the_agent_which_carries_on(
        foundry_llm: Foundry, server: FakeOpenAIServer) -> None:
    net_spec = json.loads(SPEC) | {"permissions": {"net_hosts": ["api.example.org"], "env_vars": []}}
    server.add(Reply.text("I need a tool.\nNEED_INTEGRATION: reverse the order of words in a sentence"),
               Reply.text(json.dumps(net_spec)), Reply.text(f"```python\n{CODE}```"),
               Reply.text("I could not get the tool, so I did it by hand: c b a"))
    result = Agent(foundry_llm, foundry_llm.model(), max_steps=4).run("Reverse 'a b c'.")
    assert result.finished and result.answer and "by hand" in result.answer
    told = server.requests[3]["messages"][-1]["content"]
    assert told.startswith("toolfoundry: ") and "pending human review" in told
    assert foundry_llm.tools() == [] and len(foundry_llm.pending()) == 1


def test_bad_tool_call_arguments_are_reported_to_the_model_and_the_step_bound_holds(
        foundry_llm: Foundry, server: FakeOpenAIServer) -> None:
    server.add(Reply.raw_tool_call("request_capability", '{"description": '),
               Reply.raw_tool_call("nosuch", "{}"), Reply.raw_tool_call("nosuch", "{}"))
    result = Agent(foundry_llm, foundry_llm.model(), max_steps=3).run("Do something.")
    assert not result.finished and result.steps == 3 and result.requests == ()
    first_answer = next(m for m in server.requests[1]["messages"] if m["role"] == "tool")
    assert "not valid JSON" in first_answer["content"]
    second_answer = [m for m in server.requests[2]["messages"] if m["role"] == "tool"][-1]
    assert "no deployed tool named 'nosuch'" in second_answer["content"]


def test_demo_runs_the_real_workflow_with_a_scripted_model(tmp_path: Path) -> None:
    proc = run_cli(None, "demo", "--home", str(tmp_path / "demo"), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "SCRIPTED" in out
    assert "oracle.mismatch" in out and "attempt 2" in out and "deployed celsius_to_fahrenheit v1" in out
    assert "agent answers" in out and "audit verify: ok" in out
    assert run_cli(tmp_path / "demo", "call", "celsius_to_fahrenheit", "--args", '{"celsius": 100}',
                   "--json").stdout.strip().endswith("}")


def _text_call(name: str, arguments: dict[str, object]) -> Reply:
    return Reply.text(f"I will call a tool.\n```json\n{json.dumps({'name': name, 'arguments': arguments})}\n```")


def test_a_model_without_native_tool_calls_uses_the_text_protocol(home: Path, server: FakeOpenAIServer) -> None:
    (home / "toolfoundry.toml").write_text('[generation]\ntool_protocol = "text"\n')
    server.add(_text_call("request_capability", {"description": "reverse the order of words", "examples": EXAMPLES}),
               Reply.text(SPEC), Reply.text(f"```python\n{CODE}```"),
               _text_call("reverse_words", {"text": "safe agents extend themselves"}),
               Reply.text("Reversed: themselves extend agents safe"))
    settings = make_settings(home, OPENAI_BASE_URL=server.base_url, TOOLFOUNDRY_MODEL="openai:fake-model")
    with Foundry(settings) as f:
        result = Agent(f, f.model(), max_steps=5).run("Reverse 'safe agents extend themselves'.")
        assert result.finished and result.answer == "Reversed: themselves extend agents safe"
        assert [t.ref.name for t in f.tools()] == ["reverse_words"]
    turns = [r for r in server.requests if r["messages"][0]["role"] == "system"]
    assert all("tools" not in r for r in turns)  # nothing offered as native functions
    assert "- request_capability:" in turns[0]["messages"][0]["content"]
    assert "- reverse_words:" in turns[1]["messages"][0]["content"]  # the deployed tool, described in text
    assert turns[2]["messages"][-1] == {"role": "user", "content": 'toolfoundry: result of reverse_words:'
                                        ' {"ok": true, "result": "themselves extend agents safe"}'}


def test_a_model_that_writes_its_calls_as_text_is_switched_to_the_text_protocol(
        foundry_llm: Foundry, server: FakeOpenAIServer) -> None:
    server.add(_text_call("roman_to_integer", {"numeral": "MCMXCIV"}), Reply.text("It is 1994."))
    result = Agent(foundry_llm, foundry_llm.model(), max_steps=3).run("What is MCMXCIV as an integer?")
    assert result.finished and result.steps == 2 and result.answer == "It is 1994."
    assert "tools" in server.requests[0] and "tools" not in server.requests[1]
    told = server.requests[1]["messages"][-1]["content"]
    assert told.startswith("toolfoundry: result of roman_to_integer: error") and "request_capability" in told
