"""Commands on deployed tools: ``tools``, ``call`` and ``rollback``."""

from __future__ import annotations

import json
from typing import Annotated, NoReturn

import typer
from rich.markup import escape
from rich.table import Table

from toolfoundry.errors import UsageError
from toolfoundry.surfaces.cli.app import AsOpt, HomeOpt, JsonOpt, app, err, open_foundry, out, print_json


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
    args: Annotated[str, typer.Option("--args", help='Arguments as a JSON object, e.g. \'{"text": "hi"}\'.')]
    = "{}",
    home: HomeOpt = None, as_json: JsonOpt = False, as_user: AsOpt = None,
) -> None:
    """Call a deployed tool in the sandbox."""
    try:
        parsed = json.loads(args, parse_constant=_no_constant)
    except ValueError as exc:
        raise UsageError(f"--args is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise UsageError("--args must be a JSON object of keyword arguments")
    result = open_foundry(home, as_user).call(name, parsed)
    if as_json:
        print_json(result.to_json())
    elif result.ok:
        out.print(json.dumps(result.result, indent=2, ensure_ascii=False))
    else:
        error = result.error or {}
        err.print(f"{name} failed: {escape(str(error.get('type')))}: {escape(str(error.get('message')))}")
    raise typer.Exit(0 if result.ok else 1)


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


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
