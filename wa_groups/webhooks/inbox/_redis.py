"""An inbox on Redis Streams with a consumer group, for receivers that run as several replicas.

Layout, under one key prefix (``wa_groups:webhooks`` by default):

* ``<prefix>:stream``: events waiting or being handled. ``XADD`` on accept, ``XREADGROUP`` by workers,
  ``XACK`` plus ``XDEL`` after success; a dead worker's entries are taken over with ``XAUTOCLAIM`` once idle
  for ``lease`` seconds (a live worker renews its entries with ``XCLAIM``).
* ``<prefix>:seen:<key>``: one key per event seen, ``SET NX`` with a time to live, for deduplication. A Lua
  script sets it and adds the event in one step, so an event is never marked seen without being stored.
* ``<prefix>:delayed``: a sorted set of failed events waiting for their retry, scored by due time.
* ``<prefix>:dead``: a stream of dead letters.

The ``redis`` package (the ``wa-groups[redis]`` extra) is imported only when a :class:`RedisInbox` opens.
Durability is Redis's: run it with ``appendonly yes`` (and ``appendfsync always`` to survive a power cut).
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import uuid
from collections.abc import Sequence
from typing import Any, Final

from ...errors import ClientValidationError
from ._base import DeadLetter, Inbox, InboxEntry, InboxItem, InboxUnavailableError

__all__ = ["RedisInbox"]

_PUT: Final = """
local ids = {}
local ttl = ARGV[1]
for j = 2, #KEYS do
  local base = 3 * (j - 2) + 1
  if redis.call('SET', KEYS[j], '1', 'NX', 'EX', ttl) then
    ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', 'k', ARGV[base + 1], 'n', ARGV[base + 2],
                               'i', ARGV[base + 3], 'a', '0')
  else
    ids[#ids + 1] = ''
  end
end
return ids
"""

_PROMOTE: Final = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local f = cjson.decode(member)
  redis.call('XADD', KEYS[2], '*', 'k', f.k, 'n', f.n, 'i', tostring(f.i), 'a', tostring(f.a))
  redis.call('ZREM', KEYS[1], member)
end
return #due
"""

_REPLAY: Final = """
local count = 0
for _, id in ipairs(ARGV) do
  local found = redis.call('XRANGE', KEYS[1], id, id)
  if #found > 0 then
    local fields = found[1][2]
    local f = {}
    for i = 1, #fields, 2 do f[fields[i]] = fields[i + 1] end
    redis.call('XADD', KEYS[2], '*', 'k', f.k, 'n', f.n, 'i', f.i, 'a', '0')
    redis.call('XDEL', KEYS[1], id)
    count = count + 1
  end
end
return count
"""

_STREAM_ID: Final = re.compile(r"[0-9]+-[0-9]+")

#: How long an event's key is remembered for deduplication: Meta retries a delivery for up to 7 days.
DEFAULT_SEEN_TTL: Final = 8 * 24 * 3600


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _fields(raw: Any) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in dict(raw).items()}


