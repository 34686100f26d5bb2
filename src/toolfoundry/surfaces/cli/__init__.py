"""The ``toolfoundry`` command line: parses flags, builds Settings, calls the API, prints, exits.

Exit codes (a contract): 0 success, 1 the request was rejected or the call failed, 2 usage or
infrastructure error (one-line reason on stderr), 3 pending review. Owns presentation only: every
decision is made in the API and below.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from toolfoundry import settings as config
from toolfoundry.api import Foundry
from toolfoundry.core import JSON, Outcome, Verdict
from toolfoundry.errors import ToolfoundryError, UsageError
from toolfoundry.examples import load_examples
from toolfoundry.toolfile import load_candidate, read_text

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="toolfoundry: validate, review, merge and load new tools for LLM agents, safely.")
review_app = typer.Typer(no_args_is_help=True, help="Review requests that wait for a human.")
audit_app = typer.Typer(no_args_is_help=True, help="Inspect and verify the hash-chained audit log.")
app.add_typer(review_app, name="review")
app.add_typer(audit_app, name="audit")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

HomeOpt = Annotated[Path | None, typer.Option("--home", help="Foundry home (default $TOOLFOUNDRY_HOME, else ./.toolfoundry).",
                                             show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
AsOpt = Annotated[str | None, typer.Option("--as", help="Who is acting (default: the logged-in user).")]
EXIT = {"deployed": 0, "rejected": 1, "pending_review": 3, "failed": 2, "running": 2}


def _settings(home: Path | None, user: str | None = None) -> config.Settings:
    return config.load(home or config.default_home(os.environ), os.environ, user=user)


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"toolfoundry: error: {escape(message)}")
    raise typer.Exit(code)


def _open(home: Path | None, user: str | None = None, *, settle: bool = True) -> Foundry:
    foundry = Foundry(_settings(home, user))
    foundry.on_progress(lambda message: err.print(f"[dim]{escape(message)}[/dim]"))
    if settle:
        foundry.settle()
    return foundry


def _print_json(data: JSON) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# ── rendering ──────────────────────────────────────────────────────────────────────────────────


def _render_verdict(v: Verdict) -> None:
    mark = "[green]✓[/green]" if v.ok else "[red]✗[/red]"
    out.print(f"  {mark} {v.stage:<9} {v.ms:8.1f} ms")
    for f in v.findings:
        where = f" {f.file}:{f.line}" if f.file and f.line else (f" {f.file}" if f.file else "")
        colour = {"error": "red", "warning": "yellow", "info": "dim"}[f.severity]
        out.print(f"      [{colour}]{f.severity}[/{colour}] {escape(f.code)}{escape(where)}: {escape(f.message)}")
        if f.input is not None:
            out.print(f"        input:    {escape(json.dumps(f.input))}")
        if f.expected is not None or f.actual is not None:
            out.print(f"        expected: {escape(json.dumps(f.expected))}")
            out.print(f"        actual:   {escape(json.dumps(f.actual))}")


def _listener(rid: str, kind: str, data: dict[str, JSON]) -> None:
    if kind == "request.opened":
        out.print(f"[bold]request {rid}[/bold] ({data.get('examples')} examples, {data.get('holdout')} held out,"
                  f" tests: {'yes' if data.get('tests') else 'no'})")
    elif kind == "assess":
        out.print(f"  → assessed the deployed tools: {escape(str(data['reason']))}")
    elif kind == "model.call":
        usage = data.get("usage") or {}
        what = "the spec" if data["purpose"] == "spec" else f"candidate {data['call']}"
        out.print(f"  → model {escape(str(data['model']))} wrote {what}"
                  f" ({usage.get('prompt_tokens', 0)}+{usage.get('completion_tokens', 0)} tokens)")
    elif kind == "stage":
        if data["stage"] == "generate":
            out.print(f"  [bold]attempt {data.get('attempt')}[/bold]")
        _render_verdict(Verdict(stage=str(data["stage"]), ok=bool(data["ok"]), ms=float(data["ms"]),
                                findings=tuple(_finding(f) for f in data["findings"])))
    elif kind == "policy.decision":
        out.print(f"  → policy: {data['route']} ({data['rule']}): {escape(str(data['reason']))}")
    elif kind == "pr.opened":
        out.print(f"  → pull request {data['branch']} ({str(data['head'])[:12]}): {data['name']} v{data['version']}")
    elif kind == "review.vote":
        reasons = "; ".join(f"line {r.get('line')}: {r.get('text')}" if r.get("line") else str(r.get("text"))
                            for r in data.get("reasons") or [])
        out.print(f"  → {escape(str(data['reviewer']))} ({data['role']}) votes {data['verdict']}"
                  f"{': ' + escape(reasons) if reasons else ''}")
    elif kind == "review.quorum":
        out.print(f"  → reviewers: {data['outcome']}: {escape(str(data.get('reason', '')))}")
    elif kind == "review.decided":
        verb = "approved" if data["approve"] else "rejected"
        out.print(f"  → {verb} by {escape(str(data['reviewer']))}")
    elif kind == "merge":
        out.print(f"  → merged into main at {str(data['commit'])[:12]}")
    elif kind == "deploy":
        out.print(f"  → loaded {data['name']} v{data['version']}, sha256 {str(data['sha256'])[:16]}… verified")


_NEXT = {"request.opened": "checking the tool contract", "assess": "asking the model for a spec",
         "model.call": "checking what the model wrote", "generate": "checking the tool contract",
         "contract": "running static checks",
         "checks": "running the tool's tests in the sandbox", "tests": "running the examples in the sandbox",
         "oracle": "applying the policy", "policy.decision": "opening the pull request",
         "review.decided": "merging", "merge": "loading the merged tool"}


def _with_spinner(run: Any) -> Any:
    """Run ``run(listener)`` while a spinner on stderr names the stage in progress."""
    with err.status("starting…", spinner="dots") as status:
        def listener(rid: str, kind: str, data: dict[str, JSON]) -> None:
            _listener(rid, kind, data)
            step = _NEXT.get(str(data.get("stage")) if kind == "stage" else kind)
            if step:
                status.update(f"{step}…")
        return run(listener)


def _finding(data: Any) -> Any:
    from toolfoundry.core import Finding
    return Finding(**data)


def _finish(outcome: Outcome, as_json: bool) -> NoReturn:
    if as_json:
        _print_json(outcome.to_json())
    else:
        colour = {"deployed": "green", "rejected": "red", "pending_review": "yellow"}.get(outcome.status, "red")
        out.print(f"[bold {colour}]{outcome.status}[/bold {colour}]: {escape(outcome.reason)}")
        if outcome.status == "pending_review":
            out.print(f"  approve: toolfoundry review approve {outcome.request_id} --as REVIEWER")
            out.print(f"  reject:  toolfoundry review reject {outcome.request_id} --reason TEXT --as REVIEWER")
    if outcome.status == "failed" and not as_json:
        err.print(f"toolfoundry: error: {escape(outcome.reason)}")
    raise typer.Exit(EXIT[outcome.status])


# ── commands ───────────────────────────────────────────────────────────────────────────────────


@app.command()
def init(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Create a foundry home: a bare git repository of tools, toolfoundry.toml and the database."""
    result = Foundry.init(_settings(home))
    if as_json:
        _print_json({"home": str(result.home), "created": result.created, "sandbox_problem": result.sandbox_problem})
        return
    out.print(f"{'initialised' if result.created else 'already initialised'}: {result.home}")
    if result.sandbox_problem:
        err.print(f"[yellow]warning:[/yellow] the sandbox cannot run here, so proposals and calls will be"
                  f" refused until it can: {escape(result.sandbox_problem)}")


