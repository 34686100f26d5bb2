"""Serving a ``FoundryServer`` over stdio or streamable HTTP, as ``toolfoundry serve`` does.

Owns the transports and the HTTP bearer-token gate. stdio belongs to the client that started the
process: stdout carries only protocol messages, everything else goes to stderr. HTTP binds to
127.0.0.1 by default, keeps the SDK's DNS-rebinding protection (Host and Origin checks) on loopback,
and refuses every request to ``/mcp`` without ``Authorization: Bearer <token>`` unless auth was
explicitly turned off — which is only allowed on a loopback address. Every other path is 404, token or
not: toolfoundry has no OAuth, and a 401 on ``/.well-known/oauth-*`` or ``/register`` sends OAuth-capable
hosts into a flow that cannot succeed. Stopping the HTTP server ends open ``subscriptions/listen``
streams first, so Ctrl-C does not wait for a 2026-era client to hang up.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from toolfoundry.errors import AccessDenied, UsageError
from toolfoundry.store.principals import Identity
from toolfoundry.surfaces.mcp.early import EarlyStdio
from toolfoundry.surfaces.mcp.server import IDENTITY, FoundryServer
from toolfoundry.surfaces.web.security import is_loopback
from toolfoundry.trust import Trust

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PATH = "/mcp"


def serve_stdio(server: FoundryServer, early: EarlyStdio | None = None) -> None:
    """Serve one client on this process's stdin/stdout until it closes them.

    The SDK's stdio transport drops a line that is not a JSON-RPC message; here the client gets the
    JSON-RPC error for it instead (parse error, or invalid request), as it does over HTTP. With ``early``
    (``early.py``), the wire was taken over at start and the first line may already be answered: the SDK
    gets that line first and its own answer to it is not sent again.
    """
    first = early.first_line() if early is not None else b""
    skip = early.answered if early is not None else None
    wire = {} if early is None else dict(zip(("stdin", "stdout"), map(anyio.wrap_file, early.text_streams()),
                                             strict=True))

    async def run() -> None:
        async with stdio_server(**wire) as (read, write):
            send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)
            out, outgoing = anyio.create_memory_object_stream[SessionMessage](0)

            async def take(item: SessionMessage | Exception) -> None:
                if isinstance(item, Exception):
                    await write.send(SessionMessage(_jsonrpc_error(item)))
                else:
                    await send.send(item)

            async def answer_garbage() -> None:
                async with send:
                    if first.strip():
                        await take(_message(first))
                    async for item in read:
                        await take(item)

            async def unless_answered() -> None:
                answered = skip
                async with outgoing, write:  # closing write ends the SDK's stdout writer once the server is done
                    async for item in outgoing:
                        if answered is not None and isinstance(item.message, types.JSONRPCResponse) \
                                and item.message.id == answered:
                            answered = None  # the early reply already said exactly this
                            continue
                        await write.send(item)

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(answer_garbage)
                tasks.start_soon(unless_answered)
                async with out:
                    await server.server.run(receive, out, server.server.create_initialization_options())

    anyio.run(run)


def _message(line: bytes) -> SessionMessage | Exception:
    """A line from the wire as the SDK's stdio transport reads it."""
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValidationError as exc:
        return exc


def _jsonrpc_error(exc: Exception) -> types.JSONRPCError:
    """The error reply to an inbound line the transport could not read as a JSON-RPC message (id unknown)."""
    syntax = isinstance(exc, ValidationError) and any(e["type"] == "json_invalid" for e in exc.errors())
    code, what = (types.PARSE_ERROR, "not JSON") if syntax else (types.INVALID_REQUEST, "not a JSON-RPC 2.0 message")
    return types.JSONRPCError(jsonrpc="2.0", id=None, error=types.ErrorData(code=code, message=f"Invalid input: {what}"))