class RedisInbox(Inbox):
    """Store events in Redis Streams: at-least-once handling shared by several receiver replicas.

    Every replica may receive and every replica may handle; each event goes to one worker at a time, and to
    another when its worker stops renewing its lease (a crash).

    Args:
        url: The Redis URL, e.g. ``redis://localhost:6379/0``; it may hold a password and is never logged.
        prefix: The prefix of every key; give each application its own.
        group: The consumer group's name.
        consumer: This worker's name in the group; default: host name, process id and a random suffix.
        lease: Seconds an event stays with a worker that stopped renewing it before another takes it over.
        seen_ttl: Seconds an event's key is remembered to drop Meta's redeliveries.
        client: A ``redis.asyncio.Redis`` to use instead of connecting to ``url`` (not closed by the inbox).

    """

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "wa_groups:webhooks",
        group: str = "handlers",
        consumer: str | None = None,
        lease: float = 60.0,
        seen_ttl: int = DEFAULT_SEEN_TTL,
        client: Any = None,
    ) -> None:
        if (url is None) == (client is None):
            raise ClientValidationError("give either a Redis url or a client", argument="url")
        if lease <= 0:
            raise ClientValidationError(f"lease must be positive, got {lease}", argument="lease")
        if seen_ttl < 1:
            raise ClientValidationError(f"seen_ttl must be at least 1, got {seen_ttl}", argument="seen_ttl")
        self.__url = url
        self._client = client
        self._own_client = client is None
        self.prefix = prefix
        """The prefix of every key the inbox uses."""
        self.group = group
        """The consumer group's name."""
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        """This worker's name in the consumer group."""
        self._lease_ms = int(lease * 1000)
        self._seen_ttl = seen_ttl
        self._stream = f"{prefix}:stream"
        self._delayed = f"{prefix}:delayed"
        self._dead = f"{prefix}:dead"
        self._scripts: dict[str, Any] = {}
        self._errors: tuple[type[BaseException], ...] = ()

    def __repr__(self) -> str:
        return f"RedisInbox(prefix={self.prefix!r}, group={self.group!r}, consumer={self.consumer!r})"

    async def open(self) -> None:
        """Connect, register the scripts and create the consumer group; safe to call twice."""
        if self._scripts:
            return
        try:
            import redis.asyncio as aioredis  # the optional extra: imported only here
            import redis.exceptions
        except ImportError as error:
            raise InboxUnavailableError("RedisInbox needs the redis package: pip install 'wa-groups[redis]'") from error
        self._errors = (redis.exceptions.RedisError, OSError)
        if self._client is None:
            assert self.__url is not None
            self._client = aioredis.from_url(self.__url)
        client = self._client
        try:
            try:
                await client.xgroup_create(self._stream, self.group, id="0", mkstream=True)
            except redis.exceptions.ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise
        except self._errors as error:
            await self.close()
            raise InboxUnavailableError(f"cannot reach Redis: {type(error).__name__}") from error
        self._scripts = {
            "put": client.register_script(_PUT),
            "promote": client.register_script(_PROMOTE),
            "replay": client.register_script(_REPLAY),
        }

    async def close(self) -> None:
        """Close the connection pool the inbox opened; safe to call twice."""
        self._scripts = {}
        if self._own_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def _redis(self) -> Any:
        if not self._scripts:
            await self.open()
        return self._client

    def _unavailable(self, error: BaseException) -> InboxUnavailableError:
        # The exception text may hold the URL (with its password): only the type is kept.
        return InboxUnavailableError(f"Redis failed: {type(error).__name__}")

    def _entry(self, entry_id: Any, raw: Any) -> InboxEntry:
        f = _fields(raw)
        item = InboxItem(key=f.get("k", ""), notification=f.get("n", ""), index=int(f.get("i", "0")))
        return InboxEntry(id=_text(entry_id), item=item, attempts=int(f.get("a", "0")))

    async def put(self, items: Sequence[InboxItem]) -> list[InboxEntry]:
        """Add the items whose key is not yet marked seen, marking them, in one atomic script."""
        if not items:
            return []
        await self._redis()
        keys = [self._stream] + [f"{self.prefix}:seen:{item.key}" for item in items]
        args: list[Any] = [self._seen_ttl]
        for item in items:
            args += [item.key, item.notification, item.index]
        try:
            ids = await self._scripts["put"](keys=keys, args=args)
        except self._errors as error:
            raise self._unavailable(error) from error
        return [InboxEntry(id=_text(i), item=item) for i, item in zip(ids, items, strict=True) if _text(i)]

    async def claim(self, limit: int, *, wait: float = 0.0) -> list[InboxEntry]:
        """Take due retries back, take over entries idle past the lease, then read new ones."""
        if limit <= 0:
            return []
        client = await self._redis()
        deadline = time.monotonic() + wait
        try:
            while True:
                await self._scripts["promote"](keys=[self._delayed, self._stream], args=[time.time(), 100])
                claimed = await client.xautoclaim(
                    self._stream, self.group, self.consumer, min_idle_time=self._lease_ms, start_id="0-0", count=limit
                )
                entries = [self._entry(i, f) for i, f in claimed[1] if f]
                remaining = deadline - time.monotonic()
                if len(entries) < limit:
                    # Block briefly at most, so that retries falling due are promoted soon.
                    block = int(min(remaining, 0.5) * 1000) if not entries and remaining > 0.001 else None
                    answer = await client.xreadgroup(
                        self.group, self.consumer, {self._stream: ">"}, count=limit - len(entries), block=block
                    )
                    for _, messages in answer or []:
                        entries += [self._entry(i, f) for i, f in messages if f]
                if entries or deadline - time.monotonic() <= 0:
                    return entries
        except self._errors as error:
            raise self._unavailable(error) from error

    async def touch(self, entries: Sequence[InboxEntry]) -> None:
        """Reset the idle time of ``entries`` so that no other worker takes them over."""
        if not entries:
            return
        client = await self._redis()
        try:
            await client.xclaim(self._stream, self.group, self.consumer, 0, [e.id for e in entries], justid=True)
        except self._errors as error:
            raise self._unavailable(error) from error

    async def ack(self, entry: InboxEntry) -> None:
        """Acknowledge and delete the entry; its key stays marked seen for ``seen_ttl`` seconds."""
        client = await self._redis()
        try:
            async with client.pipeline(transaction=True) as pipe:
                pipe.xack(self._stream, self.group, entry.id)
                pipe.xdel(self._stream, entry.id)
                await pipe.execute()
        except self._errors as error:
            raise self._unavailable(error) from error

    async def retry(self, entry: InboxEntry, *, delay: float, error: str) -> None:
        """Move the entry to the delayed set, due in ``delay`` seconds, one more failed attempt on it."""
        client = await self._redis()
        member = json.dumps(
            {
                "id": entry.id,
                "k": entry.item.key,
                "n": entry.item.notification,
                "i": entry.item.index,
                "a": entry.attempts + 1,
                "e": error,
            },
            separators=(",", ":"),
        )
        try:
            async with client.pipeline(transaction=True) as pipe:
                pipe.zadd(self._delayed, {member: time.time() + max(0.0, delay)})
                pipe.xack(self._stream, self.group, entry.id)
                pipe.xdel(self._stream, entry.id)
                await pipe.execute()
        except self._errors as failure:
            raise self._unavailable(failure) from failure

    async def bury(self, entry: InboxEntry, *, error: str) -> None:
        """Move the entry to the dead-letter stream."""
        client = await self._redis()
        fields = {
            "k": entry.item.key,
            "n": entry.item.notification,
            "i": str(entry.item.index),
            "a": str(entry.attempts + 1),
            "e": error,
        }
        try:
            async with client.pipeline(transaction=True) as pipe:
                pipe.xadd(self._dead, fields)
                pipe.xack(self._stream, self.group, entry.id)
                pipe.xdel(self._stream, entry.id)
                await pipe.execute()
        except self._errors as failure:
            raise self._unavailable(failure) from failure

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Return up to ``limit`` dead letters, oldest first."""
        client = await self._redis()
        try:
            rows = await client.xrange(self._dead, "-", "+", count=max(1, limit)) if limit > 0 else []
        except self._errors as error:
            raise self._unavailable(error) from error
        letters = []
        for entry_id, raw in rows:
            f = _fields(raw)
            letters.append(
                DeadLetter(
                    id=_text(entry_id),
                    item=InboxItem(key=f.get("k", ""), notification=f.get("n", ""), index=int(f.get("i", "0"))),
                    attempts=int(f.get("a", "0")),
                    error=f.get("e", ""),
                )
            )
        return letters

    async def replay(self, ids: Sequence[str] | None = None) -> int:
        """Move dead letters back to the stream with no failed attempts; return how many."""
        await self._redis()
        try:
            if ids is not None:
                wanted = [i for i in ids if _STREAM_ID.fullmatch(i)]
                if not wanted:
                    return 0
                return int(await self._scripts["replay"](keys=[self._dead, self._stream], args=wanted))
            total = 0
            while True:
                batch = [letter.id for letter in await self.dead_letters(500)]
                if not batch:
                    return total
                total += int(await self._scripts["replay"](keys=[self._dead, self._stream], args=batch))
        except self._errors as error:
            raise self._unavailable(error) from error

    async def backlog(self) -> int:
        """Return the events in the stream (waiting or being handled) plus those waiting for a retry."""
        client = await self._redis()
        try:
            async with client.pipeline(transaction=False) as pipe:
                pipe.xlen(self._stream)
                pipe.zcard(self._delayed)
                waiting, delayed = await pipe.execute()
        except self._errors as error:
            raise self._unavailable(error) from error
        return int(waiting) + int(delayed)
