"""Tests for toolfoundry.checks: static checks on a candidate's text, with the real ruff."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from toolfoundry.checks import NET_IMPORTS, SAFE_IMPORTS, import_problem, run_checks
from toolfoundry.core import Finding, Permissions

NO_PERMISSIONS = Permissions()
NET = Permissions(net_hosts=("example.org",))

CLEAN = textwrap.dedent('''\
    """Word statistics."""
    from __future__ import annotations

    import math
    import re
    from collections import Counter
    from urllib.parse import quote


    def stats(text: str, top: int = 3) -> dict[str, float]:
        """Return the log-frequency of the most common words."""
        words = re.findall(r"[a-z]+", text.lower())
        counts = Counter(words).most_common(top)
        return {quote(w): math.log(n) for w, n in counts}
    ''')


def errors(code: str, permissions: Permissions = NO_PERMISSIONS) -> list[Finding]:
    return [f for f in run_checks(code, None, permissions).findings if f.severity == "error"]


def only(code: str, wanted: str, permissions: Permissions = NO_PERMISSIONS) -> Finding:
    found = errors(code, permissions)
    assert [f.code for f in found] == [wanted], found
    assert found[0].file == "tool.py" and found[0].line is not None
    return found[0]


def test_a_clean_tool_passes_every_check() -> None:
    result = run_checks(CLEAN, None, NO_PERMISSIONS)
    assert result.stage == "checks"
    assert result.ok and result.findings == ()
    assert result.ms > 0


def test_a_syntax_error_is_one_finding_with_its_line() -> None:
    result = run_checks('"""Doc."""\n\n\ndef f(x:\n    return x\n', None, NO_PERMISSIONS)
    assert not result.ok
    assert [(f.code, f.line) for f in result.findings] == [("checks.syntax", 4)]
    assert "does not parse" in result.findings[0].message


def test_ruff_reports_an_undefined_name_with_its_line() -> None:
    found = only('"""Doc."""\n\n\ndef f(x: int) -> int:\n    """D."""\n    return x + y\n', "ruff.F821")
    assert found.line == 6 and "`y`" in found.message


def test_a_candidate_cannot_silence_ruff_with_noqa() -> None:
    found = only('"""Doc."""\n# ruff: noqa\nx = y  # noqa: F821\n', "ruff.F821")
    assert found.line == 3


def test_an_unused_import_is_only_a_warning() -> None:
    result = run_checks('"""Doc."""\nimport math\n', None, NO_PERMISSIONS)
    assert result.ok
    assert [(f.code, f.severity, f.line) for f in result.findings] == [("ruff.F401", "warning", 2)]


@pytest.mark.parametrize(("statement", "module"), [
    ("import os", "os"), ("import subprocess", "subprocess"), ("from urllib import request", "urllib.request"),
    ("import os.path", "os.path"), ("from pathlib import Path", "pathlib.Path"), ("import ctypes", "ctypes"),
    ("import urllib", "urllib"), ("from http import server", "http.server"), ("import io", "io"),
    ("from . import sibling", "."),
])
def test_imports_outside_the_allowlist_are_rejected_with_their_line(statement: str, module: str) -> None:
    code = f'"""Doc."""\nimport math\n{statement}\n\nprint(math, {statement.split()[-1]})\n'
    found = only(code, "checks.import-not-allowed")
    assert found.line == 3 and repr(module) in found.message


def test_network_modules_need_a_network_permission() -> None:
    code = '"""Doc."""\nimport socket\nfrom urllib import request\n\nprint(socket, request)\n'
    found = errors(code)
    assert [(f.code, f.line) for f in found] == [("checks.import-not-allowed", 2),
                                                 ("checks.import-not-allowed", 3)]
    assert "--allow-net" in found[0].message
    assert errors(code, NET) == []


def test_urllib_parse_is_allowed_at_the_submodule_level() -> None:
    for statement in ("import urllib.parse", "from urllib import parse", "from urllib.parse import quote"):
        assert errors(f'"""Doc."""\n{statement}\n\nprint({statement.split()[-1]})\n') == []


def test_the_allowlist_rule_takes_the_most_specific_prefix() -> None:
    assert import_problem("collections.abc", NO_PERMISSIONS) is None
    assert import_problem("typing.List", NO_PERMISSIONS) is None
    assert import_problem("json.tool", NO_PERMISSIONS) is not None
    assert import_problem("http.client", NO_PERMISSIONS) is not None
    assert import_problem("http.client", NET) is None
    assert import_problem("http.server", NET) is not None
    assert not SAFE_IMPORTS & NET_IMPORTS
    assert not {"os", "sys", "subprocess", "io", "pathlib", "importlib", "pickle", "uuid"} & SAFE_IMPORTS


@pytest.mark.parametrize("expression", ["eval('1')", "exec('x = 1')", "compile('1', 'f', 'eval')",
                                        "__import__('os')", "(lambda: 0).__globals__",
                                        "getattr(print, '__globals__')", "globals()"])
def test_dynamic_code_is_flagged(expression: str) -> None:
    found = only(f'"""Doc."""\n\n\ndef f() -> object:\n    """D."""\n    return {expression}\n',
                 "checks.dynamic-code")
    assert found.line == 6


def test_importing_importlib_is_dynamic_code() -> None:
    found = only('"""Doc."""\nimport importlib\n\nprint(importlib)\n', "checks.dynamic-code")
    assert found.line == 2 and "importlib" in found.message


def test_open_is_flagged_but_a_parameter_named_input_or_compile_is_fine() -> None:
    assert only('"""Doc."""\nprint(open("/etc/passwd").read())\n', "checks.builtin-not-allowed").line == 2
    code = '"""Doc."""\n\n\ndef f(input: str, compile: bool) -> str:\n    """D."""\n    return input if compile else ""\n'
    assert errors(code) == []
    assert [f.code for f in errors('"""Doc."""\nre = 1\nprint(re.compile("x"))\n')] == []


def test_the_candidate_is_never_executed(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    code = f'"""Doc."""\nopen({str(canary)!r}, "w").write("ran")\n'
    run_checks(code, None, NO_PERMISSIONS)
    assert not canary.exists()
