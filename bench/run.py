"""Benchmarks for toolfoundry's performance targets (DESIGN.md), measured side by side in one run.

    python bench/run.py [--runs N] [--write BENCHMARKS.md]   # --write replaces the top table only

Measures, each as median / p90 over repeated runs on one machine in one run:
  * plain in-process call of the tool function (the floor, no isolation at all)
  * fresh bwrap + `python -I -S -c pass` (the cost of any fresh sandbox here: the per-call baseline)
  * a cold `BwrapSandbox.run_cases` of one case (every layer: seccomp, Landlock, rlimits, runner)
  * a warm `WorkerPool.call` (one pre-forked sandbox per tool version), arriving at an idle sandbox,
    and back to back (then also as calls per second)
  * `Foundry.call` of a deployed tool, warm (registry read + hash check + pool call + audit append)
  * validate a ~50-line tool: contract + checks + tests (pytest) + oracle, three ways side by side: cold
    sandboxes one stage after the other (before issue 11.4, ``[sandbox] warm = false``), warm sandboxes one
    after the other (what the workflow's two steps do), and warm with tests and oracle at once
    (``stages.judge.together``); plus each stage of the warm path alone
  * propose → deployed, auto-approved, no model (the whole workflow: DBOS, git, SQLite, sandbox), through
    ``Foundry.propose`` in this process and through ``toolfoundry propose`` from a shell (a new tool each run)
  * ``toolfoundry call`` and ``toolfoundry tools --json`` from a shell: a fresh interpreter per run, wall
    time including interpreter start, with the bytecode cache written by a first run (the environment's
    PYTHONDONTWRITEBYTECODE is dropped for these runs: an installed package has its .pyc files), beside a
    bare ``python -c pass``; and the packages ``tools --json`` imports, by ``-X importtime``
The machine is shared and noisy: compare medians and ratios, not single numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example, Permissions, Verdict
from toolfoundry.sandbox.bwrap import BwrapSandbox
from toolfoundry.sandbox.pool import WorkerPool
from toolfoundry.sandbox.types import Limits
from toolfoundry.settings import load as load_settings
from toolfoundry.stages import checks, contract, oracle, tests
from toolfoundry.stages.judge import together

TOOL = '''"""Text statistics, about fifty lines: a realistic small tool."""

import re
import statistics
from typing import TypedDict


class Stats(TypedDict):
    words: int
    distinct: int
    sentences: int
    mean_word_length: float
    longest: str


def text_stats(text: str, min_length: int = 1) -> Stats:
    """Word, distinct-word and sentence counts, mean word length and the longest word of `text`."""
    words = _words(text, min_length)
    if not words:
        return {"words": 0, "distinct": 0, "sentences": 0, "mean_word_length": 0.0, "longest": ""}
    return {
        "words": len(words),
        "distinct": len({w.lower() for w in words}),
        "sentences": _sentences(text),
        "mean_word_length": round(statistics.fmean(len(w) for w in words), 3),
        "longest": max(words, key=len),
    }


def _words(text: str, min_length: int) -> list[str]:
    if min_length < 1:
        raise ValueError("min_length must be at least 1")
    return [w for w in re.findall(r"[A-Za-z']+", text) if len(w) >= min_length]


def _sentences(text: str) -> int:
    parts = [p for p in re.split(r"[.!?]+", text) if p.strip()]
    return len(parts)
'''
TESTS = '''from tool import text_stats


def test_counts():
    assert text_stats("A cat. A dog!")["sentences"] == 2


def test_empty():
    assert text_stats("")["words"] == 0
'''
EXAMPLES = (
    Example(args={"text": "The cat sat. The cat ran!"},
            expect={"words": 6, "distinct": 4, "sentences": 2, "mean_word_length": 3.0, "longest": "The"}),
    Example(args={"text": ""}, expect={"words": 0, "distinct": 0, "sentences": 0, "mean_word_length": 0.0,
                                       "longest": ""}),
    Example(args={"text": "x", "min_length": 0}, raises="ValueError"),
)


Row = tuple[str, list[float], str]
IDLE_PAUSE = 0.02
"""Seconds between warm calls in the "idle sandbox" rows: agents call tools between model turns."""


def measure(fn: Callable[[], object], runs: int, warmup: int = 2, pause: float = 0.0) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        if pause:
            time.sleep(pause)
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--write", type=Path, help="write the results into this markdown file")
    ns = parser.parse_args()
    rows: list[Row] = []
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="tf-bench-") as tmp:
        settings = load_settings(Path(tmp) / "home", {}, user="bench")
        Foundry.init(settings)
        sandbox = BwrapSandbox(settings.sandbox)
        cold = BwrapSandbox(dataclasses.replace(settings.sandbox, warm=False))
        with Foundry(settings) as foundry:
            namespace: dict[str, object] = {}
            exec(compile(TOOL, "tool.py", "exec"), namespace)  # noqa: S102 — our own benchmark tool, the floor
            fn = namespace["text_stats"]
            rows.append(("plain in-process call (no isolation)",
                         measure(lambda: fn("The cat sat. The cat ran!"), ns.runs * 10), "floor"))  # type: ignore[operator]
            bwrap = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr", "--symlink",
                     "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev",
                     "/usr/bin/python3", "-I", "-S", "-c", "pass"]
            uid = settings.sandbox.uid
            user = {"user": uid, "group": settings.sandbox.gid, "extra_groups": []} if os.getuid() == 0 else {}
            rows.append(("fresh bwrap + python -I -S -c pass (per-call baseline)", measure(
                lambda: subprocess.run(bwrap, env={}, check=True, **user), ns.runs), "reference"))  # type: ignore[call-overload]
            args = {"text": "The cat sat. The cat ran!"}
            limits = settings.call_limits
            rows.append(("cold BwrapSandbox.run_cases, 1 case, every layer", measure(
                lambda: cold.run_cases(code=TOOL, function="text_stats", cases=[args],
                                               permissions=Permissions(), limits=limits), ns.runs),
                "what a fresh hardened sandbox per call would cost"))
            pool = WorkerPool(sandbox, settings.pool)
            key = ("text_stats", 1, hashlib.sha256(TOOL.encode()).hexdigest())

            def warm() -> None:
                report = pool.call(key=key, code=TOOL, function="text_stats", args=args,
                                   permissions=Permissions(), limits=limits)
                assert report.cases and report.cases[0].ok, report
            runs = ns.runs * 10
            rows.append(("warm pool call, idle sandbox (20 ms between calls)", measure(warm, runs, 3, IDLE_PAUSE),
                         "target p50 ≤ 1 ms overhead"))
            back = measure(warm, runs, 3)
            rows.append(("warm pool call, back to back", back,
                         f"throughput {1000 * len(back) / sum(back):.0f} calls/s on one sandbox"))
            pool.close()
            outcome = foundry.propose(Candidate(code=TOOL, tests=TESTS, examples=EXAMPLES))
            assert outcome.status == "deployed", outcome.to_json()
            rows.append(("Foundry.call of a deployed tool, warm (20 ms between calls)", measure(
                lambda: foundry.call("text_stats", args), runs, 3, IDLE_PAUSE),
                "+ registry read, sha256 check, schema checks, audit append"))

            rows += validate_rows(sandbox, cold, settings.test_limits, ns.runs)
            counter = iter(range(10_000))

            def propose() -> None:
                code = TOOL.replace("def text_stats(", f"def text_stats_{next(counter)}(")
                result = foundry.propose(Candidate(code=code, examples=EXAMPLES[:2]))
                assert result.status == "deployed", result.to_json()
            rows.append(("Foundry.propose → deployed (auto-approved, no model, no pytest)",
                         measure(propose, ns.runs, 1), "in process; DESIGN's ≤ 500 ms is for the CLI row below"))
            sandbox.close()
        cli, imported = cli_rows(settings.home, ns.runs)
        rows += cli
    report = render(rows, ns.runs, (load_before, _load())) + imported
    print(report)
    if ns.write:
        write_top(ns.write, report)


def write_top(path: Path, report: str) -> None:
    """Replace the top of ``path`` (everything before its first ``## `` section) with ``report``: the other
    sections (search, MCP, HumanEval, the explanations) are written by hand or by other benches."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    at = text.find("\n## ")
    path.write_text(report.rstrip("\n") + "\n" + (text[at:] if at >= 0 else ""), encoding="utf-8")


def validate_rows(warm: BwrapSandbox, cold: BwrapSandbox, limits: Limits, runs: int) -> list[Row]:
    """The validate rows: cold and warm, one after the other and at once, and each part of the warm path."""
    spec, v = contract.stage(TOOL)
    assert spec is not None and v.ok
    permissions = Candidate(code=TOOL).permissions

    def run_tests(box: BwrapSandbox) -> Callable[[], Verdict]:
        return lambda: tests.run_tests(box, code=TOOL, tests=TESTS, limits=limits)

    def run_oracle(box: BwrapSandbox) -> Callable[[], Verdict]:
        assert spec is not None
        return lambda: oracle.evaluate(box, code=TOOL, function=spec.function, examples=EXAMPLES, holdout=(),
                                       permissions=permissions, limits=limits)

    def static() -> None:
        found, verdict = contract.stage(TOOL)
        assert found is not None and verdict.ok
        assert checks.run_checks(TOOL, found, permissions).ok

    def validate(box: BwrapSandbox, at_once: bool) -> Callable[[], None]:
        def run() -> None:
            static()
            if at_once:
                verdicts = together(run_tests(box), run_oracle(box))
            else:
                verdicts = (run_tests(box)(), run_oracle(box)())
            assert all(v.ok for v in verdicts), verdicts
        return run

    return [
        ("validate a 50-line tool: cold sandboxes, one stage after the other (before)",
         measure(validate(cold, False), runs), "`[sandbox] warm = false`"),
        ("validate a 50-line tool: warm sandboxes, one stage after the other",
         measure(validate(warm, False), runs), "the workflow's two steps today"),
        ("validate a 50-line tool: warm sandboxes, tests ∥ oracle (after)", measure(validate(warm, True), runs),
         "target p50 ≤ 150 ms"),
        ("… of which contract + checks (ruff, bandit, mypy, AST rules)", measure(static, runs), "in process"),
        ("… checks: ruff alone", measure(lambda: checks.ruff(TOOL), runs), "a subprocess, run beside the rest"),
        ("… checks: bandit alone", measure(lambda: checks.bandit(TOOL), runs), "in process"),
        ("… checks: mypy alone", measure(lambda: checks.mypy(TOOL), runs), "in process, warm cache"),
        ("… of which tests ∥ oracle, warm sandboxes", measure(lambda: together(run_tests(warm), run_oracle(warm)),
                                                             runs), "both at once"),
        ("… of which tests: pytest, 2 tests, warm sandbox", measure(run_tests(warm), runs), "a fresh fork each"),
        ("… of which oracle: 3 examples, warm sandbox", measure(run_oracle(warm), runs), "a fresh fork each case"),
        ("… tests: pytest, 2 tests, cold sandbox (before)", measure(run_tests(cold), runs), "for comparison"),
        ("… oracle: 3 examples, cold sandbox (before)", measure(run_oracle(cold), runs), "for comparison"),
    ]


def cli_rows(home: Path, runs: int) -> tuple[list[Row], str]:
    """``toolfoundry call`` and ``tools --json`` from a shell, and what ``tools --json`` imports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLFOUNDRY_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(home.parent / "pycache")  # the bench's own cache: the tree stays untouched
    python = sys.executable
    tool = [python, "-m", "toolfoundry"]
    commands = [
        ("python -c pass (interpreter start, site)", [python, "-c", "pass"], "reference"),
        ("`toolfoundry tools --json` from a shell", [*tool, "tools", "--json", "--home", str(home)],
         "target p50 ≤ 200 ms"),
        ("`toolfoundry call` from a shell", [*tool, "call", "text_stats", "--args", '{"text": "The cat sat."}',
                                              "--home", str(home)], "target p50 ≤ 250 ms; a cold sandbox each"),
    ]
    rows: list[Row] = []
    for name, argv, note in commands:
        def once(argv: list[str] = argv) -> None:
            subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
        rows.append((name, measure(once, runs, 2), note))
    rows.append(("`toolfoundry propose` → deployed from a shell", measure(cli_propose(home, env), runs, 2),
                 "target p50 ≤ 500 ms; a new tool each run, 2 examples, no pytest"))
    done = subprocess.run([python, "-X", "importtime", *tool[1:], "tools", "--json", "--home", str(home)], env=env,
                          check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return rows, importtime_summary(done.stderr)


def cli_propose(home: Path, env: dict[str, str]) -> Callable[[], None]:
    """One ``toolfoundry propose FILE --examples F`` of a new tool (its own name) per call, checked deployed."""
    folder = home.parent / "cli-propose"
    folder.mkdir(exist_ok=True)
    examples = folder / "examples.json"
    examples.write_text(json.dumps([{"args": e.args, "expect": e.expect} for e in EXAMPLES[:2]]), encoding="utf-8")
    counter = iter(range(10_000))

    def once() -> None:
        n = next(counter)
        path = folder / f"cli_stats_{n}.py"
        path.write_text(TOOL.replace("def text_stats(", f"def cli_stats_{n}("), encoding="utf-8")
        subprocess.run([sys.executable, "-m", "toolfoundry", "propose", str(path), "--examples", str(examples),
                        "--home", str(home)], env=env, check=True, stdout=subprocess.DEVNULL)
    return once


def importtime_summary(text: str) -> str:
    """The top-level packages ``-X importtime`` shows, by total self time, as a markdown paragraph."""
    totals: dict[str, int] = {}
    for line in text.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            top = match[2].split(".")[0]
            totals[top] = totals.get(top, 0) + int(match[1])
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    shown = ", ".join(f"{name} {us / 1000:.1f}" for name, us in ranked[:12])
    return (f"\n`python -X importtime -m toolfoundry tools --json` (one run, after the rows above): "
            f"{len(totals)} top-level packages, {sum(totals.values()) / 1000:.0f} ms of import time in all; "
            f"the largest (ms, self time summed per package): {shown}.\n")


def scheduling() -> str:
    """A note when the bench runs in a real-time class (``chrt -f N``): the load average is then the others'."""
    if os.sched_getscheduler(0) not in (os.SCHED_FIFO, os.SCHED_RR):
        return ""
    return (f"; the bench ran in a real-time scheduling class (`chrt -f {os.sched_getparam(0).sched_priority}`, "
            "its sandboxes and CLI runs included), so that load did not run ahead of it")


def _load() -> str:
    """The 1, 5 and 15 minute load averages (the machine is shared: say how busy it was)."""
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


def render(rows: list[tuple[str, list[float], str]], runs: int, load: tuple[str, str]) -> str:
    lines = [
        "# Benchmarks", "",
        f"Taken {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `python bench/run.py --runs {runs}` on "
        f"{platform.node() or 'this machine'}: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}. All rows come from the same run, one after the other, in one process; "
        f"the machine is shared and noisy (load average {load[0]} before, {load[1]} after){scheduling()}, so "
        "read medians and ratios.", "",
        "| measure | runs | p50 ms | p90 ms | note |", "|---|---|---|---|---|",
    ]
    for name, samples, note in rows:
        p50, p90 = summary(samples)
        lines.append(f"| {name} | {len(samples)} | {p50:.3f} | {p90:.3f} | {note} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
