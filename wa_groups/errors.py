"""The exceptions wa_groups raises.

Every exception derives from :class:`WAGroupsError`. Errors answered by the API are :class:`APIError`
subclasses chosen by Graph error code first and HTTP status second (see ``wa_groups._graph.errors.ERROR_CLASSES``).
No exception ever carries the access token, the app secret or request headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIError",
    "AuthenticationError",
    "ClientValidationError",
    "DeviceNotReadyError",
    "InvalidCursorError",
    "InvalidRequestError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseError",
    "ServerError",
    "TransportError",
    "UnconfirmedError",
    "WAGroupsError",
    "WebhookPayloadError",
    "WebhookVerificationError",
]

_OUTCOME_UNKNOWN = "the outcome is unknown: the request may or may not have taken effect"


def _one_line(text: str) -> str:
    """Fold line breaks so that ``str(error)`` is always one line."""
    return " ".join(text.splitlines()) if "\n" in text or "\r" in text else text


class WAGroupsError(Exception):
    """Root of every exception raised by wa_groups."""

    #: True when the request may have been carried out although it failed (never repeated automatically).
    outcome_unknown: bool = False

    #: True when repeating the same request later may succeed.
    retryable: bool = False

    #: True when the server certainly did not carry the request out (it refused before processing it, e.g. a
    #: throttling answer), so even an operation that is never repeated blindly may be sent again.
    not_processed: bool = False

    def mark_outcome_unknown(self) -> None:
        """Record that the request may have taken effect; ``str(error)`` then says so."""
        self.outcome_unknown = True


class ClientValidationError(WAGroupsError, ValueError):
    """An argument was rejected before any request was sent.

    The message names the offending argument and value.
    """

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        super().__init__(message)
        #: The name of the rejected argument, when there is one.
        self.argument = argument


class TransportError(WAGroupsError):
    """The request did not get an HTTP answer: connection refused or dropped, or a timeout."""

    retryable = True

    def __init__(self, message: str, *, operation: str | None = None, before_send: bool = False) -> None:
        super().__init__(message)
        #: The library operation that was under way, e.g. ``get_group``.
        self.operation = operation
        #: True when the request certainly never reached the server (e.g. connection refused).
        self.before_send = before_send

    def __str__(self) -> str:
        text = super().__str__()
        if self.operation:
            text = f"{self.operation}: {text}"
        if self.outcome_unknown:
            text = f"{text} ({_OUTCOME_UNKNOWN})"
        return _one_line(text)


class ResponseError(WAGroupsError):
    """The server answered with a body that is not the JSON the API documents (e.g. a proxy's HTML page)."""

    def __init__(self, message: str, *, http_status: int | None = None, body_excerpt: str = "") -> None:
        super().__init__(message)
        #: The HTTP status of the answer.
        self.http_status = http_status
        #: The first few hundred characters of the body, for diagnosis.
        self.body_excerpt = body_excerpt
        self.retryable = http_status is not None and http_status >= 500

    def __str__(self) -> str:
        text = super().__str__()
        if self.http_status is not None:
            text = f"{text} [HTTP {self.http_status}]"
        if self.outcome_unknown:
            text = f"{text} ({_OUTCOME_UNKNOWN})"
        return _one_line(text)


class PaginationError(WAGroupsError):
    """The server's paging cursors did not make progress (a cursor came back twice)."""


class WebhookVerificationError(WAGroupsError):
    """A webhook delivery failed signature verification or could not be read."""


class APIError(WAGroupsError):
    """The API answered with an error envelope.

    Attributes mirror Graph's error object; ``str(error)`` is one line such as
    ``(#131041) Group unknown [HTTP 400] fbtrace_id=AbC``.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
        type: str | None = None,
        title: str | None = None,
        details: str | None = None,
        fbtrace_id: str | None = None,
        is_transient: bool = False,
        retry_after: float | None = None,
        operation: str | None = None,
        raw: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        #: The error message as the API gave it.
        self.message = message
        #: The HTTP status of the answer (``None`` for errors reported inside a 200 body or a webhook).
        self.http_status = http_status
        #: The Graph error code, e.g. 131041.
        self.code = code
        #: The Graph error subcode, when given.
        self.subcode = subcode
        #: The Graph error type, e.g. ``OAuthException``.
        self.type = type
        #: A short title (``error_user_title`` or ``title``).
        self.title = title
        #: Details from ``error_data.details``.
        self.details = details
        #: Meta's trace id, to quote to Meta's support.
        self.fbtrace_id = fbtrace_id
        #: Meta's own hint that repeating the request may succeed.
        self.is_transient = is_transient
        #: Seconds the server asked to wait before trying again, when known.
        self.retry_after = retry_after
        #: The library operation that was under way, e.g. ``approve_join_requests``.
        self.operation = operation
        #: The decoded error object (never holds request headers or the token).
        self.raw: Mapping[str, Any] = dict(raw) if raw else {}
        if is_transient:
            self.retryable = True

    def __str__(self) -> str:
        message = self.message or self.title or "API error"
        prefix = f"(#{self.code}) "
        text = message if self.code is None or message.startswith(prefix) else prefix + message
        if self.details and self.details not in text:
            text = f"{text}: {self.details}"
        if self.http_status is not None:
            text = f"{text} [HTTP {self.http_status}]"
        if self.fbtrace_id:
            text = f"{text} fbtrace_id={self.fbtrace_id}"
        if self.retry_after is not None:
            text = f"{text} retry_after={self.retry_after:g}s"
        if self.outcome_unknown:
            text = f"{text} ({_OUTCOME_UNKNOWN})"
        return _one_line(text)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, subcode={self.subcode!r}, "
            f"http_status={self.http_status!r}, message={self.message!r})"
        )


class AuthenticationError(APIError):
    """The access token is missing, invalid or expired (Graph codes 0, 102, 104, 190)."""


class PermissionDeniedError(APIError):
    """The token may not do this (Graph codes 3, 10, 200-299, 131005), or the group is suspended (131207)."""


class RateLimitError(APIError):
    """The API asked to slow down (throttling codes such as 4, 80007, 130429, 131208, or HTTP 429).

    ``retry_after`` holds the demanded wait in seconds when the server said how long.
    """

    retryable = True
    not_processed = True


class InvalidRequestError(APIError):
    """The API rejected a parameter (Graph codes 33, 100, 131008, 1312xx and similar)."""


class NotFoundError(APIError):
    """The group or join request does not exist (Graph codes 131041, 131213, HTTP 404)."""


class ServerError(APIError):
    """The API failed on its side (HTTP 5xx, codes 1, 2, 131000, 131016, 131057)."""

    retryable = True


class InvalidCursorError(APIError):
    """A paging cursor is invalid or expired (Graph code 131059): start again from the first page."""


class DeviceNotReadyError(APIError):
    """A gateway's linked device is not connected yet; trying again later may succeed."""

    retryable = True
    not_processed = True


class UnconfirmedError(WAGroupsError):
    """A bulk item whose earlier attempt may have taken effect, and looking could not confirm that it did.

    Raised into bulk reports only: e.g. a join request answered "does not exist" (131213) after an attempt whose
    answer was lost, when the group no longer shows its requester either. It is never sent again automatically
    (``retryable`` is False): check the item yourself.
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        #: The Graph error code that could not be confirmed as this job's own effect (e.g. 131213), if any.
        self.code = code


class WebhookPayloadError(WebhookVerificationError, ValueError):
    """A webhook body is not a WhatsApp webhook envelope (not JSON, or no ``entry`` list).

    Raised by ``parse_webhook`` after the signature has been checked; the message never holds the body.
    """