@app.command()
def propose(
    path: Annotated[Path, typer.Argument(help="A tool module (.py) or a directory laid out like tools/<name>/.")],
    tests: Annotated[Path | None, typer.Option("--tests", help="pytest file for the tool.")] = None,
    examples: Annotated[Path | None, typer.Option("--examples", help="Acceptance examples (JSON list).")] = None,
    holdout: Annotated[Path | None, typer.Option("--holdout", help="Held-out examples, never in the repo.")] = None,
    allow_net: Annotated[list[str] | None, typer.Option("--allow-net", help="Host the tool may reach (repeatable).")] = None,
    home: HomeOpt = None, as_json: JsonOpt = False, as_user: AsOpt = None,
) -> None:
    """Validate a tool, open its pull request, route it to review, and deploy it if approved."""
    foundry = _open(home, as_user)
    candidate = load_candidate(path, tests=tests, examples=examples, holdout=holdout, allow_net=allow_net or [])
    if as_json:
        outcome = foundry.propose(candidate)
    else:
        outcome = _with_spinner(lambda listener: foundry.propose(candidate, on_event=listener))
    _finish(outcome, as_json)


ModelOpt = Annotated[str | None, typer.Option("--model", help="PROVIDER:NAME, e.g. openai:gpt-4.1-mini or"
                                             " scripted:FILE (default: [generation] model / $TOOLFOUNDRY_MODEL).")]


