"""The review UI's request checks: which hosts may be bound and named, CSRF tokens, same-origin POSTs.

Owns the decisions "is this bind address local", "does this Host header name us" (against DNS
rebinding), "is this POST from our own pages" (a signed per-session token in a SameSite=Strict
HttpOnly cookie that must come back in the form or the ``X-CSRF-Token`` header, and an Origin or
Referer naming this server). It does not render anything or touch a foundry.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Collection, Mapping
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


def is_loopback(host: str) -> bool:
    """True when binding ``host`` only accepts connections from this machine."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """The name part of a Host header or URL netloc: ``[::1]:8000`` → ``::1``, ``Localhost:80`` → ``localhost``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host[1:]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host_header: str | None, allowed: Collection[str] | None) -> bool:
    """True when the Host header names this server (``allowed`` None: any host, for --insecure-bind)."""
    if allowed is None:
        return True
    return bool(host_header) and host_name(host_header or "") in allowed


class Csrf:
    """Per-session CSRF tokens: random, signed with a per-process secret so a cookie set by another
    site on the same host (other ports share cookies) is not accepted."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def new(self) -> str:
        """A fresh token: ``nonce.signature``."""
        nonce = secrets.token_urlsafe(24)
        return f"{nonce}.{self._sign(nonce)}"

    def valid(self, token: str | None) -> bool:
        """True for a token this process issued."""
        if not token or token.count(".") != 1:
            return False
        nonce, sig = token.split(".")
        return hmac.compare_digest(sig, self._sign(nonce))

    def check(self, cookie: str | None, submitted: str | None) -> str | None:
        """Why a POST fails the token check, or None when the submitted token matches the session's."""
        if not self.valid(cookie):
            return "your session has no valid CSRF token (the server restarted, or cookies are off); reload the page"
        if not submitted or not hmac.compare_digest(submitted, cookie or ""):
            return "the form's CSRF token is missing or does not match this session; reload the page"
        return None

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()


def cookie_name(port: int | None) -> str:
    """The CSRF cookie's name, per port: cookies are shared across the ports of a host."""
    return f"toolfoundry_csrf_{port}" if port else "toolfoundry_csrf"


def origin_problem(headers: Mapping[str, str]) -> str | None:
    """Why a POST does not come from this server's own pages, or None.

    The Origin header (else the Referer) must name exactly the Host the request was sent to. With
    neither (non-browser clients), the CSRF token alone decides.
    """
    host = headers.get("host", "").lower()
    origin = headers.get("origin")
    if origin is not None:
        if origin == "null" or urlsplit(origin).netloc.lower() != host:
            return f"cross-origin POST refused: Origin {origin!r} is not this server ({host})"
        return None
    referer = headers.get("referer")
    if referer is not None and urlsplit(referer).netloc.lower() != host:
        return f"cross-origin POST refused: Referer host {urlsplit(referer).netloc!r} is not this server ({host})"
    return None
