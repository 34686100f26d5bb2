"""Static checks of a candidate's source, on the host, on text only (the candidate is never executed).

Owns the ``checks`` stage: syntax, ruff's error rules, the import allowlist and a scan for dynamic code.
Does not own the tool contract (``toolfoundry.contract``) or anything that runs the candidate.

**The import rule.** A tool may import only modules that do pure computation: ``SAFE_IMPORTS`` lists
standard-library modules that by themselves reach neither the network, nor other processes, nor the
filesystem. ``NET_IMPORTS`` lists network modules, allowed only when the tool asks for a network host
(``--allow-net HOST``). Everything else is refused: ``os``, ``sys``, ``subprocess``, ``pathlib``,
``shutil``, ``io``, ``ctypes``, ``importlib``, ``pickle``, ``threading``, ``asyncio``, ``logging``
(file handlers), compression modules with ``open()`` (``gzip``...), ``uuid`` (``uuid1`` may run
``ifconfig``), third-party packages. Names are checked at the dotted level: ``from urllib import
request`` is ``urllib.request``; ``from M import n`` is checked as ``M.n`` because ``n`` may be a
submodule. The most specific listed prefix decides, so ``urllib.parse`` is safe, ``urllib.request`` is
network, bare ``urllib`` and ``http.server`` are refused.

This is a first filter that gives a model an early, precise message; it is **not** the security
boundary. Allowed modules hand out others through their attributes (``random._os``), which is why the
candidate only ever runs inside the sandbox.

Finding codes: ``checks.syntax``, ``ruff.<RULE>`` (``F401`` unused import is a warning),
``checks.import-not-allowed``, ``checks.dynamic-code`` (also for ``importlib``),
``checks.builtin-not-allowed`` (``open``, ``input``, ``breakpoint``).
Ruff missing or broken raises ``InfraError``.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import time
from typing import Any, cast

from toolfoundry.core import Finding, InfraError, Permissions, ToolSpec, Verdict, verdict

SAFE_IMPORTS: frozenset[str] = frozenset({
    "__future__", "abc", "array", "base64", "binascii", "bisect", "calendar", "cmath", "collections",
    "colorsys", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "enum",
    "fnmatch", "fractions", "functools", "graphlib", "hashlib", "heapq", "hmac", "html", "ipaddress",
    "itertools", "json", "keyword", "math", "numbers", "operator", "pprint", "random", "re", "reprlib",
    "secrets", "statistics", "string", "struct", "textwrap", "time", "typing", "unicodedata",
    "urllib.parse", "zlib", "zoneinfo",
})
"""Pure-computation stdlib modules (``zoneinfo`` reads only the system time-zone database, by key)."""

NET_IMPORTS: frozenset[str] = frozenset({
    "socket", "ssl", "select", "selectors", "http", "http.client", "urllib.request", "urllib.error",
    "urllib.response", "urllib.robotparser",
})
"""Network modules: allowed only when ``permissions.net_hosts`` is non-empty."""

_DENIED: frozenset[str] = frozenset({"urllib", "http.server", "http.cookiejar", "json.tool"})
"""Submodules or bare packages refused although a shorter prefix is listed."""

_DYNAMIC_NAMES = frozenset({"eval", "exec", "compile", "__import__", "globals", "__builtins__"})
_DYNAMIC_ATTRS = frozenset({"__globals__", "__builtins__", "__subclasses__", "__code__", "__import__",
                            "__loader__", "__spec__"})
_SHADOWABLE = frozenset({"compile", "open", "input", "breakpoint"})
"""Names a tool may reasonably bind itself (a parameter called ``input``); then they are not builtins."""
_BLOCKED_BUILTINS = {"open": "tools may not touch files", "input": "stdin belongs to the sandbox runner",
                     "breakpoint": "there is no debugger in the sandbox"}
_RUFF_ERRORS = "E9,F63,F7,F82,F811,F821,F823"
_RUFF_WARNINGS = frozenset({"F401"})
_RUFF_TIMEOUT = 30.0
_RULE_CODE = re.compile(r"^[A-Z]+[0-9]+$")


def run_checks(code: str, spec: ToolSpec | None, permissions: Permissions, *,
               file: str = "tool.py") -> Verdict:
    """The ``checks`` stage. ``spec`` is accepted for the workflow's sake; this version reads text only."""
    del spec
    start = time.perf_counter()
    try:
        tree = cast(ast.Module, compile(code, file, "exec", dont_inherit=True, flags=ast.PyCF_ONLY_AST))
    except (SyntaxError, ValueError) as e:
        line = e.lineno if isinstance(e, SyntaxError) else None
        message = e.msg if isinstance(e, SyntaxError) else str(e)
        finding = Finding(code="checks.syntax", message=f"the code does not parse: {message}", file=file,
                          line=line)
        return verdict("checks", [finding], ms=(time.perf_counter() - start) * 1000)
    findings = ruff(code, file=file)
    findings += import_findings(tree, permissions, file=file)
    findings += dynamic_code_findings(tree, file=file)
    findings.sort(key=lambda f: f.line or 0)
    return verdict("checks", findings, ms=(time.perf_counter() - start) * 1000)


