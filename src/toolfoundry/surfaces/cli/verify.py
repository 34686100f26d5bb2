"""``toolfoundry verify PATH...``: the gate of ``propose`` on tool directories of a checkout, without a home.

Each ``tools/<name>/`` directory goes through the stages the workflow runs (``stages/``): the contract and
the examples against the signature, the static checks, then — only if both passed — the tool's pytest
tests in the bubblewrap sandbox and its examples run there and judged here, on the host. A directory
must be named after its tool, and a ``sha256`` in its ``tool.toml`` must be the code's. Held-out examples
are kept by the foundry, not in the repository, so they are not run here (the summary says so); the
foundry runs them before it merges. Settings are the defaults and ``TOOLFOUNDRY_*`` variables only: a
checkout's own files never configure the gate that judges it.

Output: text, or ``--json``; under GitHub Actions (``GITHUB_ACTIONS=true``) each finding is also an
annotation (``::error file=…,line=…::…``) and a Markdown job summary is appended to
``$GITHUB_STEP_SUMMARY``. Exit 0 when every tool passed, 1 when one failed, 2 for a path that is not a tool.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from toolfoundry.core import JSON, Candidate, Finding, Verdict, verdict
from toolfoundry.errors import UsageError
from toolfoundry.sandbox.bwrap import BwrapSandbox
from toolfoundry.settings import Settings, load
from toolfoundry.stages import checks, contract, oracle, tests
from toolfoundry.surfaces.cli import render
from toolfoundry.surfaces.cli.app import JsonOpt, app, out, print_json
from toolfoundry.toolfile import code_digest, load_candidate, read_manifest

HOLDOUT_NOTE = ("Held-out examples are kept by the foundry, not in this repository, and were not run here; the"
                " foundry judges them before it merges.")


@dataclass(frozen=True, slots=True, kw_only=True)
class Checked:
    """One tool directory and its verdicts."""

    path: Path
    name: str
    stages: tuple[Verdict, ...]

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.stages)

    def to_json(self) -> dict[str, JSON]:
        return {"path": str(self.path), "name": self.name, "ok": self.ok, "stages": [v.to_json() for v in self.stages]}


def gate_settings(environ: dict[str, str]) -> Settings:
    """Defaults and the environment only: no toolfoundry.toml is read (there is no home)."""
    with tempfile.TemporaryDirectory(prefix="toolfoundry-verify-") as empty:
        return load(Path(empty), environ)


def verify_tool(path: Path, sandbox: BwrapSandbox, s: Settings) -> Checked:
    """Run the gate on one ``tools/<name>/`` directory (``UsageError`` when it is not one)."""
    if not path.is_dir() or not os.path.lexists(path / "tool.py"):  # a tool.py that is a FIFO: load_candidate says so
        raise UsageError(f"{path}: not a tool directory (no tool.py); give tools/<name>/ directories")
    candidate = load_candidate(path)
    spec, v = contract.stage(candidate.code, name=candidate.name)
    findings = list(v.findings) + _layout(path, candidate, spec.name if spec else None)
    if spec is not None:
        findings += contract.example_findings(spec, candidate.examples, ())
    stages: tuple[Verdict, ...] = (verdict("contract", findings, v.ms, v.details),)
    stages += (checks.run_checks(candidate.code, spec, candidate.permissions),)
    if spec is not None and all(x.ok for x in stages):
        stages += (tests.run_tests(sandbox, code=candidate.code, tests=candidate.tests, limits=s.test_limits),)
        stages += (oracle.evaluate(sandbox, code=candidate.code, function=spec.function, examples=candidate.examples,
                                   holdout=(), permissions=candidate.permissions, limits=s.test_limits),)
    return Checked(path=path, name=spec.name if spec else (candidate.name or path.name), stages=stages)


def _layout(path: Path, candidate: Candidate, name: str | None) -> list[Finding]:
    """The repository's own rules: the directory is the tool's name; the manifest's sha256 is the code's."""
    found = []
    if name is not None and path.resolve().name != name:
        found.append(Finding(code="verify.directory-name", file="tool.py", message=(
            f"the tool is named {name!r} but lives in {path.resolve().name}/; tools live in tools/<name>/")))
    manifest = path / "tool.toml"
    recorded = read_manifest(manifest).get("sha256") if manifest.exists() else None
    if isinstance(recorded, str) and recorded != code_digest(candidate.code):
        found.append(Finding(code="verify.sha256-mismatch", file="tool.toml", message=(
            f"tool.toml records sha256 {recorded[:16]}…, but tool.py has {code_digest(candidate.code)[:16]}…:"
            " tool.py changed after its version was made")))
    return found


@app.command()
def verify(
    paths: Annotated[list[Path], typer.Argument(help="Tool directories (tools/<name>/) of a checkout.")],
    as_json: JsonOpt = False,
) -> None:
    """Validate tool directories with the gate of `propose` (not the held-out examples); exit 1 if one fails."""
    s = gate_settings(dict(os.environ))
    sandbox = BwrapSandbox(s.sandbox)
    sandbox.check()  # fail closed: no sandbox, no verdict
    results = [verify_tool(p, sandbox, s) for p in paths]
    ok = all(r.ok for r in results)
    if s.forge.actions:
        for r in results:
            for line in workflow_commands(r):
                print(line, flush=True)
    if s.forge.step_summary:
        with open(s.forge.step_summary, "a", encoding="utf-8") as handle:
            handle.write(summary(results))
    if as_json:
        print_json({"ok": ok, "tools": [r.to_json() for r in results], "holdout": HOLDOUT_NOTE})
    else:
        for r in results:
            out.print(f"{'[green]✓[/green]' if r.ok else '[red]✗[/red]'} {escape(r.name)} ({escape(str(r.path))})")
            for v in r.stages:
                render.verdict(v)
        out.print(f"[dim]{HOLDOUT_NOTE}[/dim]")
    raise typer.Exit(0 if ok else 1)


def _escape(text: str, *, prop: bool = False) -> str:
    """GitHub's workflow-command escaping (properties also escape ``:`` and ``,``)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def workflow_commands(r: Checked) -> list[str]:
    """One workflow command per finding: ``::error``, ``::warning`` or ``::notice`` with file and line."""
    level = {"error": "error", "warning": "warning", "info": "notice"}
    lines = []
    for v in r.stages:
        for f in v.findings:
            props = [f"file={_escape(str(r.path / (f.file or 'tool.py')), prop=True)}"]
            if f.line:
                props.append(f"line={f.line}")
            props.append(f"title={_escape(f'{r.name}: {v.stage} {f.code}', prop=True)}")
            lines.append(f"::{level[f.severity]} {','.join(props)}::{_escape(f.message)}")
    return lines


def summary(results: list[Checked]) -> str:
    """The job summary, in Markdown."""
    lines = ["## toolfoundry verify", "", "| tool | result | " + " | ".join(("contract", "checks", "tests", "oracle"))
             + " |", "|---|---|---|---|---|---|"]
    for r in results:
        by = {v.stage: v for v in r.stages}
        cells = [("passed" if by[st].ok else "**failed**") if st in by else "not run"
                 for st in ("contract", "checks", "tests", "oracle")]
        lines.append(f"| `{r.name}` | {'passed' if r.ok else '**failed**'} | " + " | ".join(cells) + " |")
    failed = [(r, v, f) for r in results for v in r.stages for f in v.findings if f.severity == "error"]
    if failed:
        lines += ["", "### Findings", ""]
        lines += [f"- `{r.name}` {v.stage} `{f.code}` {f.where}: {f.message.replace(chr(10), ' ')[:500]}"
                  for r, v, f in failed[:100]]
    return "\n".join([*lines, "", f"_{HOLDOUT_NOTE}_", ""]) + "\n"
