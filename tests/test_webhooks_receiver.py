from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from wa_groups.errors import ClientValidationError
from wa_groups.webhooks import (
    DEFAULT_MAX_BODY_BYTES,
    RECEIVER_KEY,
    SIGNATURE_HEADER,
    GroupCreated,
    GroupDeleted,
    OperationTracker,
    ReceiverLimits,
    WebhookEvent,
    WebhookReceiver,
    create_webhook_app,
    sign_body,
)
from wa_groups.webhooks._serve import serve

SECRET = "receiver-app-secret-5f1c"
TOKEN = "receiver-verify-token-9a2b"

if TYPE_CHECKING:
    Client = TestClient[web.Request, web.Application]
else:
    Client = TestClient
MakeClient = Callable[[web.Application], Awaitable[Client]]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    clients: list[Client] = []

    async def make(app: web.Application) -> Client:
        client: Client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def delivery(*groups: dict[str, Any], field: str = "group_lifecycle_update") -> bytes:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1111",
                "changes": [
                    {
                        "field": field,
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550001111", "phone_number_id": "2222"},
                            "groups": list(groups),
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(payload).encode()


def created(request_id: str = "req-1", group_id: str = "group-1") -> dict[str, Any]:
    return {
        "timestamp": "1750269342",
        "group_id": group_id,
        "type": "group_create",
        "request_id": request_id,
        "subject": "S",
        "invite_link": "https://chat.whatsapp.com/X",
    }


def deleted(group_id: str) -> dict[str, Any]:
    return {"timestamp": "1750269342", "group_id": group_id, "type": "group_delete", "request_id": f"del-{group_id}"}


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign_body(body, secret), "Content-Type": "application/json"}


class Recorder:
    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []

    async def __call__(self, event: WebhookEvent) -> None:
        self.events.append(event)


# ----------------------------------------------------------------------------------------------- handshake


async def test_handshake_answers_the_challenge(make_client: MakeClient) -> None:
    client = await make_client(WebhookReceiver(SECRET, TOKEN).app)
    params = {"hub.mode": "subscribe", "hub.verify_token": TOKEN, "hub.challenge": "1158201444"}
    response = await client.get("/", params=params)
    assert response.status == 200
    assert await response.text() == "1158201444"
    assert response.content_type == "text/plain"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": TOKEN[:-1], "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": TOKEN},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {},
    ],
)
async def test_handshake_rejects_bad_requests(make_client: MakeClient, params: dict[str, str]) -> None:
    client = await make_client(WebhookReceiver(SECRET, TOKEN).app)
    response = await client.get("/", params=params)
    assert response.status == 403
    assert "1" not in await response.text()


# --------------------------------------------------------------------------------------------- deliveries


async def test_signed_delivery_reaches_the_handler(make_client: MakeClient) -> None:
    recorder = Recorder()
    receiver = WebhookReceiver(SECRET, TOKEN, recorder)
    client = await make_client(receiver.app)
    body = delivery(created(), deleted("group-9"))
    response = await client.post("/", data=body, headers=signed(body))
    assert response.status == 200
    await receiver.drain()
    assert [type(e) for e in recorder.events] == [GroupCreated, GroupDeleted]
    first = recorder.events[0]
    assert isinstance(first, GroupCreated)
    assert (first.group_id, first.request_id, first.waba_id) == ("group-1", "req-1", "1111")


async def test_sync_handler_is_supported(make_client: MakeClient) -> None:
    seen: list[WebhookEvent] = []
    receiver = WebhookReceiver(SECRET, TOKEN, seen.append)
    client = await make_client(receiver.app)
    body = delivery(created())
    assert (await client.post("/", data=body, headers=signed(body))).status == 200
    await receiver.drain()
    assert len(seen) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {SIGNATURE_HEADER: ""},
        {SIGNATURE_HEADER: "sha256=nothex"},
        {SIGNATURE_HEADER: "sha1=" + "0" * 40},
        {SIGNATURE_HEADER: sign_body(b"other body", SECRET)},
        {SIGNATURE_HEADER: sign_body(delivery(created()), "wrong-secret")},
    ],
)
async def test_bad_signatures_get_403(make_client: MakeClient, headers: dict[str, str]) -> None:
    recorder = Recorder()
    receiver = WebhookReceiver(SECRET, TOKEN, recorder)
    client = await make_client(receiver.app)
    response = await client.post("/", data=delivery(created()), headers=headers)
    assert response.status == 403
    await receiver.drain()
    assert recorder.events == []


