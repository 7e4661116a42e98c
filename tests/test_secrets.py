"""Secrets stay secret: a canary access token and a canary app secret driven through every failure path.

For each way a call can fail, the raised error is searched for the canary everywhere a person or a log could
see it: ``str``, ``repr``, ``args``, attribute values (recursively, ``raw`` included), the ``__cause__`` and
``__context__`` chain and the formatted traceback. Log records of every logger (aiohttp's included) are
captured at DEBUG, and the URLs the servers received are searched too. The scanner itself is checked on
objects that do hold the canary, so a pass is not vacuous.
"""

from __future__ import annotations

import json
import logging
import socket
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from conftest import SleepRecorder, serving

from wa_groups import GroupsClient, RetryPolicy
from wa_groups.errors import (
    AuthenticationError,
    ClientValidationError,
    NotFoundError,
    PaginationError,
    RateLimitError,
    ResponseError,
    ServerError,
    TransportError,
    WAGroupsError,
    WebhookVerificationError,
)
from wa_groups.testing import FakeGraphAPI, Fault
from wa_groups.webhooks import SIGNATURE_HEADER, WebhookReceiver, sign_body, verify_signature

CANARY = "EAAcanary-SECRET-TOKEN-123"
APP_SECRET = "canary-APP-SECRET-456"
VERIFY_TOKEN = "canary-VERIFY-TOKEN-789"


# ---------------------------------------------------------------------------------------------- scanning

_ATOMS = (int, float, complex, bool, type(None))


def find_secret(
    value: Any, secret: str, where: str = "value", *, _seen: set[int] | None = None, _depth: int = 0
) -> list[str]:
    """Return where ``secret`` occurs in ``value``: its text, repr, contents, attributes and exception chain."""
    seen = set() if _seen is None else _seen
    if isinstance(value, str):
        return [where] if secret in value else []
    if isinstance(value, (bytes, bytearray, memoryview)):
        return [where] if secret.encode() in bytes(value) else []
    if isinstance(value, (*_ATOMS, type)) or (callable(value) and not isinstance(value, BaseException)):
        return []
    if id(value) in seen or _depth > 10:
        return []
    seen.add(id(value))

    def inner(child: Any, name: str) -> list[str]:
        return find_secret(child, secret, name, _seen=seen, _depth=_depth + 1)

    found: list[str] = []
    try:
        text = repr(value)
    except Exception as exc:  # a repr that fails is a finding of its own
        text = f"<repr failed: {exc!r}>"
    if secret in text:
        found.append(f"repr({where})")
    if isinstance(value, BaseException):
        if secret in str(value):
            found.append(f"str({where})")
        if secret in "".join(traceback.format_exception(value)):
            found.append(f"traceback of {where}")
        found += inner(value.args, f"{where}.args")
        found += inner(value.__cause__, f"{where}.__cause__")
        found += inner(value.__context__, f"{where}.__context__")
        found += inner(getattr(value, "__notes__", None), f"{where}.__notes__")
    if isinstance(value, Mapping):
        for key, child in value.items():
            found += inner(key, f"{where} key {key!r}")
            found += inner(child, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple, set, frozenset)):
        for index, child in enumerate(value):
            found += inner(child, f"{where}[{index}]")
    attributes: dict[str, Any] = dict(getattr(value, "__dict__", None) or {})
    for cls in type(value).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if name not in ("__dict__", "__weakref__") and hasattr(value, name):
                attributes[name] = getattr(value, name)
    for name, child in attributes.items():
        found += inner(child, f"{where}.{name}")
    return found


def log_leaks(records: list[logging.LogRecord], *secrets: str) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    leaks: list[str] = []
    for record in records:
        text = formatter.format(record)  # message, arguments and any exception traceback
        for secret in secrets:
            if secret in text or find_secret(record.args, secret):
                leaks.append(f"{record.name}: {record.getMessage()[:200]}")
    return leaks


class Holder:
    """A plain object with attributes, for checking the scanner."""

    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)


