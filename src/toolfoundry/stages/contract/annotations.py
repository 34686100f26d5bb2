"""Annotations → JSON Schema, from the AST alone (the candidate is never imported).

Owns: resolving a tool module's names through its imports (``import typing as t``,
``from typing import List as L``), the table of supported annotations and their schemas, and
TypedDict classes defined in the module. Does not own findings: it raises :class:`Unsupported`, which
``toolfoundry.stages.contract`` turns into a ``contract.unsupported-annotation`` finding.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]

_TYPING = frozenset({"typing", "typing_extensions"})
_SCALARS: dict[str, Schema] = {
    "builtins.str": {"type": "string"}, "builtins.int": {"type": "integer"},
    "builtins.float": {"type": "number"}, "builtins.bool": {"type": "boolean"},
    "typing.Any": {},
}
_BARE: dict[str, Schema] = {
    "builtins.list": {"type": "array"}, "typing.List": {"type": "array"},
    "builtins.tuple": {"type": "array"}, "typing.Tuple": {"type": "array"},
    "builtins.dict": {"type": "object"}, "typing.Dict": {"type": "object"},
}
_KIND = {"builtins.list": "list", "typing.List": "list", "builtins.dict": "dict", "typing.Dict": "dict",
         "builtins.tuple": "tuple", "typing.Tuple": "tuple", "typing.Optional": "optional",
         "typing.Union": "union", "typing.Literal": "literal", "typing.Annotated": "annotated"}
_SETS = "JSON has no sets; use list[...]"
_BYTES = "JSON has no bytes; use str (for example base64 text)"
_CALLABLE = "a function cannot be passed as JSON"
_REASONS = {
    "builtins.set": _SETS, "typing.Set": _SETS, "builtins.frozenset": _SETS, "typing.FrozenSet": _SETS,
    "builtins.bytes": _BYTES, "builtins.bytearray": _BYTES, "builtins.memoryview": _BYTES,
    "builtins.complex": "JSON has no complex numbers; use a pair of numbers",
    "builtins.object": "it is too vague to describe; use typing.Any for any JSON value",
    "builtins.type": "a type cannot be passed as JSON",
    "typing.Callable": _CALLABLE, "collections.abc.Callable": _CALLABLE,
    "typing.Required": "Required[...] is only valid on a TypedDict field",
    "typing.NotRequired": "NotRequired[...] is only valid on a TypedDict field",
}
SUPPORTED = ("str, int, float, bool, None, list[X], dict[str, X], tuple[X, ...], X | Y, Optional[X], "
             "Literal[...], Any, and TypedDict classes defined in the tool module")


class Unsupported(Exception):
    """An annotation (or a part of one) that has no JSON form."""

    def __init__(self, node: ast.expr | str, reason: str) -> None:
        self.text = node if isinstance(node, str) else ast.unparse(node)
        self.reason = reason
        super().__init__(f"`{self.text}` is not JSON-representable: {reason}")


@dataclass(frozen=True, slots=True)
class Scope:
    """What names mean in one tool module."""

    modules: dict[str, str]
    """Local name → module (``import typing as t`` → ``{"t": "typing"}``)."""
    names: dict[str, str]
    """Local name → qualified name (``from typing import List as L`` → ``{"L": "typing.List"}``)."""
    typeddicts: dict[str, ast.ClassDef]
    """TypedDict classes defined at the top level of the module."""
    classes: frozenset[str]
    """Every other class defined at the top level."""


def scope_of(tree: ast.Module) -> Scope:
    """Learn the module's import aliases and classes (imports anywhere, classes at top level)."""
    modules: dict[str, str] = {}
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                modules[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = _canon(f"{node.module}.{alias.name}")
    typeddicts: dict[str, ast.ClassDef] = {}
    imports_only = Scope(modules=modules, names=names, typeddicts=typeddicts, classes=frozenset())
    for stmt in tree.body:  # in order, so a TypedDict may inherit from one defined above it
        if isinstance(stmt, ast.ClassDef) and any(_is_typeddict_base(b, imports_only) for b in stmt.bases):
            typeddicts[stmt.name] = stmt
    others = {s.name for s in tree.body if isinstance(s, ast.ClassDef) and s.name not in typeddicts}
    return Scope(modules=modules, names=names, typeddicts=typeddicts, classes=frozenset(others))


def schema_of(node: ast.expr, scope: Scope) -> Schema:
    """The JSON Schema for an annotation; raises :class:`Unsupported` with the offending part."""
    return _schema(parse_string(node), scope, ())


def parse_string(node: ast.expr) -> ast.expr:
    """A string annotation (``"list[int]"``) parsed into the expression it spells; others unchanged."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return ast.parse(node.value.strip(), mode="eval").body
        except SyntaxError as e:
            raise Unsupported(repr(node.value), f"the string is not a valid annotation ({e.msg})") from None
    return node


def _canon(qualified: str) -> str:
    module, _, attr = qualified.rpartition(".")
    return f"typing.{attr}" if module in _TYPING else qualified


def _qualify(node: ast.expr, scope: Scope) -> str | None:
    """``t.List`` → ``typing.List``; ``str`` → ``builtins.str``; None when the name is unknown."""
    if isinstance(node, ast.Attribute):
        base = _qualify(node.value, scope)
        return _canon(f"{base}.{node.attr}") if base else None
    if not isinstance(node, ast.Name):
        return None
    name = node.id
    if name in scope.typeddicts or name in scope.classes:
        return f"<module>.{name}"
    if name in scope.names:
        return scope.names[name]
    if name in scope.modules:
        return scope.modules[name]
    return f"builtins.{name}" if hasattr(builtins, name) else None


def _is_typeddict_base(node: ast.expr, scope: Scope) -> bool:
    if isinstance(node, ast.Name) and node.id in scope.typeddicts:
        return True
    return _qualify(node, scope) == "typing.TypedDict"


def _schema(node: ast.expr, scope: Scope, stack: tuple[str, ...]) -> Schema:
    node = parse_string(node)
    if isinstance(node, ast.Constant) and node.value is None:
        return {"type": "null"}
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return union([_schema(node.left, scope, stack), _schema(node.right, scope, stack)])
    if isinstance(node, ast.Subscript):
        return _generic(node, scope, stack)
    qualified = _qualify(node, scope)
    if qualified is None:
        raise Unsupported(node, f"it is not a known JSON type (supported: {SUPPORTED})")
    if qualified in _SCALARS or qualified in _BARE:
        return dict(_SCALARS[qualified] if qualified in _SCALARS else _BARE[qualified])
    if qualified.startswith("<module>."):
        name = qualified.removeprefix("<module>.")
        if name in scope.typeddicts:
            return _typeddict(scope.typeddicts[name], scope, stack)
        raise Unsupported(node, "instances of a class are not JSON; use a TypedDict or dict[str, ...]")
    raise Unsupported(node, _REASONS.get(qualified, f"it is not a JSON type (supported: {SUPPORTED})"))


def _generic(node: ast.Subscript, scope: Scope, stack: tuple[str, ...]) -> Schema:
    qualified = _qualify(node.value, scope) or ""
    kind = _KIND.get(qualified)
    args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
    if kind is None:
        reason = _REASONS.get(qualified, f"it is not a JSON type (supported: {SUPPORTED})")
        raise Unsupported(node, reason)
    if kind == "literal":
        return _literal(node, args)
    if kind == "annotated":
        return _schema(args[0], scope, stack)
    if kind in ("optional", "union"):
        members = [_schema(a, scope, stack) for a in args]
        return union(members + ([{"type": "null"}] if kind == "optional" else []))
    if kind == "list" and len(args) == 1:
        return {"type": "array", "items": _schema(args[0], scope, stack)}
    if kind == "dict" and len(args) == 2:
        if _schema(args[0], scope, stack) != {"type": "string"}:
            raise Unsupported(node, "JSON object keys are always strings; use dict[str, ...]")
        return {"type": "object", "additionalProperties": _schema(args[1], scope, stack)}
    if kind == "tuple":
        return _tuple(node, args, scope, stack)
    raise Unsupported(node, f"{qualified.rpartition('.')[2]} takes a different number of arguments")


def _tuple(node: ast.Subscript, args: list[ast.expr], scope: Scope, stack: tuple[str, ...]) -> Schema:
    if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis:
        return {"type": "array", "items": _schema(args[0], scope, stack)}
    if any(isinstance(a, ast.Constant) and a.value is Ellipsis for a in args):
        raise Unsupported(node, "`...` is only allowed as tuple[X, ...]")
    if not args:
        return {"type": "array", "maxItems": 0}
    items = [_schema(a, scope, stack) for a in args]
    return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}


def _literal(node: ast.Subscript, args: list[ast.expr]) -> Schema:
    values: list[Any] = []
    for arg in args:
        try:
            value = ast.literal_eval(arg)
        except ValueError:
            raise Unsupported(node, f"Literal values must be constants, not `{ast.unparse(arg)}`") from None
        if value is not None and not isinstance(value, str | int):  # bool is an int
            raise Unsupported(node, "Literal values must be str, int, bool or None")
        if not any(type(v) is type(value) and v == value for v in values):
            values.append(value)
    return with_types({"const": values[0]} if len(values) == 1 else {"enum": values})  # some APIs need a type


_LITERAL_TYPES = {str: "string", bool: "boolean", int: "integer", type(None): "null"}


def with_types(schema: Schema) -> Schema:
    """``schema`` with a ``type`` on every ``enum``/``const`` that lacks one (schemas stored by earlier releases);
    values of several types become ``anyOf`` branches of one type each, which single-``type`` dialects (the
    OpenAPI subset of Gemini's function declarations) can read, as a ``type`` list they may not."""
    out: Schema = {}
    for key, value in schema.items():
        if key in ("properties", "$defs") and isinstance(value, dict):
            out[key] = {k: with_types(v) if isinstance(v, dict) else v for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = with_types(value)
        elif key in ("anyOf", "prefixItems") and isinstance(value, list):
            out[key] = [with_types(v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    values = out.get("enum", [out["const"]] if "const" in out else None)
    if "type" in out or not isinstance(values, list) or not values or any(type(v) not in _LITERAL_TYPES for v in values):
        return out
    kinds = list(dict.fromkeys(_LITERAL_TYPES[type(v)] for v in values))
    if len(kinds) == 1:
        return {"type": kinds[0], **out}
    rest = {k: v for k, v in out.items() if k not in ("enum", "const")}  # one branch a type: portable to every dialect
    return {"anyOf": [{"type": k, "enum": [v for v in values if _LITERAL_TYPES[type(v)] == k]} for k in kinds], **rest}


def union(members: list[Schema]) -> Schema:
    """``anyOf`` of the members, flattened and without duplicates; a single member stands alone."""
    flat: list[Schema] = []
    for member in members:
        for schema in member["anyOf"] if list(member) == ["anyOf"] else [member]:
            if schema not in flat:
                flat.append(schema)
    if {} in flat:
        return {}
    return flat[0] if len(flat) == 1 else {"anyOf": flat}


def _typeddict(cls: ast.ClassDef, scope: Scope, stack: tuple[str, ...]) -> Schema:
    if cls.name in stack:
        raise Unsupported(cls.name, "recursive TypedDicts are not supported")
    stack = (*stack, cls.name)
    properties: dict[str, Schema] = {}
    required: list[str] = []
    for base in cls.bases:
        if isinstance(base, ast.Name) and base.id in scope.typeddicts:
            inherited = _typeddict(scope.typeddicts[base.id], scope, stack)
            properties.update(inherited["properties"])
            required.extend(inherited["required"])
    total = not any(k.arg == "total" and isinstance(k.value, ast.Constant) and k.value.value is False
                    for k in cls.keywords)
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            annotation, is_required = _field(stmt.annotation, scope, total)
            properties[stmt.target.id] = _schema(annotation, scope, stack)
            if is_required and stmt.target.id not in required:
                required.append(stmt.target.id)
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _field(node: ast.expr, scope: Scope, total: bool) -> tuple[ast.expr, bool]:
    """Unwrap ``Required[X]`` / ``NotRequired[X]`` on a TypedDict field."""
    node = parse_string(node)
    if isinstance(node, ast.Subscript):
        qualified = _qualify(node.value, scope)
        if qualified in ("typing.Required", "typing.NotRequired"):
            return node.slice, qualified == "typing.Required"
    return node, total
