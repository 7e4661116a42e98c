"""The bulk engine: batches under one gate, every item accounted for, whatever the backend.

The engine takes a batch call (``group, items -> succeeded, failures``) and an input (a list, or an async
source that streams items); it never imports a client. Inputs are consumed as they arrive, so the first batch
goes out before the last page of a listing arrives and memory stays flat.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TypedDict

from .._core.gate import ambiguity_note, current_gate
from .._core.retry import is_ambiguous
from ..errors import AuthenticationError, ClientValidationError, TransportError, WAGroupsError
from .gate import JobGate, JobStopped
from .results import BulkFailure, BulkProgress, BulkProgressCallback, BulkReport, BulkResult, accounted_items

__all__ = [
    "BatchCall",
    "Job",
    "JobOptions",
    "ReportOptions",
    "StreamSource",
    "check_concurrency",
    "group_work",
    "prepare_result",
    "run_items",
]

logger = logging.getLogger("wa_groups")


class JobOptions(TypedDict, total=False):
    """The options every bulk job takes as keyword arguments."""

    concurrency: int
    """Requests in flight at most, listings included (8 by default; 16 for cross-group jobs)."""

    batch_size: int
    """Items per request, capped at the backend's limit (8 for Graph)."""

    on_progress: BulkProgressCallback | None
    """Called with a :class:`~wa_groups.bulk.BulkProgress` after each batch (a function or a coroutine function)."""

    resume: BulkResult | None
    """A result of an earlier run: only its not-attempted items and retryable failures run again."""

    result: BulkResult | None
    """A result to fill in place, so that a cancelled task's partial result stays reachable."""


class ReportOptions(TypedDict, total=False):
    """The options of cross-group jobs, whose outcome is a :class:`~wa_groups.bulk.BulkReport`."""

    concurrency: int
    """Requests in flight at most, all groups together (16 by default)."""

    batch_size: int
    """Items per request, capped at the backend's limit (8 for Graph)."""

    on_progress: BulkProgressCallback | None
    """Called with a :class:`~wa_groups.bulk.BulkProgress` after each batch."""

    resume: BulkReport | None
    """A report of an earlier run to complete."""

    result: BulkReport | None
    """A report to fill in place, so that a cancelled task's partial report stays reachable."""


#: Send one batch for a group; return (items that succeeded, [(item, error)] for those that failed).
BatchCall = Callable[[str, list[str]], Awaitable[tuple[list[str], list[tuple[str, WAGroupsError]]]]]


