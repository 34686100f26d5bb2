"""The import rule of the ``checks`` stage: which modules a tool may import, and the findings for the rest.

Owns ``SAFE_IMPORTS``, ``PARTLY_SAFE``, ``NET_IMPORTS``, ``import_problem`` and ``import_findings``
(re-exported by ``toolfoundry.stages.checks``). Does not own attribute access on imported modules (``typing.sys``): that is the
AST policy in ``toolfoundry.stages.checks.astrules``, which uses ``module_allowed`` from here.

A tool may import only modules that do pure computation: ``SAFE_IMPORTS`` lists standard-library modules
that by themselves reach neither the network, nor other processes, nor the filesystem. ``NET_IMPORTS``
lists network modules, allowed only when the tool asks for a network host (``--allow-net HOST``).
Everything else is refused. Names are checked at the dotted level: ``from urllib import request`` is
``urllib.request``; ``from M import n`` is checked as ``M.n`` because ``n`` may be a submodule. The most
specific listed prefix decides, so ``urllib.parse`` is safe, ``urllib.request`` is network, bare
``urllib`` and ``http.server`` are refused. ``from typing import sys`` (a module handed out by an allowed
one) is refused like ``import sys``; ``from random import _os`` is a ``checks.private-attribute``.

A module that mixes pure and impure parts is judged at attribute level (``PARTLY_SAFE``): ``io`` may be
imported, but only ``io.StringIO``, ``io.BytesIO`` and a few constants may be used — never ``io.open``,
``io.FileIO`` or anything else that reaches files or file descriptors, and never the module itself as a
value (``x = io``, ``f(io)``, ``from io import *``), which would hand the rest out unchecked. The AST
policy (``astrules.py``) enforces the attribute half; reaching such a module through another module
(``typing.io``, ``from typing import io``) is refused, because then its attributes cannot be followed.
"""

from __future__ import annotations

import ast
import sys

from toolfoundry.core import Finding, Permissions

SAFE_IMPORTS: frozenset[str] = frozenset({
    "__future__", "abc", "array", "base64", "binascii", "bisect", "calendar", "cmath", "collections",
    "colorsys", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "enum",
    "fnmatch", "fractions", "functools", "graphlib", "hashlib", "heapq", "hmac", "html", "ipaddress",
    "itertools", "json", "keyword", "math", "numbers", "operator", "pprint", "random", "re", "reprlib",
    "secrets", "statistics", "string", "struct", "textwrap", "time", "typing", "unicodedata",
    "urllib.parse", "zlib", "zoneinfo",
})
"""Pure-computation stdlib modules (``zoneinfo`` reads only the system time-zone database, by key)."""

PARTLY_SAFE: dict[str, frozenset[str]] = {
    "io": frozenset({"StringIO", "BytesIO", "SEEK_SET", "SEEK_CUR", "SEEK_END", "UnsupportedOperation"}),
}
"""Modules with pure and impure parts: importable, but only these attributes may be used. ``io.StringIO``
and ``io.BytesIO`` are in-memory buffers; ``io.open``, ``io.open_code``, ``io.FileIO`` and the buffered and
text wrappers (which take a raw file) reach files and descriptors, so they are left out."""

NET_IMPORTS: frozenset[str] = frozenset({
    "socket", "ssl", "select", "selectors", "http", "http.client", "urllib.request", "urllib.error",
    "urllib.response", "urllib.robotparser",
})
"""Network modules: allowed only when ``permissions.net_hosts`` is non-empty."""

_DENIED: frozenset[str] = frozenset({"urllib", "http.server", "http.cookiejar", "json.tool"})
"""Submodules or bare packages refused although a shorter prefix is listed."""

STDLIB_MODULES: frozenset[str] = frozenset(n for n in sys.stdlib_module_names if not n.startswith("_")) | {
    "posix", "nt", "builtins", "sys", "gc", "marshal"}
"""Top-level standard-library module names: an attribute of a module with one of these names is a module."""


