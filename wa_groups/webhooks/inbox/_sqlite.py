"""An inbox in one SQLite file, for a receiver that runs as one process.

Every call runs on one worker thread that owns the connection, so the event loop never waits on the disk and
SQLite never sees two threads. The file is in WAL mode; with ``synchronous="FULL"`` (the default) a stored
event survives a power cut, with ``"NORMAL"`` it survives a killed process but maybe not a power cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, Literal, TypeVar

from ...errors import ClientValidationError
from ._base import DeadLetter, Inbox, InboxEntry, InboxFullError, InboxItem, InboxUnavailableError

__all__ = ["SqliteInbox"]

_T = TypeVar("_T")

#: SQLite's result code for a full database or disk (``sqlite3.SQLITE_FULL`` from Python 3.11).
_SQLITE_FULL: Final = 13
_READY: Final = 0
_LEASED: Final = 1
_DONE: Final = 2
_DEAD: Final = 3

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    notification TEXT,
    idx INTEGER NOT NULL DEFAULT 0,
    state INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due REAL NOT NULL DEFAULT 0,
    owner TEXT,
    leased_until REAL,
    error TEXT,
    stored_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS inbox_state_due ON inbox (state, due);
CREATE INDEX IF NOT EXISTS inbox_finished ON inbox (finished_at) WHERE state = 2;
"""

#: How long done events are remembered for deduplication: Meta retries a delivery for up to 7 days.
DEFAULT_KEEP_DONE: Final = 8 * 24 * 3600.0


