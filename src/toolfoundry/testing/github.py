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
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, NoReturn
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

__all__ = [
    "API_VERSIONS",
    "DEFAULT_API_VERSION",
    "FakeGitHub",
    "LoggedRequest",
    "RepoRole",
    "ReviewState",
]

log = logging.getLogger(__name__)

JSON = dict[str, Any]
RepoRole = Literal["read", "triage", "write", "maintain", "admin"]
ReviewState = Literal["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "PENDING", "DISMISSED"]
TeamRole = Literal["member", "maintainer"]
MergeMethod = Literal["merge", "squash", "rebase"]

API_VERSIONS = ("2022-11-28", "2026-03-10")
"""The ``X-GitHub-Api-Version`` values answered; others get ``400``."""
DEFAULT_API_VERSION = "2022-11-28"
"""The version GitHub selects when a request has no ``X-GitHub-Api-Version`` header."""

DOCS = "https://docs.github.com/rest"
RATE_LIMIT_DOCS = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
SECONDARY_DOCS = RATE_LIMIT_DOCS + "#about-secondary-rate-limits"
MERGE_DOCS = "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request"
PRIMARY_MESSAGE = "API rate limit exceeded for user ID {id}."
SECONDARY_MESSAGE = ("You have exceeded a secondary rate limit. Please wait a few minutes before you try "
                     "again.")
HEAD_MODIFIED = "Head branch was modified. Review and try the merge again."
NOT_MERGEABLE = "Pull Request is not mergeable"

_ROLE_RANK: dict[str, int] = {"none": 0, "read": 1, "triage": 2, "write": 3, "maintain": 4, "admin": 5}
_LEGACY_PERMISSION = {"read": "read", "triage": "read", "write": "write", "maintain": "write", "admin": "admin"}
_EVENT_STATE: dict[str, ReviewState] = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED",
                                        "COMMENT": "COMMENTED"}
_METHOD_REFUSED = {"merge": "Merge commits are not allowed on this repository.",
                   "squash": "Squash merges are not allowed on this repository.",
                   "rebase": "Rebase merges are not allowed on this repository."}
_SHA = re.compile(r"^[0-9a-f]{40}$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_GOOD_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})
_GITHUB_IDENTITY = ("GitHub", "noreply@github.com")


# ── the in-memory model ──────────────────────────────────────────────────────────────────────────────


@dataclass
class _User:
    login: str
    id: int
    type: Literal["User", "Bot", "Organization"] = "User"
    name: str | None = None
    email: str | None = None
    site_admin: bool = False
    created_at: float = 0.0


@dataclass
class _Team:
    org: str
    slug: str
    id: int
    members: dict[str, TeamRole] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)


@dataclass
class _Review:
    id: int
    user: str
    body: str
    state: ReviewState
    commit_id: str
    submitted_at: float


@dataclass
class _Comment:
    id: int
    issue: int
    user: str
    body: str
    created_at: float
    updated_at: float


@dataclass
class _CheckRun:
    id: int
    suite_id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    started_at: float
    completed_at: float | None
    title: str | None = None
    summary: str | None = None
    details_url: str | None = None
    external_id: str | None = None


@dataclass
class _Status:
    id: int
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    creator: str
    created_at: float


@dataclass
class _Pull:
    number: int
    id: int
    user: str
    title: str
    body: str | None
    head_ref: str
    base_ref: str
    draft: bool
    maintainer_can_modify: bool
    created_at: float
    updated_at: float
    state: Literal["open", "closed"] = "open"
    closed_at: float | None = None
    merged_at: float | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    frozen_head: str | None = None  # the head sha once closed; while open, the branch is read from git
    frozen_base: str | None = None
    reviews: list[_Review] = field(default_factory=list)
    mergeable_seen: str | None = None  # the head sha whose mergeability was already "computed"


@dataclass
class _Repo:
    owner: str
    name: str
    id: int
    path: Path
    private: bool
    default_branch: str
    created_at: float
    collaborators: dict[str, RepoRole] = field(default_factory=dict)
    merge_methods: set[str] = field(default_factory=lambda: {"merge", "squash", "rebase"})
    required_approvals: int = 0
    required_checks: tuple[str, ...] = ()
    dismiss_stale_reviews: bool = False
    lazy_mergeable: bool = False
    next_number: int = 1
    pulls: dict[int, _Pull] = field(default_factory=dict)
    comments: list[_Comment] = field(default_factory=list)
    check_runs: list[_CheckRun] = field(default_factory=list)
    statuses: list[_Status] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class _Injection:
    status: int
    body: JSON
    headers: dict[str, str]
    remaining: int
    method: str | None
    path: re.Pattern[str] | None
    primary_reset: float | None = None  # set for an injected primary rate limit: x-ratelimit-reset


@dataclass
class _Quota:
    limit: int
    used: int = 0
    reset: float = 0.0


@dataclass(frozen=True)
class LoggedRequest:
    """One request the stand-in answered. ``headers`` are lower-cased, with credentials redacted."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int
    login: str | None
    api_version: str
    response_headers: dict[str, str]
    response: Any
    """The JSON answered (before pagination; None for 204/304)."""
    at: float = 0.0
    """When it was answered, by the stand-in's clock (seconds since the epoch)."""


class _Answer(Exception):
    """Raised by a route to answer at once with ``status`` and a JSON body (an error, usually)."""

    def __init__(self, status: int, body: JSON | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _error(status: int, message: str, *, doc: str = DOCS, errors: list[Any] | None = None,
           headers: Mapping[str, str] | None = None) -> NoReturn:
    body: JSON = {"message": message, "documentation_url": doc, "status": str(status)}
    if errors is not None:
        body["errors"] = errors
    raise _Answer(status, body, headers)


def _not_found() -> NoReturn:
    _error(404, "Not Found")


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, ident: int) -> str:
    return base64.b64encode(f"0:{kind}{ident}".encode()).decode().rstrip("=")


@dataclass
class _Ctx:
    """What a route needs to know about the request it answers."""

    login: str | None
    api: str  # e.g. http://127.0.0.1:PORT or http://127.0.0.1:PORT/api/v3 (no trailing slash)
    web: str  # the "html" side, e.g. http://127.0.0.1:PORT
    version: str
    query: dict[str, list[str]]
    body: Any

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def field(self, name: str, default: Any = None) -> Any:
        return self.body.get(name, default) if isinstance(self.body, dict) else default


# ── git plumbing ─────────────────────────────────────────────────────────────────────────────────────


class _Git:
    """The git CLI against one bare repository, with a hermetic environment."""

    def __init__(self, executable: str, repo: Path) -> None:
        self.executable = executable
        self.repo = repo
        self.env = {"PATH": os.path.dirname(executable) + os.pathsep + "/usr/bin:/bin", "LC_ALL": "C",
                    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                    "GIT_TERMINAL_PROMPT": "0"}

    def run(self, *args: str, ok: Iterable[int] = (0,), stdin: bytes = b"",
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run([self.executable, "--git-dir", str(self.repo), *args], input=stdin,
                              capture_output=True, env={**self.env, **(env or {})}, check=False)
        if proc.returncode not in tuple(ok):
            raise RuntimeError(f"git {args[0]} failed in {self.repo}: "
                               f"{proc.stderr.decode('utf-8', 'replace').strip()}")
        return proc

    def out(self, *args: str, stdin: bytes = b"", env: Mapping[str, str] | None = None) -> str:
        return self.run(*args, stdin=stdin, env=env).stdout.decode("utf-8", "replace").strip()

    def rev(self, ref: str) -> str | None:
        if not ref or ref.startswith("-") or any(c.isspace() for c in ref):
            return None
        proc = self.run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}",
                        ok=(0, 1, 128))
        if proc.returncode != 0:
            return None
        return proc.stdout.decode().strip() or None

    def branch(self, name: str) -> str | None:
        return self.rev(f"refs/heads/{name}")

    def is_ancestor(self, commit: str, of: str) -> bool:
        return self.run("merge-base", "--is-ancestor", commit, of, ok=(0, 1)).returncode == 0

    def merge_tree(self, ours: str, theirs: str) -> tuple[str | None, list[str]]:
        """``(tree, [])`` for a clean merge, ``(None, conflicted paths)`` for a conflicting one."""
        proc = self.run("merge-tree", "--write-tree", "--name-only", "-z", ours, theirs, ok=(0, 1))
        head, _, _ = proc.stdout.partition(b"\0\0")
        tree, *conflicts = head.rstrip(b"\0").decode("utf-8", "replace").split("\0")
        return (None, conflicts) if proc.returncode == 1 else (tree, [])

    def commit_tree(self, tree: str, parents: list[str], message: str, *,
                    author: tuple[str, str], committer: tuple[str, str], when: float) -> str:
        stamp = f"{int(when)} +0000"
        env = {"GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1], "GIT_AUTHOR_DATE": stamp,
               "GIT_COMMITTER_NAME": committer[0], "GIT_COMMITTER_EMAIL": committer[1],
               "GIT_COMMITTER_DATE": stamp}
        args = [arg for parent in parents for arg in ("-p", parent)]
        return self.out("commit-tree", tree, *args, stdin=message.encode(), env=env)

    def cas(self, ref: str, new: str, old: str) -> bool:
        return self.run("update-ref", ref, new, old, ok=(0, 1, 128)).returncode == 0

    def count(self, base: str, head: str) -> int:
        return int(self.out("rev-list", "--count", f"{base}..{head}") or 0)

    def numstat(self, base: str, head: str) -> tuple[int, int, int]:
        out = self.out("diff", "--numstat", "--no-renames", f"{base}...{head}")
        adds = dels = files = 0
        for line in out.splitlines():
            a, d, _ = line.split("\t", 2)
            adds += int(a) if a.isdigit() else 0
            dels += int(d) if d.isdigit() else 0
            files += 1
        return adds, dels, files