@pytest.mark.parametrize("change", ["tamper", "truncate", "reserialise"])
async def test_changed_bodies_get_403(make_client: MakeClient, change: str) -> None:
    recorder = Recorder()
    receiver = WebhookReceiver(SECRET, TOKEN, recorder)
    client = await make_client(receiver.app)
    body = delivery(created())
    headers = signed(body)
    if change == "tamper":
        sent = body.replace(b"group-1", b"group-2")
    elif change == "truncate":
        sent = body[:-5]
    else:
        sent = json.dumps(json.loads(body), indent=2).encode()
    response = await client.post("/", data=sent, headers=headers)
    assert response.status == 403
    await receiver.drain()
    assert recorder.events == []


async def test_signed_garbage_gets_400(make_client: MakeClient) -> None:
    receiver = WebhookReceiver(SECRET, TOKEN, Recorder())
    client = await make_client(receiver.app)
    body = b"this is not json"
    assert (await client.post("/", data=body, headers=signed(body))).status == 400


async def test_duplicates_reach_the_handler_once(make_client: MakeClient) -> None:
    recorder = Recorder()
    receiver = WebhookReceiver(SECRET, TOKEN, recorder)
    client = await make_client(receiver.app)
    body = delivery(created())
    for _ in range(3):
        assert (await client.post("/", data=body, headers=signed(body))).status == 200
    # The same notification re-serialised with another key order, and inside a bigger delivery.
    group = created()
    reordered = delivery(dict(reversed(list(group.items()))), deleted("group-7"))
    assert (await client.post("/", data=reordered, headers=signed(reordered))).status == 200
    await receiver.drain()
    assert [type(e) for e in recorder.events] == [GroupCreated, GroupDeleted]


async def test_dedupe_can_be_turned_off(make_client: MakeClient) -> None:
    recorder = Recorder()
    receiver = WebhookReceiver(SECRET, TOKEN, recorder, dedupe_size=0)
    client = await make_client(receiver.app)
    body = delivery(created())
    for _ in range(2):
        await client.post("/", data=body, headers=signed(body))
    await receiver.drain()
    assert len(recorder.events) == 2


async def test_dedupe_memory_is_bounded(make_client: MakeClient) -> None:
    recorder = Recorder()
    receiver = WebhookReceiver(SECRET, TOKEN, recorder, dedupe_size=2)
    client = await make_client(receiver.app)
    bodies = [delivery(deleted(f"g{i}")) for i in range(3)]
    for body in [*bodies, bodies[0]]:
        await client.post("/", data=body, headers=signed(body))
    await receiver.drain()
    # g0 was forgotten after g1 and g2, so its redelivery counts as new.
    assert [e.group_id for e in recorder.events] == ["g0", "g1", "g2", "g0"]


async def test_handler_exceptions_are_logged_and_answered_200(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str | None] = []

    async def failing(event: WebhookEvent) -> None:
        calls.append(event.group_id)
        raise RuntimeError("handler bug")

    receiver = WebhookReceiver(SECRET, TOKEN, failing)
    client = await make_client(receiver.app)
    with caplog.at_level(logging.ERROR, logger="wa_groups.webhooks"):
        for group_id in ("a", "b"):
            body = delivery(deleted(group_id))
            assert (await client.post("/", data=body, headers=signed(body))).status == 200
        await receiver.drain()
    assert calls == ["a", "b"]
    failures = [r for r in caplog.records if r.name == "wa_groups.webhooks" and r.exc_info]
    assert len(failures) == 2


async def test_sync_handler_exception_gives_200(make_client: MakeClient) -> None:
    def failing(event: WebhookEvent) -> None:
        raise ValueError("boom")

    receiver = WebhookReceiver(SECRET, TOKEN, failing)
    client = await make_client(receiver.app)
    body = delivery(created())
    assert (await client.post("/", data=body, headers=signed(body))).status == 200
    await receiver.drain()


