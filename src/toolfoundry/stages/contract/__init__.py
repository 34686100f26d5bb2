"""The tool-file contract: what a tool module must look like, read from its AST (never imported or run).

A tool is one module with a module docstring and exactly one public top-level function (a name not
starting with ``_``), plain ``def``, undecorated, every parameter and the return annotated with a
JSON-representable type, a docstring (the tool's description), parameters callable by keyword (no
``/``, ``*args``, ``**kwargs``) and JSON-literal defaults. Public classes must be TypedDicts.

Owns: :func:`parse_tool` (source → :class:`ToolSpec` + findings), :func:`check_args` and
:func:`validate` (JSON values against the generated schemas: the one way arguments are validated,
for calls and meta-tools too), :func:`example_findings` (examples against the signature),
:func:`compare_versions` and the ``contract`` stage (:func:`stage`). Annotation → schema translation
lives in ``annotations.py``, the validator in ``jsonschema.py``, the tool-name rule in ``toolfile.py``.
Does not own the import allowlist or linting (``stages/checks``).

Finding codes: ``contract.syntax``, ``contract.no-public-function``, ``contract.several-public-functions``,
``contract.async-function``, ``contract.decorated``, ``contract.public-class``, ``contract.bad-name``,
``contract.no-docstring``, ``contract.no-module-docstring`` (warning), ``contract.missing-annotation``,
``contract.unsupported-annotation``, ``contract.star-args``, ``contract.positional-only``,
``contract.bad-default``, ``contract.relative-import``, ``contract.reserved-name``, ``contract.name-clash``,
``contract.signature-changed`` (warning).
"""

from __future__ import annotations

import ast
import time
from collections.abc import Iterable, Sequence
from typing import Any

from toolfoundry.core import META_TOOL_NAMES, Example, Finding, Param, ToolSpec, Verdict, verdict
from toolfoundry.stages.contract.annotations import Scope, Unsupported, parse_string, schema_of, scope_of
from toolfoundry.stages.contract.jsonschema import describe_value, validate
from toolfoundry.toolfile import NAME_RE, NAME_RULE, name_key

__all__ = ["NAME_RE", "RESERVED_NAMES", "check_args", "compare_versions", "example_findings", "name_clash",
           "parse_tool", "stage", "validate"]

RESERVED_NAMES = META_TOOL_NAMES
"""Names of the meta-tools every agent is offered (MCP server, reference agent); no deployed tool may take one,
in any case (``Request_Capability`` is as confusing to an agent as the real one)."""
_RESERVED_KEYS = {name_key(n): n for n in RESERVED_NAMES}
_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


class _NotLiteral(Exception):
    """A default value that is not a JSON literal."""


def parse_tool(code: str, *, name: str | None = None,
               file: str = "tool.py") -> tuple[ToolSpec | None, list[Finding]]:
    """Read a tool's interface from its source; the spec is None when an error finding makes it moot."""
    try:
        tree = ast.parse(code, filename=file)
    except SyntaxError as e:
        return None, [Finding(code="contract.syntax", message=f"the code does not parse: {e.msg}",
                              file=file, line=e.lineno)]
    except ValueError as e:  # source containing NUL bytes
        return None, [Finding(code="contract.syntax", message=f"the code does not parse: {e}", file=file)]
    scope = scope_of(tree)
    findings = _module_findings(tree, scope, file)
    imports = _imports(tree, file, findings)
    fn = _the_function(tree, file, findings)
    if fn is None:
        return None, findings
    tool_name = fn.name if name is None else name
    if not NAME_RE.match(tool_name):
        findings.append(Finding(
            code="contract.bad-name", file=file if name is None else "tool.toml",
            line=fn.lineno if name is None else None,
            message=f"the tool name {tool_name!r} is not allowed: use {NAME_RULE}"))
    elif name_key(tool_name) in _RESERVED_KEYS:
        reserved = _RESERVED_KEYS[name_key(tool_name)]
        same = "" if reserved == tool_name else f" (in another case: {reserved!r})"
        findings.append(Finding(
            code="contract.reserved-name", file=file if name is None else "tool.toml",
            line=fn.lineno if name is None else None,
            message=f"{tool_name!r} is the name of a toolfoundry meta-tool that agents are always offered{same};"
                    f" name the tool after what it does"))
    params, result, signature = _interface(fn, scope, file, findings)
    if result is None or any(f.severity == "error" for f in findings):
        return None, findings
    required = [p.name for p in params if p.required]
    args_schema = {"type": "object", "properties": {p.name: p.schema for p in params},
                   "required": required, "additionalProperties": False}
    spec = ToolSpec(name=tool_name, function=fn.name, description=ast.get_docstring(fn) or "",
                    module_doc=ast.get_docstring(tree) or "", params=tuple(params),
                    args_schema=args_schema, result_schema=result, signature=signature,
                    imports=tuple(imports))
    return spec, findings


