"""The fake's words and its in-memory model: the API versions, GitHub's documented messages, the
users, teams, repositories, pull requests, reviews, comments, check runs and statuses it holds, the
request log's entries, and the small helpers every route uses (errors as ``_Answer``, timestamps, node ids).

It holds no state itself (``state.py``) and serves nothing (``dispatch.py``).
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn

log = logging.getLogger("toolfoundry.testing.github")

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


Route = Callable[[_Ctx, dict[str, str]], tuple[int, Any]]
