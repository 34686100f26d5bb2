"""Benchmarks for toolfoundry's performance targets (DESIGN.md), measured side by side in one run.

    python bench/run.py [--runs N] [--write BENCHMARKS.md]

Measures, each as median / p90 over repeated runs on one machine in one process:
  * plain in-process call of the tool function (the floor, no isolation at all)
  * fresh bwrap + `python -I -S -c pass` (the cost of any fresh sandbox here: the per-call baseline)
  * a cold `BwrapSandbox.run_cases` of one case (every layer: seccomp, Landlock, rlimits, runner)
  * a warm `WorkerPool.call` (one pre-forked sandbox per tool version), arriving at an idle sandbox,
    and back to back (then also as calls per second)
  * `Foundry.call` of a deployed tool, warm (registry read + hash check + pool call + audit append)
  * validate a ~50-line tool: contract + checks + tests (pytest) + oracle
  * propose → deployed, auto-approved, no model (the whole workflow: DBOS, git, SQLite, sandbox)
The machine is shared and noisy: compare medians and ratios, not single numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example, Permissions
from toolfoundry.sandbox.bwrap import BwrapSandbox
from toolfoundry.sandbox.pool import WorkerPool
from toolfoundry.settings import load as load_settings
from toolfoundry.stages import checks, contract, oracle

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
    rows: list[tuple[str, list[float], str]] = []
    with tempfile.TemporaryDirectory(prefix="tf-bench-") as tmp:
        settings = load_settings(Path(tmp) / "home", {}, user="bench")
        Foundry.init(settings)
        sandbox = BwrapSandbox(settings.sandbox)
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
                lambda: sandbox.run_cases(code=TOOL, function="text_stats", cases=[args],
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

            def validate() -> None:
                spec, v = contract.stage(TOOL)
                assert spec is not None and v.ok
                assert checks.run_checks(TOOL, spec, Candidate(code=TOOL).permissions).ok
                assert sandbox.run_pytest(code=TOOL, tests=TESTS, limits=settings.test_limits).exit_code == 0
                assert oracle.evaluate(sandbox, code=TOOL, function=spec.function, examples=EXAMPLES,
                                       holdout=(), permissions=Candidate(code=TOOL).permissions,
                                       limits=settings.test_limits).ok
            rows.append(("validate a 50-line tool (contract+checks+tests+oracle)", measure(validate, ns.runs),
                         "target p50 ≤ 300 ms"))
            counter = iter(range(10_000))

            def propose() -> None:
                code = TOOL.replace("def text_stats(", f"def text_stats_{next(counter)}(")
                result = foundry.propose(Candidate(code=code, examples=EXAMPLES[:2]))
                assert result.status == "deployed", result.to_json()
            rows.append(("propose → deployed (auto-approved, no model, no pytest)", measure(propose, ns.runs, 1),
                         "target p50 ≤ 1 s"))
    report = render(rows, ns.runs)
    print(report)
    if ns.write:
        ns.write.write_text(report, encoding="utf-8")


def render(rows: list[tuple[str, list[float], str]], runs: int) -> str:
    lines = [
        "# Benchmarks", "",
        f"Taken {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `python bench/run.py --runs {runs}` on "
        f"{platform.node() or 'this machine'}: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}. All rows come from the same run, one after the other, in one process; "
        "the machine is shared and noisy, so read medians and ratios.", "",
        "| measure | runs | p50 ms | p90 ms | note |", "|---|---|---|---|---|",
    ]
    for name, samples, note in rows:
        p50, p90 = summary(samples)
        lines.append(f"| {name} | {len(samples)} | {p50:.3f} | {p90:.3f} | {note} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
