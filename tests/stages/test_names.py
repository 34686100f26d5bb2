"""Tool names: any Python identifier MCP allows (mixed case included), reserved names in any case, and no
two tools whose names differ only in case (their directories would merge on a case-insensitive disk)."""

from __future__ import annotations

import pytest

from toolfoundry.stages.contract import RESERVED_NAMES, name_clash, parse_tool
from toolfoundry.stages.generate import parse_spec
from toolfoundry.toolfile import NAME_RE, name_key

TOOL = '"""Digits."""\n\n\ndef {fn}(n: int) -> int:\n    """Sum of the digits of n."""\n    return sum(map(int, str(abs(n))))\n'


@pytest.mark.parametrize("name", ["digitSum", "sortArray", "DATA_EXPORT_v2", "x", "digit_sum", "A" + "b" * 62])
def test_mixed_case_identifiers_are_tool_names(name: str) -> None:
    spec, findings = parse_tool(TOOL.format(fn=name))
    assert spec is not None and spec.name == name and spec.function == name, findings
    spec, findings = parse_tool(TOOL.format(fn="digits"), name=name)
    assert spec is not None and spec.name == name, findings


@pytest.mark.parametrize("name", ["digit-sum", "digit.sum", "tools/x", "_private", "1abc", "a" * 64, "", "digit sum",
                                  "ünïcode", "x\n", "../x"])
def test_names_outside_the_rule_are_refused_with_the_rule(name: str) -> None:
    assert not NAME_RE.match(name)
    spec, findings = parse_tool(TOOL.format(fn="digits"), name=name)
    assert spec is None
    [found] = [f for f in findings if f.code == "contract.bad-name"]
    assert "ASCII letters (either case)" in found.message and found.file == "tool.toml"


@pytest.mark.parametrize("reserved", sorted(RESERVED_NAMES))
def test_reserved_names_are_refused_in_any_case(reserved: str) -> None:
    for variant in (reserved, reserved.upper(), reserved.title(), reserved[0].upper() + reserved[1:]):
        spec, findings = parse_tool(TOOL.format(fn="digits"), name=variant)
        assert spec is None and [f.code for f in findings] == ["contract.reserved-name"], variant
        assert variant in findings[0].message


def test_names_that_differ_only_in_case_clash_and_equal_ones_do_not() -> None:
    taken = [("digitSum", "a deployed tool"), ("slugify", "request r1")]
    clash = name_clash("digitsum", taken)
    assert clash is not None and clash.code == "contract.name-clash" and clash.severity == "error"
    assert "'digitSum' (a deployed tool)" in clash.message and "tools/digitsum" in clash.message
    assert name_clash("DIGITSUM", taken) is not None and name_clash("Slugify", taken) is not None
    assert name_clash("digitSum", taken) is None  # the same name: a new version of that tool
    assert name_clash("digit_sum", taken) is None
    assert name_key("digitSum") == name_key("DIGITSUM") != name_key("digit_sum")


def test_a_model_may_propose_a_mixed_case_name_but_not_a_malformed_one() -> None:
    spec, problems = parse_spec('{"name": "digitSum", "signature": "(n: int) -> int", "description": "Sum digits."}')
    assert spec is not None and spec.name == "digitSum", problems
    spec, problems = parse_spec('{"name": "digit-sum", "signature": "(n: int) -> int", "description": "Sum digits."}')
    assert spec is None and "is not a tool name" in problems[0].message
