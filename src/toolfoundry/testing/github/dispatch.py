"""Answering one HTTP request of the fake: authentication by token, the API version, injected failures
and rate-limit answers, quotas and ``x-ratelimit-*`` headers, routing, weak ETags with ``304``,
pagination with ``Link`` headers, and the request log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from toolfoundry.testing.github.model import (
    API_VERSIONS,
    DEFAULT_API_VERSION,
    DOCS,
    PRIMARY_MESSAGE,
    RATE_LIMIT_DOCS,
    LoggedRequest,
    _Answer,
    _Ctx,
    _error,
    _Injection,
    _not_found,
    _Quota,
)
from toolfoundry.testing.github.routes import _Routes

log = logging.getLogger("toolfoundry.testing.github")

class _Dispatch(_Routes):
    """Answering one request: authentication, injected failures, rate limits, ETags, pagination, the log."""

    # ── rate limits and dispatch ─────────────────────────────────────────────────────────────────

    def _rate_headers(self, quota: _Quota, *, remaining: int | None = None, reset: float | None = None) -> dict[str, str]:
        left = quota.limit - quota.used if remaining is None else remaining
        return {"x-ratelimit-limit": str(quota.limit), "x-ratelimit-remaining": str(max(left, 0)),
                "x-ratelimit-reset": str(int(reset if reset is not None else quota.reset)),
                "x-ratelimit-used": str(quota.used), "x-ratelimit-resource": "core"}

    def _take_injection(self, method: str, path: str) -> _Injection | None:
        for injection in self._injections:
            if injection.method not in (None, method):
                continue
            if injection.path is not None and not injection.path.search(path):
                continue
            injection.remaining -= 1
            if injection.remaining <= 0:
                self._injections.remove(injection)
            return injection
        return None

    def _dispatch(self, method: str, raw_path: str, headers: Mapping[str, str], raw_body: bytes,
                  host: str) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: ``(status, headers, body)``. Also appends to the request log."""
        parts = urlsplit(raw_path)
        path = parts.path
        prefix = ""
        if path == "/api/v3" or path.startswith("/api/v3/"):
            prefix, path = "/api/v3", path[len("/api/v3"):] or "/"
        path = path.rstrip("/") or "/"
        query = parse_qs(parts.query, keep_blank_values=True)
        lower = {k.lower(): v for k, v in headers.items()}
        version = lower.get("x-github-api-version", DEFAULT_API_VERSION)
        web = f"http://{host}"
        status, payload, login = 500, None, None
        out_headers: dict[str, str] = {}
        body: Any = None
        primary_injected = False
        limited = False  # answered by a rate-limit (or injected) error: not counted
        with self._lock:
            try:
                if raw_body:
                    try:
                        body = json.loads(raw_body)
                    except ValueError:
                        _error(400, "Problems parsing JSON")
                login = self._authenticate(lower.get("authorization", ""))
                quota = self._quota(login)
                out_headers.update(self._rate_headers(quota))
                if version not in API_VERSIONS:
                    _error(400, f"Unsupported 'X-GitHub-Api-Version' header value: {version!r}")
                injection = self._take_injection(method, path)
                if injection is not None:
                    limited = True
                    if injection.primary_reset is not None:
                        primary_injected = True
                        out_headers.update(self._rate_headers(quota, remaining=0, reset=injection.primary_reset))
                        injection.body["message"] = PRIMARY_MESSAGE.format(
                            id=self._user(login).id if login else 0)
                    raise _Answer(injection.status, dict(injection.body), injection.headers)
                if path != "/rate_limit" and quota.used >= quota.limit:
                    primary_injected = limited = True  # keep remaining at 0 in the answer
                    _error(403, PRIMARY_MESSAGE.format(id=self._user(login).id if login else 0),
                           doc=RATE_LIMIT_DOCS)
                ctx = _Ctx(login, web + prefix, web, version, query, body)
                for route_method, pattern, route in self._routes:
                    match = pattern.match(path)
                    if match and route_method == method:
                        params = {k: unquote(v) for k, v in match.groupdict().items()}
                        status, payload = route(ctx, params)
                        break
                else:
                    _not_found()
            except _Answer as answer:
                status, payload = answer.status, answer.body
                out_headers.update(answer.headers)
            except KeyError as exc:  # a lookup a route did not guard: the resource is not there
                log.debug("not found: %s", exc)
                status, payload = 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}
            except Exception:
                log.exception("fake GitHub: %s %s failed", method, raw_path)
                status, payload = 500, {"message": "Server Error", "status": "500"}
            data = b"" if payload is None else json.dumps(payload, indent=2).encode()
            out_headers["x-github-api-version-selected"] = version if version in API_VERSIONS else DEFAULT_API_VERSION
            out_headers["x-github-media-type"] = "github.v3; format=json"
            out_headers["x-github-request-id"] = secrets.token_hex(8).upper()
            if status == 200 and isinstance(payload, list):
                data = self._paginate(payload, web + prefix + path, query, out_headers)
            if method == "GET" and status == 200:
                data, status = self._conditional(login, lower, data, out_headers)
            if status != 304 and path != "/rate_limit" and not limited:  # a 304 does not count
                quota = self._quota(login)
                quota.used += 1
                if not primary_injected:
                    out_headers.update(self._rate_headers(quota))
            redacted = dict(lower)
            if "authorization" in lower:  # keep the scheme, never the credential
                redacted["authorization"] = lower["authorization"].split(" ", 1)[0] + " <redacted>"
            self._log.append(LoggedRequest(method, path, query, redacted, body, status, login, version,
                                           dict(out_headers), None if status == 304 else payload, self.clock()))
        return status, out_headers, data

    def _conditional(self, login: str | None, headers: Mapping[str, str], data: bytes,
                     out: dict[str, str]) -> tuple[bytes, int]:
        """Add ``ETag``/``Cache-Control``/``Vary``; answer ``304`` when ``If-None-Match`` matches."""
        digest = hashlib.sha256((login or "").encode() + b"\0" + data).hexdigest()
        etag = f'W/"{digest}"'
        out["ETag"] = etag
        out["Cache-Control"] = "private, max-age=60, s-maxage=60"
        out["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
        wanted = headers.get("if-none-match", "")
        tags = {t.strip().removeprefix("W/") for t in wanted.split(",") if t.strip()}
        if "*" in tags or etag.removeprefix("W/") in tags:
            return b"", 304
        return data, 200

    def _paginate(self, items: list[Any], url: str, query: dict[str, list[str]], out: dict[str, str]) -> bytes:
        """One page of ``items`` (``per_page``/``page``, default 30, at most 100) and its ``Link`` header."""
        def number(name: str, default: int) -> int:
            try:
                return max(int((query.get(name) or [str(default)])[-1]), 1)
            except ValueError:
                return default
        per_page, page = min(number("per_page", 30), 100), number("page", 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        links = []
        base = {k: v[-1] for k, v in query.items() if k != "page"}
        for rel, target in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
            if (rel == "prev" and page > 1) or (rel == "next" and page < last) or (rel in ("last", "first") and last > 1):
                links.append(f'<{url}?{urlencode({**base, "page": target}, quote_via=quote)}>; rel="{rel}"')
        if links:
            out["Link"] = ", ".join(links)
        return json.dumps(items[(page - 1) * per_page: page * per_page], indent=2).encode()

    def _authenticate(self, header: str) -> str | None:
        """The login behind ``Authorization`` (None when absent); ``401`` for a bad token."""
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        token: str | None = None
        if scheme.lower() in ("bearer", "token"):
            token = value.strip()
        elif scheme.lower() == "basic":
            try:
                token = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                token = None
        login = self._tokens.get(token or "")
        if login is None:
            _error(401, "Bad credentials")
        return login
