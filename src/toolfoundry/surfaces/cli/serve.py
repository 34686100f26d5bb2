"""Commands that serve a home to others: ``serve`` (MCP over stdio or HTTP) and ``ui`` (the review UI)."""

from __future__ import annotations

import logging
import os
import secrets
import sys
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.markup import escape

from toolfoundry.settings import Settings
from toolfoundry.surfaces.cli.app import AsOpt, HomeOpt, app, err, fail, open_foundry, settings

if TYPE_CHECKING:
    from toolfoundry.api import Foundry
    from toolfoundry.surfaces.mcp.early import EarlyStdio


@app.command()
def ui(port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8765,
       host: Annotated[str, typer.Option("--host", help="Address to bind (loopback only, unless"
                                                       " --insecure-bind).")] = "127.0.0.1",
       insecure_bind: Annotated[bool, typer.Option("--insecure-bind", help="Allow a non-loopback --host (plain"
                                                                         " HTTP: logins cross unencrypted).")] = False,
       home: HomeOpt = None, as_user: AsOpt = None) -> None:
    """Serve the review UI in the browser: the queue, each request's evidence, approve and reject.

    Prints a one-time login link for the reviewer (--as, default the login name); a reviewer can also log
    in with their token. In a home with principals, the UI signs decisions with the key the reviewer
    registered for it (`toolfoundry principals key NAME --ui --key PATH`).
    """
    if not 0 <= port <= 65535:
        fail(f"--port must be between 0 and 65535, not {port}")
    try:
        from toolfoundry.surfaces.web.app import serve as serve_ui
    except ImportError as exc:
        fail(f"the review UI needs the 'ui' extra: pip install 'toolfoundry[ui]' ({exc})")
    resolved = settings(home, as_user)
    serve_ui(resolved, host=host, port=port, reviewer=resolved.user, insecure_bind=insecure_bind,
             say=lambda message: err.print(escape(message)))


@app.command()
def serve(transport: Annotated[str, typer.Option("--transport", help="stdio (a host starts this process) or"
                                                                    " http.")] = "stdio",
          port: Annotated[int, typer.Option("--port", help="HTTP port (0 picks a free one).")] = 8766,
          host: Annotated[str, typer.Option("--host", help="HTTP address to bind.")] = "127.0.0.1",
          no_auth: Annotated[bool, typer.Option("--no-auth", help="Serve HTTP without a bearer token"
                                                " (loopback addresses only).")] = False,
          principal: Annotated[str | None, typer.Option("--principal", help="stdio: the principal this server"
                                                        " acts as (default: $TOOLFOUNDRY_TOKEN's).")] = None,
          home: HomeOpt = None, as_user: AsOpt = None) -> None:
    """Serve every deployed tool, plus request_capability, propose_tool, request_status and search_tools, over MCP.

    Clients are told when the tool list changes, whoever changed it. Over HTTP every request needs
    `Authorization: Bearer TOKEN`: once the home has principals, each client's own token (`toolfoundry
    tokens create`); before that, $TOOLFOUNDRY_MCP_TOKEN, else the token kept in HOME/mcp-token (created on
    first use, mode 0600). Over stdio the server acts as the principal named at start (--principal, or
    $TOOLFOUNDRY_TOKEN's), which a home with principals requires.
    """
    if transport not in ("stdio", "http"):
        fail(f"--transport must be stdio or http, not {transport!r}")
    if not 0 <= port <= 65535:
        fail(f"--port must be between 0 and 65535, not {port}")
    early = _take_stdio(settings(home, as_user)) if transport == "stdio" else None  # before the slow imports
    from toolfoundry.surfaces.mcp.server import FoundryServer
    from toolfoundry.surfaces.mcp.transport import serve_http, serve_stdio, token_file
    from toolfoundry.surfaces.web.security import is_loopback
    if transport == "http" and no_auth and not is_loopback(host):
        fail(f"--no-auth is only allowed on a loopback address, not {host}")
    foundry = open_foundry(home, as_user, role="serve", hold=False)
    try:
        identity = None
        if transport == "stdio" and (principal or foundry.settings.token):
            trust = foundry.trust
            identity = trust.named(principal) if principal else trust.authenticate(str(foundry.settings.token))
        elif transport == "stdio" and foundry.trust.enforced():
            fail("this home has principals: name the principal this stdio server acts as (--principal NAME, or"
                 " TOOLFOUNDRY_TOKEN=its token)")
        server = FoundryServer(foundry, identity=identity)
        if transport == "stdio":
            serve_stdio(server, early)
            _finish(foundry, server.inflight.now())
        token = None
        if not no_auth:
            token = foundry.settings.mcp_token
            if foundry.trust.enforced():  # the gate accepts only principals' tokens: the shared one is never used
                token = token or secrets.token_urlsafe(32)
                err.print("this home has principals: each client sends its own token (`toolfoundry tokens create`)")
            elif token is None:
                token, path, created = token_file(foundry.settings.home)
                err.print(f"bearer token {'created in' if created else 'read from'} {path}")

        def ready(url: str) -> None:
            err.print(f"toolfoundry MCP server at {url} ({len(foundry.tools())} tools; Ctrl-C stops it)")

        try:
            serve_http(server, host=host, port=port, token=token, on_ready=ready)
        except KeyboardInterrupt:  # uvicorn hands Ctrl-C back once it has shut down: that is how HTTP serving ends
            pass
        _finish(foundry, server.inflight.now())
    finally:
        foundry.close()


def _take_stdio(resolved: Settings) -> EarlyStdio:
    """Take the stdio wire and answer ``initialize`` while the MCP SDK is still being imported (``early.py``)."""
    from toolfoundry.surfaces.mcp.early import EarlyStdio, instructions
    from toolfoundry.version import __version__
    return EarlyStdio(text=instructions(generates=bool(resolved.generation.model)), version=__version__)


def _finish(foundry: Foundry, running: dict[str, str]) -> NoReturn:
    """The client went away (or the server was stopped): exit now. Requests still running here are audited as
    left and resume from their last completed step in the next live process (waiting for them could take
    minutes, and a host kills a server that does not exit within a couple of seconds); with none, the home
    is closed as usual. Then the process ends without the interpreter's teardown, which with the MCP SDK
    loaded spends about a second collecting garbage: everything it would flush is flushed or checkpointed."""
    left = foundry.leave(running)
    if left:
        err.print(f"left {len(left)} running request(s) to their durable workflows: {', '.join(left)}")
    else:
        foundry.close()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
