"""The ``[forge]`` section of toolfoundry.toml: where the tool repository lives, and who may approve there.

``kind = "local"`` (the default) keeps the tool repository as a bare repository in the home.
``kind = "github"`` makes a GitHub repository the forge: pull requests are opened there, approved
there by GitHub reviews, and merged through the API. The token is never written in the file:
``token_env`` names the environment variable that holds it, and ``settings.py`` (the only reader of
the environment) resolves it into :attr:`ForgeSettings.token`. The CI facts ``GITHUB_ACTIONS`` and
``GITHUB_STEP_SUMMARY`` that ``toolfoundry verify`` uses are resolved the same way. This module parses
and validates; it opens nothing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from toolfoundry.errors import UsageError

ForgeKind = Literal["local", "github"]
"""Where the tool repository lives."""

REPOSITORY_RE = re.compile(r"^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$")
LOGIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
_FILE_KEYS = frozenset({"kind", "repository", "token_env", "api_url", "approvers", "approver_team",
                        "required_check", "max_wait_seconds"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ForgeSettings:
    """Where the tool repository lives and, on GitHub, how approvals are recognised."""

    kind: ForgeKind = "local"
    """``local`` (a bare repository in the home) or ``github``."""
    repository: str = ""
    """``owner/name`` of the GitHub repository (``github`` only)."""
    token_env: str = "GITHUB_TOKEN"  # noqa: S105 (the name of a variable, not a secret)
    """The name of the environment variable that holds the GitHub token (never the token itself)."""
    api_url: str = "https://api.github.com"
    """The REST API's base URL; ``https://HOST/api/v3`` for GitHub Enterprise Server."""
    approvers: tuple[str, ...] = ()
    """GitHub logins whose approving review approves a pending request."""
    approver_team: str = ""
    """``org/team-slug``: active members of this team may approve too. With neither set, any user with
    write access to the repository may."""
    required_check: str = "toolfoundry verify"
    """The check (an Actions job, or a commit status context) that must pass on the pull request's head
    before an approval counts; empty: none is required."""
    max_wait_seconds: float = 900.0
    """The longest toolfoundry waits for GitHub's rate limit to reset (``Retry-After``, ``x-ratelimit-reset``);
    a longer wait fails the call with a message saying when to try again."""
    token: str | None = field(default=None, repr=False)
    """The token, read from ``$<token_env>`` at load; never logged, never written."""
    actions: bool = False
    """``GITHUB_ACTIONS=true``: running inside GitHub Actions (``verify`` prints annotations)."""
    step_summary: str = ""
    """``$GITHUB_STEP_SUMMARY``: the file an Actions job summary is appended to."""

    @property
    def owner(self) -> str:
        """The repository's owner (``github`` only)."""
        return self.repository.partition("/")[0]

    @property
    def name(self) -> str:
        """The repository's name (``github`` only)."""
        return self.repository.partition("/")[2]


def parse(values: Mapping[str, Any], base: ForgeSettings, where: str) -> ForgeSettings:
    """``base`` with a ``[forge]`` table applied; anything unknown or malformed is a ``UsageError``."""
    unknown = set(values) - _FILE_KEYS
    if unknown:
        raise UsageError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}"
                         f" (known: {', '.join(sorted(_FILE_KEYS))})")
    updates: dict[str, Any] = {}
    for key in ("kind", "repository", "token_env", "api_url", "approver_team", "required_check"):
        if key in values:
            if not isinstance(values[key], str):
                raise UsageError(f"{where}: {key} must be a string, got {values[key]!r}")
            updates[key] = values[key].strip()
    if "approvers" in values:
        approvers = values["approvers"]
        if not isinstance(approvers, list) or not all(isinstance(a, str) for a in approvers):
            raise UsageError(f"{where}: approvers must be a list of GitHub logins")
        updates["approvers"] = tuple(dict.fromkeys(a.strip() for a in approvers))
    if "max_wait_seconds" in values:
        wait = values["max_wait_seconds"]
        if isinstance(wait, bool) or not isinstance(wait, int | float) or wait < 0:
            raise UsageError(f"{where}: max_wait_seconds must be a number of seconds, at least 0")
        updates["max_wait_seconds"] = float(wait)
    return check(dataclasses.replace(base, **updates), where)


def check(s: ForgeSettings, where: str) -> ForgeSettings:
    """``s`` if it is consistent, else a ``UsageError`` saying what to fix."""
    if s.kind not in ("local", "github"):
        raise UsageError(f'{where}: kind must be "local" or "github", got {s.kind!r}')
    if not ENV_NAME_RE.match(s.token_env):
        raise UsageError(f"{where}: token_env must name an environment variable (e.g. GITHUB_TOKEN),"
                         f" got {s.token_env!r}")
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", s.api_url):
        raise UsageError(f"{where}: api_url must be an http(s) URL, got {s.api_url!r}")
    for login in s.approvers:
        if not LOGIN_RE.match(login):
            raise UsageError(f"{where}: {login!r} in approvers is not a GitHub login")
    if s.approver_team and not re.match(r"^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$", s.approver_team):
        raise UsageError(f"{where}: approver_team must be 'org/team-slug', got {s.approver_team!r}")
    if s.kind == "github" and not REPOSITORY_RE.match(s.repository):
        raise UsageError(f"{where}: a GitHub forge needs repository = \"owner/name\", got {s.repository!r}")
    return s


def with_environment(s: ForgeSettings, env: Mapping[str, str]) -> ForgeSettings:
    """``s`` with what only the environment holds: the token (from ``$<token_env>``) and the Actions facts."""
    return dataclasses.replace(s, token=env.get(s.token_env) or None,
                               actions=env.get("GITHUB_ACTIONS", "").lower() == "true",
                               step_summary=env.get("GITHUB_STEP_SUMMARY", ""))


DEFAULT_TOML = """\

[forge]
# Where the tool repository lives: "local" (tools.git in this home) or "github".
# kind = "local"
# The GitHub repository, as owner/name (a GitHub forge only).
# repository = ""
# The NAME of the environment variable holding the GitHub token (the token never goes in this file).
# token_env = "GITHUB_TOKEN"
# The REST API; https://HOST/api/v3 for GitHub Enterprise Server.
# api_url = "https://api.github.com"
# Who may approve a pending request with an approving GitHub review: logins, and/or an org/team-slug.
# With neither, any user with write access to the repository may. The pull request's author never may.
# approvers = []
# approver_team = ""
# The check that must pass on the pull request's head before an approval counts ("" for none).
# required_check = "toolfoundry verify"
# The longest wait, in seconds, for GitHub's rate limit (Retry-After) before a call gives up.
# max_wait_seconds = 900.0
"""
"""The commented ``[forge]`` defaults appended to a new home's toolfoundry.toml."""


def toml_section(s: ForgeSettings) -> str:
    """A ``[forge]`` table holding ``s``'s file settings (what ``init --forge github`` writes)."""
    import json
    lines = ["", "[forge]", f"kind = {json.dumps(s.kind)}"]
    if s.kind == "github":
        lines += [f"repository = {json.dumps(s.repository)}", f"token_env = {json.dumps(s.token_env)}",
                  f"api_url = {json.dumps(s.api_url)}", f"approvers = {json.dumps(list(s.approvers))}",
                  f"approver_team = {json.dumps(s.approver_team)}",
                  f"required_check = {json.dumps(s.required_check)}"]
    return "\n".join(lines) + "\n"