def check_args(spec: ToolSpec, args: object) -> list[str]:
    """Problems with call arguments (a JSON object of parameter names to values); empty when valid."""
    if not isinstance(args, dict):
        return [f"$: the arguments must be a JSON object of parameter names to values, "
                f"got {describe_value(args)}"]
    known = {p.name: p for p in spec.params}
    takes = ", ".join(known) or "no parameters"
    problems = [f"$: unknown parameter {key!r}; {spec.function} takes: {takes}"
                for key in args if key not in known]
    for param in spec.params:
        if param.name in args:
            problems += validate(param.schema, args[param.name], f"$.{param.name}")
        elif param.required:
            problems.append(f"$: missing required parameter {param.name!r} ({param.annotation})")
    return problems


def compare_versions(old_signature: str, new: ToolSpec) -> Finding | None:
    """A ``contract.signature-changed`` warning when an existing tool's signature changes, else None."""
    if old_signature == new.signature:
        return None
    return Finding(code="contract.signature-changed", severity="warning", file="tool.py",
                   message=f"the signature of {new.name!r} changes from {old_signature} to {new.signature}; "
                           "it becomes a new version, and callers of the old signature may break")


def name_clash(name: str, taken: Iterable[tuple[str, str]]) -> Finding | None:
    """``contract.name-clash`` when ``name`` differs only in case from a name in ``taken`` (``(name, whose)``
    pairs: deployed tools, requests in flight), else None. An exactly equal name is a new version, not a clash."""
    for other, whose in taken:
        if other != name and name_key(other) == name_key(name):
            return Finding(code="contract.name-clash", file="tool.py", message=(
                f"the tool name {name!r} differs only in case from {other!r} ({whose}); their directories"
                f" tools/{name} and tools/{other} would be one on a case-insensitive file system. Use"
                f" exactly {other!r} for a new version of that tool, or a name of its own"))
    return None


def example_findings(spec: ToolSpec, examples: Sequence[Example], holdout: Sequence[Example]) -> list[Finding]:
    """``contract.example-args`` for every example whose args do not fit the signature (held-out inputs withheld)."""
    findings = []
    for label, given in (("example", examples), ("held-out example", holdout)):
        for i, example in enumerate(given, 1):
            problems = check_args(spec, example.args)
            if problems:
                findings.append(Finding(code="contract.example-args", file="examples.json",
                                        input=example.args if label == "example" else None,
                                        message=f"{label} {i}: args do not match the signature {spec.signature}:"
                                                f" {'; '.join(problems)}"))
    return findings


def stage(code: str, *, name: str | None = None) -> tuple[ToolSpec | None, Verdict]:
    """The ``contract`` stage: :func:`parse_tool` wrapped in a timed verdict."""
    start = time.perf_counter()
    spec, findings = parse_tool(code, name=name)
    ms = (time.perf_counter() - start) * 1000
    details: dict[str, Any] = {"signature": spec.signature} if spec else {}
    return spec, verdict("contract", findings, ms=ms, details=details)


# ── the module ──────────────────────────────────────────────────────────────────────────────────


def _module_findings(tree: ast.Module, scope: Scope, file: str) -> list[Finding]:
    findings = []
    if not ast.get_docstring(tree):
        findings.append(Finding(code="contract.no-module-docstring", severity="warning", file=file, line=1,
                                message="the module has no docstring; start it with one saying what it does"))
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef) and not stmt.name.startswith("_") and stmt.name not in scope.typeddicts:
            findings.append(Finding(
                code="contract.public-class", file=file, line=stmt.lineno,
                message=f"public class {stmt.name!r} is not allowed: a tool exposes one function; rename it "
                        f"to _{stmt.name} or, for structured arguments, make it a TypedDict"))
    return findings


