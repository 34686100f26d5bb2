"""Commands for a GitHub forge: ``review sync`` (GitHub reviews decide pending requests), ``ci-workflow``
(the Actions workflow for a tool repository), and what ``init --forge github`` writes into a new home.

``review sync`` is polling, so it works behind a firewall that lets no webhook in: run it from cron
(``*/5 * * * * toolfoundry review sync --home H``) or beside ``serve`` with ``--watch SECONDS``. Each
pass reads every pending request's pull request conditionally (ETags: an unchanged one costs no rate
limit), waits out GitHub's rate limits (``Retry-After``) and, with ``--watch``, backs off after a failure.
In a home with principals a review counts only as the approval of the principal its login is linked to
(``principals github NAME LOGIN``; ``trust/github.py``), re-read from GitHub before it is accepted.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from toolfoundry.errors import AccessDenied, ForgeError, UsageError
from toolfoundry.forge import settings as forge_settings
from toolfoundry.forge.actions import WORKFLOW_PATH, workflow_yaml
from toolfoundry.settings import CONFIG_NAME, DEFAULT_TOML, Settings
from toolfoundry.surfaces.cli.app import HomeOpt, JsonOpt, app, err, open_foundry, out, print_json, review_app

if TYPE_CHECKING:
    from toolfoundry.pipeline.sync import Synced

MAX_BACKOFF = 600.0
"""The longest pause ``review sync --watch`` makes after failures in a row, in seconds."""


def prepare_home(s: Settings, *, forge: str, repository: str | None, api_url: str | None,
                 approvers: list[str], approver_team: str | None) -> bool:
    """Write ``[forge]`` into a new home's toolfoundry.toml for ``init --forge github``; True when it did.
    An existing home keeps its file: it must already name the same GitHub repository."""
    if forge not in ("local", "github"):
        raise UsageError(f"--forge must be local or github, not {forge!r}")
    if forge == "local":
        if repository or api_url or approvers or approver_team:
            raise UsageError("--repository, --api-url, --approver and --approver-team need --forge github")
        return False
    if not repository:
        raise UsageError("--forge github needs --repository OWNER/NAME (create the repository on GitHub first)")
    wanted = forge_settings.check(forge_settings.ForgeSettings(
        kind="github", repository=repository, api_url=(api_url or "https://api.github.com").rstrip("/"),
        approvers=tuple(approvers), approver_team=approver_team or ""), "init")
    config = s.home / CONFIG_NAME
    if config.exists():
        if s.forge.kind != "github" or s.forge.repository.lower() != repository.lower():
            raise UsageError(f"{config} already exists with [forge] kind = {s.forge.kind!r}"
                             f"{f', repository = {s.forge.repository!r}' if s.forge.repository else ''}; edit its"
                             " [forge] section instead")
        return False
    try:
        s.home.mkdir(parents=True, exist_ok=True)
        s.home.chmod(0o700)
        text = DEFAULT_TOML.replace("\n[forge]\n", forge_settings.toml_section(wanted), 1)
        config.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {config}: {exc.strerror}") from None
    return True


@app.command("ci-workflow")
def ci_workflow(
    directory: Annotated[Path, typer.Argument(help="A checkout of the tool repository (default: here).")] = Path("."),
    install: Annotated[str | None, typer.Option("--install", help="What pip installs in the job (default:"
                                                " this release of toolfoundry from PyPI).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a workflow file that differs.")] = False,
) -> None:
    """Write .github/workflows/toolfoundry.yml: on pull requests touching tools/**, `toolfoundry verify` them."""
    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory (give a checkout of the tool repository)")
    try:
        text = workflow_yaml(install=install)
    except ValueError as exc:
        raise UsageError(f"--install: {exc}") from None
    target = directory / WORKFLOW_PATH
    if target.exists() and target.read_text(encoding="utf-8", errors="replace") != text and not force:
        raise UsageError(f"{target} exists and differs; pass --force to replace it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror}") from None
    out.print(f"wrote {target}: commit it; pull requests that change tools/** are then verified by Actions")


@review_app.command("sync")
def review_sync(
    watch: Annotated[float | None, typer.Option("--watch", help="Keep syncing, every SECONDS (backing off after"
                                                " failures), until interrupted.", min=1.0)] = None,
    home: HomeOpt = None, as_json: JsonOpt = False,
) -> None:
    """Decide pending requests by their GitHub pull requests: an allowed approval (after the check) merges,
    changes requested rejects with the reviewer's text. With principals, only logins linked to a reviewer count."""
    handler = _notices()
    foundry = open_foundry(home, hold=False)
    delay, failures = watch or 0.0, 0
    try:
        while True:
            try:
                results = foundry.sync_reviews()
                failures = 0
            except (ForgeError, AccessDenied) as exc:  # AccessDenied: GitHub changed between reading and deciding
                if watch is None:
                    raise
                failures += 1
                err.print(f"toolfoundry: review sync failed ({escape(str(exc))}); retrying")
                results = []
            _show(results, as_json=as_json, stream=watch is not None)
            if watch is None:
                return
            time.sleep(min(delay * 2 ** failures, MAX_BACKOFF))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    finally:
        logging.getLogger("toolfoundry.forge").removeHandler(handler)


def _notices() -> logging.Handler:
    """Show the forge's waits (rate limits, retries) on stderr while syncing."""
    class _Err(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            err.print(f"[dim]{escape(record.getMessage())}[/dim]")
    handler = _Err(logging.INFO)
    logger = logging.getLogger("toolfoundry.forge")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler


def _show(results: list[Synced], *, as_json: bool, stream: bool) -> None:
    if as_json and stream:
        for r in results:
            sys.stdout.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
    if as_json:
        print_json([r.to_json() for r in results])
        return
    if not results and not stream:
        out.print("nothing waits for review")
    for r in results:
        where = f"#{r.pull.number}" if r.pull else "no PR"
        out.print(f"{r.request_id} {where}: {r.action} — {escape(r.reason)}"
                  + (f" → {r.status}" if r.action in ("approve", "reject") else ""))
