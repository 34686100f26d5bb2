"""A small, strict JSON Schema validator for exactly the schemas ``toolfoundry.stages.contract.annotations`` makes.

Owns: ``type`` (strict JSON typing: a bool is not an integer or a number, an int is a number, a float is
never an integer), ``enum``/``const`` (strict equality: ``True`` is not ``1``), ``items``,
``prefixItems``/``minItems``/``maxItems``, ``properties``/``required``/``additionalProperties`` and
``anyOf``. ``{}`` accepts any JSON value but still rejects what JSON cannot hold (sets, bytes, NaN,
infinities, non-string keys). ``default`` is an annotation and ignored. Any other keyword is a
developer mistake and raises ``UsageError``. Problems are returned as text, never raised.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from toolfoundry.errors import UsageError
from toolfoundry.examples import json_equal
from toolfoundry.jsonlimits import depth_problem

_KNOWN = frozenset({"type", "enum", "const", "items", "prefixItems", "minItems", "maxItems", "properties",
                    "required", "additionalProperties", "anyOf", "default", "description", "title",
                    "minLength", "maxLength", "minimum", "maximum"})
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def validate(schema: dict[str, Any], value: object, path: str = "$") -> list[str]:
    """Problems with ``value`` against ``schema``, like ``$.width: expected integer, got boolean true``."""
    unknown = set(schema) - _KNOWN
    if unknown:
        raise UsageError(f"validate() does not support the schema keywords {sorted(unknown)}")
    if path == "$" and (too_deep := depth_problem(value)) is not None:  # before anything below recurses
        return [f"$: {too_deep}"]
    not_json = _not_json(value, path)
    if not_json:
        return not_json
    if "anyOf" in schema:
        return _any_of(schema, value, path)
    problems = _type_problems(schema, value, path)
    if problems:
        return problems
    if "const" in schema and not json_equal(schema["const"], value, rel_tol=0):
        return [f"{path}: expected {_show(schema['const'])}, got {describe_value(value)}"]
    if "enum" in schema and not any(json_equal(e, value, rel_tol=0) for e in schema["enum"]):
        choices = ", ".join(_show(e) for e in schema["enum"])
        return [f"{path}: expected one of {choices}, got {describe_value(value)}"]
    if isinstance(value, str):
        return _length(schema, value, path)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _range(schema, value, path)
    if isinstance(value, list | tuple):
        return _array(schema, list(value), path)
    if isinstance(value, dict):
        return _object(schema, value, path)
    return []


def _length(schema: dict[str, Any], value: str, path: str) -> list[str]:
    if len(value) < schema.get("minLength", 0):
        return [f"{path}: must have at least {schema['minLength']} characters, got {len(value)}"]
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return [f"{path}: must have at most {schema['maxLength']} characters, got {len(value)}"]
    return []


def _range(schema: dict[str, Any], value: float, path: str) -> list[str]:
    if "minimum" in schema and value < schema["minimum"]:
        return [f"{path}: must be at least {schema['minimum']}, got {_show(value)}"]
    if "maximum" in schema and value > schema["maximum"]:
        return [f"{path}: must be at most {schema['maximum']}, got {_show(value)}"]
    return []


def json_type(value: object) -> str | None:
    """The JSON type name of a Python value (``integer`` for int, ``boolean`` for bool), or None."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return "object" if isinstance(value, dict) else None


def describe_value(value: object) -> str:
    """``boolean true``, ``string "a"``, ``array [1, 2]`` (shortened)."""
    kind = json_type(value)
    if kind is None:
        return f"{type(value).__name__} {_short(repr(value))} (not a JSON value)"
    return f"{kind} {_show(value)}"


def describe_schema(schema: dict[str, Any]) -> str:
    """A few words for what a schema accepts: ``integer``, ``array of string``, ``integer or null``."""
    if "anyOf" in schema:
        return " or ".join(describe_schema(s) for s in schema["anyOf"])
    if "const" in schema:
        return _show(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(_show(e) for e in schema["enum"])
    kind = schema.get("type")
    if kind is None:
        return "any JSON value"
    if kind == "array" and "prefixItems" in schema:
        return "array of [" + ", ".join(describe_schema(s) for s in schema["prefixItems"]) + "]"
    if kind == "array" and "items" in schema:
        return f"array of {describe_schema(schema['items'])}"
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def _show(value: object) -> str:
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return _short(text)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if _IDENT.match(key) else f"{path}[{json.dumps(key)}]"


def _not_json(value: object, path: str) -> list[str]:
    """Problems that make ``value`` impossible in JSON at all, wherever it sits."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{path}: {value!r} is not a JSON value (JSON has no NaN or infinity)"]
    if isinstance(value, list | tuple):
        return [p for i, item in enumerate(value) for p in _not_json(item, _child(path, i))]
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            return [f"{path}: key {bad[0]!r} is not a string (JSON object keys are strings)"]
        return [p for k, item in value.items() for p in _not_json(item, _child(path, k))]
    if json_type(value) is None:
        return [f"{path}: {describe_value(value)}"]
    return []


def _type_problems(schema: dict[str, Any], value: object, path: str) -> list[str]:
    if "type" not in schema:
        return []
    wanted = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    actual = json_type(value)
    if actual in wanted or (actual == "integer" and "number" in wanted):
        return []
    return [f"{path}: expected {' or '.join(wanted)}, got {describe_value(value)}"]


def _any_of(schema: dict[str, Any], value: object, path: str) -> list[str]:
    branches: list[dict[str, Any]] = schema["anyOf"]
    results = [validate(s, value, path) for s in branches]
    if any(not r for r in results):
        return []
    typed = [r for s, r in zip(branches, results, strict=True)
             if "type" in s and not _type_problems(s, value, path)]
    if len(typed) == 1:  # only one branch has the value's type: its problems are the useful ones
        return typed[0]
    return [f"{path}: expected {describe_schema(schema)}, got {describe_value(value)}"]


def _array(schema: dict[str, Any], items: list[object], path: str) -> list[str]:
    n = len(items)
    if n < schema.get("minItems", 0) or n > schema.get("maxItems", n):
        low, high = schema.get("minItems", 0), schema.get("maxItems")
        want = f"exactly {high}" if low == high else f"at least {low}" if high is None else f"at most {high}"
        return [f"{path}: expected {want} items, got {n}"]
    prefix: list[dict[str, Any]] = schema.get("prefixItems", [])
    problems = [p for i, (s, item) in enumerate(zip(prefix, items, strict=False))
                for p in validate(s, item, _child(path, i))]
    rest = schema.get("items")
    if rest is not None:
        problems += [p for i, item in enumerate(items[len(prefix):], start=len(prefix))
                     for p in validate(rest, item, _child(path, i))]
    return problems


def _object(schema: dict[str, Any], value: dict[Any, Any], path: str) -> list[str]:
    properties: dict[str, dict[str, Any]] = schema.get("properties", {})
    problems = [f"{path}: missing required property {k!r}" for k in schema.get("required", [])
                if k not in value]
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            problems += validate(properties[key], item, _child(path, key))
        elif extra is False:
            allowed = ", ".join(properties) or "none"
            problems.append(f"{path}: unexpected property {key!r} (allowed: {allowed})")
        elif isinstance(extra, dict):
            problems += validate(extra, item, _child(path, key))
    return problems
