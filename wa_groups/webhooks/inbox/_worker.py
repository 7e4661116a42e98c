"""Run handlers on the events of an inbox: bounded concurrency, retries with backoff, then dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Final

import attrs

from ...errors import ClientValidationError, WebhookPayloadError
from ..events import WebhookEvent
from ._base import Inbox, InboxEntry, InboxUnavailableError, decode_entry

__all__ = ["HandlerRetry", "InboxWorker"]

logger = logging.getLogger("wa_groups.webhooks")

#: Handler called once per event; may be a coroutine function.
Handler = Callable[[WebhookEvent], Awaitable[None] | None]

_IDLE_WAIT: Final = 1.0


def _name(function: object) -> str:
    return getattr(function, "__qualname__", None) or type(function).__name__


def _describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 2000 else text[:1997] + "..."


@attrs.frozen(kw_only=True)
class HandlerRetry:
    """How often and how late a failed handler is tried again before its event becomes a dead letter.

    The n-th retry waits ``first_delay * 2 ** (n - 1)`` seconds, at most ``max_delay``, times a random factor
    between 0.5 and 1 so that many failures do not come back at the same moment.
    """

    max_attempts: int = 5
    """Handler calls per event, the first included; the last failure makes it a dead letter."""

    first_delay: float = 1.0
    """Seconds before the first retry."""

    max_delay: float = 300.0
    """Longest wait between two attempts, in seconds."""

    def __attrs_post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ClientValidationError(
                f"max_attempts must be at least 1, got {self.max_attempts}", argument="max_attempts"
            )
        if self.first_delay < 0 or self.max_delay < 0:
            raise ClientValidationError("retry delays must not be negative", argument="first_delay")

    def delay(self, failures: int) -> float:
        """Return the seconds to wait after the ``failures``-th failed attempt (1 for the first)."""
        base = min(self.max_delay, self.first_delay * 2.0 ** max(0, failures - 1))
        return base * random.uniform(0.5, 1.0)


class InboxWorker:
    """Take events from an inbox and run a handler on each, at most ``concurrency`` at a time.

    An event is acknowledged only after its handler returned; a failure is retried per ``retry`` and then
    moved to the dead letters. A handler still running at :meth:`stop` is cancelled and left unacknowledged,
    so a durable inbox hands it out again (after its lease runs out). The receiver runs one of these for its
    handler; run one yourself to handle events in another process than the one receiving them.

    Args:
        inbox: Where the events are.
        handler: Called once per event (at least once: again after a crash); a coroutine function or a plain
            function.
        concurrency: Most handler calls running at once.
        retry: The retry and dead-letter rule.
        renew_every: Seconds between lease renewals of running handlers; keep it well under the inbox's lease.

    """

    def __init__(
        self,
        inbox: Inbox,
        handler: Handler,
        *,
        concurrency: int = 16,
        retry: HandlerRetry | None = None,
        renew_every: float = 5.0,
    ) -> None:
        if concurrency < 1:
            raise ClientValidationError(f"concurrency must be at least 1, got {concurrency}", argument="concurrency")
        if renew_every <= 0:
            raise ClientValidationError(f"renew_every must be positive, got {renew_every}", argument="renew_every")
        self.inbox = inbox
        """Where the events are taken from."""
        self._handler = handler
        self._concurrency = concurrency
        self._retry = retry or HandlerRetry()
        self._renew_every = renew_every
        self._running: dict[asyncio.Task[None], InboxEntry] = {}
        self._pump: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._slot: asyncio.Event | None = None
        self._stopping = False

    def __repr__(self) -> str:
        return f"InboxWorker({self.inbox!r}, handler={_name(self._handler)}, running={len(self._running)})"

    @property
    def running(self) -> int:
        """The number of handler calls running now."""
        return len(self._running)

    def start(self) -> None:
        """Start taking events, in the running event loop; does nothing if already started."""
        if self._pump is not None or self._stopping:
            return
        self._slot = asyncio.Event()
        self._pump = asyncio.get_running_loop().create_task(self._pump_loop())
        self._renewer = asyncio.get_running_loop().create_task(self._renew_loop())

    async def _pump_loop(self) -> None:
        outage = False
        while not self._stopping:
            assert self._slot is not None
            free = self._concurrency - len(self._running)
            if free <= 0:
                self._slot.clear()
                await self._slot.wait()
                continue
            try:
                entries = await self.inbox.claim(free, wait=_IDLE_WAIT)
            except InboxUnavailableError as error:
                if not outage:
                    logger.error("the webhook inbox is unavailable, handlers wait: %s", error)
                    outage = True
                await asyncio.sleep(1.0)
                continue
            except Exception:
                logger.exception("could not take events from the webhook inbox")
                await asyncio.sleep(1.0)
                continue
            if outage:
                logger.warning("the webhook inbox is available again")
                outage = False
            for entry in entries:
                self._spawn(entry)

    async def _renew_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._renew_every)
            entries = list(self._running.values())
            if entries:
                try:
                    await self.inbox.touch(entries)
                except Exception as error:  # the lease may lapse: at worst the event is handled twice
                    logger.warning("could not renew webhook inbox leases: %s", error)

    def _spawn(self, entry: InboxEntry) -> None:
        task = asyncio.get_running_loop().create_task(self._handle(entry))
        self._running[task] = entry
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        if self._slot is not None:
            self._slot.set()

    async def _handle(self, entry: InboxEntry) -> None:
        try:
            event = decode_entry(entry.item)
        except WebhookPayloadError as error:
            logger.error("a stored webhook notification no longer decodes; it becomes a dead letter: %s", error)
            await self._settle(self.inbox.bury(entry, error=_describe(error)))
            return
        try:
            result = self._handler(event)
            if inspect.isawaitable(result):
                await result
        except Exception as error:
            failures = entry.attempts + 1
            logger.exception(
                "webhook handler %s failed on %s (group %s), attempt %d of %d",
                _name(self._handler),
                type(event).__name__,
                event.group_id,
                failures,
                self._retry.max_attempts,
            )
            if failures >= self._retry.max_attempts:
                logger.warning(
                    "a %s event became a dead letter after %d failed attempt(s)", type(event).__name__, failures
                )
                await self._settle(self.inbox.bury(entry, error=_describe(error)))
            else:
                delay = self._retry.delay(failures)
                await self._settle(self.inbox.retry(entry, delay=delay, error=_describe(error)))
            return
        await self._settle(self.inbox.ack(entry))

    async def _settle(self, outcome: Awaitable[None]) -> None:
        try:
            await outcome
        except Exception as error:  # the lease lapses and the event comes back: at-least-once, not lost
            logger.error("could not record a webhook handler's outcome in the inbox: %s", error)

    async def take_due(self) -> None:
        """Start handlers at once on the events due now, as far as free slots allow, without waiting.

        The receiver calls it after storing into a :class:`MemoryInbox`, where taking is free, so that
        handlers start before the delivery is answered, as they did before inboxes existed.
        """
        free = self._concurrency - len(self._running)
        if self._pump is None or free <= 0:
            return
        for entry in await self.inbox.claim(free, wait=0.0):
            self._spawn(entry)

    async def drain(self) -> None:
        """Wait until no handler runs and no event is due now (retries due later are not waited for)."""
        while True:
            while self._running:
                await asyncio.wait(set(self._running))
            free = self._concurrency
            entries = await self.inbox.claim(free, wait=0.0)
            if not entries and not self._running:
                return
            for entry in entries:
                self._spawn(entry)

    async def stop(self, *, grace: float | None = 5.0) -> None:
        """Stop taking events, give running handlers ``grace`` seconds, then cancel them; safe to call twice.

        A cancelled handler's event is not acknowledged: a durable inbox hands it out again later.
        """
        self._stopping = True
        for task in (self._pump, self._renewer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._pump = self._renewer = None
        tasks = set(self._running)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            logger.warning("cancelled %d webhook handler call(s) still running at close", len(pending))
