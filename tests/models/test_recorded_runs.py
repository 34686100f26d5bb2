"""The whole pipeline on recorded runs of a real local model: `toolfoundry request` replayed from
``tests/fixtures/transcripts/runs/`` with ``--model scripted:DIR``, as a user would run it.

Each directory there is a real run of Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, llama-cpp-python's server,
one thread) through ``toolfoundry request`` with ``--record``, kept as it was written, and its
``request.json`` (the need, the visible and the held-out examples the run was given). Replaying one
takes the same path through contract, checks, the sandboxed tests, the oracle and policy as the run,
with the model's real, messy replies, and no model at all: deterministic, offline, in CI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import cli_json, run_cli, write

RUNS = Path(__file__).resolve().parent.parent / "fixtures" / "transcripts" / "runs"


def replay(tmp_path: Path, name: str) -> tuple[int, dict[str, object], Path]:
    """`toolfoundry request` of the recorded run ``name``, in a fresh home, replayed: (exit, outcome, home)."""
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    asked = json.loads((RUNS / name / "request.json").read_text())
    visible = write(tmp_path / "v.json", json.dumps(asked["examples"]))
    hidden = write(tmp_path / "h.json", json.dumps(asked["holdout"]))
    code, outcome = cli_json(home, "request", asked["need"], "--examples", str(visible), "--holdout", str(hidden),
                             "--model", f"scripted:{RUNS / name}", timeout=300)
    assert isinstance(outcome, dict), outcome
    return code, outcome, home


def stage_names(outcome: dict[str, object]) -> list[tuple[str, bool]]:
    stages = outcome["stages"]
    assert isinstance(stages, list)
    return [(s["stage"], s["ok"]) for s in stages]


def test_a_recorded_local_run_that_wrote_a_right_tool_at_once_deploys_it_again(tmp_path: Path) -> None:
    # one block holding tool.py and test_tool.py, split at '# test_tool.py'; a docstring-less module (advisory)
    code, outcome, home = replay(tmp_path, "is_prime")
    assert code == 0 and outcome["status"] == "deployed", outcome
    assert stage_names(outcome) == [("generate", True), ("contract", True), ("checks", True), ("tests", True),
                                    ("oracle", True)]
    tool = outcome["tool"]
    assert isinstance(tool, dict) and tool["name"] == "is_prime"
    called, result = cli_json(home, "call", "is_prime", "--args", '{"n": 9973}')
    assert called == 0 and isinstance(result, dict) and result["result"] is True


def test_a_recorded_agent_run_of_the_local_model_calls_the_tool_in_the_text_protocol(tmp_path: Path) -> None:
    # `toolfoundry run` after the is_prime request above: the local model has no native tool calling, so
    # the tools are described in text and it calls is_prime with a fenced JSON block; the replay does the same
    code, _, home = replay(tmp_path, "is_prime")
    assert code == 0
    task = json.loads((RUNS / "is_prime_agent" / "run.json").read_text())["task"]
    proc = run_cli(home, "run", task, "--model", f"scripted:{RUNS / 'is_prime_agent'}", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'calls is_prime({"n": 9973})' in proc.stdout and '"result": true' in proc.stdout
    assert "agent answers: The number 9973 is a prime number." in proc.stdout
    log = run_cli(home, "audit", "log", "--json").stdout.splitlines()
    agent = next(e for e in map(json.loads, log) if e["kind"] == "agent.run")["data"]
    system, _, _, result = agent["transcript"][:4]
    assert "- is_prime:" in system["content"] and "ONE fenced JSON block" in system["content"]
    assert result == {"role": "user", "content": 'toolfoundry: result of is_prime: {"ok": true, "result": true}'}


def test_a_recorded_local_run_that_never_got_a_tool_through_is_rejected_within_its_attempts(
        tmp_path: Path) -> None:
    # the model's tool was right each time, but its own test expected a TypeError that never comes; the
    # refines were the same reply again; three attempts, then a clear rejection with the tokens spent
    code, outcome, home = replay(tmp_path, "reverse_words")
    assert code == 1 and outcome["status"] == "rejected", outcome
    assert outcome["reason"] == "no candidate passed after 3 attempt(s) (2575 tokens)"
    assert stage_names(outcome) == [("generate", True), ("contract", True), ("checks", True), ("tests", False),
                                    ("oracle", True)] * 3
    stages = outcome["stages"]
    assert isinstance(stages, list)
    failed = [f for s in stages if s["stage"] == "tests" for f in s["findings"]]
    assert {f["code"] for f in failed} == {"tests.failed"} and "AttributeError" in failed[0]["message"]
    listed, tools = cli_json(home, "tools")
    assert listed == 0 and tools == []


@pytest.mark.parametrize("name", sorted(p.name for p in RUNS.iterdir() if p.is_dir()))
def test_every_recorded_run_is_a_real_local_model_exchange_with_its_request(name: str) -> None:
    exchanges = sorted((RUNS / name).glob("[0-9][0-9][0-9][0-9].json"))
    assert exchanges and ((RUNS / name / "request.json").is_file() or (RUNS / name / "run.json").is_file())
    for path in exchanges:
        exchange = json.loads(path.read_text())
        assert exchange["format"] == "toolfoundry.exchange/1" and str(exchange["model"]).startswith("local:")
        assert exchange["usage"]["completion_tokens"] > 0 and exchange["reply"]["content"]
