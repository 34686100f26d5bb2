"""The MCP face of a foundry: every deployed tool, the meta-tools, and live tool-list changes.

Owns the translation between the Model Context Protocol (the official ``mcp`` SDK, low-level
``Server``) and ``Foundry``: listing, calling, the meta-tools (``request_capability`` — offered only
when the server has a model to generate with —, ``propose_tool``, ``request_status``, ``search_tools``
and ``call_tool``, the dispatcher for hosts that never re-list their tools), progress, cancellation,
and telling connected clients that the tool list changed — handshake-era clients by
``notifications/tools/list_changed`` on each live connection, 2026-era clients through
``subscriptions/listen``. It does not run tools (the sandbox does, through ``Foundry.call``) and does
not decide anything about them (the workflow does). What its replies say is ``replies.py``.

Blocking foundry work (sandbox calls, workflows, SQLite) runs on worker threads so one slow request
never stalls the others. A request the client cancels (``notifications/cancelled``, or a 2026-era
client closing its HTTP response stream) is cancelled in the foundry: it stops at its next step
boundary, unless it already merged. A request whose connection merely ends keeps running; if the
process exits first, ``serve`` leaves it to the durable workflow. Changes are noticed by
``Foundry.on_change``: the ones this server makes at once, the ones other processes make (a CLI
approval, another agent) within a quarter of a second. ``transport.py`` serves it over stdio or HTTP.
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
from toolfoundry.stages import contract
from toolfoundry.store.changes import ToolChange
from toolfoundry.store.principals import Identity
from toolfoundry.surfaces import metatools
from toolfoundry.surfaces.mcp import replies
from toolfoundry.surfaces.mcp.early import instructions
from toolfoundry.surfaces.mcp.inflight import InFlight
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
        self.generates = bool(foundry.settings.generation.model)
        """Whether request_capability is offered: only with a model to write tools."""
        self.offered = tuple(t for t in META_TOOLS if self.generates or t.name != "request_capability")
        self.bus = InMemorySubscriptionBus()
        self._listen = ListenHandler(self.bus)
        self.server = _Server(
            "toolfoundry", version=__version__, title="toolfoundry",
            instructions=instructions(generates=self.generates),
            lifespan=self._lifespan, on_list_tools=self._list_tools, on_call_tool=self._call_tool,
            on_subscriptions_listen=self._listen)
        self.server.middleware.append(self._track)
        self._connections: set[Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._attached = 0
        self._unsubscribe: Callable[[], None] | None = None
        self._closing = False
        self.inflight = InFlight(foundry)
        """The requests this server runs for its clients."""

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

    def closing(self) -> None:
        """The server is stopping: end every listen stream now; requests cut off from here on are left, not
        cancelled. Call it on the event loop."""
        self._closing = True
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
        return types.ListToolsResult(tools=[*self.offered, *(replies.mcp_tool(t) for t in deployed)])

    async def _call_tool(self, ctx: ServerRequestContext[Any, Any],
                         params: types.CallToolRequestParams) -> types.CallToolResult:
        args: dict[str, Any] = dict(params.arguments or {})
        meta = _META.get(params.name)
        if meta is None:
            return await self._run_tool(ctx, params.name, args, dispatched=False)
        if meta.name == "request_capability" and not self.generates:
            return replies.error_result(replies.NO_MODEL)
        problems = contract.validate(meta.input_schema, args)
        if problems:
            return replies.error_result(f"invalid arguments for {params.name}: {'; '.join(problems)}")
        return await self._meta(ctx, params.name, args)

    async def _run_tool(self, ctx: ServerRequestContext[Any, Any], name: str, args: dict[str, Any], *,
                        dispatched: bool) -> types.CallToolResult:
        """Call a deployed tool, by its own name or through ``call_tool`` (``dispatched``): the same checks,
        sandbox and audit either way. An unknown name is a protocol error, or for the dispatcher an error
        result the model can read."""
        try:
            result = await anyio.to_thread.run_sync(partial(self.foundry.call, name, args, caller=self._who(ctx, "call")))
        except UnknownTool:
            hint = "search_tools finds the deployed ones" if dispatched else \
                "tools/list has the current tools; search_tools finds them"
            message = f"unknown tool {name!r}: it is not deployed here ({hint})"
            if dispatched:
                return replies.error_result(message)
            raise MCPError(types.INVALID_PARAMS, message) from None
        except (UsageError, InfraError, TamperedTool) as exc:  # bad arguments, a missing sandbox, tampered code
            return replies.error_result(str(exc))
        if not result.ok:
            return replies.error_result(result.error_text())
        return types.CallToolResult(content=[types.TextContent(text=json.dumps(result.result))],
                                    structured_content={"result": result.result})

    # ── meta-tools ─────────────────────────────────────────────────────────────────────────────

    async def _meta(self, ctx: ServerRequestContext[Any, Any], name: str,
                    args: dict[str, Any]) -> types.CallToolResult:
        try:
            if name == "call_tool":
                return await self._run_tool(ctx, str(args["name"]), dict(args.get("arguments") or {}),
                                            dispatched=True)
            if name == "request_status":
                row = await anyio.to_thread.run_sync(self.foundry.request_row, str(args["id"]))
                tool = await anyio.to_thread.run_sync(self.foundry.deployed_by, row.id)
                return replies.json_result({"request_id": row.id, "status": row.status, "reason": row.reason,
                                            "requester": row.requester, "tool": tool.to_json() if tool else None,
                                            **replies.next_step(row.status, row.id, tool.ref.name if tool else None)})
            if name == "search_tools":
                self._who(ctx, "search")
                return replies.json_result({"tools": await anyio.to_thread.run_sync(
                    self._search, str(args["query"]), int(args.get("limit", 5)))})
            outcome = await self._extend(ctx, name, args)
        except UsageError as exc:
            return replies.error_result(str(exc))
        except InfraError as exc:
            return replies.error_result(f"toolfoundry could not do it: {exc}")
        return replies.json_result(replies.outcome_json(outcome))

    def _search(self, query: str, limit: int) -> list[JSON]:
        """Search hits with what calling them needs: input schema and description (one registry read)."""
        active = {t.ref.name: t for t in self.foundry.tools()}
        return [replies.tool_hit(active[m.name]) for m in self.foundry.search(query, limit=limit)
                if m.name in active]

    async def _extend(self, ctx: ServerRequestContext[Any, Any], name: str, args: dict[str, Any]) -> Outcome:
        """propose_tool / request_capability: run the request on a thread, cancelling it when the client does."""
        who = self._who(ctx, "propose" if name == "propose_tool" else "request")
        examples = parse_examples(args.get("examples", []), where="examples")
        need: str | Candidate = str(args.get("description", ""))
        if name == "propose_tool":
            need = Candidate(code=str(args["code"]), tests=args.get("tests") or None, examples=examples,
                             source="mcp")
            examples = ()
        run = self.inflight.start(who, lambda on_event: self.foundry.extend(
            need, examples=examples, requester=who, on_event=on_event), self._progress(ctx))
        try:
            return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            if self._cancelled_by_client(ctx):
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(run.cancel)
            raise

    def _cancelled_by_client(self, ctx: ServerRequestContext[Any, Any]) -> bool:
        """True when the client cancelled this request — ``notifications/cancelled``, or a 2026-era client closing
        its HTTP response stream, which is how that era cancels — rather than the connection or server ending."""
        dispatch = getattr(ctx.session, "_request_outbound", None)  # the request's dispatch context (mcp 2.3)
        asked = getattr(dispatch, "cancel_requested", None)
        if isinstance(asked, anyio.Event) and asked.is_set():
            return True
        return not self._closing and ctx.request is not None and ctx.protocol_version in MODERN_PROTOCOL_VERSIONS

    def _progress(self, ctx: ServerRequestContext[Any, Any]) -> Callable[[events.Event], None]:
        """A listener of this client's request that sends its events as MCP progress notifications."""
        loop = asyncio.get_running_loop()
        count = [0]

        def on_event(event: events.Event) -> None:
            message = replies.progress_message(event)
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