async def test_oversize_body_gets_413(make_client: MakeClient) -> None:
    recorder = Recorder()
    receiver = WebhookReceiver(SECRET, TOKEN, recorder, max_body_bytes=1024)
    client = await make_client(receiver.app)
    body = delivery(*(deleted(f"group-{i}") for i in range(40)))
    assert len(body) > 1024
    response = await client.post("/", data=body, headers=signed(body))
    assert response.status == 413
    assert recorder.events == []


async def test_oversize_streamed_body_without_length_gets_413(make_client: MakeClient) -> None:
    receiver = WebhookReceiver(SECRET, TOKEN, Recorder(), max_body_bytes=1024)
    client = await make_client(receiver.app)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * 512

    response = await client.post("/", data=chunks(), headers={SIGNATURE_HEADER: "sha256=" + "0" * 64})
    assert response.status == 413


async def test_body_at_the_limit_is_accepted(make_client: MakeClient) -> None:
    body = delivery(created())
    receiver = WebhookReceiver(SECRET, TOKEN, Recorder(), max_body_bytes=len(body))
    client = await make_client(receiver.app)
    assert (await client.post("/", data=body, headers=signed(body))).status == 200
    await receiver.drain()


async def test_listeners_get_new_events_before_handlers(make_client: MakeClient) -> None:
    order: list[str] = []
    batches: list[Sequence[WebhookEvent]] = []

    def listener(events: Sequence[WebhookEvent]) -> None:
        batches.append(list(events))
        order.append("listener")

    def broken_listener(events: Sequence[WebhookEvent]) -> None:
        raise RuntimeError("listener bug")

    async def handler(event: WebhookEvent) -> None:
        order.append("handler")

    receiver = WebhookReceiver(SECRET, TOKEN, handler)
    receiver.add_listener(broken_listener)
    receiver.add_listener(listener)
    client = await make_client(receiver.app)
    body = delivery(created())
    for _ in range(2):
        assert (await client.post("/", data=body, headers=signed(body))).status == 200
    await receiver.drain()
    assert order == ["listener", "handler"]
    assert [len(b) for b in batches] == [1]
    receiver.remove_listener(listener)
    receiver.remove_listener(listener)  # removing twice is harmless


async def test_concurrency_is_bounded(make_client: MakeClient) -> None:
    gate = asyncio.Event()
    active = 0
    most = 0

    async def handler(event: WebhookEvent) -> None:
        nonlocal active, most
        active += 1
        most = max(most, active)
        await gate.wait()
        active -= 1

    receiver = WebhookReceiver(SECRET, TOKEN, handler, max_concurrency=2)
    client = await make_client(receiver.app)
    body = delivery(*(deleted(f"g{i}") for i in range(6)))
    assert (await client.post("/", data=body, headers=signed(body))).status == 200
    for _ in range(100):
        if active == 2:
            break
        await asyncio.sleep(0)
    assert active == 2
    # Two handlers run; the other four wait in the inbox, not as tasks in memory.
    assert receiver.pending == 2
    assert await receiver.backlog() == 6
    gate.set()
    await receiver.drain()
    assert most == 2
    assert receiver.pending == 0
    assert await receiver.backlog() == 0


async def test_close_cancels_stuck_handlers_and_refuses_deliveries(make_client: MakeClient) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def stuck(event: WebhookEvent) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    receiver = WebhookReceiver(SECRET, TOKEN, stuck)
    client = await make_client(receiver.app)
    body = delivery(created())
    assert (await client.post("/", data=body, headers=signed(body))).status == 200
    await started.wait()
    await receiver.close(grace=0)
    assert cancelled.is_set()
    assert receiver.pending == 0
    assert receiver.closed
    assert (await client.post("/", data=body, headers=signed(body))).status == 503
    await receiver.close()  # twice is fine


async def test_app_cleanup_closes_the_receiver() -> None:
    receiver = WebhookReceiver(SECRET, TOKEN)
    client: Client = TestClient(TestServer(receiver.app, host="127.0.0.1"))
    await client.start_server()
    await client.close()
    assert receiver.closed


