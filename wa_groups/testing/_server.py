"""Generic machinery for fake HTTP API servers used in tests.

Nothing in this module knows about the Graph API: it runs an ``aiohttp.web`` application on
127.0.0.1 on a free port, routes requests through a small table, records them, injects scripted
faults and latency, applies a token-bucket rate limit, counts requests in flight and delivers
webhooks from a background queue. A concrete fake (such as :class:`~wa_groups.testing.FakeGraphAPI`)
supplies the routes and decides how errors look on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import re
from collections.abc import Awaitable, Callable, ItemsView, Iterator, KeysView, Mapping, MutableMapping, ValuesView
from http import HTTPStatus
from typing import Any, Final, Generic, NoReturn, TypeVar, overload

import aiohttp
import attrs
from aiohttp import web

__all__ = [
    "Abort",
    "Call",
    "Fault",
    "FakeServer",
    "IndexedDict",
    "RecordedRequest",
    "RequestBody",
    "Route",
    "ServerStats",
    "format_seconds",
    "json_response",
]

logger = logging.getLogger("wa_groups.testing")

K = TypeVar("K")
T = TypeVar("T")
S = TypeVar("S", bound="FakeServer")
V = TypeVar("V")

#: Request bodies larger than this are refused by aiohttp before a handler sees them.
_MAX_REQUEST_BYTES: Final = 32 * 1024 * 1024

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


_INVALID_JSON: Final = object()


@attrs.define(frozen=True)
class RequestBody:
    """A request body read once and decoded for handlers."""

    #: The raw bytes (empty for multipart bodies, which are decoded into ``form`` and ``files``).
    raw: bytes
    #: The decoded JSON value; ``None`` when the body was empty or not JSON.
    json: Any
    #: True when the body claimed to be JSON or looked like JSON but did not decode.
    invalid_json: bool
    #: Text fields of a form-encoded or multipart body.
    form: dict[str, str] | None
    #: File parts of a multipart body.
    files: dict[str, bytes] | None


@attrs.define(frozen=True)
class Call:
    """What a route handler receives: the request, the path parameters and the decoded body."""

    #: The aiohttp request.
    request: web.Request
    #: Named groups of the route's path pattern.
    params: dict[str, str]
    #: The decoded request body.
    body: RequestBody


#: A route handler.
Handler = Callable[[Call], Awaitable[web.StreamResponse]]


@attrs.define(frozen=True)
class Route:
    """One entry of a fake's routing table: a method, a full-match path pattern and its handler."""

    #: HTTP method, upper case.
    method: str
    #: Pattern that must match the whole request path.
    pattern: re.Pattern[str]
    #: Coroutine function answering the request.
    handler: Handler


class Abort(Exception):
    """Raised by a handler to answer a ready-made response (usually an error)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        #: The response to send.
        self.response = response


def json_response(payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """Encode ``payload`` as compact JSON and wrap it in a response."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return web.Response(body=body, status=status, headers=headers, content_type="application/json", charset="utf-8")


class _Tombstone:
    __slots__ = ()


_TOMB: Final = _Tombstone()


class IndexedDict(MutableMapping[K, V], Generic[K, V]):
    """An insertion-ordered mapping with an O(1) key-to-position index for cursor paging.

    Deleting a key leaves a tombstone in the order list; tombstones are compacted once they
    outnumber live keys, so paging after a cursor stays proportional to the page size.
    """

    __slots__ = ("_data", "_dead", "_head", "_keys", "_pos")

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        self._data: dict[K, V] = {}
        self._keys: list[K | _Tombstone] = []
        self._pos: dict[K, int] = {}
        self._dead = 0
        self._head = 0
        if items:
            for key, value in items.items():
                self[key] = value

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __setitem__(self, key: K, value: V) -> None:
        if key not in self._data:
            self._pos[key] = len(self._keys)
            self._keys.append(key)
        self._data[key] = value

    def __delitem__(self, key: K) -> None:
        del self._data[key]
        self._keys[self._pos.pop(key)] = _TOMB
        self._dead += 1
        if self._dead > 64 and self._dead * 2 > len(self._keys):
            self._compact()

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"IndexedDict({self._data!r})"

    @overload
    def get(self, key: K, /) -> V | None: ...

    @overload
    def get(self, key: K, default: V | T, /) -> V | T: ...

    def get(self, key: K, default: Any = None, /) -> Any:
        """Return the value for ``key``, or ``default`` when it is absent."""
        return self._data.get(key, default)

    def keys(self) -> KeysView[K]:
        """Return a view of the keys in insertion order."""
        return self._data.keys()

    def values(self) -> ValuesView[V]:
        """Return a view of the values in insertion order."""
        return self._data.values()

    def items(self) -> ItemsView[K, V]:
        """Return a view of the items in insertion order."""
        return self._data.items()

    def clear(self) -> None:
        """Remove every item."""
        self._data.clear()
        self._keys.clear()
        self._pos.clear()
        self._dead = 0
        self._head = 0

    def _compact(self) -> None:
        keys = list(self._data)
        self._pos = {key: index for index, key in enumerate(keys)}
        self._keys = list(keys)
        self._dead = 0
        self._head = 0

    def page(
        self,
        *,
        limit: int,
        after: K | None = None,
        before: K | None = None,
        where: Callable[[V], bool] | None = None,
    ) -> tuple[list[tuple[K, V]], bool]:
        """Return up to ``limit`` items after (or before) a key, and whether more follow the page.

        Without ``after`` or ``before`` the page starts at the first item. ``where`` filters values.

        Raises:
            KeyError: ``after`` or ``before`` is not (or no longer) a key of the mapping.

        """
        keys = self._keys
        found: list[tuple[K, V]] = []
        if before is not None:
            index = self._pos[before] - 1
            while index >= 0 and len(found) < limit:
                key = keys[index]
                index -= 1
                if isinstance(key, _Tombstone):
                    continue
                value = self._data[key]
                if where is None or where(value):
                    found.append((key, value))
            found.reverse()
            # The item ``before`` points at still exists, so there is always more after this page.
            return found, True
        if after is not None:
            index = self._pos[after] + 1
        else:
            while self._head < len(keys) and isinstance(keys[self._head], _Tombstone):
                self._head += 1
            index = self._head
        end = len(keys)
        while index < end and len(found) <= limit:
            key = keys[index]
            index += 1
            if isinstance(key, _Tombstone):
                continue
            value = self._data[key]
            if where is None or where(value):
                found.append((key, value))
        more = len(found) > limit
        return found[:limit], more


