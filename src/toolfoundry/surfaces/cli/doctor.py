"""``toolfoundry doctor``: check every part of a home and say, part by part, what is missing or damaged.

It looks at what ``audit verify`` does not: that the parts of the home exist and agree — the schema is
one this release can use, ``tools.git`` holds every object its refs need, every deployed version's merge
commit is there, on ``main``, with ``tool.py`` of the reviewed sha256 — and also runs the audit chain's
check and the sandbox's. Exit 0 when every check passed, 1 when one found a problem, 2 when DIR is not a
home at all. It opens the home's stores as every command does (a home from an older release is
upgraded), never launches workflows, and never finishes or repairs anything.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from toolfoundry.errors import NotInitialised, SandboxUnavailable, ToolfoundryError
from toolfoundry.health import (
    Check,
    check_repository,
    check_versions,
    deployed_versions,
    was_made,
    why_not_open,
)
from toolfoundry.settings import Settings
from toolfoundry.surfaces.cli.app import HomeOpt, JsonOpt, app, out, print_json, settings

__all__ = ["checks", "doctor"]


@app.command()
def doctor(home: HomeOpt = None, as_json: JsonOpt = False,
           skip_sandbox: Annotated[bool, typer.Option("--skip-sandbox", help="Do not start a sandbox to check"
                                                                          " it.")] = False) -> None:
    """Check every part of a home: its files, the schema, tools.git, each deployed version, the audit chain, the sandbox."""
    found = checks(settings(home), sandbox=not skip_sandbox)
    ok = all(c.ok for c in found)
    if as_json:
        print_json({"ok": ok, "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in found]})
    else:
        for c in found:
            out.print(f"{'[green]ok[/green]  ' if c.ok else '[red]FAIL[/red]'}  {c.name:<18} {escape(c.detail)}")
        out.print("every check passed" if ok else "damaged: see Troubleshooting in the README for what each means")
    raise typer.Exit(0 if ok else 1)


def checks(resolved: Settings, *, sandbox: bool = True) -> list[Check]:
    """Every check, in order; a check that cannot run because an earlier one failed is not run."""
    from toolfoundry.home import missing
    home = resolved.home
    gaps = missing(home)
    if not was_made(home):
        raise NotInitialised(why_not_open(home, gaps))
    found = [Check(name="home", ok=not gaps, detail=why_not_open(home, gaps) if gaps else f"{home}: every part"
                   " present")]
    schema = _schema(resolved) if resolved.db.is_file() else None
    if schema is not None:
        found.append(schema)
    repo = check_repository(resolved.repo)
    found.append(repo)
    if repo.ok and resolved.db.is_file():
        found.append(check_versions(resolved.repo, deployed_versions(resolved.db)))
    if schema is not None and schema.ok:
        found.append(_audit(resolved))
    if sandbox:
        found.append(_sandbox(resolved))
    return found


def _schema(resolved: Settings) -> Check:
    from toolfoundry.store.db import Database, check_version
    from toolfoundry.store.migrations import MIGRATIONS
    try:
        db = Database(resolved.db)
        try:
            todo = check_version(db)
        finally:
            db.close()
    except ToolfoundryError as exc:
        return Check(name="schema", ok=False, detail=str(exc))
    if todo:
        return Check(name="schema", ok=True, detail=f"{len(todo)} of {len(MIGRATIONS)} migrations to apply;"
                                                    f" the next command upgrades it")
    return Check(name="schema", ok=True, detail=f"all {len(MIGRATIONS)} migrations applied")


def _audit(resolved: Settings) -> Check:
    from toolfoundry.home import close_parts, open_parts
    from toolfoundry.models.cache import ModelCache
    try:
        parts = open_parts(resolved, ModelCache(resolved.model_env, resolved.generation.model_settings()))
        try:
            result = parts.audit.verify()
        finally:
            close_parts(parts)
    except ToolfoundryError as exc:
        return Check(name="audit log", ok=False, detail=str(exc))
    if result.ok:
        return Check(name="audit log", ok=True, detail=f"{result.count} events, chain intact")
    return Check(name="audit log", ok=False, detail=f"broken at event #{result.first_bad_seq}: {result.reason}")


def _sandbox(resolved: Settings) -> Check:
    from toolfoundry.sandbox.bwrap import BwrapSandbox
    try:
        BwrapSandbox(resolved.sandbox).check()
    except SandboxUnavailable as exc:
        return Check(name="sandbox", ok=False, detail=str(exc))
    return Check(name="sandbox", ok=True, detail="a sandboxed python runs with every layer applied")
