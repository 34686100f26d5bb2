"""Managing principals, their keys and their tokens: who may do it, and the trail every change leaves.

A home starts with no principal (an *open* home: reviews are unsigned, and audited as such). The first
principal must be a human admin; adding it is the bootstrap, allowed to whoever runs toolfoundry on the
home, and it prints that admin's first token once. From then on identity is enforced, and every change —
adding or revoking a principal, registering a key, creating or revoking a token — needs an admin's token,
is an audit event naming that admin, and, where it touches a key, a commit of ``allowed_signers`` on
``main`` (the file signatures are verified against, kept in the tool repository so it can be checked
offline and its history read with git). It does not check approvals (``approvals.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from toolfoundry.errors import AccessDenied, UsageError
from toolfoundry.identity import ssh
from toolfoundry.pipeline import attest
from toolfoundry.pipeline.parts import Parts
from toolfoundry.store.principals import Identity, Key, Kind, Principal, Principals, Token, allowed_scopes


def require_admin(store: Principals, acting: Identity | None) -> str:
    """The acting admin's name; AccessDenied unless an admin's (still valid) token is acting."""
    if acting is None:
        raise AccessDenied("managing principals needs an admin's token: set TOOLFOUNDRY_TOKEN to the token `principals"
                           " add` printed for the first admin (or one `tokens create` made for an admin)")
    if "admin" not in acting.scopes:
        raise AccessDenied(f"{acting.name}'s token has no admin scope (scopes: {', '.join(acting.scopes)})")
    store.active(acting.name)
    return acting.name


def sync_signers(parts: Parts, store: Principals, name: str, *, why: str, actor: str) -> str | None:
    """Make ``allowed_signers`` on main hold exactly ``name``'s registered keys (none once revoked)."""
    principal = store.get(name)
    keys = principal.keys if principal is not None and principal.active else ()

    def change(signers: list[ssh.Signer]) -> list[ssh.Signer]:
        kept = [s for s in signers if s.principal != name]
        return kept + [ssh.Signer(principal=name, key=ssh.parse_public_key(k.public, name)) for k in keys]
    return attest.change_signers(parts.forge, change, why=why, actor=actor)


def _key(store: Principals, path: Path, purpose: Literal["review", "ui"]) -> Key:
    public = ssh.read_public_key(path)
    owner = store.with_key(public.fingerprint)
    if owner is not None:
        raise UsageError(f"{path}: the key {public.fingerprint} is already {owner.name}'s; a key names one person")
    if purpose == "ui":
        if "PRIVATE KEY-----" not in path.read_text(encoding="utf-8", errors="replace"):
            raise UsageError(f"{path}: the review UI signs with this key, so give the private key file (without a"
                             f" passphrase; keep it readable only by the account that runs `toolfoundry ui`)")
        return Key(public=public.line, fingerprint=public.fingerprint, purpose="ui", path=str(path.absolute()))
    return Key(public=public.line, fingerprint=public.fingerprint, purpose="review")


def add_principal(parts: Parts, store: Principals, *, name: str, kind: Kind, roles: Sequence[str],
                  risk: Sequence[str] = (), tools: Sequence[str] = (), key: Path | None = None,
                  github: str | None = None, acting: Identity | None, operator: str) -> tuple[Principal, str | None]:
    """Register a principal; (it, the bootstrap admin's token or None). The first one must be a human admin."""
    bootstrap = not store.any()
    if bootstrap and (kind != "human" or "admin" not in roles):
        raise AccessDenied("the first principal of a home must be a human admin (--role admin): it manages the"
                           " others, and from then on every change needs an admin's token")
    by = operator if bootstrap else require_admin(store, acting)
    keys = (_key(store, key, "review"),) if key is not None else ()
    principal = store.add(Principal(name=name, kind=kind, roles=tuple(dict.fromkeys(roles)), risk=tuple(risk),
                                    tools=tuple(tools), keys=keys, github=github, created_by=by))
    commit = sync_signers(parts, store, name, why=f"Add {name}'s key", actor=by) if keys else None
    parts.audit.append("principal.added", request_id=None, actor=by,
                       data={**principal.to_json(), "bootstrap": bootstrap, "allowed_signers_commit": commit})
    if not bootstrap:
        return principal, None
    token, secret = store.create_token(name, allowed_scopes(principal))
    _token_created(parts, token, by)
    return principal, secret


def add_key(parts: Parts, store: Principals, name: str, key: Path, *, purpose: Literal["review", "ui"],
            acting: Identity | None) -> Principal:
    """Register another key for ``name`` (``ui``: the review UI signs with it for them; it replaces their old one)."""
    by = require_admin(store, acting)
    principal = store.add_key(name, _key(store, key, purpose))
    commit = sync_signers(parts, store, name, why=f"Add a {purpose} key of {name}", actor=by)
    added = principal.keys[-1]
    parts.audit.append("principal.key-added", request_id=None, actor=by,
                       data={"principal": name, **added.to_json(), "allowed_signers_commit": commit})
    return principal


def link_github(parts: Parts, store: Principals, name: str, login: str | None, *,
                acting: Identity | None) -> Principal:
    """Link ``name`` to GitHub ``login`` (None: unlink): from then on their GitHub reviews decide as them."""
    by = require_admin(store, acting)
    before = store.active(name).github
    principal = store.link_github(name, login)
    parts.audit.append("principal.github-linked" if login else "principal.github-unlinked", request_id=None,
                       actor=by, data={"principal": name, "github": login, "before": before})
    return principal


def revoke_principal(parts: Parts, store: Principals, name: str, *, acting: Identity | None) -> Principal:
    """Revoke ``name``: its tokens stop working and its keys leave ``allowed_signers``. The last admin stays."""
    by = require_admin(store, acting)
    target = store.active(name)
    admins = [p for p in store.all() if p.active and "admin" in p.roles and p.kind == "human"]
    if "admin" in target.roles and len(admins) == 1:
        raise UsageError(f"{name} is the last admin; add another admin before revoking {name}")
    revoked = store.revoke(name)
    commit = sync_signers(parts, store, name, why=f"Revoke {name}", actor=by) if target.keys else None
    parts.audit.append("principal.revoked", request_id=None, actor=by,
                       data={"principal": name, "revoked": revoked.revoked, "allowed_signers_commit": commit})
    return revoked


def create_token(parts: Parts, store: Principals, name: str, scopes: Sequence[str], *, days: float | None,
                 acting: Identity | None) -> tuple[Token, str]:
    """A new token for ``name``: (its record, the secret, shown once and stored only as a hash)."""
    by = require_admin(store, acting)
    if days is not None and days <= 0:
        raise UsageError("--expires-days must be more than 0")
    expires = datetime.now(UTC) + timedelta(days=days) if days is not None else None
    token, secret = store.create_token(name, tuple(scopes), expires=expires)
    _token_created(parts, token, by)
    return token, secret


def revoke_token(parts: Parts, store: Principals, token_id: str, *, acting: Identity | None) -> Token:
    """Revoke a token: it is refused from the next request on."""
    by = require_admin(store, acting)
    token = store.revoke_token(token_id)
    parts.audit.append("token.revoked", request_id=None, actor=by, data=token.to_json())
    return token


def _token_created(parts: Parts, token: Token, by: str) -> None:
    parts.audit.append("token.created", request_id=None, actor=by, data=token.to_json())  # never the secret
