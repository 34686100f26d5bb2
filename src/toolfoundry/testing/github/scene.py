"""Setting the scene of the fake, as tests do: add users (with tokens), organisations, teams and
repositories (each a real bare repository), collaborators and branch protection, act as a reviewer, set
check runs and statuses, and inject failures and rate-limit answers.

Every method takes the fake's lock; none is reachable over HTTP.
"""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Literal

from toolfoundry.testing.github.dispatch import _Dispatch
from toolfoundry.testing.github.git import _Git
from toolfoundry.testing.github.model import (
    _NAME,
    JSON,
    PRIMARY_MESSAGE,
    RATE_LIMIT_DOCS,
    SECONDARY_DOCS,
    SECONDARY_MESSAGE,
    MergeMethod,
    RepoRole,
    ReviewState,
    TeamRole,
    _CheckRun,
    _Injection,
    _Quota,
    _Repo,
    _Review,
    _Status,
    _Team,
    _User,
)


class _Scene(_Dispatch):
    """What tests call to set the scene: users, tokens, organisations, teams, repositories, branch
    protection, reviews, check runs, statuses, injected failures and rate limits, quotas."""

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
