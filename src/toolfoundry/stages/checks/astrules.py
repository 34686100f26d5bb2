"""The AST policy of the ``checks`` stage: what a tool's code may reach besides its imports.

Owns ``dynamic_code_findings`` (re-exported by ``toolfoundry.stages.checks``). Reads the tree only; never runs it.
Does not own the import allowlist (``toolfoundry.stages.checks.imports``).

Codes, each finding saying the line and what to do instead:

* ``checks.dynamic-code`` — anything that builds or looks up code or names at run time, or reaches the
  interpreter's machinery: ``eval``, ``exec``, ``compile``, ``__import__``, ``globals``, ``locals``,
  ``vars``, ``dir``; ``getattr``/``setattr``/``delattr``/``hasattr`` and ``operator.attrgetter``/
  ``methodcaller`` with a computed name (a private or dunder literal is judged like the attribute itself);
  dunder attributes (``x.__class__``, ``__subclasses__``, ``__globals__``, ``__dict__``, ``__mro__``...)
  and module dunders (``__builtins__``, ``__loader__``...); frame, traceback, generator, coroutine and
  code internals even without underscores (``gi_frame``, ``f_back``, ``f_globals``, ``tb_frame``,
  ``co_code``...); strings that spell part of a dunder (``"__imp" + "ort__"``) or a format field reaching
  an attribute (``"{0.__class__}"``). One code for all of them because all are one attack class: walking
  from an allowed object to ``os`` (the security suite and the policy treat it so).
* ``checks.private-attribute`` — ``x._name`` on anything but ``self``/``cls``/``super()``, unless the
  module itself defines ``_name`` (on ``self``, in a class body) and ``x`` is not a module; a module's
  private names are never allowed (``random._os``).
* ``checks.import-not-allowed`` — a module reached as an attribute of an allowed one (``typing.sys``,
  ``typing.io``, ``urllib.request`` without a network permission).
* ``checks.attribute-not-allowed`` — an impure part of a module that mixes pure and impure parts
  (``imports.PARTLY_SAFE``): ``io.open``, ``io.FileIO``, ``getattr(io, "open")``; and such a module used
  as a value (``x = io``, ``f(io)``, ``[io][0]``), which would hand its other parts out unchecked. Only
  ``io.StringIO``-style attribute reads of the listed parts pass.
* ``checks.builtin-not-allowed`` — ``open``, ``input``, ``breakpoint``, ``help``.

Allowed, on purpose: defining any method (``__init__``, ``__post_init__``, ``__eq__``); calling dunders
on ``self``/``cls``/``super()``/the module's own classes (``super().__init__(...)``) except the dangerous
ones (``__class__``, ``__dict__``, ``__globals__``...); ``x.__name__``, ``__qualname__``, ``__doc__``,
``__module__`` on anything; ``__name__``/``__doc__`` as names (``if __name__ == "__main__":``);
namedtuple's ``_replace``/``_asdict``/``_fields``/``_make``; the listed parts of a partly safe module
(``io.StringIO(text)``, ``from io import BytesIO``). A name bound by the function itself (a
parameter called ``input`` or ``vars``) is not the builtin; module-level rebinding does not count.
``memoryview`` is left alone: without ``ctypes`` it reaches nothing.
"""

from __future__ import annotations

import ast
import re

from toolfoundry.core import Finding, Permissions
from toolfoundry.stages.checks.imports import (
    NET_IMPORTS,
    PARTLY_SAFE,
    STDLIB_MODULES,
    import_problem,
    module_allowed,
    partly_safe_problem,
    reach_problem,
)

_DYNAMIC_NAMES = frozenset({"eval", "exec", "compile", "__import__", "globals", "locals", "vars", "dir"})
_BLOCKED_BUILTINS = {"open": "tools may not touch files", "input": "stdin belongs to the sandbox runner",
                     "breakpoint": "there is no debugger in the sandbox", "help": "there is no terminal"}
_ATTR_FUNCTIONS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
_ATTR_FACTORIES = frozenset({"attrgetter", "methodcaller"})
_HARMLESS_DUNDERS = frozenset({"__name__", "__qualname__", "__doc__", "__module__"})
_NAME_DUNDERS = frozenset({"__name__", "__doc__", "__debug__", "__qualname__", "__main__"})
_DANGEROUS_DUNDERS = frozenset({
    "__class__", "__dict__", "__globals__", "__builtins__", "__subclasses__", "__mro__", "__base__",
    "__bases__", "__code__", "__closure__", "__func__", "__self__", "__traceback__", "__loader__", "__spec__",
    "__import__", "__getattribute__", "__reduce__", "__reduce_ex__", "__weakref__", "__init_subclass__",
    "__subclasshook__", "__cause__", "__context__", "__defaults__", "__kwdefaults__", "__wrapped__"})
_FRAME_ATTRS = frozenset({
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "cr_origin", "ag_frame",
    "ag_code", "ag_await", "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace", "tb_frame",
    "tb_next", "func_globals", "func_code", "func_closure", "co_code", "co_consts", "co_names",
    "cell_contents", "im_func", "im_self"})
