"""Logging in to the review UI: one-time links, sessions, and who a session stands for.

Owns the UI's sessions, in this process's memory: a one-time link (``/login?code=…``, printed by
``toolfoundry ui`` for the reviewer it was started for, single use, valid for :data:`LINK_SECONDS`) or a
reviewer's token (a human principal's token with the ``review`` scope) starts one; the session id travels
in an HttpOnly, SameSite=Strict cookie per port, and the server keeps only its sha256. A session ends when
it expires (:data:`SESSION_SECONDS`), on logout, or — checked on every request in a home with principals —
once its principal or token is revoked, or the principal is no longer a reviewer. It does not render
pages or decide reviews.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from toolfoundry.errors import AccessDenied
from toolfoundry.store.principals import Identity
from toolfoundry.trust import Trust

LINK_SECONDS = 600.0
"""How long a one-time login link works."""
SESSION_SECONDS = 8 * 3600.0
"""How long a session lasts."""


def session_cookie(port: int | None) -> str:
    """The session cookie's name, per port (cookies are shared across the ports of a host)."""
    return f"toolfoundry_session_{port}" if port else "toolfoundry_session"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """Who a session stands for."""

    name: str
    """The reviewer's name: what decisions are made as."""
    identity: Identity | None
    """The token's identity when a token started it (re-checked on every request); None for a one-time link."""
    expires: float
    """``time.monotonic()`` when it ends."""


class Sessions:
    """One-time login codes and sessions of one UI process."""

    def __init__(self, trust: Trust) -> None:
        self._trust = trust
        self._lock = threading.Lock()
        self._codes: dict[str, tuple[str, float]] = {}
        self._sessions: dict[str, Session] = {}

    def link(self, name: str) -> str:
        """A one-time login path for ``name`` (who must be an active human reviewer once the home has principals)."""
        self._reviewer(name)
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[_hash(code)] = (name, time.monotonic() + LINK_SECONDS)
        return f"/login?code={code}"

    def redeem(self, code: str) -> str | None:
        """A new session id for a valid one-time code (which is used up), or None."""
        with self._lock:
            found = self._codes.pop(_hash(code), None)
        if found is None or found[1] < time.monotonic():
            return None
        return self._start(Session(name=found[0], identity=None, expires=time.monotonic() + SESSION_SECONDS))

    def with_token(self, token: str) -> str:
        """A new session id for a reviewer's token; AccessDenied (saying why) for any other."""
        identity = self._trust.authenticate(token)
        if identity.kind != "human" or "review" not in identity.scopes:
            raise AccessDenied(f"{identity.name}'s token cannot log in to the review UI: it needs a human"
                               f" reviewer's token with the review scope")
        return self._start(Session(name=identity.name, identity=identity, expires=time.monotonic() + SESSION_SECONDS))

    def who(self, session_id: str | None) -> str | None:
        """The reviewer a live session stands for, re-checked against the principals; None when there is none."""
        if not session_id:
            return None
        key = _hash(session_id)
        with self._lock:
            session = self._sessions.get(key)
        if session is None or session.expires < time.monotonic():
            self.end(session_id)
            return None
        try:
            if session.identity is not None:
                self._trust.store.recheck(session.identity)
            self._reviewer(session.name)
        except AccessDenied:
            self.end(session_id)
            return None
        return session.name

    def end(self, session_id: str | None) -> None:
        """Forget a session (logout)."""
        if session_id:
            with self._lock:
                self._sessions.pop(_hash(session_id), None)

    def _start(self, session: Session) -> str:
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[_hash(session_id)] = session
        return session_id

    def _reviewer(self, name: str) -> None:
        """AccessDenied unless ``name`` may review here (anyone named, in a home without principals)."""
        if not name.strip():
            raise AccessDenied("a login needs a reviewer's name")
        if not self._trust.enforced():
            return
        principal = self._trust.store.active(name)
        if principal.kind != "human" or "reviewer" not in principal.roles:
            raise AccessDenied(f"{name} is not a reviewer here (roles: {', '.join(principal.roles)})")
