"""Two receiver replicas on one Redis inbox, behind "a load balancer": shared load, shared dedupe, takeover.

Two child processes each run a receiver with its own worker on the same Redis prefix (a real redis-server).
The handler fails on the first attempt of every fifth event, as in the kill tests, and the burst holds 10,000
events. The test plays the load balancer: it alternates deliveries between the two ports. It checks that a delivery
sent to both replicas is handled once, that both replicas handle events, and that when one replica is
SIGKILLed mid-burst (deliveries then go to the survivor), the events the killed one had claimed but not
acknowledged are finished by the other once their lease has run out.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import test_webhooks_inbox
from test_webhooks_inbox import RedisServer, unique_prefix
from test_webhooks_kill import assert_only_handler_failures_logged, delivery
from test_webhooks_kill import send as send_signed

from wa_groups.webhooks.inbox import InboxItem, decode_entry

#: The session's redis-server, shared with the inbox tests.
redis_server = test_webhooks_inbox.redis_server

SECRET = "replica-app-secret-51d0"
TOKEN = "replica-verify-token-8e27"
EVENTS = 10_000
PER_DELIVERY = 5
CONCURRENCY = 16
#: Short, so that the survivor takes the killed replica's events over soon.
LEASE = 1.0

REPLICA = """
import asyncio, os, signal, sys
from wa_groups.webhooks import HandlerRetry, RedisInbox, WebhookReceiver

