"""The Graph bulk jobs: approving or rejecting join requests and adding or removing participants in batches.

Each job turns a Graph call into a batch call for the engine and, for join requests, streams every open request
of a group (or of every group). The jobs need only the few client methods of :class:`GraphCalls`, so this
module never imports the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Literal, Protocol

from .. import errors as errors_module
from .._core.gate import ambiguity_note
from .._core.retry import RetryPolicy
from .._graph.checks import check_id, normalise_user
from .._graph.endpoints import PARTICIPANTS_PER_CALL
from .._graph.errors import error_from_detail
from ..errors import AuthenticationError, ClientValidationError, InvalidCursorError, WAGroupsError
from ..models import JoinRequestsResult
from .engine import (
    BatchCall,
    Job,
    StreamSource,
    check_concurrency,
    group_work,
    prepare_result,
    run_items,
    uncertain,
    unique,
)
from .gate import JobStopped
from .results import BulkProgressCallback, BulkReport, BulkResult

if TYPE_CHECKING:
    from ..models import GroupSummary, JoinRequest

__all__ = ["GraphCalls", "run_all_join_requests", "run_join_requests", "run_participants"]

#: Page size used when a bulk job streams a listing.
STREAM_PAGE_SIZE = 1024
#: Restarts after a stale cursor that found no new request before a streamed job gives up on a group.
MAX_IDLE_RESTARTS = 5


class GraphCalls(Protocol):
    """The client methods the Graph bulk jobs call (:class:`~wa_groups.GroupsClient` has them)."""

    @property
    def retry_policy(self) -> RetryPolicy:
        """The client's retry policy (its sleep paces the job)."""

    async def approve_join_requests(self, group_id: str, join_request_ids: Sequence[str]) -> JoinRequestsResult:
        """Approve up to 8 join requests."""

    async def reject_join_requests(self, group_id: str, join_request_ids: Sequence[str]) -> JoinRequestsResult:
        """Reject up to 8 join requests."""

    async def add_participants(self, group_id: str, users: Sequence[str]) -> object:
        """Add up to 8 participants."""

    async def remove_participants(self, group_id: str, users: Sequence[str]) -> object:
        """Remove up to 8 participants."""

    def iter_join_requests(self, group_id: str, *, page_size: int | None = None) -> AsyncIterable[JoinRequest]:
        """Stream a group's open join requests."""

    def iter_groups(
        self, *, page_size: int | None = None, phone_number_id: str | None = None
    ) -> AsyncIterable[GroupSummary]:
        """Stream the active groups."""


_ACTION_NAMES: dict[str, str] = {
    "approve": "approve_join_requests",
    "reject": "reject_join_requests",
    "add": "add_participants",
    "remove": "remove_participants",
}


#: Graph's code for a join request that does not exist (any more).
GONE = 131213


