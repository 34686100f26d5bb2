"""Static checks of a candidate's source, on the host, on text only (the candidate is never executed).

Owns the ``checks`` stage (``run_checks`` → the ``checks`` verdict) and the order of its parts:

1. syntax (``checks.syntax``; nothing else runs on code that does not parse);
2. ruff, started first in a subprocess so it runs in parallel (``toolfoundry.stages.checks.analysers``);
3. the import rule (``toolfoundry.stages.checks.imports``: ``SAFE_IMPORTS``, ``NET_IMPORTS``);
4. the AST policy (``toolfoundry.stages.checks.astrules``: ``checks.dynamic-code``, ``checks.private-attribute``,
   ``checks.import-not-allowed`` for modules reached through modules, ``checks.attribute-not-allowed`` for
   the impure parts of a partly safe module such as ``io.open``, ``checks.builtin-not-allowed``);
5. description review (``toolfoundry.stages.checks.description``: ``checks.description``);
6. bandit (``bandit.<TEST_ID>``) and mypy (``mypy.<code>``), in-process.

Each finding says its line and what to do. One problem gets one message: a bandit or mypy finding on a
line that already has an error from ruff or from our own rules is dropped (``eval(...)`` is reported as
``checks.dynamic-code``, not again as bandit B307; an undefined name as ``ruff.F821``, not again by mypy).
Then each finding gets its final severity (``toolfoundry.stages.checks.severity``): safety findings and
code that cannot run block; mypy, style and low-risk bandit findings advise, unless ``[checks] blocking``
(``ChecksSettings``) makes them block.
A missing or broken analyser raises ``InfraError``. Does not own the tool contract
(``toolfoundry.stages.contract``) or anything that runs the candidate.

This is a first filter that gives a model an early, precise message; it is **not** the security
boundary: the candidate only ever runs inside the sandbox.
"""

from __future__ import annotations

import ast
import time
from typing import cast

from toolfoundry.core import Finding, Permissions, ToolSpec, Verdict, verdict
from toolfoundry.stages.checks.analysers import bandit, mypy, ruff_finish, ruff_start
from toolfoundry.stages.checks.astrules import dynamic_code_findings
from toolfoundry.stages.checks.description import description_findings
from toolfoundry.stages.checks.imports import NET_IMPORTS, SAFE_IMPORTS, import_findings, import_problem
from toolfoundry.stages.checks.settings import ChecksSettings
from toolfoundry.stages.checks.severity import ADVISORY, grade

__all__ = ["ADVISORY", "NET_IMPORTS", "SAFE_IMPORTS", "ChecksSettings", "bandit", "description_findings",
           "dynamic_code_findings", "import_findings", "import_problem", "mypy", "ruff", "run_checks"]

_OWN = ("ruff.", "checks.")
"""Findings from these sources take precedence over bandit's and mypy's on the same line."""


def run_checks(code: str, spec: ToolSpec | None, permissions: Permissions, *,
               file: str = "tool.py", settings: ChecksSettings | None = None) -> Verdict:
    """The ``checks`` stage. ``spec`` (when the contract produced one) adds its name and description;
    ``settings`` (``[checks]``) says which advisory findings block."""
    start = time.perf_counter()
    try:
        tree = cast(ast.Module, compile(code, file, "exec", dont_inherit=True, flags=ast.PyCF_ONLY_AST))
    except (SyntaxError, ValueError) as e:
        line = e.lineno if isinstance(e, SyntaxError) else None
        message = e.msg if isinstance(e, SyntaxError) else str(e)
        finding = Finding(code="checks.syntax", message=f"the code does not parse: {message}", file=file,
                          line=line)
        return verdict("checks", [finding], ms=(time.perf_counter() - start) * 1000)
    process = ruff_start(code, file=file)
    try:
        own = import_findings(tree, permissions, file=file)
        own += dynamic_code_findings(tree, permissions, file=file)
        own += description_findings(spec, code, file=file)
        tools = bandit(code, file=file) + mypy(code, file=file)
    except BaseException:
        process.kill()
        process.communicate()
        raise
    own += ruff_finish(process, code, file=file)
    taken = {f.line for f in own if f.severity == "error" and f.code.startswith(_OWN)}
    findings = grade(own + [f for f in tools if f.line not in taken], settings or ChecksSettings())
    findings.sort(key=lambda f: f.line or 0)
    return verdict("checks", findings, ms=(time.perf_counter() - start) * 1000)


def ruff(code: str, *, file: str = "tool.py") -> list[Finding]:
    """Ruff's error rules (and F401 as a warning) on ``code`` given on stdin; nothing touches disk."""
    return ruff_finish(ruff_start(code, file=file), code, file=file)
