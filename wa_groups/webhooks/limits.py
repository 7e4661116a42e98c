"""What a webhook receiver allows unverified traffic to cost, and how it keeps the verify token out of logs.

:class:`ReceiverLimits` holds every bound (body size, unverified bytes in flight, read timeouts, connections,
shutdown); :class:`RedactedAccessLogger` and the filter installed on aiohttp's loggers keep the verify token,
which Meta's handshake carries in its query string, out of every log line.
"""

from __future__ import annotations

import logging
import re
from typing import Final

import attrs
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from ..errors import ClientValidationError

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "Budget",
    "ReceiverLimits",
    "RedactedAccessLogger",
    "install_redaction",
    "redact_verify_token",
]

#: The default largest body accepted: a delivery holds up to 1000 notifications of a few hundred bytes to a
#: couple of kilobytes each.
DEFAULT_MAX_BODY_BYTES: Final = 4 * 1024 * 1024
_TOKEN_IN_TEXT: Final = re.compile(r"(hub\.verify_token=)[^&\s\"']*", re.IGNORECASE)


def redact_verify_token(text: str) -> str:
    """Return ``text`` with the value of every ``hub.verify_token=`` query parameter replaced by ``***``."""
    return _TOKEN_IN_TEXT.sub(r"\1***", text)


@attrs.frozen(kw_only=True)
class ReceiverLimits:
    """The bounds that keep a receiver's memory and connections finite whatever unsigned traffic arrives.

    With the defaults a receiver holds at most 16 MiB of unverified body bytes and 256 connections (a few
    tens of kilobytes of buffers each), which keeps it under about 100 MB however many senders stall.
    ``max_connections``, ``header_timeout`` and ``shutdown_timeout`` apply when the receiver serves itself
    (:meth:`WebhookReceiver.listen`, ``wa-groups webhooks serve``); the byte limits and ``body_timeout`` apply
    however it is mounted.
    """

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Largest body accepted; a bigger delivery gets 413 and its connection is closed."""

    max_unverified_bytes: int = 16 * 1024 * 1024
    """Most body bytes held at once across all deliveries whose signature is not yet checked. A delivery
    that would exceed it gets 503 at once (Meta sends it again) instead of waiting."""

    max_connections: int = 256
    """Most open connections; further ones are closed as soon as they are accepted, with one log line per
    episode. It is lowered to leave 64 file descriptors free under the process's open-file limit."""

    header_timeout: float = 10.0
    """Seconds a connection may take to send a request's line and headers (and to stay idle between
    requests) before it is closed."""

    body_timeout: float = 20.0
    """Seconds a delivery's body may take to arrive; a slower one gets 408 and its connection is closed."""

    shutdown_timeout: float = 3.0
    """Seconds given at shutdown to requests in progress and to running handlers before they are cancelled."""

    def __attrs_post_init__(self) -> None:
        for name in ("max_body_bytes", "max_unverified_bytes", "max_connections"):
            if getattr(self, name) < 1:
                raise ClientValidationError(f"{name} must be at least 1, got {getattr(self, name)}", argument=name)
        for name in ("header_timeout", "body_timeout"):
            if not getattr(self, name) > 0:
                raise ClientValidationError(f"{name} must be positive, got {getattr(self, name)}", argument=name)
        if self.shutdown_timeout < 0:
            raise ClientValidationError("shutdown_timeout must not be negative", argument="shutdown_timeout")
        if self.max_unverified_bytes < self.max_body_bytes:
            raise ClientValidationError(
                "max_unverified_bytes must be at least max_body_bytes", argument="max_unverified_bytes"
            )


class _RedactVerifyToken(logging.Filter):
    """Rewrite a record's message and traceback text without the verify token.

    aiohttp logs a bad request with its request line (``Error handling request ... GET /?hub.verify_token=...``);
    this filter, on aiohttp's loggers, keeps the token out of such lines.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_verify_token(record.exc_text)
            record.exc_info = None
        redacted = redact_verify_token(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_AIOHTTP_LOGGERS: Final = ("aiohttp.server", "aiohttp.access", "aiohttp.web", "aiohttp.internal")


def install_redaction() -> None:
    """Add the verify-token filter to aiohttp's loggers, once."""
    for name in _AIOHTTP_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, _RedactVerifyToken) for f in target.filters):
            target.addFilter(_RedactVerifyToken())


class RedactedAccessLogger(AbstractAccessLogger):
    """Log each request without its query string, which holds the verify token during the handshake.

    Pass it as ``access_log_class`` to :class:`aiohttp.web.AppRunner` (or ``web.run_app``).
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Log one request: client address, method, path, status and duration."""
        self.logger.info('%s "%s %s" %s %.3fs', request.remote, request.method, request.path, response.status, time)


class Budget:
    """Bytes of unverified bodies in flight, shared by every request of one receiver."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, count: int) -> bool:
        """Reserve ``count`` bytes; return False (reserving nothing) when they would exceed the limit."""
        if self.used + count > self.limit:
            return False
        self.used += count
        return True

    def give(self, count: int) -> None:
        """Release ``count`` bytes reserved earlier."""
        self.used -= count
