"""Acceptance examples: the one parser for every way they arrive, and the strict JSON equality they are judged by.

Examples come from an ``examples.json`` file (``propose``, ``request --examples``, the tool repository),
from the ``examples`` argument of the ``propose_tool`` and ``request_capability`` meta-tools (MCP), and
from a model's ``request_capability`` call (the reference agent). All of them go through
:func:`parse_examples`, so one rule set decides what an example is: an object with ``args`` (an object
of keyword arguments) and exactly one of ``expect`` (any JSON value) or ``raises`` (an exception class
name). Every problem is a ``UsageError`` that names where and which example (1-based).

:func:`json_equal` is the equality the oracle judges results by, and the one the argument validator
uses for ``const`` and ``enum``: bool is not a number, ``"1"`` is not ``1``, ``None`` is only ``None``.
It does no I/O.
"""

from __future__ import annotations

import math

from toolfoundry.core import JSON, Example
from toolfoundry.errors import UsageError
from toolfoundry.jsonlimits import MAX_DEPTH, JSONLimitError, check_depth, parse

__all__ = ["json_equal", "json_type_name", "load_examples", "parse_examples"]

_KEYS = ("args", "expect", "raises")
FRAMED = MAX_DEPTH + 2
"""How deep an examples file may go: a list of example objects around args and values of ``MAX_DEPTH``."""


def json_equal(expected: JSON, actual: JSON, *, rel_tol: float = 1e-9) -> bool:
    """Strict JSON equality: bool is not a number, "1" is not 1, None is only None, NaN never equal.

    Integers and floats compare by value (JSON has one number type); a float with
    ``math.isclose(rel_tol=rel_tol, abs_tol=1e-12)`` (``rel_tol=0`` for exact comparison).
    """
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is bool and type(actual) is bool and expected == actual
    if expected is None or actual is None:
        return expected is None and actual is None
    numbers = (int, float)
    if isinstance(expected, numbers) or isinstance(actual, numbers):
        if not (isinstance(expected, numbers) and isinstance(actual, numbers)):
            return False
        if isinstance(expected, int) and isinstance(actual, int):
            return expected == actual
        try:
            e, a = float(expected), float(actual)
        except OverflowError:
            return False
        if math.isnan(e) or math.isnan(a):
            return False
        return e == a if rel_tol == 0 else math.isclose(e, a, rel_tol=rel_tol, abs_tol=1e-12)
    if isinstance(expected, str) or isinstance(actual, str):
        return isinstance(expected, str) and isinstance(actual, str) and expected == actual
    if isinstance(expected, list | tuple) and isinstance(actual, list | tuple):
        return len(expected) == len(actual) and all(
            json_equal(e, a, rel_tol=rel_tol) for e, a in zip(expected, actual, strict=True))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            json_equal(expected[k], actual[k], rel_tol=rel_tol) for k in expected)
    return False


def json_type_name(value: object) -> str:
    """How to name a JSON value's type in a message: ``an object``, ``a list``, ``a string``, ..."""
    names = {dict: "an object", list: "a list", tuple: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def load_examples(text: str, *, where: str) -> tuple[Example, ...]:
    """Parse the text of an examples file: ``[{"args": {...}, "expect": <json>} | {"args": {...}, "raises": "Name"}]``."""
    try:
        data = parse(text, max_depth=FRAMED, constants=False)
    except JSONLimitError as exc:
        if exc.bound == "depth":
            raise UsageError(f"{where}: an example's args or expected value is nested deeper than the limit of"
                             f" {MAX_DEPTH} levels") from None
        raise UsageError(f"{where} is {exc.msg}") from None
    except ValueError as exc:
        raise UsageError(f"{where}: not valid JSON: {exc}") from None
    return parse_examples(data, where=where)


def parse_examples(data: object, *, where: str) -> tuple[Example, ...]:
    """Examples from already-parsed JSON (a list of example objects); ``where`` names the source in errors."""
    if not isinstance(data, list):
        raise UsageError(f"{where}: must be a JSON list of examples, not {json_type_name(data)}")
    return tuple(_example(item, f"{where}: example {index + 1}") for index, item in enumerate(data))


def _example(item: object, where: str) -> Example:
    if not isinstance(item, dict):
        raise UsageError(f'{where}: must be an object with "args" and "expect" or "raises", '
                         f"not {json_type_name(item)}")
    unknown = sorted(set(item) - set(_KEYS))
    if unknown:
        raise UsageError(f'{where}: unknown key(s) {", ".join(map(repr, unknown))} (allowed: {", ".join(_KEYS)})')
    if not isinstance(item.get("args"), dict):
        raise UsageError(f'{where}: needs "args", an object of keyword arguments')
    check_depth(item["args"], what=f"{where}: args")
    check_depth(item.get("expect"), what=f"{where}: expect")
    if ("expect" in item) == ("raises" in item):
        raise UsageError(f'{where}: needs exactly one of "expect" (a value) or "raises" (an exception name)')
    if "raises" in item:
        raises = item["raises"]
        if not isinstance(raises, str) or not raises.strip().isidentifier():
            raise UsageError(f'{where}: "raises" must be an exception class name such as "ValueError"')
        return Example(args=item["args"], raises=raises.strip())
    return Example(args=item["args"], expect=item["expect"])
