"""The JSON the fake answers with: users, repositories, branches, pull requests, reviews, comments,
check runs and statuses, in the field names of GitHub's OpenAPI description for either API version.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from toolfoundry.testing.github.model import (
    _ROLE_RANK,
    JSON,
    _CheckRun,
    _Comment,
    _Ctx,
    _iso,
    _node_id,
    _Pull,
    _Repo,
    _Review,
    _Status,
)
from toolfoundry.testing.github.state import _State


class _Shapes(_State):
    """The JSON of every object, with field names as in GitHub's OpenAPI description."""

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
