"""The oracle: the verdict on a candidate's acceptance examples, computed on the HOST.

Owns three things: parsing ``examples.json`` (:func:`load_examples`), strict JSON equality
(:func:`json_equal`), and :func:`evaluate`, which sends the visible and held-out examples' *args*
to the sandbox as one run in a host-side random order (so the tool cannot tell which are held out),
puts the outputs back in order, and compares them here. The expected values never enter the
sandbox. Findings on visible examples carry the input, expected and actual value; a held-out failure
is reported only as a count. Protocol problems (bad nonce, missing or extra results, truncated
output) fail the stage. Requests the egress proxy refused become a ``sandbox.net-refused`` warning
(hosts named only when no held-out example ran). It does not run anything itself: the sandbox does.
"""

from __future__ import annotations

import json
import math
import random
import time
from typing import Any

from toolfoundry.core import (
    JSON,
    CaseResult,
    Example,
    Finding,
    Limits,
    Permissions,
    Sandbox,
    UsageError,
    Verdict,
    verdict,
)

STAGE = "oracle"
SHOW_CHARS = 200


def json_equal(expected: JSON, actual: JSON) -> bool:
    """Strict JSON equality: bool is not a number, "1" is not 1, None is only None, NaN never equal.

    Integers and floats compare by value (JSON has one number type); floats with
    ``math.isclose(rel_tol=1e-9, abs_tol=1e-12)``.
    """
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is bool and type(actual) is bool and expected == actual
    if expected is None or actual is None:
        return expected is None and actual is None
    numbers = (int, float)
    if isinstance(expected, numbers) or isinstance(actual, numbers):
        if not (isinstance(expected, numbers) and isinstance(actual, numbers)):
            return False
        if isinstance(expected, int) and isinstance(actual, int):
            return expected == actual
        try:
            e, a = float(expected), float(actual)
        except OverflowError:
            return False
        return not (math.isnan(e) or math.isnan(a)) and math.isclose(e, a, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(expected, str) or isinstance(actual, str):
        return isinstance(expected, str) and isinstance(actual, str) and expected == actual
    if isinstance(expected, list | tuple) and isinstance(actual, list | tuple):
        return len(expected) == len(actual) and all(
            json_equal(e, a) for e, a in zip(expected, actual, strict=True))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(json_equal(expected[k], actual[k]) for k in expected)
    return False


def _reject_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not valid JSON")


def load_examples(text: str, *, where: str) -> tuple[Example, ...]:
    """Parse an examples.json: ``[{"args": {...}, "expect": <json>} | {"args": {...}, "raises": "Name"}]``."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise UsageError(f"{where}: must be a JSON list of examples, not a {type(data).__name__}")
    return tuple(_example(item, f"{where}: example {index + 1}") for index, item in enumerate(data))


def _example(item: Any, where: str) -> Example:
    if not isinstance(item, dict):
        raise UsageError(f'{where}: must be an object with "args" and "expect" or "raises", '
                         f"not a {type(item).__name__}")
    unknown = sorted(set(item) - {"args", "expect", "raises"})
    if unknown:
        raise UsageError(f'{where}: unknown key(s) {", ".join(unknown)} (allowed: args, expect, raises)')
    if not isinstance(item.get("args"), dict):
        raise UsageError(f'{where}: needs "args", an object of keyword arguments')
    if ("expect" in item) == ("raises" in item):
        raise UsageError(f'{where}: needs exactly one of "expect" (a value) or "raises" (an exception name)')
    if "raises" in item:
        raises = item["raises"]
        if not isinstance(raises, str) or not raises.isidentifier():
            raise UsageError(f'{where}: "raises" must be an exception class name such as "ValueError"')
        return Example(args=item["args"], raises=raises)
    return Example(args=item["args"], expect=item["expect"])


def evaluate(sandbox: Sandbox, *, code: str, function: str, examples: tuple[Example, ...],
             holdout: tuple[Example, ...], permissions: Permissions, limits: Limits,
             rng: random.Random | None = None) -> Verdict:
    """Run every example in one shuffled sandbox run; judge the outputs here, on the host."""
    start = time.perf_counter()
    counts: dict[str, JSON] = {"examples": len(examples), "holdout": len(holdout)}
    if not examples and not holdout:
        note = Finding(code="oracle.no-examples", severity="info",
                       message="no examples were given: nothing checked the tool's outputs")
        return verdict(STAGE, [note], 0.0, counts)
    everything = [*examples, *holdout]
    order = list(range(len(everything)))
    (rng or random.SystemRandom()).shuffle(order)
    report = sandbox.run_cases(code=code, function=function, cases=[everything[k].args for k in order],
                               permissions=permissions, limits=limits)
    results: dict[int, CaseResult] = {order[pos]: case for pos, case in enumerate(report.cases)}
    findings: list[Finding] = []
    failed_visible = [k for k in range(len(examples)) if not _passes(everything[k], results.get(k))]
    for k in failed_visible:
        finding = _visible_finding(k, examples[k], results.get(k), function, limits)
        if finding is not None:
            findings.append(finding)
    failed_holdout = [k for k in range(len(examples), len(everything))
                      if not _passes(everything[k], results.get(k))]
    if failed_holdout:
        findings.append(Finding(code="oracle.holdout-failed", message=(
            f"{len(failed_holdout)} of {len(holdout)} held-out examples failed (inputs withheld)")))
    if report.timed_out:
        findings.append(_wall_timeout(report.cases, order, examples, function, limits))
    findings += [Finding(code="oracle.protocol", message=f"sandbox protocol: {problem}")
                 for problem in report.problems]
    if report.net_refusals:
        findings.append(_net_refused(report.net_refusals, holdout=bool(holdout)))
    failed = len(failed_visible) + len(failed_holdout)
    details = {**counts, "passed": len(everything) - failed, "failed": failed}
    return verdict(STAGE, findings, (time.perf_counter() - start) * 1000, details)


def _passes(example: Example, result: CaseResult | None) -> bool:
    if result is None:
        return False
    if example.raises is not None:
        return not result.ok and result.error_type == example.raises
    return result.ok and json_equal(example.expect, result.value)


def _visible_finding(index: int, example: Example, result: CaseResult | None, function: str,
                     limits: Limits) -> Finding | None:
    """The finding for a failed visible example (None when the run-level findings explain it)."""
    if result is None:
        return None
    call = f"example {index + 1}: {function}({_show(example.args)})"
    wanted = f"raise {example.raises}" if example.raises is not None else f"return {_show(example.expect)}"
    expected = example.to_json().get("expect", {"raises": example.raises})
    base = {"input": example.args, "expected": expected}
    if result.ok:
        if example.raises is not None:
            return Finding(code="oracle.expected-raise", actual=result.value, **base, message=(
                f"{call} returned {_show(result.value)} but should raise {example.raises}"))
        return Finding(code="oracle.mismatch", actual=result.value, **base, message=(
            f"{call} returned {_show(result.value)}, expected {_show(example.expect)}"))
    actual = {"error_type": result.error_type, "error_message": result.error_message}
    if result.error_type == "Timeout":
        return Finding(code="oracle.timeout", actual=actual, **base, message=(
            f"{call} did not finish: it used more than the CPU limit of {limits.cpu_seconds}s "
            f"(should {wanted})"))
    if result.error_type == "NotJSON":
        return Finding(code="oracle.not-json", actual=actual, **base, message=(
            f"{call} {result.error_message}; it should {wanted}"))
    if result.error_type == "Crashed":
        return Finding(code="oracle.crashed", actual=actual, **base, message=(
            f"{call} crashed ({result.error_message}); it should {wanted}"))
    return Finding(code="oracle.unexpected-error", actual=actual, **base, message=(
        f"{call} raised {result.error_type}: {result.error_message}; it should {wanted}"))


def _wall_timeout(done: tuple[CaseResult, ...], order: list[int], examples: tuple[Example, ...],
                  function: str, limits: Limits) -> Finding:
    """The run hit its wall-clock limit: name the example that was running, unless it is held out."""
    missing = len(order) - len(done)
    summary = (f"the run did not finish within its wall-clock limit of {limits.wall_seconds}s; "
               f"{missing} of {len(order)} examples got no result")
    running = order[len(done)] if missing else None
    if running is None or running >= len(examples):
        return Finding(code="oracle.timeout", message=summary)
    example = examples[running]
    return Finding(code="oracle.timeout", input=example.args, message=(
        f"{summary}; example {running + 1}: {function}({_show(example.args)}) was still running"))


def _net_refused(refusals: tuple[str, ...], *, holdout: bool) -> Finding:
    """A warning naming the hosts the egress proxy refused — withheld when held-out examples ran too,
    since a tool could spell its held-out inputs into the host names it asks for."""
    if holdout:
        return Finding(code="sandbox.net-refused", severity="warning", message=(
            f"the egress proxy refused {len(refusals)} request(s) to hosts outside this tool's approved "
            "net_hosts (hosts withheld: held-out examples ran in the same sandbox); a tool may reach only "
            "the hosts its manifest lists"))
    return Finding(code="sandbox.net-refused", severity="warning", actual=list(refusals), message=(
        f"the egress proxy refused {len(refusals)} request(s) to hosts outside this tool's approved "
        f"net_hosts: {'; '.join(refusals)[:1000]}; a tool may reach only the hosts its manifest lists"))


def _show(value: JSON) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= SHOW_CHARS else text[:SHOW_CHARS] + "…"
