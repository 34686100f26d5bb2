"""``toolfoundry provenance NAME [--version V] [--verify]``: a deployed version's signed provenance record.

Shows who asked, what the model was sent and answered (as hashes), each stage's verdict, the policy
rule, the approvals with their signatures and the merge commit; ``--verify`` checks it offline from the
tool repository (exit 1 naming what does not hold).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from toolfoundry.identity import provenance as statement
from toolfoundry.surfaces.cli.app import HomeOpt, JsonOpt, app, err, open_foundry, out, print_json


@app.command()
def provenance(
    name: Annotated[str, typer.Argument(help="Tool name.")],
    version: Annotated[int | None, typer.Option("--version", help="Version (default: the active one).")] = None,
    verify: Annotated[bool, typer.Option("--verify", help="Check the record's signature, subject and approvals"
                                                          " offline; exit 1 if any does not hold.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Print the whole in-toto statement.")] = False,
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Show (and with --verify, check) the provenance record of a deployed tool version."""
    record = open_foundry(home).trust.provenance(name, version, verify=verify)
    ok = bool(record.statement) and not record.problems
    if as_json:
        print_json(record.to_json())
        raise typer.Exit(0 if ok else 1)
    out.print(f"[bold]{record.tool.ref.name} v{record.tool.ref.version}[/bold]  {record.path}")
    if not record.statement and record.problems is None:
        err.print(f"no readable provenance record at {record.path} on main (toolfoundry provenance {name} --verify"
                  f" says why)")
    if record.statement:
        for label, text in statement.summary(record.statement):
            out.print(f"  {label:<9} {escape(text)}")
    if full and record.statement:
        out.print(escape(json.dumps(record.statement, indent=2, ensure_ascii=False)))
    if record.problems is not None:
        if ok:
            out.print("[green]verified[/green]: the foundry's signature, the tool's bytes at the merge commit and"
                      " every approval's signature hold")
        for problem in record.problems:
            err.print(f"[red]does not verify[/red]: {escape(problem)}")
    raise typer.Exit(0 if ok else 1)
