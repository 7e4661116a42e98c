"""Background delivery of the webhooks a fake server sends: one queue, one worker, one client session."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

import aiohttp

from wa_groups.testing._faults import ServerStats

__all__ = ["WebhookOutbox"]

logger = logging.getLogger("wa_groups.testing")

#: Deliveries kept for :meth:`WebhookOutbox.delivered`; later ones are sent but not kept.
_KEPT_DELIVERIES: Final = 10_000

_Item = tuple[float, bytes, dict[str, str]]


class WebhookOutbox:
    """POST queued webhooks one after the other, each once its due time has come.

    The URL is asked from ``target`` at delivery time, so a test may change or clear it while
    deliveries are queued. Outcomes are counted in ``stats``; a failing receiver never raises.
    """

    def __init__(
        self,
        stats: ServerStats,
        target: Callable[[], str | None],
        pause: Callable[[float], Awaitable[None]],
    ) -> None:
        self._stats = stats
        self._target = target
        self._pause = pause
        self._delivered: list[tuple[bytes, dict[str, str]]] = []
        self._queue: asyncio.Queue[_Item] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def delivered(self) -> list[tuple[bytes, dict[str, str]]]:
        """Return the bodies and headers POSTed so far, oldest first."""
        return self._delivered

    def enqueue(self, body: bytes, headers: Mapping[str, str], *, delay: float, copies: int) -> None:
        """Queue ``copies`` deliveries of ``body``, due ``delay`` seconds from now; start the worker if needed."""
        loop = asyncio.get_running_loop()
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._deliver(self._queue))
        for _ in range(copies):
            self._queue.put_nowait((loop.time() + delay, body, dict(headers)))

    async def join(self) -> None:
        """Wait until every queued delivery has been made (or has failed)."""
        if self._queue is not None and self._worker is not None:
            await self._queue.join()

    async def close(self) -> None:
        """Cancel pending deliveries and close the client session; safe to call more than once."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._queue = None
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _deliver(self, queue: asyncio.Queue[_Item]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, body, headers = await queue.get()
            try:
                await self._pause(due - loop.time())
                await self._post(body, headers)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A user's receiver being down must never break the fake: note it and move on.
                self._stats.webhooks_failed += 1
                logger.debug("webhook delivery failed: %s", type(exc).__name__)
            finally:
                queue.task_done()

    async def _post(self, body: bytes, headers: dict[str, str]) -> None:
        url = self._target()
        if url is None:
            return
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        if len(self._delivered) < _KEPT_DELIVERIES:
            self._delivered.append((body, headers))
        async with self._session.post(url, data=body, headers=headers) as response:
            await response.read()
            if response.status >= 400:
                self._stats.webhooks_failed += 1
                logger.debug("webhook delivery answered HTTP %s", response.status)
            else:
                self._stats.webhooks_sent += 1
