"""The MCP face of a foundry: every deployed tool, four meta-tools, and live tool-list changes.

Owns the translation between the Model Context Protocol (the official ``mcp`` SDK, low-level
``Server``) and ``Foundry``: listing, calling, the meta-tools (``request_capability``,
``propose_tool``, ``request_status``, ``search_tools``), progress, and telling connected clients
that the tool list changed — handshake-era clients by ``notifications/tools/list_changed`` on each
live connection, 2026-era clients through ``subscriptions/listen``. It does not run tools (the
sandbox does, through ``Foundry.call``) and does not decide anything about them (the workflow does).

Blocking foundry work (sandbox calls, workflows, SQLite) runs on worker threads so one slow request
never stalls the others. Changes are noticed by ``Foundry.on_change``: the ones this server makes at
once, the ones other processes make (a CLI approval, another agent) within a quarter of a second.
``mcp_transport.py`` serves it over stdio or streamable HTTP.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.models import InitializationOptions
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ToolsListChanged
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from toolfoundry.api import Foundry
from toolfoundry.core import JSON, Candidate, Outcome
from toolfoundry.errors import AccessDenied, InfraError, TamperedTool, UnknownTool, UsageError
from toolfoundry.examples import parse_examples
from toolfoundry.pipeline import events
from toolfoundry.pipeline.bus import Listener
from toolfoundry.stages import contract
from toolfoundry.store.changes import ToolChange
from toolfoundry.store.principals import Identity
from toolfoundry.store.registry import DeployedTool
from toolfoundry.surfaces import metatools
from toolfoundry.trust import Scope
from toolfoundry.version import __version__

log = logging.getLogger(__name__)

META_TOOLS: tuple[types.Tool, ...] = tuple(
    types.Tool(name=t.name, description=t.description, input_schema=t.input_schema) for t in metatools.META_TOOLS)
_META = {t.name: t for t in META_TOOLS}


class _Server(Server[Any]):
    """The SDK's low-level server, advertising ``tools.listChanged`` to handshake-era clients on every
    transport (the streamable-HTTP manager builds its initialization options without arguments)."""

    def create_initialization_options(self, notification_options: NotificationOptions | None = None,
                                      experimental_capabilities: dict[str, dict[str, Any]] | None = None,
                                      extensions: dict[str, dict[str, Any]] | None = None,
                                      ) -> InitializationOptions:
        return super().create_initialization_options(notification_options or NotificationOptions(tools_changed=True),
                                                     experimental_capabilities, extensions)


class FoundryServer:
    """An MCP server over one open ``Foundry``. ``server`` is the SDK object to run or connect to."""

    def __init__(self, foundry: Foundry, *, identity: Identity | None = None) -> None:
        self.foundry = foundry
        self.identity = identity
        """The principal stdio serving runs as (named at start); over HTTP each request's token says who."""
        self.bus = InMemorySubscriptionBus()
        self._listen = ListenHandler(self.bus)
        self.server = _Server(
            "toolfoundry", version=__version__, title="toolfoundry",
            instructions="Deployed tools run in a sandbox. When you lack a capability, call request_capability"
                         " (a model writes the tool) or propose_tool (you write it); when it is deployed the"
                         " tool list changes and you can call it.",
            lifespan=self._lifespan, on_list_tools=self._list_tools, on_call_tool=self._call_tool,
            on_subscriptions_listen=self._listen)
        self.server.middleware.append(self._track)
        self._connections: set[Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._attached = 0
        self._unsubscribe: Callable[[], None] | None = None

    # ── lifecycle and change notifications ─────────────────────────────────────────────────────

    @asynccontextmanager
    async def _lifespan(self, _: Server[Any]) -> AsyncIterator[dict[str, Any]]:
        """Entered once per HTTP app or per stdio/in-process connection: watch the home while any is up."""
        if self._attached == 0:
            self._loop = asyncio.get_running_loop()
            self._unsubscribe = self.foundry.on_change(self._on_change)
        self._attached += 1
        try:
            yield {}
        finally:
            self._attached -= 1
            if self._attached == 0 and self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
                self._listen.close()

    def _on_change(self, change: ToolChange) -> None:
        """Called on a foundry thread: hand the change to the event loop."""
        loop = self._loop
        if loop is not None and loop.is_running():  # not after the last client left and the loop stopped
            asyncio.run_coroutine_threadsafe(self.announce(change), loop)

    async def announce(self, change: ToolChange) -> None:
        """Tell every connected client that the tool list changed."""
        log.info("tool list changed: added %s, updated %s, removed %s", change.added, change.updated,
                 change.removed)
        await self.bus.publish(ToolsListChanged())
        for connection in list(self._connections):
            if not connection.initialized.is_set():
                continue  # it will list the tools once initialized
            try:
                await connection.send_tool_list_changed()
            except Exception:  # a connection that went away between the check and the send
                log.debug("could not notify a connection; dropping it", exc_info=True)
                self._connections.discard(connection)

    async def _track(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Middleware: remember each handshake-era connection (they get list_changed notifications)."""
        result = await call_next(ctx)
        # The SDK hands handlers a per-request session; the connection behind it is where a
        # standalone notification goes. It has no public accessor in mcp 2.3.
        connection = getattr(ctx.session, "_connection", None)
        if isinstance(connection, Connection) and connection not in self._connections \
                and connection.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            self._connections.add(connection)
            connection.exit_stack.callback(self._connections.discard, connection)
        return result

    # ── tools/list and tools/call ──────────────────────────────────────────────────────────────

    async def _list_tools(self, ctx: ServerRequestContext[Any, Any],
                          params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        deployed = await anyio.to_thread.run_sync(self.foundry.tools)
        return types.ListToolsResult(tools=[*META_TOOLS, *(mcp_tool(t) for t in deployed)])

    async def _call_tool(self, ctx: ServerRequestContext[Any, Any],
                         params: types.CallToolRequestParams) -> types.CallToolResult:
        args: dict[str, Any] = dict(params.arguments or {})
        meta = _META.get(params.name)
        if meta is not None:
            problems = contract.validate(meta.input_schema, args)
            if problems:
                return _error(f"invalid arguments for {params.name}: {'; '.join(problems)}")
            return await self._meta(ctx, params.name, args)
        try:
            result = await anyio.to_thread.run_sync(
                partial(self.foundry.call, params.name, args, caller=self._who(ctx, "call")))
        except UnknownTool:
            message = (f"unknown tool {params.name!r}: it is not deployed here (tools/list has the current tools;"
                       f" search_tools finds them)")
            raise MCPError(types.INVALID_PARAMS, message) from None
        except (UsageError, InfraError, TamperedTool) as exc:  # bad arguments, a missing sandbox, tampered code
            return _error(str(exc))
        if not result.ok:
            return _error(result.error_text())
        return types.CallToolResult(content=[types.TextContent(text=json.dumps(result.result))],
                                    structured_content={"result": result.result})

    # ── meta-tools ─────────────────────────────────────────────────────────────────────────────

    async def _meta(self, ctx: ServerRequestContext[Any, Any], name: str,
                    args: dict[str, Any]) -> types.CallToolResult:
        try:
            if name == "request_status":
                row = await anyio.to_thread.run_sync(self.foundry.request_row, str(args["id"]))
                tool = await anyio.to_thread.run_sync(self.foundry.deployed_by, row.id)
                return _json({"request_id": row.id, "status": row.status, "reason": row.reason,
                              "requester": row.requester, "tool": tool.to_json() if tool else None,
                              **_next_step(row.status, row.id, tool.ref.name if tool else None)})
            if name == "search_tools":
                self._who(ctx, "search")
                matches = await anyio.to_thread.run_sync(
                    partial(self.foundry.search, str(args["query"]), limit=int(args.get("limit", 5))))
                return _json({"tools": [{"name": m.name, "version": m.version, "signature": m.signature,
                                         "description": m.description} for m in matches]})
            examples = parse_examples(args.get("examples", []), where="examples")
            work: Callable[[], Outcome]
            if name == "propose_tool":
                candidate = Candidate(code=str(args["code"]), tests=args.get("tests") or None, examples=examples,
                                      source="mcp")
                work = partial(self.foundry.extend, candidate, requester=self._who(ctx, "propose"),
                               on_event=self._progress(ctx))
            else:
                work = partial(self.foundry.extend, str(args["description"]), examples=examples,
                               requester=self._who(ctx, "request"), on_event=self._progress(ctx))
            outcome = await anyio.to_thread.run_sync(work)
        except UsageError as exc:
            return _error(str(exc))
        except InfraError as exc:
            return _error(f"toolfoundry could not do it: {exc}")
        return _json(outcome_json(outcome))

    def _progress(self, ctx: ServerRequestContext[Any, Any]) -> Listener:
        """A listener of this client's request that sends its events as MCP progress notifications."""
        loop = asyncio.get_running_loop()
        count = [0]

        def on_event(event: events.Event) -> None:
            message = progress_message(event)
            if message is None:
                return
            count[0] += 1
            asyncio.run_coroutine_threadsafe(ctx.session.report_progress(
                count[0], None, f"{event.request_id}: {message}"), loop)

        return on_event


    def _who(self, ctx: ServerRequestContext[Any, Any], scope: Scope) -> str:
        """Who the audit log records for this request: the principal its HTTP token authenticated (or, over stdio,
        the one named at start), re-checked now and holding ``scope``; ``mcp:<client name>`` only in a home
        without principals, where a client has no credential of its own."""
        request = ctx.request
        state = getattr(request, "scope", {}).get("state") if request is not None else None
        found = state.get(IDENTITY) if isinstance(state, dict) else None
        identity = found if isinstance(found, Identity) else self.identity
        if identity is None:
            if self.foundry.trust.enforced():
                raise AccessDenied("this home has principals: a client must authenticate (a token over HTTP, or"
                                   " `serve --principal NAME` over stdio)")
            return _client_name(ctx)
        return self.foundry.trust.actor(scope, identity=identity)


IDENTITY = "toolfoundry.identity"
"""Where the HTTP gate leaves the authenticated principal in the request's ASGI ``state``."""


def _client_name(ctx: ServerRequestContext[Any, Any]) -> str:
    """``mcp:<client name>``: what a client says it is (only for homes without principals)."""
    params = ctx.session.client_params
    name = params.client_info.name if params is not None and params.client_info is not None else "client"
    return f"mcp:{name}"[:100]


def mcp_tool(tool: DeployedTool) -> types.Tool:
    """A deployed tool as MCP describes it: its JSON Schemas and description (the result wrapped in an object)."""
    interface = tool.interface
    return types.Tool(name=tool.ref.name, description=interface.description,
                      input_schema=dict(interface.args_schema),
                      output_schema={"type": "object", "properties": {"result": interface.result_schema},
                                     "required": ["result"]},
                      annotations=types.ToolAnnotations(title=f"{tool.ref.name} v{tool.ref.version}",
                                                        open_world_hint=bool(tool.permissions.net_hosts)))


def outcome_json(outcome: Outcome) -> dict[str, JSON]:
    """A request's outcome for an agent: status, tool, reason, failed findings, and what to do next."""
    failed = [{"stage": v.stage, "findings": [f.to_json() for f in v.findings][:20]}
              for v in outcome.stages if not v.ok]
    return {"request_id": outcome.request_id, "status": outcome.status,
            "tool": outcome.tool.to_json() if outcome.tool else None, "reason": outcome.reason,
            "failed_stages": failed,
            **_next_step(outcome.status, outcome.request_id, outcome.tool.name if outcome.tool else None)}


def _next_step(status: str, rid: str, name: str | None) -> dict[str, JSON]:
    if status == "deployed":
        return {"next": f"the tool list changed: call {name!r} like any other tool"}
    if status == "pending_review":
        return {"next": f"a human reviewer must approve it: `toolfoundry review approve {rid} --as NAME`, or in"
                        f" `toolfoundry ui`. The tool list changes when it is deployed; request_status tells"
                        f" where it is."}
    if status == "rejected":
        return {"next": "fix what the findings say and propose again, or describe the need differently"}
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


def _json(data: dict[str, JSON]) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=json.dumps(data))], structured_content=data)


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)