def import_problem(module: str, permissions: Permissions) -> str | None:
    """Why importing the dotted ``module`` is refused, or None when it is allowed."""
    parts = module.split(".")
    if parts[0] in PARTLY_SAFE:
        return None if len(parts) == 1 or parts[1] in PARTLY_SAFE[parts[0]] else partly_safe_problem(parts[0], parts[1])
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in _DENIED:
            break
        if prefix in SAFE_IMPORTS:
            return None
        if prefix in NET_IMPORTS:
            return None if permissions.net_hosts else (
                "it is a network module; the tool needs a network permission (--allow-net HOST)")
    if parts[0] == "importlib":
        return "importlib imports code at run time; import what you need by name from SAFE_IMPORTS"
    return ("not in the allowlist; tools may import only pure-computation stdlib modules "
            "(see toolfoundry.stages.checks.SAFE_IMPORTS)")


def partly_safe_problem(module: str, attr: str) -> str:
    """Why ``module.attr`` of a ``PARTLY_SAFE`` module is refused."""
    allowed = ", ".join(f"{module}.{a}" for a in sorted(PARTLY_SAFE[module]))
    return (f"{module}.{attr} is not one of the pure parts of {module!r} (it may reach files or file"
            f" descriptors); a tool may use only {allowed}")


def module_allowed(name: str, permissions: Permissions) -> bool:
    """True when the top-level stdlib module ``name`` may be reached as an attribute of another module.
    A ``PARTLY_SAFE`` module may not: only a direct import lets its attributes be followed."""
    return name not in PARTLY_SAFE and (name not in STDLIB_MODULES or import_problem(name, permissions) is None)


def reach_problem(name: str, permissions: Permissions) -> str | None:
    """Why the module ``name`` may not be reached through another module, or None when it may."""
    if module_allowed(name, permissions):
        return None
    if name in PARTLY_SAFE:
        return (f"only some parts of {name!r} are allowed, so it must be imported directly (`import {name}` or"
                f" `from {name} import StringIO`) for them to be checked")
    return import_problem(name, permissions)


def import_findings(tree: ast.Module, permissions: Permissions, *, file: str = "tool.py") -> list[Finding]:
    """A ``checks.import-not-allowed`` finding for every import outside the allowlist."""
    findings = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        for module in _imported(node):
            problem = "a relative import; a tool is a single module" if module.startswith(".") else (
                import_problem(module, permissions))
            if problem:
                code = "checks.dynamic-code" if module.split(".")[0] == "importlib" else "checks.import-not-allowed"
                findings.append(Finding(code=code, file=file, line=line,
                                        message=f"line {line}: import of {module!r} is not allowed: {problem}"))
            elif isinstance(node, ast.ImportFrom):
                findings += _from_import_findings(module, permissions, file, line)
            if isinstance(node, ast.ImportFrom) and module in PARTLY_SAFE:  # `from io import *`
                findings.append(Finding(code="checks.import-not-allowed", file=file, line=line, message=(
                    f"line {line}: `from {module} import *` brings in every part of {module!r}, and only some"
                    f" are allowed: {partly_safe_problem(module, '*')}")))
    return findings


def _from_import_findings(module: str, permissions: Permissions, file: str, line: int | None) -> list[Finding]:
    """``from typing import sys`` (a forbidden module through an allowed one), ``from random import _os``."""
    parent, _, name = module.rpartition(".")
    if name.startswith("_") and parent != "__future__":
        return [Finding(code="checks.private-attribute", file=file, line=line,
                        message=f"line {line}: `from {parent} import {name}` imports a private name; "
                                "tools may use only the public names of allowed modules")]
    if (problem := reach_problem(name, permissions)) is not None:
        return [Finding(code="checks.import-not-allowed", file=file, line=line,
                        message=f"line {line}: `from {parent} import {name}` reaches the module {name!r} "
                                f"through {parent!r}, and {name!r} is not allowed: {problem}")]
    return []


def _imported(node: ast.AST) -> list[str]:
    """Dotted names an import statement brings in (``from M import n`` → ``M.n``; relative → ``.M``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        return ["." * node.level + (node.module or "")]
    module = node.module or ""
    return [module if alias.name == "*" else f"{module}.{alias.name}" for alias in node.names]
