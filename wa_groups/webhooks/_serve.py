"""Serve a webhook receiver on a socket with every limit applied, and ``wa-groups webhooks serve``.

:class:`ReceiverServer` is what :meth:`WebhookReceiver.listen` returns: aiohttp's request handling behind a
protocol factory that, at the connection limit, closes the connection that has waited longest for a request
(a slow sender's) to make room, or else the new one as soon as it is accepted (so the process never runs out
of file descriptors and never logs a traceback per refused connection), with the header timeout as
aiohttp's idle timeout, no lingering reads after a refusal, and a shutdown bounded by ``shutdown_timeout``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Final, TextIO

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from .events import WebhookEvent, event_as_dict
from .inbox import Inbox
from .limits import ReceiverLimits, RedactedAccessLogger
from .receiver import WebhookReceiver

__all__ = ["ReceiverServer", "serve"]

logger = logging.getLogger("wa_groups.webhooks")

#: File descriptors kept free under the open-file limit for the inbox, logs and outgoing connections.
_SPARE_DESCRIPTORS: Final = 64
#: The listen backlog. asyncio accepts up to this many connections at a time before their transports exist,
#: so two backlogs' worth of descriptors are kept free too: a refused connection holds one until it is closed.
_BACKLOG: Final = 100
#: Bytes of a request body aiohttp buffers per connection before it stops reading from the socket, until the
#: handler takes them (aiohttp's default is 64 KiB). Every open connection may hold about twice this plus one
#: socket read (256 KiB), bodies whose handler has not started yet included: a small buffer keeps hundreds of
#: stalled uploads from costing more than the unverified-bytes budget itself.
_READ_BUFFER: Final = 16 * 1024


def connection_limit(limits: ReceiverLimits) -> int:
    """Return ``limits.max_connections`` lowered to leave spare descriptors under the open-file limit.

    The descriptors left free are for the inbox, logs, and connections accepted while refusing others.
    """
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):  # pragma: no cover - every POSIX system has it
        return limits.max_connections
    if soft == resource.RLIM_INFINITY:
        return limits.max_connections
    return max(1, min(limits.max_connections, soft - _SPARE_DESCRIPTORS - 2 * _BACKLOG))


class _Refused(asyncio.Protocol):
    """A connection over the limit: closed (reset) as soon as it is accepted."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.Transport):
            transport.abort()
        else:  # pragma: no cover - TCP transports are always asyncio.Transport
            transport.close()


def _waiting_longest(connections: Sequence[RequestHandler]) -> RequestHandler | None:
    """Return the oldest connection with no request under way (idle, or its request head incomplete).

    A real sender sends its request as soon as it is connected, so the connections that have waited longest
    for a request are a slow sender's or an idle kept-alive one's. aiohttp keeps its connections in the order
    they were made; when its internals change, nothing is found and new connections are refused instead.
    """
    for connection in connections:
        if connection.transport is None:  # already closing
            continue
        if not getattr(connection, "_request_in_progress", True) and not getattr(connection, "_messages", True):
            return connection
    return None