def check_concurrency(concurrency: object, batch_size: object, max_batch: int | None) -> tuple[int, int]:
    """Return ``(concurrency, batch_size)`` checked, the batch size capped at the backend's ``max_batch``."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ClientValidationError(f"concurrency must be an int >= 1, got {concurrency!r}", argument="concurrency")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ClientValidationError(f"batch_size must be an int >= 1, got {batch_size!r}", argument="batch_size")
    return concurrency, batch_size if max_batch is None else min(batch_size, max_batch)


class Job:
    """Runs the batches of one job (one or many groups) and keeps the progress counters."""

    def __init__(
        self,
        call: BatchCall,
        sleep: Callable[[float], Awaitable[None]],
        *,
        concurrency: int,
        batch_size: int,
        on_progress: BulkProgressCallback | None,
    ) -> None:
        self.call = call
        self.batch_size = batch_size
        self.gate = JobGate(concurrency, sleep)
        self.on_progress = on_progress
        self.total: int | None = 0
        self.succeeded = 0
        self.failed = 0
        self.stop: WAGroupsError | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        # Bounds the batches created but not finished, so streamed inputs are read only as fast as they are sent.
        self.pending = asyncio.Semaphore(concurrency * 2)
        self.in_flight: dict[asyncio.Task[None], tuple[BulkResult, list[str]]] = {}
        self.sent: set[asyncio.Task[None]] = set()

    async def run_batch(self, result: BulkResult, batch: list[str]) -> None:
        """Send one batch and record each of its items in ``result``; never raises for the batch's failure."""
        try:
            if self.stop is not None:
                result.not_attempted.extend(batch)
                return
            task = asyncio.current_task()
            if task is not None:
                self.sent.add(task)
            notes: list[WAGroupsError] = []
            ambiguity_note.set(notes)  # this task's own context: the transport notes lost answers here
            try:
                done, failures = await self.call(result.group_id, batch)
            except JobStopped:
                result.not_attempted.extend(batch)
                return
            except WAGroupsError as error:
                if isinstance(error, AuthenticationError):
                    # The server refused the token and did nothing: the batch is not attempted, so a resumed
                    # job with a valid token sends it again.
                    self.halt(error)
                    result.not_attempted.extend(batch)
                    return
                if notes or is_ambiguous(error):
                    # Some attempt's answer was lost: the batch may have been carried out after all.
                    error.mark_outcome_unknown()
                done, failures = [], [(item, error) for item in batch]
            except Exception as exc:  # a bug must not lose the batch: record it, keep the job going
                logger.exception("bulk batch failed unexpectedly")
                unexpected = WAGroupsError(f"unexpected {type(exc).__name__} while sending the batch")
                unexpected.mark_outcome_unknown()
                done, failures = [], [(item, unexpected) for item in batch]
            result.succeeded.extend(done)
            result.failed.extend(BulkFailure(item=i, group_id=result.group_id, error=e) for i, e in failures)
            self.succeeded += len(done)
            self.failed += len(failures)
            await self.report()
        finally:
            self.pending.release()

    def halt(self, error: WAGroupsError) -> None:
        """Stop the job: nothing more is sent, and what was not sent is recorded as not attempted."""
        if self.stop is None:
            self.stop = error
        self.gate.stopped = True

    async def report(self) -> None:
        """Call ``on_progress`` with the current counts; a failing callback is logged, never raised."""
        if self.on_progress is None:
            return
        progress = BulkProgress(
            done=self.succeeded + self.failed, total=self.total, succeeded=self.succeeded, failed=self.failed
        )
        try:
            outcome = self.on_progress(progress)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:  # a progress display must not break the job
            logger.warning("on_progress callback failed", exc_info=True)

    async def feed(self, result: BulkResult, items: AsyncIterator[str] | list[str], seen: set[str]) -> None:
        """Batch the items of one group that are not in ``seen`` and dispatch them as they fill.

        On cancellation, the batch being filled and (for a list) every item not yet batched are recorded as
        not attempted, so nothing is lost.
        """
        batch: list[str] = []
        position = 0
        try:
            try:
                if isinstance(items, list):
                    for position, item in enumerate(items):  # noqa: B007 - read after a cancellation
                        if self.add(item, batch, seen):
                            await self.flush(result, batch)
                            batch = []
                    position = len(items)
                else:
                    async for item in items:
                        if self.add(item, batch, seen):
                            await self.flush(result, batch)
                            batch = []
            except asyncio.CancelledError:
                raise
            except BaseException:
                await self.flush(result, batch)
                batch = []
                raise
            await self.flush(result, batch)
            batch = []
        except asyncio.CancelledError:
            result.not_attempted.extend(batch)
            if isinstance(items, list):
                for item in items[position + 1 :]:
                    if item not in seen:
                        seen.add(item)
                        result.not_attempted.append(item)
            raise

    def add(self, item: str, batch: list[str], seen: set[str]) -> bool:
        """Add ``item`` to ``batch`` unless already seen; return True when the batch is full."""
        if item in seen:
            return False
        seen.add(item)
        batch.append(item)
        return len(batch) >= self.batch_size

    async def flush(self, result: BulkResult, batch: list[str]) -> None:
        """Dispatch a batch, or record it as not attempted once the job has stopped.

        If cancelled while waiting for room, the batch stays the caller's to account for.
        """
        if not batch:
            return
        if self.stop is not None:
            result.not_attempted.extend(batch)
            return
        await self.pending.acquire()
        task = asyncio.get_running_loop().create_task(self.run_batch(result, batch))
        self.tasks.add(task)
        self.in_flight[task] = (result, batch)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.in_flight.pop(task, None)
        self.sent.discard(task)

    async def drain(self) -> None:
        """Wait until every dispatched batch has finished."""
        # asyncio.wait, not gather: if the job is cancelled meanwhile, gather would cancel the batches itself
        # and they would vanish from in_flight before cancel() could account for them.
        while self.tasks:
            await asyncio.wait(list(self.tasks))

    async def cancel(self) -> None:
        """Cancel the batches still running; items whose answer never came are failures of unknown outcome."""
        pending = [(task, state, task in self.sent) for task, state in self.in_flight.items()]
        for task, _, _ in pending:
            task.cancel()
        for task, (result, batch), sent in pending:
            try:
                await task
            except asyncio.CancelledError:
                accounted = accounted_items(result)
                left = [item for item in batch if item not in accounted]
                if not sent:
                    result.not_attempted.extend(left)
                    continue
                error = TransportError("the job was cancelled while this batch was in flight")
                error.mark_outcome_unknown()
                result.failed.extend(BulkFailure(item=item, group_id=result.group_id, error=error) for item in left)

    async def guarded(self, work: Awaitable[None]) -> None:
        """Run ``work`` with this job's gate installed; on cancellation leave every result consistent."""
        token = current_gate.set(self.gate)
        try:
            await work
            await self.drain()
        except BaseException:
            # Cancelled, or the input itself failed: stop the batches still running and account for them.
            await asyncio.shield(self.cancel())
            raise
        finally:
            current_gate.reset(token)