@attrs.frozen(slots=True)
class SlotHolder:
    value: Any


@pytest.mark.parametrize(
    "carrier",
    [
        pytest.param(lambda: ValueError(f"token {CANARY}"), id="message"),
        pytest.param(lambda: ValueError("x", {"headers": (("Authorization", f"Bearer {CANARY}"),)}), id="nested-args"),
        pytest.param(lambda: Holder(raw={"error": {"message": [CANARY]}}), id="raw-mapping"),
        pytest.param(
            lambda: SlotHolder(value=Holder(request_info=SlotHolder(value=CANARY.encode()))), id="slots-bytes"
        ),
        pytest.param(lambda: _chained(), id="context-attribute"),
    ],
)
def test_the_scanner_finds_a_hidden_canary(carrier: Callable[[], Any]) -> None:
    assert find_secret(carrier(), CANARY)


def _chained() -> WAGroupsError:
    hidden = OSError("no secret in the message")
    hidden.headers = {"Authorization": f"Bearer {CANARY}"}  # type: ignore[attr-defined]
    try:
        raise hidden
    except OSError:
        try:
            raise WAGroupsError("clean")  # the implicit __context__ is what is being scanned
        except WAGroupsError as error:
            return error


# ----------------------------------------------------------------------------------------------- helpers


