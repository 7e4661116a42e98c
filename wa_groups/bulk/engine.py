"""The bulk engine: batches under one gate, every item accounted for, whatever the backend.

The engine takes a batch call (``group, items -> succeeded, failures``) and an input (a list, or an async
source that streams items); it never imports a client. Inputs are consumed as they arrive, so the first batch
goes out before the last page of a listing arrives and memory stays flat.

Items are handled under a *key* (the normalised form, e.g. a phone number's digits) and reported under the
caller's own first spelling. Every accepted key is, at any moment, in exactly one place: queued (accepted, not
dispatched), in a batch in flight, or recorded in one of the result's three outcomes. That is what lets a
checkpoint written at any moment, and a cancelled job, account for every item.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import TypedDict, Union, cast

import attrs

from .._core.gate import ambiguity_note, current_gate
from .._core.retry import is_ambiguous
from ..errors import AuthenticationError, ClientValidationError, RateLimitError, TransportError, WAGroupsError
from .checkpoint import Checkpointer
from .gate import JobGate, JobStopped
from .results import BulkFailure, BulkProgress, BulkProgressCallback, BulkReport, BulkResult

__all__ = [
    "BatchCall",
    "CheckpointTarget",
    "GroupRun",
    "Job",
    "JobDefaults",
    "JobOptions",
    "ReportOptions",
    "Settle",
    "Settled",
    "StreamSource",
    "check_concurrency",
    "group_work",
    "job_defaults",
    "prepare_run",
    "run_items",
]

logger = logging.getLogger("wa_groups")

#: Where a job writes its checkpoints: a file path (written atomically), or a callable given the partial
#: result (or report) at each checkpoint; a coroutine function is awaited.
CheckpointTarget = Union[str, "os.PathLike[str]", Callable[[BulkResult | BulkReport], "Awaitable[None] | None"]]

#: Seconds between two checkpoints written after batches (the first and last are always written).
DEFAULT_CHECKPOINT_INTERVAL = 2.0


@attrs.frozen(kw_only=True)
class JobDefaults:
    """Options for the bulk jobs started in a context, where a job's own options leave them unset."""

    stop: asyncio.Event | None = None
    """See :attr:`JobOptions.stop`."""

    checkpoint: CheckpointTarget | None = None
    """See :attr:`JobOptions.checkpoint`."""

    checkpoint_interval: float | None = None
    """See :attr:`JobOptions.checkpoint_interval`."""


#: Defaults for the bulk jobs started in the current context. A runner that starts jobs through code it does
#: not write (the ``wa-groups`` command runs every bulk command this way) sets a stop event and a checkpoint
#: for all of them at once; the options a job is given still win.
job_defaults: ContextVar[JobDefaults | None] = ContextVar("wa_groups_job_defaults", default=None)


class JobOptions(TypedDict, total=False):
    """The options every bulk job takes as keyword arguments."""

    concurrency: int
    """Requests in flight at most, listings included (8 by default; 16 for cross-group jobs)."""

    batch_size: int
    """Items per request, capped at the backend's limit (8 for Graph)."""

    on_progress: BulkProgressCallback | None
    """Called with a :class:`~wa_groups.bulk.BulkProgress` after each batch (a function or a coroutine function)."""

    resume: BulkResult | None
    """A result of an earlier run: its not-attempted items and retryable failures run again, and items whose
    outcome was unknown are settled by looking at the server first (never sent blindly a second time)."""

    result: BulkResult | None
    """A result to fill in place, so that a cancelled task's partial result stays reachable."""

    stop: asyncio.Event | None
    """Set this event to stop the job gently: no new batch is sent, the batches in flight are waited for so
    their outcome is known, and the rest is recorded as not attempted. Cancelling the task still stops at once."""

    checkpoint: CheckpointTarget | None
    """Keep a resumable copy of the result while the job runs: a file path (replaced atomically) or a callable.
    Written when the job starts, after batches at most every ``checkpoint_interval`` seconds, and at the end
    (cancellation included). Batches in flight at a checkpoint appear as failures of unknown outcome."""

    checkpoint_interval: float
    """Seconds between checkpoints written after batches (2 by default)."""


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

    stop: asyncio.Event | None
    """Set this event to stop the job gently (see :class:`JobOptions`)."""

    checkpoint: CheckpointTarget | None
    """Keep a resumable copy of the report while the job runs (see :class:`JobOptions`)."""

    checkpoint_interval: float
    """Seconds between checkpoints written after batches (2 by default)."""


#: Send one batch for a group; return (items that succeeded, [(item, error)] for those that failed).
BatchCall = Callable[[str, list[str]], Awaitable[tuple[list[str], list[tuple[str, WAGroupsError]]]]]


