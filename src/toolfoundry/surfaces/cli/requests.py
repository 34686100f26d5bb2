"""Commands that create, run or stop requests: ``init``, ``propose``, ``request``, ``cancel``, ``run`` and ``demo``."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from toolfoundry.core import JSON, Outcome
from toolfoundry.examples import load_examples
from toolfoundry.models.types import Model
from toolfoundry.pipeline.events import Listener
from toolfoundry.surfaces.cli import progress, render
from toolfoundry.surfaces.cli.app import (
    AsOpt,
    HomeOpt,
    JsonOpt,
    ModelOpt,
    RecordOpt,
    app,
    err,
    fail,
    open_foundry,
    out,
    print_json,
    settings,
)
from toolfoundry.toolfile import load_candidate, read_text

if TYPE_CHECKING:
    from toolfoundry.api import Foundry
    from toolfoundry.surfaces.agent import AgentResult

DEMO_TASK = "Convert this week's temperature readings of 21.5 °C, 37 °C and -40 °C to Fahrenheit."


@app.command()
def init(home: HomeOpt = None, as_json: JsonOpt = False,
         forge: Annotated[str, typer.Option("--forge", help="Where the tool repository lives: local or github.")]
         = "local",
         repository: Annotated[str | None, typer.Option("--repository", help="OWNER/NAME (--forge github).")] = None,
         api_url: Annotated[str | None, typer.Option("--api-url", help="GitHub Enterprise: https://HOST/api/v3.")]
         = None,
         approver: Annotated[list[str] | None, typer.Option("--approver", help="A GitHub login that may approve"
                                                            " (repeatable).")] = None,
         approver_team: Annotated[str | None, typer.Option("--approver-team", help="ORG/TEAM whose members may"
                                                           " approve.")] = None) -> None:
    """Create a foundry home: a bare git repository of tools (or, with --forge github, a mirror of a GitHub
    repository, given the Actions workflow), toolfoundry.toml and the database."""
    from toolfoundry.home import Home
    from toolfoundry.surfaces.cli.github import prepare_home
    prepare_home(settings(home), forge=forge, repository=repository, api_url=api_url, approvers=approver or [],
                 approver_team=approver_team)
    result = Home.init(settings(home))
    if as_json:
        print_json({"home": str(result.home), "created": result.created, "sandbox_problem": result.sandbox_problem})
        return
    out.print(f"{'initialised' if result.created else 'already initialised'}: {result.home}")
    if result.sandbox_problem:
        err.print(f"[yellow]warning:[/yellow] the sandbox cannot run here, so proposals and calls will be"
                  f" refused until it can: {escape(result.sandbox_problem)}")


@app.command()
def propose(
    paths: Annotated[list[Path], typer.Argument(help="Tool modules (.py) or directories laid out like tools/<name>/;"
                                                     " several are validated at once.", show_default=False,
                                                metavar="PATH")],
    tests: Annotated[Path | None, typer.Option("--tests", help="pytest file for the tool.")] = None,
    examples: Annotated[Path | None, typer.Option("--examples", help="Acceptance examples (JSON list).")] = None,
    holdout: Annotated[Path | None, typer.Option("--holdout", help="Held-out examples, never in the repo.")] = None,
    allow_net: Annotated[list[str] | None, typer.Option("--allow-net", help="Host the tool may reach"
                                                                          " (repeatable).")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="Tools validated at once (default:"
                                             " \\[pipeline] concurrency, the number of cores).")] = None,
    home: HomeOpt = None, as_json: JsonOpt = False, as_user: AsOpt = None,
) -> None:
    """Validate tools, open their pull requests, route them to review, and deploy the approved ones.

    With several PATHs, --json prints one JSON object per tool per line, in the order given; the exit code is
    1 if any was rejected, else 3 if any waits for review, else 0 (2: a usage or infrastructure error)."""
    if len(paths) > 1 and (tests or examples or holdout or allow_net):
        fail("--tests, --examples, --holdout and --allow-net describe one tool; with several PATHs give each"
             " tool a directory (tool.py, tool.toml, test_tool.py, examples.json)")
    candidates = [load_candidate(p, tests=tests, examples=examples, holdout=holdout, allow_net=allow_net or [])
                  for p in paths]  # a bad PATH is exit 2 before anything is proposed
    foundry = open_foundry(home, as_user)
    if len(candidates) > 1:
        labels = [str(p) for p in paths]
        outcomes = progress.propose_all(foundry, candidates, labels, jobs=jobs, quiet=as_json)
        progress.finish_all(outcomes, labels, as_json)
    candidate = candidates[0]
    if as_json:
        outcome = foundry.propose(candidate)
    else:
        outcome = render.with_spinner(lambda listener: foundry.propose(candidate, on_event=listener))
    render.finish(outcome, as_json)


@app.command()
def request(
    description: Annotated[str, typer.Argument(help="The capability needed, in plain words.")],
    examples: Annotated[Path | None, typer.Option("--examples", help="Acceptance examples shown to the"
                                                                     " model.")] = None,
    holdout: Annotated[Path | None, typer.Option("--holdout", help="Held-out examples, never shown to the"
                                                                   " model.")] = None,
    model: ModelOpt = None, record: RecordOpt = None, home: HomeOpt = None, as_json: JsonOpt = False,
    as_user: AsOpt = None,
) -> None:
    """Have a model write a tool for DESCRIPTION, then validate, review and deploy it like `propose`."""
    foundry = open_foundry(home, as_user, record=record)
    visible = load_examples(read_text(examples, "examples file"), where=str(examples)) if examples else ()
    hidden = load_examples(read_text(holdout, "held-out examples file"), where=str(holdout)) if holdout else ()

    def run(listener: Listener | None) -> Outcome:
        return foundry.request(description, examples=visible, holdout=hidden, model=model, on_event=listener)
    render.finish(run(None) if as_json else render.with_spinner(run), as_json)


@app.command()
def cancel(
    request_id: Annotated[str, typer.Argument(help="The request to cancel (its id, or a unique prefix of it).")],
    home: HomeOpt = None, as_json: JsonOpt = False, as_user: AsOpt = None,
) -> None:
    """Cancel a running or pending request: it stops at its next step boundary and ends `cancelled`, audited.

    Exit 0 when it was cancelled; 1 when it is too late (it was approved, merged or had ended), saying why."""
    foundry = open_foundry(home, as_user)
    outcome = foundry.cancel(request_id)
    if as_json:
        print_json(outcome.to_json())
    elif outcome.status == "cancelled":
        earlier = outcome.reason.startswith("not cancelled")  # by someone before: the request stays as it ended
        reason = f"it was cancelled before: {foundry.request_row(outcome.request_id).reason}" if earlier else \
            outcome.reason
        out.print(f"[bold]cancelled[/bold]: {outcome.request_id}: {escape(reason)}")
    else:
        why = outcome.reason.removeprefix("not cancelled: ")
        out.print(f"[bold red]not cancelled[/bold red]: {outcome.request_id} is {outcome.status}: {escape(why)}")
    raise typer.Exit(0 if outcome.status == "cancelled" else 1)


@app.command("run")
def run_agent(
    task: Annotated[str, typer.Argument(help="The task for the reference agent.")],
    model: ModelOpt = None, record: RecordOpt = None, home: HomeOpt = None, as_json: JsonOpt = False,
    as_user: AsOpt = None,
) -> None:
    """Run the reference agent on TASK: it uses deployed tools and requests the ones it lacks."""
    foundry = open_foundry(home, as_user, record=record)
    result = _agent(foundry, foundry.model(model), task, quiet=as_json)
    if as_json:
        print_json({"answer": result.answer, "finished": result.finished, "steps": result.steps,
                    "requests": list(result.requests), "usage": result.usage.to_json()})
    raise typer.Exit(0 if result.finished else 1)


def _agent(foundry: Foundry, model: Model, task: str, *, quiet: bool) -> AgentResult:
    from toolfoundry.surfaces.agent import Agent

    def on_agent(kind: str, data: dict[str, JSON]) -> None:
        if quiet:
            return
        if kind == "turn":
            out.print(f"[bold magenta]agent[/bold magenta] turn {data['step']} — tools offered: "
                      f"{escape(', '.join(map(str, data['tools'] or [])))}")
        elif kind == "tool_call":
            out.print(f"  [magenta]calls[/magenta] {data['name']}({escape(str(data['arguments']))})")
        elif kind == "tool_result":
            out.print(f"  [magenta]got[/magenta]   {escape(json.dumps(data['result'], ensure_ascii=False))}")
        elif kind == "capability":
            out.print(f"  [magenta]lacks a capability[/magenta]: {escape(str(data['description']))}")
        elif kind == "capability_result":
            out.print(f"  [magenta]toolfoundry says[/magenta]: {escape(str(data['text']))}")
        elif kind == "answer":
            out.print(f"[bold magenta]agent answers[/bold magenta]: {escape(str(data['text']))}")

    agent = Agent(foundry, model, max_steps=foundry.settings.generation.agent_max_steps, on_event=on_agent,
                  on_request_event=None if quiet else render.event)
    return agent.run(task)


def _summary(kind: str, d: dict[str, JSON]) -> str:
    """A few words on a recorded audit event, for the demo's audit trail."""
    if kind == "stage":
        return f"{d['stage']} (attempt {d.get('attempt')}): {'ok' if d['ok'] else 'failed'}"
    if kind == "model.call":
        return f"{d['purpose']}, response sha256 {str(d['response_sha256'])[:12]}…"
    if kind == "policy.decision":
        return f"{d['route']} by rule {d['rule']}"
    if kind == "merge":
        return f"commit {str(d['commit'])[:12]}"
    if kind == "call":
        return f"{d['name']} v{d['version']} ok={d['ok']}"
    return ""


