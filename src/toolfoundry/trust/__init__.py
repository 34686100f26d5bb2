"""Who is acting on a foundry and what they may do: ``Foundry.trust``, the one place identity is decided.

A ``Foundry`` opened with a token acts as that token's principal, with that token's scopes (``call``,
``propose``, ``request``, ``search``; humans also ``review``, ``admin``), re-checked on every action so a
revoked or expired token fails on the next one. Opened without a token it is the *local operator* — the
account that can read and write the home — recorded under the name it gives (``--as``, TOOLFOUNDRY_USER,
the login). Servers (MCP, the review UI) are local operators that authenticate each client themselves and
pass the client's :class:`~toolfoundry.store.principals.Identity` in. ``approvals.py`` decides reviews
(``github.py`` the GitHub reviews among them: on a GitHub forge it tells the forge whose reviews count),
``admin.py`` manages principals and tokens, ``records.py`` reads provenance back. The stores are below.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from toolfoundry.core import Proposal, ReviewDecision
from toolfoundry.errors import AccessDenied
from toolfoundry.pipeline.parts import Parts
from toolfoundry.settings import Settings
from toolfoundry.store.principals import Identity, Kind, Principal, Principals, Token
from toolfoundry.store.stores import database
from toolfoundry.trust import admin, approvals, github, records
from toolfoundry.trust.approvals import Asked, risk_class
from toolfoundry.trust.records import Record

__all__ = ["Asked", "Identity", "Principal", "Record", "Token", "Trust", "risk_class"]

Scope = Literal["call", "propose", "request", "search", "review", "admin"]


class Trust:
    """The principals of one home and who is acting on it here."""

    def __init__(self, settings: Settings, parts: Parts, *, token: str | None = None) -> None:
        self._settings = settings
        self._parts = parts
        self.store = Principals(database(settings.home, settings.database))  # beside the ledger: SQLite or PostgreSQL
        self._identity = self.store.authenticate(token) if token else None
        if settings.forge.kind == "github":
            from toolfoundry.forge.github import GitHubForge  # imported already: open_forge made one
            if isinstance(parts.forge, GitHubForge):  # GitHub reviews count only for logins linked here
                parts.forge.gate = github.gate(parts, self.store)

    @property
    def identity(self) -> Identity | None:
        """The principal a token made this foundry act as, as it stands now; None for the local operator."""
        if self._identity is not None:
            self._identity = self.store.recheck(self._identity)
        return self._identity

    def enforced(self) -> bool:
        """True once any principal was registered: decisions must be signed, admin work needs an admin token."""
        return self.store.any()

    def authenticate(self, token: str) -> Identity:
        """The identity ``token`` stands for (AccessDenied when unknown, revoked or expired)."""
        return self.store.authenticate(token)

    def named(self, name: str) -> Identity:
        """The identity of an active principal named when a server starts (stdio)."""
        return self.store.named(name)

    def actor(self, scope: Scope, claimed: str | None = None, *, identity: Identity | None = None) -> str:
        """Who the audit log records for an action needing ``scope``: the (re-checked) principal of ``identity`` or
        of this foundry's token, which must hold the scope; else ``claimed`` or the local operator's name."""
        current = self.store.recheck(identity) if identity is not None else self.identity
        if current is None:
            return claimed or self._settings.user
        if scope not in current.scopes:
            raise AccessDenied(f"{current.name} may not {scope} here: its {'token' if current.token else 'grant'}"
                               f" allows {', '.join(current.scopes) or 'nothing'}")
        if claimed and claimed != current.name:
            raise AccessDenied(f"this foundry acts as {current.name} (authenticated); it cannot act as {claimed}")
        return current.name

    # ── reviews ────────────────────────────────────────────────────────────────────────────────────

    def decide(self, asked: Asked) -> ReviewDecision:
        """The decision to deliver, after every check (``approvals.decide``); recorded in the audit log."""
        return approvals.decide(self._parts, self.store, asked, acting=self.identity, operator=self._settings.user)

    def sign(self, proposal: Proposal, *, approve: bool, reason: str = "", key: Path | None = None) -> str:
        """Sign a decision with ``key`` or ssh-agent (``$SSH_AUTH_SOCK``), as the reviewer running this."""
        acting = self.identity
        if acting is not None and acting.kind == "agent":
            raise AccessDenied(f"{acting.name} acts with an agent's token, and an agent can never approve or reject")
        return approvals.sign(proposal, approve=approve, reason=reason, key=key, store=self.store,
                              agent_socket=self._settings.ssh_auth_sock)

    def sign_for_ui(self, proposal: Proposal, name: str, *, approve: bool, reason: str = "") -> str:
        """Sign a decision as ``name`` with the key they registered for the review UI."""
        return approvals.sign_for_ui(proposal, approve=approve, reason=reason, principal=self.store.active(name))

    # ── principals and tokens ──────────────────────────────────────────────────────────────────────

    def principals(self) -> list[Principal]:
        """Every principal, active or revoked."""
        return self.store.all()

    def tokens(self, name: str | None = None) -> list[Token]:
        """Every token's record (never a secret), of ``name`` or of all."""
        return self.store.tokens(name)

    def add_principal(self, name: str, *, kind: Kind = "human", roles: Sequence[str], risk: Sequence[str] = (),
                      tools: Sequence[str] = (), key: Path | None = None,
                      github: str | None = None) -> tuple[Principal, str | None]:
        """Register a principal (the first: a human admin, who gets a token, returned once); ``github``: the
        GitHub login whose approving reviews count as theirs."""
        return admin.add_principal(self._parts, self.store, name=name, kind=kind, roles=roles, risk=risk, tools=tools,
                                   key=key, github=github, acting=self.identity, operator=self._settings.user)

    def link_github(self, name: str, login: str | None) -> Principal:
        """Link ``name`` to GitHub ``login`` (None: unlink); audited."""
        return admin.link_github(self._parts, self.store, name, login, acting=self.identity)

    def add_key(self, name: str, key: Path, *, purpose: Literal["review", "ui"] = "review") -> Principal:
        """Register another SSH key for ``name``; ``ui``: the review UI may sign with it for them."""
        return admin.add_key(self._parts, self.store, name, key, purpose=purpose, acting=self.identity)

    def revoke(self, name: str) -> Principal:
        """Revoke a principal, its tokens and its keys."""
        return admin.revoke_principal(self._parts, self.store, name, acting=self.identity)

    def create_token(self, name: str, scopes: Sequence[str], *, days: float | None = None) -> tuple[Token, str]:
        """A new token for ``name``; the secret is returned once and kept only as a hash."""
        return admin.create_token(self._parts, self.store, name, scopes, days=days, acting=self.identity)

    def revoke_token(self, token_id: str) -> Token:
        """Revoke a token (by its id)."""
        return admin.revoke_token(self._parts, self.store, token_id, acting=self.identity)

    # ── provenance ─────────────────────────────────────────────────────────────────────────────────

    def provenance(self, name: str, version: int | None = None, *, verify: bool = False) -> Record:
        """A deployed version's provenance record, verified offline from the tool repository when ``verify``."""
        return records.read(self._parts, name, version, verify=verify)

    def close(self) -> None:
        """Close the principals store."""
        self.store.close()
