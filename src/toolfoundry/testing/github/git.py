"""The fake's git plumbing: the real bare repository behind each fake repository (resolve a ref,
test ancestry, merge with ``merge-tree --write-tree`` + ``commit-tree`` + compare-and-swap ``update-ref``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path


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
