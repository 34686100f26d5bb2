"""Reading what models write: reasoning blocks, JSON objects and code blocks, wherever they sit in a reply.

Real models wrap what they were asked for in prose, in fenced blocks, or in both; reasoning models put a
``<think>...</think>`` block first (sometimes unclosed when the reply was cut off); small models put both
files in one block, or stop in the middle of a fence at the token limit. The stages that read replies (a
spec and code in ``stages/generate.py``, votes in ``stages/review``) and the reference agent (tool calls
written as text) find their material here. No I/O; nothing here raises on anything a model writes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from toolfoundry.core import JSON
from toolfoundry.jsonlimits import depth_problem

MAX_SCAN = 50_000
"""Characters of a reply searched for JSON objects."""

_REASONING = re.compile(
    r"<(think|thinking|thought|reasoning|reflection|scratchpad)\b[^>]*>.*?(?:</\1\s*>|\Z)"
    r"|<\|begin_of_thought\|>.*?(?:<\|end_of_thought\|>|\Z)"
    r"|\A.*?</(?:think|thinking|reasoning)\s*>",  # a closing tag without its opening one (the template ate it)
    re.DOTALL | re.IGNORECASE)

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w.+-]*)[^\n]*\n(.*?)(?:(?P<close>^[ \t]*\1[ \t]*$)|\Z)",
                    re.DOTALL | re.MULTILINE)


def strip_reasoning(text: str) -> str:
    """``text`` without reasoning blocks (``<think>``, ``<thinking>``, ``<reasoning>``, ... and a
    ``</think>`` whose opening tag the chat template swallowed); an unclosed block runs to the end."""
    return _REASONING.sub("", text).strip()


@dataclass(frozen=True, slots=True)
class Block:
    """A fenced block of a reply."""

    lang: str
    """The info string's first word, lowercased (``python``, ``json``, or empty)."""
    body: str
    """What is between the fences."""
    closed: bool
    """False when the reply ended inside the block (a cut-off reply)."""


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a reply (reasoning removed), in order; the last one may be unclosed."""
    found = []
    for m in _FENCE.finditer(strip_reasoning(text)):
        found.append(Block(lang=m.group(2).lower(), body=m.group(3), closed=m.group("close") is not None))
    return found


def json_objects(text: str) -> Iterator[dict[str, JSON]]:
    """Every JSON object in ``text`` (reasoning removed; within its first ``MAX_SCAN`` characters), fenced or
    bare, in order of where it starts; an object that does not parse is skipped, and the search goes on from
    its next ``{``. Objects inside a reasoning block are not offered: they are drafts, not the answer."""
    decoder = json.JSONDecoder()
    text = strip_reasoning(text)[:MAX_SCAN]
    start = text.find("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):
            value, end = None, start + 1
        if isinstance(value, dict) and depth_problem(value) is None:  # a deeper one is no answer
            yield value
            start = text.find("{", end)
        else:
            start = text.find("{", start + 1)


_CALL_NAME_KEYS = ("name", "tool", "function", "tool_name")
_CALL_ARGS_KEYS = ("arguments", "args", "parameters", "input")


def text_tool_calls(text: str) -> list[tuple[str, dict[str, JSON]]]:
    """Tool calls a model wrote as text: JSON objects ``{"name": ..., "arguments": {...}}`` (also ``tool`` /
    ``args`` / ``parameters``, and Qwen's ``<tool_call>`` tags), as (name, arguments) in order."""
    calls: list[tuple[str, dict[str, JSON]]] = []
    for obj in json_objects(text):
        name = next((obj[k] for k in _CALL_NAME_KEYS if isinstance(obj.get(k), str)), None)
        args = next((obj[k] for k in _CALL_ARGS_KEYS if k in obj), None)
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                args = None
        if isinstance(name, str) and isinstance(args, dict):
            calls.append((name, args))
    return calls
