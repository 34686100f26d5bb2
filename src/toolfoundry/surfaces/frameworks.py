"""Framework adapters: a foundry's deployed tools as OpenAI, Anthropic, LangChain and pydantic-ai tools.

Owns the translation between the registry's tool specs and each framework's tool format, and between
a framework's tool call and ``Foundry.call``. Every call goes through ``Foundry.call`` — the sandbox,
the reviewed bytes, the audit log under ``caller`` — never through tool code imported here.

Live updates: nothing is cached. Each exporter reads ``foundry.tools()`` when it is called and each
call looks its tool up by name at call time, so a tool deployed mid-session appears the next time the
framework asks for its tools (pydantic-ai's toolset asks on every run step by itself).

Errors: a tool that raises, times out or returns a bad result, arguments that are malformed or do not
match the schema, and an unknown tool name all come back as an error the model sees, in the framework's
own way (error text, ``is_error``, ``ToolException``, ``ModelRetry``/``ToolFailed``). Broken
infrastructure (``InfraError``: no sandbox, a tampered tool) still raises. It does not own the registry,
the sandbox, or any agent loop; langchain-core and pydantic-ai are imported only when their adapter is used.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from toolfoundry.core import JSON, CallResult
from toolfoundry.errors import UsageError
from toolfoundry.jsonlimits import parse
from toolfoundry.stages.contract.annotations import with_types

if TYPE_CHECKING:
    from anthropic.types import ToolParam, ToolResultBlockParam, ToolUseBlock
    from langchain_core.tools import StructuredTool
    from openai.types.chat import (
        ChatCompletionFunctionToolParam,
        ChatCompletionMessageCustomToolCall,
        ChatCompletionMessageFunctionToolCall,
    )
    from pydantic_ai import RunContext, Tool
    from pydantic_ai.toolsets import DynamicToolset, FunctionToolset

    from toolfoundry.api import Foundry

__all__ = ["anthropic_tools", "call_anthropic_tool", "call_openai_tool", "langchain_tools", "openai_tools",
           "pydantic_ai_tools", "pydantic_ai_toolset"]


# ── shared ─────────────────────────────────────────────────────────────────────────────────────


def _call(foundry: Foundry, name: str, args: object, caller: str | None) -> CallResult:
    """Call a tool in the sandbox; a usage problem (bad arguments, no such tool) is an error result."""
    if not isinstance(args, dict):
        return _usage_error(f"the arguments of {name} must be a JSON object, got {type(args).__name__}")
    try:
        return foundry.call(name, args, caller=caller)
    except UsageError as exc:
        return _usage_error(str(exc))


def _usage_error(message: str) -> CallResult:
    return CallResult.failed("UsageError", message)


def _error_text(result: CallResult) -> str:
    """``error: <type>: <message>``, the text a model sees for a failed call."""
    return f"error: {result.error_text()}"


def _content(result: CallResult) -> str:
    """The result as JSON text, or the error text."""
    return json.dumps(result.result, ensure_ascii=False) if result.ok else _error_text(result)


def _field(obj: object, key: str) -> Any:
    """``obj[key]`` of a JSON dict, or ``obj.key`` of an SDK object; None when absent."""
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def _missing(package: str, extra: str) -> UsageError:
    return UsageError(f"{package} is not installed; install it with: pip install 'toolfoundry[{extra}]'")


# ── OpenAI ─────────────────────────────────────────────────────────────────────────────────────


def function_tool(name: str, description: str, parameters: Mapping[str, JSON]) -> ChatCompletionFunctionToolParam:
    """One Chat Completions function tool: ``{"type": "function", "function": {name, description, parameters}}``."""
    return {"type": "function", "function": {"name": name, "description": description,
                                             "parameters": with_types(dict(parameters))}}


def openai_tools(foundry: Foundry) -> list[ChatCompletionFunctionToolParam]:
    """Every deployed tool as a Chat Completions function tool, read from the registry now.

    ``{"type": "function", "function": {"name", "description", "parameters"}}``; ``strict`` is not set
    (a parameter with a default is optional, which OpenAI's strict mode does not allow).
    """
    return [function_tool(tool.ref.name, tool.interface.description, tool.interface.args_schema)
            for tool in foundry.tools()]


def call_openai_tool(foundry: Foundry,
                     tool_call: ChatCompletionMessageFunctionToolCall | ChatCompletionMessageCustomToolCall
                     | Mapping[str, Any], *, caller: str | None = None) -> str:
    """Run one tool call of a Chat Completions response; return the content of the ``role: "tool"`` answer.

    ``tool_call`` is an item of ``message.tool_calls`` (the SDK object or its JSON). The content is the
    result as JSON text, or ``error: <type>: <message>`` — malformed arguments included — never an
    exception (except ``InfraError``).
    """
    function = _field(tool_call, "function")
    name, raw = _field(function, "name"), _field(function, "arguments")
    if not isinstance(name, str) or not isinstance(raw, str):
        return "error: UsageError: only function tool calls with a name and JSON arguments can be run"
    try:
        args = parse(raw or "{}")
    except ValueError as exc:
        return (f"error: UsageError: the arguments of {name} are not valid JSON ({exc}); call {name} again"
                f" with a JSON object")
    return _content(_call(foundry, name, args, caller))


# ── Anthropic ──────────────────────────────────────────────────────────────────────────────────


def anthropic_tools(foundry: Foundry) -> list[ToolParam]:
    """Every deployed tool as an Anthropic Messages tool ``{"name", "description", "input_schema"}``."""
    return [{"name": tool.ref.name, "description": tool.interface.description,
             "input_schema": with_types(dict(tool.interface.args_schema))} for tool in foundry.tools()]


def call_anthropic_tool(foundry: Foundry, block: ToolUseBlock | Mapping[str, Any], *,
                        caller: str | None = None) -> ToolResultBlockParam:
    """Run one ``tool_use`` block (SDK object or JSON); return the ``tool_result`` block answering it.

    ``content`` is the result as JSON text, or ``error: <type>: <message>`` with ``is_error`` true.
    """
    name = _field(block, "name")
    result = _call(foundry, name, _field(block, "input"), caller) if isinstance(name, str) \
        else _usage_error("the tool_use block has no tool name")
    return {"type": "tool_result", "tool_use_id": _field(block, "id"), "content": _content(result),
            "is_error": not result.ok}


# ── LangChain ──────────────────────────────────────────────────────────────────────────────────


def langchain_tools(foundry: Foundry, *, caller: str | None = None) -> list[StructuredTool]:
    """Every deployed tool as a LangChain ``StructuredTool``, read from the registry now.

    Call it again (e.g. before each ``bind_tools``) to pick up new tools. The JSON Schema is the
    ``args_schema`` as is (LangChain passes dict-schema input through unvalidated; ``Foundry.call``
    validates it). The ``ToolMessage`` content is the result as JSON text and its ``artifact`` the value;
    a failure is a ``ToolException`` handled into ``error: <type>: <message>`` with ``status="error"``.
    """
    try:
        from langchain_core.tools import StructuredTool
    except ImportError as exc:
        raise _missing("langchain-core", "langchain") from exc
    return [StructuredTool.from_function(
        func=_langchain_runner(foundry, tool.ref.name, caller), name=tool.ref.name,
        description=tool.interface.description, args_schema=tool.interface.args_schema,
        response_format="content_and_artifact", handle_tool_error=True) for tool in foundry.tools()]


def _langchain_runner(foundry: Foundry, name: str, caller: str | None) -> Callable[..., tuple[str, JSON]]:
    from langchain_core.tools import ToolException

    def run(**kwargs: JSON) -> tuple[str, JSON]:
        """Call the active version of the tool in the sandbox: (JSON text, value), or ToolException."""
        result = _call(foundry, name, kwargs, caller)
        if not result.ok:
            raise ToolException(_error_text(result))
        return _content(result), result.result

    return run


# ── pydantic-ai ────────────────────────────────────────────────────────────────────────────────


def pydantic_ai_tools(foundry: Foundry, *, caller: str | None = None) -> list[Tool[Any]]:
    """Every deployed tool as a pydantic-ai ``Tool`` (``Tool.from_schema``), read from the registry now.

    For an agent that sees new tools without being rebuilt, use ``pydantic_ai_toolset`` instead.
    Bad arguments raise ``ModelRetry`` (the model corrects them; it counts against the tool's retries);
    a tool that fails raises ``ToolFailed`` (the model sees ``error: <type>: <message>`` and adapts).
    """
    try:
        from pydantic_ai import Tool
    except ImportError as exc:
        raise _missing("pydantic-ai-slim", "pydantic-ai") from exc
    return [Tool.from_schema(_pydantic_ai_runner(foundry, tool.ref.name, caller), name=tool.ref.name,
                             description=tool.interface.description, json_schema=tool.interface.args_schema)
            for tool in foundry.tools()]


def pydantic_ai_toolset(foundry: Foundry, *, caller: str | None = None) -> DynamicToolset[Any]:
    """A toolset that re-reads the registry on every run step: ``Agent(model, toolsets=[...])``.

    A tool deployed while the agent runs is offered from the next model request on.
    """
    try:
        from pydantic_ai.toolsets import DynamicToolset, FunctionToolset
    except ImportError as exc:
        raise _missing("pydantic-ai-slim", "pydantic-ai") from exc

    def current(ctx: RunContext[Any]) -> FunctionToolset[Any]:
        return FunctionToolset(pydantic_ai_tools(foundry, caller=caller))

    return DynamicToolset(current, per_run_step=True)


def _pydantic_ai_runner(foundry: Foundry, name: str, caller: str | None) -> Callable[..., JSON]:
    from pydantic_ai import ModelRetry, ToolFailed

    def run(**kwargs: JSON) -> JSON:
        """Call the active version of the tool in the sandbox (pydantic-ai runs it in a worker thread)."""
        try:
            result = foundry.call(name, kwargs, caller=caller)
        except UsageError as exc:
            raise ModelRetry(str(exc)) from exc
        if not result.ok:
            raise ToolFailed(_error_text(result))
        return result.result

    return run
