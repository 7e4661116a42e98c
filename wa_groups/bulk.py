"""Bulk jobs: batches of at most 8 under one concurrency limit, a shared throttle pause, and a full report.

Every distinct input item ends in exactly one of :attr:`BulkResult.succeeded`, :attr:`BulkResult.failed` or
:attr:`BulkResult.not_attempted`. Inputs are consumed as they arrive (lists or streamed listings), so the first
batch goes out before the last page of a listing arrives and memory stays flat.

A job's requests, listings included, run under one ``asyncio.Semaphore(concurrency)``. When the server asks to
slow down, the whole job pauses once for the demanded wait and then resumes; when it does not say how long,
the job paces itself just above the rate the server accepts.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import attrs

from . import errors as errors_module
from ._http import RequestWithheld, ambiguity_note, current_gate
from ._protocol import PARTICIPANTS_PER_CALL, check_id, error_from_detail, normalise_user
from ._retry import is_ambiguous
from .errors import (
    AuthenticationError,
    ClientValidationError,
    InvalidCursorError,
    RateLimitError,
    TransportError,
    WAGroupsError,
)

if TYPE_CHECKING:
    from typing_extensions import Self

    from .client import GroupsClient

__all__ = [
    "BulkFailure",
    "BulkProgress",
    "BulkProgressCallback",
    "BulkReport",
    "BulkResult",
]

logger = logging.getLogger("wa_groups")

#: Page size used when a bulk job streams a listing.
STREAM_PAGE_SIZE = 1024
#: Restarts after a stale cursor that found no new request before a streamed job gives up on a group.
MAX_IDLE_RESTARTS = 5


# ------------------------------------------------------------------------------------------------- results


@attrs.frozen(kw_only=True)
class BulkProgress:
    """A snapshot of a running bulk job, passed to ``on_progress``."""

    done: int
    """Items finished so far (succeeded plus failed)."""

    total: int | None
    """Items known in all, or ``None`` while the input is still being streamed."""

    succeeded: int
    """Items that succeeded so far."""

    failed: int
    """Items that failed so far."""


#: ``on_progress`` callables: plain functions or coroutine functions taking a :class:`BulkProgress`.
BulkProgressCallback = Callable[[BulkProgress], "Awaitable[None] | None"]


@attrs.frozen(kw_only=True)
class BulkFailure:
    """An item that failed, with the group it belongs to and the reason."""

    item: str
    """The join request id or participant."""

    group_id: str
    """The group concerned."""

    error: WAGroupsError
    """Why it failed: the batch's error, or the per-item error Graph reported (as an ``APIError``)."""

    @property
    def code(self) -> int | None:
        """The Graph error code of the failure, when there is one (e.g. 131204 for a full group)."""
        return self.error.code if isinstance(self.error, errors_module.APIError) else None

    @property
    def retryable(self) -> bool:
        """True when trying the item again may succeed (throttling, server or network trouble)."""
        return self.error.retryable or self.error.outcome_unknown


def _error_to_dict(error: WAGroupsError) -> dict[str, Any]:
    data: dict[str, Any] = {"type": type(error).__name__, "message": str(error.args[0]) if error.args else str(error)}
    for key in ("http_status", "code", "subcode", "title", "details", "fbtrace_id", "retry_after"):
        value = getattr(error, key, None)
        if value is not None:
            data[key] = value
    if isinstance(error, errors_module.APIError) and error.type is not None:
        data["error_type"] = error.type  # Graph's error type, or a gateway's error code
    data["retryable"] = error.retryable
    data["outcome_unknown"] = error.outcome_unknown
    return data


def _error_from_dict(data: dict[str, Any]) -> WAGroupsError:
    cls = getattr(errors_module, str(data.get("type")), None)
    message = str(data.get("message", "error"))
    error: WAGroupsError
    if isinstance(cls, type) and issubclass(cls, errors_module.APIError):
        error = cls(
            message,
            http_status=data.get("http_status"),
            code=data.get("code"),
            subcode=data.get("subcode"),
            title=data.get("title"),
            details=data.get("details"),
            fbtrace_id=data.get("fbtrace_id"),
            retry_after=data.get("retry_after"),
            type=data.get("error_type"),
        )
    elif cls is TransportError:
        error = TransportError(message)
    else:
        error = WAGroupsError(message)
    error.retryable = bool(data.get("retryable", error.retryable))
    error.outcome_unknown = bool(data.get("outcome_unknown", False))
    return error


