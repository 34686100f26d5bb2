"""Command-line usage errors as the exit-code contract wants them: one line on stderr, exit 2.

typer parses the command line with its own bundled copy of click (``typer._click``), so a missing
argument, an unknown option or command, a value that does not convert (``--to two``) or no command at
all arrive as ``typer.TyperException`` subclasses, not as the ``click`` package's exceptions. This module
turns each into one line (``toolfoundry: error: call: Missing argument 'name'. (see `toolfoundry call
--help`)``). It owns no command and makes no decision.
"""

from __future__ import annotations

import typer
from rich.markup import escape

from toolfoundry.surfaces.cli.app import err

PROGRAM = "toolfoundry"


def report(exc: typer.TyperException) -> int:
    """Print ``exc`` as one line on stderr; return the exit code (2: it is the caller's mistake)."""
    err.print(f"{PROGRAM}: error: {escape(one_line(exc))}")
    return 2


def one_line(exc: typer.TyperException) -> str:
    """What went wrong and where to look, on one line."""
    ctx = getattr(exc, "ctx", None)
    path = PROGRAM
    if ctx is not None and ctx.command_path:  # named as installed, also when run as `python -m toolfoundry`
        path = PROGRAM + str(ctx.command_path)[len(str(ctx.find_root().info_name or "")):]
    command = path.partition(" ")[2]
    if type(exc).__name__ == "NoArgsIsHelpError":  # typer has already printed the help on stdout
        names = list(getattr(ctx.command, "commands", {})) if ctx is not None else []
        choices = f": one of {', '.join(names)}" if names else ""
        return f"{path} needs a command{choices} (see `{path} --help`)"
    message = " ".join(exc.format_message().split()) or type(exc).__name__
    return f"{command + ': ' if command else ''}{message} (see `{path} --help`)"
