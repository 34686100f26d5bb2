"""Usage errors of every command (issue 16, item 2): one line on stderr and exit 2, never a traceback.

The sweep walks the command tree typer builds, so a command added later is covered without editing
this file: for each one, an unknown option, each required argument left out, each option given
without its value, and each number option given a word.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from toolfoundry.surfaces.cli import app, main

from conftest import run_cli, write

NUMBER_TYPES = ("int", "float")


def _leaves(command: typer.main.TyperGroup | typer.main.TyperCommand, path: tuple[str, ...] = ()
            ) -> Iterator[tuple[tuple[str, ...], typer.main.TyperCommand]]:
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield path, command  # type: ignore[misc]
        return
    for name, sub in subcommands.items():
        yield from _leaves(sub, (*path, name))


COMMANDS = list(_leaves(typer.main.get_command(app)))  # type: ignore[arg-type]


def _type(param: object) -> str:
    """The Python type name of a parameter (typer's own parameters know it; click's know a type object)."""
    bare = getattr(param, "bare_type", None)
    return str(bare()) if callable(bare) else str(getattr(getattr(param, "type", None), "name", "")).lower()


def _placeholder(param: object) -> str:
    """A well-formed value for a required argument, so only the error under test is left."""
    return "1" if _type(param) in NUMBER_TYPES else "x"


def _cases() -> Iterator[tuple[str, list[str]]]:
    for path, command in COMMANDS:
        arguments = [p for p in command.params if p.param_type_name == "argument"]
        required = [_placeholder(p) for p in arguments if p.required]
        yield f"{' '.join(path)} --no-such-option", [*path, *required, "--no-such-option"]
        for index, param in enumerate(arguments):
            if param.required:
                yield f"{' '.join(path)} without {param.name}", [*path, *required[:index]]
        for param in command.params:
            if param.param_type_name != "option" or getattr(param, "is_flag", False):
                continue
            flag = next(o for o in param.opts if o.startswith("--"))
            yield f"{' '.join(path)} {flag} without a value", [*path, *required, flag]
            if _type(param) in NUMBER_TYPES:
                yield f"{' '.join(path)} {flag} two", [*path, *required, flag, "two"]
    yield "no command", []
    yield "an unknown command", ["no-such-command"]
    for path, _ in COMMANDS:
        if len(path) > 1:
            yield f"{path[0]} without its subcommand", [path[0]]
            yield f"{path[0]} with an unknown subcommand", [path[0], "no-such-subcommand"]


CASES = dict(_cases())


@pytest.mark.parametrize("argv", list(CASES.values()), ids=list(CASES))
def test_every_usage_error_is_one_line_on_stderr_and_exit_2(argv: list[str], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TOOLFOUNDRY_HOME", str(tmp_path / "home"))  # never touched: parsing fails first
    monkeypatch.setattr(sys, "argv", ["toolfoundry", *argv])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    assert exited.value.code == 2, (argv, captured.out, captured.err)
    assert captured.err.startswith("toolfoundry: error:") and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err + captured.out
    assert not (tmp_path / "home").exists()


def test_the_sweep_covers_every_command_and_knows_their_options() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"init", "propose", "request", "run", "demo", "ui", "serve", "tools", "call", "rollback",
            "review list", "review show", "review approve", "review reject", "audit verify", "audit log",
            "worker", "workers", "resume", "cancel", "doctor", "verify", "provenance", "principals add",
            "principals list", "principals revoke", "principals key", "tokens create", "tokens list",
            "tokens revoke"} <= names
    assert "rollback --to two" in CASES and "call without name" in CASES and "serve --port two" in CASES
    assert "worker --slots two" in CASES and "cancel without request_id" in CASES and "verify without paths" in CASES


def test_usage_errors_from_a_shell_name_what_is_wrong(tmp_path: Path) -> None:
    home = tmp_path / "h"
    for argv, needle in ((["call"], "Missing argument"), (["call", "x", "--bogus"], "No such option: --bogus"),
                         (["rollback", "x", "--to", "two"], "Invalid value for '--to'"),
                         (["review"], "toolfoundry review needs a command: one of "),
                         (["nosuch"], "No such command 'nosuch'"),
                         (["ui", "--port", "99999"], "--port must be between 0 and 65535, not 99999"),
                         (["serve", "--port", "-1"], "--port must be between 0 and 65535, not -1"),
                         (["worker", "--slots", "0"], "--slots must be at least 1, not 0"),
                         (["cancel"], "Missing argument 'request_id'"),
                         (["resume", "extra"], "unexpected extra argument"),
                         (["tokens", "create", "x"], "Missing option '--scope'"),
                         (["principals", "add", "x"], "Missing option '--role'"),
                         (["provenance", "x", "--version", "two"], "Invalid value for '--version'"),
                         (["verify"], "Missing argument")):
        proc = run_cli(home, *argv)
        assert proc.returncode == 2, (argv, proc.stdout, proc.stderr)
        assert proc.stderr.count("\n") == 1 and needle in proc.stderr, (argv, proc.stderr)
        assert "python -m" not in proc.stderr and ("--help`" in proc.stderr or "--port" in argv or "--slots" in argv)
    assert not home.exists()


def test_a_home_that_is_a_file_is_named_as_one_by_every_command_that_opens_a_home(tmp_path: Path) -> None:
    home = write(tmp_path / "home", "not a directory\n")
    for argv in (["tools"], ["doctor"], ["workers"], ["resume"], ["cancel", "x"], ["audit", "verify"]):
        proc = run_cli(home, *argv)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, (argv, proc.stderr)
        assert f"{home} is not a directory" in proc.stderr and "does not exist" not in proc.stderr, (argv, proc.stderr)
    assert home.read_text() == "not a directory\n"
