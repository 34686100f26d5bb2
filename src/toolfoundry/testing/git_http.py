"""A smart-HTTP git server on loopback: ``git http-backend`` (CGI) behind a small threaded server.

This module owns serving bare repositories under one root directory, laid out as GitHub lays out its
clone URLs (``<root>/<owner>/<repo>.git``), over git's smart HTTP protocol, so that tests can run
``git clone``/``fetch``/``push`` against ``http://127.0.0.1:<port>/<owner>/<repo>.git`` with no network.
It authenticates every request the way GitHub accepts a token from git: HTTP basic auth whose password
is the token (any user name, conventionally ``x-access-token``), or ``Authorization: Bearer <token>``.
It does not know about pull requests; a REST stand-in (``toolfoundry.testing.github``) reads the same repositories.

What git needs on the client side (verified with git 2.39): nothing special for ``http://`` on
loopback; run it with ``GIT_TERMINAL_PROMPT=0`` and ``-c credential.helper=`` so a refused token fails
at once instead of prompting or being stored, and make sure no proxy applies (``no_proxy=127.0.0.1``
or ``-c http.proxy=``). A token can be given in the URL (``http://x-access-token:TOKEN@host/o/r.git``)
or, better (it stays out of ``argv`` and ``.git/config``), as an ``http.extraHeader`` passed through
``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n``; ``client_env`` builds that.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "Access",
    "Authenticator",
    "Authorizer",
    "GitHttpServer",
    "GitRequest",
    "PushHook",
    "client_env",
    "init_bare",
    "token_authenticator",
]

log = logging.getLogger(__name__)

Access = Literal["read", "write"]
"""What a request does to a repository: fetch/clone (``read``) or push (``write``)."""

Authenticator = Callable[[str, str], str | None]
"""``(username, secret) -> login or None``: who presented these credentials (basic auth user and
password, or ``("", token)`` for a bearer token); None refuses them."""

Authorizer = Callable[[str, str, str, Access], bool]
"""``(login, owner, repo, access) -> allowed``: may this authenticated user read or write this repo."""

PushHook = Callable[[str, str, str], None]
"""``(login, owner, repo)``: called after a ``git-receive-pack`` request that the backend accepted."""

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
"""An owner or repository name as GitHub allows it (also keeps paths inside the root)."""

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


def token_authenticator(tokens: Mapping[str, str]) -> Authenticator:
    """An ``Authenticator`` accepting the tokens in ``tokens`` (token → login) as password or bearer."""
    table = dict(tokens)

    def authenticate(_username: str, secret: str) -> str | None:
        return table.get(secret)

    return authenticate


def _allow_all(_login: str, _owner: str, _repo: str, _access: Access) -> bool:
    return True


def init_bare(path: Path, *, git: str = "git", initial_branch: str = "main") -> Path:
    """Create a bare repository at ``path`` (parents included; safe to repeat) and return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([_which(git), "init", "--quiet", "--bare", "--initial-branch", initial_branch, str(path)],
                   check=True, capture_output=True, env=_hermetic_env(_which(git)))
    return path