@attrs.define
class Settled:
    """What looking at the server said about items whose earlier attempt may have taken effect."""

    done: list[str] = attrs.field(factory=list)
    """Items found in the state the job wanted: the earlier attempt took effect."""

    again: list[str] = attrs.field(factory=list)
    """Items found not done: sending them again does not do anything twice."""

    failed: list[tuple[str, WAGroupsError]] = attrs.field(factory=list)
    """Items that looking could not settle, each with why (e.g. an ``UnconfirmedError``)."""


#: Look at the server to settle items of a group whose outcome is unknown: (group, items, requesters) -> Settled.
Settle = Callable[[str, list[str], Mapping[str, str]], Awaitable[Settled]]


def check_concurrency(concurrency: object, batch_size: object, max_batch: int | None) -> tuple[int, int]:
    """Return ``(concurrency, batch_size)`` checked, the batch size capped at the backend's ``max_batch``."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ClientValidationError(f"concurrency must be an int >= 1, got {concurrency!r}", argument="concurrency")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ClientValidationError(f"batch_size must be an int >= 1, got {batch_size!r}", argument="batch_size")
    return concurrency, batch_size if max_batch is None else min(batch_size, max_batch)


def _check_job_options(stop: object, checkpoint_interval: object) -> float:
    if stop is not None and not isinstance(stop, asyncio.Event):
        raise ClientValidationError(f"stop must be an asyncio.Event, got {type(stop).__name__}", argument="stop")
    if (
        isinstance(checkpoint_interval, bool)
        or not isinstance(checkpoint_interval, (int, float))
        or not 0 <= checkpoint_interval < float("inf")
    ):
        raise ClientValidationError(
            f"checkpoint_interval must be a number of seconds >= 0, got {checkpoint_interval!r}",
            argument="checkpoint_interval",
        )
    return float(checkpoint_interval)


@attrs.define(eq=False)
class GroupRun:
    """One group's share of a job: its result and the items accepted but not yet recorded."""

    result: BulkResult
    """The result being filled."""

    seen: set[str] = attrs.field(factory=set)
    """Keys accepted by the job in any state (queued, in flight or recorded): a key is never taken twice."""

    queued: dict[str, None] = attrs.field(factory=dict)
    """Keys accepted and not dispatched yet, in order."""

    spelling: dict[str, str] = attrs.field(factory=dict)
    """Key -> the caller's first spelling, where the two differ."""

    def label(self, key: str) -> str:
        """Return the caller's spelling of ``key``."""
        return self.spelling.get(key, key)


