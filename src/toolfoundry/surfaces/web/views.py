"""What the review pages show, shaped from what the ``Foundry`` facade says about a request.

Owns turning a request's ledger row (its status, decision, permissions, stages), its audit trail and
its diff into plain data for the templates (the risk summary, the stages with their findings, the diff
lines with their classes, the audit trail). It does not do HTTP, security or rendering — that is
``app.py`` and the templates — and it never changes a home.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from toolfoundry.api import Foundry
from toolfoundry.core import JSON, Status
from toolfoundry.errors import ToolfoundryError, UsageError
from toolfoundry.store.audit import Event
from toolfoundry.store.ledger import RequestRow
from toolfoundry.toolfile import tool_path

STATUSES: tuple[Status, ...] = ("pending_review", "running", "deployed", "rejected", "failed", "cancelled")


@dataclass(frozen=True, slots=True, kw_only=True)
class DiffLine:
    """One line of a unified diff and how to colour it."""

    text: str
    """The line, without its newline."""
    kind: str
    """``add``, ``del``, ``hunk``, ``meta`` or ``ctx``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """Everything the evidence page of one request shows."""

    row: RequestRow
    """The ledger row."""
    net_hosts: list[str]
    """Network hosts the tool asks for (high risk)."""
    env_vars: list[str]
    """Environment variables the tool asks for (medium risk)."""
    stages: list[dict[str, Any]]
    """The outcome's stages, each with ``stage``, ``ok``, ``ms``, ``findings``."""
    diff: list[DiffLine]
    """The pull request's diff against main, classified by line."""
    diff_note: str
    """Why there is no diff, or what the code block shows instead, when not the PR diff."""
    events: list[dict[str, Any]]
    """The audit trail: ``seq``, ``ts``, ``kind``, ``actor``, ``short`` (a one-line summary of the data)."""


def all_requests(foundry: Foundry) -> list[RequestRow]:
    """Every request, newest first."""
    return sorted(foundry.requests(*STATUSES), key=lambda r: r.created, reverse=True)


def request_row(foundry: Foundry, rid: str) -> RequestRow | None:
    """The request with exactly this id, or None."""
    try:
        row = foundry.request_row(rid)
    except UsageError:
        return None
    return row if row.id == rid else None


def permissions(row: RequestRow) -> tuple[list[str], list[str]]:
    """The network hosts and env vars a request asks for, from its ledger row."""
    asks = row.asks
    return list(asks.net_hosts), list(asks.env_vars)


def queue_permissions(rows: list[RequestRow]) -> dict[str, tuple[list[str], list[str]]]:
    """``permissions`` for each row, by request id."""
    return {row.id: permissions(row) for row in rows}


def evidence(foundry: Foundry, row: RequestRow) -> Evidence:
    """The evidence of one request."""
    events = foundry.events(row.id)
    net_hosts, env_vars = permissions(row)
    raw = (row.outcome or {}).get("stages")
    stages = [s for s in raw if isinstance(s, dict)] if isinstance(raw, list) else []
    diff, note = _diff(foundry, row)
    return Evidence(row=row, net_hosts=net_hosts, env_vars=env_vars, stages=stages, diff=diff, diff_note=note,
                    events=[_event(e) for e in events])


def tool_commit(row: RequestRow) -> str | None:
    """The merge commit of a deployed request, if the outcome records one."""
    tool = (row.outcome or {}).get("tool")
    commit = tool.get("commit") if isinstance(tool, dict) else None
    return commit if isinstance(commit, str) else None


def classify(text: str) -> list[DiffLine]:
    """Split a unified diff into lines with a class each (no syntax highlighting)."""
    lines = []
    for line in text.splitlines():
        if line.startswith(("diff --git", "index ", "--- ", "+++ ", "new file", "deleted file")):
            kind = "meta"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        lines.append(DiffLine(text=line, kind=kind))
    return lines


def _diff(foundry: Foundry, row: RequestRow) -> tuple[list[DiffLine], str]:
    """The PR diff; once merged (empty diff), the deployed tool.py at its merge commit instead."""
    try:
        text = foundry.diff(row.id)
    except ToolfoundryError as exc:
        return [], f"the diff is unavailable: {exc}"
    if text:
        return classify(text), ""
    commit = tool_commit(row)
    deployed = foundry.deployed_by(row.id) if commit and row.name else None
    if commit and row.name and deployed is not None:
        try:
            code = foundry.code(deployed.ref.name, deployed.ref.version)
        except ToolfoundryError as exc:
            return [], f"merged at {commit[:12]}; the deployed code is unavailable: {exc}"
        return ([DiffLine(text=line, kind="ctx") for line in code.splitlines()],
                f"merged into main at {commit[:12]}; below is {tool_path(row.name)} as deployed")
    return [], "no pull request branch for this request"


def _event(event: Event) -> dict[str, Any]:
    return {"seq": event.seq, "ts": event.ts[:19].replace("T", " "), "kind": event.kind, "actor": event.actor,
            "short": _short(event.data)}


def _short(data: dict[str, JSON]) -> str:
    """A one-line summary of an event's data (bulky parts such as the sandbox description left out)."""
    slim = {k: v for k, v in data.items() if k not in ("sandbox", "findings", "details")}
    if "findings" in data and isinstance(data["findings"], list):
        slim["findings"] = len(data["findings"])
    text = json.dumps(slim, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "…"


