"""How deep and how large a JSON value toolfoundry accepts: the one place the bounds are set and checked.

JSON arrives from outside in many places: ``call --args`` (a string, a file or stdin), examples files
and the ``examples`` of the MCP meta-tools, the arguments of MCP and API calls, the JSON objects in a
model's reply, and the results a tool sends back from its sandbox. Everything downstream of a parser —
the schema validator, strict equality, DBOS's checkpoints (pickle), rendering — recurses once or more per
level of nesting, on threads that may already be deep in their stack, so an unbounded depth ends in a
``RecursionError`` far from where the input came in (or, past the interpreter's limit, inside the
parser). Each entry point therefore checks here and says which input is too deep or too large.

:func:`loads` parses text strictly with both bounds (a ``UsageError`` naming the input); :func:`parse`
is ``json.loads`` with both bounds, for code that already handles malformed JSON its own way (an input
past a bound is a :class:`JSONLimitError`, a ``json.JSONDecodeError``); :func:`depth_problem` measures an
already-parsed value without recursing, and :func:`check_depth` raises for one. The sandbox's own runner
keeps a separate, looser bound on what a tool may return (it cannot import this module).
"""

from __future__ import annotations

import json
from typing import Any

from toolfoundry.errors import UsageError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "JSONLimitError", "check_depth", "depth_problem", "loads", "parse"]

MAX_DEPTH = 100
"""The most levels of arrays and objects inside one another (``[[1]]`` is 2). Nothing a tool takes or
returns needs more; the code that handles JSON uses two to four stack frames a level."""
MAX_BYTES = 16 * 1024 * 1024
"""The largest JSON text :func:`loads` parses by default (16 MiB: ``call --args @file`` of a big input)."""


class JSONLimitError(json.JSONDecodeError):
    """JSON text past a bound: too large or too deep. A ``JSONDecodeError``, so code that handles malformed
    JSON handles it too (its ``msg`` says which bound)."""

    def __init__(self, msg: str, doc: str | bytes, *, bound: str) -> None:
        super().__init__(msg, doc if isinstance(doc, str) else "", 0)
        self.bound = bound
        """``depth`` or ``size``: which bound the text is past."""


def loads(text: str | bytes, *, what: str, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Strict JSON (no ``NaN``/``Infinity``) within both bounds; a one-line ``UsageError`` naming ``what``."""
    try:
        return parse(text, max_bytes=max_bytes, max_depth=max_depth, constants=False)
    except JSONLimitError as exc:
        raise UsageError(f"{what} is {exc.msg}") from None
    except ValueError as exc:  # JSONDecodeError, a NaN, undecodable bytes
        raise UsageError(f"{what} is not valid JSON: {exc}") from None


def parse(text: str | bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
          constants: bool = True) -> Any:
    """``json.loads(text)`` within both bounds (:class:`JSONLimitError` past one); ``constants=False`` also
    refuses ``NaN`` and ``Infinity``, which are not JSON."""
    size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    if size > max_bytes:
        raise JSONLimitError(f"{size} bytes of JSON, more than the limit of {max_bytes} bytes", text, bound="size")
    try:
        value = json.loads(text) if constants else json.loads(text, parse_constant=_no_constant)
    except RecursionError:  # the parser recursed past the interpreter's limit, far past ours
        raise JSONLimitError(f"nested deeper than the limit of {max_depth} levels", text, bound="depth") from None
    problem = depth_problem(value, max_depth)
    if problem is not None:
        raise JSONLimitError(problem, text, bound="depth")
    return value


def depth_problem(value: object, max_depth: int = MAX_DEPTH) -> str | None:
    """``"nested deeper than the limit of N levels"`` when lists, tuples and dicts in ``value`` go deeper than ``max_depth``;
    None otherwise. Iterative, so any depth is measured safely; it stops at the first level too many."""
    level: list[object] = [value]
    for depth in range(max_depth + 1):
        inner: list[object] = []
        for item in level:
            if isinstance(item, dict):
                inner.extend(item.values())
            elif isinstance(item, list | tuple):
                inner.extend(item)
        if not inner and not any(isinstance(i, dict | list | tuple) for i in level):
            return None
        if depth == max_depth:
            return f"nested deeper than the limit of {max_depth} levels"
        level = inner
    return None  # pragma: no cover (the loop always returns)


def check_depth(value: object, *, what: str, max_depth: int = MAX_DEPTH) -> None:
    """A ``UsageError`` naming ``what`` when ``value`` is nested deeper than ``max_depth``."""
    problem = depth_problem(value, max_depth)
    if problem is not None:
        raise UsageError(f"{what} is {problem}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