def closed_port() -> int:
    """Return a loopback port that nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@attrs.define
class Context:
    """What a scenario works with, and the clients and URLs it leaves behind for inspection."""

    fake: FakeGraphAPI
    sleeps: SleepRecorder
    clients: list[GroupsClient] = attrs.field(factory=list)
    urls: list[str] = attrs.field(factory=list)

    def client(self, base_url: str | None = None, **kwargs: Any) -> GroupsClient:
        kwargs.setdefault("retry", RetryPolicy(max_attempts=2, sleep=self.sleeps))
        client = GroupsClient(
            CANARY,
            phone_number_id=self.fake.phone_number_id,
            base_url=base_url or self.fake.base_url,
            **kwargs,
        )
        self.clients.append(client)
        return client


Scenario = Callable[[Context], Awaitable[object]]


async def wrong_token(ctx: Context) -> object:
    async with FakeGraphAPI() as other, ctx.client(other.base_url) as client:
        try:
            return await client.get_group("G1")
        finally:
            ctx.urls += [r.path + "?" + json.dumps(r.query) for r in other.requests]
            assert other.requests[-1].headers["Authorization"] == f"Bearer {CANARY}"


async def unknown_group(ctx: Context) -> object:
    async with ctx.client() as client:
        return await client.get_group("no-such-group")


async def throttled_too_long(ctx: Context) -> object:
    ctx.fake.add_fault(Fault(status=429, code=131208, retry_after=600, usage_minutes=10))
    async with ctx.client() as client:
        return await client.get_group(ctx.fake.add_group("Busy"))


async def throttled_then_retried_out(ctx: Context) -> object:
    ctx.fake.add_fault(Fault(status=400, code=130429, retry_after=1, times=None))
    async with ctx.client() as client:
        return await client.get_invite_link(ctx.fake.add_group("Busy"))


async def server_error_on_create(ctx: Context) -> object:
    ctx.fake.add_fault(Fault(method="POST", path="/groups$", status=500, code=1, after_effect=True))
    async with ctx.client() as client:
        return await client.create_group("Maybe")


async def server_error_retried_out(ctx: Context) -> object:
    ctx.fake.add_fault(Fault(status=503, code=131016, times=None))
    async with ctx.client() as client:
        return await client.get_group(ctx.fake.add_group("Down"))


async def dropped_connection(ctx: Context) -> object:
    ctx.fake.add_fault(Fault(method="POST", path="/groups$", drop=True))
    async with ctx.client() as client:
        return await client.create_group("Dropped")


async def dropped_connection_retried_out(ctx: Context) -> object:
    gid = ctx.fake.add_group("Drop", join_approval_mode="approval_required")
    ctx.fake.add_fault(Fault(method="POST", drop=True, times=None))
    async with ctx.client() as client:
        return await client.approve_join_requests(gid, ctx.fake.add_join_requests(gid, 1))


async def connection_refused(ctx: Context) -> object:
    async with ctx.client(f"http://127.0.0.1:{closed_port()}") as client:
        return await client.create_group("Nobody home")


async def timeout(ctx: Context) -> object:
    ctx.fake.add_fault(Fault(status=200, latency=1.0, times=None))
    async with ctx.client(timeout=0.05) as client:
        return await client.get_group(ctx.fake.add_group("Slow"))


async def malformed_body(ctx: Context) -> object:
    ctx.fake.add_fault(Fault(status=502, malformed=True, times=None))
    async with ctx.client() as client:
        return await client.get_group(ctx.fake.add_group("Proxy"))


async def not_json_on_success(ctx: Context) -> object:
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="<html>OK</html>", content_type="text/html")

    async with serving(handler, seen) as url, ctx.client(url) as client:
        try:
            return await client.get_group("G1")
        finally:
            ctx.urls += seen


async def invalid_argument(ctx: Context) -> object:
    async with ctx.client() as client:
        return await client.get_group("a/b")


async def invalid_token_shape(ctx: Context) -> object:
    return GroupsClient(f"{CANARY} {CANARY}", base_url=ctx.fake.base_url)


async def invalid_picture(ctx: Context) -> object:
    async with ctx.client() as client:
        return await client.set_group_picture(ctx.fake.add_group("Pic"), b"GIF89a")


async def cursor_loop(ctx: Context) -> object:
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        page = {"data": {"groups": [{"id": "G1"}]}, "paging": {"cursors": {"after": "A"}, "next": "https://x/next"}}
        return web.json_response(page)

    async with serving(handler, seen) as url, ctx.client(url) as client:
        try:
            return [group async for group in client.iter_groups()]
        finally:
            ctx.urls += seen


SCENARIOS: list[tuple[Scenario, type[WAGroupsError]]] = [
    (wrong_token, AuthenticationError),
    (unknown_group, NotFoundError),
    (throttled_too_long, RateLimitError),
    (throttled_then_retried_out, RateLimitError),
    (server_error_on_create, ServerError),
    (server_error_retried_out, ServerError),
    (dropped_connection, TransportError),
    (dropped_connection_retried_out, TransportError),
    (connection_refused, TransportError),
    (timeout, TransportError),
    (malformed_body, ResponseError),
    (not_json_on_success, ResponseError),
    (invalid_argument, ClientValidationError),
    (invalid_token_shape, ClientValidationError),
    (invalid_picture, ClientValidationError),
    (cursor_loop, PaginationError),
]


@pytest.fixture
async def canary_fake() -> AsyncIterator[FakeGraphAPI]:
    async with FakeGraphAPI(access_token=CANARY, app_secret=APP_SECRET) as server:
        yield server


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every logger at DEBUG, aiohttp's and asyncio's included."""
    names = ("", "wa_groups", "aiohttp", "aiohttp.client", "aiohttp.server", "aiohttp.access", "aiohttp.web", "asyncio")
    for name in names:
        caplog.set_level(logging.DEBUG, logger=name or None)
    yield caplog


# ------------------------------------------------------------------------------------------ access token


@pytest.mark.parametrize(("scenario", "expected"), SCENARIOS, ids=[s.__name__ for s, _ in SCENARIOS])
async def test_the_access_token_never_leaks(
    canary_fake: FakeGraphAPI,
    sleeps: SleepRecorder,
    all_logs: pytest.LogCaptureFixture,
    scenario: Scenario,
    expected: type[WAGroupsError],
) -> None:
    ctx = Context(fake=canary_fake, sleeps=sleeps)
    with pytest.raises(WAGroupsError) as info:
        await scenario(ctx)
    error = info.value
    assert isinstance(error, expected), repr(error)
    if scenario in (server_error_on_create, dropped_connection):
        assert error.outcome_unknown and "outcome is unknown" in str(error)  # that wording is scanned too

    assert find_secret(error, CANARY, "error") == []
    for client in ctx.clients:
        assert client.closed
        assert CANARY not in repr(client) and CANARY not in str(client)
        assert find_secret(client.retry_policy, CANARY) == []
    assert log_leaks(all_logs.records, CANARY) == []

    # The token travelled only in the Authorization header.
    for request in canary_fake.requests:
        assert CANARY not in request.path and find_secret(request.query, CANARY) == []
        assert CANARY not in repr(request)
        assert request.headers["Authorization"] == f"Bearer {CANARY}"
    assert not any(CANARY in url for url in ctx.urls)