async def test_mounted_as_subapp_and_by_routes(make_client: MakeClient) -> None:
    sub = WebhookReceiver(SECRET, TOKEN)
    direct = WebhookReceiver(SECRET, TOKEN)
    app = web.Application()
    app.add_subapp("/sub", sub.app)
    direct.add_routes(app, "/hooks")
    client = await make_client(app)
    params = {"hub.mode": "subscribe", "hub.verify_token": TOKEN, "hub.challenge": "42"}
    for path in ("/sub/", "/hooks"):
        response = await client.get(path, params=params)
        assert response.status == 200
        assert await response.text() == "42"
    body = delivery(created())
    assert (await client.post("/hooks", data=body, headers=signed(body))).status == 200


async def test_create_webhook_app_and_tracker_wiring(make_client: MakeClient) -> None:
    recorder = Recorder()
    app = create_webhook_app(app_secret=SECRET, verify_token=TOKEN, handler=recorder)
    receiver = app[RECEIVER_KEY]
    tracker = OperationTracker()
    receiver.add_listener(tracker.feed)
    client = await make_client(app)
    body = delivery(created(request_id="req-77", group_id="group-77"))
    assert (await client.post("/", data=body, headers=signed(body))).status == 200
    event = await tracker.wait(request_id="req-77", kind="create", timeout=None)
    assert isinstance(event, GroupCreated) and event.group_id == "group-77"
    await receiver.drain()
    assert recorder.events == [event]


async def test_secrets_stay_out_of_repr_and_logs(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    receiver = WebhookReceiver(SECRET, TOKEN, Recorder())
    assert SECRET not in repr(receiver) and TOKEN not in repr(receiver)
    assert "WebhookReceiver(" in repr(receiver)
    client = await make_client(receiver.app)
    with caplog.at_level(logging.DEBUG):
        await client.get("/", params={"hub.mode": "subscribe", "hub.verify_token": TOKEN, "hub.challenge": "1"})
        await client.get("/", params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
        body = delivery(created())
        await client.post("/", data=body, headers={SIGNATURE_HEADER: sign_body(body, "wrong")})
        await client.post("/", data=body, headers=signed(body))
        await receiver.drain()
    assert SECRET not in caplog.text
    assert sign_body(body, SECRET) not in caplog.text
    assert all(TOKEN not in r.getMessage() for r in caplog.records if r.name.startswith("wa_groups"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"app_secret": "", "verify_token": TOKEN},
        {"app_secret": SECRET, "verify_token": ""},
        {"app_secret": SECRET, "verify_token": TOKEN, "max_body_bytes": 0},
        {"app_secret": SECRET, "verify_token": TOKEN, "max_concurrency": 0},
        {"app_secret": SECRET, "verify_token": TOKEN, "dedupe_size": -1},
    ],
)
def test_bad_configuration_is_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ClientValidationError) as caught:
        WebhookReceiver(**kwargs)
    assert SECRET not in str(caught.value) and TOKEN not in str(caught.value)


# ------------------------------------------------------------------------------------------------- serve


async def test_serve_prints_one_json_line_per_new_event(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(host="127.0.0.1", port=0, app_secret=SECRET, verify_token=TOKEN, out=out, on_ready=ready.set_result)
    )
    try:
        port = await ready
        base = f"http://127.0.0.1:{port}/"
        body = delivery(created(), deleted("group-5"))
        with caplog.at_level(logging.INFO):
            async with aiohttp.ClientSession() as session:
                params = {"hub.mode": "subscribe", "hub.verify_token": TOKEN, "hub.challenge": "7"}
                async with session.get(base, params=params) as response:
                    assert await response.text() == "7"
                for headers in (signed(body), signed(body), {SIGNATURE_HEADER: "sha256=" + "0" * 64}):
                    async with session.post(base, data=body, headers=headers) as response:
                        await response.read()
        assert TOKEN not in caplog.text
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["GroupCreated", "GroupDeleted"]
    first = json.loads(lines[0])
    assert first["group_id"] == "group-1"
    assert first["timestamp"] == "2025-06-18T17:55:42+00:00"
    assert "raw" not in first


