"""A smart-HTTP git server on loopback: ``git http-backend`` (CGI) behind a small threaded server.

This module owns serving bare repositories under one root directory, laid out as GitHub lays out its
clone URLs (``<root>/<owner>/<repo>.git``), over git's smart HTTP protocol, so that tests can run
``git clone``/``fetch``/``push`` against ``http://127.0.0.1:<port>/<owner>/<repo>.git`` with no network.
It authenticates every request the way GitHub accepts a token from git: HTTP basic auth whose password
is the token (any user name, conventionally ``x-access-token``), or ``Authorization: Bearer <token>``.
It does not know about pull requests; a REST stand-in (``toolfoundry.testing.github``) reads the same repositories.
Each request is routed, authenticated and handed to the backend by ``git_backend.py``'s handler.

What git needs on the client side (verified with git 2.39): nothing special for ``http://`` on
loopback; run it with ``GIT_TERMINAL_PROMPT=0`` and ``-c credential.helper=`` so a refused token fails
at once instead of prompting or being stored, and make sure no proxy applies (``no_proxy=127.0.0.1``
or ``-c http.proxy=``). A token can be given in the URL (``http://x-access-token:TOKEN@host/o/r.git``)
or, better (it stays out of ``argv`` and ``.git/config``), as an ``http.extraHeader`` passed through
``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n``; ``client_env`` builds that.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Mapping
from http.server import ThreadingHTTPServer
from pathlib import Path

from toolfoundry.testing import loopback
from toolfoundry.testing.git_backend import (
    Access,
    Authenticator,
    Authorizer,
    GitHandler,
    GitRequest,
    PushHook,
)

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

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
"""An owner or repository name as GitHub allows it (also keeps paths inside the root)."""

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
        handler = type("_BoundGitHandler", (GitHandler,), {"app": self})
        self._server, self._thread = loopback.serve(self._address, handler, name="toolfoundry-git-http")
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        loopback.stop(self._server, self._thread)
        self._server = self._thread = None

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
        return loopback.url_of(self._server)

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


