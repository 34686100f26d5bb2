"""One smart-HTTP git request, routed to ``git http-backend`` (CGI): the request handler of ``git_http.py``.

Owns routing (``info/refs``, ``git-upload-pack``, ``git-receive-pack``), authentication and authorization
of each request (``401`` with a challenge, ``404`` without read access, ``403`` for a push without write),
streaming the request body to the backend and its CGI answer back, and the words both modules use
(``Access``, ``Authenticator``, ``Authorizer``, ``PushHook``, ``GitRequest``). It does not bind a socket or
lay out repositories (``git_http.GitHttpServer``).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import IO, Any, Literal, Protocol
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("toolfoundry.testing.git_http")

Access = Literal["read", "write"]
"""What a request does to a repository: fetch/clone (``read``) or push (``write``)."""

Authenticator = Callable[[str, str], str | None]
"""``(username, secret) -> login or None``: who presented these credentials (basic auth user and
password, or ``("", token)`` for a bearer token); None refuses them."""

Authorizer = Callable[[str, str, str, Access], bool]
"""``(login, owner, repo, access) -> allowed``: may this authenticated user read or write this repo."""

PushHook = Callable[[str, str, str], None]
"""``(login, owner, repo)``: called after a ``git-receive-pack`` request that the backend accepted."""

_ROUTES: dict[tuple[str, str], tuple[str, Access]] = {
    ("GET", "info/refs"): ("", "read"),  # the service comes from the query string
    ("POST", "git-upload-pack"): ("git-upload-pack", "read"),
    ("POST", "git-receive-pack"): ("git-receive-pack", "write"),
}
_SERVICES: dict[str, Access] = {"git-upload-pack": "read", "git-receive-pack": "write"}
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class GitRequest:
    """One request the server answered, for assertions in tests."""

    method: str
    path: str
    service: str
    login: str | None
    status: int


class Backend(Protocol):
    """What :class:`GitHandler` needs from the server it routes for (``git_http.GitHttpServer``)."""

    authenticate: Authenticator
    authorize: Authorizer
    on_push: PushHook | None
    _backend: str

    def repo_path(self, owner: str, repo: str) -> Path: ...

    def _record(self, entry: GitRequest) -> None: ...

    def _cgi_env(self, *, method: str, path_info: str, query: str, login: str,
                 headers: Mapping[str, str], length: int, client: str) -> dict[str, str]: ...


class GitHandler(BaseHTTPRequestHandler):
    """Routes one HTTP request to ``git http-backend`` after authentication and authorization."""

    app: Backend
    protocol_version = "HTTP/1.1"
    server_version = "toolfoundry-git-http"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature of the base class)
        log.debug("%s %s", self.address_string(), format % args)

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        match = re.match(r"^/([^/]+)/([^/]+?)(?:\.git)?/(info/refs|git-upload-pack|git-receive-pack)$",
                         parts.path)
        route = _ROUTES.get((method, match.group(3))) if match else None
        if match is None or route is None:
            self._discard_body()
            return self._plain(HTTPStatus.NOT_FOUND, "Not Found\n", service="", login=None)
        owner, repo, rest = match.groups()
        service, access = route
        if not service:
            service = parse_qs(parts.query).get("service", [""])[0]
            if service not in _SERVICES:  # the dumb protocol is not served
                self._discard_body()
                return self._plain(HTTPStatus.FORBIDDEN, "smart HTTP only\n", service=service, login=None)
            access = _SERVICES[service]
        login = self._login()
        if login is None:
            self._discard_body()
            return self._plain(HTTPStatus.UNAUTHORIZED, "Authentication required\n", service=service,
                               login=None, extra={"WWW-Authenticate": 'Basic realm="GitHub"'})
        try:
            repo_dir = self.app.repo_path(owner, repo)
        except ValueError:
            repo_dir = None
        if repo_dir is None or not (repo_dir / "HEAD").is_file():
            self._discard_body()
            return self._plain(HTTPStatus.NOT_FOUND, "Repository not found.\n", service=service, login=login)
        name = repo_dir.name[:-4]
        if not self.app.authorize(login, owner, name, "read"):  # as GitHub: what you cannot read is not there
            self._discard_body()
            return self._plain(HTTPStatus.NOT_FOUND, "Repository not found.\n", service=service, login=login)
        if access == "write" and not self.app.authorize(login, owner, name, "write"):
            self._discard_body()
            return self._plain(HTTPStatus.FORBIDDEN, f"Permission to {owner}/{name} denied to {login}.\n",
                               service=service, login=login)
        path_info = f"/{owner}/{repo_dir.name}/{rest}"

        def finish(status: int) -> None:
            # runs after the backend exited and before any byte of the answer is sent
            self.app._record(GitRequest(method, parts.path, service, login, status))
            if status == 200 and service == "git-receive-pack" and method == "POST" and self.app.on_push:
                self.app.on_push(login, owner, name)

        self._run_backend(method, path_info, parts.query, login, finish)
        return None

    # ── authentication ───────────────────────────────────────────────────────────────────────────

    def _login(self) -> str | None:
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            return self.app.authenticate(user, secret) if secret else None
        if scheme.lower() in ("bearer", "token") and value.strip():
            return self.app.authenticate("", value.strip())
        return None

    # ── bodies ───────────────────────────────────────────────────────────────────────────────────

    def _request_body(self) -> IO[bytes]:
        """The request body in a temporary file (chunked transfer encoding decoded), at offset 0."""
        spool: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the caller)
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            for chunk in self._chunks():
                spool.write(chunk)
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining > 0:
                data = self.rfile.read(min(_CHUNK, remaining))
                if not data:
                    break
                spool.write(data)
                remaining -= len(data)
        spool.seek(0)
        return spool

    def _chunks(self) -> Iterator[bytes]:
        while True:
            size_line = self.rfile.readline(1024)
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            yield self.rfile.read(size)
            self.rfile.readline(8)  # CRLF after the chunk

    def _discard_body(self) -> None:
        self._request_body().close()

    # ── answering ────────────────────────────────────────────────────────────────────────────────

    def _plain(self, status: HTTPStatus, text: str, *, service: str, login: str | None,
               extra: Mapping[str, str] | None = None) -> None:
        # logged before answering, so a client that has its answer always finds it in the log
        self.app._record(GitRequest(self.command, urlsplit(self.path).path, service, login, int(status)))
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _run_backend(self, method: str, path_info: str, query: str, login: str,
                     finish: Callable[[int], None]) -> int:
        """Run the CGI to completion, call ``finish(status)``, then send its whole answer.

        The answer is held (in memory, spilling to disk past 8 MiB) until the backend has exited,
        so that what the push changed, the log entry and ``on_push`` all happen before the client
        sees its answer: tests can assert on them as soon as ``git`` returns.
        """
        with self._request_body() as body, tempfile.TemporaryFile() as errors, \
                tempfile.SpooledTemporaryFile(max_size=8 << 20) as answer:
            length = os.fstat(body.fileno()).st_size
            headers = {key: value for key, value in self.headers.items()}
            env = self.app._cgi_env(method=method, path_info=path_info, query=query, login=login,
                                    headers=headers, length=length, client=self.client_address[0])
            code = subprocess.run([self.app._backend], stdin=body, stdout=answer, stderr=errors, env=env,
                                  check=False).returncode
            if code != 0:
                errors.seek(0)
                log.warning("git http-backend exited %d for %s %s: %s", code, method, path_info,
                            errors.read(2000).decode("utf-8", "replace").strip())
            answer.seek(0)
            status, reason, cgi_headers = _cgi_headers(answer)
            offset, total = answer.tell(), answer.seek(0, os.SEEK_END)
            finish(status)
            self.send_response(status, reason or None)
            for key, value in cgi_headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(total - offset))
            self.end_headers()
            answer.seek(offset)
            while data := answer.read(_CHUNK):
                self.wfile.write(data)
        return status



def _cgi_headers(out: IO[bytes]) -> tuple[int, str, list[tuple[str, str]]]:
    """Read the CGI header block at the start of ``out``: ``(status, reason, headers)``.

    ``Status:`` gives the HTTP status (200 when absent); framing headers are dropped (the server
    sets ``Content-Length`` itself). ``out`` is left at the first byte of the body.
    """
    status, reason = 200, "OK"
    headers: list[tuple[str, str]] = []
    while True:
        line = out.readline(8192)
        if line in (b"\r\n", b"\n", b""):
            break
        key, _, value = line.decode("latin-1").partition(":")
        if key.strip().lower() == "status":
            code, _, reason = value.strip().partition(" ")
            status = int(code)
        elif key.strip().lower() not in ("content-length", "transfer-encoding"):
            headers.append((key.strip(), value.strip()))
    return status, reason, headers
