"""6. Webhook intake: signed events accepted per second on loopback, by inbox.

A ``WebhookReceiver`` served by ``receiver.listen`` on 127.0.0.1 takes a burst of signed deliveries (several
group notifications each) from one aiohttp session with 16 connections; its handler does nothing. The figure
is events answered 200 per second of wall time, over the whole burst: reading, signature check, decoding, the
inbox's durable write before the answer, and the handlers draining the inbox alongside, all on one core of the
one event loop (plus SQLite's worker thread, or a local ``redis-server``).

The baseline is the ``MemoryInbox`` (nothing written anywhere): the ratio says what durability costs. SQLite
runs with ``synchronous=FULL`` (an fsync per delivery) and ``NORMAL``; Redis, when ``redis-server`` is
installed, runs in a temporary directory with ``appendonly yes`` and ``appendfsync everysec``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

from wa_groups.webhooks import (
    SIGNATURE_HEADER,
    Inbox,
    MemoryInbox,
    RedisInbox,
    SqliteInbox,
    WebhookEvent,
    WebhookReceiver,
    sign_body,
)

from ._common import Sizes, result, row, summary

NAME = "webhooks"
TITLE = "6. Webhook intake: signed events accepted per second"
SECRET = "bench-app-secret"
TOKEN = "bench-verify-token"
PER_DELIVERY = 10
CONNECTIONS = 16


def _events(sizes: Sizes) -> tuple[int, int]:
    """Events per burst and bursts per inbox, from the size label (the shared sizes have no webhook field)."""
    return {"full": (20_000, 3), "quick": (4_000, 2), "tiny": (100, 1)}.get(sizes.label, (4_000, 2))


def _bodies(count: int, salt: str) -> list[bytes]:
    bodies = []
    for start in range(0, count, PER_DELIVERY):
        groups = [
            {"timestamp": "1750269342", "group_id": f"{salt}-{i}", "type": "group_delete", "request_id": f"r-{i}"}
            for i in range(start, min(count, start + PER_DELIVERY))
        ]
        value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "2222"}, "groups": groups}
        change = {"field": "group_lifecycle_update", "value": value}
        bodies.append(json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}))
    return [body.encode() for body in bodies]


async def _burst(inbox: Inbox, count: int, salt: str) -> float:
    """Return the events per second a receiver on ``inbox`` answered 200 over one burst."""
    handled = 0

    def handler(event: WebhookEvent) -> None:
        nonlocal handled
        handled += 1

    bodies = _bodies(count, salt)
    receiver = WebhookReceiver(SECRET, TOKEN, handler, inbox=inbox, max_concurrency=16)
    async with receiver.listen("127.0.0.1", 0) as server:
        url = f"http://127.0.0.1:{server.port}/"
        queue = list(reversed(bodies))
        accepted = 0
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONNECTIONS)) as session:

            async def sender() -> None:
                nonlocal accepted
                while queue:
                    body = queue.pop()
                    headers = {SIGNATURE_HEADER: sign_body(body, SECRET), "Content-Type": "application/json"}
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        if response.status == 200:
                            accepted += body.count(b'"group_id"')

            began = time.perf_counter()
            await asyncio.gather(*(sender() for _ in range(CONNECTIONS)))
            elapsed = time.perf_counter() - began
        await receiver.drain()
    if accepted != count:
        raise RuntimeError(f"only {accepted} of {count} events were accepted")
    return count / elapsed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _redis_server(directory: Path) -> Iterator[str | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = _free_port()
    arguments = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", ""]
    arguments += ["--appendonly", "yes", "--appendfsync", "everysec"]
    process = subprocess.Popen([binary, *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


async def run(sizes: Sizes) -> dict[str, Any]:
    count, repeats = _events(sizes)
    rates: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="wa-groups-bench-") as folder, _redis_server(Path(folder)) as redis_url:
        makers: dict[str, Callable[[int], Inbox]] = {
            "memory": lambda n: MemoryInbox(capacity=10 * count),
            "sqlite (FULL)": lambda n: SqliteInbox(Path(folder) / f"full-{n}.sqlite"),
            "sqlite (NORMAL)": lambda n: SqliteInbox(Path(folder) / f"normal-{n}.sqlite", synchronous="NORMAL"),
        }
        if redis_url is not None:
            makers["redis"] = lambda n: RedisInbox(redis_url, prefix=f"bench:{n}")
        for attempt in range(repeats):
            for name, make in makers.items():
                rates.setdefault(name, []).append(await _burst(make(attempt), count, f"{name}-{attempt}"))
    baseline = summary(rates["memory"])["median"]
    rows = []
    for name, values in rates.items():
        stats = summary(values)
        rows.append(
            row(
                case=name,
                metric="events/s",
                ours=stats["median"],
                baseline_name="memory inbox",
                baseline=baseline,
                ratio=summary([value / baseline for value in values]),
                ratio_meaning="events/s relative to the memory inbox (higher is faster)",
                detail=f"{count} events, {PER_DELIVERY} per delivery, {CONNECTIONS} connections, {len(values)} run(s)",
            )
        )
    notes = [] if redis_url is not None else ["redis-server is not installed: no Redis figure"]
    return result(NAME, TITLE, sizes, rows, notes=notes, data={"rates": rates, "events": count})
