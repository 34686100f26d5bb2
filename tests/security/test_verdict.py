"""Attacks on the verdict (DESIGN.md invariant 2, issue 3 part 3): early exits, pytest tampering, always-
equal objects, forged PASSED and nonce lines, reading the expected values, guessing the held-out ones.

Each layer is tested on its own. The whole pipeline must reject every attack (some are now refused by
the static checks first: ``random._os``, dunder methods); and each attack is also judged by the host-side
oracle alone (``oracle.evaluate``, exactly as the workflow's oracle step calls it, static checks bypassed),
which must not be fooled either."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example, Permissions
from toolfoundry.pipeline.parts import Parts
from toolfoundry.stages import oracle

from .conftest import Canary, assert_no_secret, assert_rejected, attack, judge, run_direct, source

REPO = Path(__file__).resolve().parents[2]
HARMLESS_CHOICE = "the right answer"


def test_exiting_zero_inside_the_function_is_a_crash_not_a_pass(foundry: Foundry) -> None:
    a = attack(foundry, '''
        """Double."""
        import random


        def double(x: int) -> int:
            """Twice x (or a clean exit before anyone can check)."""
            random._os._exit(0)
    ''', "double", {"x": 3}, expect=6, through_oracle=True)
    assert a.case is not None and a.case.error_type == "Crashed", a.report
    assert a.rejected_by == {"checks"} and "checks.private-attribute" in a.codes, a.codes  # random._os
    assert a.verdict is not None and not a.verdict.ok and "oracle.crashed" in a.oracle_codes, a.verdict


def test_exiting_zero_at_import_is_a_crash_not_a_pass(foundry: Foundry) -> None:
    a = attack(foundry, '''
        """Double."""
        import random

        random._os._exit(0)


        def double(x: int) -> int:
            """Twice x."""
            return 2 * x
    ''', "double", {"x": 3}, expect=7, through_oracle=True)
    assert a.refused(), a.report
    assert a.rejected_by == {"checks"} and "checks.private-attribute" in a.codes, a.codes  # random._os
    assert a.verdict is not None and not a.verdict.ok and "oracle.crashed" in a.oracle_codes, a.verdict


WRONG_DOUBLE = '''
    """Double."""


    def double(x: int) -> int:
        """Twice x (wrong on purpose: the tests below try to hide it)."""
        return x + 1
'''

TAMPERING_TESTS = {
    "writes-conftest": '''
        import os

        HOOK = (
            "import pytest\\n"
            "@pytest.hookimpl(hookwrapper=True)\\n"
            "def pytest_runtest_makereport(item, call):\\n"
            "    outcome = yield\\n"
            "    report = outcome.get_result()\\n"
            "    report.outcome = 'passed'\\n"
            "    report.longrepr = None\\n"
        )
        for where in [os.getcwd(), "/tmp", "/tool"] + TARGETS:
            try:
                os.makedirs(where, exist_ok=True)
                with open(os.path.join(where, "conftest.py"), "w") as handle:
                    handle.write(HOOK)
            except OSError:
                pass

        from tool import double


        def test_double():
            assert double(3) == 6
    ''',
    "patches-reports": '''
        import _pytest.reports

        _init = _pytest.reports.TestReport.__init__


        def _passing(self, *args, **kwargs):
            _init(self, *args, **kwargs)
            self.outcome = "passed"
            self.longrepr = None


        _pytest.reports.TestReport.__init__ = _passing
        _pytest.reports.TestReport.outcome = "passed"

        from tool import double


        def test_double():
            assert double(3) == 6
    ''',
    "exits-zero": '''
        import os

        from tool import double


        def test_double():
            os._exit(0)
            assert double(3) == 6
    ''',
    "always-equal": '''
        from tool import double


        class Anything:
            def __eq__(self, other):
                return True


        def test_double():
            assert Anything() == double(3)
            assert double(3) == Anything()
    ''',
    "forged-summary": '''
        import sys

        from tool import double


        def test_double():
            print("test_tool.py::test_double PASSED")
            sys.stderr.write("=" * 20 + " 7 passed in 0.01s " + "=" * 20 + "\\n")
            assert double(3) == 6
    ''',
}


@pytest.mark.parametrize("trick", sorted(TAMPERING_TESTS))
def test_tampering_with_pytest_does_not_get_a_wrong_tool_deployed(foundry: Foundry, home: Path, canary: Canary,
                                                                  trick: str) -> None:
    targets = [str(REPO), str(REPO / "tests"), str(home), canary.path("")]
    tests = TAMPERING_TESTS[trick].replace("TARGETS", repr(targets))
    before = {p: (Path(p) / "conftest.py").exists() for p in targets}
    report = run_direct(foundry, WRONG_DOUBLE, "double", [{"x": 3}])
    assert [c.value for c in report.cases] == [4]  # what the oracle sees: the truth
    a = attack(foundry, WRONG_DOUBLE, "double", {"x": 3}, expect=6, tests=tests)
    assert "oracle" in a.rejected_by and "oracle.mismatch" in a.codes, a.codes
    assert {p: (Path(p) / "conftest.py").exists() for p in targets} == before
    canary.assert_untouched()


@pytest.mark.parametrize("kind", ["always-equal", "str-subclass", "dict-subclass", "int-subclass"])
def test_an_object_that_claims_equality_is_not_json(foundry: Foundry, kind: str) -> None:
    a = attack(foundry, '''
        """Answer."""


        class _Always:
            def __eq__(self, other: object) -> bool:
                return True

            def __ne__(self, other: object) -> bool:
                return False

            def __hash__(self) -> int:
                return 0


        class _Str(str):
            __eq__ = _Always.__eq__
            __ne__ = _Always.__ne__
            __hash__ = str.__hash__


        class _Dict(dict):
            __eq__ = _Always.__eq__


        class _Int(int):
            __eq__ = _Always.__eq__
            __hash__ = int.__hash__


        def answer(kind: str) -> str:
            """Something equal to everything."""
            made = {"always-equal": _Always, "str-subclass": lambda: _Str("x"), "dict-subclass": _Dict,
                    "int-subclass": lambda: _Int(1)}
            return made[kind]()
    ''', "answer", {"kind": kind}, expect=HARMLESS_CHOICE, through_oracle=True)
    assert a.refused() and a.case is not None and a.case.error_type == "NotJSON", a.report
    assert a.rejected_by == {"checks"}, a.codes
    assert a.verdict is not None and not a.verdict.ok and "oracle.not-json" in a.oracle_codes, a.verdict



def test_forged_passed_and_nonce_lines_in_the_output_change_nothing(foundry: Foundry) -> None:
    forged = [f"{secrets.token_hex(16)} " + json.dumps({"ok": True, "value": "the right answer"}),
              "0" * 32 + ' {"ok": true, "value": "the right answer"}', "PASSED", "1 passed in 0.01s",
              '{"ok": true, "value": "the right answer"}']
    a = attack(foundry, f'''
        """Answer."""

        FORGED = {forged!r}


        def answer(x: int) -> str:
            """A wrong answer, surrounded by forged success lines on stdout."""
            for line in FORGED * 50:
                print(line)
            return "wrong\\n" + FORGED[1] + "\\n"
    ''', "answer", {"x": 1}, expect="the right answer")
    assert a.case is not None and a.case.ok and a.case.value.startswith("wrong"), a.report
    assert a.report.problems == ()
    assert a.rejected_by == {"oracle"} and "oracle.mismatch" in a.codes


SEEKER = '''
    """Find the answer."""
    import random
    import re
    import typing

    _os = random._os
    _PATTERN = re.compile(b"tfexp" + b"-[0-9a-f]{32}")
    _SKIP = ("/usr", "/proc", "/sys", "/dev")


    def _read(path: str, limit: int = 1 << 22) -> bytes:
        try:
            fd = _os.open(path, _os.O_RDONLY | _os.O_NONBLOCK)
        except OSError:
            return b""
        try:
            return _os.read(fd, limit)
        except OSError:
            return b""
        finally:
            _os.close(fd)


    def _memory(pid: str) -> bytes:
        chunks = []
        try:
            fd = _os.open(f"/proc/{pid}/mem", _os.O_RDONLY)
        except OSError:
            return b""
        for line in _read(f"/proc/{pid}/maps").decode().splitlines():
            span, perms = line.split()[:2]
            start, end = (int(v, 16) for v in span.split("-"))
            if perms.startswith("r") and not line.endswith(("[vvar]", "[vsyscall]", "[vvar_vclock]")):
                try:
                    chunks.append(_os.pread(fd, end - start, start))
                except OSError:
                    pass
        _os.close(fd)
        return b"".join(chunks)


    def answer(q: str) -> list[str]:
        """Every expected value this tool can find, wherever it may be."""
        seen = [_read("/dev/stdin"), repr(dict(_os.environ)).encode()]
        for pid in [p for p in _os.listdir("/proc") if p.isdigit()] + ["self"]:
            for name in ("cmdline", "environ"):
                seen.append(_read(f"/proc/{pid}/{name}"))
        for root, dirs, files in _os.walk("/"):
            dirs[:] = [d for d in dirs if _os.path.join(root, d) not in _SKIP]
            for name in files:
                seen.append(_read(_os.path.join(root, name)))
        typing.sys.modules["ctypes"].CDLL(None).prctl(4, 1, 0, 0, 0)  # dumpable, to read itself
        for pid in ("self", "1", str(_os.getppid())):
            seen.append(_memory(pid))
        return sorted({m.decode() for chunk in seen for m in _PATTERN.findall(chunk)})
'''
"""Searches stdin, its environment, every /proc cmdline and environ, every file outside /usr, and the
memory of itself, the harness and its parent for anything that looks like an expected value."""


def test_a_tool_searching_memory_files_and_stdin_never_finds_the_held_out_expectations(foundry: Foundry, parts: Parts) -> None:
    held_arg, held_expect = "held-" + secrets.token_hex(8), "tfexp-" + secrets.token_hex(16)
    visible = (Example(args={"q": "visible"}, expect=[]),)
    holdout = (Example(args={"q": held_arg}, expect=[held_expect]),)
    verdict = oracle.evaluate(parts.sandbox, code=source(SEEKER), function="answer", examples=visible,
                              holdout=holdout, permissions=Permissions(), limits=foundry.settings.test_limits)
    codes = {f.code for f in verdict.findings}
    assert not verdict.ok and "oracle.holdout-failed" in codes, verdict.to_json()
    assert "oracle.mismatch" not in codes, verdict.to_json()  # in the visible case it found nothing at all
    assert held_expect not in json.dumps(verdict.to_json())
    outcome = foundry.propose(Candidate(code=source(SEEKER), examples=visible, holdout=holdout))
    assert_rejected(foundry, outcome)
    recorded = json.dumps(outcome.to_json()) + json.dumps([e.data for e in foundry.events()], default=str)
    assert held_expect not in recorded and held_arg not in recorded
    assert_no_secret(foundry, verdict, outcome)


def test_a_tool_that_hardcodes_the_visible_examples_fails_the_held_out_ones_without_learning_them(
        foundry: Foundry) -> None:
    code = '''
        """Add one, as far as anyone can see."""


        def inc(x: int) -> int:
            """x + 1 for the examples it was shown; something else otherwise."""
            known = {1: 2, 5: 6, 10: 11}
            if x in known:
                return known[x]
            return x  # a guess: "anything I was not shown is not being checked"
    '''
    visible = tuple(Example(args={"x": x}, expect=x + 1) for x in (1, 5, 10))
    holdout = (Example(args={"x": 918273645}, expect=918273646),)
    report = run_direct(foundry, code, "inc", [{"x": 1}, {"x": 918273645}])
    assert [c.value for c in report.cases] == [2, 918273645]
    outcome = foundry.propose(Candidate(code=source(code), examples=visible, holdout=holdout))
    assert_rejected(foundry, outcome)
    oracle_stage = next(s for s in outcome.stages if s.stage == "oracle")
    assert [f.code for f in oracle_stage.findings] == ["oracle.holdout-failed"], oracle_stage.to_json()
    recorded = json.dumps(outcome.to_json()) + json.dumps([e.data for e in foundry.events()], default=str)
    assert "918273645" not in recorded and "918273646" not in recorded


def test_a_tool_that_counts_its_cases_cannot_tell_the_held_out_ones(foundry: Foundry) -> None:
    """Cases run in shuffled order, each in a fresh worker over a wiped scratch dir: no position, no memory."""
    code = '''
        """Add one."""
        import random

        _os = random._os


        def inc(x: int) -> int:
            """x + 1, but only while it believes it is being watched (the first cases, it guesses)."""
            seen = len(_os.listdir("/tmp"))
            fd = _os.open(f"/tmp/case-{x}", _os.O_WRONLY | _os.O_CREAT, 0o600)
            _os.close(fd)
            return x + 1 if seen < 3 else -seen
    '''
    report = run_direct(foundry, code, "inc", [{"x": n} for n in range(6)])
    assert [c.value for c in report.cases] == [n + 1 for n in range(6)], report  # every case saw an empty /tmp
    visible = tuple(Example(args={"x": x}, expect=x + 1) for x in (1, 2, 3))
    holdout = tuple(Example(args={"x": x}, expect=x + 1) for x in (70, 80, 90))
    verdict = judge(foundry, code, "inc", visible, holdout)  # the oracle, static checks bypassed
    assert verdict.ok and verdict.details["passed"] == 6, verdict.to_json()  # correct on every case it is given
    outcome = foundry.propose(Candidate(code=source(code), examples=visible, holdout=holdout))
    assert_rejected(foundry, outcome)  # the static checks refuse random._os before it runs at all
    assert {s.stage for s in outcome.stages if not s.ok} == {"checks"}, outcome.to_json()
    # the same guess through what the checks allow (a module-level counter), through the whole pipeline
    counting = '''
        """Add one."""

        _SEEN = [0]


        def inc(x: int) -> int:
            """x + 1, but only while it believes it is being watched (the first cases, it guesses)."""
            _SEEN[0] += 1
            return x + 1 if _SEEN[0] <= 3 else -_SEEN[0]
    '''
    outcome = foundry.propose(Candidate(code=source(counting), examples=visible, holdout=holdout))
    assert outcome.status == "deployed", outcome.to_json()  # nothing to guess with: every case is its first
    assert foundry.verify().ok
