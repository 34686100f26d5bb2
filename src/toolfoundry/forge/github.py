"""The GitHub forge: pull requests on a GitHub repository, merged through the API at the validated commit.

This module owns the forge's state changes on GitHub and keeps each one idempotent, so a workflow step
re-run after a crash changes nothing twice: a request's branch ``foundry/<request_id>`` is pushed with a
compare-and-swap (``--force-with-lease``) only when it differs; its pull request is looked up by branch
before one is created; a comment carries a hidden marker that is looked up before posting; a merge sends
the expected head sha (GitHub answers 409 when the head moved) and, when already merged, finds its merge
commit by the ``Foundry-Request`` trailer. Commits are written and read in a local bare mirror (the
home's ``tools.git``), fetched over HTTPS when something is missing there, so the tool code that loads is
read from git objects and hash-checked by the registry, as with the local forge. It also reads a pull
request's reviews and its required check for ``review sync`` (:meth:`GitHubForge.review_state`; the rule is
``reviews.py``). It does not decide what to merge and writes no audit log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from toolfoundry.core import PullRequestLink
from toolfoundry.errors import ForgeError, UsageError
from toolfoundry.forge import github_reviews, names
from toolfoundry.forge.actions import WORKFLOW_PATH, workflow_yaml
from toolfoundry.forge.body import marker
from toolfoundry.forge.git import Git
from toolfoundry.forge.github_reviews import Gate, PullReview
from toolfoundry.forge.local import LocalForge
from toolfoundry.forge.remote import Remote
from toolfoundry.forge.rest import GitHubError, Rest
from toolfoundry.forge.settings import ForgeSettings

log = logging.getLogger(__name__)
__all__ = ["GitHubForge", "PullReview"]


class GitHubForge:
    """A GitHub repository as the forge (implements ``core.Forge``), with a local mirror for git objects."""

    def __init__(self, settings: ForgeSettings, mirror: Path, *, git: str = "git",
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if settings.kind != "github" or not settings.repository:
            raise UsageError('the GitHub forge needs [forge] kind = "github" and repository = "owner/name"')
        self.settings = settings
        self.owner, self.name = settings.owner, settings.name
        self._local = LocalForge(mirror, git=git)
        self._git = Git(Path(mirror), git)
        self._sleep = sleep
        self._lock = threading.Lock()
        self._rest: Rest | None = None
        self._origin: Remote | None = None
        self._links: dict[str, PullRequestLink] = {}
        self.gate: Gate | None = None
        """Who else must let a login's review decide a request (``trust/github.py`` sets it where principals are
        linked to GitHub logins); None: the configured approvers alone."""

    # ── connections ────────────────────────────────────────────────────────────────────────────────

    def _api(self) -> Rest:
        with self._lock:
            if self._rest is None:
                if not self.settings.token:
                    raise ForgeError(f"the GitHub forge needs a token: set ${self.settings.token_env} (the"
                                     " variable [forge] token_env names)")
                self._rest = Rest(token=self.settings.token, api_url=self.settings.api_url,
                                  max_wait=self.settings.max_wait_seconds, sleep=self._sleep, notice=log.warning)
            return self._rest

    def _remote(self) -> Remote:
        """The repository's clone URL (asked of the API once), with the token from the environment."""
        if self._origin is None:
            api = self._api()
            repo = api.call(f"reading {self.settings.repository}",
                            lambda: api.api.repos.get(self.owner, self.name)).parsed_data
            if not (self._git.repo / "HEAD").is_file():
                self._git.bare_init()
            self._origin = Remote(self._git, repo.clone_url, self.settings.token)
        return self._origin

    # ── creating the repository ────────────────────────────────────────────────────────────────────

    def init(self) -> str:
        """Mirror the repository; give ``main`` a README (if it has no commit) and the Actions workflow."""
        origin = self._remote()
        origin.fetch(names.MAIN)
        before = self._local.init()  # a README commit, only when GitHub's main has none
        if self._workflow() is None:  # main may exist only here yet (a new, empty repository): push it with this
            head = self._local.open_pr(request_id="toolfoundry-init", message="Add the toolfoundry workflow",
                                       trailers={}, files={WORKFLOW_PATH: workflow_yaml().encode()})
            self._git.run("update-ref", "-d", names.branch_ref("toolfoundry-init"))
            origin.push(head, names.MAIN, expect=origin.heads(names.MAIN).get(names.MAIN))
            self._git.run("update-ref", names.MAIN, head)
        return before

    def commit_to_main(self, *, request_id: str, files: dict[str, bytes], message: str, trailers: dict[str, str],
                       parent: str | None = None) -> str:
        """Commit ``files`` straight onto GitHub's ``main`` — no branch, no pull request — and return the commit.

        For what needs no one's review because it is not code: the records the foundry signs after a reviewed
        merge (provenance) and the ``allowed_signers`` changes an admin's token made. A compare-and-swap push of
        a child of ``main``: when ``main`` moved meanwhile the commit is made again on the new ``main``, unless
        ``parent`` is given (then ForgeError "conflicts with main", so the caller recomputes its change). GitHub
        refusing the push (a protected ``main``) is a ForgeError naming what to allow."""
        origin = self._remote()
        ref = names.branch_ref(request_id)
        for _ in range(20):
            origin.fetch(names.MAIN)
            base = self._local.main_head()
            if parent is not None and base != parent:
                raise ForgeError(f"main moved from {parent[:12]} to {base[:12]}; the change conflicts with main")
            self._git.run("update-ref", "-d", ref, ok=(0, 1))  # never reuse a commit made on an older main
            head = self._local.open_pr(request_id=request_id, files=files, message=message, trailers=trailers)
            self._git.run("update-ref", "-d", ref)
            if self._git.out("rev-parse", f"{head}^") != base:
                raise ForgeError(f"the commit for {request_id} is not a child of main; not pushed")
            try:
                origin.push(head, names.MAIN, expect=base)
            except ForgeError as exc:
                if origin.heads(names.MAIN).get(names.MAIN) != base:
                    continue  # lost a race with another push: again, on top of it
                raise ForgeError(f"GitHub refused to let the token push {message!r} to main of"
                                 f" {self.settings.repository} ({exc}); if main is protected, let the token's account"
                                 f" bypass the rule for pushes (these commits are records, not code: see README,"
                                 f" 'Using GitHub')") from None
            self._git.run("update-ref", names.MAIN, head, base, ok=(0, 1, 128))
            return head
        raise ForgeError(f"main of {self.settings.repository} kept moving; gave up committing {message!r}")

    def _workflow(self) -> bytes | None:
        try:
            return self._local.read_file("main", WORKFLOW_PATH)
        except ForgeError:
            return None

    # ── pull requests ──────────────────────────────────────────────────────────────────────────────

    def open_pr(self, *, request_id: str, files: dict[str, bytes], message: str,
                trailers: dict[str, str], body: str | None = None) -> str:
        """Push branch ``foundry/<request_id>`` (one commit on ``main`` holding ``files``) and open or update
        its pull request with ``body``; return the head. Safe to repeat."""
        ref = names.branch_ref(request_id)
        origin = self._remote()
        origin.fetch(names.MAIN, ref)
        head = self._local.open_pr(request_id=request_id, files=files, message=message, trailers=trailers)
        remote = origin.heads(ref).get(ref)
        if remote != head:
            origin.push(head, ref, expect=remote)
        self._ensure_pull(request_id, title=message.splitlines()[0], body=body)
        return head

    def _pulls(self, request_id: str) -> list[Any]:
        api = self._api()
        branch = f"{self.owner}:foundry/{request_id}"
        return list(api.call(f"listing pull requests of {branch}", lambda: api.api.pulls.list(
            self.owner, self.name, state="all", head=branch, per_page=100)).parsed_data)

    def _ensure_pull(self, request_id: str, *, title: str, body: str | None) -> PullRequestLink:
        api = self._api()
        found = self._pulls(request_id)
        live = [p for p in found if p.state == "open"]
        if not live and any(p.merged_at is not None for p in found):
            raise ForgeError(f"the pull request of request {request_id} is already merged; open a new request")
        if live:
            pull = live[0]
            if body is not None and (pull.body or "") != body:
                api.call(f"updating pull request #{pull.number}", lambda: api.api.pulls.update(
                    self.owner, self.name, pull.number, body=body))
        else:
            pull = api.call(f"opening the pull request of {request_id}", lambda: api.api.pulls.create(
                self.owner, self.name, title=title, head=f"foundry/{request_id}", base="main",
                body=body or "")).parsed_data
        link = PullRequestLink(number=pull.number, url=pull.html_url)
        with self._lock:
            self._links[request_id] = link
        return link

    def pull_request(self, request_id: str) -> PullRequestLink | None:
        """The request's pull request (the newest one of its branch), or None."""
        with self._lock:
            known = self._links.get(request_id)
        if known is not None:
            return known
        found = self._pulls(request_id)
        if not found:
            return None
        pull = max(found, key=lambda p: p.number)
        link = PullRequestLink(number=pull.number, url=pull.html_url)
        with self._lock:
            self._links[request_id] = link
        return link

    def comment(self, *, request_id: str, key: str, text: str) -> bool:
        """Post ``text`` on the request's pull request unless a comment with its marker is already there."""
        link = self.pull_request(request_id)
        if link is None:
            return False
        api, tag = self._api(), marker(request_id, key)
        for page in range(1, 101):
            def listing(page: int = page) -> Any:
                return api.api.issues.list_comments(self.owner, self.name, link.number, per_page=100, page=page)
            comments = list(api.call(f"listing comments of #{link.number}", listing).parsed_data)
            if any(tag in (c.body or "") for c in comments):
                return True
            if len(comments) < 100:
                break
        api.call(f"commenting on #{link.number}", lambda: api.api.issues.create_comment(
            self.owner, self.name, link.number, body=f"{tag}\n{text}"))
        return True

    def merge(self, *, request_id: str, message: str, trailers: dict[str, str],
              expected_head: str | None = None) -> str:
        """Merge the request's pull request through the API, only at ``expected_head``; idempotent."""
        link = self.pull_request(request_id)
        if link is None:
            raise ForgeError(f"request {request_id} has no pull request on {self.settings.repository} to merge")
        api = self._api()
        pull = api.call(f"reading #{link.number}", lambda: api.api.pulls.get(self.owner, self.name,
                                                                             link.number)).parsed_data
        if pull.merged:
            return self._existing_merge(request_id, link)
        if expected_head is not None and pull.head.sha != expected_head:
            raise ForgeError(f"the head of pull request #{link.number} moved from {expected_head[:12]} to"
                             f" {pull.head.sha[:12]} since it was validated; not merged")
        title, _, rest = names.commit_message(message, names.with_request(request_id, trailers)).decode() \
            .partition("\n\n")
        try:
            result = api.call(f"merging #{link.number}", lambda: api.api.pulls.merge(
                self.owner, self.name, link.number, sha=expected_head or pull.head.sha, merge_method="merge",
                commit_title=f"{title.strip()} (#{link.number})", commit_message=rest.strip())).parsed_data
        except GitHubError as exc:
            if exc.status == 409:
                raise ForgeError(f"the head of pull request #{link.number} moved since it was validated (GitHub"
                                 " answered 409); not merged") from None
            raise
        self._remote().fetch(names.MAIN)
        return str(result.sha)

    def _existing_merge(self, request_id: str, link: PullRequestLink) -> str:
        self._remote().fetch(names.MAIN)
        found = self._local.find_merge(request_id)
        if found is None:
            raise ForgeError(f"pull request #{link.number} was merged on GitHub, but not by toolfoundry (no merge"
                             f" commit on main carries {names.REQUEST_TRAILER}: {request_id})")
        return found

    @property
    def repo(self) -> Path:
        """The local mirror of the repository."""
        return self._git.repo

    def main_head(self) -> str:
        """The commit GitHub's ``main`` points at (fetched into the mirror)."""
        self._remote().fetch(names.MAIN)
        return self._local.main_head()

    # ── reading ────────────────────────────────────────────────────────────────────────────────────

    def _have(self, commit: str) -> None:
        """Fetch the repository's branches when the mirror lacks ``commit``."""
        origin = self._remote()
        if not origin.has(names.revision(commit)):
            origin.fetch(names.MAIN, *origin.heads("refs/heads/foundry/*"))

    def read_file(self, commit: str, path: str) -> bytes:
        """The exact bytes of ``path`` at ``commit``, from the mirror (fetched first if it lacks the commit)."""
        try:
            return self._local.read_file(commit, path)
        except ForgeError:
            self._have(commit)
            return self._local.read_file(commit, path)

    def branch_head(self, request_id: str) -> str | None:
        """The head of the request's branch on GitHub, or None."""
        ref = names.branch_ref(request_id)
        return self._remote().heads(ref).get(ref)

    def trailers(self, commit: str) -> dict[str, str]:
        """The trailers of ``commit``'s message."""
        self._have(commit)
        return self._local.trailers(commit)

    def diff(self, request_id: str) -> str:
        """The request's branch against ``main``, as a unified diff."""
        self._remote().fetch(names.MAIN, names.branch_ref(request_id))
        return self._local.diff(request_id)

    # ── reviews ────────────────────────────────────────────────────────────────────────────────────

    def review_state(self, request_id: str, validated_head: str) -> PullReview | None:
        """The pull request's state, reviews and required check, judged (None: the request has no pull request);
        only logins the configured approvers and the :attr:`gate` allow count. Reads are conditional (ETags):
        an unchanged pull request costs no rate limit (``github_reviews.py``)."""
        link = self.pull_request(request_id)
        if link is None:
            return None
        return github_reviews.review_state(self._api(), self.settings, link, request_id=request_id,
                                           validated_head=validated_head, gate=self.gate)
