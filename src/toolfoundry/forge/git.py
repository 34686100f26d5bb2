"""Running the git CLI against one bare repository, hermetically.

This module owns how git is invoked: a fixed environment (no system or global config, no pager, no
prompts, the toolfoundry identity), the repository selected with ``--git-dir``, and the translation of
a failed command into ``ForgeError`` with git's own one-line reason. It knows nothing about pull
requests or merges; ``local.py`` builds those from these calls.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from toolfoundry.errors import ForgeError

NAME = "toolfoundry"
EMAIL = "toolfoundry@localhost"


_CONFIG = ("-c", f"user.name={NAME}", "-c", f"user.email={EMAIL}",
           "-c", "core.filesRefLockTimeout=5000", "-c", "core.packedRefsTimeout=5000")
"""Command-line config: our identity, and waiting (not failing) when another writer holds a ref lock."""


def _environment(git: str) -> dict[str, str]:
    """The whole environment git runs with: nothing inherited from the caller."""
    return {
        "PATH": os.path.dirname(git),
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_LITERAL_PATHSPECS": "1",
        "GIT_PAGER": "cat",
        "PAGER": "cat",
        "GIT_AUTHOR_NAME": NAME,
        "GIT_AUTHOR_EMAIL": EMAIL,
        "GIT_COMMITTER_NAME": NAME,
        "GIT_COMMITTER_EMAIL": EMAIL,
    }


def first_line(stderr: bytes) -> str:
    """The first non-empty line of git's stderr, for an error message."""
    for line in stderr.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.strip()
    return "no message"


class Git:
    """The git CLI bound to one bare repository."""

    def __init__(self, repo: Path, executable: str = "git") -> None:
        found = shutil.which(executable)
        if found is None:
            raise ForgeError(f"git executable {executable!r} not found")
        self.repo = repo
        self.executable = found
        self._env = _environment(found)

    def run(self, *args: str, stdin: bytes = b"", ok: Sequence[int] = (0,),
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run ``git --git-dir=<repo> args...``; raise ``ForgeError`` unless the exit code is in ``ok``."""
        return self._run(["--git-dir", str(self.repo), *args], stdin=stdin, ok=ok, env=env)

    def out(self, *args: str, stdin: bytes = b"", env: Mapping[str, str] | None = None) -> str:
        """Run a git command that must succeed and return its stdout, stripped, as text."""
        return self.run(*args, stdin=stdin, env=env).stdout.decode("utf-8", "replace").strip()

    def bare_init(self) -> None:
        """``git init --bare -b main`` (safe to repeat on an existing repository)."""
        self._run(["init", "--quiet", "--bare", "--initial-branch", "main", str(self.repo)],
                  stdin=b"", ok=(0,), env=None)

    def _run(self, argv: list[str], *, stdin: bytes, ok: Sequence[int],
             env: Mapping[str, str] | None) -> subprocess.CompletedProcess[bytes]:
        full_env = {**self._env, **(env or {})}
        command = [self.executable, "--no-pager", *_CONFIG, *argv]
        try:
            proc = subprocess.run(command, input=stdin, capture_output=True, env=full_env, check=False)
        except OSError as exc:
            raise ForgeError(f"cannot run git: {exc}") from exc
        if proc.returncode not in ok:
            verb = next((a for a in argv if not a.startswith("-") and a != str(self.repo)), "?")
            raise ForgeError(f"git {verb} failed in {self.repo}: {first_line(proc.stderr)}")
        return proc
