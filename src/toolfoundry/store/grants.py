"""What a principal is and may hold: the records of principals, keys, tokens and identities, and their rules.

Owns the vocabulary of ``principals.py`` (which owns the tables): a principal is a ``human`` or an
``agent`` with a name and roles — ``requester`` (may propose and request), ``reviewer`` (may approve or
reject, optionally only some risk classes or tool-name patterns), ``admin`` (may manage principals and
policy) and any custom role a policy rule can require (``security-lead``). A human may be linked to one
GitHub login, so that their approving review on a pull request counts as their approval (``review sync``;
authenticated by GitHub, not by their SSH key). The rules here are pure: valid names, roles, logins, and
which token scopes a principal may hold (never ``review`` or ``admin`` for an agent). No I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from toolfoundry.core import JSON
from toolfoundry.errors import UsageError

Kind = Literal["human", "agent"]
ROLES = ("requester", "reviewer", "admin")
"""The built-in roles; any other role name is a custom one, for policy rules to require."""
SCOPES = ("call", "propose", "request", "search", "review", "admin")
"""What a token may be used for."""
AGENT_SCOPES = ("call", "propose", "request", "search")
"""The only scopes an agent's token can have: never ``review`` or ``admin``."""
RISKS = ("pure", "env", "net")
"""Risk classes a reviewer may be limited to: no permission, environment variables, network hosts."""
RESERVED = frozenset({"foundry", "policy", "reviewers", "tester-policy", "unknown"})
"""Names no principal may take (they name the foundry itself and automatic decisions in the audit log)."""
NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")
ROLE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
LOGIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
"""A GitHub login: 1 to 39 letters, digits and single inner hyphens (GitHub's rule)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Key:
    """A principal's SSH public key."""

    public: str
    """``type base64``."""
    fingerprint: str
    """``SHA256:...``."""
    purpose: Literal["review", "ui"] = "review"
    """``review``: the reviewer signs with it themselves; ``ui``: the review UI signs with it on their behalf."""
    path: str | None = None
    """``ui`` only: the private key file the review UI signs with."""

    def to_json(self) -> dict[str, JSON]:
        """As stored and as ``principals list --json`` prints it."""
        return {"public": self.public, "fingerprint": self.fingerprint, "purpose": self.purpose, "path": self.path}


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """A human or an agent that may act on the home."""

    name: str
    """Unique, never reused."""
    kind: Kind
    """``human`` or ``agent``."""
    roles: tuple[str, ...]
    """``requester``, ``reviewer``, ``admin`` and custom roles."""
    risk: tuple[str, ...] = ()
    """A reviewer's risk classes (``pure``, ``env``, ``net``); empty: all."""
    tools: tuple[str, ...] = ()
    """A reviewer's tool-name globs; empty: all."""
    keys: tuple[Key, ...] = ()
    """SSH public keys (humans)."""
    github: str | None = None
    """The GitHub login linked to this human (``--github``): their approving review of a pull request counts as
    their approval (``review sync``), recorded as a GitHub review, not a signature. None: not linked."""
    created: str = ""
    """ISO 8601 UTC."""
    created_by: str = ""
    """Who added it."""
    revoked: str | None = None
    """When it was revoked; None while active."""

    @property
    def active(self) -> bool:
        """Not revoked."""
        return self.revoked is None

    def to_json(self) -> dict[str, JSON]:
        """As ``principals list --json`` prints it."""
        return {"name": self.name, "kind": self.kind, "roles": list(self.roles), "risk": list(self.risk),
                "tools": list(self.tools), "keys": [k.to_json() for k in self.keys], "github": self.github,
                "created": self.created, "created_by": self.created_by, "revoked": self.revoked}


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """A token's record (never its secret)."""

    id: str
    """The public part of the token, shown in lists and the audit log."""
    principal: str
    """Whose token it is."""
    scopes: tuple[str, ...]
    """What it may be used for."""
    created: str
    """ISO 8601 UTC."""
    expires: str | None = None
    """ISO 8601 UTC, or None: no expiry."""
    revoked: str | None = None
    """When it was revoked."""

    def to_json(self) -> dict[str, JSON]:
        """As ``tokens list --json`` prints it."""
        return {"id": self.id, "principal": self.principal, "scopes": list(self.scopes), "created": self.created,
                "expires": self.expires, "revoked": self.revoked}


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who is acting, as authenticated: a principal and what it may do here."""

    name: str
    """The principal's name: what the audit log records."""
    kind: Kind
    """``human`` or ``agent``."""
    roles: tuple[str, ...]
    """The principal's roles."""
    scopes: tuple[str, ...]
    """What this credential allows."""
    token: str | None = None
    """The token id, when a token authenticated it (None: a principal named when a process was started)."""


def check_name(name: str) -> str:
    """``name`` if it is a valid, unreserved principal name."""
    if not NAME_RE.match(name) or name in RESERVED:
        raise UsageError(f"invalid principal name {name!r}: 1 to 63 characters, lowercase letters, digits, '_', '.',"
                         f" '-', starting with a letter; not one of {', '.join(sorted(RESERVED))}")
    return name


def check_login(login: str) -> str:
    """``login`` if it is a valid GitHub login."""
    if not LOGIN_RE.match(login):
        raise UsageError(f"invalid GitHub login {login!r}: 1 to 39 letters, digits or single hyphens, not starting"
                         f" or ending with a hyphen")
    return login


def check_grants(kind: Kind, roles: tuple[str, ...], risk: tuple[str, ...]) -> None:
    """UsageError unless the roles and risk classes are valid for a principal of ``kind``."""
    for role in roles:
        if not ROLE_RE.match(role):
            raise UsageError(f"invalid role {role!r}: lowercase letters, digits, '_' and '-'")
    if not roles:
        raise UsageError(f"a principal needs at least one role ({', '.join(ROLES)}, or a custom one)")
    if kind == "agent" and set(roles) - {"requester"}:
        raise UsageError(f"an agent can only be a requester, not {', '.join(sorted(set(roles) - {'requester'}))}:"
                         f" agents never review, approve or administer")
    bad = set(risk) - set(RISKS)
    if bad:
        raise UsageError(f"unknown risk class {sorted(bad)[0]!r} (known: {', '.join(RISKS)})")


def allowed_scopes(p: Principal) -> tuple[str, ...]:
    """The scopes a token of ``p`` may carry: propose/request need ``requester``, review ``reviewer``, admin ``admin``."""
    scopes = ["call", "search"]
    if "requester" in p.roles:
        scopes += ["propose", "request"]
    if p.kind == "human" and "reviewer" in p.roles:
        scopes.append("review")
    if p.kind == "human" and "admin" in p.roles:
        scopes.append("admin")
    return tuple(s for s in SCOPES if s in scopes)
