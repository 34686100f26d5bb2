"""The typer applications and what every command shares: options, opening a foundry, printing, failing.

Exit codes (a contract): 0 success, 1 the request was rejected or the call failed, 2 usage or
infrastructure error (one-line reason on stderr), 3 pending review.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from toolfoundry.core import JSON
from toolfoundry.settings import Settings, default_home, load

if TYPE_CHECKING:
    from toolfoundry.api import Foundry
    from toolfoundry.runtime import Role

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="toolfoundry: validate, review, merge and load new tools for LLM agents, safely.")
review_app = typer.Typer(no_args_is_help=True, help="Review requests that wait for a human.")
audit_app = typer.Typer(no_args_is_help=True, help="Inspect and verify the hash-chained audit log.")
app.add_typer(review_app, name="review")
app.add_typer(audit_app, name="audit")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

_CANCELLED = ("DBOSAwaitedWorkflowCancelledError", "DBOSWorkflowCancelledError")


def _not_a_cancel(record: logging.LogRecord) -> bool:
    """Keep DBOS's log lines, except the two it writes when a request this process runs is cancelled by
    another (a traceback of the cancellation, and that it no longer owns the workflow): the command prints
    the request's outcome, ``cancelled: cancelled by NAME``, in their place."""
    exc = record.exc_info[1] if record.exc_info else None
    return type(exc).__name__ not in _CANCELLED and "is no longer owned by this execution" not in record.getMessage()


logging.getLogger("dbos").addFilter(_not_a_cancel)

HomeOpt = Annotated[Path | None, typer.Option("--home", help="Foundry home (default $TOOLFOUNDRY_HOME, else"
                                             " ./.toolfoundry).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
AsOpt = Annotated[str | None, typer.Option("--as", help="Who is acting (default: the logged-in user).")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="PROVIDER:NAME, e.g. openai:gpt-4.1-mini,"
                                             " local:qwen2.5-coder-1.5b (offline), scripted:FILE or scripted:DIR"
                                             " (default: \\[generation] model / $TOOLFOUNDRY_MODEL).")]
EXIT = {"deployed": 0, "rejected": 1, "pending_review": 3, "failed": 2, "running": 2, "cancelled": 1}


def settings(home: Path | None, user: str | None = None) -> Settings:
    """Settings for ``--home`` (or the default home) and ``--as``, from toolfoundry.toml and the environment."""
    return load(home or default_home(os.environ), os.environ, user=user)


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit (2 by default)."""
    err.print(f"toolfoundry: error: {escape(message)}")
    raise typer.Exit(code)


OPENED: list[Foundry] = []
"""Every foundry a command opened; ``main`` closes them when the command ends, whatever its exit code."""


def close_opened() -> None:
    """Close what the command opened: DBOS given back, the executor's lock released, work taken over finished."""
    while OPENED:
        OPENED.pop().close()


RecordOpt = Annotated[Path | None, typer.Option("--record", help="Save every model exchange (request, reply,"
                                               " usage, finish reason) as JSON in DIR; replay it with"
                                               " --model scripted:DIR.")]


def open_foundry(home: Path | None, user: str | None = None, *, role: Role = "cli", hold: bool = True,
                 record: Path | None = None) -> Foundry:
    """The home, opened for a command. Nothing else is finished first: a request another process left
    interrupted is named on stderr, with how to finish it. With ``record``, every model exchange is saved there."""
    from toolfoundry.api import Foundry
    resolved = settings(home, user)
    if record is not None:
        resolved = dataclasses.replace(resolved, generation=dataclasses.replace(resolved.generation,
                                                                                record=str(record)))
    foundry = Foundry(resolved, role=role, hold_home=hold, command=" ".join(sys.argv[1:])[:200],
                      token=resolved.token if role == "cli" else None)  # servers authenticate each client instead
    OPENED.append(foundry)
    foundry.on_progress(lambda message: err.print(f"[dim]{escape(message)}[/dim]"))
    left = foundry.interrupted()
    if left:
        shown = ", ".join(r.id for r in left[:3]) + (f" and {len(left) - 3} more" if len(left) > 3 else "")
        err.print(f"[dim]note: {len(left)} request(s) were left unfinished by a process that died ({shown});"
                  f" `toolfoundry resume` finishes them, as does the next request made here[/dim]")
    return foundry


def print_json(data: JSON) -> None:
    """Indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