@attrs.define(eq=False)
class Batch:
    """One batch of a job and how far it got."""

    run: GroupRun
    keys: list[str]
    sent: bool = False
    """True once the batch's request may have left (the call began)."""
    recorded: bool = False
    """True once each of its keys is recorded in an outcome."""


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
        self.checkpoint_interval = _check_job_options(stop, checkpoint_interval)
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
        """Record keys of ``run`` as not attempted."""
        run.result.not_attempted.extend(run.label(key) for key in keys)

    def accept(self, run: GroupRun, key: str) -> bool:
        """Queue ``key`` unless the job already took it; return True when it was queued."""
        if key in run.seen:
            return False
        run.seen.add(key)
        run.queued[key] = None
        return True

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

    def run_for(self, result: BulkResult, seen: set[str]) -> GroupRun:
        """Return the run that fills ``result`` (registered on first use), taking ``seen`` as its taken keys.

        For callers of the earlier convention, which pass a result and the set of items already taken.
        """
        for run in self.runs:
            if run.result is result:
                return run
        return self.add_run(GroupRun(result=result, seen=seen))

    async def feed(
        self, run: GroupRun | BulkResult, items: AsyncIterator[str] | list[str], seen: set[str] | None = None
    ) -> None:
        """Accept the keys of one group that the job has not taken yet and dispatch them in full batches.

        A list is queued whole first, so a checkpoint or a cancellation accounts for every item at once; a stream
        is queued as it arrives. A last, short batch is left queued for :meth:`dispatch` with ``final=True``
        (which :func:`group_work` does). ``run`` may also be a result with its ``seen`` set (the earlier
        convention, still used by the broadcast job).
        """
        if isinstance(run, BulkResult):
            run = self.run_for(run, seen if seen is not None else set())
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
        """Record every key still queued as not attempted."""
        for run in self.runs:
            if run.queued:
                self.not_attempted(run, list(run.queued))
                run.queued.clear()

    # ------------------------------------------------------------------------------------------ settling

    async def settle_unknown(self, run: GroupRun, keys: list[str]) -> None:
        """Settle keys of ``run`` whose earlier outcome is unknown by looking, then queue those found not done.

        Until settled they stay recorded as failures of unknown outcome; when looking fails they stay so, and a
        later resume tries again. A backend without a settle function sends them again.
        """
        if not keys or self.stop is not None:
            return
        result = run.result
        if self.settle is None:
            # A backend that cannot look: its items are sent again, as the backend's own retry rules allow.
            resend = {run.label(key) for key in keys}
            result.failed[:] = [f for f in result.failed if not (f.item in resend and f.error.outcome_unknown)]
            result.not_attempted[:] = [i for i in result.not_attempted if i not in resend]
            for key in keys:
                run.queued[key] = None
            return
        try:
            settled = await self.settle(result.group_id, keys, result.requesters)
        except JobStopped:
            return
        except WAGroupsError as error:
            if self.stops_on(error):
                self.halt(error)
            logger.warning("could not settle %d items of unknown outcome in %s: %s", len(keys), result.group_id, error)
            # Items a running checkpoint left as not attempted stay uncertain: say so, so no later resume
            # takes them for never sent.
            unsure = set(result.not_attempted) & {run.label(key) for key in keys}
            if unsure:
                result.not_attempted[:] = [i for i in result.not_attempted if i not in unsure]
                lost = TransportError("may have been sent after the last checkpoint; looking failed")
                lost.mark_outcome_unknown()
                result.failed.extend(BulkFailure(item=i, group_id=result.group_id, error=lost) for i in unsure)
            return
        resolved = {run.label(key) for key in (*settled.done, *settled.again, *(k for k, _ in settled.failed))}
        result.failed[:] = [f for f in result.failed if not (f.item in resolved and f.error.outcome_unknown)]
        result.not_attempted[:] = [i for i in result.not_attempted if i not in resolved]
        self.record(run, settled.done, settled.failed)
        for key in settled.again:
            run.queued[key] = None

    # ---------------------------------------------------------------------------------------- checkpoints

    def snapshot_result(self, run: GroupRun) -> BulkResult:
        """Return a copy of ``run``'s result with every key it holds accounted for.

        Keys in batches already sent are failures of unknown outcome (the answer is not back), queued keys and
        batches not yet sent are not attempted: resuming from the copy settles or sends each as it should.
        """
        result = run.result
        failed = list(result.failed)
        not_attempted = list(result.not_attempted)
        for state in self.in_flight.values():
            if state.run is not run or state.recorded:
                continue
            batch = state.keys
            if state.sent:
                error = TransportError("the batch was in flight when this checkpoint was written")
                error.mark_outcome_unknown()
                failed.extend(BulkFailure(item=run.label(k), group_id=result.group_id, error=error) for k in batch)
            else:
                not_attempted.extend(run.label(k) for k in batch)
        not_attempted.extend(run.label(k) for k in run.queued)
        return attrs.evolve(
            result,
            running=True,
            succeeded=list(result.succeeded),
            failed=failed,
            not_attempted=not_attempted,
            duplicates=dict(result.duplicates),
            requesters=dict(result.requesters),
            details=dict(result.details),
        )

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


def unique(items: Iterable[str], normalise: Callable[[str], str], run: GroupRun | None = None) -> list[str]:
    """Return the distinct normalised items (keys), in their first order.

    With ``run``, remember each key's first spelling and note every dropped repeat in ``run.result.duplicates``.
    """
    first: dict[str, str] = {}
    for item in items:
        key = normalise(item)
        if key in first:
            if run is not None:
                run.result.duplicates.setdefault(item, first[key])
            continue
        first[key] = item
        if run is not None and item != key:
            run.spelling[key] = item
    return list(first)


def prepare_run(
    job: Job,
    result: BulkResult | None,
    resume: BulkResult | None,
    action: str,
    group_id: str,
    normalise: Callable[[str], str] = str,
) -> tuple[GroupRun, list[str] | None, list[str]]:
    """Return the run to fill and, when resuming, the keys to send again and the keys to settle first.

    The resumed result keeps its successes, its final failures and (until settled) its failures of unknown
    outcome; its not-attempted items and retryable failures of known outcome are sent again.
    """
    target = result if result is not None else BulkResult()
    target.action, target.group_id = action, group_id
    run = job.add_run(GroupRun(result=target))
    if resume is None:
        return run, None, []
    if resume.group_id and resume.group_id != group_id:
        raise ClientValidationError(
            f"resume= holds a result for group {resume.group_id!r}, not {group_id!r}", argument="resume"
        )

    def key_of(label: str, taken: bool = True) -> str:
        key = normalise(label)
        if key != label:
            run.spelling.setdefault(key, label)
        if taken:  # recorded already: a stream must not take it again (items to send are taken by feed)
            run.seen.add(key)
        return key

    unknown_failures = [f for f in resume.failed if f.error.outcome_unknown]
    # A checkpoint of a job that was still running may be followed by sends it does not record: its
    # not-attempted items are settled by looking, like outcomes known to be unknown.
    unsure = list(resume.not_attempted) if resume.running else []
    again = [] if resume.running else [key_of(i, False) for i in resume.not_attempted]
    again += [key_of(f.item, False) for f in resume.failed if f.retryable and not f.error.outcome_unknown]
    unknown = [key_of(f.item) for f in unknown_failures] + [key_of(i) for i in unsure]
    for item in resume.succeeded:
        key_of(item)
    kept = [f for f in resume.failed if not f.retryable]
    for failure in kept:
        key_of(failure.item)
    target.succeeded[:] = list(resume.succeeded)
    target.failed[:] = kept + unknown_failures
    target.not_attempted[:] = unsure  # until settled
    target.duplicates = dict(resume.duplicates)
    target.requesters = dict(resume.requesters)
    target.exhausted = False
    return run, again, unknown