def ruff(code: str, *, file: str = "tool.py") -> list[Finding]:
    """Ruff's error rules (and F401 as a warning) on ``code`` given on stdin; nothing touches disk.

    ``--isolated`` ignores any configuration file and ``--ignore-noqa`` the candidate's own ``# noqa``.
    """
    try:
        from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]
        binary = find_ruff_bin()
    except (ImportError, FileNotFoundError) as e:
        raise InfraError(f"ruff is not installed where toolfoundry runs ({e}); reinstall toolfoundry") from e
    command = [binary, "check", "--isolated", "--no-cache", "--ignore-noqa", "--target-version", "py311",
               "--select", f"{_RUFF_ERRORS},{','.join(sorted(_RUFF_WARNINGS))}",
               "--output-format", "json", "--stdin-filename", file, "-"]
    try:
        done = subprocess.run(command, input=code, capture_output=True, text=True, timeout=_RUFF_TIMEOUT,
                              env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}, cwd="/", check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InfraError(f"ruff could not run: {e}") from e
    if done.returncode not in (0, 1):
        raise InfraError(f"ruff failed with exit code {done.returncode}: {done.stderr.strip()[:500]}")
    try:
        items: list[dict[str, Any]] = json.loads(done.stdout)
    except json.JSONDecodeError as e:
        raise InfraError(f"ruff printed something that is not JSON: {done.stdout[:200]!r}") from e
    return [_ruff_finding(item, file) for item in items if _is_rule(item.get("code"))]


def _is_rule(code: object) -> bool:
    """Ruff rule codes (``F821``); syntax errors (``invalid-syntax``, None) are ours to report."""
    return isinstance(code, str) and _RULE_CODE.match(code) is not None


def _ruff_finding(item: dict[str, Any], file: str) -> Finding:
    code = str(item["code"])
    location = item.get("location") or {}
    return Finding(code=f"ruff.{code}", message=str(item.get("message", "")), file=file,
                   line=location.get("row"), severity="warning" if code in _RUFF_WARNINGS else "error")


def import_findings(tree: ast.Module, permissions: Permissions, *, file: str = "tool.py") -> list[Finding]:
    """A ``checks.import-not-allowed`` finding for every import outside the allowlist."""
    findings = []
    for node in ast.walk(tree):
        for module in _imported(node):
            line = getattr(node, "lineno", None)
            problem = "a relative import; a tool is a single module" if module.startswith(".") else (
                import_problem(module, permissions))
            if problem:
                code = "checks.dynamic-code" if module.split(".")[0] == "importlib" else "checks.import-not-allowed"
                findings.append(Finding(code=code, file=file, line=line,
                                        message=f"import of {module!r} is not allowed: {problem}"))
    return findings


def import_problem(module: str, permissions: Permissions) -> str | None:
    """Why importing the dotted ``module`` is refused, or None when it is allowed."""
    parts = module.split(".")
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
            "(see toolfoundry.checks.SAFE_IMPORTS)")


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


def dynamic_code_findings(tree: ast.Module, *, file: str = "tool.py") -> list[Finding]:
    """``eval``/``exec``/``compile``/``__import__``, escape hatches like ``__globals__``, ``open()``."""
    shadowed = _bound_names(tree) & _SHADOWABLE
    findings = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in shadowed:
            if node.id in _DYNAMIC_NAMES:
                findings.append(Finding(code="checks.dynamic-code", file=file, line=node.lineno,
                                        message=f"{node.id} is not allowed: a tool's code must be plain, "
                                                "readable source (no code built or imported at run time)"))
            elif node.id in _BLOCKED_BUILTINS:
                findings.append(Finding(code="checks.builtin-not-allowed", file=file, line=node.lineno,
                                        message=f"{node.id}() is not allowed: {_BLOCKED_BUILTINS[node.id]}"))
        elif _dunder_name(node) in _DYNAMIC_ATTRS:
            findings.append(Finding(code="checks.dynamic-code", file=file, line=getattr(node, "lineno", None),
                                    message=f"access to {_dunder_name(node)} is not allowed: it reaches the "
                                            "interpreter's internals"))
    return findings


def _dunder_name(node: ast.AST) -> str | None:
    """``x.__globals__`` or the string ``"__globals__"`` (as passed to getattr)."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _bound_names(tree: ast.Module) -> set[str]:
    """Names the module itself binds (so a parameter called ``compile`` is not the builtin)."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return bound
