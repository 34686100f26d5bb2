"""Principals, their roles and keys, and their tokens: who may act on a home, stored in ``foundry.db``.

Owns the ``principals`` and ``tokens`` tables (created by ``store/migrations.py``). A principal is a
``human`` or an ``agent`` with a name and roles — ``requester`` (may propose and request), ``reviewer``
(may approve or reject, optionally only some risk classes or tool-name patterns), ``admin`` (may manage
principals and policy) and any custom role a policy rule can require (``security-lead``). Humans have
SSH keys (the public halves; signing happens with the private key the reviewer holds) and may be linked
to one GitHub login (unique among active principals). The records and their rules are ``grants.py``. A token is a
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from toolfoundry.errors import AccessDenied, UsageError
from toolfoundry.store.db import connect_database, migrate
from toolfoundry.store.dialect import AnyDatabase
from toolfoundry.store.grants import (
    AGENT_SCOPES,
    NAME_RE,
    RESERVED,
    RISKS,
    ROLE_RE,
    ROLES,
    SCOPES,
    Identity,
    Key,
    Kind,
    Principal,
    Token,
    allowed_scopes,
    check_grants,
    check_login,
    check_name,
)

__all__ = ["AGENT_SCOPES", "NAME_RE", "RESERVED", "RISKS", "ROLES", "ROLE_RE", "SCOPES", "Identity", "Key", "Kind",
           "Principal", "Principals", "Token", "allowed_scopes", "check_grants", "check_login", "check_name"]

TOKEN_PREFIX = "tft"  # noqa: S105 (the tokens' visible prefix, not a secret)
_TOKEN_RE = re.compile(r"^tft_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


def _now() -> datetime:
    return datetime.now(UTC)


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
        if principal.kind == "agent" and (principal.keys or principal.github):
            raise UsageError("agents have no signing keys and no GitHub login: they cannot approve anything")
        if principal.github is not None:
            self._login_free(check_login(principal.github))
        if self.exists(principal.name):
            raise UsageError(f"a principal named {principal.name} exists already (names are never reused, so the"
                             f" audit log stays unambiguous)")
        self._db.execute(
            "INSERT INTO principals(name, kind, roles, risk, tools, keys, github, created, created_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (principal.name, principal.kind, json.dumps(list(principal.roles)), json.dumps(list(principal.risk)),
             json.dumps(list(principal.tools)), json.dumps([k.to_json() for k in principal.keys]), principal.github,
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

    def with_github(self, login: str) -> Principal | None:
        """The active principal linked to GitHub ``login`` (logins compare case-insensitively, as on GitHub)."""
        return next((p for p in self.all() if p.active and p.github is not None
                     and p.github.lower() == login.lower()), None)

    def link_github(self, name: str, login: str | None) -> Principal:
        """Link an active human principal to GitHub ``login`` (None: unlink)."""
        current = self.active(name)
        if current.kind != "human":
            raise UsageError(f"{name} is an agent; agents never review, so they have no GitHub login here")
        if login is not None and (current.github or "").lower() != login.lower():
            self._login_free(check_login(login))
        self._db.execute("UPDATE principals SET github = ? WHERE name = ?", (login, name),
                         doing=f"linking {name} to GitHub")
        return self.active(name)

    def _login_free(self, login: str) -> None:
        owner = self.with_github(login)
        if owner is not None:
            raise UsageError(f"the GitHub login {login} is already linked to {owner.name}; a login names one person")

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
                     github=row["github"], created=row["created"], created_by=row["created_by"], revoked=row["revoked"])


def _token(row: Any) -> Token:
    return Token(id=row["id"], principal=row["principal"], scopes=tuple(json.loads(row["scopes"])),
                 created=row["created"], expires=row["expires"], revoked=row["revoked"])