_PUBLIC_UNDERSCORE = frozenset({"_replace", "_asdict", "_fields", "_make", "_field_defaults"})
_SELF_NAMES = frozenset({"self", "cls", "mcs", "metacls"})
_DUNDERISH = re.compile(r"__\w*[^\W_]\w*|\w*[^\W_]\w*__")
_FORMAT_ATTRIBUTE = re.compile(r"\{[^{}]*[.\[]\s*_")
_INTERNALS = "tools may not use dunder or interpreter internals; write plain code on plain values"


def dynamic_code_findings(tree: ast.Module, permissions: Permissions | None = None, *,
                          file: str = "tool.py") -> list[Finding]:
    """Every finding of the AST policy (see the module docstring), in source order, without duplicates."""
    policy = _Policy(tree, permissions or Permissions(), file)
    policy.visit(tree)
    unique = {(f.code, f.line, f.message): f for f in policy.findings}
    return sorted(unique.values(), key=lambda f: f.line or 0)


class _Policy(ast.NodeVisitor):
    """One pass over the tree with the scope facts the rules need."""

    def __init__(self, tree: ast.Module, permissions: Permissions, file: str) -> None:
        self.permissions, self.file = permissions, file
        self.findings: list[Finding] = []
        self.modules = _module_aliases(tree)
        self.classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
        self.own_private = _own_private_names(tree)
        self.docstrings = _docstring_ids(tree)
        self.scopes: list[set[str]] = []
        self.judged: set[int] = set()
        self.read_parts: set[int] = set()
        """ids of the ``io`` Names of ``io.<attr>`` reads (the rest of that module's uses are refused)."""

    def add(self, code: str, node: ast.AST, message: str) -> None:
        line = getattr(node, "lineno", None)
        self.findings.append(Finding(code=code, file=self.file, line=line, message=f"line {line}: {message}"))

    # ── scopes: a name bound in the enclosing function is not the builtin ──

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        outer: list[ast.AST] = [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
        if not isinstance(node, ast.Lambda):
            outer += [*node.decorator_list, *([node.returns] if node.returns else [])]
        all_args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                    *([node.args.vararg] if node.args.vararg else []), *([node.args.kwarg] if node.args.kwarg else [])]
        outer += [a.annotation for a in all_args if a.annotation is not None]
        for child in outer:
            self.visit(child)
        self.scopes.append({a.arg for a in all_args} | _locals(node))
        for child in ([node.body] if isinstance(node, ast.Lambda) else node.body):
            self.visit(child)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_Lambda = visit_FunctionDef

    def local(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    # ── the rules ──

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load) or self.local(node.id):
            return
        if node.id in _DYNAMIC_NAMES:
            self.add("checks.dynamic-code", node, f"`{node.id}` is not allowed: a tool's code must be plain, "
                     "readable source (no code or names built, imported or looked up at run time)")
        elif node.id in _BLOCKED_BUILTINS:
            self.add("checks.builtin-not-allowed", node,
                     f"`{node.id}()` is not allowed: {_BLOCKED_BUILTINS[node.id]}")
        elif _is_dunder(node.id) and node.id not in _NAME_DUNDERS:
            self.add("checks.dynamic-code", node, f"`{node.id}` reaches the interpreter's internals; {_INTERNALS}")
        elif self.modules.get(node.id) in PARTLY_SAFE and id(node) not in self.read_parts:
            module = self.modules[node.id]
            self.add("checks.attribute-not-allowed", node, f"the module `{node.id}` is used as a value; only some"
                     f" parts of {module!r} are allowed, so name each one where it is used"
                     f" ({', '.join(f'{node.id}.{a}' for a in sorted(PARTLY_SAFE[module]))})")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and self.modules.get(node.value.id) in PARTLY_SAFE:
            self.read_parts.add(id(node.value))  # `io.StringIO`: the attribute is judged right here
        self.check_attribute(node, node.value, node.attr, f"`{_text(node)}`")
        self.generic_visit(node)

    def check_attribute(self, node: ast.AST, base: ast.expr, attr: str, shown: str) -> None:
        is_self = _is_self(base) or (isinstance(base, ast.Name) and base.id in self.classes)
        module = _dotted_module(base, self.modules)
        if attr in _FRAME_ATTRS:
            self.add("checks.dynamic-code", node, f"{shown} reaches frame, traceback, generator or code "
                     f"internals; {_INTERNALS}")
        elif _is_dunder(attr):
            if attr in _DANGEROUS_DUNDERS or not (is_self or attr in _HARMLESS_DUNDERS):
                self.add("checks.dynamic-code", node, f"{shown} reaches a dunder attribute; {_INTERNALS} "
                         f"(only {', '.join(sorted(_HARMLESS_DUNDERS))} may be read)")
        elif attr.startswith("_"):
            if module is not None or not (is_self or attr in self.own_private or attr in _PUBLIC_UNDERSCORE):
                what = "of a module" if module is not None else "the code does not define"
                self.add("checks.private-attribute", node, f"{shown} reaches a private attribute {what}; "
                         "tools may not use private or dunder attributes of other objects")
        elif module is not None:
            self.check_module_attribute(node, f"{module}.{attr}", attr, shown)

    def check_module_attribute(self, node: ast.AST, dotted: str, attr: str, shown: str) -> None:
        """``typing.sys``: a module handed out by an allowed module; ``urllib.request`` without permission;
        ``io.open``: an impure part of a partly safe module."""
        parts = dotted.split(".")
        if parts[0] in PARTLY_SAFE:
            if parts[1] not in PARTLY_SAFE[parts[0]]:
                self.add("checks.attribute-not-allowed", node,
                         f"{shown} is not allowed: {partly_safe_problem(parts[0], parts[1])}")
            return
        problem = None
        if attr in STDLIB_MODULES and not module_allowed(attr, self.permissions):
            problem = reach_problem(attr, self.permissions)
        elif dotted in NET_IMPORTS or (dotted.count(".") == 1 and dotted.startswith(("http.", "urllib."))):
            problem = import_problem(dotted, self.permissions)
        if problem:
            self.add("checks.import-not-allowed", node,
                     f"{shown} reaches the module {attr!r} through an allowed module, and it is not "
                     f"allowed: {problem}")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if isinstance(func, ast.Name) and name in _ATTR_FUNCTIONS and not self.local(name) and len(node.args) >= 2:
            self.check_named(node, node.args[1], node.args[0], name)
        elif name in _ATTR_FACTORIES:
            for arg in node.args[:1] if name == "methodcaller" else node.args:
                self.check_named(node, arg, None, name)
        self.generic_visit(node)

    def check_named(self, node: ast.Call, arg: ast.expr, base: ast.expr | None, how: str) -> None:
        """An attribute named by a string: a literal is judged like ``base.attr``, anything else refused."""
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            self.add("checks.dynamic-code", node, f"`{how}` with a computed attribute name is not allowed; "
                     "write the attribute out (`obj.name`) so it can be reviewed")
            return
        self.judged.add(id(arg))
        for attr in arg.value.split(".") if base is None else [arg.value]:
            target = base if base is not None else ast.Name(id="?")
            self.check_attribute(node, target, attr, f"`{how}(..., {arg.value!r})`")

    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, str) or id(node) in self.docstrings | self.judged:
            return
        if _DUNDERISH.fullmatch(node.value) and node.value not in _NAME_DUNDERS | _HARMLESS_DUNDERS:
            self.add("checks.dynamic-code", node, f"the string {node.value!r} spells (part of) a dunder name; "
                     "building attribute or key names from strings is not allowed")
        elif _FORMAT_ATTRIBUTE.search(node.value):
            self.add("checks.dynamic-code", node, f"the format string {node.value[:60]!r} reaches a private "
                     "or dunder attribute; format plain values")

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        parts = [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
        if parts and (parts[0].startswith("__") or parts[-1].endswith("__")):
            self.add("checks.dynamic-code", node, "an f-string builds a dunder name; building attribute or "
                     "key names from strings is not allowed")
        self.generic_visit(node)


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _is_self(node: ast.expr) -> bool:
    """``self``, ``cls`` or ``super()`` (``super(Cls, self)`` too)."""
    if isinstance(node, ast.Name):
        return node.id in _SELF_NAMES
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def _dotted_module(node: ast.expr, modules: dict[str, str]) -> str | None:
    """``typing`` for the Name ``typing`` bound by an import, ``urllib.parse`` for ``urllib.parse``; else None."""
    if isinstance(node, ast.Name):
        return modules.get(node.id)
    if isinstance(node, ast.Attribute):
        parent = _dotted_module(node.value, modules)
        return None if parent is None else f"{parent}.{node.attr}"
    return None


def _module_aliases(tree: ast.Module) -> dict[str, str]:
    """Names bound by ``import M`` / ``import M as m`` (to ``M``'s top or full name) and ``from M import n``."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            for a in node.names:
                if a.name != "*" and (a.name.islower() or a.name in STDLIB_MODULES):
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def _own_private_names(tree: ast.Module) -> set[str]:
    """Private names the module defines: ``self._x = ...``, ``_x: int`` or ``def _x`` in a class body."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _is_self(node.value):
            names.add(node.attr)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                targets = item.targets if isinstance(item, ast.Assign) else [
                    item.target] if isinstance(item, ast.AnnAssign) else []
                names.update(t.id for t in targets if isinstance(t, ast.Name))
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(item.name)
    return {n for n in names if n.startswith("_") and not _is_dunder(n)}


def _locals(fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    """Names a function binds itself (assignments, loops, with, except, nested defs), minus global ones."""
    bound: set[str] = set()
    declared: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            declared.update(node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node is not fn:
            bound.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound - declared


def _docstring_ids(tree: ast.Module) -> set[int]:
    """ids of the docstring constants of the module, its classes and functions."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _text(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else "..." + text[-57:]
