"""A server that does not behave like Graph: oversized, endless or compressed-bomb answers, redirects, deep JSON.

Each case is a small ``aiohttp.web`` app on 127.0.0.1; the client must end every one with a ``WAGroupsError``
(never a ``RecursionError``, never gigabytes in memory, never a request sent to where a redirect points).
"""

from __future__ import annotations

import json
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager

import pytest
from aiohttp import web
from conftest import SleepRecorder
from conftest import serving as serving_any

from wa_groups import GroupsClient, InvalidRequestError, ResponseError, RetryPolicy, WAGroupsError
from wa_groups._core.transport import DEFAULT_MAX_ANSWER_BYTES, Transport
from wa_groups._graph import decode

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def serving(handler: Handler, seen: list[str]) -> AbstractAsyncContextManager[str]:
    """Serve ``handler`` on 127.0.0.1, recording each request as ``METHOD path``."""
    return serving_any(handler, seen, lambda request: f"{request.method} {request.path}")


#: What a hostile answer may cost the client at most (the issue's bound; the answer limit is 8 MiB).
MEMORY_BOUND = 100 * 1024 * 1024


@contextmanager
def memory_bounded() -> Iterator[None]:
    """Fail when the Python allocations made inside the block peak above :data:`MEMORY_BOUND`."""
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"peak {peak / 2**20:.0f} MiB"


def make_client(url: str, sleeps: SleepRecorder) -> GroupsClient:
    return GroupsClient("TOKEN-hostile-1", base_url=url, retry=RetryPolicy(max_attempts=2, sleep=sleeps))


