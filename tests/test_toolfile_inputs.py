"""Special files among what ``propose`` reads (issue 16, item 4): refused at once, never read until memory runs out.

A ``tool.py`` that was a symlink to ``/dev/zero`` used to be read until the OOM killer came (23 GB), and
a FIFO hung forever. Every file ``propose`` (and ``request``) reads is opened without blocking, checked to
be a regular file, and read to at most its size limit plus one byte.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from toolfoundry.errors import UsageError
from toolfoundry.toolfile import MAX_SOURCE_BYTES, load_candidate

from conftest import ADD, ADD_EXAMPLES, cli_json, run_cli, write

TESTS = "from tool import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"


def fifo(path: Path) -> None:
    os.mkfifo(path)


def zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


SPECIAL: dict[str, tuple[Callable[[Path], None], str]] = {
    "fifo": (fifo, "a FIFO"), "dev-zero": (zero, "a device"), "directory": (Path.mkdir, "a directory")}


def tool_dir(root: Path) -> Path:
    d = root / "add"
    write(d / "tool.py", ADD)
    write(d / "tool.toml", 'name = "add"\n')
    write(d / "test_tool.py", TESTS)
    write(d / "examples.json", ADD_EXAMPLES)
    return d


def _in_dir(name: str) -> Callable[[Path], tuple[Path, dict[str, Path]]]:
    def make(root: Path) -> tuple[Path, dict[str, Path]]:
        d = tool_dir(root)
        (d / name).unlink()
        return d / name, {"path": d}
    return make


def _flag(flag: str) -> Callable[[Path], tuple[Path, dict[str, Path]]]:
    def make(root: Path) -> tuple[Path, dict[str, Path]]:
        return root / f"{flag}.input", {"path": write(root / "add.py", ADD), flag: root / f"{flag}.input"}
    return make


def _module(root: Path) -> tuple[Path, dict[str, Path]]:
    return root / "tool_module.py", {"path": root / "tool_module.py"}


FILES: dict[str, Callable[[Path], tuple[Path, dict[str, Path]]]] = {
    "a .py module": _module, "tools/<name>/tool.py": _in_dir("tool.py"),
    "tools/<name>/tool.toml": _in_dir("tool.toml"), "tools/<name>/test_tool.py": _in_dir("test_tool.py"),
    "tools/<name>/examples.json": _in_dir("examples.json"), "--tests": _flag("tests"),
    "--examples": _flag("examples"), "--holdout": _flag("holdout")}
"""Every file propose reads, and how to put a special file in its place: (the special file, load_candidate's args)."""


CASES = [(which, special) for which in FILES for special in SPECIAL
         if (which, special) != ("a .py module", "directory")]  # a directory is read as a tool directory


@pytest.mark.parametrize(("which", "special"), CASES, ids=[f"{w}-{s}" for w, s in CASES])
def test_every_file_propose_reads_refuses_a_special_file(tmp_path: Path, which: str, special: str) -> None:
    target, kwargs = FILES[which](tmp_path)
    make, kind = SPECIAL[special]
    make(target)
    path = kwargs.pop("path")
    with pytest.raises(UsageError) as refused:
        load_candidate(path, **kwargs)  # type: ignore[arg-type]
    assert str(refused.value).startswith(f"{target}: ") and f"must be a regular file, but it is {kind}" \
        in str(refused.value)


def test_a_regular_file_is_read_to_its_limit_plus_one_byte_and_no_further(tmp_path: Path) -> None:
    big = tmp_path / "big.py"
    with big.open("wb") as handle:
        handle.truncate(64 * MAX_SOURCE_BYTES)  # sparse
    with pytest.raises(UsageError, match=f"the limit is {MAX_SOURCE_BYTES}"):
        load_candidate(big)
    write(tmp_path / "exact.py", ADD + "#" * (MAX_SOURCE_BYTES - len(ADD.encode())))
    assert load_candidate(tmp_path / "exact.py").code.startswith('"""Add numbers."""')


def test_propose_and_request_from_the_shell_refuse_a_fifo_and_dev_zero_at_once(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert run_cli(home, "init").returncode == 0
    os.mkfifo(tmp_path / "fifo.py")
    (tmp_path / "zero.py").symlink_to("/dev/zero")
    write(tmp_path / "add.py", ADD)
    os.mkfifo(tmp_path / "examples.fifo")
    for argv in (["propose", str(tmp_path / "fifo.py")], ["propose", str(tmp_path / "zero.py")],
                 ["propose", str(tmp_path / "add.py"), "--examples", str(tmp_path / "examples.fifo")],
                 ["propose", str(tmp_path / "add.py"), "--holdout", str(tmp_path / "zero.py")],
                 ["request", "add numbers", "--examples", str(tmp_path / "examples.fifo")],
                 ["request", "add numbers", "--holdout", str(tmp_path / "zero.py")]):
        proc = run_cli(home, *argv, timeout=60)  # a hang would time out; a read of /dev/zero would not end
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, (argv, proc.stderr)
        assert "must be a regular file" in proc.stderr, (argv, proc.stderr)
    assert cli_json(home, "review", "list") == (0, [])


def test_a_principal_key_that_is_a_fifo_or_dev_zero_is_refused_at_once(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert run_cli(home, "init").returncode == 0
    os.mkfifo(tmp_path / "key.fifo")
    (tmp_path / "zero.pub").symlink_to("/dev/zero")
    for key, kind in ((tmp_path / "key.fifo", "a FIFO"), (tmp_path / "zero.pub", "a device")):
        proc = run_cli(home, "principals", "add", "alice", "--role", "admin", "--key", str(key), timeout=60)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr  # before: it hung
        assert f"{key}: key file must be a regular file, but it is {kind}" in proc.stderr, proc.stderr
    assert cli_json(home, "principals", "list") == (0, [])