class SqliteInbox(Inbox):
    """Store events in one SQLite file: at-least-once handling and deduplication that survive restarts.

    Meant for one process: its worker takes the events of its own file. Events another process had leased (a
    killed receiver) are handed out again once their lease has run out, ``lease`` seconds after its last
    renewal.

    Args:
        path: The database file; created with its tables when missing.
        lease: Seconds a claimed event stays with its worker without a renewal.
        keep_done: Seconds a handled event's key is remembered to drop Meta's redeliveries (its notification
            text is dropped as soon as it is done).
        synchronous: SQLite's ``synchronous`` setting: ``"FULL"`` survives power cuts, ``"NORMAL"`` is faster
            and survives a killed process.
        max_bytes: Largest size of the database file; beyond it deliveries are refused with
            :class:`InboxFullError` (the receiver answers 503). ``None``: until the disk is full.
        poll_interval: Seconds between looks for work another process stored (a replay from the command line).

    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lease: float = 30.0,
        keep_done: float = DEFAULT_KEEP_DONE,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        max_bytes: int | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        if lease <= 0:
            raise ClientValidationError(f"lease must be positive, got {lease}", argument="lease")
        if keep_done < 0:
            raise ClientValidationError(f"keep_done must not be negative, got {keep_done}", argument="keep_done")
        if synchronous not in ("FULL", "NORMAL"):
            raise ClientValidationError("synchronous must be 'FULL' or 'NORMAL'", argument="synchronous")
        if max_bytes is not None and max_bytes < 64 * 1024:
            raise ClientValidationError(f"max_bytes must be at least 65536, got {max_bytes}", argument="max_bytes")
        if poll_interval <= 0:
            raise ClientValidationError(
                f"poll_interval must be positive, got {poll_interval}", argument="poll_interval"
            )
        self.path = Path(path)
        """The database file."""
        self._lease = lease
        self._keep_done = keep_done
        self._synchronous = synchronous
        self._max_bytes = max_bytes
        self._poll = poll_interval
        self._owner = uuid.uuid4().hex
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None
        self._arrived: asyncio.Event | None = None
        self._puts = 0
        self._level = synchronous
        self._waiting: list[tuple[Sequence[InboxItem], asyncio.Future[list[InboxEntry]]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"SqliteInbox({str(self.path)!r}, lease={self._lease})"

    # -------------------------------------------------------------------------------- the worker thread

    async def _run(self, function: Callable[[sqlite3.Connection], _T], *, storing: bool = False) -> _T:
        if self._executor is None:
            await self.open()
        assert self._executor is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, function, storing)

    def _call(self, function: Callable[[sqlite3.Connection], _T], storing: bool) -> _T:
        db = self._db
        if db is None:
            raise InboxUnavailableError("the SQLite inbox is closed")
        try:
            # Only storing new events must reach the disk before returning (Meta gets its 200 after it). Other
            # changes commit without their own fsync: the next stored delivery's fsync of the WAL carries them,
            # and losing one to a power cut only means an event handled or tried once more.
            level = self._synchronous if storing else "NORMAL"
            if level != self._level:
                db.execute(f"PRAGMA synchronous={level}")
                self._level = level
            with db:  # one transaction, committed or rolled back
                return function(db)
        except sqlite3.OperationalError as error:
            if getattr(error, "sqlite_errorcode", None) == _SQLITE_FULL or "full" in str(error):
                raise InboxFullError(f"the SQLite inbox {self.path.name} is full: {error}") from error
            raise InboxUnavailableError(f"the SQLite inbox {self.path.name} failed: {error}") from error
        except sqlite3.DatabaseError as error:
            raise InboxUnavailableError(f"the SQLite inbox {self.path.name} failed: {error}") from error

    def _connect(self) -> None:
        db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            self._level = self._synchronous
            db.executescript(_SCHEMA)
            if self._max_bytes is not None:
                page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
                db.execute(f"PRAGMA max_page_count={max(16, self._max_bytes // page_size)}")
            # isolation_level None plus "with db" would not open transactions: use deferred ones.
            db.isolation_level = "IMMEDIATE"
        except BaseException:
            db.close()
            raise
        self._db = db

    async def open(self) -> None:
        """Open (and create) the database file on the worker thread; safe to call twice."""
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wa-groups-inbox")
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._connect)
        except sqlite3.Error as error:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise InboxUnavailableError(f"cannot open the SQLite inbox {self.path.name}: {error}") from error

    async def close(self) -> None:
        """Close the database and stop the worker thread; safe to call twice."""
        executor, self._executor = self._executor, None
        if executor is None:
            return

        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(executor, shut)
        executor.shutdown(wait=True)

    # ------------------------------------------------------------------------------------------ the API

    async def put(self, items: Sequence[InboxItem]) -> list[InboxEntry]:
        """Store the new items, committed to disk before returning.

        Deliveries stored while another commit is under way wait for it and are then committed together, in
        one transaction and one ``fsync`` (group commit); each gets only its own new entries back.
        """
        if not items:
            return []
        future: asyncio.Future[list[InboxEntry]] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            self._puts += 1
            prune = self._puts % 1000 == 1

            try:
                results = await self._run(
                    functools.partial(self._insert, [items for items, _ in batch], prune), storing=True
                )
            except InboxUnavailableError as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(type(error)(str(error)))
                continue
            except BaseException as error:  # cancelled at shutdown, or a bug: nobody may wait forever
                for _, future in batch:
                    if not future.done():
                        future.set_exception(InboxUnavailableError(f"the SQLite inbox failed: {error!r}"))
                raise
            for (_, future), entries in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(entries)
            if any(results) and self._arrived is not None:
                self._arrived.set()

    def _insert(
        self, batches: list[Sequence[InboxItem]], prune: bool, db: sqlite3.Connection
    ) -> list[list[InboxEntry]]:
        now = time.time()
        if prune:
            db.execute("DELETE FROM inbox WHERE state = 2 AND finished_at < ?", (now - self._keep_done,))
        results = []
        for items in batches:
            entries = []
            for item in items:
                rows = db.execute(
                    "INSERT INTO inbox (key, notification, idx, state, stored_at) VALUES (?, ?, ?, 0, ?)"
                    " ON CONFLICT (key) DO NOTHING RETURNING id",
                    (item.key, item.notification, item.index, now),
                ).fetchall()
                if rows:
                    entries.append(InboxEntry(id=str(rows[0][0]), item=item))
            results.append(entries)
        return results

    async def claim(self, limit: int, *, wait: float = 0.0) -> list[InboxEntry]:
        """Lease up to ``limit`` due entries, oldest first, waiting up to ``wait`` seconds for one."""
        deadline = time.monotonic() + wait

        def take(db: sqlite3.Connection) -> list[InboxEntry]:
            now = time.time()
            rows = db.execute(
                "UPDATE inbox SET state = 1, owner = ?, leased_until = ? WHERE id IN ("
                " SELECT id FROM inbox WHERE state = 0 AND due <= ?"
                " UNION ALL SELECT id FROM inbox WHERE state = 1 AND leased_until <= ? AND owner != ?"
                " ORDER BY id LIMIT ?) RETURNING id, key, notification, idx, attempts",
                (self._owner, now + self._lease, now, now, self._owner, limit),
            ).fetchall()
            rows.sort()
            return [
                InboxEntry(id=str(r[0]), item=InboxItem(key=r[1], notification=r[2], index=r[3]), attempts=r[4])
                for r in rows
            ]

        while True:
            if self._arrived is None:
                self._arrived = asyncio.Event()
            self._arrived.clear()
            entries = await self._run(take) if limit > 0 else []
            remaining = deadline - time.monotonic()
            if entries or remaining <= 0:
                return entries
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, self._poll))

    async def touch(self, entries: Sequence[InboxEntry]) -> None:
        """Renew the leases of ``entries``."""
        if not entries:
            return
        ids = [(time.time() + self._lease, int(e.id), self._owner) for e in entries]

        def renew(db: sqlite3.Connection) -> None:
            db.executemany("UPDATE inbox SET leased_until = ? WHERE id = ? AND state = 1 AND owner = ?", ids)

        await self._run(renew)

    async def ack(self, entry: InboxEntry) -> None:
        """Mark the entry done and drop its notification text; its key stays for ``keep_done`` seconds."""

        def done(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE inbox SET state = 2, notification = NULL, owner = NULL, finished_at = ?"
                " WHERE id = ? AND state = 1",
                (time.time(), int(entry.id)),
            )

        await self._run(done)

    async def retry(self, entry: InboxEntry, *, delay: float, error: str) -> None:
        """Hand the entry out again after ``delay`` seconds, one more failed attempt on it."""

        def again(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE inbox SET state = 0, attempts = attempts + 1, due = ?, error = ?, owner = NULL"
                " WHERE id = ? AND state = 1",
                (time.time() + max(0.0, delay), error, int(entry.id)),
            )

        await self._run(again)

    async def bury(self, entry: InboxEntry, *, error: str) -> None:
        """Move the entry to the dead letters."""

        def dead(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE inbox SET state = 3, attempts = attempts + 1, error = ?, owner = NULL, finished_at = ?"
                " WHERE id = ? AND state = 1",
                (error, time.time(), int(entry.id)),
            )

        await self._run(dead)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Return up to ``limit`` dead letters, oldest first."""

        def read(db: sqlite3.Connection) -> list[DeadLetter]:
            rows = db.execute(
                "SELECT id, key, notification, idx, attempts, error FROM inbox WHERE state = 3 ORDER BY id LIMIT ?",
                (max(0, limit),),
            ).fetchall()
            return [
                DeadLetter(
                    id=str(r[0]), item=InboxItem(key=r[1], notification=r[2], index=r[3]), attempts=r[4], error=r[5]
                )
                for r in rows
            ]

        return await self._run(read)

    async def replay(self, ids: Sequence[str] | None = None) -> int:
        """Put dead letters back in line with no failed attempts; return how many."""

        def revive(db: sqlite3.Connection) -> int:
            reset = "UPDATE inbox SET state = 0, attempts = 0, due = 0, error = NULL, finished_at = NULL"
            if ids is None:
                return db.execute(reset + " WHERE state = 3").rowcount
            wanted = [(int(i),) for i in ids if i.isdigit()]
            return sum(db.execute(reset + " WHERE state = 3 AND id = ?", row).rowcount for row in wanted)

        count = await self._run(revive)
        if count and self._arrived is not None:
            self._arrived.set()
        return count

    async def backlog(self) -> int:
        """Return how many entries wait, are leased or are due for a retry."""

        def count(db: sqlite3.Connection) -> int:
            return int(db.execute("SELECT count(*) FROM inbox WHERE state IN (0, 1)").fetchone()[0])

        return await self._run(count)
