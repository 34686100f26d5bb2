"""The meta-tools every agent is offered beside the deployed tools, in one place.

Owns the meta-tools' names, descriptions and input schemas (``request_capability``, ``propose_tool``,
``request_status``, ``search_tools``, and ``call_tool``, the dispatcher that reaches a tool deployed after a
host froze its tool list) — the MCP server lists them, the reference agent
offers ``request_capability`` through the OpenAI-function translation of ``frameworks.py`` — and reading
what a model asks for: the arguments of a ``request_capability`` call (:func:`parse_request_capability`)
and ``NEED_INTEGRATION: <what>`` lines in its reasoning (:func:`parse_need_integration`). Examples inside
either go through the one parser in ``examples.py``. Their names are ``core.META_TOOL_NAMES``, which no
deployed tool may take.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from toolfoundry.core import JSON, META_TOOL_NAMES, Example
from toolfoundry.errors import UsageError
from toolfoundry.examples import json_type_name, parse_examples
from toolfoundry.jsonlimits import parse
from toolfoundry.surfaces.frameworks import function_tool

__all__ = ["CALL_TOOL", "META_TOOLS", "PROPOSE_TOOL", "REQUEST_CAPABILITY", "REQUEST_CAPABILITY_TOOL", "REQUEST_STATUS",
           "SEARCH_TOOLS", "CapabilityRequest", "MetaTool", "parse_need_integration", "parse_request_capability"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MetaTool:
    """One meta-tool: what an agent is told about it and the JSON Schema of its arguments."""

    name: str
    """One of ``core.META_TOOL_NAMES``."""
    description: str
    """What the agent reads."""
    input_schema: dict[str, JSON]
    """JSON Schema (type object) of the arguments; calls are validated against it."""


ANY_JSON: list[JSON] = [{"type": t} for t in ("object", "array", "string", "number", "boolean", "null")]
"""Any JSON value, one type a branch: strict validators read a schema without a ``type`` as unchecked, and
single-``type`` dialects cannot read a list of types."""
EXAMPLES_SCHEMA: dict[str, JSON] = {
    "type": "array", "maxItems": 200,
    "description": 'Input/output examples the tool must satisfy: [{"args": {...}, "expect": <json>} or'
                   ' {"args": {...}, "raises": "ValueError"}].',
    "items": {"type": "object", "required": ["args"],
              "properties": {"args": {"type": "object", "description": "Keyword arguments for the tool."},
                             "expect": {"anyOf": ANY_JSON, "description": "The exact JSON value the tool must return."},
                             "raises": {"type": "string",
                                        "description": "Instead of expect: the exception type it must raise."}}}}

REQUEST_CAPABILITY = MetaTool(
    name="request_capability",
    description="Ask for a new tool when none of your tools can do a step of your task: call it only for a"
                " missing capability (not to do the task itself), describe one small, pure function, and give"
                " examples if you can. Deployed tools are checked first and one that fits is named instead;"
                " otherwise a model writes it, it is tested in a sandbox, reviewed and deployed, and it appears"
                " in your tool list. Returns the request's status: deployed, rejected (with findings), or"
                " pending_review (a human must approve; use request_status later).",
    input_schema={"type": "object", "additionalProperties": False, "required": ["description"],
                  "properties": {"description": {"type": "string", "minLength": 1, "maxLength": 4000,
                                                 "description": "What the tool must do: inputs, output, edge"
                                                                " cases, in one or a few sentences."},
                                 "examples": EXAMPLES_SCHEMA}})
PROPOSE_TOOL = MetaTool(
    name="propose_tool",
    description="Propose a tool you wrote: one Python module with a docstring and exactly one public,"
                " fully annotated function (its docstring is the tool's description). toolfoundry checks it,"
                " runs your pytest tests and examples in a sandbox, reviews it and deploys it. Returns"
                " deployed, rejected with findings (fix them and propose again), or pending_review.",
    input_schema={"type": "object", "additionalProperties": False, "required": ["code"],
                  "properties": {"code": {"type": "string", "minLength": 1, "maxLength": 200_000,
                                          "description": "The source of tool.py."},
                                 "tests": {"type": "string", "maxLength": 200_000,
                                           "description": "pytest tests (test_tool.py); import the"
                                                          " function with `from tool import NAME`."},
                                 "examples": EXAMPLES_SCHEMA}})
REQUEST_STATUS = MetaTool(
    name="request_status",
    description="The status of a request made with request_capability or propose_tool: deployed, rejected,"
                " pending_review, running or failed, with the tool and the reason.",
    input_schema={"type": "object", "additionalProperties": False, "required": ["id"],
                  "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 64,
                                        "description": "The request id (or a unique prefix)."}}})
SEARCH_TOOLS = MetaTool(
    name="search_tools",
    description="Search the deployed tools by what they do; returns each one's name, signature, description and"
                " input schema, so you can call it (directly, or through call_tool if it is not in your tool list).",
    input_schema={"type": "object", "additionalProperties": False, "required": ["query"],
                  "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 1000},
                                 "limit": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5}}})
CALL_TOOL = MetaTool(
    name="call_tool",
    description="Call a deployed tool by name: the same as calling the tool itself (its arguments are checked"
                " against its input schema, it runs in the sandbox, the call is audited). Use it for a tool that"
                " is not in your tool list, such as one deployed after your session began; search_tools gives"
                " each tool's input schema.",
    input_schema={"type": "object", "additionalProperties": False, "required": ["name"],
                  "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 63,
                                          "description": "The tool's name, as search_tools or a request's result"
                                                         " gives it."},
                                 "arguments": {"type": "object", "default": {},
                                               "description": "The tool's arguments, matching its input schema,"
                                                              ' e.g. {"text": "Hello"}.'}}})
META_TOOLS: tuple[MetaTool, ...] = (REQUEST_CAPABILITY, PROPOSE_TOOL, REQUEST_STATUS, SEARCH_TOOLS, CALL_TOOL)
if {t.name for t in META_TOOLS} != META_TOOL_NAMES:
    raise RuntimeError("the meta-tools defined here must be exactly core.META_TOOL_NAMES")
REQUEST_CAPABILITY_TOOL = function_tool(REQUEST_CAPABILITY.name, REQUEST_CAPABILITY.description,
                                        REQUEST_CAPABILITY.input_schema)
"""``request_capability`` as an OpenAI Chat Completions function tool (what the reference agent offers)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CapabilityRequest:
    """What a model asked for through the ``request_capability`` tool."""

    description: str
    """What the new tool must do, in the model's words."""
    examples: tuple[Example, ...] = ()
    """Acceptance examples the model gave, if any."""



