"""The generic fake HTTP API server the test fakes are built on.

Nothing here knows about the Graph API or WUTS: :class:`FakeServer` runs an ``aiohttp.web``
application on 127.0.0.1 (on a free port unless told one), routes requests through a small table, records them,
injects scripted faults and latency, applies a token-bucket rate limit, counts requests in flight
and hands webhooks to a background outbox. A concrete fake (such as
:class:`~wa_groups.testing.FakeGraphAPI`) supplies the routes and decides how errors look on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Mapping
from typing import Final, NoReturn, TypeVar

from aiohttp import web

from wa_groups.testing._faults import (
    Fault,
    RateLimit,
    RecordedRequest,
    ServerStats,
    TokenBucket,
    format_seconds,
    html_error_page,
)
from wa_groups.testing._routing import Abort, Call, RequestBody, Route, json_response, read_body
from wa_groups.testing._webhooks import WebhookOutbox

__all__ = ["FakeServer"]

S = TypeVar("S", bound="FakeServer")

#: Request bodies larger than this are refused by aiohttp before a handler sees them.
_MAX_REQUEST_BYTES: Final = 32 * 1024 * 1024


class FakeServer:
    """Base class of the fake API servers: lifecycle, routing, faults, rate limit, stats, webhooks.

    Subclasses implement :meth:`_routes` and may override the ``_answer_*`` hooks and
    :meth:`_authenticate` to give errors the wire format of the API they imitate.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        record_requests: bool = True,
        seed: int = 0,
        webhook_url: str | None = None,
        webhook_delay: float = 0.0,
        port: int = 0,
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, got {port!r}")
        #: The port to listen on; 0 picks a free one (read the one chosen from :attr:`base_url`).
        self.port = port
        #: Seconds added before every answer.
        self.latency = latency
        #: Whether :attr:`requests` is filled.
        self.record_requests = record_requests
        #: URL webhooks are POSTed to; ``None`` turns webhook delivery off.
        self.webhook_url = webhook_url
        #: Seconds between the event and its webhook delivery.
        self.webhook_delay = webhook_delay
        #: Extra deliveries of every webhook (Meta retries deliveries, so receivers must deduplicate).
        self.webhook_repeats = 0
        self._rng = random.Random(seed)
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._stats = ServerStats()
        self._limit: RateLimit | None = None
        self._bucket: TokenBucket | None = None
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._closing: asyncio.Event | None = None
        self._outbox = WebhookOutbox(self._stats, lambda: self.webhook_url, self._pause)
        # Built at start, once a subclass has set up the state its handlers use.
        self._route_table: list[Route] = []

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return ``http://127.0.0.1:<port>`` of the running server."""
        if self._base_url is None:
            raise RuntimeError("the fake server is not running: use 'async with' or await start()")
        return self._base_url

    @property
    def running(self) -> bool:
        """Tell whether the server is listening."""
        return self._runner is not None

    async def start(self) -> None:
        """Start listening on 127.0.0.1 on :attr:`port`, a free one when 0 (does nothing when already running).

        Raises:
            OSError: The port is in use (or may not be bound).

        """
        if self._runner is not None:
            return
        self._closing = asyncio.Event()
        self._route_table = self._routes()
        app = web.Application(client_max_size=_MAX_REQUEST_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        host, port = runner.addresses[0][:2]
        self._runner = runner
        self._base_url = f"http://{host}:{port}"

    async def close(self) -> None:
        """Stop the server and cancel pending webhook deliveries; safe to call more than once."""
        if self._closing is not None:
            self._closing.set()
        await self._outbox.close()
        runner, self._runner = self._runner, None
        self._base_url = None
        if runner is not None:
            await runner.cleanup()

    def __enter__(self) -> NoReturn:
        raise TypeError("use 'async with' with a fake server")

    def __exit__(self, *exc_info: object) -> None:
        """Do nothing: ``__enter__`` always refuses."""

    async def __aenter__(self: S) -> S:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- scripting and inspection ----------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Return the recorded requests, oldest first (empty when ``record_requests`` is off)."""
        return self._requests

    @property
    def faults(self) -> list[Fault]:
        """Return the faults still armed, in the order they are tried."""
        return self._faults

    @property
    def stats(self) -> ServerStats:
        """Return the live counters."""
        return self._stats

    def reset_stats(self) -> None:
        """Zero the counters (``max_in_flight`` restarts from the requests in flight now)."""
        stats = self._stats
        stats.requests = stats.throttled = stats.faults_fired = 0
        stats.webhooks_sent = stats.webhooks_failed = 0
        stats.max_in_flight = stats.in_flight

    def add_fault(self, fault: Fault) -> Fault:
        """Arm a fault; return it so a test can inspect ``times`` later."""
        self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self._faults.clear()

    def set_rate_limit(
        self,
        rate_per_second: float | None,
        burst: int | None = None,
        code: int = 130429,
        retry_after_header: bool = False,
    ) -> None:
        """Limit requests with a token bucket; ``None`` removes the limit.

        Args:
            rate_per_second: Tokens added per second (0 means the bucket never refills).
            burst: Bucket size; defaults to ``max(1, rate_per_second)``.
            code: API error code answered when a request is refused.
            retry_after_header: Add a ``Retry-After`` header with the seconds until the next token.

        """
        if rate_per_second is None:
            self._limit = None
            self._bucket = None
            return
        if rate_per_second < 0:
            raise ValueError("rate_per_second must not be negative")
        size = burst if burst is not None else max(1, int(rate_per_second))
        if size < 1:
            raise ValueError("burst must be at least 1")
        self._limit = RateLimit(rate_per_second, size, code, retry_after_header)
        self._bucket = TokenBucket(rate_per_second, size)

    async def flush_webhooks(self) -> None:
        """Wait until every queued webhook has been delivered (or has failed)."""
        await self._outbox.join()

    def __repr__(self) -> str:
        where = self._base_url or "not running"
        return f"<{type(self).__name__} {where} {self._summary()}>"

    # -- hooks for subclasses --------------------------------------------------------------------

    def _summary(self) -> str:
        """Return a few words on the fake's state for its repr; subclasses override."""
        return ""

    def _routes(self) -> list[Route]:
        """Return the routing table; subclasses override."""
        return []

    def _answer_unknown_route(self, request: web.Request) -> web.Response:
        """Answer a request no route matches."""
        return json_response({"error": {"message": f"unknown route {request.method} {request.path}"}}, status=404)

    def _answer_unreadable_body(self, request: web.Request, error: Exception) -> web.Response:
        """Answer a request whose body could not be read (too large, broken multipart...)."""
        status = error.status if isinstance(error, web.HTTPException) else 400
        return json_response({"error": {"message": f"unreadable request body: {type(error).__name__}"}}, status=status)

    def _answer_throttled(self, request: web.Request, limit: RateLimit, wait: float) -> web.Response:
        """Answer a request refused by the rate limiter."""
        headers = {"Retry-After": format_seconds(wait)} if limit.retry_after_header else None
        return json_response({"error": {"message": "rate limit", "code": limit.code}}, status=429, headers=headers)

    def _answer_fault(self, request: web.Request, fault: Fault) -> web.Response:
        """Answer a fired fault that is neither ``drop`` nor ``malformed``."""
        headers = {"Retry-After": format_seconds(fault.retry_after)} if fault.retry_after is not None else None
        return json_response(
            {"error": {"message": fault.message or "simulated failure", "code": fault.code}},
            status=fault.status,
            headers=headers,
        )

    def _authenticate(self, call: Call) -> web.Response | None:
        """Return an error response when the request is not authorised, else ``None``."""
        return None

    # -- webhooks --------------------------------------------------------------------------------

    def _enqueue_webhook(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Queue a webhook POST of ``body`` to :attr:`webhook_url` after :attr:`webhook_delay` seconds."""
        if self.webhook_url is None or self._runner is None:
            return
        self._outbox.enqueue(body, headers, delay=self.webhook_delay, copies=1 + max(0, self.webhook_repeats))

    async def redeliver_webhooks(self) -> None:
        """Deliver every webhook sent so far once more, byte for byte, as Meta does when it retries."""
        for body, headers in list(self._outbox.delivered):
            self._enqueue_webhook(body, headers)
        await self.flush_webhooks()

    # -- request handling ------------------------------------------------------------------------

    async def _pause(self, delay: float | None) -> None:
        """Sleep ``delay`` seconds, waking early when the server closes."""
        if not delay or delay <= 0:
            return
        closing = self._closing
        if closing is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(closing.wait(), delay)

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self._route_table:
            if route.method != method:
                continue
            found = route.pattern.fullmatch(path)
            if found is not None:
                return route, found.groupdict()
        return None

    def _pick_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if not fault.matches(method, path):
                continue
            if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
            return fault
        return None

    async def _run(self, route: Route, call: Call) -> web.StreamResponse:
        refused = self._authenticate(call)
        if refused is not None:
            return refused
        try:
            return await route.handler(call)
        except Abort as abort:
            return abort.response

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        stats = self._stats
        stats.requests += 1
        stats.in_flight += 1
        if stats.in_flight > stats.max_in_flight:
            stats.max_in_flight = stats.in_flight
        status = 0
        body: RequestBody | None = None
        try:
            try:
                body = await read_body(request)
            except Exception as exc:  # any unreadable body (too large, broken multipart...) is the client's fault
                response: web.StreamResponse = self._answer_unreadable_body(request, exc)
                delay, dropped = self.latency, False
            else:
                response, delay, dropped = await self._dispatch(request, body)
            await self._pause(delay)
            if dropped:
                _drop_connection(request)
                return web.Response(status=500)
            status = response.status
            return response
        finally:
            stats.in_flight -= 1
            if self.record_requests:
                self._record(request, body, status)

    async def _dispatch(self, request: web.Request, body: RequestBody) -> tuple[web.StreamResponse, float, bool]:
        method = request.method
        path = request.path
        matched = self._match(method, path)
        if matched is None:
            return self._answer_unknown_route(request), self.latency, False
        route, params = matched
        if self._bucket is not None and self._limit is not None:
            wait = self._bucket.take(asyncio.get_running_loop().time())
            if wait > 0:
                self._stats.throttled += 1
                return self._answer_throttled(request, self._limit, wait), self.latency, False
        call = Call(request=request, params=params, body=body)
        fault = self._pick_fault(method, path) if self._faults else None
        if fault is None:
            return await self._run(route, call), self.latency, False
        self._stats.faults_fired += 1
        if fault.after_effect:
            await self._run(route, call)
        delay = self.latency if fault.latency is None else fault.latency
        if fault.drop:
            return web.Response(status=500), delay, True
        if fault.malformed:
            return html_error_page(fault.status, fault.retry_after), delay, False
        return self._answer_fault(request, fault), delay, False

    def _record(self, request: web.Request, body: RequestBody | None, status: int) -> None:
        self._requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                json=None if body is None else body.json,
                form=None if body is None else body.form,
                files=None if body is None else body.files,
                status=status,
            )
        )


def _drop_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.close()
    request.protocol.force_close()