async def test_retries_were_logged_and_the_log_is_clean(
    canary_fake: FakeGraphAPI, sleeps: SleepRecorder, all_logs: pytest.LogCaptureFixture
) -> None:
    # The scenarios above are only meaningful if the failure paths log something; make sure they do.
    ctx = Context(fake=canary_fake, sleeps=sleeps)
    with pytest.raises(ServerError):
        await server_error_retried_out(ctx)
    assert any("retrying get_group" in record.getMessage() for record in all_logs.records)
    assert log_leaks(all_logs.records, CANARY) == []


async def test_a_successful_session_leaks_nothing(
    canary_fake: FakeGraphAPI, sleeps: SleepRecorder, all_logs: pytest.LogCaptureFixture
) -> None:
    ctx = Context(fake=canary_fake, sleeps=sleeps)
    gid = canary_fake.add_group("Fine", join_approval_mode="approval_required")
    canary_fake.add_join_requests(gid, 3)
    async with ctx.client() as client:
        operation = await client.create_group("New")
        info = await client.get_group(gid)
        requests = [r async for r in client.iter_join_requests(gid, page_size=2)]
        result = await client.approve_join_requests(gid, [r.join_request_id for r in requests])
        assert CANARY not in repr(client)
    for value in (operation, info, requests, result):
        assert find_secret(value, CANARY) == []
    assert log_leaks(all_logs.records, CANARY) == []
    assert CANARY not in repr(canary_fake) and APP_SECRET not in repr(canary_fake)


@pytest.mark.parametrize("echo", ["graph-error-message", "proxy-html-page"])
async def test_a_token_echoed_by_the_server_is_redacted(
    canary_fake: FakeGraphAPI, sleeps: SleepRecorder, echo: str
) -> None:
    ctx = Context(fake=canary_fake, sleeps=sleeps)
    error: WAGroupsError
    if echo == "graph-error-message":
        canary_fake.add_fault(Fault(status=400, code=190, message=f"Malformed access token {CANARY}"))
        async with ctx.client() as client:
            with pytest.raises(AuthenticationError) as auth:
                await client.get_group("G1")
        error = auth.value
    else:

        async def proxy(request: web.Request) -> web.Response:
            page = f"<html><h1>502 Bad Gateway</h1><pre>{request.headers.get('Authorization')}</pre></html>"
            return web.Response(text=page, status=502, content_type="text/html")

        async with serving(proxy, []) as url, ctx.client(url, retry=RetryPolicy(max_attempts=1)) as client:
            with pytest.raises(ResponseError) as response:
                await client.get_group("G1")
        error = response.value
    assert find_secret(error, CANARY, "error") == []


def _json_escaped(text: str, pattern: int) -> str:
    """Escape ``text`` as a JSON writer might: each character raw or ``\\uXXXX`` (upper or lower hex) by ``pattern``."""
    out = []
    for index, char in enumerate(text):
        choice = (pattern >> (index % 8)) & 3
        if choice == 0:
            out.append(char)
        elif choice == 1:
            out.append(f"\\u{ord(char):04x}")
        elif choice == 2:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(f"%{ord(char):02X}")
    return "".join(out)


