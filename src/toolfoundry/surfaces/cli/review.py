"""Commands for people who review and audit: ``review list|show|approve|reject`` and ``audit verify|log``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape
from rich.table import Table

from toolfoundry.core import Decision, Outcome, Verdict
from toolfoundry.pipeline.events import Listener
from toolfoundry.surfaces.cli import render
from toolfoundry.surfaces.cli.app import (
    HomeOpt,
    JsonOpt,
    audit_app,
    err,
    open_foundry,
    out,
    print_json,
    review_app,
)

RequestArg = Annotated[str, typer.Argument(help="Request id (or a unique prefix).")]


@review_app.command("list")
def review_list(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Requests waiting for a human."""
    rows = open_foundry(home).pending()
    if as_json:
        print_json([r.to_json() for r in rows])
        return
    if not rows:
        out.print("nothing waits for review")
        return
    table = Table()
    for column in ("request", "tool", "requester", "since", "why"):
        table.add_column(column, no_wrap=column in ("request", "tool", "since"))
    for r in rows:
        table.add_row(r.id, r.name or "?", escape(r.requester), r.updated[:16].replace("T", " "), escape(r.reason))
    out.print(table)


@review_app.command("show")
def review_show(request_id: RequestArg, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """A request's evidence: stages, findings, decision, the diff, and its audit trail."""
    foundry = open_foundry(home)
    row = foundry.request_row(request_id)
    diff = foundry.diff(row.id)
    events = foundry.events(row.id)
    if as_json:
        print_json({**row.to_json(), "diff": diff, "events": [e.to_json() for e in events]})
        return
    out.print(f"[bold]request {row.id}[/bold]  {row.status}  tool {row.name}  requested by {escape(row.requester)}")
    if row.decision:
        d = Decision.from_json(row.decision)
        out.print(f"policy: {d.route} ({d.rule}): {escape(d.reason)}")
    for stage in (row.outcome or {}).get("stages") or []:
        render.verdict(Verdict.from_json(stage))
    if diff:
        out.print("[bold]diff[/bold]")
        out.print(escape(diff))
    out.print("[bold]audit trail[/bold]")
    for e in events:
        out.print(f"  #{e.seq} {e.ts[:19]} {e.kind} by {escape(e.actor)}")


KeyOpt = Annotated[Path | None, typer.Option("--key", help="Sign the decision with this SSH key: a private key, or"
                                            " a .pub whose private half ssh-agent holds (default: a registered"
                                            " reviewer key in ssh-agent, once the home has principals).")]
ReviewAsOpt = Annotated[str | None, typer.Option("--as", help="Decide unsigned as NAME: only in a home without"
                                                             " principals, or with an admin's token (audited).")]


def _decide(request_id: str, approve: bool, reason: str, home: Path | None, as_user: str | None,
            key: Path | None, as_json: bool) -> NoReturn:
    foundry = open_foundry(home, as_user)
    signature = None
    if key is not None or (as_user is None and foundry.trust.enforced()):
        row = foundry.request_row(request_id)  # sign what is pending; anything else gets review's own error
        proposal = row.the_proposal() if row.status == "pending_review" else None
        if proposal is not None:
            signature = foundry.trust.sign(proposal, approve=approve, reason=reason, key=key)

    def run(listener: Listener | None) -> Outcome:
        return foundry.review(request_id, approve=approve, reviewer=as_user, reason=reason, signature=signature,
                              on_event=listener)
    render.finish(run(None) if as_json else render.with_spinner(run), as_json)


@review_app.command("approve")
def review_approve(request_id: RequestArg, reason: Annotated[str, typer.Option("--reason", help="Why (optional).")]
                   = "", key: KeyOpt = None, home: HomeOpt = None, as_json: JsonOpt = False,
                   as_user: ReviewAsOpt = None) -> None:
    """Approve a pending request, signed with your SSH key: merge it and deploy the tool."""
    _decide(request_id, True, reason, home, as_user, key, as_json)


@review_app.command("reject")
def review_reject(request_id: RequestArg, reason: Annotated[str, typer.Option("--reason", help="Why (required).")]
                  = "", key: KeyOpt = None, home: HomeOpt = None, as_json: JsonOpt = False,
                  as_user: ReviewAsOpt = None) -> None:
    """Reject a pending request, with a reason, signed with your SSH key."""
    _decide(request_id, False, reason, home, as_user, key, as_json)


@audit_app.command("verify")
def audit_verify(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Check the hash chain; exit 1 naming the first bad event if anything was edited, deleted or reordered."""
    result = open_foundry(home).verify()
    if as_json:
        print_json({"ok": result.ok, "count": result.count, "first_bad_seq": result.first_bad_seq,
                    "reason": result.reason})
    elif result.ok:
        out.print(f"audit log ok: {result.count} events, chain intact")
    else:
        err.print(f"audit log BROKEN at event #{result.first_bad_seq}: {escape(result.reason)}")
    raise typer.Exit(0 if result.ok else 1)


@audit_app.command("log")
def audit_log(request: Annotated[str | None, typer.Option("--request", help="Only this request's events.")] = None,
              home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Print audit events (JSON: one object per line)."""
    for e in open_foundry(home).events(request):
        if as_json:
            sys.stdout.write(json.dumps(e.to_json(), ensure_ascii=False) + "\n")
        else:
            out.print(f"#{e.seq} {e.ts[:23]} {e.kind:<17} {escape(e.actor):<10} {e.request_id or '-':<22} "
                      f"{escape(json.dumps(e.data, ensure_ascii=False)[:100])}")