@app.command()
def request(
    description: Annotated[str, typer.Argument(help="The capability needed, in plain words.")],
    examples: Annotated[Path | None, typer.Option("--examples", help="Acceptance examples shown to the model.")] = None,
    holdout: Annotated[Path | None, typer.Option("--holdout", help="Held-out examples, never shown to the model.")] = None,
    model: ModelOpt = None, home: HomeOpt = None, as_json: JsonOpt = False, as_user: AsOpt = None,
) -> None:
    """Have a model write a tool for DESCRIPTION, then validate, review and deploy it like `propose`."""
    foundry = _open(home, as_user)
    visible = load_examples(read_text(examples, "examples file"), where=str(examples)) if examples else ()
    hidden = load_examples(read_text(holdout, "held-out examples file"), where=str(holdout)) if holdout else ()

    def run(listener: Any) -> Outcome:
        return foundry.request(description, examples=visible, holdout=hidden, model=model, on_event=listener)
    _finish(run(None) if as_json else _with_spinner(run), as_json)


@app.command("run")
def run_agent(
    task: Annotated[str, typer.Argument(help="The task for the reference agent.")],
    model: ModelOpt = None, home: HomeOpt = None, as_json: JsonOpt = False, as_user: AsOpt = None,
) -> None:
    """Run the reference agent on TASK: it uses deployed tools and requests the ones it lacks."""
    foundry = _open(home, as_user)
    result = _agent(foundry, foundry.model(model), task, quiet=as_json)
    if as_json:
        _print_json({"answer": result.answer, "finished": result.finished, "steps": result.steps,
                     "requests": list(result.requests), "usage": result.usage.to_json()})
    raise typer.Exit(0 if result.finished else 1)


def _agent(foundry: Foundry, model: Any, task: str, *, quiet: bool) -> Any:
    from toolfoundry.surfaces.agent import Agent

    def on_agent(kind: str, data: dict[str, JSON]) -> None:
        if quiet:
            return
        if kind == "turn":
            out.print(f"[bold magenta]agent[/bold magenta] turn {data['step']} — tools offered: "
                      f"{escape(', '.join(map(str, data['tools'])))}")
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
                  on_request_event=None if quiet else _listener)
    return agent.run(task)


DEMO_TASK = "Convert this week's temperature readings of 21.5 °C, 37 °C and -40 °C to Fahrenheit."


@app.command()
def demo(home: HomeOpt = None) -> None:
    """The main job on local defaults, no API key: a scripted agent extends itself mid-task, for real."""
    import tempfile

    from toolfoundry.surfaces.agent import demo_script
    target = home or Path(tempfile.mkdtemp(prefix="toolfoundry-demo-")) / "home"
    settings = _settings(target)
    Foundry.init(settings)
    out.print("[bold]toolfoundry demo[/bold]\n"
              "[yellow]The model here is SCRIPTED[/yellow]: it replays recorded responses from"
              f" {demo_script().name}, so no API key is needed. Everything else is real: the bubblewrap sandbox,"
              " the git repository of tools, the durable workflow and the audit log.\n"
              f"home: {target}\ntask: {DEMO_TASK}\n")
    foundry = _open(target)
    result = _agent(foundry, foundry.model(f"scripted:{demo_script()}"), DEMO_TASK, quiet=False)
    out.print("\n[bold]audit trail[/bold] (toolfoundry audit log):")
    for e in foundry.events():
        detail = {"stage": lambda d: f"{d['stage']} (attempt {d.get('attempt')}): {'ok' if d['ok'] else 'failed'}",
                  "model.call": lambda d: f"{d['purpose']}, response sha256 {str(d['response_sha256'])[:12]}…",
                  "policy.decision": lambda d: f"{d['route']} by rule {d['rule']}",
                  "merge": lambda d: f"commit {str(d['commit'])[:12]}",
                  "call": lambda d: f"{d['name']} v{d['version']} ok={d['ok']}"}.get(e.kind, lambda d: "")(e.data)
        out.print(f"  #{e.seq:<3} {e.kind:<17} {escape(e.actor):<12} {escape(detail)}")
    verified = foundry.verify()
    out.print(f"\naudit verify: {'ok' if verified.ok else 'BROKEN'} ({verified.count} events)")
    out.print(f"explore it: toolfoundry tools --home {target}   |   toolfoundry audit log --home {target}")
    raise typer.Exit(0 if result.finished and verified.ok else 1)