class _TokenBucket:
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
    ) -> None:
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
        self._delivered: list[tuple[bytes, dict[str, str]]] = []
        self._rng = random.Random(seed)
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._stats = ServerStats()
        self._limit: RateLimit | None = None
        self._bucket: _TokenBucket | None = None
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._closing: asyncio.Event | None = None
        self._webhook_queue: asyncio.Queue[tuple[float, bytes, dict[str, str]]] | None = None
        self._webhook_worker: asyncio.Task[None] | None = None
        self._webhook_session: aiohttp.ClientSession | None = None
        self._route_table: list[Route] = self._routes()

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
        """Start listening on 127.0.0.1 on a free port (does nothing when already running)."""
        if self._runner is not None:
            return
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=_MAX_REQUEST_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
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
        worker, self._webhook_worker = self._webhook_worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._webhook_queue = None
        session, self._webhook_session = self._webhook_session, None
        if session is not None:
            await session.close()
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
        self._bucket = _TokenBucket(rate_per_second, size)

    async def flush_webhooks(self) -> None:
        """Wait until every queued webhook has been delivered (or has failed)."""
        queue = self._webhook_queue
        if queue is not None and self._webhook_worker is not None:
            await queue.join()

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
        loop = asyncio.get_running_loop()
        if self._webhook_queue is None:
            self._webhook_queue = asyncio.Queue()
        if self._webhook_worker is None or self._webhook_worker.done():
            self._webhook_worker = loop.create_task(self._deliver_webhooks(self._webhook_queue))
        for _ in range(1 + max(0, self.webhook_repeats)):
            self._webhook_queue.put_nowait((loop.time() + self.webhook_delay, body, dict(headers)))

    async def redeliver_webhooks(self) -> None:
        """Deliver every webhook sent so far once more, byte for byte, as Meta does when it retries."""
        for body, headers in list(self._delivered):
            self._enqueue_webhook(body, headers)
        await self.flush_webhooks()

    async def _deliver_webhooks(self, queue: asyncio.Queue[tuple[float, bytes, dict[str, str]]]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, body, headers = await queue.get()
            try:
                await self._pause(due - loop.time())
                await self._post_webhook(body, headers)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A user's receiver being down must never break the fake: note it and move on.
                self._stats.webhooks_failed += 1
                logger.debug("webhook delivery failed: %s", type(exc).__name__)
            finally:
                queue.task_done()

    async def _post_webhook(self, body: bytes, headers: dict[str, str]) -> None:
        if self.webhook_url is None:
            return
        if self._webhook_session is None:
            self._webhook_session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        if len(self._delivered) < 10_000:
            self._delivered.append((body, headers))
        async with self._webhook_session.post(self.webhook_url, data=body, headers=headers) as response:
            await response.read()
            if response.status >= 400:
                self._stats.webhooks_failed += 1
                logger.debug("webhook delivery answered HTTP %s", response.status)
            else:
                self._stats.webhooks_sent += 1

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

    async def _read_body(self, request: web.Request) -> RequestBody:
        if request.content_type == "multipart/form-data":
            form: dict[str, str] = {}
            files: dict[str, bytes] = {}
            for name, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    files[name] = value.file.read()
                elif isinstance(value, str):
                    form[name] = value
                else:
                    files[name] = bytes(value)
            return RequestBody(raw=b"", json=None, invalid_json=False, form=form, files=files)
        raw = await request.read()
        if request.content_type == "application/x-www-form-urlencoded":
            fields = {name: str(value) for name, value in (await request.post()).items()}
            return RequestBody(raw=raw, json=None, invalid_json=False, form=fields, files=None)
        if not raw.strip():
            return RequestBody(raw=raw, json=None, invalid_json=False, form=None, files=None)
        try:
            decoded = json.loads(raw)
        except ValueError:
            return RequestBody(raw=raw, json=None, invalid_json=True, form=None, files=None)
        return RequestBody(raw=raw, json=decoded, invalid_json=False, form=None, files=None)

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
                body = await self._read_body(request)
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
            return _html_page(fault.status, fault.retry_after), delay, False
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


def _html_page(status: int, retry_after: float | None = None) -> web.Response:
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