def gzip_bomb(decoded_bytes: int) -> bytes:
    """Return a gzip body that decompresses to ``decoded_bytes`` zeros (about a thousandth of that on the wire)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"0" * (1024 * 1024)
    parts = [compressor.compress(block) for _ in range(decoded_bytes // len(block))]
    parts.append(compressor.flush())
    return b"".join(parts)


async def test_a_gzip_bomb_stops_at_the_answer_limit(sleeps: SleepRecorder) -> None:
    bomb = gzip_bomb(4 * DEFAULT_MAX_ANSWER_BYTES)
    assert len(bomb) < DEFAULT_MAX_ANSWER_BYTES // 100

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    async with serving(answer, []) as url, make_client(url, sleeps) as client:
        with memory_bounded(), pytest.raises(ResponseError, match="larger than"):
            await client.get_group("G1")


async def test_an_endless_chunked_body_stops_at_the_answer_limit(sleeps: SleepRecorder) -> None:
    written = [0]

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b"[" * 65536
        try:
            for _ in range(100_000):  # "endless": far beyond any limit, but bounded for the test's sake
                await response.write(chunk)
                written[0] += len(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up, as it should
        return response

    async with serving(answer, []) as url, make_client(url, sleeps) as client:
        with memory_bounded(), pytest.raises(ResponseError, match="larger than"):
            await client.get_group("G1")
    assert written[0] < 100_000 * 65536


async def test_an_announced_oversized_body_is_not_read(sleeps: SleepRecorder) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b" " * (DEFAULT_MAX_ANSWER_BYTES + 1), content_type="application/json")

    async with serving(answer, []) as url, make_client(url, sleeps) as client:
        with pytest.raises(ResponseError, match="larger than") as info:
            await client.get_group("G1")
    assert info.value.http_status == 200


def test_the_answer_limit_is_an_option() -> None:
    transport = Transport(api_root="http://127.0.0.1:1", authorization="Bearer x", decode=decode.decode_response)
    assert transport.max_answer_bytes == DEFAULT_MAX_ANSWER_BYTES
    with pytest.raises(WAGroupsError):
        Transport(
            api_root="http://127.0.0.1:1", authorization="Bearer x", decode=decode.decode_response, max_answer_bytes=0
        )


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_redirects_are_never_followed(sleeps: SleepRecorder, status: int, method: str) -> None:
    seen: list[str] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/elsewhere"):
            return web.json_response({"id": "G1", "messaging_product": "whatsapp", "success": True})
        return web.Response(status=status, headers={"Location": "/elsewhere?secret=LOCATION-SECRET"})

    async with serving(answer, seen) as url, make_client(url, sleeps) as client:
        with pytest.raises(ResponseError) as info:
            if method == "GET":
                await client.get_group("G1")
            else:
                await client.update_group("G1", subject="New subject")
    text = str(info.value)
    assert str(status) in text and "does not redirect" in text
    assert "LOCATION-SECRET" not in text and "elsewhere" not in text
    assert not any("/elsewhere" in entry for entry in seen)
    assert len(seen) == 1, "a refused redirect is not retried"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [100, 900, 100_000])
async def test_deeply_nested_error_data_is_an_api_error(sleeps: SleepRecorder, depth: int) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        body = {"error": {"message": "bad", "code": 100, "error_data": nested(depth)}}
        return web.json_response(body, status=400)

    async with serving(answer, []) as url, make_client(url, sleeps) as client:
        with pytest.raises(InvalidRequestError) as info:
            await client.get_group("G1")
    error = info.value
    assert len(str(error)) < 1000
    repr(error)
    json.dumps(error.raw)


@pytest.mark.parametrize("depth", [500, 100_000])
async def test_a_deeply_nested_answer_is_a_response_error(sleeps: SleepRecorder, depth: int) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        text = '{"error": {"code": 100, "message": "deep", "x": ' + nested(depth) + "}}"
        return web.Response(text=text, status=400, content_type="application/json")

    async with serving(answer, []) as url, make_client(url, sleeps) as client:
        with pytest.raises(WAGroupsError) as info:
            await client.get_group("G1")
    error = info.value
    str(error)
    repr(error)
    json.dumps(getattr(error, "raw", {}))  # a deep raw object is cut, never kept whole


async def test_a_usage_header_nested_deep_does_not_escape(sleeps: SleepRecorder) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        body = {"error": {"message": "slow down", "code": 80007}}
        headers = {"X-Business-Use-Case-Usage": nested(3000)}
        return web.json_response(body, status=400, headers=headers)

    async with serving(answer, []) as url:
        client = GroupsClient("TOKEN-hostile-1", base_url=url, retry=RetryPolicy(max_attempts=1, sleep=sleeps))
        async with client:
            with pytest.raises(WAGroupsError):
                await client.get_group("G1")


@pytest.mark.parametrize("items", [1025, 20_000])
async def test_a_page_longer_than_graph_allows_is_refused(sleeps: SleepRecorder, items: int) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        data = [{"join_request_id": str(i), "wa_id": "1", "creation_timestamp": 1} for i in range(items)]
        return web.json_response({"data": data})

    async with serving(answer, []) as url, make_client(url, sleeps) as client:
        with pytest.raises(ResponseError, match="1024"):
            async for _ in client.iter_join_requests("G1"):
                pass


async def test_a_page_of_a_million_items_is_refused_in_bounded_memory(sleeps: SleepRecorder) -> None:
    item = b'{"join_request_id": "J", "wa_id": "1", "creation_timestamp": 1},'

    async def answer(request: web.Request) -> web.StreamResponse:
        # Streamed, so that the server itself never holds the page: 10**6 items, about 65 MB.
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            await response.write(b'{"data": [')
            for _ in range(1000):
                await response.write(item * 1000)
            await response.write(b'{"join_request_id": "last"}]}')
        except (ConnectionError, RuntimeError):
            pass  # the client hung up, as it should
        return response

    async with serving(answer, []) as url, make_client(url, sleeps) as client:
        with memory_bounded(), pytest.raises(ResponseError):
            async for _ in client.iter_join_requests("G1"):
                pass


async def test_nan_ids_never_become_text(sleeps: SleepRecorder) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        text = '{"data": [{"join_request_id": NaN, "wa_id": Infinity, "creation_timestamp": 1}]}'
        return web.Response(text=text, content_type="application/json")

    async with serving(answer, []) as url, make_client(url, sleeps) as client:
        with pytest.raises(ResponseError):  # a join request without an id is not Graph's answer
            [r async for r in client.iter_join_requests("G1")]
    approved = decode.decode_join_requests_result(
        json.loads('{"approved_join_requests": [NaN, 1e999, "r1"]}'), "approve_join_requests"
    )
    assert approved.succeeded == ("r1",)


@pytest.mark.parametrize("body", [b"\xff\xfe{", b'{"data": [1, 2', b"\x00" * 10])
async def test_any_undecodable_answer_is_a_library_error(sleeps: SleepRecorder, body: bytes) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    async with serving(answer, []) as url, make_client(url, sleeps) as client:
        with pytest.raises(WAGroupsError):
            await client.get_group("G1")
