"""What a fake server can be told to do wrong, and what it counts and records while serving.

Scripted faults, the token-bucket rate limit, the counters and the log of received requests are
the same for every fake; how an error looks on the wire is left to each fake.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Final

import attrs
from aiohttp import web

__all__ = [
    "Fault",
    "RateLimit",
    "RecordedRequest",
    "ServerStats",
    "TokenBucket",
    "format_seconds",
    "html_error_page",
]

#: Header names whose values are masked in reprs of recorded requests.
_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "x-hub-signature-256"})
_SECRET_QUERY_KEYS: Final = frozenset({"access_token", "appsecret_proof"})


def _mask(values: Mapping[str, str], secret_keys: frozenset[str]) -> str:
    shown = {key: ("***" if key.lower() in secret_keys else value) for key, value in values.items()}
    return repr(shown)


def _mask_headers(headers: Mapping[str, str]) -> str:
    return _mask(headers, _SECRET_HEADERS)


def _mask_query(query: Mapping[str, str]) -> str:
    return _mask(query, _SECRET_QUERY_KEYS)


@attrs.define
class Fault:
    """A scripted failure that the fake server answers instead of (or after) the real operation.

    A fault matches a request when ``method`` (any when ``None``) equals the request method and
    ``path`` (any when ``None``) is found by :func:`re.search` in the full request path, version
    prefix included. Faults are tried in the order they were added; the first match fires.
    """

    #: HTTP method to match (case-insensitive); ``None`` matches every method.
    method: str | None = None
    #: Regular expression searched for in the full request path; ``None`` matches every path.
    path: str | None = None
    #: HTTP status of the error answer.
    status: int = 500
    #: API error code placed in the error body.
    code: int = 1
    #: API error subcode, when the error body should carry one.
    subcode: int | None = None
    #: Error message; ``None`` uses the fake's standard text for ``code``.
    message: str | None = None
    #: How many more times the fault fires (decremented on each firing); ``None`` means without limit.
    times: int | None = 1
    #: Chance in [0, 1] that a matching request triggers the fault (drawn from the fake's seeded RNG).
    probability: float = 1.0
    #: Seconds to announce in a ``Retry-After`` header.
    retry_after: float | None = None
    #: Minutes to announce as the estimated time to regain access in a usage header.
    usage_minutes: float | None = None
    #: Close the connection without answering. aiohttp clients repeat an idempotent request (GET, PUT,
    #: DELETE...) once by themselves after a dropped connection, so such a drop needs ``times >= 2`` to surface.
    drop: bool = False
    #: Answer an HTML page with ``status`` instead of a JSON error body.
    malformed: bool = False
    #: Seconds to wait before answering; ``None`` uses the fake's own latency.
    latency: float | None = None
    #: Carry out the operation first, then answer the error (an ambiguous failure).
    after_effect: bool = False

    def matches(self, method: str, path: str) -> bool:
        """Tell whether this fault applies to a request (ignoring ``times`` and ``probability``)."""
        if self.times is not None and self.times <= 0:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or re.search(self.path, path) is not None


@attrs.define(frozen=True)
class RecordedRequest:
    """One request the fake server received, with the status it answered (0 when it dropped the connection).

    The repr masks credentials (``Authorization`` header, ``access_token`` query parameter).
    """

    #: HTTP method, upper case.
    method: str
    #: Full request path, version prefix included.
    path: str
    #: Query parameters (last value wins when a name repeats).
    query: dict[str, str] = attrs.field(repr=_mask_query)
    #: Request headers as the client sent them.
    headers: dict[str, str] = attrs.field(repr=_mask_headers)
    #: The decoded JSON body, or ``None`` when the body was empty or not JSON.
    json: Any
    #: Text fields of a form-encoded or multipart body, else ``None``.
    form: dict[str, str] | None
    #: File parts of a multipart body by field name, else ``None``.
    files: dict[str, bytes] | None = attrs.field(repr=lambda files: repr(None if files is None else sorted(files)))
    #: HTTP status answered; 0 when the connection was closed without an answer.
    status: int


@attrs.define
class ServerStats:
    """Counters kept by a fake server; reset them with ``reset_stats()``."""

    #: Requests received.
    requests: int = 0
    #: Requests refused by the rate limiter.
    throttled: int = 0
    #: Requests being handled right now.
    in_flight: int = 0
    #: The highest number of requests handled at the same time.
    max_in_flight: int = 0
    #: Scripted faults that fired.
    faults_fired: int = 0
    #: Webhook deliveries that got an HTTP answer below 400.
    webhooks_sent: int = 0
    #: Webhook deliveries that failed (connection error or HTTP status 400 and above).
    webhooks_failed: int = 0


class TokenBucket:
    """A token bucket: ``burst`` tokens at most, refilled at ``rate`` tokens per second."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated: float | None = None

    def take(self, now: float) -> float:
        """Take one token; return 0.0 on success, else the seconds until a token is available."""
        if self.updated is not None:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        if self.rate <= 0:
            return float("inf")
        return (1.0 - self.tokens) / self.rate


@attrs.define(frozen=True)
class RateLimit:
    """A rate limit set on a fake server: the bucket and how a refusal is answered."""

    #: Tokens added per second.
    rate: float
    #: Bucket size.
    burst: int
    #: API error code of the refusal.
    code: int
    #: Whether the refusal carries a ``Retry-After`` header.
    retry_after_header: bool


def html_error_page(status: int, retry_after: float | None = None) -> web.Response:
    """Return the HTML error page a proxy in front of the API would answer (a fault marked ``malformed``)."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    title = f"{status} {reason}"
    page = f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
    headers = {"Retry-After": format_seconds(retry_after)} if retry_after is not None else None
    return web.Response(text=page, status=status, content_type="text/html", headers=headers)


def format_seconds(seconds: float) -> str:
    """Format seconds for a ``Retry-After`` header: whole seconds as an integer, else rounded up to the ms."""
    if seconds == float("inf"):
        return "3600"
    if float(seconds).is_integer():
        return str(int(seconds))
    # Round up so a client waiting exactly this long is never early.
    return f"{math.ceil(seconds * 1000) / 1000:g}"
