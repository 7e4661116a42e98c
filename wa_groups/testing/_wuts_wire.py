"""How the fake WUTS gateway writes errors: its envelope, its codes, and the faults answered in it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs
from aiohttp import web

from wa_groups.testing._faults import Fault
from wa_groups.testing._routing import Abort, json_response
from wa_groups.testing._wuts_state import now

__all__ = ["STATUS_CODES", "WutsFault", "error_response", "fail", "invalid"]

#: HTTP status -> the ``error_code`` the fake answers with it. WUTS documents VALIDATION_ERROR and
#: DEVICE_NOT_READY; the other codes are the fake's own.
STATUS_CODES: Final[Mapping[int, str]] = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    429: "RATE_LIMITED",
    503: "DEVICE_NOT_READY",
}


@attrs.define
class WutsFault(Fault):
    """A :class:`~wa_groups.testing.Fault` answered in WUTS's envelope.

    ``error_code`` defaults to the fake's code for ``status`` (``DEVICE_NOT_READY`` for 503, ``VALIDATION_ERROR``
    for 400, ``INTERNAL_ERROR`` for other 5xx...). ``validation`` items go in the envelope's ``validation`` list.
    """

    #: WUTS ``error_code`` of the answer.
    error_code: str | None = None
    #: Items of the envelope's ``validation`` list (``{"field", "message", "value"}``).
    validation: list[dict[str, Any]] | None = None


def error_response(
    status: int,
    message: str,
    *,
    error_code: str | None = None,
    validation: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """Return a WUTS error envelope; ``error_code`` defaults to the fake's code for ``status``."""
    code = error_code or STATUS_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "REQUEST_FAILED")
    envelope: dict[str, Any] = {"success": False, "error": message, "error_code": code, "timestamp": now()}
    if validation:
        envelope["validation"] = validation
    return json_response(envelope, status=status, headers=headers)


def fail(status: int, message: str, **kwargs: Any) -> Abort:
    """Return an :class:`Abort` carrying :func:`error_response` for a handler to raise."""
    return Abort(error_response(status, message, **kwargs))


def invalid(field: str, message: str, value: Any = None) -> Abort:
    """Return an :class:`Abort` answering a validation failure of one field."""
    return fail(400, "validation failed", validation=[{"field": field, "message": message, "value": value}])
