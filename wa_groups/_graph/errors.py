"""Graph's error codes and how an error answer becomes a typed exception (pure).

One table, :data:`ERROR_CLASSES`, maps every Graph error code the library knows to its exception class; a new
code is one entry there. Classify by code first and by HTTP status second, because most WhatsApp throttling
codes arrive with HTTP 400 (Meta's Groups error-code page).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from .._core.coerce import as_int, as_text
from .._core.wire import EXCERPT_CHARS, bounded_depth, retry_after_header, status_error_class
from ..errors import (
    APIError,
    AuthenticationError,
    InvalidCursorError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from ..models import ErrorDetail

__all__ = [
    "ERROR_CLASSES",
    "ERROR_EXPLANATIONS",
    "api_error",
    "error_class_for",
    "error_detail",
    "error_from_detail",
    "explain",
    "retry_after_seconds",
]

#: Graph error code -> class. One table for the whole library (see Meta's Groups error-code page).
ERROR_CLASSES: Final[Mapping[int, type[APIError]]] = {
    **dict.fromkeys((0, 102, 104, 190), AuthenticationError),
    **dict.fromkeys((3, 10, 131005, 131207, *range(200, 300)), PermissionDeniedError),
    **dict.fromkeys((4, 17, 32, 341, 613, 80007, 130429, 131056, 133016, 131208), RateLimitError),
    **dict.fromkeys(
        (
            33,
            100,
            131008,
            131009,
            131021,
            131020,
            131048,
            131202,
            131203,
            131204,
            131209,
            131210,
            131211,
            131212,
            131214,
            131215,
            131201,
            131062,
        ),
        InvalidRequestError,
    ),
    **dict.fromkeys((131041, 131213), NotFoundError),
    131059: InvalidCursorError,
    **dict.fromkeys((1, 2, 131000, 131016, 131057), ServerError),
}
#: What a group-messaging error code means, in words a user can act on; the messaging calls append it to the
#: error's message (``explain``).
ERROR_EXPLANATIONS: Final[Mapping[int, str]] = {
    131020: "the group has no member besides the business yet; send once somebody has joined",
    131041: "the group does not exist or the business is no longer in it",
    131207: "WhatsApp suspended the group for a policy violation; it cannot be changed or messaged",
    131208: "too many group operations from this phone number in a short time; slow down and retry",
    131214: "group features are paused: the account sent too many marketing messages inside customer-service "
    "windows over the last 7 days",
    131215: "this phone number is not eligible for the Groups API",
    131062: "this message cannot be sent to a business-scoped user id; send to a phone number instead",
}


def explain(code: int | None, message: str) -> str:
    """Return ``message`` with the plain-words meaning of ``code`` appended, when the library knows one."""
    meaning = ERROR_EXPLANATIONS.get(code) if code is not None else None
    if meaning is None or meaning in message:
        return message
    return f"{message} ({meaning})"


#: Graph's code for a request that partly succeeded (HTTP 206).
PARTIAL_SUCCESS: Final = 131201
#: Authentication subcodes (expired or invalidated tokens) that override the code's class.
AUTH_SUBCODES: Final = frozenset({458, 459, 460, 463, 464, 467})


def error_class_for(code: int | None, http_status: int | None, subcode: int | None = None) -> type[APIError]:
    """Return the exception class for a Graph error: by subcode first, then code, then HTTP status."""
    if subcode in AUTH_SUBCODES:
        return AuthenticationError
    if code is not None and code in ERROR_CLASSES:
        return ERROR_CLASSES[code]
    return status_error_class(http_status)


def _error_data_details(error_data: Any) -> str | None:
    if isinstance(error_data, str):  # Graph sometimes sends error_data as a JSON string
        try:
            error_data = json.loads(error_data)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
            return error_data[:EXCERPT_CHARS] or None
    if isinstance(error_data, Mapping):
        return as_text(error_data.get("details"))
    return None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Return the wait a throttled answer demands: ``Retry-After``, else the usage header's minutes, else None."""
    seconds = retry_after_header(headers)
    if seconds is not None:
        return seconds
    usage = headers.get("X-Business-Use-Case-Usage")
    if usage:
        try:
            decoded = json.loads(usage)
        except (ValueError, RecursionError):
            return None
        minutes: float | None = None
        if isinstance(decoded, Mapping):
            for entries in decoded.values():
                for entry in entries if isinstance(entries, list) else ():
                    value = entry.get("estimated_time_to_regain_access") if isinstance(entry, Mapping) else None
                    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                        minutes = max(minutes or 0.0, float(value))
        if minutes is not None:
            return minutes * 60.0
    return None


def api_error(
    error: Mapping[str, Any],
    *,
    http_status: int | None,
    headers: Mapping[str, str] | None = None,
    operation: str | None = None,
) -> APIError:
    """Build the typed exception for a Graph error object (the value of ``"error"``)."""
    code = as_int(error.get("code"))
    subcode = as_int(error.get("error_subcode"))
    cls = error_class_for(code, http_status, subcode)
    retry_after = retry_after_seconds(headers) if headers is not None and issubclass(cls, RateLimitError) else None
    message = as_text(error.get("message")) or as_text(error.get("error_user_msg")) or "Graph API error"
    is_transient = error.get("is_transient") is True or str(error.get("is_transient")).lower() == "true"
    error_object = cls(
        message,
        http_status=http_status,
        code=code,
        subcode=subcode,
        type=as_text(error.get("type")),
        title=as_text(error.get("error_user_title")) or as_text(error.get("title")),
        details=_error_data_details(error.get("error_data")),
        fbtrace_id=as_text(error.get("fbtrace_id")),
        is_transient=is_transient,
        retry_after=retry_after,
        operation=operation,
        raw=bounded_depth(error),
    )
    if code == PARTIAL_SUCCESS:  # some of the request took effect: never assume it all failed
        error_object.mark_outcome_unknown()
    return error_object


def error_detail(error: Any) -> ErrorDetail:
    """Decode one item of an ``errors`` list inside a successful answer or a webhook."""
    if not isinstance(error, Mapping):
        return ErrorDetail(message=as_text(error))
    return ErrorDetail(
        code=as_int(error.get("code")),
        message=as_text(error.get("message")),
        title=as_text(error.get("title")) or as_text(error.get("error_user_title")),
        details=_error_data_details(error.get("error_data")) or as_text(error.get("details")),
    )


def error_from_detail(detail: ErrorDetail, *, operation: str | None = None) -> APIError:
    """Build the typed exception for an :class:`ErrorDetail` (no HTTP status: it came inside a body)."""
    cls = error_class_for(detail.code, None)
    return cls(
        detail.message or detail.title or "Graph API error",
        code=detail.code,
        title=detail.title,
        details=detail.details,
        operation=operation,
    )
