"""The retry boundary every SDK-backed model goes through, and the one place SDK exceptions become ``ModelError``.

Owns the policy: a per-request timeout, exponential backoff with jitter on 408/429/5xx, timeouts,
connection errors and malformed responses; ``Retry-After`` (and ``retry-after-ms``) honoured up to the
cap; no retry on other 4xx; ``ModelError`` naming the model after the last attempt. Also the rough token
estimate used when a server reports no usage.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, TypeVar

from toolfoundry.errors import ModelError
from toolfoundry.models.settings import ModelSettings
from toolfoundry.models.types import Message

log = logging.getLogger("toolfoundry.models")
T = TypeVar("T")


class BadResponse(Exception):
    """The server answered 200 with something that is not a usable completion."""


@dataclass(frozen=True, slots=True)
class _Failure:
    retryable: bool
    message: str
    retry_after: float | None = None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date); None if unusable."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError):
            return None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def backoff_delay(settings: ModelSettings, attempt: int, retry_after: float | None = None,
                  rand: Callable[[], float] = random.random) -> float:
    """Wait before retry number ``attempt`` (1-based): ``Retry-After`` if given, else capped jittered 2^n."""
    if retry_after is not None:
        return min(retry_after, settings.backoff_max)
    ceiling = min(settings.backoff_max, settings.backoff_base * 2.0 ** (attempt - 1))
    return ceiling / 2 + rand() * ceiling / 2


def classify(exc: Exception, sdk: Any, timeout: float) -> _Failure | None:
    """Translate an exception of an OpenAI-style (Stainless) SDK; None when it is not one of ours to handle."""
    if isinstance(exc, BadResponse):
        return _Failure(True, f"malformed response: {exc}")
    if isinstance(exc, json.JSONDecodeError):
        return _Failure(True, f"malformed response: body is not valid JSON ({exc})")
    if isinstance(exc, sdk.APITimeoutError):
        return _Failure(True, f"timed out after {timeout:g}s")
    if isinstance(exc, sdk.APIConnectionError):
        return _Failure(True, f"connection error: {exc.__cause__ or exc}")
    if isinstance(exc, sdk.APIStatusError):
        status: int = exc.status_code
        body = exc.body
        detail = body.get("message") if isinstance(body, dict) else None
        if not isinstance(detail, str) and isinstance(body, dict) and isinstance(body.get("error"), dict):
            detail = body["error"].get("message")
        message = f"HTTP {status}: {detail if isinstance(detail, str) else exc.message}"
        if status in (408, 429) or status >= 500:
            headers = exc.response.headers
            retry_after = None
            if status in (429, 503, 529):  # 529: Anthropic "overloaded"
                ms = parse_retry_after(headers.get("retry-after-ms"))
                retry_after = ms / 1000 if ms is not None else parse_retry_after(headers.get("retry-after"))
            return _Failure(True, message, retry_after)
        return _Failure(False, message)
    if isinstance(exc, sdk.APIResponseValidationError):
        return _Failure(True, f"malformed response: {exc}")
    if isinstance(exc, sdk.APIError):
        return _Failure(False, str(exc))
    return None


def with_retries(label: str, call: Callable[[], T], sdk: Any, settings: ModelSettings,
                  sleep: Callable[[float], None]) -> T:
    attempts = settings.max_retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:
            failure = classify(exc, sdk, settings.timeout_seconds)
            if failure is None:
                raise
            if not failure.retryable:
                raise ModelError(f"{label}: {failure.message}") from exc
            if attempt == attempts:
                raise ModelError(f"{label}: gave up after {attempts} attempts: {failure.message}") from exc
            delay = backoff_delay(settings, attempt, failure.retry_after)
            log.warning("%s: attempt %d/%d failed (%s); retrying in %.2fs",
                        label, attempt, attempts, failure.message, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def text_of(messages: Sequence[Message]) -> str:
    return "".join(m.content + "".join(tc.name + tc.arguments for tc in m.tool_calls) for m in messages)
