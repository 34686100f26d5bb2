"""The ``tests`` stage: the candidate's own pytest tests, run in the sandbox, as a verdict.

pytest's results come from inside the sandbox, where the code under test could forge them
(``os._exit(0)``, a ``conftest.py``, patched reports): they are evidence, and findings a model can act
on, but the gate never rests on them alone (the oracle judges examples on the host, and the policy
sends a tool without host-judged examples to a human). A candidate without tests gets an ``info``.
"""

from __future__ import annotations

from toolfoundry.core import Finding, Verdict, verdict
from toolfoundry.sandbox.types import Limits, Sandbox


def run_tests(sandbox: Sandbox, *, code: str, tests: str | None, limits: Limits) -> Verdict:
    """Run ``tests`` against ``code`` (as ``tool.py``) in the sandbox; failures, a timeout or a bad exit are errors."""
    if not tests:
        return verdict("tests", [Finding(code="tests.none", severity="info", message="no pytest tests were given")])
    report = sandbox.run_pytest(code=code, tests=tests, limits=limits)
    findings = [Finding(code="tests.failed", file="test_tool.py", message=line) for line in report.failures]
    if report.timed_out:
        findings.append(Finding(code="tests.timeout", file="test_tool.py",
                                message=f"pytest did not finish within {limits.wall_seconds}s"))
    elif report.exit_code != 0 and not findings:
        findings.append(Finding(code="tests.exit", file="test_tool.py",
                                message=f"pytest exited with {report.exit_code}: {report.output_tail[-400:]}"))
    return verdict("tests", findings, report.ms,
                   {"passed": report.passed, "failed": report.failed, "exit_code": report.exit_code})
