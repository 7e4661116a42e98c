"""What a webhook receiver allows unverified traffic to cost, and how it keeps the verify token out of logs.

:class:`ReceiverLimits` holds every bound (body size, unverified bytes in flight, read timeouts, connections,
shutdown); :class:`RedactedAccessLogger` and the filter installed on aiohttp's loggers keep the verify token,
which Meta's handshake carries in its query string, out of every log line.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Final

import attrs
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from ..errors import ClientValidationError

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "EVICT_AFTER",
    "SMALL_BODY",
    "STALL_AFTER",
    "Budget",
    "BudgetHold",
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
    that would exceed it makes room by stopping (503) bodies that are stalled or in flight for too long, or
    bigger ones when it is small; if that is not enough it gets 503 at once (Meta sends it again) instead of
    waiting."""

    max_connections: int = 256
    """Most open connections. At the limit a new connection makes room by resetting the one that has waited
    longest without a request under way (a slow sender's); when there is none, new ones are closed as soon as
    they are accepted, with one log line per episode. It is lowered to leave 264 file descriptors free under
    the process's open-file limit."""

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


#: Seconds an unverified body may be in flight before a new delivery that does not fit in the budget takes
#: its place. A real delivery (a few kilobytes, rarely more than a megabyte) arrives well within it.
EVICT_AFTER: Final = 1.0
#: Seconds without a byte after which a body in flight is stalled, and gives way to a new delivery too.
STALL_AFTER: Final = 0.25
#: A delivery this small (nearly all of Meta's) may take the place of any bigger body in flight, however young.
SMALL_BODY: Final = 64 * 1024


class BudgetHold:
    """One delivery's share of a :class:`Budget`: its bytes, when it began, and how to stop it."""

    __slots__ = ("active", "bytes", "evict", "started")

    def __init__(self, started: float, evict: Callable[[], object]) -> None:
        self.started = started
        self.active = started
        self.bytes = 0
        self.evict = evict


class Budget:
    """Bytes of unverified bodies in flight, shared by every request of one receiver.

    When a delivery does not fit, bodies that have been in flight for longer than ``evict_after`` seconds or
    got no byte for ``stall_after`` seconds are stopped to make room (oldest first), if that is enough:
    stalled or trickling senders cannot keep the budget from a delivery that arrives at once. A small delivery
    (``SMALL_BODY``) may also stop any bigger body. Otherwise the newcomer is refused and nothing is stopped.
    """

    def __init__(
        self,
        limit: int,
        *,
        evict_after: float = EVICT_AFTER,
        stall_after: float = STALL_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.used = 0
        self.evicted = 0
        """How many bodies in flight were stopped to make room for newer ones."""
        self._evict_after = evict_after
        self._stall_after = stall_after
        self._clock = clock
        self._holds: dict[BudgetHold, None] = {}  # oldest first

    def hold(self, evict: Callable[[], object]) -> BudgetHold:
        """Register a delivery about to be read; ``evict`` stops its reading when it must make room."""
        hold = BudgetHold(self._clock(), evict)
        self._holds[hold] = None
        return hold

    def take(self, hold: BudgetHold, count: int) -> bool:
        """Reserve ``count`` more bytes for ``hold``; return False (reserving nothing) when they do not fit."""
        if self.used + count > self.limit and not self._make_room(self.used + count - self.limit, hold, count):
            return False
        self.used += count
        hold.bytes += count
        return True

    def progress(self, hold: BudgetHold) -> None:
        """Note that bytes of ``hold``'s body just arrived."""
        hold.active = self._clock()

    def release(self, hold: BudgetHold) -> None:
        """Give back every byte of ``hold``; safe to call twice."""
        self.used -= hold.bytes
        hold.bytes = 0
        self._holds.pop(hold, None)

    def _make_room(self, needed: int, taker: BudgetHold, count: int) -> bool:
        now = self._clock()
        started_before, active_before = now - self._evict_after, now - self._stall_after
        small = taker.bytes + count <= SMALL_BODY
        victims: list[BudgetHold] = []
        freed = 0
        for hold in self._holds:
            if hold is taker or not hold.bytes:
                continue
            if (
                hold.started > started_before
                and hold.active > active_before
                and not (small and hold.bytes > SMALL_BODY)
            ):
                continue
            victims.append(hold)
            freed += hold.bytes
            if freed >= needed:
                break
        if freed < needed:
            return False
        for hold in victims:
            self.release(hold)
            self.evicted += 1
            hold.evict()
        return True