url, prefix, consumer, handled_path, secret, token = sys.argv[1:7]
lease, concurrency = float(sys.argv[7]), int(sys.argv[8])
inbox = RedisInbox(url, prefix=prefix, consumer=consumer, lease=lease)
out = os.open(handled_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
failed_here = set()

async def handler(event):
    number = int(event.group_id[1:]) if event.group_id[1:].isdigit() else 1
    # Some work, and a slow call now and then: claimed, unacknowledged events are under way at the kill.
    await asyncio.sleep(0.3 if number % 50 == 49 else 0.005)
    if number % 5 == 0 and number not in failed_here:  # 20 %: the first attempt (in this process) fails
        failed_here.add(number)
        raise RuntimeError("the database of record said no")
    os.write(out, (event.group_id + "\\n").encode())

async def main():
    retry = HandlerRetry(first_delay=0.05, max_delay=0.2)
    receiver = WebhookReceiver(secret, token, handler, inbox=inbox, retry=retry, max_concurrency=concurrency)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with receiver.listen("127.0.0.1", 0) as server:
        print(server.port, flush=True)
        await stop.wait()

asyncio.run(main())
"""


class Replica:
    def __init__(self, name: str, url: str, prefix: str, tmp_path: Path) -> None:
        self.name = name
        self.handled = tmp_path / f"handled-{name}.txt"
        self.stderr = tmp_path / f"stderr-{name}.txt"
        self.args = [
            *(sys.executable, "-c", REPLICA, url, prefix, name, str(self.handled), SECRET, TOKEN),
            *(str(LEASE), str(CONCURRENCY)),
        ]
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0

    async def start(self) -> None:
        with self.stderr.open("ab") as stderr:
            self.process = await asyncio.create_subprocess_exec(
                *self.args, stdout=asyncio.subprocess.PIPE, stderr=stderr
            )
        assert self.process.stdout is not None
        self.port = int(await asyncio.wait_for(self.process.stdout.readline(), 20))

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(sig)
            await asyncio.wait_for(self.process.wait(), 15)

    def seen(self) -> Counter[str]:
        return Counter(self.handled.read_text().split()) if self.handled.exists() else Counter()


async def send(session: aiohttp.ClientSession, port: int, body: bytes) -> bool:
    return await send_signed(session, port, body, SECRET)


async def wait_until(condition: object, seconds: float) -> bool:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return bool(condition())


async def under_way(url: str, prefix: str, consumer: str) -> None:
    """Return once ``consumer`` has claimed an event it has not acknowledged yet (within a second or two)."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        for _ in range(200):
            summary = await client.xpending(f"{prefix}:stream", "handlers")
            if any(row["name"].decode() == consumer and row["pending"] for row in summary["consumers"]):
                return
            await asyncio.sleep(0.01)
    finally:
        await client.aclose()


async def claimed_by(url: str, prefix: str, consumer: str) -> set[str]:
    """The group ids of the entries ``consumer`` has claimed and not acknowledged."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        stream = f"{prefix}:stream"
        pending = await client.xpending_range(stream, "handlers", min="-", max="+", count=10_000, consumername=consumer)
        groups = set()
        for row in pending:
            entries: Any = await client.xrange(stream, row["message_id"], row["message_id"])  # bytes, untyped here
            for _, raw in entries:
                fields = {k.decode(): v.decode() for k, v in raw.items()}
                item = InboxItem(key=fields["k"], notification=fields["n"], index=int(fields["i"]))
                group_id = decode_entry(item).group_id
                assert group_id is not None
                groups.add(group_id)
        return groups
    finally:
        await client.aclose()


async def test_two_replicas_share_the_load_and_dedupe_and_take_over_a_killed_one(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    prefix = unique_prefix()
    a = Replica("replica-a", redis_server.url, prefix, tmp_path)
    b = Replica("replica-b", redis_server.url, prefix, tmp_path)
    await asyncio.gather(a.start(), b.start())
    ids = [f"g{i:05d}" for i in range(EVENTS)]
    batches = [ids[i : i + PER_DELIVERY] for i in range(0, EVENTS, PER_DELIVERY)]
    acked: set[str] = set()
    orphans: set[str] = set()
    shares: dict[str, int] = {}
    began = time.monotonic()

    def everything() -> Counter[str]:
        return a.seen() + b.seen()

    try:
        timeout = aiohttp.ClientTimeout(total=10)
        # Few deliveries at a time, so that the burst lasts while both replicas' handlers work through it.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=4), timeout=timeout) as session:
            # One dedupe for both: the same delivery through each replica is handled once.
            twice = delivery(["dup-0"])
            assert await send(session, a.port, twice)
            assert await send(session, b.port, twice)
            assert await wait_until(lambda: everything()["dup-0"] >= 1, 10)

            killed = asyncio.Event()
            kill_lock = asyncio.Lock()

            async def one(index: int) -> None:
                body = delivery(batches[index])
                target = a if index % 2 == 0 and not killed.is_set() else b
                if not await send(session, target.port, body) and target is a:
                    ok = await send(session, b.port, body)  # the load balancer fails over to the survivor
                else:
                    ok = True
                if not ok:
                    return
                acked.update(batches[index])
                if len(acked) >= EVENTS // 2 and not killed.is_set():
                    async with kill_lock:
                        shares.update({a.name: len(a.seen()), b.name: len(b.seen())})
                        if not killed.is_set() and min(shares.values()) >= EVENTS // 20:
                            await under_way(redis_server.url, prefix, a.name)
                            await a.stop(signal.SIGKILL)
                            killed.set()
                            orphans.update(await claimed_by(redis_server.url, prefix, a.name))

            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(len(batches)))), 60)
            assert killed.is_set(), "the burst ended before the kill"
            assert acked == set(ids), f"{len(set(ids) - acked)} delivery event(s) never got a 200"
            assert await wait_until(lambda: set(ids) <= set(everything()), 20)
            assert await wait_until(lambda: orphans <= set(b.seen()), 5)
    finally:
        await a.stop()
        await b.stop()
    seen_a, seen_b = a.seen(), b.seen()
    total = seen_a + seen_b
    print(
        {
            "handled_at_the_kill": shares,
            "handled_by_a": sum(seen_a.values()),
            "handled_by_b": sum(seen_b.values()),
            "orphans_taken_over": len(orphans),
            "handled_twice": sum(count - 1 for count in total.values()),
            "seconds": round(time.monotonic() - began, 1),
        }
    )
    assert total["dup-0"] == 1
    # Both replicas handled a share of the burst before the kill (it waited for it).
    assert min(shares.values()) >= EVENTS // 20, shares
    # The killed replica held claimed, unacknowledged events; the survivor finished every one of them.
    assert orphans, "the killed replica had no event under way"
    assert orphans <= set(seen_b)
    # At least once, deduplicated: only events under way in the killed replica may be handled twice.
    assert set(total) == {*ids, "dup-0"}
    assert sum(count - 1 for count in total.values()) <= CONCURRENCY
    for replica in (a, b):
        assert_only_handler_failures_logged(replica.stderr.read_text())
