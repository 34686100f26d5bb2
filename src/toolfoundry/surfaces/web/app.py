"""The review UI: a FastAPI app with the queue, each request's evidence, and approve / reject forms.

Owns HTTP: routes, rendering the Jinja2 templates (autoescaped), mapping errors to pages, and the
rules on who may act (nothing but the login page without a session — ``login.py``: a one-time link
``toolfoundry ui`` prints, or a reviewer's token —; in a home with principals a decision is signed with
the key the reviewer registered for the UI, or refused; checked CSRF and origin on every POST, a Host
header that must name this server). It goes through one ``Foundry`` (``hold_home=False``: the
home's workflows run only while an approval does) and nothing below it; pages and decisions run on
worker threads side by side, and two decisions on one request are settled by the ledger's
compare-and-swap (the loser is told what happened). What a page shows is shaped in ``views.py``; the
request checks live in ``security.py``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from toolfoundry.api import Foundry
from toolfoundry.errors import AccessDenied, InfraError, ToolfoundryError, UsageError
from toolfoundry.settings import Settings
from toolfoundry.surfaces.web import views
from toolfoundry.surfaces.web.login import Sessions, session_cookie
from toolfoundry.surfaces.web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    LOOPBACK_NAMES,
    Csrf,
    cookie_name,
    host_allowed,
    is_loopback,
    origin_problem,
)

HERE = Path(__file__).parent
MAX_FORM_BYTES = 64 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
                               " form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
log = logging.getLogger("toolfoundry.surfaces.web")


class _State:
    """What the app holds: the settings, the foundry, the reviewer, the CSRF secret, the templates."""

    def __init__(self, settings: Settings, reviewer: str, allowed_hosts: Collection[str] | None) -> None:
        self.settings = settings
        self.reviewer = reviewer
        self.allowed_hosts = allowed_hosts
        self.foundry = Foundry(settings, hold_home=False, role="ui", command="ui")
        self.sessions = Sessions(self.foundry.trust)
        self.csrf = Csrf()
        self.templates = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                                            undefined=jinja2.StrictUndefined)
        self.templates.filters["urlpart"] = lambda s: quote(str(s), safe="")
        self.templates.filters["jsontext"] = lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True)


def create_app(settings: Settings, *, reviewer: str | None = None,
               allowed_hosts: Collection[str] | None = LOOPBACK_NAMES) -> FastAPI:
    """The review UI for the home in ``settings``. Nothing is shown without a login: ``app.state.ui.sessions.link(name)``
    makes a one-time link (``serve`` prints one for ``reviewer``, default ``settings.user``), or a reviewer logs
    in with their token.

    ``allowed_hosts``: the names the Host header may carry (None: any, only for --insecure-bind).
    """
    state = _State(settings, (settings.user if reviewer is None else reviewer).strip(),
                   None if allowed_hosts is None else frozenset(h.lower() for h in allowed_hosts))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.foundry.close()

    app = FastAPI(title="toolfoundry review", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.ui = state
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
        if not host_allowed(request.headers.get("host"), state.allowed_hosts):
            response: Response = HTMLResponse("<h1>400</h1><p>this server answers only to its own host name"
                                              " (Host header refused, against DNS rebinding)</p>", 400)
        elif request.url.path in ("/login", "/logout") or request.url.path.startswith("/static/"):
            response = await call_next(request)
        else:
            session = request.cookies.get(session_cookie(request.url.port))
            request.state.reviewer = await run_in_threadpool(state.sessions.who, session)
            if request.state.reviewer is None:  # no page, no request id, no decision without a login
                response = _render(state, request, "login.html", 401, message="")
            else:
                response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return _render(state, request, "error.html", exc.status_code, message=message)

    @app.exception_handler(ToolfoundryError)
    async def foundry_error(request: Request, exc: ToolfoundryError) -> Response:
        code = 503 if isinstance(exc, InfraError) else 400 if isinstance(exc, UsageError) else 500
        return _render(state, request, "error.html", code, message=f"{type(exc).__name__}: {exc}")

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("review UI: unexpected error on %s", request.url.path)
        return _render(state, request, "error.html", 500, message="internal error; see the server log")

    @app.get("/", response_class=HTMLResponse)
    def queue(request: Request) -> Response:
        rows = state.foundry.pending()
        return _render(state, request, "queue.html", 200, rows=rows, asks=views.queue_permissions(rows))

    @app.get("/requests", response_class=HTMLResponse)
    def history(request: Request) -> Response:
        rows = views.all_requests(state.foundry)
        return _render(state, request, "history.html", 200, rows=rows)

    @app.get("/requests/{rid}", response_class=HTMLResponse)
    def show(request: Request, rid: str) -> Response:
        return _evidence_page(state, request, rid, 200)

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, code: str = "") -> Response:
        session = state.sessions.redeem(code) if code else None
        if session is None:
            return _render(state, request, "login.html", 401,
                           message="that login link is used up or has expired" if code else "")
        return _logged_in(request, session)

    @app.post("/login")
    async def login_token(request: Request) -> Response:
        form = await _form(request)
        problem = origin_problem(request.headers) or state.csrf.check(
            request.cookies.get(cookie_name(request.url.port)), form.get(CSRF_FIELD))
        if problem:
            return _render(state, request, "login.html", 403, message=problem)
        try:
            session = await run_in_threadpool(state.sessions.with_token, form.get("token", ""))
        except AccessDenied as exc:
            return _render(state, request, "login.html", 401, message=str(exc))
        return _logged_in(request, session)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        form = await _form(request)
        if origin_problem(request.headers) or state.csrf.check(request.cookies.get(cookie_name(request.url.port)),
                                                                form.get(CSRF_FIELD)):
            return _render(state, request, "login.html", 403, message="log out from this server's own page")
        state.sessions.end(request.cookies.get(session_cookie(request.url.port)))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(session_cookie(request.url.port), path="/")
        return response

    @app.post("/requests/{rid}/approve")
    async def approve(request: Request, rid: str) -> Response:
        return await _post(state, request, rid, approve=True)

    @app.post("/requests/{rid}/reject")
    async def reject(request: Request, rid: str) -> Response:
        return await _post(state, request, rid, approve=False)

    return app


# ── rendering ──────────────────────────────────────────────────────────────────────────────────────


def _render(state: _State, request: Request, template: str, status: int, **context: Any) -> HTMLResponse:
    """Render a template with the common context; issue the session's CSRF cookie if it has none."""
    name = cookie_name(request.url.port)
    token = request.cookies.get(name)
    fresh = not state.csrf.valid(token)
    if fresh:
        token = state.csrf.new()
    html = state.templates.get_template(template).render(
        reviewer=getattr(request.state, "reviewer", None) or "", csrf=token, home=str(state.settings.home),
        path=request.url.path, **context)
    response = HTMLResponse(html, status)
    if fresh:
        response.set_cookie(name, str(token), httponly=True, samesite="strict", path="/")
    return response


