"""Framework adapters against a real foundry: schemas from the registry, calls through the sandbox, live tools.

One foundry home serves the whole module (each propose runs the real sandbox); tests that show live
updates each deploy a tool of their own name after building their adapter, so they do not depend on order.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from toolfoundry.adapters import (
    anthropic_tools,
    call_anthropic_tool,
    call_openai_tool,
    langchain_tools,
    openai_tools,
    pydantic_ai_tools,
    pydantic_ai_toolset,
)
from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example
from toolfoundry.errors import UsageError
from toolfoundry.store.registry import DeployedTool
from toolfoundry.testing import FakeOpenAIServer, Reply

from conftest import ADD, make_settings

ROOT = '''"""Square roots."""

import math


def root(x: float) -> float:
    """The square root of x; x must not be negative."""
    if x < 0:
        raise ValueError(f"cannot take the square root of negative {x}")
    return math.sqrt(x)
'''


def scale_tool(name: str, factor: int) -> Candidate:
    """A tool ``name(n: int) -> int`` returning ``n * factor``."""
    code = f'''"""Scale integers by {factor}."""


def {name}(n: int) -> int:
    """Return n multiplied by {factor}."""
    return n * {factor}
'''
    return Candidate(code=code, examples=(Example(args={"n": 2}, expect=2 * factor),))


def deploy(foundry: Foundry, candidate: Candidate) -> None:
    outcome = foundry.propose(candidate)
    assert outcome.status == "deployed", outcome.reason


def tool_named(foundry: Foundry, name: str) -> DeployedTool:
    return next(t for t in foundry.tools() if t.ref.name == name)


@pytest.fixture(scope="module")
def foundry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Foundry]:
    """A home with ``add`` and ``root`` deployed, opened as user 'tester' for the whole module."""
    home: Path = tmp_path_factory.mktemp("adapters") / "home"
    assert Foundry.init(make_settings(home)).sandbox_problem is None
    with Foundry(make_settings(home)) as opened:
        deploy(opened, Candidate(code=ADD, examples=(Example(args={"a": 1, "b": 2}, expect=3),)))
        deploy(opened, Candidate(code=ROOT, examples=(Example(args={"x": 4}, expect=2.0),
                                                       Example(args={"x": -1}, raises="ValueError"))))
        yield opened


# ── schemas ────────────────────────────────────────────────────────────────────────────────────


def test_openai_and_anthropic_tools_are_the_registry_schemas_and_descriptions(foundry: Foundry) -> None:
    registry = {t.ref.name: t.interface.to_json() for t in foundry.tools()}
    assert {"add", "root"} <= set(registry)
    assert openai_tools(foundry) == [
        {"type": "function", "function": {"name": name, "description": spec["description"],
                                          "parameters": spec["args_schema"]}} for name, spec in registry.items()]
    assert anthropic_tools(foundry) == [
        {"name": name, "description": spec["description"], "input_schema": spec["args_schema"]}
        for name, spec in registry.items()]
    assert registry["add"]["args_schema"]["required"] == ["a"]


def test_langchain_tools_offer_the_registry_schema_to_the_model(foundry: Foundry) -> None:
    from langchain_core.utils.function_calling import convert_to_openai_tool

    tools = {t.name: t for t in langchain_tools(foundry)}
    add = tool_named(foundry, "add")
    assert tools["add"].description == add.interface.description == "Sum of a and b."
    assert tools["add"].args_schema == add.interface.args_schema
    assert convert_to_openai_tool(tools["add"])["function"]["parameters"] == add.interface.args_schema


def test_pydantic_ai_tools_offer_the_registry_schema_to_the_model(foundry: Foundry) -> None:
    definitions = {t.name: t.tool_def for t in pydantic_ai_tools(foundry)}
    for name in ("add", "root"):
        spec = tool_named(foundry, name).interface.to_json()
        assert definitions[name].parameters_json_schema == spec["args_schema"]
        assert definitions[name].description == spec["description"]


# ── calls and errors ───────────────────────────────────────────────────────────────────────────


def openai_call(name: str, arguments: str) -> Any:
    from openai.types.chat import ChatCompletionMessageFunctionToolCall
    from openai.types.chat.chat_completion_message_function_tool_call import Function

    return ChatCompletionMessageFunctionToolCall(id="call_1", type="function",
                                                 function=Function(name=name, arguments=arguments))


def test_openai_dispatcher_returns_the_sandboxed_result_or_an_error_text(foundry: Foundry) -> None:
    from openai.types.chat import ChatCompletionMessageCustomToolCall

    assert call_openai_tool(foundry, openai_call("add", '{"a": 2, "b": 3}')) == "5"
    assert call_openai_tool(foundry, {"function": {"name": "add", "arguments": '{"a": 2}'}}) == "3"
    assert call_openai_tool(foundry, openai_call("root", '{"x": -4}')) == \
        "error: ValueError: cannot take the square root of negative -4"
    malformed = call_openai_tool(foundry, openai_call("add", '{"a": 2,'))
    assert malformed.startswith("error: UsageError: the arguments of add are not valid JSON (")
    assert call_openai_tool(foundry, openai_call("add", "[2, 3]")) == \
        "error: UsageError: the arguments of add must be a JSON object, got list"
    assert call_openai_tool(foundry, openai_call("add", '{"a": "two"}')) == ("error: UsageError: arguments for"
                                                                          " add(a: int, b: int = 1) -> int:"
                                                                          ' $.a: expected integer, got string "two"')
    assert call_openai_tool(foundry, openai_call("nope", "{}")) == \
        "error: UsageError: no deployed tool named 'nope'"
    custom = ChatCompletionMessageCustomToolCall.model_validate(
        {"id": "c", "type": "custom", "custom": {"name": "add", "input": "2 3"}})
    assert call_openai_tool(foundry, custom).startswith("error: UsageError: only function tool calls")


def test_anthropic_dispatcher_answers_with_a_tool_result_block(foundry: Foundry) -> None:
    from anthropic.types import ToolUseBlock

    def use(name: str, tool_input: dict[str, Any]) -> ToolUseBlock:
        return ToolUseBlock(id="toolu_1", type="tool_use", name=name, input=tool_input)

    assert call_anthropic_tool(foundry, use("add", {"a": 2, "b": 3})) == \
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "5", "is_error": False}
    assert call_anthropic_tool(foundry, use("root", {"x": -4})) == {
        "type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
        "content": "error: ValueError: cannot take the square root of negative -4"}
    bad = call_anthropic_tool(foundry, {"type": "tool_use", "id": "toolu_2", "name": "add", "input": {"b": 1}})
    assert bad["is_error"] is True and bad["tool_use_id"] == "toolu_2"
    assert "missing required property 'a'" in str(bad["content"])


def test_langchain_tool_runs_in_the_sandbox_and_hands_failures_to_the_model(foundry: Foundry) -> None:
    from langchain_core.messages import ToolMessage

    tools = {t.name: t for t in langchain_tools(foundry)}
    assert tools["add"].invoke({"a": 2, "b": 3}) == "5"
    ok = tools["add"].invoke({"type": "tool_call", "id": "c1", "name": "add", "args": {"a": 2, "b": 3}})
    assert isinstance(ok, ToolMessage)
    assert (ok.content, ok.artifact, ok.status, ok.tool_call_id) == ("5", 5, "success", "c1")
    failed = tools["root"].invoke({"type": "tool_call", "id": "c2", "name": "root", "args": {"x": -4}})
    assert isinstance(failed, ToolMessage)
    assert failed.status == "error"
    assert failed.content == "error: ValueError: cannot take the square root of negative -4"
    invalid = tools["add"].invoke({"type": "tool_call", "id": "c3", "name": "add", "args": {"a": "two"}})
    assert isinstance(invalid, ToolMessage) and invalid.status == "error"
    assert '$.a: expected integer, got string "two"' in str(invalid.content)


def test_pydantic_ai_agent_sees_bad_arguments_and_a_failing_tool_and_carries_on(foundry: Foundry) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.messages import (
        ModelMessage,
        ModelRequest,
        ModelResponse,
        TextPart,
        ToolCallPart,
        ToolReturnPart,
    )
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    seen: list[ToolReturnPart] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = messages[-1]
        if isinstance(last, ModelRequest):
            seen.extend(p for p in last.parts if isinstance(p, ToolReturnPart))
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("add", {"a": "two"}, tool_call_id="t1")])
        if len(messages) == 3:
            return ModelResponse(parts=[ToolCallPart("root", {"x": -4}, tool_call_id="t2")])
        return ModelResponse(parts=[TextPart("could not take that root")])

    agent = Agent(FunctionModel(model), toolsets=[pydantic_ai_toolset(foundry)])
    assert asyncio.run(agent.run("root of -4?")).output == "could not take that root"
    assert [(p.tool_name, p.outcome) for p in seen] == [("add", "retried"), ("root", "failed")]
    assert str(seen[0].content).endswith('$.a: expected integer, got string "two"')
    assert seen[1].content == "error: ValueError: cannot take the square root of negative -4"
    assert "cannot take the square root" in seen[1].model_response_str()  # what goes on the wire


def test_calls_are_audited_under_the_agents_name(foundry: Foundry) -> None:
    call_anthropic_tool(foundry, {"id": "toolu_9", "name": "add", "input": {"a": 40}}, caller="agent:claude")
    call_openai_tool(foundry, openai_call("add", '{"a": 1}'))
    calls = [e for e in foundry.events() if e.kind == "call"][-2:]
    assert [e.actor for e in calls] == ["agent:claude", "tester"]


def test_a_missing_extra_says_what_to_install(foundry: Foundry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langchain_core.tools", None)  # as if langchain-core were not installed
    monkeypatch.setitem(sys.modules, "pydantic_ai", None)
    with pytest.raises(UsageError, match=r"pip install 'toolfoundry\[langchain\]'"):
        langchain_tools(foundry)
    with pytest.raises(UsageError, match=r"pip install 'toolfoundry\[pydantic-ai\]'"):
        pydantic_ai_tools(foundry)


# ── live updates: a tool deployed after the adapter was built ──────────────────────────────────


def test_openai_conversation_is_offered_and_calls_a_tool_deployed_mid_conversation(foundry: Foundry) -> None:
    from openai import OpenAI

    script = [Reply.tool_call("add", {"a": 2, "b": 3}), Reply.tool_call("triple", {"n": 5}), Reply.text("15")]
    messages: list[Any] = [{"role": "user", "content": "add 2 and 3, then triple 5"}]
    with FakeOpenAIServer(script) as server, OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client:
        for turn in range(3):
            if turn == 1:
                deploy(foundry, scale_tool("triple", 3))  # the foundry gains a tool mid-conversation
            reply = client.chat.completions.create(model="fake", messages=messages, tools=openai_tools(foundry))
            message = reply.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            messages += [{"role": "tool", "tool_call_id": call.id, "content": call_openai_tool(foundry, call)}
                         for call in message.tool_calls or ()]
    offered = [[t["function"]["name"] for t in request["tools"]] for request in server.requests]
    assert "triple" not in offered[0] and "triple" in offered[1]
    assert [m["content"] for m in messages if m["role"] == "tool"] == ["5", "15"]
    assert server.requests[2]["messages"][-1] == {"role": "tool", "tool_call_id": "call_0", "content": "15"}


def test_anthropic_conversation_is_offered_and_calls_a_tool_deployed_mid_conversation(foundry: Foundry) -> None:
    from anthropic import Anthropic

    script = [Reply.tool_call("add", {"a": 1}), Reply.tool_call("quadruple", {"n": 5}), Reply.text("20")]
    messages: list[Any] = [{"role": "user", "content": "quadruple 5"}]
    with FakeOpenAIServer(script) as server, \
            Anthropic(base_url=server.root_url, api_key="k", max_retries=0) as client:
        for turn in range(3):
            if turn == 1:
                deploy(foundry, scale_tool("quadruple", 4))
            reply = client.messages.create(model="fake", max_tokens=100, messages=messages,
                                           tools=anthropic_tools(foundry))
            blocks = [b.model_dump(exclude_none=True) for b in reply.content]
            messages.append({"role": "assistant", "content": blocks})
            results = [call_anthropic_tool(foundry, b) for b in reply.content if b.type == "tool_use"]
            if results:
                messages.append({"role": "user", "content": results})
    offered = [[t["name"] for t in request["tools"]] for request in server.requests]
    assert "quadruple" not in offered[0] and "quadruple" in offered[1]
    assert server.requests[2]["messages"][-1]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_0", "content": "20", "is_error": False}]


def test_langchain_tools_listed_again_include_a_tool_deployed_later(foundry: Foundry) -> None:
    before = langchain_tools(foundry)
    assert "double" not in {t.name for t in before}
    deploy(foundry, scale_tool("double", 2))
    after = {t.name: t for t in langchain_tools(foundry)}
    assert after["double"].invoke({"n": 21}) == "42"
    assert next(t for t in before if t.name == "add").invoke({"a": 1, "b": 1}) == "2"  # earlier tools still run


def test_pydantic_ai_agent_calls_a_tool_deployed_during_its_run(foundry: Foundry) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.messages import (
        ModelMessage,
        ModelRequest,
        ModelResponse,
        TextPart,
        ToolCallPart,
        ToolReturnPart,
    )
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    offered: list[list[str]] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        offered.append(sorted(t.name for t in info.function_tools))
        if len(messages) == 1:
            deploy(foundry, scale_tool("quintuple", 5))  # deployed while the agent is between steps
            return ModelResponse(parts=[ToolCallPart("add", {"a": 1, "b": 2}, tool_call_id="t1")])
        if len(messages) == 3:
            return ModelResponse(parts=[ToolCallPart("quintuple", {"n": 3}, tool_call_id="t2")])
        last = messages[-1]
        assert isinstance(last, ModelRequest)
        part = last.parts[0]
        assert isinstance(part, ToolReturnPart)
        return ModelResponse(parts=[TextPart(json.dumps(part.content))])

    agent = Agent(FunctionModel(model), toolsets=[pydantic_ai_toolset(foundry, caller="agent:pydantic")])
    assert asyncio.run(agent.run("3 times 5")).output == "15"
    assert "quintuple" not in offered[0] and "quintuple" in offered[1]
    assert [e.actor for e in foundry.events() if e.kind == "call"][-1] == "agent:pydantic"
