"""A bulk job's admission control: one concurrency limit, one shared pause, and self-pacing when throttled."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from types import TracebackType

from .._core.gate import RequestWithheld
from ..errors import RateLimitError

__all__ = ["JobGate", "JobStopped"]


class JobStopped(RequestWithheld):
    """Raised inside a stopped job for a request that was about to be sent; its batch is not attempted."""


class _Slot:
    __slots__ = ("_gate",)

    def __init__(self, gate: JobGate) -> None:
        self._gate = gate

    async def __aenter__(self) -> None:
        await self._gate.enter()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._gate.leave(admitted=exc is None or not isinstance(exc, RateLimitError))


class JobGate:
    """One job's admission control (follows :class:`wa_groups._core.gate.RequestGate`).

    - At most ``concurrency`` requests are on the wire at once (one semaphore for the whole job).
    - A wait the server demands (``Retry-After``, usage headers) pauses the whole job once, not each batch.
    - Graph usually throttles without saying how long to wait. The job then paces itself: it measures the rate
      at which the server has been accepting its requests over the last second and sends a little faster than
      that (5 %), so it keeps the server's allowance in use while only a few requests are refused and retried.
      The pace rises by 0.1 % per accepted request, and doubles per second once a second has passed without a
      refusal, so a pace learnt in a bad moment does not hold the job back. After a demanded pause the job
      paces itself the same way, so the requests that waited are not all released at once.
    - With too few accepted requests to measure a rate (a refusal at the very start), the job pauses once for
      the retry policy's backoff wait instead.
    """

    #: Unexplained throttles a request may meet per allowed attempt without using one up (the job paces instead).
    paced_retries_per_attempt = 4

    PROBE = 1.05
    INCREASE = 1.001
    WINDOW = 1.0
    MIN_SPAN = 0.05
    MIN_RATE = 0.5
    MIN_SAMPLE = 4

    def __init__(self, concurrency: int, sleep: Callable[[float], Awaitable[None]]) -> None:
        self.semaphore = asyncio.Semaphore(concurrency)
        self.open = asyncio.Event()
        self.open.set()
        self._sleep = sleep
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()
        self._admitted: collections.deque[float] = collections.deque()
        self._next_send = 0.0
        self._last_throttle = self._started
        self._last_growth = self._started
        # Pauses are numbered; each task remembers the number current when it last sent a request, so an
        # answer to a request sent before a pause began is covered by that pause instead of starting another.
        self._pause_number = 0
        self._sent_during: ContextVar[int] = ContextVar("wa_groups_sent_during", default=-1)
        #: Requests per second the job holds itself to once throttled (``None``: not limited).
        self.rate: float | None = None
        #: Set when the job stops: requests not yet on the wire are not sent.
        self.stopped = False
        self._halted = asyncio.Event()
        #: How many times the job paused for a wait the server demanded.
        self.pauses = 0
        #: How many throttled answers the job received.
        self.throttled = 0

    def halt(self) -> None:
        """Stop the job: requests not on the wire yet are withheld, and a pause in progress ends at once."""
        self.stopped = True
        self._halted.set()

    async def _wait_open(self) -> None:
        """Wait for a pause to end, or for the job to stop."""
        opened = asyncio.ensure_future(self.open.wait())
        halted = asyncio.ensure_future(self._halted.wait())
        try:
            await asyncio.wait((opened, halted), return_when=asyncio.FIRST_COMPLETED)
        finally:
            opened.cancel()
            halted.cancel()
            await asyncio.gather(opened, halted, return_exceptions=True)

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds`` with the injectable sleep, ending early if the job stops."""
        if self._halted.is_set():
            return
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        halted = asyncio.ensure_future(self._halted.wait())
        try:
            await asyncio.wait((sleeper, halted), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            halted.cancel()
            await asyncio.gather(sleeper, halted, return_exceptions=True)

    def slot(self) -> _Slot:
        """Return the context manager a request holds while on the wire."""
        return _Slot(self)

    async def enter(self) -> None:
        """Wait for a pause to end, a free slot and the job's pace; raise :class:`JobStopped` once stopped."""
        while not self.open.is_set() and not self.stopped:
            await self._wait_open()
        if self.stopped:
            raise JobStopped("the job stopped before this batch was sent")
        await self.semaphore.acquire()
        if self.stopped:
            self.semaphore.release()
            raise JobStopped("the job stopped before this batch was sent")
        self._sent_during.set(self._pause_number)
        if self.rate is None:
            return
        now = self._loop.time()
        at = max(now, self._next_send)
        self._next_send = at + 1.0 / self.rate
        if at > now:
            try:
                await asyncio.sleep(at - now)
            except BaseException:
                self.semaphore.release()
                raise

    def leave(self, *, admitted: bool) -> None:
        """Free the slot; an ``admitted`` request counts towards the accepted rate and raises the pace."""
        self.semaphore.release()
        if not admitted:
            return
        now = self._loop.time()
        admitted_at = self._admitted
        admitted_at.append(now)
        while admitted_at[0] < now - self.WINDOW:
            admitted_at.popleft()
        if self.rate is not None:
            if now - self._last_throttle > self.WINDOW:
                self.rate *= 2.0 ** min(1.0, now - self._last_growth)
            else:
                self.rate *= self.INCREASE
        self._last_growth = now

    def observed_rate(self) -> tuple[float, int]:
        """Return the rate (requests per second) at which the server accepted this job's requests lately.

        Also return how many accepted requests the figure rests on.
        """
        now = self._loop.time()
        span = min(self.WINDOW, max(now - self._started, self.MIN_SPAN))
        recent = sum(1 for t in reversed(self._admitted) if t >= now - span) if self._admitted else 0
        return recent / span, recent

    async def throttle(self, seconds: float, demanded: bool = False) -> None:
        """Take a throttled answer: pace the job from now on and, when needed, pause it once for ``seconds``."""
        self.throttled += 1
        self._last_throttle = self._loop.time()
        rate, sample = self.observed_rate()
        if sample >= self.MIN_SAMPLE:
            # Pace from now on: the refused request's retry goes through enter(), which paces it.
            self.rate = max(self.MIN_RATE, rate * self.PROBE)
            if not demanded:
                return
        if not self.open.is_set() or self._sent_during.get() < self._pause_number:
            # Another request already paused the job, or a pause began after this one was sent: one pause
            # covers them all.
            await self._wait_open()
            return
        self._pause_number += 1
        self.open.clear()
        self.pauses += 1
        try:
            await self._pause(seconds)
        finally:
            self.open.set()
