"""Retry policy and the pure retry decision shared by every backend.

The decision is a function of (error, whether the operation may be repeated, attempt number, policy): it returns
the number of seconds to wait before the next attempt, or ``None`` to give up. ``_core.transport`` feeds it to
``backoff``. Nothing here knows a backend: an error says itself whether the server refused it unprocessed
(:attr:`~wa_groups.errors.WAGroupsError.not_processed`).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable

import attrs

from ..errors import (
    APIError,
    ClientValidationError,
    RateLimitError,
    ResponseError,
    TransportError,
    WAGroupsError,
)

__all__ = ["RetryPolicy", "is_ambiguous", "retry_wait"]


def _check_positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        raise ClientValidationError(
            f"RetryPolicy.{attribute.name} must be a number >= 0, got {value!r}", argument=attribute.name
        )


def _check_attempts(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ClientValidationError(
            f"RetryPolicy.max_attempts must be an int >= 1, got {value!r}", argument="max_attempts"
        )


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How a client retries failed requests.

    Throttling answers are retried for every operation; server errors, timeouts and dropped connections only for
    operations whose repetition is harmless. ``RetryPolicy(max_attempts=1)`` disables retries.
    """

    max_attempts: int = attrs.field(default=5, validator=_check_attempts)
    """Attempts in all, the first one included."""

    initial: float = attrs.field(default=0.5, validator=_check_positive)
    """Upper bound of the first backoff wait in seconds (full jitter: uniform in [0, bound])."""

    cap: float = attrs.field(default=30.0, validator=_check_positive)
    """Largest exponential backoff bound, in seconds."""

    max_wait: float = attrs.field(default=60.0, validator=_check_positive)
    """A wait demanded by the server that is longer than this is not slept: the ``RateLimitError`` is raised."""

    sleep: Callable[[float], Awaitable[None]] = attrs.field(default=asyncio.sleep, eq=False, repr=False)
    """The coroutine used to wait between attempts; tests inject one that returns at once."""

    def backoff_bound(self, attempt: int) -> float:
        """Return the exponential backoff bound after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.cap, self.initial * (2 ** max(0, attempt - 1))))


def is_ambiguous(error: WAGroupsError) -> bool:
    """Return True when a request that failed this way may nevertheless have been carried out."""
    if error.not_processed:
        return False  # e.g. throttled requests, or requests a disconnected gateway device refused
    if isinstance(error, TransportError):
        return not error.before_send
    if isinstance(error, ResponseError):
        # A 2xx whose body cannot be read was processed; a 5xx page may hide a processed request.
        return error.http_status is None or error.http_status >= 500 or 200 <= error.http_status < 300
    if isinstance(error, APIError):
        return error.retryable
    return False


def retry_wait(
    error: WAGroupsError,
    *,
    repeatable: bool,
    attempt: int,
    policy: RetryPolicy,
    rng: Callable[[float, float], float] = random.uniform,
) -> float | None:
    """Return the seconds to wait before attempt ``attempt + 1``, or ``None`` to give up.

    Args:
        error: How attempt number ``attempt`` failed.
        repeatable: Whether repeating the operation is harmless (reads, deletes, join-request calls...).
        attempt: The 1-based number of the attempt that just failed.
        policy: The client's retry policy.
        rng: ``random.uniform``-like function, for tests.

    """
    if isinstance(error, RateLimitError):
        if error.retry_after is not None:
            if error.retry_after > policy.max_wait:
                return None
            if attempt >= policy.max_attempts:
                return None
            return max(0.0, error.retry_after)
        if attempt >= policy.max_attempts:
            return None
        return rng(0.0, policy.backoff_bound(attempt))
    if not error.retryable or attempt >= policy.max_attempts:
        return None
    if not repeatable and is_ambiguous(error):
        return None
    return rng(0.0, policy.backoff_bound(attempt))
