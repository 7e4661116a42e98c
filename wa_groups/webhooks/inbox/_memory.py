"""An inbox in this process's memory: fast, bounded, and lost when the process stops."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Final

from ...errors import ClientValidationError
from ._base import DeadLetter, Inbox, InboxEntry, InboxFullError, InboxItem

__all__ = ["DEFAULT_MEMORY_CAPACITY", "MemoryInbox"]

#: The default largest number of unfinished events a :class:`MemoryInbox` holds before refusing deliveries.
DEFAULT_MEMORY_CAPACITY: Final = 10_000


class MemoryInbox(Inbox):
    """Keep events in memory: the receiver's default, and the one that **loses events on restart**.

    Events waiting for their handler, retries and dead letters live in this process only: a restart, a crash
    or a kill drops them after Meta has had its 200, and deduplication forgets what it saw. Use
    :class:`SqliteInbox` or :class:`RedisInbox` when events matter.

    Args:
        capacity: Most unfinished events held (waiting, running or due for a retry); when full, new deliveries
            are refused with :class:`InboxFullError`, which the receiver answers with 503.
        dedupe_size: How many recent event keys are remembered to drop redeliveries (0 turns this off).
        max_dead_letters: Most dead letters kept; the oldest are dropped beyond it.

    """

    durable = False

    def __init__(
        self, *, capacity: int = DEFAULT_MEMORY_CAPACITY, dedupe_size: int = 10_000, max_dead_letters: int = 1_000
    ) -> None:
        if capacity < 1:
            raise ClientValidationError(f"capacity must be at least 1, got {capacity}", argument="capacity")
        if dedupe_size < 0:
            raise ClientValidationError(f"dedupe_size must not be negative, got {dedupe_size}", argument="dedupe_size")
        if max_dead_letters < 0:
            raise ClientValidationError(
                f"max_dead_letters must not be negative, got {max_dead_letters}", argument="max_dead_letters"
            )
        self._capacity = capacity
        self._dedupe_size = dedupe_size
        self._max_dead = max_dead_letters
        self._ids = itertools.count(1)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._ready: deque[InboxEntry] = deque()
        self._delayed: list[tuple[float, int, InboxEntry]] = []
        self._leased: dict[str, InboxEntry] = {}
        self._dead: OrderedDict[str, DeadLetter] = OrderedDict()
        self._arrived: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"MemoryInbox(capacity={self._capacity}, backlog={self._count()}, dead={len(self._dead)})"

    def _count(self) -> int:
        return len(self._ready) + len(self._delayed) + len(self._leased)

    def _signal(self) -> None:
        if self._arrived is not None:
            self._arrived.set()

    def _remember(self, key: str) -> bool:
        if self._dedupe_size == 0:
            return True
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        while len(self._seen) > self._dedupe_size:
            self._seen.popitem(last=False)
        return True

    async def put(self, items: Sequence[InboxItem]) -> list[InboxEntry]:
        """Keep the items not seen recently; refuse them all when the inbox is full."""
        fresh: dict[str, InboxItem] = {}
        for item in items:
            if item.key not in fresh and (self._dedupe_size == 0 or item.key not in self._seen):
                fresh[item.key] = item
        fresh_items = list(items) if self._dedupe_size == 0 else list(fresh.values())
        if self._count() + len(fresh_items) > self._capacity:
            raise InboxFullError(
                f"the memory inbox cannot take {len(fresh_items)} more events: "
                f"it holds {self._count()} (capacity {self._capacity})"
            )
        entries = []
        for item in fresh_items:
            self._remember(item.key)
            entry = InboxEntry(id=str(next(self._ids)), item=item)
            self._ready.append(entry)
            entries.append(entry)
        if entries:
            self._signal()
        return entries

    def _promote(self, now: float) -> None:
        while self._delayed and self._delayed[0][0] <= now:
            self._ready.append(heapq.heappop(self._delayed)[2])

    async def claim(self, limit: int, *, wait: float = 0.0) -> list[InboxEntry]:
        """Hand out up to ``limit`` due entries, waiting up to ``wait`` seconds for one."""
        deadline = time.monotonic() + wait
        while True:
            now = time.monotonic()
            self._promote(now)
            if self._ready or now >= deadline:
                break
            if self._arrived is None:
                self._arrived = asyncio.Event()
            self._arrived.clear()
            timeout = deadline - now
            if self._delayed:
                timeout = min(timeout, max(0.0, self._delayed[0][0] - now))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout)
        taken: list[InboxEntry] = []
        while self._ready and len(taken) < limit:
            entry = self._ready.popleft()
            self._leased[entry.id] = entry
            taken.append(entry)
        return taken

    async def touch(self, entries: Sequence[InboxEntry]) -> None:
        """Do nothing: leases in memory never run out."""

    async def ack(self, entry: InboxEntry) -> None:
        """Forget the entry (its key stays in the dedupe memory)."""
        self._leased.pop(entry.id, None)

    async def retry(self, entry: InboxEntry, *, delay: float, error: str) -> None:
        """Put the entry back in line after ``delay`` seconds, one more failed attempt on it."""
        if self._leased.pop(entry.id, None) is None:
            return
        again = InboxEntry(id=entry.id, item=entry.item, attempts=entry.attempts + 1)
        heapq.heappush(self._delayed, (time.monotonic() + max(0.0, delay), int(entry.id), again))
        self._signal()

    async def bury(self, entry: InboxEntry, *, error: str) -> None:
        """Move the entry to the dead letters, dropping the oldest beyond ``max_dead_letters``."""
        if self._leased.pop(entry.id, None) is None:
            return
        if self._max_dead == 0:
            return
        self._dead[entry.id] = DeadLetter(id=entry.id, item=entry.item, attempts=entry.attempts + 1, error=error)
        while len(self._dead) > self._max_dead:
            self._dead.popitem(last=False)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Return up to ``limit`` dead letters, oldest first."""
        return list(itertools.islice(self._dead.values(), max(0, limit)))

    async def replay(self, ids: Sequence[str] | None = None) -> int:
        """Put dead letters back in line with no failed attempts."""
        chosen = list(self._dead) if ids is None else [i for i in ids if i in self._dead]
        for dead_id in chosen:
            letter = self._dead.pop(dead_id)
            self._ready.append(InboxEntry(id=letter.id, item=letter.item))
        if chosen:
            self._signal()
        return len(chosen)

    async def backlog(self) -> int:
        """Return how many entries wait, run or are due for a retry."""
        return self._count()