# ------------------------------------------------------------------------------------------------ limits
# Raw sockets on 127.0.0.1 play the misbehaving senders; every loop is bounded in count and in time.


async def raw_connection(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)


def request_head(length: int, signature: str | None = "sha256=" + "0" * 64, path: str = "/") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}", "Content-Type: application/json"]
    if signature is not None:
        lines.append(f"{SIGNATURE_HEADER}: {signature}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def status_of(reader: asyncio.StreamReader, timeout: float = 5.0) -> int | None:
    """Return the status of the answer on ``reader``, or ``None`` when the connection closed without one."""
    try:
        line = await asyncio.wait_for(reader.readline(), timeout)
    except (ConnectionError, asyncio.IncompleteReadError):
        return None
    return int(line.split()[1]) if line.startswith(b"HTTP/1.1 ") else None


async def closed_within(reader: asyncio.StreamReader, timeout: float) -> bool:
    try:
        while await asyncio.wait_for(reader.read(65536), timeout):
            pass
    except asyncio.TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


def small_limits(**changes: Any) -> ReceiverLimits:
    defaults: dict[str, Any] = {
        "max_body_bytes": 64 * 1024,
        "max_unverified_bytes": 128 * 1024,
        "max_connections": 20,
        "header_timeout": 0.5,
        "body_timeout": 0.5,
        "shutdown_timeout": 0.5,
    }
    return ReceiverLimits(**{**defaults, **changes})


async def test_unsigned_body_is_refused_before_it_is_read() -> None:
    receiver = WebhookReceiver(SECRET, TOKEN, limits=small_limits(body_timeout=30))
    async with receiver.listen("127.0.0.1", 0) as server:
        reader, writer = await raw_connection(server.port)
        writer.write(request_head(60 * 1024, signature=None))  # no body follows
        await writer.drain()
        assert await status_of(reader, timeout=2) == 403
        writer.close()


async def test_slow_body_gets_408() -> None:
    receiver = WebhookReceiver(SECRET, TOKEN, limits=small_limits(body_timeout=0.3))
    async with receiver.listen("127.0.0.1", 0) as server:
        reader, writer = await raw_connection(server.port)
        writer.write(request_head(1000) + b"{")
        await writer.drain()
        assert await status_of(reader, timeout=3) == 408
        writer.close()


async def test_unverified_bytes_in_flight_are_bounded() -> None:
    limits = small_limits(max_body_bytes=64 * 1024, max_unverified_bytes=128 * 1024, body_timeout=5)
    receiver = WebhookReceiver(SECRET, TOKEN, Recorder(), limits=limits)
    async with receiver.listen("127.0.0.1", 0) as server:
        stalled = []
        for _ in range(2):  # two 64 KiB bodies take the whole budget, then stall
            reader, writer = await raw_connection(server.port)
            writer.write(request_head(64 * 1024) + b"x" * 1024)
            await writer.drain()
            stalled.append((reader, writer))
        await asyncio.sleep(0.1)
        reader, writer = await raw_connection(server.port)
        writer.write(request_head(1024))
        await writer.drain()
        assert await status_of(reader, timeout=2) == 503  # a third is refused at once, not queued
        writer.close()
        for _, stalled_writer in stalled:
            stalled_writer.close()
        await asyncio.sleep(0.1)
        # Once the stalled bodies are gone, the budget is free again.
        body = delivery(created())
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{server.port}/"
            async with session.post(url, data=body, headers=signed(body)) as response:
                assert response.status == 200


async def test_connection_limit_closes_extra_connections_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    receiver = WebhookReceiver(SECRET, TOKEN, limits=small_limits(max_connections=10, header_timeout=0.6))
    with caplog.at_level(logging.DEBUG):
        async with receiver.listen("127.0.0.1", 0) as server:
            connections = []
            for _ in range(25):  # slow senders: a request line and never the rest of the headers
                reader, writer = await raw_connection(server.port)
                writer.write(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                connections.append((reader, writer))
            await asyncio.sleep(0.2)
            assert server.connections <= 10
            # Each new one made room by closing the one that had waited longest for its request head.
            assert server.evicted >= 15
            # The extra ones were closed at once; the slow ones within the header timeout.
            results = await asyncio.gather(*(closed_within(r, 3.0) for r, _ in connections))
            assert all(results)
            for _, writer in connections:
                writer.close()
            await asyncio.sleep(0.1)
            params = {"hub.mode": "subscribe", "hub.verify_token": TOKEN, "hub.challenge": "5"}
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{server.port}/", params=params) as response,
            ):
                assert await response.text() == "5"
    limit_lines = [r for r in caplog.records if "connections open, the limit" in r.getMessage()]
    assert len(limit_lines) == 1
    assert not any(r.exc_info for r in caplog.records)


async def test_shutdown_is_quick_with_stalled_senders_and_stuck_handlers() -> None:
    started = asyncio.Event()

    async def stuck(event: WebhookEvent) -> None:
        started.set()
        await asyncio.Event().wait()

    limits = small_limits(shutdown_timeout=0.5, body_timeout=60, header_timeout=60)
    receiver = WebhookReceiver(SECRET, TOKEN, stuck, limits=limits)
    server = receiver.listen("127.0.0.1", 0)
    await server.start()
    body = delivery(created())
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{server.port}/"
        async with session.post(url, data=body, headers=signed(body)) as response:
            assert response.status == 200
    await asyncio.wait_for(started.wait(), 5)
    _reader, writer = await raw_connection(server.port)
    writer.write(request_head(1000) + b"{")  # a body that never ends
    _idle_reader, idle_writer = await raw_connection(server.port)  # a connection that never sends anything
    began = asyncio.get_running_loop().time()
    await server.stop()
    assert asyncio.get_running_loop().time() - began < 3.0
    assert receiver.closed and receiver.pending == 0
    writer.close()
    idle_writer.close()


async def test_verify_token_stays_out_of_aiohttp_logs(caplog: pytest.LogCaptureFixture) -> None:
    receiver = WebhookReceiver(SECRET, TOKEN)
    with caplog.at_level(logging.DEBUG):
        async with receiver.listen("127.0.0.1", 0) as server:
            for request in (
                f"GET /?hub.mode=subscribe&hub.verify_token={TOKEN}&hub.challenge=1 HTTP/1.1\r\nHost: x\r\n"
                "Content-Length: nope\r\n\r\n",
                f"GET /?hub.verify_token={TOKEN} HTTP/9.9\r\n\r\n",
                f"GET /?hub.verify_token={TOKEN}&\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
            ):
                reader, writer = await raw_connection(server.port)
                writer.write(request.encode())
                await writer.drain()
                await status_of(reader, timeout=2)
                writer.close()
            params = {"hub.mode": "subscribe", "hub.verify_token": TOKEN, "hub.challenge": "1"}
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{server.port}/", params=params) as response,
            ):
                assert response.status == 200
    assert TOKEN not in caplog.text
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in (record.exc_text or "")


