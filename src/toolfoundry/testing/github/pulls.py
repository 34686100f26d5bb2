"""The pull-request routes of the fake: list, create, get and update pull requests, list and create
reviews, and merge (merge, squash or rebase, refused as GitHub refuses it: head moved, not mergeable,
blocked by the rules).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toolfoundry.testing.github.git import (
    _Git,
)
from toolfoundry.testing.github.model import (
    _EVENT_STATE,
    _GITHUB_IDENTITY,
    _METHOD_REFUSED,
    _ROLE_RANK,
    HEAD_MODIFIED,
    MERGE_DOCS,
    NOT_MERGEABLE,
    ReviewState,
    _Answer,
    _Ctx,
    _error,
    _not_found,
    _Pull,
    _Review,
)
from toolfoundry.testing.github.shapes import _Shapes


class _PullRoutes(_Shapes):
    """The pull-request routes: list, create, get, update, reviews, merge (with its refusals)."""

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