def library_frame_leaks(error: BaseException, secret: str) -> list[str]:
    """Return the library frames of ``error``'s traceback (and its chain) whose locals show ``secret``."""
    leaks: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if "wa_groups" in frame.f_code.co_filename:
                for name, value in frame.f_locals.items():
                    try:
                        text = repr(value)
                    except Exception as exc:  # a repr that fails is a finding too
                        text = f"<repr failed {exc!r}>"
                    if secret in text:
                        leaks.append(f"{frame.f_code.co_name}: {name}")
            tb = tb.tb_next
        current = current.__cause__ or current.__context__
    return leaks


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param(lambda: CANARY, id="raw"),
        pytest.param(lambda: "".join(f"\\u{ord(c):04x}" for c in CANARY), id="all-escaped"),
        pytest.param(lambda: _json_escaped(CANARY, 0b10_01_00_01), id="mixed-escapes"),
        pytest.param(lambda: _json_escaped(CANARY, 0b11_11_11_11), id="url-encoded"),
        pytest.param(lambda: _json_escaped(CANARY, 0b00_11_10_01), id="every-kind"),
    ],
)
async def test_an_escaped_echo_of_the_token_is_redacted_everywhere(
    sleeps: SleepRecorder, all_logs: pytest.LogCaptureFixture, spelling: Callable[[], str]
) -> None:
    echoed = spelling()

    async def echo(request: web.Request) -> web.Response:
        # The raw JSON text is written by hand, so the escapes reach the client as they are.
        body = (
            '{"error": {"message": "Malformed access token ' + echoed + '", "code": 100, '
            '"error_data": {"details": "token=' + echoed + '"}, "fbtrace_id": "' + echoed + '"}}'
        )
        return web.Response(text=body, status=400, content_type="application/json")

    ctx = Context(fake=FakeGraphAPI(), sleeps=sleeps)
    async with serving(echo, []) as url, ctx.client(url) as client:
        with pytest.raises(WAGroupsError) as info:
            await client.get_group("G1")
        result = await client.bulk_add_participants("G1", ["+16505550001"])
    error = info.value
    assert "redacted" in str(error)
    assert find_secret(error, CANARY, "error") == []
    assert find_secret(result.to_json(), CANARY, "report") == []
    assert find_secret(result, CANARY, "result") == []
    assert log_leaks(all_logs.records, CANARY) == []
    assert library_frame_leaks(error, CANARY) == []


@pytest.mark.parametrize("failure", ["server-error", "dropped", "refused", "redirect", "oversized"])
async def test_no_frame_of_the_error_path_holds_the_token(sleeps: SleepRecorder, failure: str) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        if failure == "server-error":
            return web.Response(text="<html>oops</html>", status=503)
        if failure == "redirect":
            raise web.HTTPTemporaryRedirect(location=f"http://127.0.0.1:1/?token={CANARY}")
        if failure == "oversized":
            return web.Response(body=b"x" * (9 * 1024 * 1024), content_type="application/json")
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    ctx = Context(fake=FakeGraphAPI(), sleeps=sleeps)
    async with serving(answer, []) as url:
        base = f"http://127.0.0.1:{closed_port()}" if failure == "refused" else url
        async with ctx.client(base) as client:
            with pytest.raises(WAGroupsError) as info:
                await client.get_group("G1")
    assert library_frame_leaks(info.value, CANARY) == []
    assert find_secret(info.value, CANARY, "error") == []


def test_the_repr_of_a_client_whose_constructor_failed_never_raises() -> None:
    half_built = GroupsClient.__new__(GroupsClient)
    assert "not constructed" in repr(half_built)
    with pytest.raises(ClientValidationError) as info:
        GroupsClient(CANARY, base_url="ftp://example.com")
    tb = info.value.__traceback__
    while tb is not None:  # every frame of the failed constructor can be shown, self included
        for value in tb.tb_frame.f_locals.values():
            assert CANARY not in repr(value) or isinstance(value, str)
        tb = tb.tb_next


def test_credentials_in_a_bad_base_url_are_not_echoed() -> None:
    with pytest.raises(ClientValidationError) as info:
        GroupsClient("token", base_url=f"htps://user:{CANARY}@graph.facebook.com")
    assert find_secret(info.value, CANARY, "error") == []


