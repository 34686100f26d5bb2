"""The words that name things: JSON, severities, statuses, routes, sources, roles, the meta-tool names.

Owns the ``Literal`` types and the constant sets listing their values. It does not define data that flows
(the dataclasses are in the other modules of ``core``) and imports nothing of toolfoundry.
"""

from __future__ import annotations

from typing import Any, Literal

JSON = Any
"""Any JSON value: None, bool, int, float, str, list of JSON, dict of str to JSON."""

Severity = Literal["error", "warning", "info"]
"""``error`` fails its stage; ``warning`` and ``info`` are shown (to reviewers, to the model) and do not."""
Status = Literal["running", "deployed", "rejected", "pending_review", "failed", "cancelled"]
"""Where a request is. ``running`` and ``pending_review`` are the only non-terminal ones; ``cancelled``: its
requester stopped it before it merged."""
Route = Literal["auto", "reviewers", "human", "deny"]
"""Where the policy sends a candidate that reached review."""
Source = Literal["propose", "request", "mcp"]
"""Where a candidate came from: ``propose`` (a person or a program, CLI or API), ``request`` (a model
wrote it for a described need), ``mcp`` (an agent proposed its own code through the MCP server)."""
SOURCES: tuple[Source, ...] = ("propose", "request", "mcp")
"""Every value of ``Source``, in that order (policy rules may match any of them)."""
ROUTES: tuple[Route, ...] = ("auto", "reviewers", "human", "deny")
"""Every route a policy rule may name."""
ROLES: tuple[str, ...] = ("security", "correctness", "interface")
"""The reviewer-agent roles; ``prompts/review_<role>.md`` holds each one's instructions."""
META_TOOL_NAMES = frozenset({"request_capability", "propose_tool", "request_status", "search_tools", "call_tool"})
"""The meta-tools every agent is offered (MCP server, reference agent); no deployed tool may take a name of one."""
TERMINAL: frozenset[Status] = frozenset({"deployed", "rejected", "failed", "cancelled"})
"""Statuses a request never leaves."""
