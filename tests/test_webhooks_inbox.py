"""The inboxes against one contract, on real stores: memory, a SQLite file, and a real redis-server.

The Redis tests start ``redis-server`` on a free loopback port in a temporary directory and stop it after the
session; without the binary they are skipped, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wa_groups.errors import ClientValidationError, WebhookPayloadError
from wa_groups.webhooks import (
    SIGNATURE_HEADER,
    GroupCreated,
    GroupDeleted,
    GroupMessageStatus,
    HandlerRetry,
    Inbox,
    InboxFullError,
    InboxUnavailableError,
    InboxWorker,
    MemoryInbox,
    RedisInbox,
    SqliteInbox,
    WebhookEvent,
    WebhookReceiver,
    parse_webhook,
    sign_body,
)
from wa_groups.webhooks.inbox import InboxItem, decode_entry, open_inbox, split_delivery

REPO = Path(__file__).resolve().parent.parent
SECRET = "inbox-app-secret-77c1"
TOKEN = "inbox-verify-token-41aa"


# ------------------------------------------------------------------------------------------- redis-server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server child process on a free loopback port, its files in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(
            [
                *(binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)),
                *("--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--protected-mode", "yes"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def redis_missing() -> None:
    reason = "redis-server is not installed (apt-get install redis-server)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the Redis inbox tests")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        redis_missing()
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


def unique_prefix() -> str:
    return f"test:{uuid.uuid4().hex[:12]}"


# ------------------------------------------------------------------------------------------------ samples


def envelope(*changes: dict[str, Any], waba: str = "1111") -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": waba, "changes": list(changes)}]}


def group_change(*groups: dict[str, Any], field: str = "group_lifecycle_update") -> dict[str, Any]:
    metadata = {"display_phone_number": "15550001111", "phone_number_id": "2222"}
    return {"field": field, "value": {"messaging_product": "whatsapp", "metadata": metadata, "groups": list(groups)}}


def deleted(group_id: str) -> dict[str, Any]:
    return {"timestamp": "1750269342", "group_id": group_id, "type": "group_delete", "request_id": f"del-{group_id}"}


def created(group_id: str) -> dict[str, Any]:
    return {"timestamp": "1750269342", "group_id": group_id, "type": "group_create", "request_id": f"r-{group_id}"}


def items_for(*group_ids: str) -> list[InboxItem]:
    return [item for _, item in split_delivery(envelope(group_change(*map(deleted, group_ids))))]


# ------------------------------------------------------------------------------------------ inbox factory

InboxFactory = Callable[..., Awaitable[Inbox]]


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def make_inbox(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[InboxFactory]:
    """Open inboxes of one kind; ``make_inbox(name)`` opens (again) the same store under ``name``."""
    kind = request.param
    opened: list[Inbox] = []
    memory: dict[str, MemoryInbox] = {}
    prefix = unique_prefix()
    server: RedisServer | None = request.getfixturevalue("redis_server") if kind == "redis" else None

    async def make(name: str = "a", *, lease: float = 30.0) -> Inbox:
        inbox: Inbox
        if kind == "memory":
            inbox = memory.setdefault(name, MemoryInbox())
        elif kind == "sqlite":
            inbox = SqliteInbox(tmp_path / f"{name}.sqlite", lease=lease, poll_interval=0.05)
        else:
            assert server is not None
            inbox = RedisInbox(server.url, prefix=f"{prefix}:{name}", lease=lease)
        await inbox.open()
        opened.append(inbox)
        return inbox

    make.kind = kind  # type: ignore[attr-defined]
    yield make
    for inbox in opened:
        await inbox.close()


# ------------------------------------------------------------------------------------------- the contract


async def test_put_stores_new_items_once(make_inbox: InboxFactory) -> None:
    inbox = await make_inbox()
    first = items_for("g1", "g2")
    stored = await inbox.put([*first, first[0]])
    assert [e.item.key for e in stored] == [first[0].key, first[1].key]
    assert await inbox.put(first) == []
    assert [e.item for e in await inbox.put(items_for("g2", "g3"))] == items_for("g3")
    assert await inbox.backlog() == 3
    assert await inbox.put([]) == []


async def test_concurrent_puts_store_each_event_once(make_inbox: InboxFactory) -> None:
    inbox = await make_inbox()
    batches = [items_for(*(f"g{(start + i) % 30}" for i in range(8))) for start in range(0, 60, 3)]
    results = await asyncio.gather(*(inbox.put(batch) for batch in batches))
    keys = [entry.item.key for entries in results for entry in entries]
    assert len(keys) == len(set(keys)) == 30  # every event stored once, reported new to one delivery only
    for batch, entries in zip(batches, results, strict=True):
        assert {e.item.key for e in entries} <= {item.key for item in batch}
    assert await inbox.backlog() == 30


async def test_claim_ack_retry_bury_replay(make_inbox: InboxFactory) -> None:
    inbox = await make_inbox()
    await inbox.put(items_for("g1", "g2", "g3"))
    claimed = await inbox.claim(10, wait=1.0)
    assert [decode_entry(e.item).group_id for e in claimed] == ["g1", "g2", "g3"]
    assert await inbox.claim(10) == []  # leased: not handed out twice
    done, later, dead = claimed
    await inbox.ack(done)
    await inbox.retry(later, delay=0.3, error="RuntimeError: flaky")
    await inbox.bury(dead, error="ValueError: bad")
    assert await inbox.claim(10) == []  # the retry is not due yet
    again = await inbox.claim(10, wait=3.0)
    assert [(decode_entry(e.item).group_id, e.attempts) for e in again] == [("g2", 1)]
    await inbox.ack(again[0])
    letters = await inbox.dead_letters()
    assert [(decode_entry(letter.item).group_id, letter.attempts, letter.error) for letter in letters] == [
        ("g3", 1, "ValueError: bad")
    ]
    assert isinstance(letters[0].event(), GroupDeleted)
    assert await inbox.replay(["no-such-id"]) == 0
    assert await inbox.replay([letters[0].id]) == 1
    assert await inbox.dead_letters() == []
    back = await inbox.claim(10, wait=2.0)
    assert [(decode_entry(e.item).group_id, e.attempts) for e in back] == [("g3", 0)]
    await inbox.ack(back[0])
    assert await inbox.backlog() == 0
    assert await inbox.put(items_for("g1", "g2", "g3")) == []  # done and dead events stay deduplicated


async def test_replay_all(make_inbox: InboxFactory) -> None:
    inbox = await make_inbox()
    await inbox.put(items_for("a", "b"))
    for entry in await inbox.claim(10, wait=1.0):
        await inbox.bury(entry, error="E: x")
    assert len(await inbox.dead_letters()) == 2
    assert len(await inbox.dead_letters(limit=1)) == 1
    assert await inbox.replay() == 2
    assert len(await inbox.claim(10, wait=2.0)) == 2


async def test_claim_waits_for_a_put(make_inbox: InboxFactory) -> None:
    inbox = await make_inbox()
    waiting = asyncio.create_task(inbox.claim(5, wait=5.0))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await inbox.put(items_for("late"))
    entries = await asyncio.wait_for(waiting, 5.0)
    assert [decode_entry(e.item).group_id for e in entries] == ["late"]


async def test_durable_inboxes_survive_a_reopen(make_inbox: InboxFactory) -> None:
    if make_inbox.kind == "memory":  # type: ignore[attr-defined]
        pytest.skip("the memory inbox loses events on restart, by design")
    first = await make_inbox()
    await first.put(items_for("kept", "done"))
    entries = await first.claim(1, wait=1.0)
    await first.ack(entries[0])
    await first.close()
    second = await make_inbox()
    assert await second.put(items_for("kept", "done")) == []  # dedupe survived
    remaining = await second.claim(10, wait=2.0)
    assert [decode_entry(e.item).group_id for e in remaining] == ["done"]


async def test_a_dead_workers_lease_runs_out(make_inbox: InboxFactory) -> None:
    if make_inbox.kind == "memory":  # type: ignore[attr-defined]
        pytest.skip("a memory inbox has one worker, in its own process")
    crashed = await make_inbox(lease=0.3)
    await crashed.put(items_for("orphan"))
    assert len(await crashed.claim(1, wait=1.0)) == 1  # then never acknowledged: a crash
    survivor = await make_inbox(lease=0.3)
    assert await survivor.claim(1) == []  # the lease still runs
    taken = await survivor.claim(1, wait=3.0)
    assert [decode_entry(e.item).group_id for e in taken] == ["orphan"]
    await survivor.ack(taken[0])


async def test_touch_keeps_the_lease(make_inbox: InboxFactory) -> None:
    if make_inbox.kind == "memory":  # type: ignore[attr-defined]
        pytest.skip("leases in memory never run out")
    busy = await make_inbox(lease=0.4)
    await busy.put(items_for("slow"))
    entries = await busy.claim(1, wait=1.0)
    other = await make_inbox(lease=0.4)
    for _ in range(4):
        await asyncio.sleep(0.2)
        await busy.touch(entries)
        assert await other.claim(1) == []
    await busy.ack(entries[0])


# ---------------------------------------------------------------------------------------- failure modes


async def test_memory_inbox_refuses_beyond_its_capacity() -> None:
    inbox = MemoryInbox(capacity=2)
    await inbox.put(items_for("a", "b"))
    with pytest.raises(InboxFullError):
        await inbox.put(items_for("c"))
    entry = (await inbox.claim(1))[0]
    await inbox.ack(entry)
    assert len(await inbox.put(items_for("c"))) == 1


async def test_sqlite_inbox_refuses_when_its_file_is_full(tmp_path: Path) -> None:
    inbox = SqliteInbox(tmp_path / "small.sqlite", max_bytes=64 * 1024, synchronous="NORMAL")
    async with inbox:
        with pytest.raises(InboxFullError):
            for start in range(0, 2000, 50):
                await inbox.put(items_for(*(f"group-{i:05d}-{'x' * 200}" for i in range(start, start + 50))))


async def test_redis_inbox_unreachable_is_unavailable() -> None:
    inbox = RedisInbox(f"redis://user:hunter2@127.0.0.1:{free_port()}/0")
    with pytest.raises(InboxUnavailableError) as caught:
        await inbox.open()
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(inbox)
    await inbox.close()


def test_bad_inbox_options_are_refused(tmp_path: Path) -> None:
    for make in (
        lambda: MemoryInbox(capacity=0),
        lambda: MemoryInbox(dedupe_size=-1),
        lambda: SqliteInbox(tmp_path / "x", lease=0),
        lambda: SqliteInbox(tmp_path / "x", max_bytes=10),
        lambda: RedisInbox(),
        lambda: RedisInbox("redis://127.0.0.1:1", lease=0),
        lambda: HandlerRetry(max_attempts=0),
    ):
        with pytest.raises(ClientValidationError):
            make()


def test_open_inbox_reads_a_spec(tmp_path: Path) -> None:
    assert isinstance(open_inbox(tmp_path / "a.sqlite"), SqliteInbox)
    assert isinstance(open_inbox("redis://127.0.0.1:1/0"), RedisInbox)
    memory = MemoryInbox()
    assert open_inbox(memory) is memory


# ------------------------------------------------------------------------------------- the stored form


def test_each_notification_is_stored_on_its_own() -> None:
    statuses = {
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"phone_number_id": "2222"},
            "statuses": [
                {"id": f"wamid.{i}", "status": "read", "recipient_type": "group", "recipient_id": f"g{i}"}
                for i in range(3)
            ],
        },
    }
    document = envelope(group_change(created("g1"), deleted("g2")), statuses, {"field": "other", "value": 7})
    pairs = split_delivery(document)
    assert [type(e) for e, _ in pairs] == [GroupCreated, GroupDeleted] + [GroupMessageStatus] * 3 + [
        type(parse_webhook(envelope({"field": "other", "value": 7}))[0])
    ]
    assert [e for e, _ in pairs] == parse_webhook(document)
    for event, item in pairs:
        assert decode_entry(item) == event
        assert len(json.loads(item.notification)["entry"][0]["changes"]) == 1
    assert len({item.key for _, item in pairs}) == len(pairs)
    # The group notifications hold one group each.
    assert [
        len(json.loads(item.notification)["entry"][0]["changes"][0]["value"]["groups"]) for _, item in pairs[:2]
    ] == [
        1,
        1,
    ]


def test_a_stored_item_that_no_longer_decodes_is_an_error() -> None:
    item = items_for("g1")[0]
    with pytest.raises(WebhookPayloadError):
        decode_entry(InboxItem(key=item.key, notification=item.notification, index=3))


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5))
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
group_item = st.one_of(
    st.fixed_dictionaries(
        {"group_id": st.text(min_size=1, max_size=6), "type": st.sampled_from(["group_create", "group_delete", "x"])},
        optional={"request_id": st.text(max_size=4), "errors": json_value, "timestamp": json_value},
    ),
    json_value,
)


@settings(max_examples=150, deadline=None)
@given(
    groups=st.lists(group_item, max_size=6),
    statuses=st.lists(st.one_of(json_value, st.fixed_dictionaries({"recipient_type": st.just("group")})), max_size=4),
    field=st.sampled_from(["group_lifecycle_update", "group_participants_update", "messages", "unknown"]),
)
def test_split_delivery_gives_the_events_of_the_whole(groups: list[Any], statuses: list[Any], field: str) -> None:
    value: dict[str, Any] = {"metadata": {"phone_number_id": "1"}, "groups": groups}
    if statuses:
        value["statuses"] = statuses
    document = envelope({"field": field, "value": value}, {"field": field, "value": {"groups": groups[:1]}})
    pairs = split_delivery(document)
    assert [e for e, _ in pairs] == parse_webhook(document)
    for event, item in pairs:
        assert decode_entry(item) == event


# ------------------------------------------------------------------------------- at-least-once, property


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    deliveries=st.lists(st.lists(st.integers(0, 11), min_size=1, max_size=6), min_size=1, max_size=8),
    failures=st.lists(st.booleans(), max_size=60),
    kind=st.sampled_from(["memory", "sqlite"]),
)
def test_every_event_is_handled_or_dead_exactly_once(
    tmp_path: Path, deliveries: list[list[int]], failures: list[bool], kind: str
) -> None:
    """Redeliveries in any order and handler failures at random: each distinct event ends once, done or dead."""
    path = tmp_path / f"{uuid.uuid4().hex}.sqlite"

    async def scenario() -> None:
        inbox: Inbox = (
            MemoryInbox() if kind == "memory" else SqliteInbox(path, synchronous="NORMAL", poll_interval=0.01)
        )
        outcomes = iter(failures)
        succeeded: list[str] = []
        attempts: dict[str, int] = {}

        def handler(event: WebhookEvent) -> None:
            assert event.group_id is not None
            attempts[event.group_id] = attempts.get(event.group_id, 0) + 1
            if next(outcomes, False):
                raise RuntimeError("random failure")
            succeeded.append(event.group_id)

        retry = HandlerRetry(max_attempts=3, first_delay=0.0, max_delay=0.0)
        worker = InboxWorker(inbox, handler, concurrency=3, retry=retry)
        async with inbox:
            for group_ids in deliveries:
                await inbox.put(items_for(*(f"g{i}" for i in group_ids)))
                await worker.drain()
            await worker.drain()
            dead = [str(decode_entry(letter.item).group_id) for letter in await inbox.dead_letters(1000)]
            distinct = {f"g{i}" for ids in deliveries for i in ids}
            assert sorted(succeeded + dead) == sorted(distinct)  # each exactly once: done or dead
            assert len(set(succeeded)) == len(succeeded)
            assert all(attempts[g] == 3 for g in dead)
            assert await inbox.backlog() == 0
            await worker.stop()

    asyncio.run(scenario())


# ---------------------------------------------------------------------------------- through the receiver


def body_of(*group_ids: str) -> bytes:
    return json.dumps(envelope(group_change(*map(deleted, group_ids)))).encode()


async def post(receiver: WebhookReceiver, body: bytes) -> int:
    import aiohttp

    async with receiver.listen("127.0.0.1", 0) as server, aiohttp.ClientSession() as session:
        headers = {SIGNATURE_HEADER: sign_body(body, SECRET), "Content-Type": "application/json"}
        async with session.post(f"http://127.0.0.1:{server.port}/", data=body, headers=headers) as response:
            status = response.status
        await receiver.drain()
        return status


async def test_handler_failures_are_retried_then_dead_lettered_then_replayed(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    calls: list[str | None] = []
    fail_until = {"flaky": 2, "broken": 99}

    def handler(event: WebhookEvent) -> None:
        calls.append(event.group_id)
        if calls.count(event.group_id) <= fail_until.get(event.group_id or "", 0):
            raise RuntimeError(f"failure on {event.group_id}")

    retry = HandlerRetry(max_attempts=3, first_delay=0.01, max_delay=0.02)
    receiver = WebhookReceiver(SECRET, TOKEN, handler, inbox=path, retry=retry)
    async with receiver.listen("127.0.0.1", 0) as server:
        import aiohttp

        body = body_of("fine", "flaky", "broken")
        async with aiohttp.ClientSession() as session:
            headers = {SIGNATURE_HEADER: sign_body(body, SECRET)}
            async with session.post(f"http://127.0.0.1:{server.port}/", data=body, headers=headers) as response:
                assert response.status == 200
        for _ in range(200):
            await receiver.drain()
            if calls.count("broken") == 3 and calls.count("flaky") == 3:
                break
            await asyncio.sleep(0.02)
        letters = await receiver.inbox.dead_letters()
        assert [letter.event().group_id for letter in letters] == ["broken"]
        assert "failure on broken" in letters[0].error
    assert calls.count("fine") == 1 and calls.count("flaky") == 3 and calls.count("broken") == 3

    # Replayed from another process's point of view (the CLI), then handled by a new receiver once fixed.
    async with SqliteInbox(path) as inbox:
        assert await inbox.replay() == 1
    fail_until["broken"] = 0
    again = WebhookReceiver(SECRET, TOKEN, handler, inbox=path, retry=retry)
    assert await post(again, body_of("fine")) == 200  # a duplicate: not handled again
    assert calls.count("broken") == 4 and calls.count("fine") == 1


async def test_full_or_unreachable_inboxes_answer_503(tmp_path: Path) -> None:
    full = WebhookReceiver(SECRET, TOKEN, inbox=MemoryInbox(capacity=1))
    assert await post(full, body_of("a", "b")) == 503
    down = WebhookReceiver(SECRET, TOKEN, inbox=f"redis://127.0.0.1:{free_port()}/0")
    assert await post(down, body_of("a")) == 503
    tiny = SqliteInbox(tmp_path / "tiny.sqlite", max_bytes=64 * 1024, synchronous="NORMAL")
    big = WebhookReceiver(SECRET, TOKEN, inbox=tiny)
    assert await post(big, body_of(*(f"g{i:04d}-{'y' * 300}" for i in range(400)))) == 503


async def test_redis_inbox_through_the_receiver(redis_server: RedisServer) -> None:
    seen: list[str] = []
    inbox = RedisInbox(redis_server.url, prefix=unique_prefix())
    receiver = WebhookReceiver(SECRET, TOKEN, lambda event: seen.append(str(event.group_id)), inbox=inbox)
    assert await post(receiver, body_of("r1", "r2")) == 200
    assert sorted(seen) == ["r1", "r2"]


# ------------------------------------------------------------------------------------------------- the CLI


def test_cli_lists_and_replays_dead_letters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from wa_groups.cli import main

    path = tmp_path / "events.sqlite"

    async def bury_two() -> None:
        async with SqliteInbox(path) as inbox:
            await inbox.put(items_for("d1", "d2"))
            for entry in await inbox.claim(10, wait=1.0):
                await inbox.bury(entry, error="RuntimeError: handler bug")

    asyncio.run(bury_two())
    assert main(["webhooks", "dead-letters", "list", "--inbox", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    letters = [json.loads(line) for line in out]
    assert [letter["event"]["group_id"] for letter in letters] == ["d1", "d2"]
    assert letters[0]["error"] == "RuntimeError: handler bug" and letters[0]["attempts"] == 1
    assert main(["webhooks", "dead-letters", "replay", "--inbox", str(path), letters[0]["id"]]) == 0
    assert "replayed 1 dead letter(s)" in capsys.readouterr().err
    assert main(["webhooks", "dead-letters", "replay", "--inbox", str(path)]) == 0
    assert "replayed 1 dead letter(s)" in capsys.readouterr().err
    assert main(["webhooks", "dead-letters", "list", "--inbox", str(path)]) == 0
    assert capsys.readouterr().out == ""


def test_cli_dead_letters_reports_an_unreachable_redis(capsys: pytest.CaptureFixture[str]) -> None:
    from wa_groups.cli import main

    url = f"redis://user:pass-5ecret@127.0.0.1:{free_port()}/0"
    assert main(["webhooks", "dead-letters", "list", "--redis", url]) == 1
    err = capsys.readouterr().err
    assert "Redis" in err and "pass-5ecret" not in err
    assert main(["webhooks", "dead-letters", "list", "--redis", "http://x"]) == 2
    assert main(["webhooks", "dead-letters", "list"]) == 2


def test_cli_serve_with_an_inbox_prints_from_it_and_stops_quickly(tmp_path: Path) -> None:
    import urllib.request

    env = {name: value for name, value in os.environ.items() if not name.startswith("WA_")}
    env.update(WA_APP_SECRET=SECRET, WA_VERIFY_TOKEN=TOKEN)
    command = [sys.executable, "-m", "wa_groups", "webhooks", "serve", "--port", "0", "--inbox", "events.sqlite"]
    child = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stderr is not None and child.stdout is not None
        line = child.stderr.readline()
        assert "receiving webhooks on http://127.0.0.1:" in line
        url = line.split()[3]
        body = body_of("cli-1", "cli-2")
        request = urllib.request.Request(url, data=body, headers={SIGNATURE_HEADER: sign_body(body, SECRET)})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
        printed = [json.loads(child.stdout.readline()) for _ in range(2)]
        assert sorted(p["group_id"] for p in printed) == ["cli-1", "cli-2"]
        began = time.monotonic()
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=15)
        assert time.monotonic() - began < 8  # not aiohttp's 60 s shutdown timeout
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 130
    assert TOKEN not in err and SECRET not in err


# ------------------------------------------------------------------------------------------- the benchmark


async def test_webhook_benchmark_runs_with_tiny_sizes() -> None:
    repo = str(REPO)
    if repo not in sys.path:  # the benchmarks package lives at the repository root, beside wa_groups
        sys.path.insert(0, repo)
    from benchmarks import webhooks
    from benchmarks._common import Sizes

    document = await webhooks.run(Sizes.tiny())
    assert document["benchmark"] == "webhooks"
    cases = {item["case"] for item in document["rows"]}
    assert {"memory", "sqlite (FULL)", "sqlite (NORMAL)"} <= cases
    assert all(item["wa_groups"] > 0 for item in document["rows"])
