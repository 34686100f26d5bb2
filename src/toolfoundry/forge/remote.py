"""The git CLI against a remote over HTTPS, with the token kept out of argv, URLs and files.

This module owns fetching from, listing and pushing to one remote repository (a GitHub clone URL)
from a local bare repository. The token travels as an ``http.extraHeader`` set through git's
``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` environment (as GitHub's own checkout
action passes it): never on a command line, in a URL, or in a config file. Credential helpers and
prompts are off, so a refused token fails at once. Errors are ``ForgeError`` with git's reason and no
secret in it. It knows nothing about pull requests.
"""

from __future__ import annotations

import base64

from toolfoundry.errors import ForgeError
from toolfoundry.forge.git import Git, first_line


def token_env(token: str | None) -> dict[str, str]:
    """The environment that makes git send ``token`` (and never ask for one)."""
    settings = [("credential.helper", ""), ("core.askPass", "")]
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        settings.append(("http.extraHeader", f"Authorization: Basic {basic}"))
    env = {"GIT_CONFIG_COUNT": str(len(settings)), "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "",
           "SSH_ASKPASS": ""}
    for i, (key, value) in enumerate(settings):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


class Remote:
    """One remote repository, reached from a local bare repository with a token."""

    def __init__(self, git: Git, url: str, token: str | None) -> None:
        if "@" in url.partition("://")[2].partition("/")[0]:
            raise ForgeError("the remote URL must not carry credentials; the token comes from the environment")
        self.url = url
        self._git = git
        self._token = token

    def _run(self, *args: str, ok: tuple[int, ...] = (0,)) -> tuple[int, str, str]:
        proc = self._git.run(*args, ok=(*ok, 1, 128), env=token_env(self._token))
        out = proc.stdout.decode("utf-8", "replace")
        if proc.returncode not in ok:
            reason = first_line(proc.stderr)
            if self._token:
                reason = reason.replace(self._token, "<token>")
            raise ForgeError(f"git {args[0]} {self.url} failed: {reason}")
        return proc.returncode, out, proc.stderr.decode("utf-8", "replace")

    def heads(self, *refs: str) -> dict[str, str]:
        """The remote's commit for each of ``refs`` that exists there (full ref names)."""
        _, out, _ = self._run("ls-remote", "--refs", self.url, *refs)
        found = {}
        for line in out.splitlines():
            sha, _, ref = line.partition("\t")
            found[ref.strip()] = sha.strip()
        return found

    def fetch(self, *refs: str) -> None:
        """Bring ``refs`` (full ref names; those the remote lacks are skipped) into the local repository."""
        present = self.heads(*refs)
        for ref in refs:
            if ref not in present:
                self._git.run("update-ref", "-d", ref, ok=(0, 1))  # gone there: gone here
        if present:
            self._run("fetch", "--quiet", "--no-tags", "--force", self.url,
                      *(f"+{ref}:{ref}" for ref in present))

    def has(self, commit: str) -> bool:
        """True when the local repository holds ``commit``."""
        proc = self._git.run("cat-file", "-e", f"{commit}^{{commit}}", ok=(0, 1, 128))
        return proc.returncode == 0

    def push(self, commit: str, ref: str, *, expect: str | None) -> None:
        """Point the remote's ``ref`` at ``commit`` only if it still points at ``expect`` (None: must not exist).

        A compare-and-swap (``--force-with-lease`` with the expected value): a push that lost a race
        fails with ``ForgeError`` instead of overwriting what someone else pushed."""
        lease = f"--force-with-lease={ref}:{expect or ''}"
        self._run("push", "--quiet", "--porcelain", lease, self.url, f"{commit}:{ref}")