def test_bad_limits_are_rejected() -> None:
    for changes in (
        {"max_body_bytes": 0},
        {"max_connections": 0},
        {"header_timeout": 0},
        {"body_timeout": -1},
        {"shutdown_timeout": -1},
        {"max_body_bytes": 10, "max_unverified_bytes": 5},
    ):
        with pytest.raises(ClientValidationError):
            ReceiverLimits(**changes)


CHILD_RECEIVER = """
import asyncio, logging, resource, signal, sys
soft = int(sys.argv[1])
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
from wa_groups.webhooks import WebhookReceiver

async def main():
    receiver = WebhookReceiver(sys.argv[2], sys.argv[3], lambda event: None)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with receiver.listen("127.0.0.1", 0) as server:
        print(server.port, server.max_connections, flush=True)
        await stop.wait()
    print(server.refused, server.evicted, receiver._budget.evicted, flush=True)

asyncio.run(main())
"""

#: The attack of the issue's "done when": stalled 4 MiB unsigned bodies and slow connections, at once.
STALLED_BODIES = 300
SLOW_CONNECTIONS = 1100
CHILD_OPEN_FILES = 1024
#: How long each attacking connection holds on (unless the receiver closes it first).
ATTACK_HOLD = 4.0


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc")


def raise_open_file_limit(wanted: int) -> None:
    """Let this process hold ``wanted`` descriptors (the attackers' sockets), within the hard limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if target < wanted:
            pytest.skip(f"the open-file hard limit ({hard}) is too low for {wanted} client sockets")
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def stalled_sender(port: int, size: int, signature: str | None, hold: float) -> None:
    """Declare ``size`` bytes (with a wrong signature, or none), send all but one byte, then stall."""
    writer = None
    try:
        reader, writer = await raw_connection(port)
        writer.write(request_head(size, signature=signature))
        sent, piece = 0, b"x" * (256 * 1024)
        while sent < size - 1:
            chunk = piece[: size - 1 - sent]
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), hold)
            sent += len(chunk)
        await closed_within(reader, hold)
    except (ConnectionError, asyncio.TimeoutError):
        pass
    finally:
        if writer is not None:
            writer.close()


async def slow_sender(port: int, hold: float, after: float = 0.0) -> None:
    """Send a request line and one header, then nothing, until the receiver closes or ``hold`` runs out."""
    writer = None
    try:
        await asyncio.sleep(after)
        reader, writer = await raw_connection(port)
        writer.write(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        await writer.drain()
        await closed_within(reader, hold)
    except (ConnectionError, asyncio.TimeoutError):
        pass
    finally:
        if writer is not None:
            writer.close()


#: Meta, in a process of its own (the attackers' client must not slow it down): sends ``count`` signed
#: deliveries, each on a new connection, one every ``spacing`` seconds, and prints each one's status and time.
SIGNED_SENDER = """
import asyncio, json, sys, time
import aiohttp
from wa_groups.webhooks import SIGNATURE_HEADER, sign_body