def _logged_in(request: Request, session: str) -> Response:
    """Go to the queue with a new session cookie (HttpOnly, SameSite=Strict, this port only)."""
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(session_cookie(request.url.port), session, httponly=True, samesite="strict", path="/")
    return response


def _evidence_page(state: _State, request: Request, rid: str, status: int, *, flash: str = "",
                   flash_kind: str = "error", fragment: bool = False) -> Response:
    """The evidence page of ``rid`` (or, for htmx, its status panel and audit trail), 404 if unknown."""
    row = views.request_row(state.foundry, rid)
    if row is None:
        return _render(state, request, "error.html", 404, message=f"no request {rid!r}")
    ev = views.evidence(state.foundry, row)
    return _render(state, request, "_panel.html" if fragment else "request.html", status, ev=ev, row=row,
                   commit=views.tool_commit(row), flash=flash, flash_kind=flash_kind)


# ── approve / reject ─────────────────────────────────────────────────────────────────────────────


async def _post(state: _State, request: Request, rid: str, *, approve: bool) -> Response:
    """Check the POST (origin, CSRF, identity, reason), then decide in a worker thread."""
    htmx = request.headers.get("hx-request") == "true"
    form = await _form(request)
    problem = origin_problem(request.headers) or state.csrf.check(
        request.cookies.get(cookie_name(request.url.port)), form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER))
    if problem:
        return _render(state, request, "_flash.html" if htmx else "error.html", 403, message=problem)
    reason = form.get("reason", "").strip()
    if not approve and not reason:
        return _evidence_page(state, request, rid, 400, fragment=htmx, flash="a rejection needs a reason")
    return await run_in_threadpool(_decide, state, request, rid, approve, reason, htmx)


