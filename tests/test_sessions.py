"""HTTP session lifecycle: no "Unclosed client session" / "Unclosed connector" on any path.

Every test runs under :class:`LeakDetector`: it records unraisable exceptions (a ``ResourceWarning`` raised as an
error inside ``__del__`` under ``filterwarnings=error``), asyncio's "Unclosed ..." reports, and, after the test and
its event loop have finished, ``gc.collect()`` with ``ResourceWarning`` recorded; any finding fails the test.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from wa_groups import GroupsClient, RetryPolicy
from wa_groups.errors import NotFoundError, ResponseError, TransportError, WAGroupsError
from wa_groups.testing import FakeGraphAPI, Fault


class LeakDetector(logging.Handler):
    """Collects evidence of HTTP sessions, connectors or connections that were never closed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.findings: list[str] = []

    def unraisable(self, info: Any) -> None:
        self.findings.append(f"unraisable {type(info.exc_value).__name__}: {info.exc_value}")

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "Unclosed" in message or "unclosed" in message:
            self.findings.append(f"asyncio: {message}")

    def collect(self) -> list[str]:
        """Run the garbage collector, recording ResourceWarnings; return every finding so far."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(2):
                gc.collect()
        self.findings += [
            f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, ResourceWarning)
        ]
        return list(self.findings)

    def clear(self) -> None:
        self.findings.clear()


@pytest.fixture(autouse=True)
def leaks(monkeypatch: pytest.MonkeyPatch) -> Iterator[LeakDetector]:
    with warnings.catch_warnings():  # garbage of earlier tests is not this test's business
        warnings.simplefilter("ignore")
        gc.collect()
    detector = LeakDetector()
    monkeypatch.setattr(sys, "unraisablehook", detector.unraisable)
    asyncio_logger = logging.getLogger("asyncio")
    asyncio_logger.addHandler(detector)
    try:
        yield detector
        # Torn down after the test's event loop is closed: whatever was left open is garbage by now.
        assert detector.collect() == []
    finally:
        asyncio_logger.removeHandler(detector)


def test_the_detector_sees_an_unclosed_session(leaks: LeakDetector) -> None:
    async def leak() -> None:
        session = aiohttp.ClientSession()
        assert not session.closed

    asyncio.run(leak())
    findings = leaks.collect()
    assert any("Unclosed client session" in finding for finding in findings), findings
    leaks.clear()


# -------------------------------------------------------------------------------------------------- use


async def test_normal_use(fake: FakeGraphAPI, policy: RetryPolicy) -> None:
    gid = fake.add_group("Normal")
    async with fake.client(retry=policy) as client:
        assert (await client.get_group(gid)).id == gid
        assert [g.id async for g in client.iter_groups()] == [gid]
    assert client.closed


@pytest.mark.parametrize("raised", [RuntimeError("boom"), KeyboardInterrupt()], ids=["error", "keyboard-interrupt"])
async def test_an_exception_inside_async_with_closes_the_session(
    fake: FakeGraphAPI, policy: RetryPolicy, raised: BaseException
) -> None:
    gid = fake.add_group("Boom")
    with pytest.raises(type(raised)):
        async with fake.client(retry=policy) as client:
            await client.get_group(gid)
            raise raised
    assert client.closed


async def test_a_library_error_inside_async_with_closes_the_session(fake: FakeGraphAPI, policy: RetryPolicy) -> None:
    with pytest.raises(NotFoundError):
        async with fake.client(retry=policy) as client:
            await client.get_group("no-such-group")
    assert client.closed


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("failure", ["refused", "dropped", "timeout", "malformed"])
async def test_failed_requests_leave_nothing_open(fake: FakeGraphAPI, policy: RetryPolicy, failure: str) -> None:
    gid = fake.add_group("Failing")
    options: dict[str, Any] = {"retry": RetryPolicy(max_attempts=2, sleep=policy.sleep)}
    base_url = fake.base_url
    expected: type[WAGroupsError] = TransportError
    if failure == "refused":
        base_url = f"http://127.0.0.1:{closed_port()}"
    elif failure == "dropped":
        fake.add_fault(Fault(drop=True, times=None))
    elif failure == "timeout":
        fake.add_fault(Fault(status=200, latency=1.0, times=None))
        options["timeout"] = 0.05
    else:
        fake.add_fault(Fault(status=502, malformed=True, times=None))
        expected = ResponseError
    async with GroupsClient(fake.access_token, base_url=base_url, **options) as client:
        with pytest.raises(expected):
            await client.get_group(gid)
        with pytest.raises(expected):
            await client.delete_group(gid)
    assert client.closed


async def test_cancelling_the_task_that_owns_the_client_mid_request(fake: FakeGraphAPI) -> None:
    gid = fake.add_group("Cancelled")
    fake.add_fault(Fault(status=200, latency=30.0, times=1))  # the fake wakes it early when it closes
    clients: list[GroupsClient] = []

    async def job() -> None:
        async with fake.client() as client:
            clients.append(client)
            await client.get_group(gid)

    task = asyncio.create_task(job())
    for _ in range(100_000):  # until the request is on the server (no clock involved)
        if fake.stats.in_flight:
            break
        await asyncio.sleep(0)
    assert fake.stats.in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clients[0].closed
    with pytest.raises(WAGroupsError, match="closed"):
        await clients[0].get_group(gid)


async def test_cancelling_many_calls_in_flight(fake: FakeGraphAPI) -> None:
    gid = fake.add_group("Many")
    fake.add_fault(Fault(status=200, latency=30.0, times=None))
    async with fake.client(max_connections=4) as client:
        tasks = [asyncio.create_task(client.get_group(gid)) for _ in range(10)]
        for _ in range(100_000):
            if fake.stats.in_flight == 4:
                break
            await asyncio.sleep(0)
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(result, asyncio.CancelledError) for result in results)
    assert client.closed


# --------------------------------------------------------------------------------------------- event loops


def test_a_client_closed_in_one_loop_says_closed_in_another() -> None:
    clients: list[GroupsClient] = []

    async def first() -> None:
        async with FakeGraphAPI() as fake, fake.client() as client:
            clients.append(client)
            await client.get_group(fake.add_group("First loop"))

    async def second() -> None:
        with pytest.raises(WAGroupsError, match="closed"):
            await asyncio.wait_for(clients[0].get_group("G1"), 10)  # a hang would be a failure, not a wait

    asyncio.run(first())
    assert clients[0].closed
    asyncio.run(second())


def test_a_client_still_open_from_another_loop_is_refused_clearly() -> None:
    clients: list[GroupsClient] = []

    async def first() -> None:
        async with FakeGraphAPI() as fake:
            client = fake.client()
            clients.append(client)
            await client.get_group(fake.add_group("First loop"))  # binds the client's session to this loop

    async def second() -> None:
        client = clients[0]
        with pytest.raises(WAGroupsError, match="another event loop"):
            await asyncio.wait_for(client.get_group("G1"), 10)
        await asyncio.wait_for(client.close(), 10)  # closing from here must neither hang nor warn
        assert client.closed

    asyncio.run(first())
    asyncio.run(second())


def test_a_never_used_client_made_outside_any_loop_works_in_asyncio_run() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    seen: list[str] = []

    # Made before any event loop exists: the constructor must not need (or warn about) one.
    client = GroupsClient("token", phone_number_id="1", base_url=f"http://127.0.0.1:{port}")

    async def group(request: web.Request) -> web.Response:
        seen.append(request.headers["Authorization"])
        return web.json_response({"id": request.match_info["gid"], "messaging_product": "whatsapp"})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/v23.0/{gid}", group)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.SockSite(runner, listener).start()
            async with client:
                assert (await client.get_group("G1")).id == "G1"
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    finally:
        listener.close()
    assert seen == ["Bearer token"] and client.closed


def test_plain_with_is_refused_outside_any_loop() -> None:
    client = GroupsClient("token", phone_number_id="1")
    with pytest.raises(TypeError, match="async with"), client:
        pass
    assert not client.closed  # nothing was opened, so there is nothing to close


# ----------------------------------------------------------------------------------------------- sessions


async def test_an_external_session_is_left_open_and_usable(fake: FakeGraphAPI, policy: RetryPolicy) -> None:
    gid = fake.add_group("Shared")
    async with aiohttp.ClientSession() as session:
        async with fake.client(session=session, retry=policy) as client:
            await client.get_group(gid)
        assert client.closed and not session.closed
        with pytest.raises(WAGroupsError, match="closed"):
            await client.get_group(gid)
        with pytest.raises(RuntimeError, match="inside"):
            async with fake.client(session=session, retry=policy) as again:
                await again.get_group(gid)
                raise RuntimeError("inside")
        assert again.closed and not session.closed
        headers = {"Authorization": f"Bearer {fake.access_token}"}
        async with session.get(f"{fake.base_url}/v23.0/{gid}", headers=headers) as response:
            assert response.status == 200
    assert session.closed


@pytest.mark.parametrize("limit", [2, 5])
async def test_max_connections_is_respected(policy: RetryPolicy, limit: int) -> None:
    async with FakeGraphAPI(latency=0.01) as fake:
        gid = fake.add_group("Busy")
        async with fake.client(max_connections=limit, retry=policy) as client:
            results = await asyncio.gather(*(client.get_group(gid) for _ in range(50)))
        assert [info.id for info in results] == [gid] * 50
        assert fake.stats.requests == 50
        assert 2 <= fake.stats.max_in_flight <= limit


async def test_close_twice_and_concurrently(fake: FakeGraphAPI) -> None:
    never_used = fake.client()
    await never_used.close()
    await never_used.close()
    assert never_used.closed
    with pytest.raises(WAGroupsError, match="closed"):
        await never_used.get_group("G1")

    used = fake.client()
    await used.get_group(fake.add_group("Used"))
    await asyncio.gather(used.close(), used.close(), used.close())
    await used.close()
    assert used.closed
    async with used:  # entering a closed client is harmless; using it is refused
        with pytest.raises(WAGroupsError, match="closed"):
            await used.get_invite_link("G1")
