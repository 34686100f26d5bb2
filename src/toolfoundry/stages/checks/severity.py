"""Blocking and advisory findings of the ``checks`` stage: the default classes, and ``[checks] blocking``.

A finding of severity ``error`` **blocks**: the stage fails, the candidate is never run, the request is
rejected. ``warning`` **advises**: it is shown in ``propose --json``, to reviewers (people and reviewer
agents) and to the model in the refine loop, marked as advisory, and validation goes on. The line is
drawn at what the sandbox cannot stop on its own, or what proves the code cannot work:

* blocking — the tool contract and syntax; the safety rules (dynamic code, forbidden imports and
  attributes, private and dunder attributes, forbidden builtins such as ``open``); description poisoning;
  ruff's error rules (the module cannot be compiled, or names something that does not exist); bandit
  findings of HIGH severity and at least MEDIUM confidence (TLS verification off, a shell, ...) except
  the ones below; and, in later stages, failing tests and examples.
* advisory — every mypy finding (:data:`ADVISORY`), ruff's style rule F401, bandit findings below HIGH
  severity or of LOW confidence, and ``bandit.B324``.

``[checks] blocking`` (``settings.py``) makes advisory findings blocking again, by family or code prefix.
Owns :data:`ADVISORY` and :func:`grade`; does not run any analyser.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from toolfoundry.core import Finding
from toolfoundry.stages.checks.settings import ChecksSettings

ADVISORY: dict[str, str] = {
    "mypy": "a type checker's verdict on code that may well be correct: mypy cannot prove that a loop always "
            "returns, narrow a re-bound variable or pick an overload the way the code means it. What a tool "
            "returns is checked where it matters: the oracle compares results with strict JSON types, and "
            "every call's result is checked against the schema of the declared return type",
    "bandit.B324": "md5 and sha1 are fine as checksums and fingerprints, which is what a tool in a sandbox "
                   "without files or network uses them for; code that protects something with them is a "
                   "reviewer's call (make it blocking with blocking = [\"bandit.B324\"])",
}
"""Codes (or families) that the analysers report as errors but that only advise by default, and why."""
_PROMOTED = " (blocking: [checks] blocking in toolfoundry.toml)"


def advisory(code: str) -> bool:
    """True when a finding with ``code`` advises by default (``mypy.return-value``, ``bandit.B324``)."""
    return any(code == key or code.startswith(key + ".") for key in ADVISORY)


def grade(findings: Iterable[Finding], settings: ChecksSettings) -> list[Finding]:
    """``findings`` with their final severity: :data:`ADVISORY` ones as warnings, then ``settings.blocking``
    ones as errors (saying so in the message). Nothing else changes."""
    graded = []
    for finding in findings:
        if finding.severity == "error" and advisory(finding.code):
            finding = replace(finding, severity="warning")
        if finding.severity == "warning" and settings.blocks(finding.code):
            finding = replace(finding, severity="error", message=finding.message + _PROMOTED)
        graded.append(finding)
    return graded
