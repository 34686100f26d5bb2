"""The gate end to end on what it used to refuse for no safety reason: mypy-only findings advise (and block
under ``[checks] blocking``), mixed-case names deploy, and names that differ only in case are refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

from toolfoundry.api import Foundry
from toolfoundry.core import Candidate, Example

from conftest import make_settings

DIGIT_SUM = '''"""Digits."""


def digitSum(s: str) -> int:
    """Sum of the ASCII codes of the upper-case characters of s."""
    return sum(ord(c) for c in s if c.isupper())
'''
DIGIT_EXAMPLES = (Example(args={"s": "abAB"}, expect=131), Example(args={"s": ""}, expect=0))

LARGEST_DIVISOR = '''"""HumanEval 24."""


def largest_divisor(n: int) -> int:
    """The largest number that divides n evenly, smaller than n."""
    for i in reversed(range(n)):
        if n % i == 0:
            return i
'''


def findings(outcome: object, stage: str) -> list[tuple[str, str]]:
    return [(f.code, f.severity) for s in outcome.stages if s.stage == stage for f in s.findings]  # type: ignore[attr-defined]


def test_a_tool_mypy_cannot_prove_is_deployed_with_its_advice_shown(foundry: Foundry) -> None:
    outcome = foundry.propose(Candidate(code=LARGEST_DIVISOR, examples=(Example(args={"n": 15}, expect=5),)))
    assert outcome.status == "deployed", outcome.to_json()
    assert findings(outcome, "checks") == [("mypy.return", "warning")]
    assert outcome.to_json()["stages"][1]["findings"][0]["severity"] == "warning"
    assert foundry.call("largest_divisor", n=49).result == 7


def test_a_team_that_blocks_on_mypy_gets_it_rejected(home: Path) -> None:
    (home / "toolfoundry.toml").write_text('[checks]\nblocking = ["mypy"]\n', encoding="utf-8")
    with Foundry(make_settings(home)) as foundry:
        outcome = foundry.propose(Candidate(code=LARGEST_DIVISOR, examples=(Example(args={"n": 15}, expect=5),)))
        assert outcome.status == "rejected" and findings(outcome, "checks") == [("mypy.return", "error")]
        assert "[checks] blocking" in outcome.stages[1].findings[0].message
        assert foundry.tools() == []


def test_a_mixed_case_name_deploys_and_a_name_differing_only_in_case_is_refused(foundry: Foundry) -> None:
    first = foundry.propose(Candidate(code=DIGIT_SUM, examples=DIGIT_EXAMPLES))
    assert first.status == "deployed" and first.tool is not None and first.tool.name == "digitSum", first.to_json()
    assert foundry.call("digitSum", s="woArBld").result == 131
    for other in ("digitsum", "DIGITSUM", "DigitSum"):
        clash = foundry.propose(Candidate(code=DIGIT_SUM, examples=DIGIT_EXAMPLES, name=other))
        assert clash.status == "rejected", clash.to_json()
        assert ("contract.name-clash", "error") in findings(clash, "contract")
    again = foundry.propose(Candidate(code=DIGIT_SUM.replace("of s.", "of the string s."), examples=DIGIT_EXAMPLES))
    assert again.status == "deployed" and again.tool is not None and again.tool.version == 2  # the same name
    assert [t.ref.name for t in foundry.tools()] == ["digitSum"]
    tree = subprocess.run(["git", "--git-dir", str(foundry.settings.repo), "ls-tree", "--name-only", "main", "tools/"],
                          capture_output=True, text=True, check=True).stdout
    assert tree.split() == ["tools/digitSum"]


def test_a_request_waiting_for_review_holds_its_name_against_case_variants(foundry: Foundry) -> None:
    pending = foundry.propose(Candidate(code=DIGIT_SUM))  # no examples: a human must look
    assert pending.status == "pending_review", pending.to_json()
    clash = foundry.propose(Candidate(code=DIGIT_SUM, examples=DIGIT_EXAMPLES, name="digitsum"))
    assert clash.status == "rejected"
    [finding] = [f for s in clash.stages for f in s.findings if f.code == "contract.name-clash"]
    assert f"request {pending.request_id}" in finding.message
