"""An aiohttp web application that receives Groups API webhooks.

:class:`WebhookReceiver` answers Meta's verification handshake, reads each delivery within bounded time and
memory, checks its signature over the raw body bytes, decodes it, stores its new events in an inbox and only
then answers 200. Handlers run from the inbox: an event is done only once its handler succeeded, failures are
retried and then kept as dead letters. Meta retries deliveries for days, so events already stored are skipped.

Status codes a delivery may get:

* 200: its new events are stored (including deliveries that held only duplicates).
* 400: the signature is valid but the body is not a webhook envelope.
* 403: the signature is missing, malformed or wrong (403 rather than 401: there is no authentication scheme
  a sender could retry with).
* 408: the body did not arrive within ``body_timeout``.
* 413: the body is larger than ``max_body_bytes``; it is not read further.
* 503: the receiver is closed, too many unverified bytes are in flight, or the inbox cannot store (full disk,
  Redis down): Meta sends the delivery again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Final

import attrs
from aiohttp import web

from ..errors import ClientValidationError, WebhookPayloadError, WebhookVerificationError
from ._signature import SIGNATURE_HEADER, verify_signature
from .events import WebhookEvent
from .inbox import HandlerRetry, Inbox, InboxUnavailableError, InboxWorker, MemoryInbox, open_inbox, split_delivery
from .limits import Budget, ReceiverLimits, install_redaction

if TYPE_CHECKING:
    from ._serve import ReceiverServer

__all__ = ["RECEIVER_KEY", "EventHandler", "EventListener", "WebhookReceiver", "create_webhook_app"]

logger = logging.getLogger("wa_groups.webhooks")

#: Handler called once per new event; may be a coroutine function.
EventHandler = Callable[[WebhookEvent], Awaitable[None] | None]
#: Synchronous listener called with each delivery's new events once they are stored, before the answer.
EventListener = Callable[[Sequence[WebhookEvent]], None]
_CHUNK_BYTES: Final = 64 * 1024


def _callable_name(function: object) -> str:
    return getattr(function, "__qualname__", None) or type(function).__name__


def _well_formed_signature(header: str | None) -> bool:
    if header is None:
        return False
    text = header.strip()
    return text[:7].lower() == "sha256=" and len(text) == 71


class _Refusal(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _refuse(status: int, text: str) -> web.Response:
    response = web.Response(status=status, text=text)
    response.force_close()  # no lingering read of the rest of the body
    return response


class WebhookReceiver:
    """Receive, verify and store WhatsApp Groups webhooks, and run a handler on each new event.

    Serve it with :meth:`listen` (which also bounds connections and header time), mount :attr:`app` in an
    aiohttp application (``app.add_subapp("/webhooks", receiver.app)`` answers on ``/webhooks/``), add its
    routes to an application with :meth:`add_routes`, or route requests to :meth:`handle_get` and
    :meth:`handle_post` yourself.

    Args:
        app_secret: The Meta app secret that signs deliveries.
        verify_token: The token configured in the app dashboard for the verification handshake.
        handler: Called at least once per new event, from the inbox, at most ``max_concurrency`` at a time; a
            coroutine function or a plain function. An event is done when it returns; when it raises, the
            event is retried per ``retry`` and then becomes a dead letter. ``None``: the receiver runs no
            handler (events stored in a given inbox wait for an :class:`InboxWorker` elsewhere).
        inbox: Where events wait for their handler: an :class:`Inbox`, the path of a SQLite file, or a
            ``redis://`` URL. Default: a :class:`MemoryInbox`, which **loses events on restart**.
        limits: Body, connection and time limits (:class:`ReceiverLimits`).
        retry: When a failed handler is tried again, and when its event becomes a dead letter.
        max_body_bytes: Shorthand for ``limits.max_body_bytes``.
        max_concurrency: Most handler calls running at once.
        dedupe_size: How many recent events the default :class:`MemoryInbox` remembers to drop redeliveries
            (0 turns this off); durable inboxes remember for days.

    Raises:
        ClientValidationError: A secret is empty or a limit is out of range.

    """

    def __init__(
        self,
        app_secret: str,
        verify_token: str,
        handler: EventHandler | None = None,
        *,
        inbox: Inbox | str | os.PathLike[str] | None = None,
        limits: ReceiverLimits | None = None,
        retry: HandlerRetry | None = None,
        max_body_bytes: int | None = None,
        max_concurrency: int = 16,
        dedupe_size: int = 10_000,
    ) -> None:
        if not isinstance(app_secret, str) or not app_secret:
            raise ClientValidationError("app_secret must be a non-empty string", argument="app_secret")
        if not isinstance(verify_token, str) or not verify_token:
            raise ClientValidationError("verify_token must be a non-empty string", argument="verify_token")
        limits = limits or ReceiverLimits()
        if max_body_bytes is not None:
            if max_body_bytes < 1:
                raise ClientValidationError(
                    f"max_body_bytes must be at least 1, got {max_body_bytes}", argument="max_body_bytes"
                )
            limits = attrs.evolve(
                limits,
                max_body_bytes=max_body_bytes,
                max_unverified_bytes=max(limits.max_unverified_bytes, max_body_bytes),
            )
        if max_concurrency < 1:
            raise ClientValidationError(
                f"max_concurrency must be at least 1, got {max_concurrency}", argument="max_concurrency"
            )
        if dedupe_size < 0:
            raise ClientValidationError(f"dedupe_size must not be negative, got {dedupe_size}", argument="dedupe_size")
        install_redaction()
        self.__app_secret = app_secret
        self.__verify_token = verify_token.encode("utf-8")
        self._handler = handler
        self.limits = limits
        """The body, connection and time limits in force."""
        self._max_concurrency = max_concurrency
        self._given_inbox = inbox is not None
        self.inbox: Inbox = open_inbox(inbox) if inbox is not None else MemoryInbox(dedupe_size=dedupe_size)
        """Where events wait for their handler (for dead letters: ``await receiver.inbox.dead_letters()``)."""
        self._worker = (
            InboxWorker(self.inbox, handler, concurrency=max_concurrency, retry=retry) if handler is not None else None
        )
        self._budget = Budget(limits.max_unverified_bytes)
        self._listeners: list[EventListener] = []
        self._app: web.Application | None = None
        self._started = False
        self._opened = False
        self._closed = False
        self._inflight = 0
        self._idle: asyncio.Event | None = None

    def __repr__(self) -> str:
        handler = _callable_name(self._handler) if self._handler is not None else None
        return (
            f"WebhookReceiver(handler={handler}, inbox={self.inbox!r}, max_body_bytes={self.limits.max_body_bytes}, "
            f"max_concurrency={self._max_concurrency}, running={self.pending}, closed={self._closed})"
        )

    # ------------------------------------------------------------------------------------------- wiring

    @property
    def app(self) -> web.Application:
        """The aiohttp application: GET and POST on ``/``; its startup starts the receiver, its cleanup closes it."""
        if self._app is None:
            app = web.Application()
            app.router.add_get("/", self.handle_get)
            app.router.add_post("/", self.handle_post)
            app.on_startup.append(self._on_startup)
            app.on_cleanup.append(self._on_cleanup)
            app[RECEIVER_KEY] = self
            self._app = app
        return self._app

    def add_routes(self, app: web.Application, path: str) -> None:
        """Answer GET and POST on exactly ``path`` of ``app``, starting and closing with ``app``.

        Use this rather than :attr:`app` when the callback URL must not end with a slash (a sub-application
        mounted at ``/webhooks`` answers on ``/webhooks/``).
        """
        app.router.add_get(path, self.handle_get)
        app.router.add_post(path, self.handle_post)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)

    def listen(self, host: str, port: int) -> ReceiverServer:
        """Return a server for this receiver on ``host:port`` (0: a free port); use it with ``async with``.

        The server applies every :class:`ReceiverLimits` bound (connections and header time included), logs
        requests without their query string, and shuts down within ``shutdown_timeout`` seconds.
        """
        from ._serve import ReceiverServer  # the server module imports this one

        return ReceiverServer(self, host, port)

    @property
    def pending(self) -> int:
        """The number of handler calls running now (waiting events stay in the inbox, see :meth:`backlog`)."""
        return self._worker.running if self._worker is not None else 0

    async def backlog(self) -> int:
        """Return how many events the inbox holds that are not yet done or dead."""
        return await self.inbox.backlog()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener`` with each delivery's new events, synchronously, once they are stored.

        Listeners must be quick and must not block; their exceptions are logged and ignored. They run before
        the answer to Meta, in the receiving process, and are not retried: use the handler for work that must
        happen.
        """
        self._listeners.append(listener)

    def remove_listener(self, listener: EventListener) -> None:
        """Stop calling ``listener``; do nothing if it was not added."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    async def start(self) -> None:
        """Start the handler worker and open the inbox; the app's startup and every delivery call it.

        Raises:
            InboxUnavailableError: The inbox cannot be opened (it is tried again on the next delivery).

        """
        if self._closed:
            return
        if self._worker is not None and not self._started:
            self._worker.start()  # it waits, logging once, while the inbox is unavailable
        self._started = True
        if not self._opened:
            await self.inbox.open()
            self._opened = True

    # --------------------------------------------------------------------------------------- handlers

    async def handle_get(self, request: web.Request) -> web.Response:
        """Answer Meta's verification handshake: the challenge when the token matches, else 403."""
        query = request.query
        token = query.get("hub.verify_token")
        challenge = query.get("hub.challenge")
        if (
            query.get("hub.mode") == "subscribe"
            and token is not None
            and challenge is not None
            and hmac.compare_digest(token.encode("utf-8"), self.__verify_token)
        ):
            return web.Response(text=challenge, content_type="text/plain")
        logger.warning("rejected a webhook verification request from %s", request.remote)
        return web.Response(status=403, text="verification failed")

    async def handle_post(self, request: web.Request) -> web.Response:
        """Verify, decode and store one delivery; answer 200 once its new events are stored."""
        if self._closed:
            return _refuse(503, "receiver closed")
        signature = request.headers.get(SIGNATURE_HEADER)
        if not _well_formed_signature(signature):
            # Refused before a byte of the body is read: an unsigned sender costs nothing.
            logger.warning("rejected a webhook delivery from %s: no well-formed signature", request.remote)
            return _refuse(403, "invalid signature")
        self._inflight += 1
        try:
            return await self._handle_signed(request, signature)
        finally:
            self._inflight -= 1
            if self._inflight == 0 and self._idle is not None:
                self._idle.set()

    async def _handle_signed(self, request: web.Request, signature: str | None) -> web.Response:
        try:
            body = await self._read_body(request)
        except _Refusal as refusal:
            return _refuse(refusal.status, refusal.text)
        try:
            verify_signature(body, signature, self.__app_secret)
        except WebhookVerificationError as error:
            logger.warning("rejected a webhook delivery from %s: %s", request.remote, error)
            return _refuse(403, "invalid signature")
        try:
            document = json.loads(body.decode("utf-8-sig"))
            pairs = split_delivery(document)
        except (UnicodeDecodeError, ValueError, RecursionError, WebhookPayloadError) as error:
            logger.error("could not decode a signed webhook delivery: %s", type(error).__name__)
            return web.Response(status=400, text="invalid payload")
        except Exception:  # a parser bug must not make Meta redeliver for days: log it and refuse
            logger.exception("could not decode a signed webhook delivery")
            return web.Response(status=400, text="invalid payload")
        del body
        try:
            await self.start()
            stored = await self.inbox.put([item for _, item in pairs])
            if self._worker is None and not self._given_inbox and stored:
                # Nobody handles these: the default inbox only deduplicates.
                for entry in await self.inbox.claim(len(stored)):
                    await self.inbox.ack(entry)
        except InboxUnavailableError as error:
            logger.error("could not store a webhook delivery, answering 503 so that Meta retries: %s", error)
            return web.Response(status=503, text="inbox unavailable", headers={"Retry-After": "30"})
        if self._worker is not None and stored and not self.inbox.durable:
            await self._worker.take_due()
        fresh_keys = {entry.item.key for entry in stored}
        fresh = []
        for event, item in pairs:
            if item.key in fresh_keys:
                fresh_keys.discard(item.key)  # a notification repeated within the delivery counts once
                fresh.append(event)
        self._notify(fresh)
        return web.Response(text="OK")

    async def _read_body(self, request: web.Request) -> bytes:
        """Return the raw body, within the byte limits and the body timeout, or raise :class:`_Refusal`."""
        limits = self.limits
        declared = request.content_length
        if declared is not None and declared > limits.max_body_bytes:
            logger.warning("rejected a webhook delivery declaring %d bytes (limit %d)", declared, limits.max_body_bytes)
            raise _Refusal(413, "request body too large")
        chunks: list[bytes] = []

        async def read() -> None:
            size = 0
            async for chunk in request.content.iter_chunked(_CHUNK_BYTES):
                size += len(chunk)
                if size > limits.max_body_bytes:
                    logger.warning("rejected a webhook delivery larger than %d bytes", limits.max_body_bytes)
                    raise _Refusal(413, "request body too large")
                if size > hold.bytes and not self._budget.take(hold, size - hold.bytes):
                    raise _Refusal(503, "busy")
                self._budget.progress(hold)
                chunks.append(chunk)

        # The body is read in its own task, which the budget cancels when a newer delivery needs the room
        # and this one has been in flight too long or is stalled (a slow sender, or an attacker's).
        reading = asyncio.ensure_future(read())
        hold = self._budget.hold(reading.cancel)
        try:
            if declared is not None and not self._budget.take(hold, declared):
                raise _Refusal(503, "busy")
            done, _ = await asyncio.wait({reading}, timeout=limits.body_timeout)
            if not done:
                logger.warning(
                    "a webhook delivery from %s did not arrive within %gs", request.remote, limits.body_timeout
                )
                raise _Refusal(408, "request body too slow")
            if reading.cancelled():
                logger.debug("an unverified webhook body gave way to a newer delivery")
                raise _Refusal(503, "busy")
            try:
                reading.result()
            except ConnectionError:  # the sender went away mid-body: nobody to answer, nothing to log loudly
                logger.debug("a webhook sender disconnected before its body was complete")
                raise _Refusal(400, "connection lost") from None
        finally:
            if not reading.done():
                reading.cancel()
            self._budget.release(hold)
        return b"".join(chunks)

    def _notify(self, fresh: list[WebhookEvent]) -> None:
        if not fresh:
            return
        for listener in list(self._listeners):
            try:
                listener(fresh)
            except Exception:
                logger.exception("webhook listener %s failed", _callable_name(listener))

    # ------------------------------------------------------------------------------------------ closing

    async def drain(self) -> None:
        """Wait until no handler runs and no stored event is due now (later retries are not waited for)."""
        if self._worker is not None:
            await self.start()
            await self._worker.drain()

    async def close(self, *, grace: float | None = 5.0) -> None:
        """Stop accepting deliveries, give running handlers ``grace`` seconds, cancel the rest, close the inbox.

        Deliveries being stored are given ``limits.shutdown_timeout`` seconds to finish. A cancelled handler's
        event stays unacknowledged: a durable inbox hands it out again after a restart. Safe to call more than
        once. ``grace=None`` waits for every handler; the application's cleanup (and :meth:`listen`'s server)
        uses ``limits.shutdown_timeout``.
        """
        if self._closed:
            return
        self._closed = True
        timeout = self.limits.shutdown_timeout
        if self._inflight:
            self._idle = asyncio.Event()
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout)
        if self._worker is not None:
            await self._worker.stop(grace=grace)
        await self.inbox.close()

    async def _on_startup(self, app: web.Application) -> None:
        try:
            await self.start()
        except InboxUnavailableError as error:
            logger.error("the webhook inbox is unavailable at startup; deliveries get 503 until it is back: %s", error)

    async def _on_cleanup(self, app: web.Application) -> None:
        await self.close(grace=self.limits.shutdown_timeout)


#: The key under which :attr:`WebhookReceiver.app` stores its receiver: ``app[RECEIVER_KEY]``.
RECEIVER_KEY: Final = web.AppKey("wa_groups_webhook_receiver", WebhookReceiver)


def create_webhook_app(
    *,
    app_secret: str,
    verify_token: str,
    handler: EventHandler | None = None,
    inbox: Inbox | str | os.PathLike[str] | None = None,
    limits: ReceiverLimits | None = None,
    max_body_bytes: int | None = None,
    max_concurrency: int = 16,
    dedupe_size: int = 10_000,
) -> web.Application:
    """Return a ready aiohttp application that receives webhooks; ``app[RECEIVER_KEY]`` is its receiver.

    See :class:`WebhookReceiver` for the arguments.
    """
    return WebhookReceiver(
        app_secret,
        verify_token,
        handler,
        inbox=inbox,
        limits=limits,
        max_body_bytes=max_body_bytes,
        max_concurrency=max_concurrency,
        dedupe_size=dedupe_size,
    ).app
