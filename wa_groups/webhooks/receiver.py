"""An aiohttp web application that receives Groups API webhooks.

:class:`WebhookReceiver` answers Meta's verification handshake, checks the signature of every delivery over
the raw body bytes, decodes it, answers 200 at once and runs the user's handler on each new event in the
background. Meta retries deliveries for days, so events already seen are passed on only once.

Status codes a delivery may get:

* 200: accepted (including deliveries that held only duplicates, and deliveries whose handlers fail).
* 400: the signature is valid but the body is not a webhook envelope.
* 403: the signature is missing, malformed or wrong (403 rather than 401: there is no authentication scheme
  a sender could retry with).
* 413: the body is larger than ``max_body_bytes``; it is not read further.
* 503: the receiver has been closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import inspect
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Final

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from ..errors import ClientValidationError, WebhookPayloadError, WebhookVerificationError
from ._parse import parse_webhook
from ._signature import SIGNATURE_HEADER, verify_signature
from .events import WebhookEvent

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "RECEIVER_KEY",
    "EventHandler",
    "EventListener",
    "RedactedAccessLogger",
    "WebhookReceiver",
    "create_webhook_app",
]

logger = logging.getLogger("wa_groups.webhooks")

#: Handler called once per new event; may be a coroutine function.
EventHandler = Callable[[WebhookEvent], Awaitable[None] | None]
#: Synchronous listener called with each delivery's new events, before handlers run.
EventListener = Callable[[Sequence[WebhookEvent]], None]

#: The default largest body accepted: a delivery holds up to 1000 notifications of a few hundred bytes to a
#: couple of kilobytes each.
DEFAULT_MAX_BODY_BYTES: Final = 4 * 1024 * 1024
_CHUNK_BYTES: Final = 64 * 1024


def _callable_name(function: object) -> str:
    return getattr(function, "__qualname__", None) or type(function).__name__


def _dedupe_key(event: WebhookEvent) -> bytes | None:
    """Return a stable digest identifying ``event`` across redeliveries, or ``None`` if it has none."""
    try:
        text = json.dumps(
            [type(event).__name__, event.waba_id, event.phone_number_id, event.raw],
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
    except (TypeError, ValueError, RecursionError):
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class RedactedAccessLogger(AbstractAccessLogger):
    """Log each request without its query string, which holds the verify token during the handshake.

    Pass it as ``access_log_class`` to :class:`aiohttp.web.AppRunner` (or ``web.run_app``).
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Log one request: client address, method, path, status and duration."""
        self.logger.info('%s "%s %s" %s %.3fs', request.remote, request.method, request.path, response.status, time)


class WebhookReceiver:
    """Receive, verify, decode and dispatch WhatsApp Groups webhooks.

    Mount :attr:`app` in an aiohttp application (``app.add_subapp("/webhooks", receiver.app)`` answers on
    ``/webhooks/``), serve it on its own, add its routes to an application with :meth:`add_routes`, or route
    requests to :meth:`handle_get` and :meth:`handle_post` yourself.

    Args:
        app_secret: The Meta app secret that signs deliveries.
        verify_token: The token configured in the app dashboard for the verification handshake.
        handler: Called once per new event, in a background task; a coroutine function or a plain function.
            Its exceptions are logged and never change the answer to Meta.
        max_body_bytes: Largest body accepted; bigger deliveries get 413.
        max_concurrency: Most handler calls running at once.
        dedupe_size: How many recent events are remembered to drop redeliveries (0 turns this off).

    Raises:
        ClientValidationError: A secret is empty or a limit is out of range.

    """

    def __init__(
        self,
        app_secret: str,
        verify_token: str,
        handler: EventHandler | None = None,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_concurrency: int = 16,
        dedupe_size: int = 10_000,
    ) -> None:
        if not isinstance(app_secret, str) or not app_secret:
            raise ClientValidationError("app_secret must be a non-empty string", argument="app_secret")
        if not isinstance(verify_token, str) or not verify_token:
            raise ClientValidationError("verify_token must be a non-empty string", argument="verify_token")
        if max_body_bytes < 1:
            raise ClientValidationError(
                f"max_body_bytes must be at least 1, got {max_body_bytes}", argument="max_body_bytes"
            )
        if max_concurrency < 1:
            raise ClientValidationError(
                f"max_concurrency must be at least 1, got {max_concurrency}", argument="max_concurrency"
            )
        if dedupe_size < 0:
            raise ClientValidationError(f"dedupe_size must not be negative, got {dedupe_size}", argument="dedupe_size")
        self.__app_secret = app_secret
        self.__verify_token = verify_token.encode("utf-8")
        self._handler = handler
        self._max_body_bytes = max_body_bytes
        self._max_concurrency = max_concurrency
        self._dedupe_size = dedupe_size
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._listeners: list[EventListener] = []
        self._tasks: set[asyncio.Task[None]] = set()
        # Created on first use, inside the running loop.
        self._semaphore: asyncio.Semaphore | None = None
        self._app: web.Application | None = None
        self._closed = False

    def __repr__(self) -> str:
        handler = _callable_name(self._handler) if self._handler is not None else None
        return (
            f"WebhookReceiver(handler={handler}, max_body_bytes={self._max_body_bytes}, "
            f"max_concurrency={self._max_concurrency}, dedupe_size={self._dedupe_size}, "
            f"pending={len(self._tasks)}, closed={self._closed})"
        )

    # ------------------------------------------------------------------------------------------- wiring

    @property
    def app(self) -> web.Application:
        """The aiohttp application: GET and POST on ``/``; closing it closes the receiver."""
        if self._app is None:
            app = web.Application()
            app.router.add_get("/", self.handle_get)
            app.router.add_post("/", self.handle_post)
            app.on_cleanup.append(self._on_cleanup)
            app[RECEIVER_KEY] = self
            self._app = app
        return self._app

    def add_routes(self, app: web.Application, path: str) -> None:
        """Answer GET and POST on exactly ``path`` of ``app``, and close the receiver when ``app`` cleans up.

        Use this rather than :attr:`app` when the callback URL must not end with a slash (a sub-application
        mounted at ``/webhooks`` answers on ``/webhooks/``).
        """
        app.router.add_get(path, self.handle_get)
        app.router.add_post(path, self.handle_post)
        app.on_cleanup.append(self._on_cleanup)

    @property
    def pending(self) -> int:
        """The number of handler calls scheduled or running."""
        return len(self._tasks)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener`` with each delivery's new events, synchronously, before handlers run.

        Listeners must be quick and must not block; their exceptions are logged and ignored.
        """
        self._listeners.append(listener)

    def remove_listener(self, listener: EventListener) -> None:
        """Stop calling ``listener``; do nothing if it was not added."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

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
        """Verify, decode and dispatch one delivery; answer before the handlers finish."""
        if self._closed:
            return web.Response(status=503, text="receiver closed")
        body = await self._read_body(request)
        if body is None:
            logger.warning("rejected a webhook delivery larger than %d bytes", self._max_body_bytes)
            return web.Response(status=413, text="request body too large")
        try:
            verify_signature(body, request.headers.get(SIGNATURE_HEADER), self.__app_secret)
        except WebhookVerificationError as error:
            logger.warning("rejected a webhook delivery from %s: %s", request.remote, error)
            return web.Response(status=403, text="invalid signature")
        try:
            events = parse_webhook(body)
        except WebhookPayloadError as error:
            logger.error("could not decode a signed webhook delivery: %s", error)
            return web.Response(status=400, text="invalid payload")
        except Exception:  # a parser bug must not make Meta redeliver for days: log it and acknowledge
            logger.exception("could not decode a signed webhook delivery")
            return web.Response(status=400, text="invalid payload")
        try:
            self.dispatch(events)
        except Exception:  # listeners are the user's code: log, and still acknowledge the delivery
            logger.exception("a webhook listener failed")
        return web.Response(text="OK")

    async def _read_body(self, request: web.Request) -> bytes | None:
        """Return the raw body, or ``None`` as soon as it proves larger than the limit."""
        limit = self._max_body_bytes
        declared = request.content_length
        if declared is not None and declared > limit:
            return None
        body = bytearray()
        async for chunk in request.content.iter_chunked(_CHUNK_BYTES):
            body += chunk
            if len(body) > limit:
                return None
        return bytes(body)

    # -------------------------------------------------------------------------------------- dispatching

    def dispatch(self, events: Iterable[WebhookEvent]) -> list[WebhookEvent]:
        """Pass verified events on: drop ones already seen, call listeners, then schedule handlers.

        Must be called inside a running event loop when a handler is set.

        Returns:
            The events that were new.

        """
        fresh = [event for event in events if self._remember(event)]
        if not fresh:
            return fresh
        for listener in list(self._listeners):
            try:
                listener(fresh)
            except Exception:
                logger.exception("webhook listener %s failed", _callable_name(listener))
        if self._handler is not None:
            for event in fresh:
                self._spawn(self._handler, event)
        return fresh

    def _remember(self, event: WebhookEvent) -> bool:
        """Record ``event``; return False when it was seen recently."""
        if self._dedupe_size == 0:
            return True
        key = _dedupe_key(event)
        if key is None:
            return True
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        while len(self._seen) > self._dedupe_size:
            self._seen.popitem(last=False)
        return True

    def _spawn(self, handler: EventHandler, event: WebhookEvent) -> None:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self._max_concurrency)
        task = asyncio.get_running_loop().create_task(self._run_handler(handler, event, self._semaphore))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_handler(self, handler: EventHandler, event: WebhookEvent, semaphore: asyncio.Semaphore) -> None:
        async with semaphore:
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception(
                    "webhook handler %s failed on %s (group %s)",
                    _callable_name(handler),
                    type(event).__name__,
                    event.group_id,
                )

    # ------------------------------------------------------------------------------------------ closing

    async def drain(self) -> None:
        """Wait until every scheduled handler call has finished."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self, *, grace: float | None = 5.0) -> None:
        """Stop accepting deliveries, give running handlers ``grace`` seconds, then cancel the rest.

        Safe to call more than once. ``grace=None`` waits for every handler.
        """
        self._closed = True
        tasks = set(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            logger.warning("cancelled %d webhook handler call(s) still running at close", len(pending))

    async def _on_cleanup(self, app: web.Application) -> None:
        await self.close()


#: The key under which :attr:`WebhookReceiver.app` stores its receiver: ``app[RECEIVER_KEY]``.
RECEIVER_KEY: Final = web.AppKey("wa_groups_webhook_receiver", WebhookReceiver)


def create_webhook_app(
    *,
    app_secret: str,
    verify_token: str,
    handler: EventHandler | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
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
        max_body_bytes=max_body_bytes,
        max_concurrency=max_concurrency,
        dedupe_size=dedupe_size,
    ).app
