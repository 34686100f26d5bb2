"""The ``toolfoundry`` command line: parses flags, builds Settings, calls the ``Foundry`` facade, prints, exits.

Exit codes (a contract): 0 success, 1 the request was rejected or the call failed, 2 usage or
infrastructure error (one-line reason on stderr), 3 pending review. Owns presentation only: every
decision is made in the API and below. ``app.py`` holds the typer apps and what commands share,
``render.py`` how requests are shown; the commands are grouped in ``requests.py``, ``tools.py``,
``review.py`` and ``serve.py``. Each command imports only what it uses.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from toolfoundry.errors import ToolfoundryError
from toolfoundry.surfaces.cli import (
    doctor,
    github,
    principals,
    provenance,
    requests,
    review,
    serve,
    tools,
    verify,
    workers,
)
from toolfoundry.surfaces.cli.app import app, close_opened, err
from toolfoundry.surfaces.cli.usage import report as report_usage

__all__ = ["app", "doctor", "github", "main", "principals", "provenance", "requests", "review", "serve", "tools", "verify",
           "workers"]


def main() -> None:
    """Console-script entry point: run the app and map our errors to exit code 2 with a one-line reason."""
    try:
        try:
            code = app(standalone_mode=False)  # returns typer.Exit's code instead of raising it
        finally:
            close_opened()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except ToolfoundryError as exc:
        err.print(f"toolfoundry: error: {escape(str(exc))}")
        sys.exit(2)
    except typer.TyperException as exc:  # usage errors from typer's bundled click, in non-standalone mode
        sys.exit(report_usage(exc))
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
