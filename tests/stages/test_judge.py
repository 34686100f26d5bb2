"""pytest and the oracle together: the same verdicts as one after the other, in two real warm sandboxes."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from toolfoundry.core import Example, Permissions, Verdict, verdict
from toolfoundry.sandbox import BwrapSandbox
from toolfoundry.sandbox.settings import SandboxSettings
from toolfoundry.sandbox.types import Limits
from toolfoundry.stages import oracle, tests
from toolfoundry.stages.judge import together

CODE = '''"""Double."""


def double(x: int) -> int:
    """Twice x (wrong for 3 on purpose)."""
    return 7 if x == 3 else 2 * x
'''
TESTS = "from tool import double\n\n\ndef test_two():\n    assert double(2) == 4\n\n\ndef test_three():\n" \
        "    assert double(3) == 6\n"
EXAMPLES = (Example(args={"x": 1}, expect=2), Example(args={"x": 3}, expect=6))


@pytest.fixture
def sandbox() -> Iterator[BwrapSandbox]:
    box = BwrapSandbox(SandboxSettings())
    box.check()
    try:
        yield box
    finally:
        box.close()


def stages(sandbox: BwrapSandbox) -> tuple[Verdict, Verdict]:
    limits = Limits()
    return together(
        lambda: tests.run_tests(sandbox, code=CODE, tests=TESTS, limits=limits),
        lambda: oracle.evaluate(sandbox, code=CODE, function="double", examples=EXAMPLES, holdout=(),
                                permissions=Permissions(), limits=limits))


def summary(v: Verdict) -> tuple[str, bool, list[str], dict[str, object]]:
    return v.stage, v.ok, sorted(f.code for f in v.findings), {k: v.details[k] for k in v.details if k != "ms"}


def test_together_gives_the_verdicts_of_one_after_the_other(sandbox: BwrapSandbox) -> None:
    tested, judged = stages(sandbox)
    alone = (tests.run_tests(sandbox, code=CODE, tests=TESTS, limits=Limits()),
             oracle.evaluate(sandbox, code=CODE, function="double", examples=EXAMPLES, holdout=(),
                             permissions=Permissions(), limits=Limits()))
    assert [summary(v) for v in (tested, judged)] == [summary(v) for v in alone]
    assert summary(tested)[:3] == ("tests", False, ["tests.failed"])
    assert summary(judged)[:3] == ("oracle", False, ["oracle.mismatch"])


def test_the_two_stages_really_overlap() -> None:
    both = threading.Barrier(2, timeout=10)  # each side waits for the other: only concurrent runs pass it

    def side(name: str) -> Verdict:
        both.wait()
        return verdict(name, [])

    first, second = together(lambda: side("tests"), lambda: side("oracle"))
    assert (first.stage, second.stage) == ("tests", "oracle")


def test_an_exception_is_raised_after_both_ended() -> None:
    ended: list[str] = []

    def slow() -> Verdict:
        ended.append("first")
        return verdict("tests", [])

    def broken() -> Verdict:
        raise RuntimeError("sandbox gone")

    with pytest.raises(RuntimeError, match="sandbox gone"):
        together(slow, broken)
    assert ended == ["first"]
