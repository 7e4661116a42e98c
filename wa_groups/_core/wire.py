"""Reading answers the same way for every backend (pure): JSON bodies, ``Retry-After`` and HTTP statuses.

A backend's decoder calls :func:`load_json` first and then looks for its own error envelope; what an HTTP status
means without a body, and how ``Retry-After`` is read (RFC 9110: seconds or an HTTP date), is decided here once.
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Final

from ..errors import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseError,
    ServerError,
)

__all__ = ["EXCERPT_CHARS", "MAX_DEPTH", "bounded_depth", "load_json", "retry_after_header", "status_error_class"]

#: How much of a body that is not JSON an error quotes.
EXCERPT_CHARS: Final = 200

#: Nesting kept in an error's ``raw`` object; anything deeper is cut (no API error is nested that far).
MAX_DEPTH: Final = 32

#: Statuses whose meaning does not depend on the body: a proxy's HTML page saying so is classified all the same.
_STATUS_MEANS_IT: Final = frozenset({401, 403, 404, 429})


def status_error_class(http_status: int | None) -> type[APIError]:
    """Return the exception class an HTTP status means when the answer names no error code."""
    if http_status is None:
        return APIError
    if http_status == 401:
        return AuthenticationError
    if http_status == 403:
        return PermissionDeniedError
    if http_status == 404:
        return NotFoundError
    if http_status == 429:
        return RateLimitError
    if http_status >= 500:
        return ServerError
    if http_status >= 400:
        return InvalidRequestError
    return APIError


def _retry_after_value(text: str) -> float | None:
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            return None
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def retry_after_header(headers: Mapping[str, str]) -> float | None:
    """Return the seconds a ``Retry-After`` header demands (seconds or an HTTP date), or ``None``."""
    value = headers.get("Retry-After")
    return _retry_after_value(value) if value is not None else None


def bounded_depth(value: Mapping[str, Any], limit: int = MAX_DEPTH) -> dict[str, Any]:
    """Return a copy of ``value`` whose containers nested deeper than ``limit`` are replaced by ``"..."``.

    An error object is kept on the exception (``APIError.raw``); a hostile answer nested thousands deep would make
    every ``repr`` or ``json.dumps`` of it raise ``RecursionError``. The copy is made without recursion.
    """
    top: dict[str, Any] = {}
    stack: list[tuple[Any, Any, int]] = [(value, top, 1)]
    budget = 10_000  # containers copied at most: an error object is small
    while stack:
        source, target, depth = stack.pop()
        entries = source.items() if isinstance(source, Mapping) else enumerate(source)
        for key, item in entries:
            if isinstance(item, (Mapping, list)):
                budget -= 1
                if depth >= limit or budget <= 0:
                    item_copy: Any = "..."
                else:
                    item_copy = {} if isinstance(item, Mapping) else [None] * len(item)
                    stack.append((item, item_copy, depth + 1))
            else:
                item_copy = item
            if isinstance(target, dict):
                target[str(key)] = item_copy
            else:
                target[key] = item_copy
    return top


def load_json(
    status: int,
    headers: Mapping[str, str],
    raw: bytes,
    operation: str,
    retry_after: Callable[[Mapping[str, str]], float | None] = retry_after_header,
) -> Any:
    """Decode an answer's JSON body; a body that is not JSON raises.

    A non-JSON 401, 403, 404 or 429 (a proxy or load balancer speaking) raises the class its status means, a
    429 with the wait ``retry_after`` reads from the headers; any other non-JSON answer raises
    :class:`~wa_groups.errors.ResponseError`.
    """
    try:
        return json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError, RecursionError):
        pass
    if status in _STATUS_MEANS_IT:
        cls = status_error_class(status)
        raise cls(
            f"{operation}: HTTP {status} with a body that is not JSON",
            http_status=status,
            retry_after=retry_after(headers) if cls is RateLimitError else None,
            operation=operation,
        )
    excerpt = raw[:EXCERPT_CHARS].decode("utf-8", "replace")
    raise ResponseError(f"{operation}: the answer is not JSON", http_status=status, body_excerpt=excerpt)
