"""The host-side oracle: strict JSON equality, examples.json parsing, and verdicts from real sandbox runs."""

from __future__ import annotations

import json
import random

import pytest

from toolfoundry.core import Example, Permissions, Verdict
from toolfoundry.errors import UsageError
from toolfoundry.examples import json_equal, load_examples
from toolfoundry.sandbox import BwrapSandbox
from toolfoundry.sandbox.settings import SandboxSettings
from toolfoundry.sandbox.types import Limits
from toolfoundry.stages.oracle import evaluate

WORD_COUNT = '''"""Count words."""


def word_count(text: str) -> int:
    """Number of whitespace-separated words; rejects empty text."""
    if not text:
        raise ValueError("empty text")
    return len(text.split())
'''


@pytest.fixture(scope="module")
def sandbox() -> BwrapSandbox:
    box = BwrapSandbox(SandboxSettings())
    box.check()
    return box


def judge(sandbox: BwrapSandbox, code: str, examples: list[Example], holdout: list[Example] | None = None,
          **limits: float) -> Verdict:
    return evaluate(sandbox, code=code, function="word_count", examples=tuple(examples),
                    holdout=tuple(holdout or ()), permissions=Permissions(), limits=Limits(**limits),
                    rng=random.Random(7))


def codes(v: Verdict) -> list[str]:
    return [f.code for f in v.findings]


@pytest.mark.parametrize(("expected", "actual", "equal"), [
    (True, 1, False), (1, True, False), (False, 0, False), (True, True, True),
    (1, 1.0, True), (1.0, 1, True), (0.1 + 0.2, 0.3, True), (1, 2, False),
    ("1", 1, False), (1, "1", False), (None, 0, False), (None, "", False), (None, None, True),
    (float("nan"), float("nan"), False),
    ([1, 2], [1, 2], True), ([1, 2], [1, 2, 3], False), ([1, [True]], [1, [1]], False),
    ({"a": 1}, {"a": 1.0}, True), ({"a": 1}, {"a": 1, "b": 2}, False), ({"a": [None]}, {"a": [False]}, False),
    ({"a": {"b": "x"}}, {"a": {"b": "x"}}, True), ([], {}, False), (10**400, 1e308, False),
])
def test_json_equal_is_strict_about_json_types(expected: object, actual: object, equal: bool) -> None:
    assert json_equal(expected, actual) is equal


def test_all_examples_passing_is_an_ok_verdict(sandbox: BwrapSandbox) -> None:
    v = judge(sandbox, WORD_COUNT,
              [Example(args={"text": "a b c"}, expect=3), Example(args={"text": ""}, raises="ValueError")],
              [Example(args={"text": "one"}, expect=1.0)])
    assert v.ok and v.stage == "oracle", v.to_json()
    assert v.details == {"examples": 2, "holdout": 1, "passed": 3, "failed": 0}


def test_no_examples_is_ok_with_an_info_finding(sandbox: BwrapSandbox) -> None:
    v = judge(sandbox, WORD_COUNT, [])
    assert v.ok and codes(v) == ["oracle.no-examples"] and v.findings[0].severity == "info"
    assert v.details == {"examples": 0, "holdout": 0}


def test_a_mismatch_finding_carries_input_expected_and_actual(sandbox: BwrapSandbox) -> None:
    v = judge(sandbox, WORD_COUNT, [Example(args={"text": "a b"}, expect=2),
                                    Example(args={"text": "a b c d"}, expect=5)])
    assert not v.ok and codes(v) == ["oracle.mismatch"]
    finding = v.findings[0]
    assert finding.message == 'example 2: word_count({"text": "a b c d"}) returned 4, expected 5'
    assert (finding.input, finding.expected, finding.actual) == ({"text": "a b c d"}, 5, 4)
    assert v.details == {"examples": 2, "holdout": 0, "passed": 1, "failed": 1}


def test_a_bool_result_does_not_match_an_expected_number(sandbox: BwrapSandbox) -> None:
    code = "def word_count(text: str) -> bool:\n    return True\n"
    v = judge(sandbox, code, [Example(args={"text": "x"}, expect=1)])
    assert codes(v) == ["oracle.mismatch"]


def test_raises_examples_are_judged_by_exception_name(sandbox: BwrapSandbox) -> None:
    v = judge(sandbox, WORD_COUNT, [
        Example(args={"text": ""}, raises="ValueError"),
        Example(args={"text": ""}, raises="TypeError"),
        Example(args={"text": "fine"}, raises="ValueError"),
        Example(args={"text": ""}, expect=0),
    ])
    assert codes(v) == ["oracle.unexpected-error", "oracle.expected-raise", "oracle.unexpected-error"]
    wrong_kind, no_raise, unexpected = v.findings
    assert wrong_kind.message.startswith('example 2: word_count({"text": ""}) raised ValueError: empty text')
    assert "should raise TypeError" in wrong_kind.message and wrong_kind.expected == {"raises": "TypeError"}
    assert no_raise.actual == 1 and "should raise ValueError" in no_raise.message
    assert unexpected.input == {"text": ""} and unexpected.expected == 0
    assert v.details["passed"] == 1