def _decide(state: _State, request: Request, rid: str, approve: bool, reason: str, htmx: bool) -> Response:
    """Approve or reject (resumes the durable workflow), then show the result."""
    row = views.request_row(state.foundry, rid)
    if row is None:
        return _render(state, request, "error.html", 404, message=f"no request {rid!r}")
    if row.status != "pending_review":
        return _evidence_page(state, request, rid, 409, fragment=htmx,
                              flash=f"request {rid} is {row.status}, not pending review")
    reviewer = str(request.state.reviewer)
    proposal = row.the_proposal()
    try:  # in a home with principals the UI signs with the key the reviewer registered for it, or not at all
        signature = state.foundry.trust.sign_for_ui(proposal, reviewer, approve=approve, reason=reason) \
            if proposal is not None and state.foundry.trust.enforced() else None
        outcome = state.foundry.review(rid, approve=approve, reviewer=reviewer, reason=reason, signature=signature)
    except UsageError as exc:
        return _evidence_page(state, request, rid, 409, fragment=htmx, flash=str(exc))
    except InfraError as exc:
        return _evidence_page(state, request, rid, 503, fragment=htmx, flash=f"{type(exc).__name__}: {exc}")
    log.info("review UI: %s %s by %s → %s", "approved" if approve else "rejected", rid, reviewer,
             outcome.status)
    if not htmx:
        return RedirectResponse(f"/requests/{quote(rid, safe='')}", status_code=303)
    done = {"deployed": "approved and deployed", "rejected": "rejected"}.get(outcome.status, outcome.status)
    return _evidence_page(state, request, rid, 200, fragment=True, flash=done,
                          flash_kind="ok" if outcome.status in ("deployed", "rejected") else "error")


async def _form(request: Request) -> dict[str, str]:
    """The url-encoded form of a POST (first value of each field); empty if too large or another type."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def login_hint(app: FastAPI, host: str, port: int) -> str:
    """How to log in, as ``toolfoundry ui`` prints it: a one-time link for its reviewer, when they may review."""
    ui = app.state.ui
    if not ui.reviewer:
        return "log in with a reviewer's token"
    try:
        return f"log in as {ui.reviewer} with this one-time link: http://{host}:{port}{ui.sessions.link(ui.reviewer)}"
    except AccessDenied as exc:
        return f"no login link ({exc}); log in with a reviewer's token, or start it with --as REVIEWER"


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8765, reviewer: str | None = None,
          insecure_bind: bool = False, say: Callable[[str], None] = print) -> None:
    """Run the review UI with uvicorn until interrupted. A non-loopback host needs ``insecure_bind``."""
    if not is_loopback(host):
        if not insecure_bind:
            raise UsageError(f"refusing to bind {host}: the review UI is meant for this machine only (its login"
                             f" travels over plain HTTP); use 127.0.0.1, or pass --insecure-bind if you really mean it")
        say(f"WARNING: binding {host}: logins, session cookies and reviews cross the network unencrypted")
    wildcard = host.strip("[]") in ("0.0.0.0", "::")  # noqa: S104 (only with --insecure-bind, warned above)
    allowed = None if wildcard else LOOPBACK_NAMES | {host.strip("[]").lower()}
    app = create_app(settings, reviewer=reviewer, allowed_hosts=allowed)
    import uvicorn
    say(f"toolfoundry review UI on http://{host}:{port}/ (Ctrl-C to stop); {login_hint(app, host, port)}")
    uvicorn.run(app, host=host, port=port, log_level="warning")
