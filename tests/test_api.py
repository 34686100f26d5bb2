"""The Python API as an agent developer uses it: open by path, call with keywords, extend, on_change."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from toolfoundry import Foundry
from toolfoundry.core import Candidate, Example
from toolfoundry.errors import UsageError
from toolfoundry.store.changes import ToolChange

from conftest import ADD, ADD_EXAMPLES, make_settings, run_cli, write

DOUBLE = '"""Doubling."""\n\n\ndef double(x: int) -> int:\n    """Twice x."""\n    return 2 * x\n'

VOWELS_SPEC = json.dumps({"name": "vowels", "signature": "(text: str) -> int",
                          "description": "Count the vowels (a, e, i, o, u) in a text.",
                          "permissions": {"net_hosts": [], "env_vars": []}})
VOWELS_CODE = ('Here it is:\n\n```python\n"""Vowel counting."""\n\n\ndef vowels(text: str) -> int:\n'
               '    """Count the vowels (a, e, i, o, u) in a text."""\n'
               '    return sum(c in "aeiou" for c in text.lower())\n```\n\nand its tests:\n\n```python\n'
               'from tool import vowels\n\n\ndef test_banana():\n    assert vowels("banana") == 3\n```\n')


def scripted(tmp_path: Path) -> str:
    """A scripted model that drafts the vowels spec, then writes the module and its tests."""
    path = write(tmp_path / "model.json", json.dumps([{"content": VOWELS_SPEC}, {"content": VOWELS_CODE}]))
    return f"scripted:{path}"


def test_open_by_path_call_with_keywords_or_a_mapping(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Foundry(home, user="dev") as foundry:
        assert foundry.settings.user == "dev" and foundry.settings.home == home.absolute()
        assert foundry.propose(Candidate(code=ADD, examples=(Example(args={"a": 1}, expect=2),))).status == "deployed"
        assert foundry.call("add", a=2, b=3).result == 5
        assert foundry.call("add", {"a": 2}).result == 3
        with pytest.raises(UsageError, match="either as a mapping or as keywords"):
            foundry.call("add", {"a": 1}, b=2)
        with pytest.raises(UsageError, match=r"\$\.a: expected integer"):
            foundry.call("add", a="x")
        assert [t.ref.name for t in foundry.tools()] == ["add"]
        assert [m.name for m in foundry.search("sum of two numbers")] == ["add"]
    monkeypatch.setenv("TOOLFOUNDRY_HOME", str(home))
    with Foundry() as foundry:
        assert foundry.settings.home == home.absolute() and foundry.call("add", a=1).result == 2
    with pytest.raises(UsageError, match="not a toolfoundry home"):
        Foundry(home.parent / "elsewhere")


def test_extend_with_code_reports_the_change_before_it_returns(home: Path) -> None:
    seen: list[ToolChange] = []
    with Foundry(home) as foundry:
        stop = foundry.on_change(seen.append)
        outcome = foundry.extend(Candidate(code=DOUBLE, examples=(Example(args={"x": 2}, expect=4),)))
        assert outcome.status == "deployed" and outcome.tool is not None and outcome.tool.name == "double"
        assert seen == [ToolChange(added=("double",), versions=(("double", 1),))]  # before extend returned
        assert foundry.call("double", x=21).result == 42
        rejected = foundry.extend(Candidate(code=DOUBLE.replace("2 * x", "x + 2").replace("double", "twice"),
                                            examples=(Example(args={"x": 5}, expect=10),)))
        assert rejected.status == "rejected" and len(seen) == 1
        stop()
        with pytest.raises(UsageError, match="inside the Candidate"):
            foundry.extend(Candidate(code=DOUBLE), examples=(Example(args={"x": 1}, expect=2),))


def test_extend_with_a_description_has_a_model_write_the_tool(home: Path, tmp_path: Path) -> None:
    seen: list[ToolChange] = []
    with Foundry(make_settings(home, TOOLFOUNDRY_MODEL=scripted(tmp_path))) as foundry:
        foundry.on_change(seen.append)
        outcome = foundry.extend("count the vowels in a text", examples=(Example(args={"text": "Aeiou"}, expect=5),))
        assert outcome.status == "deployed", outcome.reason
        assert seen and seen[0].added == ("vowels",)
        assert foundry.call("vowels", text="banana").result == 3


def test_on_change_sees_deploys_updates_and_rollbacks_by_other_processes(home: Path, tmp_path: Path) -> None:
    seen: list[ToolChange] = []
    arrived = threading.Event()

    def record(change: ToolChange) -> None:
        seen.append(change)
        arrived.set()

    def wait() -> ToolChange:
        assert arrived.wait(15), "no change reported"
        arrived.clear()
        return seen[-1]

    examples = str(write(tmp_path / "add.json", ADD_EXAMPLES))
    with Foundry(home) as foundry:
        stop = foundry.on_change(record)
        assert run_cli(home, "propose", str(write(tmp_path / "v1" / "add.py", ADD)), "--examples", examples).returncode == 0
        assert wait() == ToolChange(added=("add",), versions=(("add", 1),))
        v2 = ADD.replace('"""Sum of a and b."""', '"""The sum of a and b."""')
        assert run_cli(home, "propose", str(write(tmp_path / "v2" / "add.py", v2)), "--examples", examples).returncode == 0
        assert wait() == ToolChange(updated=("add",), versions=(("add", 2),))
        assert run_cli(home, "rollback", "add").returncode == 0
        assert wait() == ToolChange(updated=("add",), versions=(("add", 1),))
        stop()
        assert run_cli(home, "propose", str(write(tmp_path / "double.py", DOUBLE)), "--examples",
                       str(write(tmp_path / "d.json", json.dumps([{"args": {"x": 1}, "expect": 2}])))).returncode == 0
        time.sleep(1.0)  # four watcher intervals
        assert len(seen) == 3 and not arrived.is_set()


def test_a_broken_callback_does_not_stop_the_others(home: Path) -> None:
    seen: list[str] = []

    def broken(change: ToolChange) -> None:
        raise RuntimeError("boom")

    with Foundry(home) as foundry:
        foundry.on_change(broken)
        foundry.on_change(lambda change: seen.extend(change.added))
        assert foundry.extend(Candidate(code=DOUBLE, examples=(Example(args={"x": 2}, expect=4),))).status == "deployed"
        assert seen == ["double"]


def test_hold_home_false_gives_dbos_back_between_requests(home: Path) -> None:
    def live(foundry: Foundry) -> int:
        return len(foundry.executors())

    with Foundry(home, hold_home=False) as foundry:
        assert foundry.extend(Candidate(code=DOUBLE, examples=(Example(args={"x": 2}, expect=4),))).status == "deployed"
        deadline = time.monotonic() + 15
        while live(foundry) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert live(foundry) == 0, "this process stayed an executor after its request finished"
        # the next request launches it again, and works
        assert foundry.extend(Candidate(code=ADD, examples=(Example(args={"a": 1}, expect=2),))).status == "deployed"
    with Foundry(home) as holding:
        assert holding.extend(Candidate(code=DOUBLE.replace("double", "dbl"),
                                        examples=(Example(args={"x": 2}, expect=4),))).status == "deployed"
        time.sleep(1.5)
        [(me, running)] = holding.executors()  # the default stays an executor until close
        assert me.pid == os.getpid() and me.role == "api" and running == []
    assert not Foundry(home).executors()