port, secret, count, spacing = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])

async def main():
    print("ready", flush=True)
    sys.stdin.readline()
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True), timeout=timeout) as session:
        for index in range(count):
            await asyncio.sleep(spacing)
            group = {"timestamp": "1750269342", "group_id": f"attack-time-{index}", "type": "group_delete",
                     "request_id": f"del-{index}"}
            value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "2222"}, "groups": [group]}
            change = {"field": "group_lifecycle_update", "value": value}
            body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]})
            headers = {SIGNATURE_HEADER: sign_body(body.encode(), secret), "Content-Type": "application/json"}
            began = time.monotonic()
            try:
                async with session.post(f"http://127.0.0.1:{port}/", data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                status = type(error).__name__
            print(json.dumps([status, time.monotonic() - began]), flush=True)

asyncio.run(main())
"""


async def signed_deliveries(sender: asyncio.subprocess.Process, count: int) -> list[tuple[int | str, float]]:
    assert sender.stdin is not None and sender.stdout is not None
    sender.stdin.write(b"go\n")
    await sender.stdin.drain()
    answers = []
    for _ in range(count):
        status, seconds = json.loads(await sender.stdout.readline())
        answers.append((status, float(seconds)))
    return answers


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the child's peak memory from /proc")
async def test_receiver_stays_small_and_quiet_under_unsigned_traffic(tmp_path: Path) -> None:
    """The issue's attack at its scale: 300 stalled 4 MiB bodies (wrong signature or none) and 1,100 slow
    connections against a 1,024 open-file limit, with real deliveries sent meanwhile."""
    raise_open_file_limit(STALLED_BODIES + SLOW_CONNECTIONS + 256)
    stderr_path = tmp_path / "stderr.txt"
    loop = asyncio.get_running_loop()
    with stderr_path.open("wb") as stderr:
        child = await asyncio.create_subprocess_exec(
            *(sys.executable, "-c", CHILD_RECEIVER, str(CHILD_OPEN_FILES), SECRET, TOKEN),
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    shutdown = None
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 20)
        port, max_connections = map(int, line.split())
        assert max_connections == 256  # the default, already under 1024 - 64 - 200
        baseline = peak_rss_kib(child.pid)
        sender = await asyncio.create_subprocess_exec(
            *(sys.executable, "-c", SIGNED_SENDER, str(port), SECRET, "8", "0.3"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert sender.stdout is not None
        assert await asyncio.wait_for(sender.stdout.readline(), 20) == b"ready\n"
        wrong = sign_body(b"not the body", SECRET)
        attack = asyncio.gather(
            *(
                stalled_sender(port, DEFAULT_MAX_BODY_BYTES, wrong if i % 3 else None, ATTACK_HOLD)
                for i in range(STALLED_BODIES)
            ),
            # Once the bodies are under way (the receiver would close their connections first otherwise: a
            # connection still waiting for its request gives way to new ones at the connection limit).
            *(slow_sender(port, ATTACK_HOLD, after=0.3) for _ in range(SLOW_CONNECTIONS)),
        )
        answers = await asyncio.wait_for(signed_deliveries(sender, 8), 30)
        await asyncio.wait_for(sender.wait(), 10)
        peak = peak_rss_kib(child.pid)
        # Stopped while the attackers still hold their connections and stalled bodies.
        began = loop.time()
        child.terminate()
        refused, evicted, bodies_evicted = map(int, (await asyncio.wait_for(child.stdout.readline(), 15)).split())
        await asyncio.wait_for(child.wait(), 15)
        shutdown = loop.time() - began
        await asyncio.wait_for(attack, 30)
    finally:
        for process in (child, locals().get("sender")):
            if isinstance(process, asyncio.subprocess.Process) and process.returncode is None:
                process.kill()
                await process.wait()
    errors = stderr_path.read_text()
    slowest = max(seconds for _, seconds in answers)
    print(
        f"child peak RSS: {baseline / 1024:.1f} MiB idle, {peak / 1024:.1f} MiB under attack; "
        f"signed deliveries: {answers}; slowest {slowest:.2f}s; shutdown {shutdown:.2f}s; connections refused "
        f"{refused}, closed for room {evicted}; bodies stopped for room {bodies_evicted}; "
        f"403 unsigned {errors.count('no well-formed signature')}, 403 wrong {errors.count('does not match the body')}"
    )
    assert [status for status, _ in answers] == [200] * len(answers), answers
    assert slowest < 5.0, answers
    assert peak < 150 * 1024, f"peak RSS {peak / 1024:.1f} MiB"
    assert shutdown < 5.0
    assert "Traceback" not in errors, errors[-3000:]
    assert "out of system resource" not in errors
    assert 1 <= errors.count("connections open, the limit") <= 5
    # The attack reached the receiver: unsigned bodies refused unread, connections over the limit closed.
    assert errors.count("no well-formed signature") >= 1
    assert refused + evicted >= SLOW_CONNECTIONS // 2


def test_budget_makes_room_by_stopping_stalled_old_or_bigger_bodies() -> None:
    from wa_groups.webhooks.limits import SMALL_BODY, Budget

    now = [0.0]
    stopped: list[str] = []
    budget = Budget(4 * SMALL_BODY, clock=lambda: now[0])
    big = budget.hold(lambda: stopped.append("big"))
    assert budget.take(big, 3 * SMALL_BODY)
    other = budget.hold(lambda: stopped.append("other"))
    assert not budget.take(other, 2 * SMALL_BODY)  # the big body is young and moving: the newcomer waits its turn
    assert stopped == [] and budget.used == 3 * SMALL_BODY
    small = budget.hold(lambda: stopped.append("small"))
    assert budget.take(small, SMALL_BODY)  # fits without stopping anything
    tiny = budget.hold(lambda: stopped.append("tiny"))
    assert budget.take(tiny, 1024)  # a small delivery may stop a bigger body, however young
    assert stopped == ["big"] and budget.used == SMALL_BODY + 1024
    now[0] += 0.3  # the small body got nothing for a while: stalled, it gives way to a bigger newcomer
    budget.progress(tiny)
    assert budget.take(other, 3 * SMALL_BODY)
    assert stopped == ["big", "small"] and budget.evicted == 2
    for hold in (big, other, small, tiny, tiny):
        budget.release(hold)
    assert budget.used == 0
