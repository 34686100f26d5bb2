"""``toolfoundry propose PATH [PATH ...] [--jobs N]`` as a user runs it: one JSON line per tool in the order
given, the exit code of the worst outcome, a bad PATH refused before anything is proposed, and a progress
bar (with one line per tool at the end) when not --json."""

from __future__ import annotations

import json
from pathlib import Path

from toolfoundry.api import Foundry

from conftest import ADD, ADD_EXAMPLES, EXAMPLES, make_settings, run_cli, write

WRONG = ADD.replace('"""Add numbers."""', '"""Add numbers, wrongly."""').replace("def add(", "def add_wrong(") \
    .replace("return a + b", "return a - b")
SQUARE = '"""Squares."""\n\n\ndef square(x: int) -> int:\n    """x times x."""\n    return x * x\n'


def tool_dir(root: Path, name: str, code: str, examples: str | None) -> Path:
    write(root / name / "tool.py", code)
    if examples is not None:
        write(root / name / "examples.json", examples)
    return root / name


def initialised(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    return home


def lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_many_paths_print_one_json_line_each_in_order_and_exit_with_the_worst(tmp_path: Path) -> None:
    home = initialised(tmp_path)
    ok = tool_dir(tmp_path, "ok", ADD, ADD_EXAMPLES)
    bad = tool_dir(tmp_path, "bad", WRONG, json.dumps([{"args": {"a": 1, "b": 2}, "expect": 3}]))
    waiting = tool_dir(tmp_path, "waiting", SQUARE, None)  # no example: a human must look
    proc = run_cli(home, "propose", str(waiting), str(ok), str(bad), "--jobs", "2", "--json", timeout=300)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)  # one rejected
    found = lines(proc.stdout)
    assert [o["status"] for o in found] == ["pending_review", "deployed", "rejected"]
    assert [o["tool"]["name"] if o["tool"] else None for o in found] == ["square", "add", None]  # type: ignore[index]
    assert all(set(o) == {"request_id", "status", "tool", "stages", "reason"} for o in found)
    assert len({o["request_id"] for o in found}) == 3
    assert proc.stderr == ""

    more = tool_dir(tmp_path, "more", SQUARE.replace("square", "cube").replace("x * x", "x * x * x")
                    .replace("x times x", "x times x times x"), json.dumps([{"args": {"x": 2}, "expect": 8}]))
    other = tool_dir(tmp_path, "other", SQUARE.replace("square", "twice").replace("x * x", "2 * x")
                     .replace("x times x", "two times x"), None)
    proc = run_cli(home, "propose", str(more), str(other), "--json", timeout=300)
    assert proc.returncode == 3 and [o["status"] for o in lines(proc.stdout)] == ["deployed", "pending_review"]


def test_all_deployed_exits_0_and_one_path_still_prints_the_indented_object(tmp_path: Path) -> None:
    home = initialised(tmp_path)
    first = tool_dir(tmp_path, "first", ADD, ADD_EXAMPLES)
    second = tool_dir(tmp_path, "second", SQUARE, json.dumps([{"args": {"x": 3}, "expect": 9}]))
    proc = run_cli(home, "propose", str(first), str(second), "--json", "-j", "1", timeout=300)
    assert proc.returncode == 0 and [o["status"] for o in lines(proc.stdout)] == ["deployed", "deployed"]
    single = run_cli(home, "propose", str(EXAMPLES / "slugify"), "--json")
    assert single.returncode == 0
    assert single.stdout == json.dumps(json.loads(single.stdout), indent=2, ensure_ascii=False) + "\n"


def test_a_bad_path_among_many_is_exit_2_before_anything_is_proposed(tmp_path: Path) -> None:
    home = initialised(tmp_path)
    ok = tool_dir(tmp_path, "ok", ADD, ADD_EXAMPLES)
    for bad in (tmp_path / "missing", write(tmp_path / "notes.txt", "hello")):
        proc = run_cli(home, "propose", str(ok), str(bad), "--json")
        assert proc.returncode == 2 and proc.stdout == "", proc.stdout
        assert str(bad) in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    with Foundry(make_settings(home)) as foundry:
        assert foundry.requests() == [] and foundry.tools() == []


def test_flags_that_describe_one_tool_are_refused_with_several_paths(tmp_path: Path) -> None:
    home = initialised(tmp_path)
    a, b = tool_dir(tmp_path, "a", ADD, ADD_EXAMPLES), tool_dir(tmp_path, "b", SQUARE, None)
    for flag in (["--examples", str(a / "examples.json")], ["--allow-net", "example.org"]):
        proc = run_cli(home, "propose", str(a), str(b), *flag)
        assert proc.returncode == 2 and "describe one tool" in proc.stderr and proc.stderr.count("\n") == 1
    proc = run_cli(home, "propose", str(a), str(b), "--jobs", "0")
    assert proc.returncode == 2 and "--jobs" in proc.stderr


def test_two_paths_for_one_tool_name_are_refused_before_anything_is_proposed(tmp_path: Path) -> None:
    home = initialised(tmp_path)
    a = tool_dir(tmp_path, "a", ADD, ADD_EXAMPLES)
    b = tool_dir(tmp_path, "b", ADD.replace("Sum of a and b.", "The sum of a and b."), ADD_EXAMPLES)
    write(b / "tool.toml", 'name = "Add"\n')
    proc = run_cli(home, "propose", str(a), str(b), "--json")
    assert proc.returncode == 2 and "candidates 1 and 2 both propose the tools 'add' and 'Add'" in proc.stderr
    with Foundry(make_settings(home)) as foundry:
        assert foundry.requests() == []


def test_without_json_a_progress_bar_runs_and_each_tool_gets_a_line(tmp_path: Path) -> None:
    home = initialised(tmp_path)
    ok = tool_dir(tmp_path, "ok", ADD, ADD_EXAMPLES)
    bad = tool_dir(tmp_path, "bad", WRONG, json.dumps([{"args": {"a": 1, "b": 2}, "expect": 3}]))
    proc = run_cli(home, "propose", str(ok), str(bad), timeout=300)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "2/2" in proc.stderr  # the bar's done/total, at the end
    rows = proc.stdout.splitlines()
    assert rows[0].startswith("deployed") and str(ok) in rows[0] and "add v1" in rows[0]
    assert rows[1].startswith("rejected") and str(bad) in rows[1] and "[oracle.mismatch]" in rows[1]
    assert rows[2] == "2 tools: 1 deployed, 1 rejected"
