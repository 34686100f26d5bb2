"""The oracle: the verdict on a candidate's acceptance examples, computed on the HOST.

Owns :func:`evaluate`, which sends the visible and held-out examples' *args*
to the sandbox as one run in a host-side random order (so the tool cannot tell which are held out) —
a run with held-out examples in a sandbox no other run shares (``fresh``, see ``sandbox/warm.py``) —
puts the outputs back in order, and compares them here. The expected values never enter the
sandbox. Findings on visible examples carry the input, expected and actual value; a held-out failure
is reported only as a count. Protocol problems (bad nonce, missing or extra results, truncated
output) fail the stage. Requests the egress proxy refused become a ``sandbox.net-refused`` warning
(hosts named only when no held-out example ran). It does not run anything itself: the sandbox does.
"""

from __future__ import annotations

import json
import random
import time

from toolfoundry.core import JSON, Example, Finding, Permissions, Verdict, verdict
from toolfoundry.examples import json_equal
from toolfoundry.sandbox.types import CaseResult, Limits, Sandbox

STAGE = "oracle"
SHOW_CHARS = 200


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
                               permissions=permissions, limits=limits, fresh=bool(holdout))
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
