"""The host half of the runner protocol: what goes in on stdin and how to read what comes back.

The runner (``runner.py``) writes exactly one line per job on stdout, ``<nonce> <json>``. This module
trusts nothing else: a line without the run's nonce, a line that is not strict JSON (no NaN), a
result of the wrong shape, an extra line or a missing one is a *problem*, and reading stops at the
first bad line so no later result can be attributed to the wrong case. It also reads pytest's
summary out of the output. No I/O, no processes.
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Any

from toolfoundry.core import JSON
from toolfoundry.jsonlimits import depth_problem
from toolfoundry.sandbox.types import CaseResult

SUMMARY = re.compile(r"\b(\d+) (passed|failed|errors?)\b")
SUMMARY_LINE = re.compile(r"\b(passed|failed|errors?|no tests ran)\b.* in [\d.]+s")
MAX_FAILURES = 20


def request(**fields: JSON) -> bytes:
    """The request the runner reads on stdin."""
    return json.dumps(fields, allow_nan=False).encode()


def _reject(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def lines(stdout: bytes, *, nonce: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The JSON objects of the well-formed nonce lines, in order, up to the first bad line; problems."""
    parts = stdout.split(b"\n")
    problems: list[str] = []
    if parts[-1]:
        problems.append("the result channel ended in the middle of a line")
    bodies: list[dict[str, Any]] = []
    for number, raw in enumerate(parts[:-1], start=1):
        tag, _, text = raw.partition(b" ")
        if not hmac.compare_digest(tag, nonce.encode()):
            problems.append(f"result line {number} does not carry this run's nonce; ignoring it and the rest")
            break
        try:
            body = json.loads(text, parse_constant=_reject)
        except (ValueError, RecursionError):
            body = None
        if type(body) is not dict:
            problems.append(f"result line {number} is not a JSON object; ignoring it and the rest")
            break
        bodies.append(body)
    return bodies, problems


def case_result(body: dict[str, Any]) -> CaseResult | None:
    """A CaseResult from one runner line, or None when the line has the wrong shape."""
    ok = body.get("ok")
    if ok is True and "value" in body and set(body) == {"ok", "value"}:
        too_deep = depth_problem(body["value"])  # the runner bounds it too, but the host trusts only itself
        if too_deep is not None:
            return CaseResult(ok=False, error_type="NotJSON", error_message=f"returned a value {too_deep}")
        return CaseResult(ok=True, value=body["value"])
    kind, message = body.get("error_type"), body.get("error_message")
    if ok is False and type(kind) is str and kind and type(message) is str:
        return CaseResult(ok=False, error_type=kind[:200], error_message=message[:500])
    return None


def cases(stdout: bytes, *, nonce: str, expected: int) -> tuple[list[CaseResult], list[str]]:
    """Exactly ``expected`` results, or fewer plus the problems that explain why."""
    bodies, problems = lines(stdout, nonce=nonce)
    results: list[CaseResult] = []
    for number, body in enumerate(bodies, start=1):
        result = case_result(body)
        if result is None:
            problems.append(f"result line {number} is not a case result; ignoring it and the rest")
            break
        if len(results) == expected:
            problems.append(f"the runner sent more than the {expected} results asked for")
            break
        results.append(result)
    if len(results) < expected:
        problems.append(f"got {len(results)} of {expected} results")
    return results, problems


def pytest_summary(output: str) -> tuple[int, int, tuple[str, ...]]:
    """(passed, failed + errors, short failure lines) from pytest ``-q -rfE`` output."""
    passed = failed = 0
    summary = [line for line in output.splitlines() if SUMMARY_LINE.search(line)]
    if summary:
        for count, word in SUMMARY.findall(summary[-1]):
            if word == "passed":
                passed = int(count)
            else:
                failed += int(count)
    failures = tuple(line.strip()[:300] for line in output.splitlines()
                     if line.startswith(("FAILED ", "ERROR ")))
    return passed, failed, failures[:MAX_FAILURES]