class _JsonReport:
    """JSON round trip for the report classes, on top of their ``to_dict`` / ``from_dict``."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        raise NotImplementedError

    def to_json(self) -> str:
        """Serialise as JSON."""
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """Rebuild from :meth:`to_json` output; anything else raises ``ClientValidationError``."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ClientValidationError(
                f"not a bulk {cls.__name__[4:].lower()}: invalid JSON ({exc})", argument="resume"
            ) from None
        if not isinstance(data, dict):
            raise ClientValidationError(
                f"not a bulk {cls.__name__[4:].lower()}: expected a JSON object", argument="resume"
            )
        return cls.from_dict(data)


@attrs.define(kw_only=True)
class BulkResult(_JsonReport):
    """What a bulk job did with every item.

    Invariant: every distinct input item is in exactly one of ``succeeded``, ``failed`` and ``not_attempted``.
    The object is filled while the job runs; pass your own (``result=``) to keep the partial result if the
    task is cancelled.
    """

    action: str = ""
    """The job: ``approve_join_requests``, ``reject_join_requests``, ``add_participants`` or ``remove_participants``."""

    group_id: str = ""
    """The group the job ran on."""

    succeeded: list[str] = attrs.field(factory=list)
    """Items that succeeded."""

    failed: list[BulkFailure] = attrs.field(factory=list)
    """Items that failed, each with its error."""

    not_attempted: list[str] = attrs.field(factory=list)
    """Items never sent because the job stopped or was cancelled."""

    stopped_by: WAGroupsError | None = None
    """The error that stopped the job early (e.g. an invalid token or a listing that kept failing), if any."""

    exhausted: bool = False
    """True once the job's input was read to its end (for streamed inputs: every open request was tried)."""

    @property
    def ok(self) -> bool:
        """True when every item succeeded and the job ran to its end."""
        return not self.failed and not self.not_attempted and self.stopped_by is None

    @property
    def total(self) -> int:
        """Items accounted for."""
        return len(self.succeeded) + len(self.failed) + len(self.not_attempted)

    @property
    def counts(self) -> dict[str, int]:
        """Counts per outcome."""
        return {
            "succeeded": len(self.succeeded),
            "failed": len(self.failed),
            "not_attempted": len(self.not_attempted),
            "total": self.total,
        }

    def retry_items(self) -> list[str]:
        """Return the items a resumed job runs again: not attempted ones and retryable failures."""
        return self.not_attempted + [failure.item for failure in self.failed if failure.retryable]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of the result."""
        return {
            "action": self.action,
            "group_id": self.group_id,
            "counts": self.counts,
            "ok": self.ok,
            "exhausted": self.exhausted,
            "succeeded": list(self.succeeded),
            "failed": [{"item": f.item, "group_id": f.group_id, "error": _error_to_dict(f.error)} for f in self.failed],
            "not_attempted": list(self.not_attempted),
            "stopped_by": None if self.stopped_by is None else _error_to_dict(self.stopped_by),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BulkResult:
        """Rebuild a result from :meth:`to_dict` output."""
        try:
            return cls(
                action=str(data.get("action", "")),
                group_id=str(data.get("group_id", "")),
                succeeded=[str(i) for i in data.get("succeeded", [])],
                failed=[
                    BulkFailure(item=str(f["item"]), group_id=str(f["group_id"]), error=_error_from_dict(f["error"]))
                    for f in data.get("failed", [])
                ],
                not_attempted=[str(i) for i in data.get("not_attempted", [])],
                stopped_by=None if not data.get("stopped_by") else _error_from_dict(data["stopped_by"]),
                exhausted=bool(data.get("exhausted", False)),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ClientValidationError(f"not a bulk result: {exc!r}", argument="resume") from None


@attrs.define(kw_only=True)
class BulkReport(_JsonReport):
    """The report of :meth:`~wa_groups.GroupsClient.approve_all_join_requests`: one :class:`BulkResult` per group."""

    action: str = "approve_join_requests"
    """``approve_join_requests`` or ``reject_join_requests``."""

    groups: dict[str, BulkResult] = attrs.field(factory=dict)
    """Each group's result, by group id."""

    groups_exhausted: bool = False
    """True once every group was listed."""

    stopped_by: WAGroupsError | None = None
    """The error that stopped the job early, if any."""

    @property
    def succeeded(self) -> int:
        """Items that succeeded, all groups together."""
        return sum(len(r.succeeded) for r in self.groups.values())

    @property
    def failed(self) -> int:
        """Items that failed, all groups together."""
        return sum(len(r.failed) for r in self.groups.values())

    @property
    def not_attempted(self) -> int:
        """Items not attempted, all groups together."""
        return sum(len(r.not_attempted) for r in self.groups.values())

    @property
    def total(self) -> int:
        """Items accounted for, all groups together."""
        return self.succeeded + self.failed + self.not_attempted

    @property
    def counts(self) -> dict[str, int]:
        """Totals per outcome, and the number of groups."""
        return {
            "groups": len(self.groups),
            "succeeded": self.succeeded,
            "failed": self.failed,
            "not_attempted": self.not_attempted,
            "total": self.total,
        }

    @property
    def ok(self) -> bool:
        """True when every group's job succeeded whole and every group was reached."""
        return self.groups_exhausted and self.stopped_by is None and all(r.ok for r in self.groups.values())

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of the report."""
        return {
            "action": self.action,
            "counts": self.counts,
            "ok": self.ok,
            "groups_exhausted": self.groups_exhausted,
            "stopped_by": None if self.stopped_by is None else _error_to_dict(self.stopped_by),
            "groups": {gid: result.to_dict() for gid, result in self.groups.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BulkReport:
        """Rebuild a report from :meth:`to_dict` output."""
        groups = data.get("groups")
        if not isinstance(groups, dict):
            raise ClientValidationError("not a bulk report: 'groups' is missing", argument="resume")
        return cls(
            action=str(data.get("action", "approve_join_requests")),
            groups={str(gid): BulkResult.from_dict(value) for gid, value in groups.items()},
            groups_exhausted=bool(data.get("groups_exhausted", False)),
            stopped_by=None if not data.get("stopped_by") else _error_from_dict(data["stopped_by"]),
        )


# ---------------------------------------------------------------------------------------------------- gate


class _JobStopped(RequestWithheld):
    """Raised inside a stopped job for a request that was about to be sent; its batch is not attempted."""


class _Slot:
    __slots__ = ("_gate",)

    def __init__(self, gate: _JobGate) -> None:
        self._gate = gate

    async def __aenter__(self) -> None:
        await self._gate.enter()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._gate.leave(admitted=exc is None or not isinstance(exc, RateLimitError))


class _JobGate:
    """One job's admission control (see ``_http.RequestGate``).

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
        #: How many times the job paused for a wait the server demanded.
        self.pauses = 0
        #: How many throttled answers the job received.
        self.throttled = 0

    def slot(self) -> _Slot:
        return _Slot(self)

    async def enter(self) -> None:
        while not self.open.is_set():
            await self.open.wait()
        await self.semaphore.acquire()
        if self.stopped:
            self.semaphore.release()
            raise _JobStopped("the job stopped before this batch was sent")
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
            await self.open.wait()
            return
        self._pause_number += 1
        self.open.clear()
        self.pauses += 1
        try:
            await self._sleep(seconds)
        finally:
            self.open.set()


