"""Reading what a user proposes: files, directories, manifests, flags. Bad input is a UsageError naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolfoundry.errors import UsageError
from toolfoundry.toolfile import load_candidate

from conftest import ADD, ADD_EXAMPLES, EXAMPLES, write


def test_a_directory_is_read_like_the_tool_repository_layout() -> None:
    c = load_candidate(EXAMPLES / "slugify")
    assert c.name == "slugify" and "def slugify" in c.code and c.tests and len(c.examples) == 4
    assert c.examples[3].raises == "ValueError" and c.holdout == ()


def test_a_file_with_flags(tmp_path: Path) -> None:
    tool = write(tmp_path / "add.py", ADD)
    ex = write(tmp_path / "ex.json", ADD_EXAMPLES)
    c = load_candidate(tool, examples=ex, holdout=ex, allow_net=["api.example.org:443", "api.example.org:443"])
    assert c.name is None and len(c.examples) == 2 and len(c.holdout) == 2
    assert c.permissions.net_hosts == ("api.example.org:443",)


def test_manifest_permissions_are_read_and_unknown_keys_refused(tmp_path: Path) -> None:
    write(tmp_path / "t" / "tool.py", ADD)
    write(tmp_path / "t" / "tool.toml", 'name = "adder"\n[permissions]\nnet_hosts = ["a.example"]\nenv_vars = ["KEY"]\n')
    c = load_candidate(tmp_path / "t")
    assert c.name == "adder" and c.permissions.net_hosts == ("a.example",) and c.permissions.env_vars == ("KEY",)
    write(tmp_path / "t" / "tool.toml", 'name = "adder"\nexecute = true\n')
    with pytest.raises(UsageError, match="unknown key"):
        load_candidate(tmp_path / "t")
    write(tmp_path / "t" / "tool.toml", 'name = "adder\n')
    with pytest.raises(UsageError, match="not valid TOML"):
        load_candidate(tmp_path / "t")
    write(tmp_path / "t" / "tool.toml", '[permissions]\nenv_vars = ["lower-case"]\n')
    with pytest.raises(UsageError, match="not an environment variable"):
        load_candidate(tmp_path / "t")


def test_unreadable_inputs_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "bin.py").write_bytes(b"\xff\xfe")
    with pytest.raises(UsageError, match="not UTF-8"):
        load_candidate(tmp_path / "bin.py")
    with pytest.raises(UsageError, match="tool module not found"):
        load_candidate(tmp_path)  # a directory without tool.py
    write(tmp_path / "notes.txt", "x")
    with pytest.raises(UsageError, match="expected a .py file"):
        load_candidate(tmp_path / "notes.txt")
    write(tmp_path / "big.py", "#" * 300_000)
    with pytest.raises(UsageError, match="the limit is"):
        load_candidate(tmp_path / "big.py")
