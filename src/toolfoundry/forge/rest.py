"""GitHub's REST API through githubkit: one client, with our own retries, rate limits, ETags and errors.

This module owns every HTTP exchange with the API (the one place githubkit is imported; it is imported
only when a GitHub forge is used). githubkit's own retries are off: :meth:`Rest.call` waits as GitHub
documents — a ``Retry-After`` header for that many seconds (``0`` means at once, not githubkit's 60 s), an
exhausted primary limit (``x-ratelimit-remaining: 0``) until ``x-ratelimit-reset``, a secondary limit
without either header for one minute and then longer — and backs off from server errors and unreachable
hosts, up to ``max_wait_seconds`` in all; it stops sending while the last answer said the quota is spent.
:meth:`Rest.poll` sends ``If-None-Match`` with the ETag of its last answer for the same key and keeps
that answer for a ``304`` (which GitHub does not count). A failure becomes one ``ForgeError`` line that
names the call and GitHub's message, never the token. API version: ``2026-03-10``, whose models come
with githubkit (``githubkit-schemas-2026-03-10``); its pull requests carry no ``merge_commit_sha``, so a
merge commit is read from the merge answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Final, Literal, TypeVar

from githubkit import GitHub, Response
from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed

from toolfoundry.errors import ForgeError

T = TypeVar("T")
Sleep = Callable[[float], None]
Notice = Callable[[str], None]

API_VERSION: Final[Literal["2026-03-10"]] = "2026-03-10"
"""The REST API version every call asks for (``X-GitHub-Api-Version``)."""
SERVER_TRIES = 4
"""How often a call that met a server error (5xx) or an unreachable host is sent in all."""


class GitHubError(ForgeError):
    """GitHub answered a call with an error ``status`` (after retries); the message says which call and why."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Rest:
    """The REST API of one GitHub (or GitHub Enterprise Server) host, as one token."""

    def __init__(self, *, token: str, api_url: str, max_wait: float, sleep: Sleep = time.sleep,
                 notice: Notice | None = None) -> None:
        self._github = GitHub(token, base_url=api_url, auto_retry=False, http_cache=False, timeout=30.0,
                              user_agent="toolfoundry")
        self.api = self._github.rest(API_VERSION)
        """githubkit's REST namespace (held through ``self._github``: githubkit keeps only a weak reference)."""
        self.api_url = api_url
        self.max_wait = max_wait
        self._sleep = sleep
        self.notice: Notice = notice or (lambda message: None)
        self._lock = threading.Lock()
        self._etags: dict[str, tuple[str, Any]] = {}
        self._spent_until = 0.0

    def call(self, what: str, send: Callable[[], Response[T]]) -> Response[T]:
        """``send()`` with GitHub's rate limits honoured and transient failures retried; ``what`` names it."""
        waited, server_errors, secondary = 0.0, 0, 0
        while True:
            waited += self._await_quota(what, waited)
            try:
                response = send()
            except RateLimitExceeded as exc:
                delay = max(exc.retry_after.total_seconds(), 0.0)
                waited += self._pause(what, delay, waited, _limit_reason(exc.response))
                continue
            except RequestFailed as exc:
                status = exc.response.status_code
                if status in (403, 429) and "secondary rate" in _message(exc.response).lower():
                    secondary += 1  # documented: wait at least a minute, then longer each time
                    waited += self._pause(what, 60.0 * 2 ** (secondary - 1), waited, "a secondary rate limit")
                    continue
                if status >= 500 and server_errors + 1 < SERVER_TRIES:
                    server_errors += 1
                    waited += self._pause(what, float(2 ** (server_errors - 1)), waited, f"a server error ({status})")
                    continue
                raise GitHubError(self._failure(what, exc.response), status) from None
            except RequestError as exc:
                if server_errors + 1 < SERVER_TRIES:
                    server_errors += 1
                    waited += self._pause(what, float(2 ** (server_errors - 1)), waited, "an unreachable host")
                    continue
                raise ForgeError(f"cannot reach GitHub at {self.api_url} ({what}): {type(exc.exc).__name__}:"
                                 f" {exc.exc}") from None
            self._remember_quota(response)
            return response

    def poll(self, key: str, what: str, send: Callable[[dict[str, str]], Response[T]]) -> tuple[bool, T]:
        """The resource ``send(headers)`` reads, conditionally: ``(changed, data)``. An unchanged resource
        (``304``) costs no quota and gives back the data of the last answer for ``key``."""
        with self._lock:
            known = self._etags.get(key)
        headers = {"If-None-Match": known[0]} if known else {}
        response = self.call(what, lambda: send(headers))
        if response.status_code == 304 and known is not None:
            return False, known[1]
        data = response.parsed_data
        etag = response.headers.get("etag")
        if etag:
            with self._lock:
                self._etags[key] = (etag, data)
        return True, data

    def close(self) -> None:
        """Forget the remembered answers."""
        with self._lock:
            self._etags.clear()

    def _await_quota(self, what: str, waited: float) -> float:
        """Sleep until the reset when the last answer said the primary quota is spent; the seconds slept."""
        delay = self._spent_until - time.time()
        if delay <= 0:
            return 0.0
        return self._pause(what, delay, waited, "the exhausted rate limit (x-ratelimit-remaining: 0)")

    def _pause(self, what: str, delay: float, waited: float, why: str) -> float:
        if waited + delay > self.max_wait:
            raise ForgeError(f"GitHub asked toolfoundry to wait {delay:.0f} s for {why} ({what}); that is more"
                             f" than [forge] max_wait_seconds = {self.max_wait:.0f} allows, so try again later")
        self.notice(f"GitHub: waiting {delay:.1f} s for {why} before {what}")
        if delay > 0:
            self._sleep(delay)
        return delay

    def _remember_quota(self, response: Response[Any]) -> None:
        remaining, reset = response.headers.get("x-ratelimit-remaining"), response.headers.get("x-ratelimit-reset")
        if remaining == "0" and reset and reset.isdigit():
            self._spent_until = float(reset)

    def _failure(self, what: str, response: Response[Any]) -> str:
        status, message = response.status_code, _message(response)
        if status == 401:
            return f"GitHub refused the token ({what}: 401 {message}); check the variable [forge] token_env names"
        if status == 404:
            return (f"GitHub says not found ({what}): the repository, pull request or user does not exist, or"
                    f" the token may not see it")
        return f"GitHub answered {status} to {what}: {message}"


def _message(response: Response[Any]) -> str:
    """GitHub's ``message`` (and the first of its ``errors``), or the reason phrase."""
    try:
        body = response.json()
    except ValueError:
        return response.raw_response.reason_phrase
    if not isinstance(body, dict):
        return response.raw_response.reason_phrase
    message = str(body.get("message") or response.raw_response.reason_phrase)
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0]
        detail = first.get("message") or first.get("code") if isinstance(first, dict) else first
        message += f" ({detail})" if detail else ""
    return message[:300]


def _limit_reason(response: Response[Any]) -> str:
    if "retry-after" in response.headers:
        return f"Retry-After: {response.headers['retry-after']}"
    return "the primary rate limit (x-ratelimit-reset)"