# ----------------------------------------------------------------------------------------------------- jobs

_ACTION_NAMES: dict[str, str] = {
    "approve": "approve_join_requests",
    "reject": "reject_join_requests",
    "add": "add_participants",
    "remove": "remove_participants",
}


#: Graph's code for a join request that does not exist (any more).
GONE = 131213

#: Send one batch for a group; return (items that succeeded, [(item, error)] for those that failed).
BatchCall = Callable[[str, list[str]], Awaitable[tuple[list[str], list[tuple[str, WAGroupsError]]]]]


def join_requests_call(
    client: GroupsClient, action: Literal["approve", "reject"], uncertain: Collection[str] = ()
) -> BatchCall:
    """Return the batch caller that approves or rejects join requests, mapping per-id failures to their ids.

    ``uncertain`` holds ids whose earlier attempt may have been carried out (its answer was lost, e.g. the job
    was interrupted with the batch in flight). If such an id no longer exists (131213) it is counted as done:
    the request is no longer pending, and the lost answer is the likeliest reason. Within a batch that the
    transport sent again after an ambiguous failure (a 5xx, a dropped connection), such an id is reported as
    a failure of unknown outcome instead, which a resumed job settles.
    """
    method = client.approve_join_requests if action == "approve" else client.reject_join_requests
    operation = _ACTION_NAMES[action]

    async def call(group_id: str, batch: list[str]) -> tuple[list[str], list[tuple[str, WAGroupsError]]]:
        notes = ambiguity_note.get()  # set by the job for this batch (see _Job.run_batch)
        before = len(notes) if notes is not None else 0
        answer = await method(group_id, batch)
        # An earlier attempt of this very batch may have been carried out before its answer was lost: then
        # "does not exist" on the retry may be that attempt's effect.
        retried_blind = notes is not None and len(notes) > before
        ok = set(answer.succeeded)
        reported = set(ok)
        failures: list[tuple[str, WAGroupsError]] = []
        for failed in answer.failed:
            reported.add(failed.join_request_id)
            if failed.join_request_id in batch and failed.join_request_id not in ok:
                detail = failed.errors[0] if failed.errors else None
                gone = detail is not None and detail.code == GONE
                if gone and failed.join_request_id in uncertain:
                    ok.add(failed.join_request_id)
                    continue
                error = (
                    error_from_detail(detail, operation=operation)
                    if detail is not None
                    else WAGroupsError(f"{operation}: Graph reported a failure without a reason")
                )
                if gone and retried_blind:
                    # Most likely done by the attempt whose answer was lost, but a request that never existed
                    # looks the same: say so, and let a resumed job settle it.
                    error.mark_outcome_unknown()
                failures.append((failed.join_request_id, error))
        whole = (
            error_from_detail(answer.errors[0], operation=operation)
            if answer.errors
            else errors_module.ResponseError(f"{operation}: the answer does not mention this item")
        )
        failures.extend((item, whole) for item in batch if item not in reported)
        return [item for item in batch if item in ok], failures

    return call