def http_app(server: FoundryServer, *, host: str, token: str | None) -> ASGIApp:
    """The streamable-HTTP app at ``/mcp``, behind the bearer-token gate when ``token`` is set (in a home with
    principals, always: each client then needs its own token)."""
    trust = server.foundry.trust
    if token is None and not is_loopback(host):
        raise UsageError(f"refusing to serve without a token on {host}, which is not a loopback address")
    if token is None and trust.enforced():
        raise UsageError("this home has principals, so every MCP client authenticates with its own token"
                         " (`toolfoundry tokens create NAME --scope call ...`); --no-auth is refused")
    app: ASGIApp = server.server.streamable_http_app(streamable_http_path=PATH, host=host)
    return app if token is None else BearerGate(app, token, trust)


class BearerGate:
    """ASGI middleware: HTTP requests must carry ``Authorization: Bearer <token>``.

    Two kinds of token. A principal's own (``tft_…``, made by ``toolfoundry tokens create``) is checked
    against the home's principals on every request — a revoked or expired one is refused at once — and the
    principal it stands for is left in the request's ASGI ``state`` for the server (``server.IDENTITY``), so
    the audit log names it. The one shared token of ``HOME/mcp-token`` (compared in constant time) is
    accepted only while the home has no principal; it identifies no one.
    """

    def __init__(self, app: ASGIApp, token: str, trust: Trust | None = None) -> None:
        if len(token) < 16:
            raise UsageError("the bearer token must be at least 16 characters")
        self.app = app
        self._expected = token.encode()
        self._trust = trust

    async def _check(self, scheme: bytes, given: bytes) -> tuple[Identity | None, str | None]:
        """(the principal, None) or (None, None) for the shared token, else (None, why it is refused)."""
        if scheme.lower() != b"bearer" or not given:
            return None, "send Authorization: Bearer <token> (see `toolfoundry serve --help`)"
        trust = self._trust
        if trust is not None and given.startswith(b"tft_"):
            try:
                return await anyio.to_thread.run_sync(trust.authenticate, given.decode("ascii", "replace")), None
            except AccessDenied as exc:
                return None, str(exc)
        enforced = trust is not None and await anyio.to_thread.run_sync(trust.enforced)
        if not enforced and hmac.compare_digest(given, self._expected):
            return None, None
        if enforced:
            return None, "this home has principals: send your own token (`toolfoundry tokens create`)"
        return None, "send Authorization: Bearer <token> (see `toolfoundry serve --help`)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope.get("path") not in (PATH, PATH + "/"):
                await _not_found(send)  # no OAuth metadata, no client registration: nothing to discover
                return
            scheme, _, given = dict(scope.get("headers") or ()).get(b"authorization", b"").partition(b" ")
            identity, problem = await self._check(scheme, given.strip())
            if identity is not None:
                scope.setdefault("state", {})[IDENTITY] = identity
            if problem is not None:
                body = json.dumps({"error": "unauthorized", "message": problem}).encode()
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"www-authenticate", b'Bearer realm="toolfoundry"'),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


async def _not_found(send: Send) -> None:
    body = b"Not Found"
    await send({"type": "http.response.start", "status": 404,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def serve_http(server: FoundryServer, *, host: str, port: int, token: str | None,
               on_ready: Callable[[str], None]) -> None:
    """Serve streamable HTTP until interrupted; ``on_ready(url)`` once listening (``port`` 0 picks a free one)."""
    import uvicorn

    app = http_app(server, host=host, token=token)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)  # connections queue from here on, before uvicorn takes the socket over
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False, timeout_graceful_shutdown=2)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            server.closing()  # end the listen streams uvicorn would otherwise wait for, then the usual shutdown
            await super().shutdown(sockets)

    uv = Server(config)

    async def run() -> None:
        on_ready(f"http://{shown}:{bound}{PATH}")
        await uv.serve(sockets=[sock])

    try:
        anyio.run(run)
    finally:
        sock.close()


def token_file(home: Path) -> tuple[str, Path, bool]:
    """The HTTP bearer token kept in ``<home>/mcp-token`` (mode 0600): (token, path, created now)."""
    path = home / "mcp-token"
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if len(token) >= 16:
            return token, path, False
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token, path, True