class ReceiverServer:
    """A receiver listening on ``host:port`` with every :class:`ReceiverLimits` bound applied.

    Use it with ``async with receiver.listen(host, port) as server:``; its ``port`` is then the bound port.
    Leaving the block stops listening, gives requests and handlers ``shutdown_timeout`` seconds each, and
    closes the receiver (and its inbox).
    """

    def __init__(self, receiver: WebhookReceiver, host: str, port: int) -> None:
        self.receiver = receiver
        """The receiver served."""
        self.host = host
        """The address listened on."""
        self.port = port
        """The port listened on: the bound one once started (when 0 was asked for)."""
        self.max_connections = connection_limit(receiver.limits)
        """The connection limit in force: ``max_connections`` lowered under the open-file limit."""
        self._runner: web.AppRunner | None = None
        self._server: asyncio.base_events.Server | None = None
        self._refusing = False
        self.refused = 0
        """How many new connections were closed at once because the limit was reached and none could give way."""
        self.evicted = 0
        """How many connections waiting for a request were closed to make room for new ones at the limit."""

    def __repr__(self) -> str:
        return f"ReceiverServer(host={self.host!r}, port={self.port}, max_connections={self.max_connections})"

    @property
    def connections(self) -> int:
        """The number of connections being served now."""
        if self._runner is None or self._runner.server is None:
            return 0
        return len(self._runner.server.connections)

    def _protocol(self) -> asyncio.BaseProtocol:
        runner = self._runner
        assert runner is not None and runner.server is not None
        connections = runner.server.connections
        open_now = len(connections)
        if open_now >= self.max_connections:
            if not self._refusing:
                self._refusing = True
                logger.warning(
                    "webhook receiver: %d connections open, the limit; the longest-waiting ones without a request "
                    "are closed to make room, or else new ones (this is logged once per episode)",
                    open_now,
                )
            victim = _waiting_longest(connections)
            if victim is None:
                self.refused += 1
                return _Refused()
            self.evicted += 1
            if victim.transport is not None:
                victim.transport.abort()  # a reset, not a goodbye; its descriptor is freed on the loop's next turn
            victim.force_close()
        elif self._refusing and open_now < self.max_connections * 9 // 10:
            self._refusing = False
            logger.warning(
                "webhook receiver: back under the connection limit after refusing %d and closing %d connection(s)",
                self.refused,
                self.evicted,
            )
        return runner.server()

    async def start(self) -> None:
        """Start the receiver and listen; ``port`` is then the bound port."""
        limits = self.receiver.limits
        runner = web.AppRunner(
            self.receiver.app,
            access_log_class=RedactedAccessLogger,
            shutdown_timeout=limits.shutdown_timeout,
            keepalive_timeout=limits.header_timeout,
            lingering_time=0,
            read_bufsize=_READ_BUFFER,
        )
        await runner.setup()
        self._runner = runner
        try:
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(
                self._protocol, self.host, self.port, reuse_address=True, backlog=_BACKLOG
            )
        except BaseException:
            await self.stop()
            raise
        for sock in self._server.sockets:
            self.port = int(sock.getsockname()[1])
            break
        logger.info("receiving webhooks on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening, finish or cancel what runs within the shutdown timeouts, close the receiver."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()  # closes the receiver through the app's cleanup
        await self.receiver.close(grace=self.receiver.limits.shutdown_timeout)

    async def __aenter__(self) -> ReceiverServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


async def serve(
    *,
    host: str,
    port: int,
    app_secret: str,
    verify_token: str,
    out: TextIO,
    on_ready: Callable[[int], None] | None = None,
    inbox: Inbox | str | os.PathLike[str] | None = None,
    limits: ReceiverLimits | None = None,
) -> None:
    """Receive webhooks on ``host:port`` until cancelled, writing each new event to ``out`` as a JSON line.

    Each line is :func:`event_as_dict` of the event (``raw`` only for unknown events); duplicates are written
    once. Without ``inbox`` a line is written before the delivery is answered, in delivery order. With an inbox
    (a SQLite path, a Redis URL), writing a line is the handler: it happens at least once per event, after the
    event is stored, and events stored before a restart are written after it. The access log omits query
    strings, which hold the verify token.

    Args:
        host: The address to listen on.
        port: The port to listen on; 0 picks a free one.
        app_secret: The Meta app secret that signs deliveries.
        verify_token: The token for the verification handshake.
        out: Where the JSON lines go; flushed after each line or delivery.
        on_ready: Called with the bound port once the server listens.
        inbox: Where events wait for the writer; default: none (written at once, lost if the writing fails).
        limits: The receiver's limits.

    """

    def line(event: WebhookEvent) -> str:
        return json.dumps(event_as_dict(event), default=str) + "\n"

    def write_one(event: WebhookEvent) -> None:
        out.write(line(event))
        out.flush()

    def write(events: Sequence[WebhookEvent]) -> None:
        out.write("".join(map(line, events)))
        out.flush()

    if inbox is None:
        receiver = WebhookReceiver(app_secret, verify_token, limits=limits)
        receiver.add_listener(write)
    else:
        receiver = WebhookReceiver(app_secret, verify_token, write_one, inbox=inbox, limits=limits)
    async with receiver.listen(host, port) as server:
        if on_ready is not None:
            on_ready(server.port)
        await asyncio.Event().wait()
