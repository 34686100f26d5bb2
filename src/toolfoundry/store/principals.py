"""Principals, their roles and keys, and their tokens: who may act on a home, stored in ``foundry.db``.

Owns the ``principals`` and ``tokens`` tables (created by ``store/migrations.py``). A principal is a
``human`` or an ``agent`` with a name and roles — ``requester`` (may propose and request), ``reviewer``
(may approve or reject, optionally only some risk classes or tool-name patterns), ``admin`` (may manage
principals and policy) and any custom role a policy rule can require (``security-lead``). Humans have
SSH keys (the public halves; signing happens with the private key the reviewer holds). A token is a
random secret shown once: the table keeps only its sha256, compared in constant time, with its scopes,
an optional expiry and a revocation time. No agent is ever a reviewer or an admin, and no agent token
can carry the ``review`` or ``admin`` scope. Names are never reused (a revoked principal keeps its row),
so the audit log stays unambiguous. It does not write the audit log or the forge (``trust/`` does).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from toolfoundry.core import JSON
from toolfoundry.errors import AccessDenied, UsageError
from toolfoundry.store.db import connect_database, migrate
from toolfoundry.store.dialect import AnyDatabase

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
TOKEN_PREFIX = "tft"  # noqa: S105 (the tokens' visible prefix, not a secret)
_TOKEN_RE = re.compile(r"^tft_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


def _now() -> datetime:
    return datetime.now(UTC)


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
                "tools": list(self.tools), "keys": [k.to_json() for k in self.keys], "created": self.created,
                "created_by": self.created_by, "revoked": self.revoked}


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


class Principals:
    """The ``principals`` and ``tokens`` tables."""

    def __init__(self, db: Path | str | AnyDatabase) -> None:
        """``db``: the SQLite file, a ``postgresql://`` URL, or an open database (the home's, as the ledger's)."""
        self._db = connect_database(db)
        migrate(self._db)

    def any(self) -> bool:
        """True once any principal was ever registered: from then on identity is enforced."""
        return self._db.one("SELECT 1 FROM principals LIMIT 1") is not None

    def add(self, principal: Principal) -> Principal:
        """Record a new principal; UsageError when the name is taken (names are never reused)."""
        check_name(principal.name)
        check_grants(principal.kind, principal.roles, principal.risk)
        if principal.kind == "agent" and principal.keys:
            raise UsageError("agents have no signing keys: they cannot approve anything")
        if self.exists(principal.name):
            raise UsageError(f"a principal named {principal.name} exists already (names are never reused, so the"
                             f" audit log stays unambiguous)")
        self._db.execute(
            "INSERT INTO principals(name, kind, roles, risk, tools, keys, created, created_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (principal.name, principal.kind, json.dumps(list(principal.roles)), json.dumps(list(principal.risk)),
             json.dumps(list(principal.tools)), json.dumps([k.to_json() for k in principal.keys]),
             _now().isoformat(timespec="seconds"), principal.created_by), doing=f"adding principal {principal.name}")
        found = self.get(principal.name)
        assert found is not None
        return found

    def exists(self, name: str) -> bool:
        """True when ``name`` was ever registered (active or revoked)."""
        return self._db.one("SELECT 1 FROM principals WHERE name = ?", (name,)) is not None

    def get(self, name: str) -> Principal | None:
        """The principal, active or revoked, or None."""
        row = self._db.one("SELECT * FROM principals WHERE name = ?", (name,))
        return _principal(row) if row else None

    def all(self) -> list[Principal]:
        """Every principal, by name."""
        return [_principal(r) for r in self._db.query("SELECT * FROM principals ORDER BY name")]

    def with_key(self, fingerprint: str) -> Principal | None:
        """The active principal holding a key with this fingerprint."""
        return next((p for p in self.all() if p.active and any(k.fingerprint == fingerprint for k in p.keys)), None)

    def add_key(self, name: str, key: Key) -> Principal:
        """Give an active human principal one more key (a UI key replaces its previous UI key)."""
        current = self.active(name)
        if current.kind != "human":
            raise UsageError(f"{name} is an agent; agents have no signing keys")
        keep = [k for k in current.keys if k.fingerprint != key.fingerprint and not (key.purpose == "ui" == k.purpose)]
        self._db.execute("UPDATE principals SET keys = ? WHERE name = ?",
                         (json.dumps([k.to_json() for k in (*keep, key)]), name), doing=f"adding a key to {name}")
        return self.active(name)

    def active(self, name: str) -> Principal:
        """The active principal ``name``; AccessDenied when unknown or revoked."""
        found = self.get(name)
        if found is None:
            raise AccessDenied(f"no principal named {name!r} (see `toolfoundry principals list`)")
        if not found.active:
            raise AccessDenied(f"principal {name} was revoked at {found.revoked}")
        return found

    def revoke(self, name: str) -> Principal:
        """Revoke a principal and every token it has."""
        self.active(name)
        now = _now().isoformat(timespec="seconds")
        with self._db.transaction(doing=f"revoking {name}") as conn:
            conn.execute("UPDATE principals SET revoked = ? WHERE name = ? AND revoked IS NULL", (now, name))
            conn.execute("UPDATE tokens SET revoked = ? WHERE principal = ? AND revoked IS NULL", (now, name))
        found = self.get(name)
        assert found is not None
        return found

    # ── tokens ──────────────────────────────────────────────────────────────────────────────────────

    def create_token(self, name: str, scopes: tuple[str, ...], *, expires: datetime | None = None) -> tuple[Token, str]:
        """A new token for ``name``: (its record, the secret to show once)."""
        principal = self.active(name)
        allowed = allowed_scopes(principal)
        for scope in scopes:
            if scope not in SCOPES:
                raise UsageError(f"unknown scope {scope!r} (known: {', '.join(SCOPES)})")
            if scope not in allowed:
                raise UsageError(f"{name} ({principal.kind}, roles {', '.join(principal.roles)}) cannot hold a"
                                 f" {scope!r} token (allowed: {', '.join(allowed)})")
        if not scopes:
            raise UsageError(f"a token needs at least one scope ({', '.join(allowed)})")
        if expires is not None and expires <= _now():
            raise UsageError("a token's expiry must be in the future")
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        self._db.execute("INSERT INTO tokens(id, principal, secret_sha256, scopes, created, expires)"
                         " VALUES (?, ?, ?, ?, ?, ?)",
                         (token_id, name, _hash(secret), json.dumps(list(dict.fromkeys(scopes))),
                          _now().isoformat(timespec="seconds"),
                          expires.isoformat(timespec="seconds") if expires else None), doing="creating a token")
        token = self.token(token_id)
        assert token is not None
        return token, f"{TOKEN_PREFIX}_{token_id}_{secret}"

    def token(self, token_id: str) -> Token | None:
        """A token's record."""
        row = self._db.one("SELECT * FROM tokens WHERE id = ?", (token_id,))
        return _token(row) if row else None

    def tokens(self, name: str | None = None) -> list[Token]:
        """Every token (of ``name``), oldest first."""
        if name is None:
            return [_token(r) for r in self._db.query("SELECT * FROM tokens ORDER BY created")]
        rows = self._db.query("SELECT * FROM tokens WHERE principal = ? ORDER BY created", (name,))
        return [_token(r) for r in rows]

    def revoke_token(self, token_id: str) -> Token:
        """Revoke a token; it fails from the next request on."""
        found = self.token(token_id)
        if found is None:
            raise UsageError(f"no token {token_id!r} (see `toolfoundry tokens list`)")
        if found.revoked is None:
            self._db.execute("UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL",
                             (_now().isoformat(timespec="seconds"), token_id), doing="revoking a token")
        again = self.token(token_id)
        assert again is not None
        return again

    def authenticate(self, token: str) -> Identity:
        """The identity a token stands for; AccessDenied (one line, no secret in it) when it does not."""
        match = _TOKEN_RE.match(token.strip())
        if match is None:
            raise AccessDenied("malformed token: expected tft_<id>_<secret> as `toolfoundry tokens create` printed it")
        token_id, secret = match.groups()
        row = self._db.one("SELECT * FROM tokens WHERE id = ?", (token_id,))
        stored = row["secret_sha256"] if row else _hash("")  # compare anyway: no timing difference for unknown ids
        if not hmac.compare_digest(stored, _hash(secret)) or row is None:
            raise AccessDenied("unknown token (wrong secret, or never issued here)")
        return self._identity(_token(row))

    def recheck(self, identity: Identity) -> Identity:
        """``identity`` as it stands now: AccessDenied once its token or its principal was revoked or expired."""
        if identity.token is None:
            return self.named(identity.name)
        record = self.token(identity.token)
        if record is None:
            raise AccessDenied(f"token {identity.token} is no longer known here")
        return self._identity(record)

    def _identity(self, record: Token) -> Identity:
        if record.revoked is not None:
            raise AccessDenied(f"token {record.id} was revoked at {record.revoked}")
        if record.expires is not None and datetime.fromisoformat(record.expires) <= _now():
            raise AccessDenied(f"token {record.id} expired at {record.expires}")
        principal = self.active(record.principal)
        scopes = tuple(s for s in record.scopes if s in allowed_scopes(principal))  # roles may have narrowed since
        return Identity(name=principal.name, kind=principal.kind, roles=principal.roles, scopes=scopes, token=record.id)

    def named(self, name: str) -> Identity:
        """The identity of an active principal named when a process starts (stdio serving): all it may do."""
        principal = self.active(name)
        scopes = tuple(s for s in allowed_scopes(principal) if s in AGENT_SCOPES)
        return Identity(name=principal.name, kind=principal.kind, roles=principal.roles, scopes=scopes)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _principal(row: Any) -> Principal:
    keys = tuple(Key(public=k["public"], fingerprint=k["fingerprint"], purpose=k.get("purpose", "review"),
                     path=k.get("path")) for k in json.loads(row["keys"]))
    return Principal(name=row["name"], kind=row["kind"], roles=tuple(json.loads(row["roles"])),
                     risk=tuple(json.loads(row["risk"])), tools=tuple(json.loads(row["tools"])), keys=keys,
                     created=row["created"], created_by=row["created_by"], revoked=row["revoked"])


def _token(row: Any) -> Token:
    return Token(id=row["id"], principal=row["principal"], scopes=tuple(json.loads(row["scopes"])),
                 created=row["created"], expires=row["expires"], revoked=row["revoked"])