@app.command()
def tools(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List deployed tools (the active version of each)."""
    foundry = _open(home)
    deployed = foundry.tools()
    if as_json:
        _print_json([t.to_json() for t in deployed])
        return
    if not deployed:
        out.print("no tools deployed yet; propose one with `toolfoundry propose PATH`")
        return
    table = Table("name", "version", "signature", "sha256", "description")
    for t in deployed:
        table.add_row(t.ref.name, str(t.ref.version), escape(str(t.spec.get("signature"))), t.ref.sha256[:12],
                      escape(str(t.spec.get("description", "")).splitlines()[0] if t.spec.get("description") else ""))
    out.print(table)


@app.command()
def call(
    name: Annotated[str, typer.Argument(help="Tool name.")],
    args: Annotated[str, typer.Option("--args", help='Arguments as a JSON object, e.g. \'{"text": "hi"}\'.')] = "{}",
    home: HomeOpt = None, as_json: JsonOpt = False, as_user: AsOpt = None,
) -> None:
    """Call a deployed tool in the sandbox."""
    try:
        parsed = json.loads(args, parse_constant=_no_constant)
    except ValueError as exc:
        raise UsageError(f"--args is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise UsageError("--args must be a JSON object of keyword arguments")
    result = _open(home, as_user).call(name, parsed)
    if as_json:
        _print_json(result.to_json())
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
    to: Annotated[int | None, typer.Option("--to", help="Version to make active (default: the previous one).")] = None,
    home: HomeOpt = None, as_json: JsonOpt = False, as_user: AsOpt = None,
) -> None:
    """Make an earlier deployed version of a tool the active one."""
    tool = _open(home, as_user).rollback(name, to)
    if as_json:
        _print_json(tool.to_json())
    else:
        out.print(f"{name} is now v{tool.ref.version} (sha256 {tool.ref.sha256[:12]}, commit {str(tool.ref.commit)[:12]})")


@review_app.command("list")
def review_list(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Requests waiting for a human."""
    rows = _open(home).pending()
    if as_json:
        _print_json([r.to_json() for r in rows])
        return
    if not rows:
        out.print("nothing waits for review")
        return
    table = Table()
    table.add_column("request", no_wrap=True)
    table.add_column("tool", no_wrap=True)
    table.add_column("requester")
    table.add_column("since", no_wrap=True)
    table.add_column("why")
    for r in rows:
        table.add_row(r.id, r.name or "?", escape(r.requester), r.updated[:16].replace("T", " "), escape(r.reason))
    out.print(table)


@review_app.command("show")
def review_show(request_id: Annotated[str, typer.Argument(help="Request id (or a unique prefix).")],
                home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """A request's evidence: stages, findings, decision, the diff, and its audit trail."""
    foundry = _open(home)
    row = foundry.request_row(request_id)
    diff = foundry.forge.diff(row.id) if foundry.forge.branch_head(row.id) else ""
    events = foundry.events(row.id)
    if as_json:
        _print_json({**row.to_json(), "diff": diff, "events": [e.to_json() for e in events]})
        return
    out.print(f"[bold]request {row.id}[/bold]  {row.status}  tool {row.name}  requested by {escape(row.requester)}")
    if row.decision:
        out.print(f"policy: {row.decision['route']} ({row.decision['rule']}): {escape(str(row.decision['reason']))}")
    for stage in (row.outcome or {}).get("stages", []):
        _listener(row.id, "stage", stage)
    if diff:
        out.print("[bold]diff[/bold]")
        out.print(escape(diff))
    out.print("[bold]audit trail[/bold]")
    for e in events:
        out.print(f"  #{e.seq} {e.ts[:19]} {e.kind} by {escape(e.actor)}")


def _decide(request_id: str, approve: bool, reason: str, home: Path | None, as_user: str | None,
            as_json: bool) -> NoReturn:
    foundry = _open(home, as_user)
    def run(listener: Any) -> Outcome:
        return foundry.review(request_id, approve=approve, reviewer=foundry.settings.user, reason=reason,
                              on_event=listener)
    outcome = run(None) if as_json else _with_spinner(run)
    _finish(outcome, as_json)


@review_app.command("approve")
def review_approve(request_id: Annotated[str, typer.Argument(help="Request id (or a unique prefix).")],
                   reason: Annotated[str, typer.Option("--reason", help="Why (optional).")] = "",
                   home: HomeOpt = None, as_json: JsonOpt = False, as_user: AsOpt = None) -> None:
    """Approve a pending request: merge it and deploy the tool."""
    _decide(request_id, True, reason, home, as_user, as_json)


@review_app.command("reject")
def review_reject(request_id: Annotated[str, typer.Argument(help="Request id (or a unique prefix).")],
                  reason: Annotated[str, typer.Option("--reason", help="Why (required).")] = "",
                  home: HomeOpt = None, as_json: JsonOpt = False, as_user: AsOpt = None) -> None:
    """Reject a pending request, with a reason."""
    _decide(request_id, False, reason, home, as_user, as_json)


@audit_app.command("verify")
def audit_verify(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Check the hash chain; exit 1 naming the first bad event if anything was edited, deleted or reordered."""
    result = _open(home).verify()
    if as_json:
        _print_json({"ok": result.ok, "count": result.count, "first_bad_seq": result.first_bad_seq,
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
    events = _open(home).events(request)
    for e in events:
        if as_json:
            sys.stdout.write(json.dumps(e.to_json(), ensure_ascii=False) + "\n")
        else:
            out.print(f"#{e.seq} {e.ts[:23]} {e.kind:<17} {escape(e.actor):<10} {e.request_id or '-':<22} "
                      f"{escape(json.dumps(e.data, ensure_ascii=False)[:100])}")


def main() -> None:
    """Console-script entry point: run the app and map our errors to exit code 2 with a one-line reason."""
    try:
        code = app(standalone_mode=False)  # returns typer.Exit's code instead of raising it
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except ToolfoundryError as exc:
        err.print(f"toolfoundry: error: {escape(str(exc))}")
        sys.exit(2)
    except Exception as exc:  # click's own usage errors arrive here in non-standalone mode
        import click
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(130)
        raise
    sys.exit(code if isinstance(code, int) else 0)


@app.command()
def ui(port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8765,
       host: Annotated[str, typer.Option("--host", help="Address to bind (loopback only, unless --insecure-bind).")]
       = "127.0.0.1",
       insecure_bind: Annotated[bool, typer.Option("--insecure-bind",
                                                   help="Allow a non-loopback --host (the UI has no login).")] = False,
       home: HomeOpt = None, as_user: AsOpt = None) -> None:
    """Serve the review UI in the browser: the queue, each request's evidence, approve and reject."""
    try:
        from toolfoundry.surfaces.web.app import serve
    except ImportError as exc:
        _fail(f"the review UI needs the 'ui' extra: pip install 'toolfoundry[ui]' ({exc})")
    settings = _settings(home, as_user)
    serve(settings, host=host, port=port, reviewer=settings.user, insecure_bind=insecure_bind,
          say=lambda message: err.print(escape(message)))


@app.command()
def serve(transport: Annotated[str, typer.Option("--transport", help="stdio (a host starts this process) or http.")]
          = "stdio",
          port: Annotated[int, typer.Option("--port", help="HTTP port (0 picks a free one).")] = 8766,
          host: Annotated[str, typer.Option("--host", help="HTTP address to bind.")] = "127.0.0.1",
          no_auth: Annotated[bool, typer.Option("--no-auth", help="Serve HTTP without a bearer token"
                                                " (loopback addresses only).")] = False,
          home: HomeOpt = None, as_user: AsOpt = None) -> None:
    """Serve every deployed tool, plus request_capability, propose_tool, request_status and search_tools, over MCP.

    Clients are told when the tool list changes, whoever changed it. Over HTTP every request needs
    `Authorization: Bearer TOKEN`: $TOOLFOUNDRY_MCP_TOKEN, else the token kept in HOME/mcp-token
    (created on first use, mode 0600).
    """
    if transport not in ("stdio", "http"):
        _fail(f"--transport must be stdio or http, not {transport!r}")
    if not 0 <= port <= 65535:
        _fail(f"--port must be between 0 and 65535, not {port}")
    from toolfoundry.surfaces.mcp.server import FoundryServer
    from toolfoundry.surfaces.mcp.transport import serve_http, serve_stdio, token_file
    from toolfoundry.surfaces.web.security import is_loopback
    if transport == "http" and no_auth and not is_loopback(host):
        _fail(f"--no-auth is only allowed on a loopback address, not {host}")
    foundry = Foundry(_settings(home, as_user), hold_home=False)
    foundry.on_progress(lambda message: err.print(f"[dim]{escape(message)}[/dim]"))
    try:
        foundry.settle()
        server = FoundryServer(foundry)
        if transport == "stdio":
            serve_stdio(server)
            return
        token = None
        if not no_auth:
            token = os.environ.get("TOOLFOUNDRY_MCP_TOKEN") or None
            if token is None:
                token, path, created = token_file(foundry.settings.home)
                err.print(f"bearer token {'created in' if created else 'read from'} {path}")

        def ready(url: str) -> None:
            err.print(f"toolfoundry MCP server at {url} ({len(foundry.tools())} tools; Ctrl-C stops it)")

        serve_http(server, host=host, port=port, token=token, on_ready=ready)
    finally:
        foundry.close()
