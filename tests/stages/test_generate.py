"""Model-driven requests end to end against a loopback OpenAI-compatible server: spec, candidates,
the refine loop, the token budget, held-out secrecy, reuse of an existing tool, and messy output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolfoundry.api import Foundry
from toolfoundry.core import Example, Finding
from toolfoundry.errors import UsageError
from toolfoundry.stages.generate import format_findings, parse_code, parse_spec
from toolfoundry.testing import FakeOpenAIServer, Reply

from conftest import make_settings

SPEC = json.dumps({"name": "c_to_f", "signature": "(celsius: float) -> float",
                   "description": "Convert Celsius to Fahrenheit.", "permissions": {"net_hosts": [], "env_vars": []}})
WRONG = '"""Temperatures."""\n\n\ndef c_to_f(celsius: float) -> float:\n    """Convert."""\n    return celsius * 2\n'
RIGHT = '"""Temperatures."""\n\n\ndef c_to_f(celsius: float) -> float:\n    """Convert a temperature from Celsius to Fahrenheit."""\n    return celsius * 9 / 5 + 32\n'
TESTS = "from tool import c_to_f\n\n\ndef test_zero():\n    assert c_to_f(0) == 32\n"
EXAMPLES = (Example(args={"celsius": 100}, expect=212), Example(args={"celsius": 0}, expect=32))


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


def settings_for(home: Path, server: FakeOpenAIServer) -> object:
    return make_settings(home, OPENAI_BASE_URL=server.base_url, TOOLFOUNDRY_MODEL="openai:fake-model")


@pytest.fixture
def gen(home: Path, server: FakeOpenAIServer) -> Iterator[Foundry]:
    with Foundry(settings_for(home, server)) as f:  # type: ignore[arg-type]
        yield f


def reply_with(code: str, tests: str = TESTS) -> Reply:
    return Reply.text(f"Sure, here it is.\n\n```python\n{code}```\n\nTests:\n```python\n{tests}```\n")


def test_a_failing_first_candidate_is_refined_with_its_findings_and_deployed(
        gen: Foundry, server: FakeOpenAIServer) -> None:
    server.add(Reply.text(f"Here is my plan:\n{SPEC}\nDone."), reply_with(WRONG), reply_with(RIGHT))
    outcome = gen.request("convert Celsius to Fahrenheit", examples=EXAMPLES)
    assert outcome.status == "deployed", outcome.to_json()
    assert gen.call("c_to_f", {"celsius": 37.5}).result == 99.5
    refine = server.requests[2]["messages"][-1]["content"]
    assert "oracle.mismatch" in refine and '"celsius": 100' in refine and "212" in refine and "200" in refine
    assert server.requests[2]["messages"][-2]["role"] == "assistant"  # the previous attempt is in context
    model_calls = [e for e in gen.events(outcome.request_id) if e.kind == "model.call"]
    assert [e.data["purpose"] for e in model_calls] == ["spec", "generate", "generate"]
    assert all(e.data["usage"]["prompt_tokens"] > 0 and len(str(e.data["prompt_sha256"])) == 64  # type: ignore[index]
               for e in model_calls)
    attempts = [s.details.get("attempt") for s in outcome.stages if s.stage == "generate"]
    assert attempts == [1, 2]
    done = next(e for e in gen.events(outcome.request_id) if e.kind == "generation.done")
    calls = sum(int(e.data["usage"]["prompt_tokens"]) for e in model_calls)  # type: ignore[index]
    assert done.data["attempts"] == 2 and done.data["usage"]["prompt_tokens"] == calls  # type: ignore[index]


def test_the_cost_of_a_request_is_recorded_when_prices_are_configured(home: Path, server: FakeOpenAIServer) -> None:
    (home / "toolfoundry.toml").write_text("[generation]\nprice_per_mtok_in = 2.0\nprice_per_mtok_out = 8.0\n")
    server.add(Reply.text(SPEC, usage=(1000, 100)), *[reply_with(WRONG) for _ in range(3)])
    with Foundry(settings_for(home, server)) as f:  # type: ignore[arg-type]
        outcome = f.request("convert Celsius to Fahrenheit", examples=EXAMPLES)
        closed = next(e for e in f.events(outcome.request_id) if e.kind == "request.closed")
    assert outcome.status == "rejected"
    usage = closed.data["usage"]
    assert usage["prompt_tokens"] >= 1000 and usage["cost_usd"] > 0.0028  # type: ignore[index,operator]


def test_held_out_examples_never_reach_the_model(gen: Foundry, server: FakeOpenAIServer) -> None:
    secret = Example(args={"celsius": 123.456}, expect=254.2208)
    server.add(Reply.text(SPEC), reply_with(RIGHT.replace("+ 32", "+ 32.001")),
               reply_with(RIGHT.replace("+ 32", "+ 32.001")), reply_with(RIGHT.replace("+ 32", "+ 32.001")))
    outcome = gen.request("convert Celsius to Fahrenheit", holdout=(secret,))
    assert outcome.status == "rejected"
    sent = json.dumps(server.requests)
    assert "123.456" not in sent and "254.2208" not in sent
    assert "held-out" in sent  # the model is told held-out examples failed, without their contents


def test_a_model_that_keeps_failing_stops_at_max_attempts(gen: Foundry, server: FakeOpenAIServer) -> None:
    server.add(Reply.text(SPEC), *[reply_with(WRONG) for _ in range(5)])
    outcome = gen.request("convert Celsius to Fahrenheit", examples=EXAMPLES)
    assert outcome.status == "rejected" and "after 3 attempt" in outcome.reason
    assert len(server.requests) == 4 and gen.tools() == []


def test_the_token_budget_stops_the_refine_loop(home: Path, server: FakeOpenAIServer) -> None:
    (home / "toolfoundry.toml").write_text("[generation]\ntoken_budget = 1500\nmax_attempts = 5\n")
    server.add(Reply.text(SPEC, usage=(400, 100)),
               *[Reply.text(f"```python\n{WRONG}```", usage=(700, 300)) for _ in range(5)])
    with Foundry(settings_for(home, server)) as f:  # type: ignore[arg-type]
        outcome = f.request("convert Celsius to Fahrenheit", examples=EXAMPLES)
    assert outcome.status == "rejected" and "token budget of 1500 spent" in outcome.reason
    assert len(server.requests) == 2  # spec (500) + one candidate (1000) = 1500: no third call


def test_unusable_output_is_a_finding_not_a_crash(gen: Foundry, server: FakeOpenAIServer) -> None:
    server.add(Reply.text(SPEC), Reply.text("I cannot write code today."), reply_with(RIGHT))
    outcome = gen.request("convert Celsius to Fahrenheit", examples=EXAMPLES)
    assert outcome.status == "deployed"
    first = next(s for s in outcome.stages if s.stage == "generate")
    assert not first.ok and first.findings[0].code == "generate.no-code"
    assert "generate.no-code" in server.requests[2]["messages"][-1]["content"]


def test_an_unusable_spec_rejects_the_request(gen: Foundry, server: FakeOpenAIServer) -> None:
    server.add(Reply.text('{"name": "Bad Name!", "signature": "x"}'))
    outcome = gen.request("something", examples=EXAMPLES)
    assert outcome.status == "rejected" and outcome.stages[0].findings[0].code == "generate.bad-spec"


def test_a_deployed_tool_that_fits_is_returned_instead_of_a_duplicate(
        gen: Foundry, server: FakeOpenAIServer) -> None:
    server.add(Reply.text(SPEC), reply_with(RIGHT))
    first = gen.request("convert a temperature from Celsius to Fahrenheit", examples=EXAMPLES)
    assert first.status == "deployed"
    again = gen.request("convert temperature from celsius to fahrenheit")
    assert again.status == "deployed" and again.tool == first.tool and "already fits" in again.reason
    assert len(server.requests) == 2  # no model call for the second request
    assessed = next(e for e in gen.events(again.request_id) if e.kind == "assess")
    assert assessed.data["existing"]["name"] == "c_to_f"  # type: ignore[index]


def test_a_model_error_after_retries_fails_the_request_cleanly(home: Path, server: FakeOpenAIServer) -> None:
    server.add(*[Reply.error(400, message="bad request") for _ in range(3)])
    with Foundry(settings_for(home, server)) as f:  # type: ignore[arg-type]
        outcome = f.request("anything at all", examples=EXAMPLES)
        assert outcome.status == "failed" and "HTTP 400" in outcome.reason
        assert f.verify().ok


def test_request_needs_a_model_and_a_description(home: Path) -> None:
    with Foundry(make_settings(home)) as f:
        with pytest.raises(UsageError, match="no model configured"):
            f.request("anything")
        with pytest.raises(UsageError, match="unknown provider"):
            f.request("anything", model="nope:x")
        with pytest.raises(UsageError, match="describe the capability"):
            f.request("   ", model="scripted:x")


def test_parse_code_handles_prose_several_blocks_and_no_fences() -> None:
    tool, tests, findings = parse_code(f"Intro.\n```py\n{TESTS}```\nthen\n```python\n{RIGHT}```\nbye")
    assert tool == RIGHT and tests == TESTS and findings == []
    assert parse_code(RIGHT)[0] == RIGHT
    assert parse_code(f"```python\n{RIGHT}")[0] == RIGHT  # unterminated fence
    two = parse_code(f"```python\n{RIGHT}```\n```python\n{WRONG}```")
    assert two[0] == RIGHT and two[2][0].code == "generate.several-modules"


def test_parse_spec_finds_json_inside_prose_and_explains_problems() -> None:
    spec, findings = parse_spec(f"Thinking... {{not json}} ok: ```json\n{SPEC}\n```")
    assert spec is not None and spec.name == "c_to_f" and findings == []
    spec, findings = parse_spec('{"name": "x", "signature": "(a: int) -> int", "description": "", "permissions": 3}')
    assert spec is None and "description" in findings[0].message and "permissions" in findings[0].message
    assert parse_spec("no json")[1][0].code == "generate.no-spec"


def test_findings_are_formatted_for_a_model() -> None:
    text = format_findings([Finding(code="w", message="x", severity="warning"), Finding(
        code="oracle.mismatch", message="m", file="tool.py", line=3, input={"a": 1}, expected=2, actual=3),
        Finding(code="tests.none", message="no tests", severity="info")])
    assert text == ('- [oracle.mismatch] tool.py:3: m\n  input: {"a": 1}\n  expected: 2\n  actual: 3\n'
                    '- (advisory: does not block) [w]: x')


def test_blocking_findings_come_first_when_the_list_is_cut() -> None:
    many = [Finding(code=f"mypy.w{i}", message="x", severity="warning") for i in range(30)]
    text = format_findings([*many, Finding(code="oracle.mismatch", message="m")], limit=3)
    assert text.splitlines()[0] == "- [oracle.mismatch]: m" and len(text.splitlines()) == 3
