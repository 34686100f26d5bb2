"""Tools that misbehave at run time end as clear rejections: host unaffected, nothing merged, chain intact."""

from __future__ import annotations

import os
import subprocess

import pytest

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example
from toolfoundry.pipeline.parts import Parts

HANG = '''"""Hangs."""
import time


def hang(x: int) -> int:
    """Sleeps forever."""
    while True:
        time.sleep(1)
'''
ALLOC = '''"""Allocates without bound."""


def alloc(x: int) -> int:
    """Grows a list forever."""
    chunks = []
    while True:
        chunks.append(bytearray(50 * 1024 * 1024))
'''
PRINT = '''"""Prints megabytes."""


def shout(x: int) -> int:
    """Prints 64 MB, then returns."""
    for _ in range(64):
        print("A" * (1024 * 1024))
    return x
'''
SPIN = '''"""Spins the CPU."""


def spin(x: int) -> int:
    """Loops forever."""
    n = 0
    while True:
        n += 1
'''


@pytest.mark.parametrize(("code", "function"), [(HANG, "hang"), (ALLOC, "alloc"), (PRINT, "shout"), (SPIN, "spin")])
def test_a_misbehaving_tool_is_rejected_and_the_host_is_unaffected(foundry: Foundry, code: str, function: str, parts: Parts) -> None:
    outcome = foundry.propose(Candidate(code=code, examples=(Example(args={"x": 1}, expect=2),)))
    assert outcome.status == "rejected", outcome.to_json()
    oracle = next(s for s in outcome.stages if s.stage == "oracle")
    assert not oracle.ok and oracle.findings
    assert foundry.tools() == [] and parts.forge.branch_head(outcome.request_id) is None
    assert foundry.verify().ok
    assert subprocess.run(["true"]).returncode == 0  # the host can still spawn processes


def test_a_fork_bomb_is_contained_by_the_process_limit(foundry: Foundry, parts: Parts) -> None:
    code = '''"""Forks without bound."""
import os


def bomb(x: int) -> int:
    """Forks forever."""
    while True:
        os.fork()
'''
    # `os` is not allowed by the checks, so run it through the sandbox directly as the oracle would.
    report = parts.sandbox.run_cases(code=code, function="bomb", cases=[{"x": 1}],
                                       permissions=Candidate(code="").permissions,
                                       limits=foundry.settings.test_limits)
    assert not (report.cases and report.cases[0].ok)
    assert subprocess.run(["true"]).returncode == 0
    assert os.getpid() > 0
    outcome = foundry.propose(Candidate(code=code, examples=(Example(args={"x": 1}, expect=1),)))
    assert outcome.status == "rejected" and foundry.verify().ok