def test_a_held_out_failure_leaks_neither_input_nor_expected_value(sandbox: BwrapSandbox) -> None:
    code = 'import sys\n\ndef word_count(text: str) -> int:\n    print("saw", text)\n    raise KeyError(text)\n'
    v = judge(sandbox, code, [Example(args={"text": "a"}, expect=1)],
              [Example(args={"text": "SECRET-INPUT"}, expect=424242),
               Example(args={"text": "SECRET-OTHER"}, raises="SECRETError")])
    held = [f for f in v.findings if f.code == "oracle.holdout-failed"]
    assert len(held) == 1 and held[0].message == "2 of 2 held-out examples failed (inputs withheld)"
    assert held[0].input is None and held[0].expected is None and held[0].actual is None
    text = json.dumps(v.to_json())
    for secret in ("SECRET", "424242"):
        assert secret not in text


def test_a_tool_that_exits_at_import_is_rejected(sandbox: BwrapSandbox) -> None:
    code = "import os\nos._exit(0)\n\ndef word_count(text: str) -> int:\n    return 1\n"
    v = judge(sandbox, code, [Example(args={"text": "a"}, expect=1)], [Example(args={"text": "b"}, expect=1)])
    assert not v.ok
    assert set(codes(v)) <= {"oracle.crashed", "oracle.protocol", "oracle.holdout-failed"}
    assert "oracle.crashed" in codes(v) or "oracle.protocol" in codes(v)


def test_a_tool_that_exits_zero_in_the_function_is_rejected(sandbox: BwrapSandbox) -> None:
    code = "import os\n\ndef word_count(text: str) -> int:\n    os._exit(0)\n"
    v = judge(sandbox, code, [Example(args={"text": "a"}, expect=1)])
    assert not v.ok and codes(v) == ["oracle.crashed"]
    assert "without returning a result" in v.findings[0].message


def test_a_hanging_visible_example_is_a_timeout_naming_its_input(sandbox: BwrapSandbox) -> None:
    code = "import time\n\ndef word_count(text: str) -> int:\n    time.sleep(100)\n    return 0\n"
    v = judge(sandbox, code, [Example(args={"text": "slow"}, expect=1)], wall_seconds=1.0)
    assert not v.ok and "oracle.timeout" in codes(v)
    timeout = next(f for f in v.findings if f.code == "oracle.timeout")
    assert timeout.input == {"text": "slow"}


def test_truncated_output_is_a_protocol_failure(sandbox: BwrapSandbox) -> None:
    code = "def word_count(text: str) -> int:\n    print('x' * 200_000)\n    return len(text.split())\n"
    v = judge(sandbox, code, [Example(args={"text": "a"}, expect=1)], output_kb=16)
    assert not v.ok and codes(v) == ["oracle.protocol"] and "truncated" in v.findings[0].message


def test_load_examples_reads_expect_and_raises() -> None:
    text = '[{"args": {"text": "a"}, "expect": 1}, {"args": {}, "raises": "ValueError"}, {"args": {}, "expect": null}]'
    assert load_examples(text, where="examples.json") == (
        Example(args={"text": "a"}, expect=1), Example(args={}, raises="ValueError"), Example(args={}, expect=None))


@pytest.mark.parametrize(("text", "reason"), [
    ('{"args": {}, "expect": 1}', "must be a JSON list"),
    ('[{"args": {}, "expect": 1}, 3]', "example 2: must be an object"),
    ('[{"expect": 1}]', 'example 1: needs "args"'),
    ('[{"args": [1], "expect": 1}]', 'example 1: needs "args"'),
    ('[{"args": {}, "expect": 1, "raises": "ValueError"}]', "exactly one of"),
    ('[{"args": {}}]', "exactly one of"),
    ('[{"args": {}, "raises": ""}]', "exception class name"),
    ('[{"args": {}, "raises": 3}]', "exception class name"),
    ('[{"args": {}, "expect": NaN}]', "not valid JSON"),
    ('[{"args": {"x": Infinity}, "expect": 1}]', "not valid JSON"),
    ('[{"args": {}, "expect": 1, "note": "x"}]', "unknown key"),
    ("[", "not valid JSON"),
])
def test_load_examples_rejects_malformed_files_naming_where(text: str, reason: str) -> None:
    with pytest.raises(UsageError, match="^examples.json: .*" + reason.replace("(", r"\(")):
        load_examples(text, where="examples.json")


def test_a_result_that_is_not_json_is_named_as_such(sandbox: BwrapSandbox) -> None:
    code = "class Always:\n    def __eq__(self, other):\n        return True\n\ndef word_count(text: str):\n    return Always()\n"
    v = judge(sandbox, code, [Example(args={"text": "a"}, expect=1)])
    assert codes(v) == ["oracle.not-json"] and "not a JSON value" in v.findings[0].message
