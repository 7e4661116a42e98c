"""The bulk engine's job runner: batches under one gate, every item accounted for, whatever the backend.

A :class:`Job` takes a batch call (``group, items -> succeeded, failures``) and never imports a client. Inputs
are consumed as they arrive, so the first batch goes out before the last page of a listing arrives and memory
stays flat. Its batching, draining and cancellation share one state (:mod:`.state`) and one invariant: every
accepted key is queued, in a batch in flight, or recorded in exactly one outcome. Settling unknown outcomes on
resume is in :mod:`.resume`; the entry points that run one group's items are in :mod:`.items`.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from .._core.gate import ambiguity_note, current_gate
from .._core.retry import is_ambiguous
from ..errors import AuthenticationError, RateLimitError, TransportError, WAGroupsError
from .checkpoint import Checkpointer, snapshot_result
from .gate import JobGate, JobStopped
from .options import (
    DEFAULT_CHECKPOINT_INTERVAL,
    CheckpointTarget,
    JobDefaults,
    JobOptions,
    ReportOptions,
    check_concurrency,
    check_job_options,
    job_defaults,
)
from .results import BulkFailure, BulkProgress, BulkProgressCallback, BulkReport, BulkResult
from .state import Batch, BatchCall, GroupRun, Settle, Settled

__all__ = [
    "Job",
    # Defined in .options and .state; still importable from here, where they were first defined.
    "BatchCall",
    "CheckpointTarget",
    "GroupRun",
    "JobDefaults",
    "JobOptions",
    "ReportOptions",
    "Settle",
    "Settled",
    "check_concurrency",
    "job_defaults",
]

logger = logging.getLogger("wa_groups")


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
        stop: asyncio.Event | None = None,
        checkpoint: CheckpointTarget | None = None,
        checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL,
        settle: Settle | None = None,
        max_wait: float | None = None,
    ) -> None:
        ambient = job_defaults.get()
        if ambient is not None:
            stop = stop if stop is not None else ambient.stop
            checkpoint = checkpoint if checkpoint is not None else ambient.checkpoint
            if ambient.checkpoint_interval is not None and checkpoint_interval == DEFAULT_CHECKPOINT_INTERVAL:
                checkpoint_interval = ambient.checkpoint_interval
        self.call = call
        #: The longest wait the job sits through when the server demands one (the retry policy's ``max_wait``);
        #: a longer demand stops the job. ``None``: demands never stop it.
        self.max_wait = max_wait
        self.batch_size = batch_size
        self.gate = JobGate(concurrency, sleep)
        self.on_progress = on_progress
        self.settle = settle
        self.stop_event = stop
        self.checkpointer = None if checkpoint is None else Checkpointer(checkpoint)
        self.checkpoint_interval = check_job_options(stop, checkpoint_interval)
        self._last_checkpoint = 0.0
        #: Builds what a checkpoint holds (set by the job function: a result, or a report of many groups).
        self.snapshot: Callable[[], BulkResult | BulkReport] | None = None
        #: Returns the job's own result or report, written as the last checkpoint once every item is recorded.
        self.final: Callable[[], BulkResult | BulkReport] | None = None
        self.total: int | None = 0
        self.succeeded = 0
        self.failed = 0
        self.stop: WAGroupsError | None = None
        self.runs: list[GroupRun] = []
        self.tasks: set[asyncio.Task[None]] = set()
        # Bounds the batches created but not finished, so streamed inputs are read only as fast as they are sent.
        self.pending = asyncio.Semaphore(concurrency * 2)
        self.in_flight: dict[asyncio.Task[None], Batch] = {}

    # ------------------------------------------------------------------------------------------ accounting

    def add_run(self, run: GroupRun) -> GroupRun:
        """Register a group's run, so cancellation and checkpoints account for its items."""
        self.runs.append(run)
        return run

    def record(self, run: GroupRun, done: Iterable[str], failures: Iterable[tuple[str, WAGroupsError]]) -> None:
        """Record outcomes of keys of ``run`` under the caller's spellings."""
        result = run.result
        labels = [run.label(key) for key in done]
        result.succeeded.extend(labels)
        failed = [BulkFailure(item=run.label(key), group_id=result.group_id, error=e) for key, e in failures]
        result.failed.extend(failed)
        self.succeeded += len(labels)
        self.failed += len(failed)

    def not_attempted(self, run: GroupRun, keys: Iterable[str]) -> None:
        """Record keys of ``run`` that have no outcome as not attempted (:meth:`BulkResult.account_for`)."""
        run.result.account_for(run.label(key) for key in keys)

    def accept(self, run: GroupRun, key: str, *, hold: bool = False) -> bool:
        """Queue ``key`` unless the job already took it; return True when it was taken.

        With ``hold`` the key is held instead, until :meth:`release` lets it be sent.
        """
        if key in run.seen:
            return False
        run.seen.add(key)
        if hold:
            run.held[key] = None
        else:
            run.queued[key] = None
        return True

    def release(self, run: GroupRun, keys: Iterable[str] | None = None) -> None:
        """Queue the held ``keys`` of ``run`` (those still held, in the given order); every held key when None."""
        held, queued = run.held, run.queued
        if keys is None:
            queued.update(held)
            held.clear()
            return
        for key in keys:
            if key in held:
                del held[key]
                queued[key] = None

    # ------------------------------------------------------------------------------------------- batches

    async def run_batch(self, state: Batch) -> None:
        """Send one batch and record each of its items; never raises for the batch's failure."""
        run, batch = state.run, state.keys
        try:
            if self.stop is not None:
                state.recorded = True
                self.not_attempted(run, batch)
                return
            state.sent = True
            notes: list[WAGroupsError] = []
            ambiguity_note.set(notes)  # this task's own context: the transport notes lost answers here
            try:
                done, failures = await self.call(run.result.group_id, batch)
            except JobStopped:
                state.recorded = True
                if not notes:
                    self.not_attempted(run, batch)
                    return
                # An earlier attempt's answer was lost before the stop withheld the next: it may have taken effect.
                lost = TransportError("the job stopped after an attempt of this batch whose answer was lost")
                lost.mark_outcome_unknown()
                self.record(run, [], [(key, lost) for key in batch])
                return
            except WAGroupsError as error:
                if isinstance(error, AuthenticationError):
                    # The server refused the token and did nothing: the batch is not attempted, so a resumed
                    # job with a valid token sends it again.
                    self.halt(error)
                    state.recorded = True
                    self.not_attempted(run, batch)
                    return
                if not notes and error.not_processed and self.stop is not None:
                    # Refused unprocessed, and the job has stopped meanwhile so it is not tried again: the
                    # server did nothing with it.
                    state.recorded = True
                    self.not_attempted(run, batch)
                    return
                if not notes and self.refuses_wait(error):
                    # The server demanded a wait longer than the policy's max_wait, which the job will not sit
                    # through: stop cleanly instead of sending every remaining batch only to have it refused.
                    self.halt(error)
                    state.recorded = True
                    self.not_attempted(run, batch)
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
            state.recorded = True
            self.record(run, done, failures)
            await self.report()
            await self.checkpoint()
        finally:
            self.pending.release()

    def refuses_wait(self, error: WAGroupsError) -> bool:
        """Tell whether ``error`` demands a wait longer than the job's ``max_wait`` (the transport did not wait)."""
        return (
            self.max_wait is not None
            and isinstance(error, RateLimitError)
            and error.retry_after is not None
            and error.retry_after > self.max_wait
        )

    def stops_on(self, error: WAGroupsError) -> bool:
        """Tell whether ``error`` ends the whole job: a refused token, or a wait longer than ``max_wait``."""
        return isinstance(error, AuthenticationError) or self.refuses_wait(error)

    def halt(self, error: WAGroupsError) -> None:
        """Stop the job: nothing more is sent, and what was not sent is recorded as not attempted."""
        if self.stop is None:
            self.stop = error
        self.gate.halt()

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

    async def feed(self, run: GroupRun, items: AsyncIterator[str] | list[str]) -> None:
        """Accept the keys of one group that the job has not taken yet and dispatch them in full batches.

        A list is queued whole first, so a checkpoint or a cancellation accounts for every item at once; a stream
        is queued as it arrives. A last, short batch is left queued for :meth:`dispatch` with ``final=True``
        (which :func:`~wa_groups.bulk.items.group_work` does).
        """
        if isinstance(items, list):
            for key in items:
                self.accept(run, key)
            await self.dispatch(run)
            return
        async for key in items:
            if self.stop is not None:
                break
            if self.accept(run, key):
                await self.dispatch(run)

    async def dispatch(self, run: GroupRun, *, final: bool = False) -> None:
        """Send the queued keys of ``run`` in full batches (and the remainder when ``final``).

        Once the job has stopped, queued keys are recorded as not attempted instead. A key leaves the queue
        only when its batch task exists, so a cancellation while waiting for room loses nothing.
        """
        queued = run.queued
        while len(queued) >= self.batch_size or (final and queued):
            if self.stop is not None:
                self.not_attempted(run, list(queued))
                queued.clear()
                return
            await self.pending.acquire()
            if self.stop is not None:
                self.pending.release()
                continue
            batch = list(itertools.islice(queued, self.batch_size))
            for key in batch:
                del queued[key]
            state = Batch(run=run, keys=batch)
            task = asyncio.get_running_loop().create_task(self.run_batch(state))
            self.tasks.add(task)
            self.in_flight[task] = state
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.in_flight.pop(task, None)

    async def drain(self) -> None:
        """Wait until every dispatched batch has finished."""
        # asyncio.wait, not gather: if the job is cancelled meanwhile, gather would cancel the batches itself
        # and they would vanish from in_flight before cancel() could account for them.
        while self.tasks:
            await asyncio.wait(list(self.tasks))

    async def cancel(self) -> None:
        """Cancel the batches still running; items whose answer never came are failures of unknown outcome."""
        pending = list(self.in_flight.items())
        for task, _ in pending:
            task.cancel()
        for task, state in pending:
            await asyncio.gather(task, return_exceptions=True)
            if state.recorded:
                continue
            state.recorded = True
            if not state.sent:
                self.not_attempted(state.run, state.keys)
                continue
            error = TransportError("the job was cancelled while this batch was in flight")
            error.mark_outcome_unknown()
            self.record(state.run, [], [(key, error) for key in state.keys])
        self.leftovers()

    def leftovers(self) -> None:
        """Record every key still held or queued as not attempted."""
        for run in self.runs:
            self.release(run)
            if run.queued:
                self.not_attempted(run, list(run.queued))
                run.queued.clear()

    # ---------------------------------------------------------------------------------------- checkpoints

    def snapshot_result(self, run: GroupRun) -> BulkResult:
        """Return a copy of ``run``'s result with every key it holds accounted for (see :func:`snapshot_result`)."""
        return snapshot_result(run, self.in_flight.values())

    async def checkpoint(self, *, force: bool = False, final: bool = False) -> None:
        """Write a checkpoint when one is due (``force``: now); a failure to write is logged, never raised.

        ``final`` writes the job's own result, once every item is recorded (the job ended or was cancelled).
        """
        if self.checkpointer is None or self.snapshot is None:
            return
        if final and self.final is not None:
            await self.checkpointer.write(self.final())
            return
        now = asyncio.get_running_loop().time()
        if not force and now - self._last_checkpoint < self.checkpoint_interval:
            return
        self._last_checkpoint = now
        await self.checkpointer.write(self.snapshot())

    # ------------------------------------------------------------------------------------------- running

    async def _watch_stop(self, event: asyncio.Event) -> None:
        await event.wait()
        # A plain WAGroupsError, so the report reads the same after a JSON round trip.
        self.halt(WAGroupsError("the job was asked to stop; what was not sent is not attempted"))

    async def run_to_end(self, work: Awaitable[None], target: BulkResult | BulkReport) -> None:
        """Run ``work`` (see :meth:`guarded`), then record why the job stopped on ``target`` and checkpoint it."""
        await self.guarded(work)
        if self.stop is not None:
            target.stopped_by = target.stopped_by or self.stop
        await self.checkpoint(final=True)

    async def guarded(self, work: Awaitable[None]) -> None:
        """Run ``work`` with this job's gate installed; on cancellation leave every result consistent."""
        token = current_gate.set(self.gate)
        watcher = (
            None
            if self.stop_event is None
            else asyncio.get_running_loop().create_task(self._watch_stop(self.stop_event))
        )
        try:
            await self.checkpoint(force=True)
            await work
            await self.drain()
            self.leftovers()
        except BaseException:
            # Cancelled, or the input itself failed: stop the batches still running and account for them.
            await asyncio.shield(self.cancel())
            await asyncio.shield(self.checkpoint(final=True))
            raise
        finally:
            current_gate.reset(token)
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