def all_or_nothing_call(send: Callable[[str, list[str]], Awaitable[object]]) -> BatchCall:
    """Return a batch caller for calls that succeed or fail as a whole (e.g. adding participants)."""

    async def call(group_id: str, batch: list[str]) -> tuple[list[str], list[tuple[str, WAGroupsError]]]:
        await send(group_id, batch)
        return list(batch), []

    return call


def _check_concurrency(concurrency: object, batch_size: object) -> tuple[int, int]:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ClientValidationError(f"concurrency must be an int >= 1, got {concurrency!r}", argument="concurrency")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ClientValidationError(f"batch_size must be an int >= 1, got {batch_size!r}", argument="batch_size")
    return concurrency, min(batch_size, PARTICIPANTS_PER_CALL)


class _Job:
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
        #: The Graph client, for jobs that stream join requests.
        self.client: GroupsClient | None = None
        self.batch_size = batch_size
        self.gate = _JobGate(concurrency, sleep)
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
            except _JobStopped:
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
                accounted = set(result.succeeded) | {f.item for f in result.failed} | set(result.not_attempted)
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


def _unique(items: Iterable[str], normalise: Callable[[str], str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(normalise(item), None)
    return list(seen)


def _uncertain(failures: Iterable[BulkFailure]) -> set[str]:
    """Return the items whose earlier attempt may have taken effect."""
    return {failure.item for failure in failures if failure.error.outcome_unknown}


def _prepare_result(
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


async def _stream_join_requests(job: _Job, result: BulkResult, seen: set[str]) -> None:
    """Feed every open join request of a group, restarting from the first page when a cursor goes stale.

    Approved and rejected requests disappear from the listing, so the cursor of a page whose last item was
    just handled goes stale (131059). Restarting is safe because ``seen`` skips every id already tried; the
    stream ends after a full pass that finds nothing new. A cursor that keeps going stale with no new request
    found in between (``MAX_IDLE_RESTARTS`` times) stops the group's stream rather than looping.
    """
    client = job.client
    assert client is not None, "streaming needs the job's client"
    idle_restarts = 0
    while True:
        before = len(seen)
        try:
            ids = (
                r.join_request_id async for r in client.iter_join_requests(result.group_id, page_size=STREAM_PAGE_SIZE)
            )
            await job.feed(result, ids, seen)
        except InvalidCursorError as error:
            idle_restarts = idle_restarts + 1 if len(seen) == before else 0
            if idle_restarts > MAX_IDLE_RESTARTS:
                result.stopped_by = error
                return
            continue
        except _JobStopped:
            return
        except WAGroupsError as error:
            result.stopped_by = error
            if isinstance(error, AuthenticationError):
                job.halt(error)
            return
        if len(seen) == before or job.stop is not None:
            result.exhausted = job.stop is None
            return


async def _group_work(job: _Job, result: BulkResult, explicit: list[str] | None, stream: bool, seen: set[str]) -> None:
    """Run one group's part of a job: explicit items first, then (if asked) every open join request."""
    if explicit:
        await job.feed(result, explicit, seen)
    if stream:
        await _stream_join_requests(job, result, seen)
    else:
        result.exhausted = job.stop is None


async def run_join_requests(
    client: GroupsClient,
    action: Literal["approve", "reject"],
    group_id: str,
    join_request_ids: Iterable[str] | None,
    *,
    concurrency: int,
    batch_size: int,
    on_progress: BulkProgressCallback | None,
    resume: BulkResult | None,
    result: BulkResult | None = None,
) -> BulkResult:
    """Approve or reject join requests of one group; ``join_request_ids=None`` streams every open one."""
    gid = check_id(group_id, "group_id")
    concurrency, batch_size = _check_concurrency(concurrency, batch_size)
    if isinstance(join_request_ids, str):
        raise ClientValidationError(
            "join_request_ids must be a list of ids, not one string", argument="join_request_ids"
        )
    uncertain = _uncertain(resume.failed if resume is not None else ())
    job = _Job(
        join_requests_call(client, action, uncertain),
        client.retry_policy.sleep,
        concurrency=concurrency,
        batch_size=batch_size,
        on_progress=on_progress,
    )
    job.client = client
    target, again = _prepare_result(result, resume, _ACTION_NAMES[action], gid)
    seen = set(target.succeeded) | {f.item for f in target.failed}
    if resume is not None:
        explicit: list[str] | None = again
        stream = join_request_ids is None and not resume.exhausted
    elif join_request_ids is not None:
        explicit = _unique(join_request_ids, lambda i: check_id(i, "join_request_ids"))
        stream = False
    else:
        explicit, stream = None, True
    job.total = None if stream else len(explicit or ())
    await job.guarded(_group_work(job, target, explicit, stream, seen))
    if job.stop is not None:
        target.stopped_by = target.stopped_by or job.stop
    return target


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
) -> BulkResult:
    """Run ``call`` over a list of items of one group in batches; any backend's bulk helpers use this."""
    concurrency, batch_size = _check_concurrency(concurrency, batch_size)
    if isinstance(items, str):
        raise ClientValidationError("pass a list of items, not one string", argument="items")
    job = _Job(call, sleep, concurrency=concurrency, batch_size=batch_size, on_progress=on_progress)
    target, again = _prepare_result(result, resume, action, group_id)
    todo = again if again is not None else _unique(items, normalise)
    seen = set(target.succeeded) | {f.item for f in target.failed}
    job.total = len(todo)
    await job.guarded(_group_work(job, target, todo, False, seen))
    if job.stop is not None:
        target.stopped_by = job.stop
    return target


async def run_participants(
    client: GroupsClient,
    action: Literal["add", "remove"],
    group_id: str,
    users: Iterable[str],
    *,
    concurrency: int,
    batch_size: int,
    on_progress: BulkProgressCallback | None,
    resume: BulkResult | None,
    result: BulkResult | None = None,
) -> BulkResult:
    """Add or remove participants of one group in batches of at most 8."""
    send = client.add_participants if action == "add" else client.remove_participants
    return await run_items(
        all_or_nothing_call(send),
        client.retry_policy.sleep,
        action=_ACTION_NAMES[action],
        group_id=check_id(group_id, "group_id"),
        items=users,
        normalise=lambda user: normalise_user(user, "users"),
        concurrency=concurrency,
        batch_size=batch_size,
        on_progress=on_progress,
        resume=resume,
        result=result,
    )


async def run_all_join_requests(
    client: GroupsClient,
    *,
    group_ids: Iterable[str] | None,
    reject: bool,
    concurrency: int,
    batch_size: int,
    on_progress: BulkProgressCallback | None,
    resume: BulkReport | None,
    phone_number_id: str | None,
    report: BulkReport | None = None,
) -> BulkReport:
    """Approve (or reject) every open join request of every group, under one global concurrency limit."""
    concurrency, batch_size = _check_concurrency(concurrency, batch_size)
    action: Literal["approve", "reject"] = "reject" if reject else "approve"
    uncertain = _uncertain(f for r in (resume.groups.values() if resume is not None else ()) for f in r.failed)
    job = _Job(
        join_requests_call(client, action, uncertain),
        client.retry_policy.sleep,
        concurrency=concurrency,
        batch_size=batch_size,
        on_progress=on_progress,
    )
    job.client = client
    job.total = None
    target = report if report is not None else BulkReport()
    target.action = _ACTION_NAMES[action]
    if resume is not None and resume.action != target.action:
        raise ClientValidationError(f"resume= holds a {resume.action} report, not {target.action}", argument="resume")
    groups_slots = asyncio.Semaphore(concurrency)
    group_tasks: set[asyncio.Task[None]] = set()

    async def one_group(gid: str) -> None:
        try:
            previous = resume.groups.get(gid) if resume is not None else None
            result, again = _prepare_result(target.groups.get(gid), previous, target.action, gid)
            target.groups[gid] = result
            seen = set(result.succeeded) | {f.item for f in result.failed}
            await _group_work(job, result, again, previous is None or not previous.exhausted, seen)
        finally:
            groups_slots.release()

    async def groups_source() -> AsyncIterator[str]:
        if group_ids is not None:
            if isinstance(group_ids, str):
                raise ClientValidationError("group_ids must be a list of ids, not one string", argument="group_ids")
            for gid in _unique(group_ids, lambda g: check_id(g, "group_ids")):
                yield gid
            return
        async for group in client.iter_groups(page_size=STREAM_PAGE_SIZE, phone_number_id=phone_number_id):
            yield group.id

    async def work() -> None:
        try:
            try:
                async for gid in groups_source():
                    if job.stop is not None:
                        break
                    await groups_slots.acquire()
                    task = asyncio.get_running_loop().create_task(one_group(gid))
                    group_tasks.add(task)
                    task.add_done_callback(group_tasks.discard)
                else:
                    target.groups_exhausted = True
            except ClientValidationError:
                raise
            except _JobStopped:
                pass
            except WAGroupsError as error:
                target.stopped_by = error
            while group_tasks:
                done, _ = await asyncio.wait(list(group_tasks), return_when=asyncio.FIRST_EXCEPTION)
                for finished in done:
                    failure = None if finished.cancelled() else finished.exception()
                    if failure is not None:
                        raise failure
        except BaseException:
            # Cancelled, or a group failed unexpectedly: stop every other group before leaving.
            for task in list(group_tasks):
                task.cancel()
            await asyncio.gather(*list(group_tasks), return_exceptions=True)
            raise

    await job.guarded(work())
    if job.stop is not None:
        target.stopped_by = target.stopped_by or job.stop
    return target