def join_requests_call(
    client: GraphCalls, action: Literal["approve", "reject"], uncertain: Collection[str] = ()
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


def _join_requests_stream(client: GraphCalls) -> StreamSource:
    """Return the stream source that feeds every open join request of a group (see :func:`_stream_join_requests`)."""

    async def source(job: Job, result: BulkResult, seen: set[str]) -> None:
        await _stream_join_requests(client, job, result, seen)

    return source


async def _stream_join_requests(client: GraphCalls, job: Job, result: BulkResult, seen: set[str]) -> None:
    """Feed every open join request of a group, restarting from the first page when a cursor goes stale.

    Approved and rejected requests disappear from the listing, so the cursor of a page whose last item was
    just handled goes stale (131059). Restarting is safe because ``seen`` skips every id already tried; the
    stream ends after a full pass that finds nothing new. A cursor that keeps going stale with no new request
    found in between (``MAX_IDLE_RESTARTS`` times) stops the group's stream rather than looping.
    """
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
        except JobStopped:
            return
        except WAGroupsError as error:
            result.stopped_by = error
            if isinstance(error, AuthenticationError):
                job.halt(error)
            return
        if len(seen) == before or job.stop is not None:
            result.exhausted = job.stop is None
            return


async def run_join_requests(
    client: GraphCalls,
    action: Literal["approve", "reject"],
    group_id: str,
    join_request_ids: Iterable[str] | None,
    *,
    concurrency: int = 8,
    batch_size: int = PARTICIPANTS_PER_CALL,
    on_progress: BulkProgressCallback | None = None,
    resume: BulkResult | None = None,
    result: BulkResult | None = None,
) -> BulkResult:
    """Approve or reject join requests of one group; ``join_request_ids=None`` streams every open one."""
    gid = check_id(group_id, "group_id")
    concurrency, batch_size = check_concurrency(concurrency, batch_size, PARTICIPANTS_PER_CALL)
    if isinstance(join_request_ids, str):
        raise ClientValidationError(
            "join_request_ids must be a list of ids, not one string", argument="join_request_ids"
        )
    unsure = uncertain(resume.failed if resume is not None else ())
    job = Job(
        join_requests_call(client, action, unsure),
        client.retry_policy.sleep,
        concurrency=concurrency,
        batch_size=batch_size,
        on_progress=on_progress,
    )
    target, again = prepare_result(result, resume, _ACTION_NAMES[action], gid)
    seen = set(target.succeeded) | {f.item for f in target.failed}
    if resume is not None:
        explicit: list[str] | None = again
        stream = join_request_ids is None and not resume.exhausted
    elif join_request_ids is not None:
        explicit = unique(join_request_ids, lambda i: check_id(i, "join_request_ids"))
        stream = False
    else:
        explicit, stream = None, True
    job.total = None if stream else len(explicit or ())
    source = _join_requests_stream(client) if stream else None
    await job.guarded(group_work(job, target, explicit, source, seen))
    if job.stop is not None:
        target.stopped_by = target.stopped_by or job.stop
    return target


async def run_participants(
    client: GraphCalls,
    action: Literal["add", "remove"],
    group_id: str,
    users: Iterable[str],
    *,
    concurrency: int = 8,
    batch_size: int = PARTICIPANTS_PER_CALL,
    on_progress: BulkProgressCallback | None = None,
    resume: BulkResult | None = None,
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
        max_batch=PARTICIPANTS_PER_CALL,
    )


async def run_all_join_requests(
    client: GraphCalls,
    *,
    group_ids: Iterable[str] | None = None,
    reject: bool = False,
    phone_number_id: str | None = None,
    concurrency: int = 16,
    batch_size: int = PARTICIPANTS_PER_CALL,
    on_progress: BulkProgressCallback | None = None,
    resume: BulkReport | None = None,
    result: BulkReport | None = None,
) -> BulkReport:
    """Approve (or reject) every open join request of every group, under one global concurrency limit."""
    concurrency, batch_size = check_concurrency(concurrency, batch_size, PARTICIPANTS_PER_CALL)
    action: Literal["approve", "reject"] = "reject" if reject else "approve"
    unsure = uncertain(f for r in (resume.groups.values() if resume is not None else ()) for f in r.failed)
    job = Job(
        join_requests_call(client, action, unsure),
        client.retry_policy.sleep,
        concurrency=concurrency,
        batch_size=batch_size,
        on_progress=on_progress,
    )
    job.total = None
    target = result if result is not None else BulkReport()
    target.action = _ACTION_NAMES[action]
    if resume is not None and resume.action != target.action:
        raise ClientValidationError(f"resume= holds a {resume.action} report, not {target.action}", argument="resume")
    groups_slots = asyncio.Semaphore(concurrency)
    group_tasks: set[asyncio.Task[None]] = set()

    async def one_group(gid: str) -> None:
        try:
            previous = resume.groups.get(gid) if resume is not None else None
            result, again = prepare_result(target.groups.get(gid), previous, target.action, gid)
            target.groups[gid] = result
            seen = set(result.succeeded) | {f.item for f in result.failed}
            source = _join_requests_stream(client) if previous is None or not previous.exhausted else None
            await group_work(job, result, again, source, seen)
        finally:
            groups_slots.release()

    async def groups_source() -> AsyncIterator[str]:
        if group_ids is not None:
            if isinstance(group_ids, str):
                raise ClientValidationError("group_ids must be a list of ids, not one string", argument="group_ids")
            for gid in unique(group_ids, lambda g: check_id(g, "group_ids")):
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
            except JobStopped:
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
