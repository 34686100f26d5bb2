"""A loopback stand-in for the GitHub REST endpoints a forge uses, backed by real bare git repositories.

This module owns a fake of the part of GitHub's REST API that a pull-request workflow needs: the
authenticated user, repositories, pull requests (create, get, list, update, merge), reviews, issue
comments, check runs, commit statuses, team membership and collaborator permissions, and rate-limit
status. Its state lives in memory, except the commits: each repository is a real bare repository on
disk (``<root>/<owner>/<repo>.git``, the layout ``git_http.GitHttpServer`` serves), so pull-request head
and base shas are what ``git`` says, and a merge really writes a merge commit (``merge-tree --write-tree`` +
``commit-tree`` + compare-and-swap ``update-ref``). Tests act as any user through ``FakeGitHub``'s
methods (add a review, set a check, inject rate-limit answers) and assert on its request log.

Responses follow the field names of GitHub's OpenAPI description, as githubkit's generated models
read them, for both API versions githubkit knows (``X-GitHub-Api-Version: 2022-11-28``, the default
when the header is absent, and ``2026-03-10``, which drops ``merge_commit_sha`` and ``assignee`` from
pull requests and ``rate`` from ``/rate_limit``). GET answers carry a weak ``ETag`` and honour
``If-None-Match`` with ``304`` (not counted against the rate limit); every answer carries
``x-ratelimit-*`` headers. Error bodies are ``{"message", "documentation_url", "status"}``; the
messages documented by GitHub are used where GitHub documents them, others are this fake's own, so
clients must branch on the status code, never on a message.

Only the standard library is used. The server is a ``ThreadingHTTPServer`` on ``127.0.0.1`` (port 0
by default); one lock serialises all state changes, which is plenty for tests.

The package: ``model.py`` (the words and the in-memory model), ``git.py`` (the bare repositories),
``state.py`` (the state, lookups and merge rules), ``shapes.py`` (the JSON), ``pulls.py`` and
``routes.py`` (the routes), ``dispatch.py`` (answering one request); ``FakeGitHub`` here is the server
and what tests call to set the scene and read it back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from toolfoundry.testing import loopback
from toolfoundry.testing.github.model import (
    _ROLE_RANK,
    API_VERSIONS,
    DEFAULT_API_VERSION,
    LoggedRequest,
    RepoRole,
    ReviewState,
)
from toolfoundry.testing.github.scene import _Scene

__all__ = [
    "API_VERSIONS",
    "DEFAULT_API_VERSION",
    "FakeGitHub",
    "LoggedRequest",
    "RepoRole",
    "ReviewState",
]

log = logging.getLogger("toolfoundry.testing.github")


class FakeGitHub(_Scene):
    """GitHub's REST API for pull-request workflows, on loopback, over real bare repositories.

    Typical use::

        with FakeGitHub(tmp_path / "forge") as gh:
            author = gh.add_user("foundry-bot")           # returns the user's token
            reviewer = gh.add_user("alice")
            gh.add_repo("acme", "tools", collaborators={"foundry-bot": "write", "alice": "write"})
            ...  # push a branch (``GitHttpServer`` over the same root), then drive the API with githubkit:
            GitHub(author, base_url=gh.base_url)

    ``base_url`` is ``http://127.0.0.1:<port>/``; the same routes also answer under ``/api/v3/``
    (``enterprise_base_url``), as a GitHub Enterprise Server does.
    """

    # ── lifecycle ────────────────────────────────────────────────────────────────────────────────

    def start(self) -> FakeGitHub:
        """Bind and serve in a daemon thread; return self."""
        if self._server is not None:
            raise RuntimeError("server already started")
        handler = type("_BoundApiHandler", (_ApiHandler,), {"app": self})
        self._server, self._thread = loopback.serve(self._address, handler, name="toolfoundry-fake-github")
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        loopback.stop(self._server, self._thread)
        self._server = self._thread = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` without a trailing slash (the server must be started)."""
        if self._server is None:
            raise RuntimeError("server not started")
        return loopback.url_of(self._server)

    @property
    def base_url(self) -> str:
        """The REST base URL to give a client, like ``https://api.github.com/``."""
        return self.url + "/"

    @property
    def enterprise_base_url(self) -> str:
        """The same API under ``/api/v3/``, the shape of a GitHub Enterprise Server base URL."""
        return self.url + "/api/v3/"

    # ── reading back (tests) ─────────────────────────────────────────────────────────────────────

    @property
    def requests(self) -> list[LoggedRequest]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        """Forget the logged requests."""
        with self._lock:
            self._log.clear()

    def repo_path(self, owner: str, repo: str) -> Path:
        """The bare repository behind ``owner/repo``."""
        with self._lock:
            return self._repo(owner, repo).path

    def login_for_token(self, token: str) -> str | None:
        """Whose token this is, or None."""
        with self._lock:
            return self._tokens.get(token)

    def git_authenticator(self) -> Callable[[str, str], str | None]:
        """For ``git_http.GitHttpServer(authenticate=...)``: the password (or bearer) is a token of ours."""
        return lambda _username, secret: self.login_for_token(secret)

    def git_authorizer(self) -> Callable[[str, str, str, str], bool]:
        """For ``git_http.GitHttpServer(authorize=...)``: read needs read access, push needs write."""

        def authorize(login: str, owner: str, repo: str, access: str) -> bool:
            with self._lock:
                found = self._repos.get((owner.lower(), repo.lower()))
                if found is None:
                    return False
                return _ROLE_RANK[self._role(found, login)] >= _ROLE_RANK["write" if access == "write" else "read"]

        return authorize


class _ApiHandler(BaseHTTPRequestHandler):
    """Reads one HTTP request, lets ``FakeGitHub._dispatch`` answer it, writes the answer."""

    app: FakeGitHub
    protocol_version = "HTTP/1.1"
    server_version = "GitHub.com"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or urlsplit(self.app.url).netloc
        status, headers, body = self.app._dispatch(self.command, self.path, dict(self.headers.items()), raw, host)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if status not in (204, 304):  # neither may have a body
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status not in (204, 304) and self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 (http.server's naming)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature of the base class)
        log.debug("%s %s", self.address_string(), format % args)
