"""The forge seam: the ``Forge`` protocol a git host for the tool repository implements, and ``PullRequestLink``.

Two implementations: ``forge.local.LocalForge`` and ``forge.github.GitHubForge``. This module owns only the
protocol; it does no git.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequestLink:
    """Where people see a request's pull request on a forge that has pull-request pages (GitHub)."""

    number: int
    """The pull request's number in its repository."""
    url: str
    """Its web page."""


class Forge(Protocol):
    """A git host for the tool repository: branches as pull requests, atomic merges.

    Two implementations: ``forge.local.LocalForge`` (a bare repository in the home, the default) and
    ``forge.github.GitHubForge`` (pull requests on GitHub, merged through its API)."""

    def open_pr(self, *, request_id: str, files: dict[str, bytes], message: str,
                trailers: dict[str, str], body: str | None = None) -> str:
        """Create or reuse branch ``foundry/<request_id>`` with one commit holding ``files``; return its sha.
        ``body`` is what the pull request says to reviewers (Markdown), where the forge shows one."""

    def merge(self, *, request_id: str, message: str, trailers: dict[str, str],
              expected_head: str | None = None) -> str:
        """Merge the request's branch into ``main`` atomically and idempotently; return the merge commit.
        With ``expected_head``, merge only if the branch still points there (``ForgeError`` otherwise)."""

    @property
    def repo(self) -> Path:
        """The bare repository on disk that holds the forge's commits (on GitHub: the local mirror)."""

    def read_file(self, commit: str, path: str) -> bytes:
        """The bytes of ``path`` at ``commit``."""

    def main_head(self) -> str:
        """The commit ``main`` points at (on GitHub: fetched first)."""

    def branch_head(self, request_id: str) -> str | None:
        """The head commit of the request's branch, or None when it has none."""

    def trailers(self, commit: str) -> dict[str, str]:
        """The trailers of ``commit``'s message."""

    def diff(self, request_id: str) -> str:
        """The request's changes against ``main``, as a unified diff."""

    def pull_request(self, request_id: str) -> PullRequestLink | None:
        """The request's pull request page, or None (none opened yet, or a forge without pages)."""

    def comment(self, *, request_id: str, key: str, text: str) -> bool:
        """Post ``text`` on the request's pull request once per ``key`` (a re-run posts nothing new); False
        when there is nowhere to post (no pull request page)."""
