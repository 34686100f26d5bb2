"""A node's read-only mirror of the forge node's tool repository, fetched when it lacks what it is asked for.

In a cluster one node owns ``tools.git`` and runs every merge (the ``forge`` queue); the others read
tool code — to load a deployed tool, to show a diff — from a local bare mirror of it. A read of a commit
the mirror does not have yet fetches first (``git fetch`` of every branch, forced: the forge node is
the truth), as do reads of moving refs (``main``, a request's branch). A stale or tampered mirror cannot
put unreviewed code into an agent: what it returns is hashed and checked against the registry at load.
Writes (opening a pull request, merging) are refused here: they belong to the forge node.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from toolfoundry.errors import ForgeError
from toolfoundry.forge.git import first_line
from toolfoundry.forge.local import LocalForge

FETCH_EVERY = 0.5
"""Reads of moving refs within this many seconds of the last fetch do not fetch again."""


class MirrorForge(LocalForge):
    """``LocalForge``'s reads on a mirror of ``origin`` (implements ``core.Forge``; writes raise ``ForgeError``)."""

    def __init__(self, repo: Path, origin: str, *, git: str = "git") -> None:
        super().__init__(repo, git=git)
        self.origin = origin
        self._lock = threading.Lock()
        self._fetched = 0.0

    def fetch(self, *, fresh: bool = True) -> None:
        """Bring the mirror up to date with the forge node (``fresh=False``: unless it just was)."""
        with self._lock:
            if not fresh and time.monotonic() - self._fetched < FETCH_EVERY:
                return
            proc = self._git.run("fetch", "--quiet", "--prune", "--no-tags", self.origin,
                                 "+refs/heads/*:refs/heads/*", ok=(0, 1, 128))
            if proc.returncode != 0:
                raise ForgeError(f"cannot fetch the tool repository from the forge node ({self.origin}):"
                                 f" {first_line(proc.stderr)}")
            self._fetched = time.monotonic()

    def read_file(self, commit: str, path: str) -> bytes:
        try:
            return super().read_file(commit, path)
        except ForgeError:
            self.fetch()
            return super().read_file(commit, path)

    def trailers(self, commit: str) -> dict[str, str]:
        if self._rev(commit) is None:
            self.fetch()
        return super().trailers(commit)

    def main_head(self) -> str:
        self.fetch(fresh=False)
        return super().main_head()

    def branch_head(self, request_id: str) -> str | None:
        self.fetch(fresh=False)
        return super().branch_head(request_id)

    def find_merge(self, request_id: str) -> str | None:
        self.fetch(fresh=False)
        return super().find_merge(request_id)

    def diff(self, request_id: str) -> str:
        self.fetch(fresh=False)
        return super().diff(request_id)

    def open_pr(self, *, request_id: str, files: dict[str, bytes], message: str,
                trailers: dict[str, str], body: str | None = None) -> str:
        raise ForgeError(f"this node only mirrors the tool repository ({self.origin}); pull requests are opened"
                         f" by the forge node (the forge queue)")

    def merge(self, *, request_id: str, message: str, trailers: dict[str, str],
              expected_head: str | None = None) -> str:
        raise ForgeError(f"this node only mirrors the tool repository ({self.origin}); merges run on the forge"
                         f" node (the forge queue)")
