"""What the MCP server says: deployed tools as MCP describes them, request outcomes, progress lines, results.

Pure functions from toolfoundry's vocabulary to the SDK's types, used by ``server.py``; nothing here
touches a foundry or a connection. Every reply that announces a tool says how to call it both ways —
directly, once the client has re-listed its tools, and through the ``call_tool`` dispatcher, for hosts
that froze their tool list when the session began.
"""

from __future__ import annotations

import json

import mcp_types as types

from toolfoundry.core import JSON, Outcome
from toolfoundry.pipeline import events
from toolfoundry.stages.contract.annotations import with_types
from toolfoundry.store.registry import DeployedTool

__all__ = ["NO_MODEL", "error_result", "json_result", "mcp_tool", "next_step", "outcome_json",
           "progress_message", "tool_hit"]

NO_MODEL = ("this server cannot generate tools: that needs a model configured where it runs ([generation] model in"
            " the home's toolfoundry.toml, or TOOLFOUNDRY_MODEL). Write the tool yourself and send it with"
            " propose_tool, or look for a deployed one with search_tools.")
"""What ``request_capability`` answers on a server without a model (where it is not offered either)."""


def mcp_tool(tool: DeployedTool) -> types.Tool:
    """A deployed tool as MCP describes it: its JSON Schemas and description (the result wrapped in an object)."""
    interface = tool.interface
    return types.Tool(name=tool.ref.name, description=interface.description,
                      input_schema=with_types(dict(interface.args_schema)),
                      output_schema={"type": "object", "properties": {"result": with_types(interface.result_schema)},
                                     "required": ["result"]},
                      annotations=types.ToolAnnotations(title=f"{tool.ref.name} v{tool.ref.version}",
                                                        open_world_hint=bool(tool.permissions.net_hosts)))


def tool_hit(tool: DeployedTool) -> dict[str, JSON]:
    """One search result: enough to call the tool through ``call_tool`` without listing the tools again."""
    interface = tool.interface
    return {"name": tool.ref.name, "version": tool.ref.version, "signature": interface.signature,
            "description": interface.description, "input_schema": with_types(dict(interface.args_schema))}


def outcome_json(outcome: Outcome) -> dict[str, JSON]:
    """A request's outcome for an agent: status, tool, reason, failed findings, and what to do next."""
    failed = [{"stage": v.stage, "findings": [f.to_json() for f in v.findings][:20]}
              for v in outcome.stages if not v.ok]
    return {"request_id": outcome.request_id, "status": outcome.status,
            "tool": outcome.tool.to_json() if outcome.tool else None, "reason": outcome.reason,
            "failed_stages": failed,
            **next_step(outcome.status, outcome.request_id, outcome.tool.name if outcome.tool else None)}


def next_step(status: str, rid: str, name: str | None) -> dict[str, JSON]:
    """What an agent does next with a request in ``status``."""
    dispatch = (f" If {name!r} is not in your tool list (some hosts never re-list), call it through call_tool:"
                f' {{"name": "{name}", "arguments": {{...}}}}; search_tools gives its input schema.')
    if status == "deployed":
        return {"next": f"the tool list changed: call {name!r} like any other tool." + dispatch}
    if status == "pending_review":
        return {"next": f"a human reviewer must approve it, signed with their SSH key: `toolfoundry review approve"
                        f" {rid} --key KEY` (a home without principals: `toolfoundry review approve {rid} --as NAME`),"
                        f" or in `toolfoundry ui`. The tool list changes when it is deployed; request_status tells"
                        f" where it is; once deployed, call it directly or through call_tool."}
    if status == "rejected":
        return {"next": "fix what the findings say and propose again, or describe the need differently"}
    if status == "cancelled":
        return {"next": "nothing was deployed; propose or request it again if you still need it"}
    return {}


def progress_message(event: events.Event) -> str | None:
    """One line for an event worth reporting as progress; None for the others."""
    match event:
        case events.StageDone(verdict=v):
            state = "passed" if v.ok else f"failed ({len(v.findings)} findings)"
            return f"{v.stage} {state} in {v.ms:.0f} ms"
        case events.PolicyDecided(decision=d):
            return f"policy: {d.route} ({d.reason})"
        case events.Deployed(ref=ref):
            return f"deployed {ref.name} v{ref.version}"
    return {"assess": "searched the deployed tools", "model.call": "the model answered",
            "pr.opened": "pull request opened", "merge": "merged", "review.quorum": "reviewer agents voted"
            }.get(event.kind)


def json_result(data: dict[str, JSON]) -> types.CallToolResult:
    """A successful meta-tool result: the data as text and as structured content."""
    return types.CallToolResult(content=[types.TextContent(text=json.dumps(data))], structured_content=data)


def error_result(message: str) -> types.CallToolResult:
    """An error result the model reads (``isError``); the server carries on."""
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)
