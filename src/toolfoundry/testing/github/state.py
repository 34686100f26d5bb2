"""The fake's state (users, tokens, teams, repositories, quotas, injections, the request log), looking
things up in it with GitHub's visibility rules, and the merge rules (required reviews and checks).

It does not shape JSON (``shapes.py``) or answer routes (``routes.py``, ``pulls.py``).
"""

from __future__ import annotations

import itertools
import re
import shutil
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path

from toolfoundry.testing.github.git import (
    _Git,
)
from toolfoundry.testing.github.model import (
    _GOOD_CONCLUSIONS,
    _ROLE_RANK,
    _SHA,
    LoggedRequest,
    ReviewState,
    Route,
    _CheckRun,
    _Ctx,
    _error,
    _Injection,
    _not_found,
    _Pull,
    _Quota,
    _Repo,
    _Review,
    _Status,
    _Team,
    _User,
)


class _State:
    """The fake's state, its lookups and GitHub's merge rules (the base of ``FakeGitHub``)."""

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

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Route]]:
        """Every route, most specific first (``routes.py``)."""
        raise NotImplementedError

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

    def _review_state(self, repo: _Repo, pull: _Pull, review: _Review) -> ReviewState:
        head = self._head(repo, pull)
        if repo.dismiss_stale_reviews and review.state == "APPROVED" and review.commit_id != head:
            return "DISMISSED"
        return review.state

    def _quota(self, login: str | None) -> _Quota:
        key = login or ""
        quota = self._quotas.get(key)
        now = self.clock()
        if quota is None or quota.reset <= now:
            quota = _Quota(self.rate_limit if login else 60, 0, now + 3600)
            self._quotas[key] = quota
        return quota

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