_NEED = re.compile(
    r"^[ \t>#]*(?:(?:[-*+•]|\d+[.)])[ \t]+)*[*_`]*[ \t]*NEED_INTEGRATION[ \t]*[*_`]*[ \t]*:[ \t]*[*_`]*(?P<what>.*)$",
    re.IGNORECASE | re.MULTILINE)


def parse_need_integration(text: str) -> list[str]:
    """Every ``NEED_INTEGRATION: <what>`` line in a model's reasoning, in order, without repeats.

    The marker is case-insensitive and may follow bullets, numbering, quotes, headings or bold/code marks
    (``- **NEED_INTEGRATION:** ...``); the description is the rest of the line. Empty descriptions and
    unfilled placeholders like ``<what>`` are ignored."""
    out: list[str] = []
    seen: set[str] = set()
    for m in _NEED.finditer(text):
        what = " ".join(m["what"].strip().strip("*`").split())
        key = what.casefold()
        if what and not re.fullmatch(r"<[^<>]*>", what) and key not in seen:
            seen.add(key)
            out.append(what)
    return out


_SHAPE = '{"description": "...", "examples": [{"args": {...}, "expect": ...}]}'


def parse_request_capability(arguments: str) -> CapabilityRequest:
    """The arguments of a ``request_capability`` call, as the model wrote them. Raises ``UsageError`` with
    a message the model can act on when they are not valid JSON or not the expected shape."""
    text = re.sub(r"^\s*```\w*\s*|\s*```\s*$", "", arguments or "")
    if not text.strip():
        raise UsageError(f"request_capability arguments are empty; send a JSON object like {_SHAPE}")
    try:
        data = parse(text)
        if isinstance(data, str):  # double-encoded JSON, as some models send
            data = parse(data)
    except json.JSONDecodeError as exc:
        raise UsageError(f"request_capability arguments are not valid JSON: {exc.msg} at line {exc.lineno}"
                         f" column {exc.colno}; send a JSON object like {_SHAPE}") from None
    if not isinstance(data, dict):
        raise UsageError(f"request_capability arguments must be a JSON object like {_SHAPE},"
                         f" not {json_type_name(data)}")
    _no_unknown(data, {"description", "examples"}, "request_capability arguments")
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise UsageError("description must be a non-empty string saying what the tool must do")
    raw = data.get("examples")
    return CapabilityRequest(description=description.strip(),
                             examples=parse_examples([] if raw is None else raw, where="examples"))


def _no_unknown(obj: dict[str, JSON], allowed: set[str], where: str) -> None:
    unknown = sorted(obj.keys() - allowed)
    if unknown:
        raise UsageError(f"{where} has unknown field(s) {', '.join(map(repr, unknown))};"
                         f" allowed: {', '.join(sorted(allowed))}")
