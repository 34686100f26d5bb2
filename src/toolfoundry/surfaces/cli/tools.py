"""Commands on deployed tools: ``tools``, ``call`` and ``rollback``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from toolfoundry.core import JSON
from toolfoundry.errors import UsageError
from toolfoundry.jsonlimits import MAX_BYTES, loads
from toolfoundry.surfaces.cli.app import AsOpt, HomeOpt, JsonOpt, app, err, open_foundry, out, print_json
from toolfoundry.toolfile import read_bytes


@app.command()
def tools(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List deployed tools (the active version of each)."""
    deployed = open_foundry(home).tools()
    if as_json:
        print_json([t.to_json() for t in deployed])
        return
    if not deployed:
        out.print("no tools deployed yet; propose one with `toolfoundry propose PATH`")
        return
    table = Table("name", "version", "signature", "sha256", "description")
    for t in deployed:
        table.add_row(t.ref.name, str(t.ref.version), escape(t.interface.signature), t.ref.sha256[:12],
                      escape(t.interface.summary))
    out.print(table)


@app.command()
def call(
    name: Annotated[str, typer.Argument(help="Tool name.")],
    args: Annotated[str, typer.Option("--args", help='Arguments as a JSON object, e.g. \'{"text": "hi"}\';'
                                      " @FILE reads it from a file, - from stdin (for inputs too large for a"
                                      " command line).")] = "{}",
    home: HomeOpt = None, as_json: JsonOpt = False, as_user: AsOpt = None,
) -> None:
    """Call a deployed tool in the sandbox."""
    parsed = arguments(args)
    result = open_foundry(home, as_user).call(name, parsed)
    if as_json:
        print_json(result.to_json())
    elif result.ok:
        out.print(json.dumps(result.result, indent=2, ensure_ascii=False))
    else:
        error = result.error or {}
        err.print(f"{name} failed: {escape(str(error.get('type')))}: {escape(str(error.get('message')))}")
    raise typer.Exit(0 if result.ok else 1)


def arguments(value: str) -> dict[str, JSON]:
    """The keyword arguments ``--args`` gives: JSON text, ``@FILE`` (a regular file) or ``-`` (stdin), each
    within the JSON bounds of ``jsonlimits`` (a JSON object never starts with ``@`` or is ``-``)."""
    text: str | bytes = value
    what = "--args"
    if value == "-":
        what = "--args from stdin"
        text = sys.stdin.buffer.read(MAX_BYTES + 1)
        if len(text) > MAX_BYTES:
            raise UsageError(f"{what} is more than {MAX_BYTES} bytes; the limit is {MAX_BYTES}")
    elif value.startswith("@"):
        if value == "@":
            raise UsageError("--args @FILE needs a file name after the @")
        path = Path(value[1:]).expanduser()
        what = f"--args file {path}"
        text = read_bytes(path, "--args file", limit=MAX_BYTES)
    parsed = loads(text, what=what)
    if not isinstance(parsed, dict):
        raise UsageError(f"{what} must be a JSON object of keyword arguments")
    return parsed


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="Tool name.")],
    to: Annotated[int | None, typer.Option("--to", help="Version to make active (default: the previous"
                                                        " one).")] = None,
    home: HomeOpt = None, as_json: JsonOpt = False, as_user: AsOpt = None,
) -> None:
    """Make an earlier deployed version of a tool the active one."""
    tool = open_foundry(home, as_user).rollback(name, to)
    if as_json:
        print_json(tool.to_json())
    else:
        out.print(f"{name} is now v{tool.ref.version} (sha256 {tool.ref.sha256[:12]},"
                  f" commit {str(tool.ref.commit)[:12]})")
