"""The fake's route table, and the routes besides pull requests: the authenticated user, users,
``/rate_limit``, repositories and refs, issue comments, check runs, commit statuses, collaborator
permissions and team memberships.
"""

from __future__ import annotations

import re
from typing import Any

from toolfoundry.testing.github.model import (
    _LEGACY_PERMISSION,
    _ROLE_RANK,
    _SHA,
    JSON,
    Route,
    _Answer,
    _CheckRun,
    _Comment,
    _Ctx,
    _error,
    _node_id,
    _not_found,
    _Repo,
    _Status,
)
from toolfoundry.testing.github.pulls import _PullRoutes


class _Routes(_PullRoutes):
    """The route table, and every route but the pull requests'."""

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