# ── the stand-in ─────────────────────────────────────────────────────────────────────────────────────


Route = Callable[[_Ctx, dict[str, str]], tuple[int, Any]]


class FakeGitHub:
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

    def __init__(self, root: Path, *, host: str = "127.0.0.1", port: int = 0, git: str = "git",
                 clone_base: str | None = None, clock: Callable[[], float] = time.time,
                 rate_limit: int = 5000) -> None:
        self.root = Path(root)
        found = shutil.which(git)
        if found is None:
            raise FileNotFoundError(f"git executable {git!r} not found")
        self._git_exe = found
        self.clone_base = clone_base
        self.clock = clock
        self.rate_limit = rate_limit
        self._address = (host, port)
        self._lock = threading.RLock()
        self._ids = itertools.count(1001)
        self._users: dict[str, _User] = {}
        self._tokens: dict[str, str] = {}
        self._teams: dict[tuple[str, str], _Team] = {}
        self._org_members: dict[str, set[str]] = {}
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._quotas: dict[str, _Quota] = {}
        self._injections: list[_Injection] = []
        self._log: list[LoggedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes = self._route_table()

    # ── lifecycle ────────────────────────────────────────────────────────────────────────────────

    def start(self) -> FakeGitHub:
        """Bind and serve in a daemon thread; return self."""
        if self._server is not None:
            raise RuntimeError("server already started")
        handler = type("_BoundApiHandler", (_ApiHandler,), {"app": self})
        server = ThreadingHTTPServer(self._address, handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="toolfoundry-fake-github", daemon=True)
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

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` without a trailing slash (the server must be started)."""
        if self._server is None:
            raise RuntimeError("server not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """The REST base URL to give a client, like ``https://api.github.com/``."""
        return self.url + "/"

    @property
    def enterprise_base_url(self) -> str:
        """The same API under ``/api/v3/``, the shape of a GitHub Enterprise Server base URL."""
        return self.url + "/api/v3/"

    # ── setting the scene (tests) ────────────────────────────────────────────────────────────────

    def add_user(self, login: str, *, token: str | None = None, type: Literal["User", "Bot"] = "User",  # noqa: A002
                 name: str | None = None, email: str | None = None, site_admin: bool = False) -> str:
        """Create a user (or bot) with a token; return the token (a random one unless given)."""
        with self._lock:
            if not _NAME.match(login) or login.lower() in (k.lower() for k in self._users):
                raise ValueError(f"invalid or duplicate login {login!r}")
            self._users[login] = _User(login, next(self._ids), type, name, email, site_admin, self.clock())
            return self.add_token(login, token)

    def add_token(self, login: str, token: str | None = None) -> str:
        """Give ``login`` another token (random unless given); return it."""
        with self._lock:
            self._user(login)
            token = token or "ghp_" + secrets.token_hex(18)
            self._tokens[token] = login
            return token

    def revoke_token(self, token: str) -> None:
        """Make ``token`` answer ``401 Bad credentials`` from now on."""
        with self._lock:
            self._tokens.pop(token, None)

    def add_org(self, login: str, *, members: Iterable[str] = ()) -> None:
        """Create an organization (it owns repositories and teams; it has no token) with ``members``.

        Only members (and site admins) can read the org's team memberships, as on GitHub.
        """
        with self._lock:
            if self._find_user(login) is not None:
                raise ValueError(f"duplicate login {login!r}")
            self._users[login] = _User(login, next(self._ids), "Organization", created_at=self.clock())
            self._org_members[login.lower()] = {self._user(m).login for m in members}

    def add_team(self, org: str, slug: str, *, members: Mapping[str, TeamRole] | None = None,
                 pending: Iterable[str] = ()) -> None:
        """Create team ``org/slug`` with active ``members`` (login → role) and ``pending`` invitations."""
        with self._lock:
            if self._user(org).type != "Organization":
                raise ValueError(f"{org} is not an organization")
            team = _Team(org, slug, next(self._ids), dict(members or {}), set(pending))
            for login in [*team.members, *team.pending]:
                self._user(login)
            self._org_members.setdefault(org.lower(), set()).update(team.members)
            self._teams[(org.lower(), slug.lower())] = team

    def add_repo(self, owner: str, name: str, *, private: bool = True, default_branch: str = "main",
                 collaborators: Mapping[str, RepoRole] | None = None) -> Path:
        """Register ``owner/name`` over ``<root>/<owner>/<name>.git`` (created bare if missing); return it.

        A user owner has admin rights; other users need a ``collaborators`` role. An existing
        repository at that path is used as it is (its branches are what the API reports).
        """
        with self._lock:
            self._user(owner)
            if not (_NAME.match(name) and not name.startswith(".")):
                raise ValueError(f"invalid repository name {name!r}")
            path = self.root / owner / f"{name}.git"
            if not (path / "HEAD").is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run([self._git_exe, "init", "--quiet", "--bare", "--initial-branch",
                                default_branch, str(path)], check=True, capture_output=True,
                               env=_Git(self._git_exe, path).env)
            repo = _Repo(owner, name, next(self._ids), path, private, default_branch, self.clock(),
                         collaborators=dict(collaborators or {}))
            for login in repo.collaborators:
                self._user(login)
            self._repos[(owner.lower(), name.lower())] = repo
            return path

    def set_collaborator(self, owner: str, repo: str, login: str, role: RepoRole | None) -> None:
        """Give ``login`` a role on the repository, or remove it (``None``)."""
        with self._lock:
            r = self._repo(owner, repo)
            self._user(login)
            if role is None:
                r.collaborators.pop(login, None)
            else:
                r.collaborators[login] = role

    def protect(self, owner: str, repo: str, *, required_approvals: int = 0,
                required_checks: Iterable[str] = (), dismiss_stale_reviews: bool = False,
                merge_methods: Iterable[MergeMethod] = ("merge", "squash", "rebase"),
                lazy_mergeable: bool = False) -> None:
        """Set the base-branch rules the merge endpoint enforces.

        ``required_approvals``: approving reviews (latest per reviewer, by users with write access, not
        the author) needed; a pending "changes requested" from such a user also blocks.
        ``required_checks``: names that need a successful check run or commit status on the head.
        ``dismiss_stale_reviews``: approvals of an older head count as ``DISMISSED``.
        ``merge_methods``: which ``merge_method`` values are allowed. ``lazy_mergeable``: the first
        read of a pull request after its head changes reports ``mergeable: null`` ("unknown"), as
        GitHub does while it computes the merge in the background.
        """
        with self._lock:
            r = self._repo(owner, repo)
            r.required_approvals = required_approvals
            r.required_checks = tuple(required_checks)
            r.dismiss_stale_reviews = dismiss_stale_reviews
            r.merge_methods = set(merge_methods)
            r.lazy_mergeable = lazy_mergeable

    def add_review(self, owner: str, repo: str, number: int, login: str, state: ReviewState, body: str = "",
                   *, commit_id: str | None = None) -> int:
        """Record a review by ``login`` (no rules checked: tests may break them); return its id."""
        with self._lock:
            r = self._repo(owner, repo)
            pull = self._pull(r, number)
            self._user(login)
            review = _Review(next(self._ids), login, body, state, commit_id or self._head(r, pull), self.clock())
            pull.reviews.append(review)
            pull.updated_at = self.clock()
            return review.id

    def set_check_run(self, owner: str, repo: str, ref: str, name: str, *,
                      status: Literal["queued", "in_progress", "completed"] = "completed",
                      conclusion: str | None = "success", title: str | None = None,
                      summary: str | None = None, details_url: str | None = None) -> int:
        """Add a check run ``name`` on the commit ``ref`` resolves to (newest per name wins); return its id."""
        with self._lock:
            r = self._repo(owner, repo)
            sha = self._resolve(r, ref)
            now = self.clock()
            run = _CheckRun(next(self._ids), next(self._ids), name, sha, status,
                            conclusion if status == "completed" else None, now,
                            now if status == "completed" else None, title, summary, details_url)
            r.check_runs.append(run)
            return run.id

    def set_status(self, owner: str, repo: str, ref: str, state: Literal["error", "failure", "pending", "success"],
                   *, context: str = "default", description: str | None = None,
                   target_url: str | None = None, creator: str | None = None) -> int:
        """Add a commit status on the commit ``ref`` resolves to; return its id."""
        with self._lock:
            r = self._repo(owner, repo)
            status = _Status(next(self._ids), self._resolve(r, ref), state, context, description, target_url,
                             creator or r.owner, self.clock())
            r.statuses.append(status)
            return status.id

    def rate_limit_next(self, count: int = 1, *, status: Literal[403, 429] = 403,
                        kind: Literal["secondary", "primary"] = "secondary", retry_after: int | None = 1,
                        reset_in: int = 1, method: str | None = None, path: str | None = None) -> None:
        """Answer the next ``count`` matching requests with a rate-limit error, as GitHub documents them.

        ``secondary``: ``status`` with the secondary-limit message and, unless ``retry_after`` is None,
        a ``retry-after`` header. ``primary``: ``status`` with ``x-ratelimit-remaining: 0`` and
        ``x-ratelimit-reset`` ``reset_in`` seconds from now (and ``retry-after`` only if given).
        ``method``/``path`` (a regular expression searched in the path) restrict which requests match.
        """
        if kind == "secondary":
            body: JSON = {"message": SECONDARY_MESSAGE, "documentation_url": SECONDARY_DOCS, "status": str(status)}
        else:
            body = {"message": PRIMARY_MESSAGE, "documentation_url": RATE_LIMIT_DOCS, "status": str(status)}
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        with self._lock:
            self._injections.append(_Injection(
                status, body, headers, count, method.upper() if method else None,
                re.compile(path) if path else None,
                primary_reset=(self.clock() + reset_in) if kind == "primary" else None))

    def fail_next(self, count: int, status: int, body: JSON | None = None, *,
                  headers: Mapping[str, str] | None = None, method: str | None = None,
                  path: str | None = None) -> None:
        """Answer the next ``count`` matching requests with ``status`` and ``body`` (e.g. a 502)."""
        with self._lock:
            self._injections.append(_Injection(
                status, body if body is not None else {"message": HTTPStatus(status).phrase, "status": str(status)},
                dict(headers or {}), count, method.upper() if method else None,
                re.compile(path) if path else None))

    def set_quota(self, login: str, *, remaining: int, reset_in: int = 3600) -> None:
        """Set ``login``'s primary rate-limit window: ``remaining`` requests until ``reset_in`` seconds."""
        with self._lock:
            self._user(login)
            self._quotas[login] = _Quota(self.rate_limit, self.rate_limit - remaining, self.clock() + reset_in)

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

    # ── lookups ──────────────────────────────────────────────────────────────────────────────────

    def _user(self, login: str) -> _User:
        for key, user in self._users.items():
            if key.lower() == login.lower():
                return user
        raise KeyError(f"no user {login!r}")

    def _find_user(self, login: str) -> _User | None:
        try:
            return self._user(login)
        except KeyError:
            return None

    def _repo(self, owner: str, name: str) -> _Repo:
        found = self._repos.get((owner.lower(), name.lower()))
        if found is None:
            raise KeyError(f"no repository {owner}/{name}")
        return found

    def _pull(self, repo: _Repo, number: int) -> _Pull:
        found = repo.pulls.get(number)
        if found is None:
            raise KeyError(f"no pull request #{number} in {repo.full_name}")
        return found

    def _git(self, repo: _Repo) -> _Git:
        return _Git(self._git_exe, repo.path)

    def _resolve(self, repo: _Repo, ref: str) -> str:
        """The commit ``ref`` names: a sha, a branch, a tag or a full ref (``KeyError`` if none)."""
        git = self._git(repo)
        candidates = [ref] if _SHA.match(ref) else [f"refs/heads/{ref}", f"refs/tags/{ref}", ref]
        sha = next((found for c in candidates if (found := git.rev(c)) is not None), None)
        if sha is None:
            raise KeyError(f"no commit {ref!r} in {repo.full_name}")
        return sha

    def _head(self, repo: _Repo, pull: _Pull) -> str:
        if pull.frozen_head is not None:
            return pull.frozen_head
        return self._git(repo).branch(pull.head_ref) or "0" * 40

    def _base(self, repo: _Repo, pull: _Pull) -> str:
        if pull.frozen_base is not None:
            return pull.frozen_base
        return self._git(repo).branch(pull.base_ref) or "0" * 40

    def _role(self, repo: _Repo, login: str | None) -> str:
        if login is None:
            return "read" if not repo.private else "none"
        user = self._find_user(login)
        if user is None:
            return "none"
        if user.site_admin or login.lower() == repo.owner.lower():
            return "admin"
        role = next((r for who, r in repo.collaborators.items() if who.lower() == login.lower()), None)
        if role is not None:
            return role
        return "read" if not repo.private else "none"

    def _visible_repo(self, ctx: _Ctx, owner: str, name: str, need: str = "read") -> _Repo:
        """The repository, or 404 when the caller cannot see it, 403 when it lacks ``need``."""
        repo = self._repos.get((owner.lower(), name.lower()))
        role = self._role(repo, ctx.login) if repo else "none"
        if repo is None or _ROLE_RANK[role] < _ROLE_RANK["read"]:
            _not_found()
        if _ROLE_RANK[role] < _ROLE_RANK[need]:
            _error(403, "Resource not accessible by personal access token")
        return repo

    def _visible_pull(self, repo: _Repo, number: str) -> _Pull:
        pull = repo.pulls.get(int(number))
        if pull is None:
            _not_found()
        return pull

    # ── JSON shapes (field names as in GitHub's OpenAPI description) ─────────────────────────────

    def _user_json(self, ctx: _Ctx, login: str) -> JSON:
        user = self._user(login)
        api, name = f"{ctx.api}/users/{user.login}", user.login
        return {
            "login": name, "id": user.id, "node_id": _node_id("U_", user.id),
            "avatar_url": f"{ctx.web}/avatars/u/{user.id}?v=4", "gravatar_id": "",
            "url": api, "html_url": f"{ctx.web}/{name}",
            "followers_url": f"{api}/followers", "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}", "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions", "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos", "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events", "type": user.type,
            "user_view_type": "public", "site_admin": user.site_admin,
        }

    def _public_user_json(self, ctx: _Ctx, login: str, *, private: bool) -> JSON:
        user = self._user(login)
        owned = [r for r in self._repos.values() if r.owner.lower() == user.login.lower()]
        data = {**self._user_json(ctx, login), "name": user.name, "company": None, "blog": "",
                "location": None, "email": user.email, "hireable": None, "bio": None,
                "twitter_username": None, "public_repos": sum(not r.private for r in owned),
                "public_gists": 0, "followers": 0, "following": 0,
                "created_at": _iso(user.created_at), "updated_at": _iso(user.created_at)}
        if private:
            data.update({"private_gists": 0, "total_private_repos": sum(r.private for r in owned),
                         "owned_private_repos": sum(r.private for r in owned), "disk_usage": 0,
                         "collaborators": 0, "two_factor_authentication": True})
        return data

    def _repo_urls(self, ctx: _Ctx, repo: _Repo) -> JSON:
        api = f"{ctx.api}/repos/{repo.full_name}"
        templates = {
            "archive_url": "/{archive_format}{/ref}", "assignees_url": "/assignees{/user}",
            "blobs_url": "/git/blobs{/sha}", "branches_url": "/branches{/branch}",
            "collaborators_url": "/collaborators{/collaborator}", "comments_url": "/comments{/number}",
            "commits_url": "/commits{/sha}", "compare_url": "/compare/{base}...{head}",
            "contents_url": "/contents/{+path}", "contributors_url": "/contributors",
            "deployments_url": "/deployments", "downloads_url": "/downloads", "events_url": "/events",
            "forks_url": "/forks", "git_commits_url": "/git/commits{/sha}", "git_refs_url": "/git/refs{/sha}",
            "git_tags_url": "/git/tags{/sha}", "hooks_url": "/hooks",
            "issue_comment_url": "/issues/comments{/number}", "issue_events_url": "/issues/events{/number}",
            "issues_url": "/issues{/number}", "keys_url": "/keys{/key_id}", "labels_url": "/labels{/name}",
            "languages_url": "/languages", "merges_url": "/merges", "milestones_url": "/milestones{/number}",
            "notifications_url": "/notifications{?since,all,participating}", "pulls_url": "/pulls{/number}",
            "releases_url": "/releases{/id}", "stargazers_url": "/stargazers",
            "statuses_url": "/statuses/{sha}", "subscribers_url": "/subscribers",
            "subscription_url": "/subscription", "tags_url": "/tags", "teams_url": "/teams",
            "trees_url": "/git/trees{/sha}",
        }
        urls: JSON = {key: api + suffix for key, suffix in templates.items()}
        urls["url"] = api
        urls["html_url"] = f"{ctx.web}/{repo.full_name}"
        return urls

    def _minimal_repo_json(self, ctx: _Ctx, repo: _Repo) -> JSON:
        return {"id": repo.id, "node_id": _node_id("R_", repo.id), "name": repo.name,
                "full_name": repo.full_name, "owner": self._user_json(ctx, repo.owner),
                "private": repo.private, "description": None, "fork": False, **self._repo_urls(ctx, repo)}

    def _repo_json(self, ctx: _Ctx, repo: _Repo, *, full: bool) -> JSON:
        clone = f"{self.clone_base or ctx.web}/{repo.full_name}.git"
        host = urlsplit(clone).hostname or "127.0.0.1"
        pushed = self._git(repo).out("log", "-1", "--format=%ct", "--all") or None
        open_issues = sum(p.state == "open" for p in repo.pulls.values())
        role = self._role(repo, ctx.login)
        data: JSON = {
            **self._minimal_repo_json(ctx, repo),
            "git_url": f"git://{host}/{repo.full_name}.git", "ssh_url": f"git@{host}:{repo.full_name}.git",
            "clone_url": clone, "svn_url": f"{ctx.web}/{repo.full_name}", "mirror_url": None,
            "homepage": None, "language": "Python", "forks_count": 0, "stargazers_count": 0,
            "watchers_count": 0, "size": 0, "default_branch": repo.default_branch,
            "open_issues_count": open_issues, "is_template": False, "topics": [],
            "has_issues": True, "has_projects": False, "has_wiki": False, "has_pages": False,
            "has_discussions": False, "archived": False, "disabled": False,
            "visibility": "private" if repo.private else "public",
            "pushed_at": _iso(repo.created_at if pushed is None else float(pushed)),
            "created_at": _iso(repo.created_at), "updated_at": _iso(repo.created_at),
            "permissions": {"admin": role == "admin", "maintain": _ROLE_RANK[role] >= 4,
                            "push": _ROLE_RANK[role] >= 3, "triage": _ROLE_RANK[role] >= 2,
                            "pull": _ROLE_RANK[role] >= 1},
            "allow_merge_commit": "merge" in repo.merge_methods,
            "allow_squash_merge": "squash" in repo.merge_methods,
            "allow_rebase_merge": "rebase" in repo.merge_methods,
            "allow_auto_merge": False, "delete_branch_on_merge": False, "allow_forking": False,
            "web_commit_signoff_required": False, "license": None, "forks": 0,
            "open_issues": open_issues, "watchers": 0,
        }
        if full:
            data.update({"subscribers_count": 0, "network_count": 0, "temp_clone_token": None})
            if ctx.version == "2022-11-28":
                data.update({"has_downloads": False, "use_squash_pr_title_as_default": False})
        elif ctx.version == "2022-11-28":
            data["has_downloads"] = False
        return data

    def _association(self, repo: _Repo, login: str) -> str:
        if login.lower() == repo.owner.lower():
            return "OWNER"
        if any(who.lower() == login.lower() for who in repo.collaborators):
            return "COLLABORATOR"
        return "CONTRIBUTOR" if any(p.user == login and p.merged_at for p in repo.pulls.values()) else "NONE"

    def _pull_links(self, ctx: _Ctx, repo: _Repo, number: int) -> tuple[JSON, JSON]:
        api = f"{ctx.api}/repos/{repo.full_name}"
        html = f"{ctx.web}/{repo.full_name}/pull/{number}"
        urls = {"url": f"{api}/pulls/{number}", "html_url": html, "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch", "issue_url": f"{api}/issues/{number}",
                "commits_url": f"{api}/pulls/{number}/commits",
                "review_comments_url": f"{api}/pulls/{number}/comments",
                "review_comment_url": f"{api}/pulls/comments{{/number}}",
                "comments_url": f"{api}/issues/{number}/comments"}
        links = {"self": urls["url"], "html": html, "issue": urls["issue_url"], "comments": urls["comments_url"],
                 "review_comments": urls["review_comments_url"], "review_comment": urls["review_comment_url"],
                 "commits": urls["commits_url"]}
        return urls, {key: {"href": href} for key, href in links.items()}

    def _branch_json(self, ctx: _Ctx, repo: _Repo, ref: str, sha: str) -> JSON:
        return {"label": f"{repo.owner}:{ref}", "ref": ref, "sha": sha,
                "user": self._user_json(ctx, repo.owner), "repo": self._repo_json(ctx, repo, full=False)}

    def _pull_json(self, ctx: _Ctx, repo: _Repo, pull: _Pull, *, full: bool) -> JSON:
        head, base = self._head(repo, pull), self._base(repo, pull)
        urls, links = self._pull_links(ctx, repo, pull.number)
        statuses_url = f"{ctx.api}/repos/{repo.full_name}/statuses/{head}"
        links["statuses"] = {"href": statuses_url}
        data: JSON = {
            **urls, "id": pull.id, "node_id": _node_id("PR_", pull.id), "statuses_url": statuses_url,
            "number": pull.number, "state": pull.state, "locked": False, "title": pull.title,
            "user": self._user_json(ctx, pull.user), "body": pull.body, "labels": [], "milestone": None,
            "active_lock_reason": None, "created_at": _iso(pull.created_at),
            "updated_at": _iso(pull.updated_at), "closed_at": _iso(pull.closed_at),
            "merged_at": _iso(pull.merged_at), "assignees": [], "requested_reviewers": [],
            "requested_teams": [], "head": self._branch_json(ctx, repo, pull.head_ref, head),
            "base": self._branch_json(ctx, repo, pull.base_ref, base), "_links": links,
            "author_association": self._association(repo, pull.user), "auto_merge": None,
            "draft": pull.draft,
        }
        if ctx.version == "2022-11-28":  # both removed in 2026-03-10
            data["assignee"] = None
            data["merge_commit_sha"] = pull.merge_commit_sha
        if full:
            mergeable, state = self._mergeability(repo, pull, head, base)
            git = self._git(repo)
            adds, dels, files = git.numstat(base, head) if head != "0" * 40 else (0, 0, 0)
            data.update({
                "merged": pull.merged_at is not None, "mergeable": mergeable, "rebaseable": mergeable,
                "mergeable_state": state,
                "merged_by": self._user_json(ctx, pull.merged_by) if pull.merged_by else None,
                "comments": sum(c.issue == pull.number for c in repo.comments), "review_comments": 0,
                "maintainer_can_modify": pull.maintainer_can_modify,
                "commits": git.count(base, head) if head != "0" * 40 else 0,
                "additions": adds, "deletions": dels, "changed_files": files,
            })
        return data

    def _mergeability(self, repo: _Repo, pull: _Pull, head: str, base: str) -> tuple[bool | None, str]:
        if pull.state == "closed":
            return None, "unknown"
        if repo.lazy_mergeable and pull.mergeable_seen != head:
            pull.mergeable_seen = head
            return None, "unknown"
        tree, _ = self._git(repo).merge_tree(base, head)
        if tree is None:
            return False, "dirty"
        if pull.draft:
            return True, "draft"
        return True, "blocked" if self._blockers(repo, pull, head) else "clean"

    def _review_state(self, repo: _Repo, pull: _Pull, review: _Review) -> ReviewState:
        head = self._head(repo, pull)
        if repo.dismiss_stale_reviews and review.state == "APPROVED" and review.commit_id != head:
            return "DISMISSED"
        return review.state

    def _review_json(self, ctx: _Ctx, repo: _Repo, pull: _Pull, review: _Review) -> JSON:
        html = f"{ctx.web}/{repo.full_name}/pull/{pull.number}#pullrequestreview-{review.id}"
        pr_url = f"{ctx.api}/repos/{repo.full_name}/pulls/{pull.number}"
        state = self._review_state(repo, pull, review)
        data: JSON = {
            "id": review.id, "node_id": _node_id("PRR_", review.id), "user": self._user_json(ctx, review.user),
            "body": review.body, "state": state, "html_url": html, "pull_request_url": pr_url,
            "author_association": self._association(repo, review.user),
            "_links": {"html": {"href": html}, "pull_request": {"href": pr_url}},
            "commit_id": review.commit_id,
        }
        if state != "PENDING":
            data["submitted_at"] = _iso(review.submitted_at)
        return data

    def _comment_json(self, ctx: _Ctx, repo: _Repo, comment: _Comment) -> JSON:
        api = f"{ctx.api}/repos/{repo.full_name}"
        return {"id": comment.id, "node_id": _node_id("IC_", comment.id),
                "url": f"{api}/issues/comments/{comment.id}",
                "html_url": f"{ctx.web}/{repo.full_name}/pull/{comment.issue}#issuecomment-{comment.id}",
                "body": comment.body, "user": self._user_json(ctx, comment.user),
                "created_at": _iso(comment.created_at), "updated_at": _iso(comment.updated_at),
                "issue_url": f"{api}/issues/{comment.issue}",
                "author_association": self._association(repo, comment.user)}

    def _app_json(self, ctx: _Ctx, repo: _Repo) -> JSON:
        return {"id": 15368, "slug": "github-actions", "node_id": _node_id("A_", 15368),
                "client_id": "Iv1.fake", "owner": self._user_json(ctx, repo.owner), "name": "GitHub Actions",
                "description": "Automate your workflow from idea to production",
                "external_url": "https://help.github.com/en/actions", "html_url": f"{ctx.web}/apps/github-actions",
                "created_at": _iso(0), "updated_at": _iso(0), "permissions": {"checks": "write"},
                "events": ["check_run", "pull_request", "push"]}

    def _check_json(self, ctx: _Ctx, repo: _Repo, run: _CheckRun) -> JSON:
        api = f"{ctx.api}/repos/{repo.full_name}"
        pulls = []
        for pull in repo.pulls.values():
            if pull.state == "open" and self._head(repo, pull) == run.head_sha:
                ref = {"id": repo.id, "url": api, "name": repo.name}
                pulls.append({"id": pull.id, "number": pull.number, "url": f"{api}/pulls/{pull.number}",
                              "head": {"ref": pull.head_ref, "sha": run.head_sha, "repo": ref},
                              "base": {"ref": pull.base_ref, "sha": self._base(repo, pull), "repo": ref}})
        return {
            "id": run.id, "head_sha": run.head_sha, "node_id": _node_id("CR_", run.id),
            "external_id": run.external_id or "", "url": f"{api}/check-runs/{run.id}",
            "html_url": f"{ctx.web}/{repo.full_name}/runs/{run.id}", "details_url": run.details_url,
            "status": run.status, "conclusion": run.conclusion, "started_at": _iso(run.started_at),
            "completed_at": _iso(run.completed_at),
            "output": {"title": run.title, "summary": run.summary, "text": None, "annotations_count": 0,
                       "annotations_url": f"{api}/check-runs/{run.id}/annotations"},
            "name": run.name, "check_suite": {"id": run.suite_id}, "app": self._app_json(ctx, repo),
            "pull_requests": pulls,
        }

    def _status_json(self, ctx: _Ctx, repo: _Repo, status: _Status, *, simple: bool) -> JSON:
        data: JSON = {
            "url": f"{ctx.api}/repos/{repo.full_name}/statuses/{status.sha}",
            "avatar_url": f"{ctx.web}/avatars/u/{self._user(status.creator).id}?v=4", "id": status.id,
            "node_id": _node_id("SC_", status.id), "state": status.state, "description": status.description,
            "target_url": status.target_url, "context": status.context,
            "created_at": _iso(status.created_at), "updated_at": _iso(status.created_at),
        }
        if simple:
            data["required"] = status.context in repo.required_checks
        else:
            data["creator"] = self._user_json(ctx, status.creator)
        return data

    # ── rules ────────────────────────────────────────────────────────────────────────────────────

    def _latest_statuses(self, repo: _Repo, sha: str) -> dict[str, _Status]:
        latest: dict[str, _Status] = {}
        for status in repo.statuses:
            if status.sha == sha:
                latest[status.context] = status
        return latest

    def _latest_runs(self, repo: _Repo, sha: str) -> dict[str, _CheckRun]:
        latest: dict[str, _CheckRun] = {}
        for run in repo.check_runs:
            if run.head_sha == sha:
                latest[run.name] = run
        return latest

    def _blockers(self, repo: _Repo, pull: _Pull, head: str) -> list[str]:
        """Why the protection rules refuse a merge now (empty: they allow it)."""
        reasons: list[str] = []
        latest: dict[str, ReviewState] = {}
        for review in pull.reviews:
            state = self._review_state(repo, pull, review)
            writer = _ROLE_RANK[self._role(repo, review.user)] >= _ROLE_RANK["write"]
            if state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED") and writer and review.user != pull.user:
                latest[review.user] = state
        approvals = sum(state == "APPROVED" for state in latest.values())
        if repo.required_approvals and any(state == "CHANGES_REQUESTED" for state in latest.values()):
            reasons.append("Changes have been requested by a reviewer with write access.")
        elif approvals < repo.required_approvals:
            n = repo.required_approvals
            reasons.append(f"At least {n} approving review{'s are' if n > 1 else ' is'} required by "
                           "reviewers with write access.")
        runs, statuses = self._latest_runs(repo, head), self._latest_statuses(repo, head)
        for name in repo.required_checks:
            run, status = runs.get(name), statuses.get(name)
            ok = (run is not None and run.status == "completed" and run.conclusion in _GOOD_CONCLUSIONS) or (
                status is not None and status.state == "success")
            if not ok:
                failing = (run is not None and run.status == "completed") or (
                    status is not None and status.state in ("failure", "error"))
                reasons.append(f'Required status check "{name}" is {"failing" if failing else "expected"}.')
        return reasons

    # ── routes ───────────────────────────────────────────────────────────────────────────────────

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Route]]:
        repo = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        table: list[tuple[str, str, Route]] = [
            ("GET", r"/user", self._get_authenticated),
            ("GET", r"/users/(?P<user>[^/]+)", self._get_user),
            ("GET", r"/rate_limit", self._get_rate_limit),
            ("GET", rf"{repo}", self._get_repo),
            ("GET", rf"{repo}/git/ref/(?P<ref>.+)", self._get_ref),
            ("GET", rf"{repo}/pulls", self._list_pulls),
            ("POST", rf"{repo}/pulls", self._create_pull),
            ("GET", rf"{repo}/pulls/(?P<number>\d+)", self._get_pull),
            ("PATCH", rf"{repo}/pulls/(?P<number>\d+)", self._update_pull),
            ("GET", rf"{repo}/pulls/(?P<number>\d+)/reviews", self._list_reviews),
            ("POST", rf"{repo}/pulls/(?P<number>\d+)/reviews", self._create_review),
            ("GET", rf"{repo}/pulls/(?P<number>\d+)/merge", self._check_merged),
            ("PUT", rf"{repo}/pulls/(?P<number>\d+)/merge", self._merge_pull),
            ("GET", rf"{repo}/issues/(?P<number>\d+)/comments", self._list_comments),
            ("POST", rf"{repo}/issues/(?P<number>\d+)/comments", self._create_comment),
            ("POST", rf"{repo}/check-runs", self._create_check_run),
            ("PATCH", rf"{repo}/check-runs/(?P<id>\d+)", self._update_check_run),
            ("GET", rf"{repo}/commits/(?P<ref>.+)/check-runs", self._list_check_runs),
            ("GET", rf"{repo}/commits/(?P<ref>.+)/status", self._combined_status),
            ("GET", rf"{repo}/commits/(?P<ref>.+)/statuses", self._list_statuses),
            ("POST", rf"{repo}/statuses/(?P<sha>[^/]+)", self._create_status),
            ("GET", rf"{repo}/collaborators/(?P<user>[^/]+)/permission", self._get_permission),
            ("GET", r"/orgs/(?P<org>[^/]+)/teams/(?P<team>[^/]+)/memberships/(?P<user>[^/]+)",
             self._get_team_membership),
        ]
        return [(method, re.compile(f"^{pattern}$"), handler) for method, pattern, handler in table]

    def _get_authenticated(self, ctx: _Ctx, _p: dict[str, str]) -> tuple[int, Any]:
        if ctx.login is None:
            _error(401, "Requires authentication")
        return 200, self._public_user_json(ctx, ctx.login, private=True)

    def _get_user(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        user = self._find_user(p["user"])
        if user is None:
            _not_found()
        return 200, self._public_user_json(ctx, user.login, private=False)

    def _get_rate_limit(self, ctx: _Ctx, _p: dict[str, str]) -> tuple[int, Any]:
        quota = self._quota(ctx.login)
        core = {"limit": quota.limit, "remaining": max(quota.limit - quota.used, 0), "reset": int(quota.reset),
                "used": quota.used, "resource": "core"}
        search = {"limit": 30, "remaining": 30, "reset": int(self.clock()) + 60, "used": 0, "resource": "search"}
        data: JSON = {"resources": {"core": core, "search": search,
                                    "graphql": {**core, "resource": "graphql"}}}
        if ctx.version == "2022-11-28":  # removed in 2026-03-10
            data["rate"] = core
        return 200, data

    def _get_repo(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"])
        return 200, self._repo_json(ctx, repo, full=True)

    def _get_ref(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"])
        sha = self._git(repo).rev(f"refs/{p['ref']}") if p["ref"].startswith(("heads/", "tags/")) else None
        if sha is None:
            _not_found()
        api = f"{ctx.api}/repos/{repo.full_name}"
        return 200, {"ref": f"refs/{p['ref']}", "node_id": _node_id("REF_", repo.id), "url": f"{api}/git/refs/{p['ref']}",
                     "object": {"type": "commit", "sha": sha, "url": f"{api}/git/commits/{sha}"}}

    def _list_pulls(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"])
        state, head, base = ctx.arg("state") or "open", ctx.arg("head"), ctx.arg("base")
        if state not in ("open", "closed", "all"):
            _error(422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "state", "code": "invalid"}])
        pulls = [pr for pr in repo.pulls.values() if state == "all" or pr.state == state]
        if head:
            owner, _, ref = head.rpartition(":")
            pulls = [pr for pr in pulls if pr.head_ref == ref and (not owner or owner.lower() == repo.owner.lower())]
        if base:
            pulls = [pr for pr in pulls if pr.base_ref == base]
        sort = ctx.arg("sort") or "created"
        key: Callable[[_Pull], float] = (lambda pr: pr.updated_at) if sort in ("updated", "popularity", "long-running") \
            else (lambda pr: pr.created_at)
        pulls.sort(key=lambda pr: (key(pr), pr.number), reverse=(ctx.arg("direction") or "desc") == "desc")
        return 200, [self._pull_json(ctx, repo, pr, full=False) for pr in pulls]

    def _create_pull(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"], need="write")
        assert ctx.login is not None
        title, head, base = ctx.field("title"), ctx.field("head"), ctx.field("base")
        if not isinstance(head, str) or not head:
            _error(422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "head", "code": "missing_field"}])
        if not isinstance(base, str) or not base:
            _error(422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "base", "code": "missing_field"}])
        if not isinstance(title, str) or not title.strip():
            _error(422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "title", "code": "missing_field"}])
        head_owner, _, head_ref = head.rpartition(":")
        if head_owner and head_owner.lower() != repo.owner.lower():
            _error(422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "head", "code": "invalid"}])
        git = self._git(repo)
        head_sha, base_sha = git.branch(head_ref), git.branch(base)
        if head_sha is None:
            _error(422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "head", "code": "invalid"}])
        if base_sha is None:
            _error(422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "base", "code": "invalid"}])
        for other in repo.pulls.values():
            if other.state == "open" and other.head_ref == head_ref and other.base_ref == base:
                _error(422, "Validation Failed", errors=[{
                    "resource": "PullRequest", "code": "custom",
                    "message": f"A pull request already exists for {repo.owner}:{head_ref}."}])
        if git.is_ancestor(head_sha, base_sha):
            _error(422, "Validation Failed", errors=[{
                "resource": "PullRequest", "code": "custom", "message": f"No commits between {base} and {head_ref}"}])
        now = self.clock()
        body = ctx.field("body")
        pull = _Pull(repo.next_number, next(self._ids), ctx.login, title.strip(),
                     body if isinstance(body, str) else None, head_ref, base, bool(ctx.field("draft", False)),
                     bool(ctx.field("maintainer_can_modify", True)), now, now)
        repo.next_number += 1
        repo.pulls[pull.number] = pull
        data = self._pull_json(ctx, repo, pull, full=True)
        raise _Answer(201, data, {"Location": data["url"]})

    def _get_pull(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"])
        return 200, self._pull_json(ctx, repo, self._visible_pull(repo, p["number"]), full=True)

    def _update_pull(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"])
        pull = self._visible_pull(repo, p["number"])
        if ctx.login != pull.user and _ROLE_RANK[self._role(repo, ctx.login)] < _ROLE_RANK["write"]:
            _error(403, "Resource not accessible by personal access token")
        now = self.clock()
        if isinstance(ctx.field("title"), str):
            pull.title = ctx.field("title")
        if "body" in (ctx.body or {}):
            pull.body = ctx.field("body")
        state = ctx.field("state")
        if state == "closed" and pull.state == "open":
            pull.frozen_head, pull.frozen_base = self._head(repo, pull), self._base(repo, pull)
            pull.state, pull.closed_at = "closed", now
        elif state == "open" and pull.state == "closed" and pull.merged_at is None:
            pull.frozen_head = pull.frozen_base = None
            pull.state, pull.closed_at = "open", None
        pull.updated_at = now
        return 200, self._pull_json(ctx, repo, pull, full=True)

    def _list_reviews(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"])
        pull = self._visible_pull(repo, p["number"])
        visible = [r for r in pull.reviews if r.state != "PENDING" or r.user == ctx.login]
        return 200, [self._review_json(ctx, repo, pull, r) for r in visible]

    def _create_review(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"])
        assert ctx.login is not None
        pull = self._visible_pull(repo, p["number"])
        event, body = ctx.field("event"), ctx.field("body") or ""
        if event is not None and event not in _EVENT_STATE:
            _error(422, "Validation Failed", errors=[{"resource": "PullRequestReview", "field": "event", "code": "invalid"}])
        state: ReviewState = _EVENT_STATE[event] if event else "PENDING"
        if state in ("APPROVED", "CHANGES_REQUESTED") and ctx.login.lower() == pull.user.lower():
            verb = "approve" if state == "APPROVED" else "request changes on"
            _error(422, "Unprocessable Entity", errors=[f"Review Can not {verb} your own pull request"],
                   doc="https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request")
        if state in ("CHANGES_REQUESTED", "COMMENTED") and not str(body).strip():
            _error(422, "Unprocessable Entity", errors=[f"Review body is required for {event}"],
                   doc="https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request")
        commit_id = ctx.field("commit_id") or self._head(repo, pull)
        review = _Review(next(self._ids), ctx.login, str(body), state, commit_id, self.clock())
        pull.reviews.append(review)
        pull.updated_at = self.clock()
        return 200, self._review_json(ctx, repo, pull, review)

    def _check_merged(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"])
        if self._visible_pull(repo, p["number"]).merged_at is None:
            _not_found()
        return 204, None

    def _merge_pull(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"], need="write")
        assert ctx.login is not None
        pull = self._visible_pull(repo, p["number"])
        if pull.state != "open":
            _error(405, NOT_MERGEABLE, doc=MERGE_DOCS)
        git = self._git(repo)
        head = git.branch(pull.head_ref)
        expected = ctx.field("sha")
        if expected is not None and expected != head:
            _error(409, HEAD_MODIFIED, doc=MERGE_DOCS)
        method = ctx.field("merge_method") or "merge"
        if method not in _METHOD_REFUSED:
            _error(422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "merge_method",
                                                      "code": "invalid"}])
        if method not in repo.merge_methods:
            _error(405, _METHOD_REFUSED[method], doc=MERGE_DOCS)
        if head is None or pull.draft:
            _error(405, NOT_MERGEABLE, doc=MERGE_DOCS)
        blockers = self._blockers(repo, pull, head)
        if blockers:
            _error(405, blockers[0], doc=MERGE_DOCS)
        merger = self._user(ctx.login)
        author = (merger.name or merger.login, merger.email or f"{merger.id}+{merger.login}@users.noreply.github.com")
        title = ctx.field("commit_title")
        message = ctx.field("commit_message")
        for _ in range(20):  # the base branch may move under us (a push): retry on a lost CAS
            base = git.branch(pull.base_ref)
            if base is None:
                _error(405, NOT_MERGEABLE, doc=MERGE_DOCS)
            if method == "rebase":
                new = self._rebase(git, base, head, merger.login)
            else:
                tree, conflicts = git.merge_tree(base, head)
                if tree is None:
                    _error(405, NOT_MERGEABLE, doc=MERGE_DOCS)
                if method == "squash":
                    text = f"{title or f'{pull.title} (#{pull.number})'}\n\n{message if message is not None else (pull.body or '')}"
                    new = git.commit_tree(tree, [base], text.rstrip() + "\n", author=author,
                                          committer=_GITHUB_IDENTITY, when=self.clock())
                else:
                    text = (f"{title or f'Merge pull request #{pull.number} from {repo.owner}/{pull.head_ref}'}"
                            f"\n\n{message if message is not None else pull.title}")
                    new = git.commit_tree(tree, [base, head], text.rstrip() + "\n", author=author,
                                          committer=_GITHUB_IDENTITY, when=self.clock())
            if git.cas(f"refs/heads/{pull.base_ref}", new, base):
                break
        else:
            _error(409, "Base branch was modified. Review and try the merge again.", doc=MERGE_DOCS)
        now = self.clock()
        pull.state, pull.closed_at, pull.merged_at, pull.merged_by = "closed", now, now, ctx.login
        pull.merge_commit_sha, pull.frozen_head, pull.frozen_base = new, head, base
        pull.updated_at = now
        return 200, {"sha": new, "merged": True, "message": "Pull Request successfully merged"}

    def _rebase(self, git: _Git, base: str, head: str, login: str) -> str:
        """Replay ``base..head`` onto ``base`` one commit at a time (keeping authors); the new tip."""
        merge_base = git.out("merge-base", base, head)
        tip = base
        for commit in git.out("rev-list", "--reverse", "--no-merges", f"{merge_base}..{head}").split():
            parent = git.out("rev-parse", f"{commit}^")
            proc = git.run("merge-tree", "--write-tree", f"--merge-base={parent}", tip, commit, ok=(0, 1))
            if proc.returncode == 1:
                _error(405, NOT_MERGEABLE, doc=MERGE_DOCS)
            tree = proc.stdout.decode().split("\n", 1)[0].strip()
            fmt = git.out("show", "-s", "--format=%an%x00%ae%x00%at", commit).split("\0")
            body = git.run("show", "-s", "--format=%B", commit).stdout.decode()
            tip = git.commit_tree(tree, [tip], body, author=(fmt[0], fmt[1]), committer=_GITHUB_IDENTITY,
                                  when=float(fmt[2]))
        return tip

    def _list_comments(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"])
        self._visible_pull(repo, p["number"])
        comments = [c for c in repo.comments if c.issue == int(p["number"])]
        return 200, [self._comment_json(ctx, repo, c) for c in comments]

    def _create_comment(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"])
        assert ctx.login is not None
        self._visible_pull(repo, p["number"])
        body = ctx.field("body")
        if not isinstance(body, str) or not body:
            _error(422, "Validation Failed", errors=[{"resource": "IssueComment", "field": "body", "code": "missing_field"}])
        now = self.clock()
        comment = _Comment(next(self._ids), int(p["number"]), ctx.login, body, now, now)
        repo.comments.append(comment)
        data = self._comment_json(ctx, repo, comment)
        raise _Answer(201, data, {"Location": data["url"]})

    def _create_check_run(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"], need="write")
        name, head_sha = ctx.field("name"), ctx.field("head_sha")
        if not isinstance(name, str) or not isinstance(head_sha, str):
            _error(422, "Validation Failed", errors=[{"resource": "CheckRun", "field": "name", "code": "missing_field"}])
        try:
            sha = self._resolve(repo, head_sha)
        except KeyError:
            _error(422, "Validation Failed", errors=[{"resource": "CheckRun", "field": "head_sha", "code": "invalid"}])
        conclusion = ctx.field("conclusion")
        status = ctx.field("status") or ("completed" if conclusion else "queued")
        output = ctx.field("output") or {}
        now = self.clock()
        run = _CheckRun(next(self._ids), next(self._ids), name, sha, status, conclusion, now,
                        now if status == "completed" else None, output.get("title"), output.get("summary"),
                        ctx.field("details_url"), ctx.field("external_id"))
        repo.check_runs.append(run)
        raise _Answer(201, self._check_json(ctx, repo, run))

    def _update_check_run(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"], need="write")
        run = next((r for r in repo.check_runs if r.id == int(p["id"])), None)
        if run is None:
            _not_found()
        conclusion = ctx.field("conclusion")
        if conclusion is not None:
            run.conclusion, run.status = conclusion, "completed"
        if ctx.field("status"):
            run.status = ctx.field("status")
        if run.status == "completed" and run.completed_at is None:
            run.completed_at = self.clock()
        output = ctx.field("output") or {}
        run.title, run.summary = output.get("title", run.title), output.get("summary", run.summary)
        return 200, self._check_json(ctx, repo, run)

    def _ref_sha(self, repo: _Repo, ref: str) -> str:
        try:
            return self._resolve(repo, ref)
        except KeyError:
            _error(422, f"No commit found for SHA: {ref}")

    def _list_check_runs(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"])
        sha = self._ref_sha(repo, p["ref"])
        runs = [r for r in repo.check_runs if r.head_sha == sha]
        if (ctx.arg("filter") or "latest") == "latest":
            runs = list(self._latest_runs(repo, sha).values())
        if ctx.arg("check_name"):
            runs = [r for r in runs if r.name == ctx.arg("check_name")]
        if ctx.arg("status"):
            runs = [r for r in runs if r.status == ctx.arg("status")]
        runs.sort(key=lambda r: r.id, reverse=True)
        return 200, {"total_count": len(runs), "check_runs": [self._check_json(ctx, repo, r) for r in runs]}

    def _combined_status(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"])
        sha = self._ref_sha(repo, p["ref"])
        latest = sorted(self._latest_statuses(repo, sha).values(), key=lambda s: s.id, reverse=True)
        states = {s.state for s in latest}
        # documented: failure if any context is error or failure; pending if none or any pending; else success
        state = "failure" if states & {"error", "failure"} else "pending" if not states or "pending" in states \
            else "success"
        api = f"{ctx.api}/repos/{repo.full_name}"
        return 200, {"state": state, "statuses": [self._status_json(ctx, repo, s, simple=True) for s in latest],
                     "sha": sha, "total_count": len(latest), "repository": self._minimal_repo_json(ctx, repo),
                     "commit_url": f"{api}/commits/{sha}", "url": f"{api}/commits/{sha}/status"}

    def _list_statuses(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"])
        sha = self._ref_sha(repo, p["ref"])
        found = sorted((s for s in repo.statuses if s.sha == sha), key=lambda s: s.id, reverse=True)
        return 200, [self._status_json(ctx, repo, s, simple=False) for s in found]

    def _create_status(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"], need="write")
        assert ctx.login is not None
        state = ctx.field("state")
        if state not in ("error", "failure", "pending", "success"):
            _error(422, "Validation Failed", errors=[{"resource": "Status", "field": "state", "code": "invalid"}])
        sha = self._git(repo).rev(p["sha"]) if _SHA.match(p["sha"]) else None
        if sha is None:
            _error(422, f"No commit found for SHA: {p['sha']}")
        status = _Status(next(self._ids), sha, state, ctx.field("context") or "default",
                         ctx.field("description"), ctx.field("target_url"), ctx.login, self.clock())
        repo.statuses.append(status)
        data = self._status_json(ctx, repo, status, simple=False)
        raise _Answer(201, data, {"Location": data["url"]})

    def _get_permission(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        repo = self._visible_repo(ctx, p["owner"], p["repo"])
        user = self._find_user(p["user"])
        if user is None:
            _not_found()
        role = self._role(repo, user.login)
        collaborator = {**self._user_json(ctx, user.login), "role_name": role,
                        "permissions": {"admin": role == "admin", "maintain": _ROLE_RANK[role] >= 4,
                                        "push": _ROLE_RANK[role] >= 3, "triage": _ROLE_RANK[role] >= 2,
                                        "pull": _ROLE_RANK[role] >= 1}}
        return 200, {"permission": _LEGACY_PERMISSION.get(role, "none"), "role_name": role, "user": collaborator}

    def _get_team_membership(self, ctx: _Ctx, p: dict[str, str]) -> tuple[int, Any]:
        team = self._teams.get((p["org"].lower(), p["team"].lower()))
        if ctx.login is None or team is None:
            _not_found()
        if ctx.login not in self._org_members.get(team.org.lower(), set()) and not self._user(ctx.login).site_admin:
            _not_found()
        user = self._find_user(p["user"])
        if user is None:
            _not_found()
        url = f"{ctx.api}/organizations/{self._user(team.org).id}/team/{team.id}/memberships/{user.login}"
        if user.login in team.members:
            return 200, {"url": url, "role": team.members[user.login], "state": "active"}
        if user.login in team.pending:
            return 200, {"url": url, "role": "member", "state": "pending"}
        _not_found()

    # ── rate limits and dispatch ─────────────────────────────────────────────────────────────────

    def _quota(self, login: str | None) -> _Quota:
        key = login or ""
        quota = self._quotas.get(key)
        now = self.clock()
        if quota is None or quota.reset <= now:
            quota = _Quota(self.rate_limit if login else 60, 0, now + 3600)
            self._quotas[key] = quota
        return quota

    def _rate_headers(self, quota: _Quota, *, remaining: int | None = None, reset: float | None = None) -> dict[str, str]:
        left = quota.limit - quota.used if remaining is None else remaining
        return {"x-ratelimit-limit": str(quota.limit), "x-ratelimit-remaining": str(max(left, 0)),
                "x-ratelimit-reset": str(int(reset if reset is not None else quota.reset)),
                "x-ratelimit-used": str(quota.used), "x-ratelimit-resource": "core"}

    def _take_injection(self, method: str, path: str) -> _Injection | None:
        for injection in self._injections:
            if injection.method not in (None, method):
                continue
            if injection.path is not None and not injection.path.search(path):
                continue
            injection.remaining -= 1
            if injection.remaining <= 0:
                self._injections.remove(injection)
            return injection
        return None

    def _dispatch(self, method: str, raw_path: str, headers: Mapping[str, str], raw_body: bytes,
                  host: str) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: ``(status, headers, body)``. Also appends to the request log."""
        parts = urlsplit(raw_path)
        path = parts.path
        prefix = ""
        if path == "/api/v3" or path.startswith("/api/v3/"):
            prefix, path = "/api/v3", path[len("/api/v3"):] or "/"
        path = path.rstrip("/") or "/"
        query = parse_qs(parts.query, keep_blank_values=True)
        lower = {k.lower(): v for k, v in headers.items()}
        version = lower.get("x-github-api-version", DEFAULT_API_VERSION)
        web = f"http://{host}"
        status, payload, login = 500, None, None
        out_headers: dict[str, str] = {}
        body: Any = None
        primary_injected = False
        limited = False  # answered by a rate-limit (or injected) error: not counted
        with self._lock:
            try:
                if raw_body:
                    try:
                        body = json.loads(raw_body)
                    except ValueError:
                        _error(400, "Problems parsing JSON")
                login = self._authenticate(lower.get("authorization", ""))
                quota = self._quota(login)
                out_headers.update(self._rate_headers(quota))
                if version not in API_VERSIONS:
                    _error(400, f"Unsupported 'X-GitHub-Api-Version' header value: {version!r}")
                injection = self._take_injection(method, path)
                if injection is not None:
                    limited = True
                    if injection.primary_reset is not None:
                        primary_injected = True
                        out_headers.update(self._rate_headers(quota, remaining=0, reset=injection.primary_reset))
                        injection.body["message"] = PRIMARY_MESSAGE.format(
                            id=self._user(login).id if login else 0)
                    raise _Answer(injection.status, dict(injection.body), injection.headers)
                if path != "/rate_limit" and quota.used >= quota.limit:
                    primary_injected = limited = True  # keep remaining at 0 in the answer
                    _error(403, PRIMARY_MESSAGE.format(id=self._user(login).id if login else 0),
                           doc=RATE_LIMIT_DOCS)
                ctx = _Ctx(login, web + prefix, web, version, query, body)
                for route_method, pattern, route in self._routes:
                    match = pattern.match(path)
                    if match and route_method == method:
                        params = {k: unquote(v) for k, v in match.groupdict().items()}
                        status, payload = route(ctx, params)
                        break
                else:
                    _not_found()
            except _Answer as answer:
                status, payload = answer.status, answer.body
                out_headers.update(answer.headers)
            except KeyError as exc:  # a lookup a route did not guard: the resource is not there
                log.debug("not found: %s", exc)
                status, payload = 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}
            except Exception:
                log.exception("fake GitHub: %s %s failed", method, raw_path)
                status, payload = 500, {"message": "Server Error", "status": "500"}
            data = b"" if payload is None else json.dumps(payload, indent=2).encode()
            out_headers["x-github-api-version-selected"] = version if version in API_VERSIONS else DEFAULT_API_VERSION
            out_headers["x-github-media-type"] = "github.v3; format=json"
            out_headers["x-github-request-id"] = secrets.token_hex(8).upper()
            if status == 200 and isinstance(payload, list):
                data = self._paginate(payload, web + prefix + path, query, out_headers)
            if method == "GET" and status == 200:
                data, status = self._conditional(login, lower, data, out_headers)
            if status != 304 and path != "/rate_limit" and not limited:  # a 304 does not count
                quota = self._quota(login)
                quota.used += 1
                if not primary_injected:
                    out_headers.update(self._rate_headers(quota))
            redacted = dict(lower)
            if "authorization" in lower:  # keep the scheme, never the credential
                redacted["authorization"] = lower["authorization"].split(" ", 1)[0] + " <redacted>"
            self._log.append(LoggedRequest(method, path, query, redacted, body, status, login, version,
                                           dict(out_headers), None if status == 304 else payload, self.clock()))
        return status, out_headers, data

    def _conditional(self, login: str | None, headers: Mapping[str, str], data: bytes,
                     out: dict[str, str]) -> tuple[bytes, int]:
        """Add ``ETag``/``Cache-Control``/``Vary``; answer ``304`` when ``If-None-Match`` matches."""
        digest = hashlib.sha256((login or "").encode() + b"\0" + data).hexdigest()
        etag = f'W/"{digest}"'
        out["ETag"] = etag
        out["Cache-Control"] = "private, max-age=60, s-maxage=60"
        out["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
        wanted = headers.get("if-none-match", "")
        tags = {t.strip().removeprefix("W/") for t in wanted.split(",") if t.strip()}
        if "*" in tags or etag.removeprefix("W/") in tags:
            return b"", 304
        return data, 200

    def _paginate(self, items: list[Any], url: str, query: dict[str, list[str]], out: dict[str, str]) -> bytes:
        """One page of ``items`` (``per_page``/``page``, default 30, at most 100) and its ``Link`` header."""
        def number(name: str, default: int) -> int:
            try:
                return max(int((query.get(name) or [str(default)])[-1]), 1)
            except ValueError:
                return default
        per_page, page = min(number("per_page", 30), 100), number("page", 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        links = []
        base = {k: v[-1] for k, v in query.items() if k != "page"}
        for rel, target in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
            if (rel == "prev" and page > 1) or (rel == "next" and page < last) or (rel in ("last", "first") and last > 1):
                links.append(f'<{url}?{urlencode({**base, "page": target}, quote_via=quote)}>; rel="{rel}"')
        if links:
            out["Link"] = ", ".join(links)
        return json.dumps(items[(page - 1) * per_page: page * per_page], indent=2).encode()

    def _authenticate(self, header: str) -> str | None:
        """The login behind ``Authorization`` (None when absent); ``401`` for a bad token."""
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        token: str | None = None
        if scheme.lower() in ("bearer", "token"):
            token = value.strip()
        elif scheme.lower() == "basic":
            try:
                token = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                token = None
        login = self._tokens.get(token or "")
        if login is None:
            _error(401, "Bad credentials")
        return login


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