@app.command()
def demo(home: HomeOpt = None) -> None:
    """The main job on local defaults, no API key: a scripted agent extends itself mid-task, for real."""
    from toolfoundry.home import Home
    from toolfoundry.surfaces.agent import demo_script
    target = home or Path(tempfile.mkdtemp(prefix="toolfoundry-demo-")) / "home"
    Home.init(settings(target))
    out.print("[bold]toolfoundry demo[/bold]\n"
              "[yellow]The model here is SCRIPTED[/yellow]: it replays recorded responses from"
              f" {demo_script().name}, so no API key is needed. Everything else is real: the bubblewrap sandbox,"
              " the git repository of tools, the durable workflow and the audit log.\n"
              f"home: {target}\ntask: {DEMO_TASK}\n")
    foundry = open_foundry(target)
    result = _agent(foundry, foundry.model(f"scripted:{demo_script()}"), DEMO_TASK, quiet=False)
    out.print("\n[bold]audit trail[/bold] (toolfoundry audit log):")
    for e in foundry.events():
        out.print(f"  #{e.seq:<3} {e.kind:<17} {escape(e.actor):<12} {escape(_summary(e.kind, e.data))}")
    verified = foundry.verify()
    out.print(f"\naudit verify: {'ok' if verified.ok else 'BROKEN'} ({verified.count} events)")
    out.print(f"explore it: toolfoundry tools --home {target}   |   toolfoundry audit log --home {target}")
    raise typer.Exit(0 if result.finished and verified.ok else 1)
