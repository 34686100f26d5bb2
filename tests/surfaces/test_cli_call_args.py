"""``call NAME --args @FILE`` and ``--args -`` (issue 16, item 9): inputs larger than one command-line argument.

The kernel refuses a single argument over 128 KiB (``MAX_ARG_STRLEN``), so a large input cannot be
passed inline; from a file or from stdin it can, within the same JSON bounds and file rules as the rest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, cli_json, run_cli, write

LENGTH = '''"""Length of a text."""


def length(text: str) -> int:
    """How many characters text has."""
    return len(text)
'''

BIG = 300_000
"""Characters of input: more than one command-line argument may hold."""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("args") / "h"
    assert run_cli(path, "init").returncode == 0
    tool = write(path.parent / "length.py", LENGTH)
    examples = write(path.parent / "ex.json", '[{"args": {"text": "abc"}, "expect": 3}]')
    assert run_cli(path, "propose", str(tool), "--examples", str(examples)).returncode == 0
    return path


def call_with_stdin(home: Path, stdin: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLFOUNDRY_")}
    env.update(TOOLFOUNDRY_HOME=str(home), TOOLFOUNDRY_USER="tester")
    return subprocess.run([sys.executable, "-m", "toolfoundry", "call", "length", *args], input=stdin,
                          capture_output=True, env=env, cwd=REPO, timeout=120)


def test_a_large_input_cannot_be_one_argument_but_can_be_a_file(home: Path, tmp_path: Path) -> None:
    args = json.dumps({"text": "x" * BIG})
    with pytest.raises(OSError, match="Argument list too long"):
        run_cli(home, "call", "length", "--args", args)
    path = write(tmp_path / "args.json", args)
    assert cli_json(home, "call", "length", "--args", f"@{path}") == (0, {"ok": True, "result": BIG})


def test_arguments_from_stdin(home: Path) -> None:
    proc = call_with_stdin(home, json.dumps({"text": "y" * BIG}).encode(), "--args", "-", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"ok": True, "result": BIG}
    for bad, needle in ((b"[1]", "--args from stdin must be a JSON object"),
                        (b"{nope", "--args from stdin is not valid JSON"),
                        (b"", "--args from stdin is not valid JSON"),
                        (b'{"text": ' + b"[" * 500 + b"]" * 500 + b"}", "nested deeper than the limit of 100")):
        proc = call_with_stdin(home, bad, "--args", "-")
        assert proc.returncode == 2 and proc.stderr.decode().count("\n") == 1, (bad[:20], proc.stderr)
        assert needle in proc.stderr.decode(), proc.stderr


def test_bad_argument_files_are_one_line_naming_the_file(home: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    write(tmp_path / "list.json", "[1, 2]")
    write(tmp_path / "bad.json", "{nope")
    cases = {"@": "needs a file name", f"@{tmp_path / 'missing.json'}": "not found",
             f"@{tmp_path}": "must be a regular file, but it is a directory",
             f"@{tmp_path / 'fifo'}": "must be a regular file, but it is a FIFO",
             f"@{tmp_path / 'zero'}": "must be a regular file, but it is a device",
             f"@{tmp_path / 'list.json'}": "must be a JSON object of keyword arguments",
             f"@{tmp_path / 'bad.json'}": "is not valid JSON"}
    for value, needle in cases.items():
        proc = run_cli(home, "call", "length", "--args", value, timeout=60)
        assert proc.returncode == 2, (value, proc.stderr)
        assert proc.stderr.startswith("toolfoundry: error:") and proc.stderr.count("\n") == 1, proc.stderr
        assert needle in proc.stderr, (value, proc.stderr)
        if value != "@":
            assert value[1:] in proc.stderr


def test_an_argument_file_past_the_size_bound_is_refused_without_reading_it_all(home: Path, tmp_path: Path) -> None:
    from toolfoundry.jsonlimits import MAX_BYTES
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:  # sparse: a file system hole reads as zeros, costs no disk
        handle.truncate(MAX_BYTES * 4)
    proc = run_cli(home, "call", "length", "--args", f"@{path}")
    assert proc.returncode == 2 and f"the limit is {MAX_BYTES}" in proc.stderr, proc.stderr