def unique(items: Iterable[str], normalise: Callable[[str], str]) -> list[str]:
    """Return the distinct normalised items, in their first order."""
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(normalise(item), None)
    return list(seen)


def uncertain(failures: Iterable[BulkFailure]) -> set[str]:
    """Return the items whose earlier attempt may have taken effect."""
    return {failure.item for failure in failures if failure.error.outcome_unknown}


def prepare_result(
    result: BulkResult | None, resume: BulkResult | None, action: str, group_id: str
) -> tuple[BulkResult, list[str] | None]:
    """Return the result to fill and, when resuming, the items to run again."""
    target = result if result is not None else BulkResult()
    target.action, target.group_id = action, group_id
    if resume is None:
        return target, None
    if resume.group_id and resume.group_id != group_id:
        raise ClientValidationError(
            f"resume= holds a result for group {resume.group_id!r}, not {group_id!r}", argument="resume"
        )
    again = resume.retry_items()
    target.succeeded[:] = list(resume.succeeded)
    target.failed[:] = [f for f in resume.failed if not f.retryable]
    target.not_attempted.clear()
    return target, again


#: Feeds a group's streamed items into the job (``job.feed``) and sets ``result.exhausted`` when it ends.
StreamSource = Callable[["Job", BulkResult, set[str]], Awaitable[None]]


async def group_work(
    job: Job, result: BulkResult, explicit: list[str] | None, stream: StreamSource | None, seen: set[str]
) -> None:
    """Run one group's part of a job: explicit items first, then (if given) the items ``stream`` feeds."""
    if explicit:
        await job.feed(result, explicit, seen)
    if stream is not None:
        await stream(job, result, seen)
    else:
        result.exhausted = job.stop is None


async def run_items(
    call: BatchCall,
    sleep: Callable[[float], Awaitable[None]],
    *,
    action: str,
    group_id: str,
    items: Iterable[str],
    normalise: Callable[[str], str],
    concurrency: int,
    batch_size: int,
    on_progress: BulkProgressCallback | None,
    resume: BulkResult | None,
    result: BulkResult | None = None,
    max_batch: int | None = None,
) -> BulkResult:
    """Run ``call`` over a list of items of one group in batches; any backend's bulk helpers use this."""
    concurrency, batch_size = check_concurrency(concurrency, batch_size, max_batch)
    if isinstance(items, str):
        raise ClientValidationError("pass a list of items, not one string", argument="items")
    job = Job(call, sleep, concurrency=concurrency, batch_size=batch_size, on_progress=on_progress)
    target, again = prepare_result(result, resume, action, group_id)
    todo = again if again is not None else unique(items, normalise)
    seen = set(target.succeeded) | {f.item for f in target.failed}
    job.total = len(todo)
    await job.guarded(group_work(job, target, todo, None, seen))
    if job.stop is not None:
        target.stopped_by = job.stop
    return target