def _imports(tree: ast.Module, file: str, findings: list[Finding]) -> list[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            findings.append(Finding(code="contract.relative-import", file=file, line=node.lineno,
                                    message="relative imports are not allowed: a tool is a single module"))
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return sorted(names)


def _the_function(tree: ast.Module, file: str, findings: list[Finding]) -> _FunctionNode | None:
    public = [s for s in tree.body if isinstance(s, _FunctionNode) and not s.name.startswith("_")]
    if not public:
        findings.append(Finding(code="contract.no-public-function", file=file, line=1,
                                message="the module defines no public top-level function; a tool is exactly "
                                        "one function whose name does not start with _"))
        return None
    if len(public) > 1:
        listed = ", ".join(f"{f.name} (line {f.lineno})" for f in public)
        findings.append(Finding(code="contract.several-public-functions", file=file, line=public[1].lineno,
                                message=f"the module defines {len(public)} public functions: {listed}; keep "
                                        "one and rename the helpers to start with _"))
        return None
    fn = public[0]
    if isinstance(fn, ast.AsyncFunctionDef):
        findings.append(Finding(code="contract.async-function", file=file, line=fn.lineno,
                                message=f"{fn.name} is async; a tool function must be a plain def"))
    for deco in fn.decorator_list:
        findings.append(Finding(code="contract.decorated", file=file, line=deco.lineno,
                                message=f"remove the decorator @{ast.unparse(deco)} from {fn.name}: the "
                                        "contract reads the signature from the source, which it could change"))
    if not ast.get_docstring(fn):
        findings.append(Finding(code="contract.no-docstring", file=file, line=fn.lineno,
                                message=f"{fn.name} has no docstring; its docstring is the tool's description "
                                        "shown to other agents"))
    return fn


# ── the function's interface ────────────────────────────────────────────────────────────────────


def _interface(fn: _FunctionNode, scope: Scope, file: str,
               findings: list[Finding]) -> tuple[list[Param], dict[str, Any] | None, str]:
    """Params, result schema and signature text; problems go to ``findings``."""
    args = fn.args
    if args.posonlyargs:
        findings.append(Finding(code="contract.positional-only", file=file, line=args.posonlyargs[0].lineno,
                                message=f"{fn.name} has positional-only parameters (before /); tools are "
                                        "called by keyword, so remove the /"))
    for star, prefix in ((args.vararg, "*"), (args.kwarg, "**")):
        if star is not None:
            findings.append(Finding(code="contract.star-args", file=file, line=star.lineno,
                                    message=f"{prefix}{star.arg} is not allowed: a tool takes named, "
                                            "annotated parameters only"))
    positional = args.posonlyargs + args.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    pairs = list(zip(positional, [*defaults, *args.defaults], strict=True))
    pairs += list(zip(args.kwonlyargs, args.kw_defaults, strict=True))
    params, parts = [], []
    for i, (arg, default) in enumerate(pairs):
        param = _param(arg, default, scope, file, findings)
        if i == len(positional) and args.vararg is None:
            parts.append("*")
        if param is not None:
            params.append(param)
            shown = f" = {param.schema['default']!r}" if "default" in param.schema else ""
            parts.append(f"{param.name}: {param.annotation}{shown}")
    result = _annotation_schema(fn.returns, f"the return value of {fn.name}", "-> str", scope, file,
                                fn.lineno, findings)
    returns = ast.unparse(parse_string(fn.returns)) if result is not None and fn.returns else "?"
    return params, result, f"({', '.join(parts)}) -> {returns}"


def _param(arg: ast.arg, default: ast.expr | None, scope: Scope, file: str,
           findings: list[Finding]) -> Param | None:
    schema = _annotation_schema(arg.annotation, f"parameter {arg.arg!r}", f"{arg.arg}: str", scope, file,
                                arg.lineno, findings)
    if schema is None or arg.annotation is None:
        return None
    annotation = ast.unparse(parse_string(arg.annotation))
    if default is not None:
        problem = _default_problem(default, schema)
        if problem:
            findings.append(Finding(code="contract.bad-default", file=file, line=default.lineno,
                                    message=f"the default of {arg.arg!r} (`{ast.unparse(default)}`) {problem}"))
            return None
        schema = {**schema, "default": _json_literal(default)}
    return Param(name=arg.arg, annotation=annotation, schema=schema, required=default is None)


def _annotation_schema(node: ast.expr | None, what: str, hint: str, scope: Scope, file: str, line: int,
                       findings: list[Finding]) -> dict[str, Any] | None:
    if node is None:
        findings.append(Finding(code="contract.missing-annotation", file=file, line=line,
                                message=f"{what} has no annotation; annotate it with a JSON type, e.g. `{hint}`"))
        return None
    try:
        return schema_of(node, scope)
    except Unsupported as e:
        written = ast.unparse(node)
        part = "which" if e.text == written else f"and `{e.text}`"
        findings.append(Finding(code="contract.unsupported-annotation", file=file, line=node.lineno,
                                message=f"{what} is annotated `{written}`, {part} is not JSON-representable: "
                                        f"{e.reason}"))
        return None


def _default_problem(node: ast.expr, schema: dict[str, Any]) -> str | None:
    try:
        value = _json_literal(node)
    except _NotLiteral:
        return ("is not a JSON literal; use a constant, a list or dict of constants, or None "
                "(and build anything else inside the function)")
    problems = validate(schema, value, "default")
    return f"does not match the annotation: {problems[0]}" if problems else None


def _json_literal(node: ast.expr) -> Any:
    """The JSON value a default spells (tuples become lists); raises ``_NotLiteral`` otherwise."""
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, str | int | float)):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        number = node.operand.value if isinstance(node.operand, ast.Constant) else None
        if isinstance(number, int | float) and not isinstance(number, bool):
            return -number if isinstance(node.op, ast.USub) else number
    if isinstance(node, ast.List | ast.Tuple):
        return [_json_literal(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        keys = [k.value if isinstance(k, ast.Constant) and isinstance(k.value, str) else None
                for k in node.keys]
        if None in keys:
            raise _NotLiteral
        return {k: _json_literal(v) for k, v in zip(keys, node.values, strict=True)}
    raise _NotLiteral
