"""How the command line shows a request: its typed events as they happen, its verdicts, its outcome.

Owns presentation only. Every event arrives as the object the pipeline recorded (``pipeline/events.py``),
so nothing here parses audit JSON; a request's stored stages are read back with ``Verdict.from_json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import NoReturn, TypeVar

import typer
from rich.markup import escape

from toolfoundry.core import Outcome, Verdict
from toolfoundry.pipeline import events
from toolfoundry.pipeline.events import Listener
from toolfoundry.surfaces.cli.app import EXIT, err, out, print_json

T = TypeVar("T")

_COLOUR = {"error": "red", "warning": "yellow", "info": "dim"}


def verdict(v: Verdict) -> None:
    """One stage: a mark, its name and time, then each finding with its input, expected and actual value."""
    mark = "[green]✓[/green]" if v.ok else "[red]✗[/red]"
    out.print(f"  {mark} {v.stage:<9} {v.ms:8.1f} ms")
    for f in v.findings:
        colour = _COLOUR[f.severity]
        where = f" {f.where}" if f.where else ""
        out.print(f"      [{colour}]{f.severity}[/{colour}] {escape(f.code)}{escape(where)}: {escape(f.message)}")
        if f.input is not None:
            out.print(f"        input:    {escape(json.dumps(f.input))}")
        if f.expected is not None or f.actual is not None:
            out.print(f"        expected: {escape(json.dumps(f.expected))}")
            out.print(f"        actual:   {escape(json.dumps(f.actual))}")


def event(e: events.Event) -> None:
    """One line (or a stage block) for an event of the request being followed."""
    match e:
        case events.ProposalOpened() | events.NeedOpened():
            tests = "yes" if isinstance(e, events.ProposalOpened) and e.tests else "no"
            out.print(f"[bold]request {e.request_id}[/bold] ({e.examples} examples, {e.holdout} held out,"
                      f" tests: {tests})")
        case events.Assessed():
            out.print(f"  → assessed the deployed tools: {escape(e.reason)}")
        case events.ModelCalled():
            what = "the spec" if e.purpose == "spec" else f"candidate {e.call}"
            out.print(f"  → model {escape(e.model)} wrote {what}"
                      f" ({e.usage.prompt_tokens}+{e.usage.completion_tokens} tokens)")
        case events.StageDone():
            if e.verdict.stage == "generate":
                out.print(f"  [bold]attempt {e.attempt}[/bold]")
            verdict(e.verdict)
        case events.PolicyDecided():
            d = e.decision
            out.print(f"  → policy: {d.route} ({d.rule}): {escape(d.reason)}")
        case events.PrOpened():
            out.print(f"  → pull request {e.branch} ({e.head[:12]}): {e.ref.name} v{e.ref.version}")
        case events.Voted():
            v = e.vote
            reasons = "; ".join(f"line {line}: {text}" if line else text for line, text in v.reasons)
            out.print(f"  → {escape(v.reviewer)} ({v.role}) votes {v.verdict}{': ' + escape(reasons) if reasons else ''}")
        case events.QuorumDone():
            reason = e.result.reason if e.result is not None else e.reason
            out.print(f"  → reviewers: {e.outcome}: {escape(reason)}")
        case events.ReviewDecided():
            verb = "approved" if e.review.approve else "rejected"
            out.print(f"  → {verb} by {escape(e.review.reviewer)}")
        case events.Merged():
            out.print(f"  → merged into main at {str(e.ref.commit)[:12]}")
        case events.Deployed():
            out.print(f"  → loaded {e.ref.name} v{e.ref.version}, sha256 {e.ref.sha256[:16]}… verified")
        case _:
            pass


def _next(e: events.Event) -> str | None:
    """What the request does after ``e``, for the spinner."""
    if isinstance(e, events.StageDone):
        return {"generate": "checking the tool contract", "contract": "running static checks",
                "checks": "running the tool's tests in the sandbox", "tests": "running the examples in the sandbox",
                "oracle": "applying the policy"}.get(e.verdict.stage)
    return {"request.opened": "checking the tool contract", "assess": "asking the model for a spec",
            "model.call": "checking what the model wrote", "policy.decision": "opening the pull request",
            "review.decided": "merging", "merge": "loading the merged tool"}.get(e.kind)


def with_spinner(run: Callable[[Listener], T]) -> T:
    """Run ``run(listener)`` while a spinner on stderr names the stage in progress."""
    with err.status("starting…", spinner="dots") as status:
        def listener(e: events.Event) -> None:
            event(e)
            step = _next(e)
            if step:
                status.update(f"{step}…")
        return run(listener)


def finish(outcome: Outcome, as_json: bool) -> NoReturn:
    """Print the outcome (JSON, or a coloured line with what to do next) and exit with its code."""
    if as_json:
        print_json(outcome.to_json())
    else:
        colour = {"deployed": "green", "rejected": "red", "pending_review": "yellow"}.get(outcome.status, "red")
        out.print(f"[bold {colour}]{outcome.status}[/bold {colour}]: {escape(outcome.reason)}")
        if outcome.status == "pending_review":
            out.print(f"  approve: toolfoundry review approve {outcome.request_id} --key YOUR_SSH_KEY"
                      f"   (a home without principals: --as REVIEWER)")
            out.print(f"  reject:  toolfoundry review reject {outcome.request_id} --reason TEXT --key YOUR_SSH_KEY")
    if outcome.status == "failed" and not as_json:
        err.print(f"toolfoundry: error: {escape(outcome.reason)}")
    raise typer.Exit(EXIT[outcome.status])