def client_env(token: str, *, base: Mapping[str, str] | None = None,
               username: str = "x-access-token") -> dict[str, str]:
    """Environment for a git client that authenticates to this server (or GitHub) with ``token``.

    The token travels as an ``http.extraHeader`` set through ``GIT_CONFIG_COUNT`` (never in argv, a
    URL or a config file); prompts and credential helpers are off and no proxy is used. Pass the rest
    of the environment in ``base`` (default: ``PATH`` only, with system and global config ignored).
    """
    env = dict(base) if base is not None else {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                               "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    basic = base64.b64encode(f"{username}:{token}".encode()).decode()
    settings = [("credential.helper", ""), ("http.proxy", ""),
                ("http.extraHeader", f"Authorization: Basic {basic}")]
    start = int(env.get("GIT_CONFIG_COUNT", "0"))
    for i, (key, value) in enumerate(settings, start=start):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    env["GIT_CONFIG_COUNT"] = str(start + len(settings))
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost,::1"
    return env


def _which(git: str) -> str:
    found = shutil.which(git)
    if found is None:
        raise FileNotFoundError(f"git executable {git!r} not found")
    return found


def _hermetic_env(git: str) -> dict[str, str]:
    return {"PATH": os.path.dirname(git) + os.pathsep + "/usr/bin:/bin", "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0"}


class GitHttpServer:
    """Serves ``<root>/<owner>/<repo>.git`` over smart HTTP on ``127.0.0.1``, with token auth.

    Use as a context manager (or call ``start``/``stop``). Every request needs credentials that
    ``authenticate`` accepts (by default: the ``tokens`` mapping, token → login); ``authorize`` then
    decides per repository and access (default: allow): no read access answers ``404`` (as GitHub
    hides a private repository), read but no write answers ``403`` to a push. A request without credentials gets ``401``
    with a basic-auth challenge, as GitHub answers, so git retries with the credentials it has.
    """

    def __init__(self, root: Path, *, tokens: Mapping[str, str] | None = None,
                 authenticate: Authenticator | None = None, authorize: Authorizer | None = None,
                 on_push: PushHook | None = None, host: str = "127.0.0.1", port: int = 0,
                 git: str = "git") -> None:
        if (tokens is None) == (authenticate is None):
            raise ValueError("give exactly one of tokens= or authenticate=")
        self.root = Path(root)
        self.authenticate: Authenticator = authenticate or token_authenticator(tokens or {})
        self.authorize: Authorizer = authorize or _allow_all
        self.on_push = on_push
        self._git = _which(git)
        exec_path = subprocess.run([self._git, "--exec-path"], check=True, capture_output=True,
                                   text=True, env=_hermetic_env(self._git)).stdout.strip()
        self._backend = os.path.join(exec_path, "git-http-backend")
        if not os.access(self._backend, os.X_OK):
            raise FileNotFoundError(f"git-http-backend not found at {self._backend}")
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._log: list[GitRequest] = []

    # ── lifecycle ────────────────────────────────────────────────────────────────────────────────

    def start(self) -> GitHttpServer:
        """Bind and serve in a daemon thread; return self."""
        if self._server is not None:
            raise RuntimeError("server already started")
        handler = type("_BoundGitHandler", (_GitHandler,), {"app": self})
        server = ThreadingHTTPServer(self._address, handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="toolfoundry-git-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> GitHttpServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ── addresses and repositories ───────────────────────────────────────────────────────────────

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (the server must be started)."""
        if self._server is None:
            raise RuntimeError("server not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def repo_url(self, owner: str, repo: str, *, token: str | None = None,
                 username: str = "x-access-token") -> str:
        """The clone URL of ``owner/repo``, with ``username:token@`` in it when a token is given."""
        base = self.url
        if token is not None:
            scheme, rest = base.split("://", 1)
            base = f"{scheme}://{username}:{token}@{rest}"
        return f"{base}/{owner}/{repo}.git"

    def repo_path(self, owner: str, repo: str) -> Path:
        """Where ``owner/repo`` lives on disk (``ValueError`` for a name GitHub would not allow)."""
        if not (NAME.match(owner) and NAME.match(repo)) or owner.startswith(".") or repo.startswith("."):
            raise ValueError(f"invalid repository name {owner}/{repo}")
        name = repo if repo.endswith(".git") else repo + ".git"
        return self.root / owner / name

    def create_repo(self, owner: str, repo: str, *, initial_branch: str = "main") -> Path:
        """Create the bare repository ``owner/repo`` under the root (safe to repeat); return its path."""
        return init_bare(self.repo_path(owner, repo), git=self._git, initial_branch=initial_branch)

    @property
    def requests(self) -> list[GitRequest]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        """Forget the logged requests."""
        with self._lock:
            self._log.clear()

    def _record(self, entry: GitRequest) -> None:
        with self._lock:
            self._log.append(entry)

    # ── serving one request (called from the handler thread) ─────────────────────────────────────

    def _cgi_env(self, *, method: str, path_info: str, query: str, login: str,
                 headers: Mapping[str, str], length: int, client: str) -> dict[str, str]:
        env = _hermetic_env(self._git)
        env.update({
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": method,
            "PATH_INFO": path_info,
            "QUERY_STRING": query,
            "REMOTE_USER": login,  # also what enables receive-pack in http-backend
            "REMOTE_ADDR": client,
            "CONTENT_LENGTH": str(length),
        })
        for header, variable in (("Content-Type", "CONTENT_TYPE"),
                                 ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
                                 ("Git-Protocol", "GIT_PROTOCOL")):
            if header in headers:
                env[variable] = headers[header]
        return env


class _GitHandler(BaseHTTPRequestHandler):
    """Routes one HTTP request to ``git http-backend`` after authentication and authorization."""

    app: GitHttpServer
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