# -------------------------------------------------------------------------------------------- app secret


def webhook_body() -> bytes:
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "group_lifecycle_update",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550001111", "phone_number_id": "2"},
                            "groups": [{"timestamp": "1750269342", "group_id": "G", "type": "group_delete"}],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(envelope).encode()


def test_signature_errors_hold_no_secret_or_expected_digest() -> None:
    body = webhook_body()
    expected = sign_body(body, APP_SECRET)
    wrong = sign_body(body, "another-secret")
    for header in (None, "", "sha1=abc", "sha256=xyz", "sha256=" + "0" * 64, wrong, expected[:-1] + "0"):
        with pytest.raises(WebhookVerificationError) as info:
            verify_signature(body, header, APP_SECRET)
        for secret in (APP_SECRET, expected.removeprefix("sha256=")):
            assert find_secret(info.value, secret, "error") == []


async def test_webhook_receiver_keeps_its_secrets(all_logs: pytest.LogCaptureFixture) -> None:
    async def handler(event: object) -> None:
        raise RuntimeError("handler failure")  # logged by the receiver; must not drag secrets along

    receiver = WebhookReceiver(APP_SECRET, VERIFY_TOKEN, handler, max_body_bytes=4096)
    secrets = (APP_SECRET, VERIFY_TOKEN)
    for text in (repr(receiver), str(receiver), repr(receiver.app)):
        assert not any(secret in text for secret in secrets)

    body = webhook_body()
    expected_digest = sign_body(body, APP_SECRET).removeprefix("sha256=")
    answers: list[tuple[int, str, str]] = []
    async with serving(_route(receiver), []) as url, aiohttp.ClientSession() as http:

        async def call(method: str, **kwargs: Any) -> int:
            async with http.request(method, url + "/", **kwargs) as response:
                text = await response.text()
                answers.append((response.status, text, json.dumps(dict(response.headers))))
                return response.status

        handshake = {"hub.mode": "subscribe", "hub.challenge": "31337"}
        assert await call("GET", params={**handshake, "hub.verify_token": VERIFY_TOKEN}) == 200
        assert await call("GET", params={**handshake, "hub.verify_token": "guess"}) == 403
        assert (
            await call(
                "GET", params={"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}
            )
            == 403
        )
        assert await call("POST", data=body) == 403
        assert await call("POST", data=body, headers={SIGNATURE_HEADER: "sha256=nothex"}) == 403
        assert await call("POST", data=body, headers={SIGNATURE_HEADER: sign_body(body, "guess")}) == 403
        assert await call("POST", data=body + b" ", headers={SIGNATURE_HEADER: sign_body(body, APP_SECRET)}) == 403
        garbage = b"not json"
        assert await call("POST", data=garbage, headers={SIGNATURE_HEADER: sign_body(garbage, APP_SECRET)}) == 400
        assert (
            await call("POST", data=b"x" * 5000, headers={SIGNATURE_HEADER: sign_body(b"x" * 5000, APP_SECRET)}) == 413
        )
        assert await call("POST", data=body, headers={SIGNATURE_HEADER: sign_body(body, APP_SECRET)}) == 200
        await receiver.drain()
        await receiver.close()
        assert await call("POST", data=body, headers={SIGNATURE_HEADER: sign_body(body, APP_SECRET)}) == 503

    assert answers[0][1] == "31337"
    for status, text, headers in answers:
        for secret in (*secrets, expected_digest):
            assert secret not in text and secret not in headers, (status, text)
    assert any(record.name == "aiohttp.access" for record in all_logs.records)
    assert any("handler failure" in (record.exc_text or "") or record.exc_info for record in all_logs.records)
    assert log_leaks(all_logs.records, *secrets, expected_digest) == []
    assert not any(secret in repr(receiver) for secret in secrets)


def _route(receiver: WebhookReceiver) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def route(request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            return await receiver.handle_get(request)
        return await receiver.handle_post(request)

    return route