#: Feeds a group's streamed items into the job (``job.feed``) and sets ``result.exhausted`` when it ends.
StreamSource = Callable[["Job", GroupRun], Awaitable[None]]


#: A stream source of the earlier convention: given the result and the set of items already taken.
ResultStreamSource = Callable[["Job", BulkResult, set[str]], Awaitable[None]]


async def group_work(
    job: Job,
    run: GroupRun | BulkResult,
    explicit: list[str] | None,
    stream: StreamSource | ResultStreamSource | None,
    unknown: list[str] | set[str] | None = None,
) -> None:
    """Run one group's part of a job: settle unknown outcomes, send explicit items, then (if given) the stream.

    With a :class:`GroupRun`, ``stream`` is a :data:`StreamSource` and ``unknown`` the keys to settle first. The
    earlier convention, a result with ``stream(job, result, seen)`` and the ``seen`` set in place of
    ``unknown``, still works (the broadcast job uses it).
    """
    if isinstance(run, BulkResult):
        seen = unknown if isinstance(unknown, set) else set()
        result, run = run, job.run_for(run, seen)
        legacy = cast("ResultStreamSource | None", stream)
        if explicit:
            await job.feed(run, explicit)
        if legacy is not None:
            await legacy(job, result, run.seen)
        await job.dispatch(run, final=True)
        if legacy is None:
            result.exhausted = job.stop is None
        return
    source = cast("StreamSource | None", stream)
    if unknown:
        await job.settle_unknown(run, list(unknown))
    if explicit:
        await job.feed(run, explicit)
    if source is not None:
        await source(job, run)
    await job.dispatch(run, final=True)
    if source is None:
        run.result.exhausted = job.stop is None


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
    stop: asyncio.Event | None = None,
    checkpoint: CheckpointTarget | None = None,
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL,
    settle: Settle | None = None,
    before: Callable[[GroupRun, list[str]], Awaitable[None]] | None = None,
    keep_spelling: bool = False,
    max_wait: float | None = None,
) -> BulkResult:
    """Run ``call`` over a list of items of one group in batches; any backend's bulk helpers use this.

    ``settle`` looks at the server to settle a resumed result's items of unknown outcome (without it they are
    sent again); ``before`` runs inside the job before the first batch. With ``keep_spelling`` items are
    reported as the caller spelt them first, else in their normalised form. A demanded wait longer than
    ``max_wait`` (the retry policy's) stops the job.
    """
    concurrency, batch_size = check_concurrency(concurrency, batch_size, max_batch)
    if isinstance(items, str):
        raise ClientValidationError("pass a list of items, not one string", argument="items")
    job = Job(
        call,
        sleep,
        concurrency=concurrency,
        batch_size=batch_size,
        on_progress=on_progress,
        stop=stop,
        checkpoint=checkpoint,
        checkpoint_interval=checkpoint_interval,
        settle=settle,
        max_wait=max_wait,
    )
    run, again, unknown = prepare_run(job, result, resume, action, group_id, normalise if keep_spelling else str)
    todo = again if again is not None else unique(items, normalise, run if keep_spelling else None)
    job.total = len(todo) + len(unknown)
    job.snapshot = lambda: job.snapshot_result(run)
    job.final = lambda: run.result
    for key in todo:  # queued before the first checkpoint, so even a kill at once leaves every item on record
        job.accept(run, key)

    async def work() -> None:
        if before is not None and todo:
            await before(run, todo)
        await group_work(job, run, todo, None, unknown)

    await job.guarded(work())
    if job.stop is not None:
        run.result.stopped_by = run.result.stopped_by or job.stop
    await job.checkpoint(final=True)
    return run.result
