"""How ``propose`` shows many tools at once: a progress bar while they run, one line each at the end.

Owns presentation only, as ``render.py`` does for one request. The bar (on stderr) counts finished
requests out of all and names the stage each running one is in, from its typed events; ``--json``
prints one compact JSON object per tool per line, in the order the paths were given (the object a
single ``propose --json`` prints). The exit code says the worst that happened: 2 if any request failed
for an infrastructure reason, else 1 if any was rejected, else 3 if any waits for review, else 0.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from toolfoundry.core import Candidate, Outcome
from toolfoundry.pipeline import events
from toolfoundry.surfaces.cli.app import EXIT, err, out
from toolfoundry.toolfile import code_digest

if TYPE_CHECKING:
    from toolfoundry.api import Foundry

_NOW = {"contract": "checks", "checks": "tests", "tests": "oracle", "oracle": "policy"}
"""After a stage's verdict, the stage that runs next."""
_COLOUR = {"deployed": "green", "rejected": "red", "pending_review": "yellow"}


class _Board:
    """What the bar shows: which request is which path, the stage each running one is in, how many ended."""

    def __init__(self, candidates: Sequence[Candidate], labels: Sequence[str], progress: Progress) -> None:
        self.labels = {(code_digest(c.code), c.name): label for c, label in zip(candidates, labels, strict=True)}
        self.progress, self.task = progress, progress.add_task("starting…", total=len(labels))
        self.lock = threading.Lock()
        self.who: dict[str, str] = {}
        self.stage: dict[str, str] = {}
        self.ended: set[str] = set()

    def hear(self, e: events.Event) -> None:
        with self.lock:
            if isinstance(e, events.ProposalOpened):
                self.who[e.request_id] = self.labels.get((e.sha256, e.name), e.name or e.request_id[:8])
            now = self._stage(e)
            if now is None:
                self.stage.pop(e.request_id, None)
                self.ended.add(e.request_id)
            elif now:
                self.stage[e.request_id] = now
            running = ", ".join(f"{self.who.get(r, r[:8])}: {s}" for r, s in sorted(self.stage.items()))
            idle = "done" if len(self.ended) == self.progress.tasks[0].total else "queued…"
            self.progress.update(self.task, completed=len(self.ended), description=escape(running or idle))

    @staticmethod
    def _stage(e: events.Event) -> str | None:
        """The stage ``e`` leaves its request in; None once the request has ended (or waits for a human)."""
        match e:
            case events.Closed() | events.ReviewRequested():
                return None
            case events.ProposalOpened():
                return "contract"
            case events.StageDone():
                return _NOW.get(e.verdict.stage, "policy")
            case events.PolicyDecided():
                return "pull request"
            case events.PrOpened() | events.QuorumDone():
                return "review"
            case events.ReviewDecided():
                return "merge"
            case events.Merged():
                return "load"
            case _:
                return ""


def propose_all(foundry: Foundry, candidates: Sequence[Candidate], labels: Sequence[str], *, jobs: int | None,
                quiet: bool) -> list[Outcome]:
    """Propose every candidate, ``jobs`` at once; a progress bar on stderr unless ``quiet``."""
    if quiet:
        return foundry.propose_many(candidates, jobs=jobs)
    columns = (SpinnerColumn(), MofNCompleteColumn(), BarColumn(bar_width=24), TimeElapsedColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, console=err, transient=False) as progress:
        board = _Board(candidates, labels, progress)
        return foundry.propose_many(candidates, jobs=jobs, on_event=board.hear)


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """2 if any failed (infrastructure), else 1 if any was rejected, else 3 if any waits for review, else 0."""
    codes = {EXIT.get(o.status, 2) for o in outcomes}
    return next((code for code in (2, 1, 3) if code in codes), 0)


def finish_all(outcomes: Sequence[Outcome], labels: Sequence[str], as_json: bool) -> NoReturn:
    """One JSON line per outcome (``--json``), or one readable line each and a count; then exit."""
    if as_json:
        for outcome in outcomes:
            sys.stdout.write(json.dumps(outcome.to_json(), ensure_ascii=False) + "\n")
        raise typer.Exit(exit_code(outcomes))
    width = max((len(label) for label in labels), default=0)
    for outcome, label in zip(outcomes, labels, strict=True):
        colour = _COLOUR.get(outcome.status, "red")
        tool = f"{outcome.tool.name} v{outcome.tool.version}" if outcome.tool else ""
        line = "  ".join(part for part in (f"{label:<{width}}", tool, _why(outcome)) if part)
        out.print(f"[{colour}]{outcome.status:<14}[/{colour}] {escape(line.rstrip())}")
    counts = {status: sum(o.status == status for o in outcomes) for status in dict.fromkeys(o.status for o in outcomes)}
    out.print(f"{len(outcomes)} tools: " + ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items()))
    if counts.get("pending_review"):
        out.print("  review them: toolfoundry review list")
    raise typer.Exit(exit_code(outcomes))


def _why(outcome: Outcome) -> str:
    """The reason, and for a rejection the first blocking finding (``review show ID`` has them all)."""
    if outcome.status != "rejected":
        return "" if outcome.status == "deployed" else outcome.reason
    first = next((f for v in outcome.stages for f in v.findings if f.severity == "error"), None)
    return outcome.reason + (f" — {first.headline()}" if first else "")
