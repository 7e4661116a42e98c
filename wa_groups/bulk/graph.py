"""The Graph bulk jobs: approving or rejecting join requests and adding or removing participants in batches.

Each job turns a Graph call into a batch call for the engine and, for join requests, streams every open request
of a group (or of every group). The jobs need only the few client methods of :class:`GraphCalls`, so this
module never imports the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, Protocol

import attrs

from .. import errors as errors_module
from .._core.gate import ambiguity_note, current_gate
from .._core.retry import RetryPolicy
from .._graph.checks import check_id, normalise_user
from .._graph.endpoints import PARTICIPANTS_PER_CALL
from .._graph.errors import error_from_detail
from ..errors import (
    ClientValidationError,
    InvalidCursorError,
    UnconfirmedError,
    WAGroupsError,
)
from ..models import JoinRequestsResult
from .engine import (
    DEFAULT_CHECKPOINT_INTERVAL,
    BatchCall,
    CheckpointTarget,
    GroupRun,
    Job,
    Settle,
    Settled,
    StreamSource,
    check_concurrency,
    group_work,
    prepare_run,
    run_items,
    unique,
)
from .gate import JobStopped
from .results import BulkProgressCallback, BulkReport, BulkResult

if TYPE_CHECKING:
    from ..models import GroupInfo, GroupSummary, JoinRequest
    from ..paging import Paginator

__all__ = ["GraphCalls", "run_all_join_requests", "run_join_requests", "run_participants"]

logger = logging.getLogger("wa_groups")

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

    async def get_group(self, group_id: str, *, fields: Iterable[str] | None = None) -> GroupInfo:
        """Return a group's metadata (the jobs ask for its participants to settle uncertain outcomes)."""

    def iter_join_requests(self, group_id: str, *, page_size: int | None = None) -> Paginator[JoinRequest]:
        """Stream a group's open join requests (``.pages()`` page by page)."""

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
#: Graph's codes for a participant already in the group (add) and not in it (remove).
ALREADY_IN = 131202
NOT_IN = 131212


@contextlib.contextmanager
def _past_the_gate() -> Iterator[None]:
    """Let the requests made inside finish a batch already sent, even once its job is stopping.

    A batch that is on the wire is drained, not abandoned: the look at the group that settles its outcome,
    or the resend of the part Graph refused, must not be withheld by the stop, or the batch's outcome would
    be lost.
    """
    token = current_gate.set(None)
    try:
        yield
    finally:
        current_gate.reset(token)


async def members_of(client: GraphCalls, group_id: str) -> set[str]:
    """Return every way the group's current participants are named (WhatsApp ids, user ids, usernames)."""
    with _past_the_gate():
        info = await client.get_group(group_id, fields=["participants"])
    names: set[str] = set()
    for participant in info.participants or ():
        names.update(n for n in (participant.wa_id, participant.user_id, participant.username) if n)
    return names


async def confirm_approved(
    client: GraphCalls, group_id: str, ids: Collection[str], requesters: Mapping[str, str]
) -> set[str]:
    """Return the ids among ``ids`` whose requester is now a participant: approved, by this job or another hand.

    An id whose requester is unknown cannot be confirmed. A request that simply disappeared (revoked, or an id
    that never existed) looks the same as an approved one from the listing alone: only the group can tell.
    """
    known = {i: requesters[i] for i in ids if i in requesters}
    if not known:
        return set()
    members = await members_of(client, group_id)
    return {i for i, user in known.items() if user in members}


def _unconfirmed(operation: str, item: str, why: str) -> UnconfirmedError:
    return UnconfirmedError(f"{operation}: {item}: {why}", code=GONE)


def join_requests_call(
    client: GraphCalls, action: Literal["approve", "reject"], requesters_of: Callable[[str], Mapping[str, str]]
) -> BatchCall:
    """Return the batch caller that approves or rejects join requests, mapping per-id failures to their ids.

    Within a batch that the transport sent again after an ambiguous failure (a 5xx, a dropped connection), a
    "does not exist" (131213) may be the effect of the attempt whose answer was lost, or a request that never
    existed: the group is looked at, and the id counts as approved only when its requester is now a participant.
    Otherwise it is an :class:`~wa_groups.errors.UnconfirmedError`. ``requesters_of(group)`` gives the
    requesters the job learnt from listings.
    """
    method = client.approve_join_requests if action == "approve" else client.reject_join_requests
    operation = _ACTION_NAMES[action]

    async def call(group_id: str, batch: list[str]) -> tuple[list[str], list[tuple[str, WAGroupsError]]]:
        notes = ambiguity_note.get()  # set by the job for this batch (see Job.run_batch)
        before = len(notes) if notes is not None else 0
        answer = await method(group_id, batch)
        retried_blind = notes is not None and len(notes) > before
        ok = set(answer.succeeded)
        reported = set(ok)
        failures: list[tuple[str, WAGroupsError]] = []
        doubtful: list[str] = []
        for failed in answer.failed:
            reported.add(failed.join_request_id)
            if failed.join_request_id in batch and failed.join_request_id not in ok:
                detail = failed.errors[0] if failed.errors else None
                if detail is not None and detail.code == GONE and retried_blind:
                    doubtful.append(failed.join_request_id)
                    continue
                error = (
                    error_from_detail(detail, operation=operation)
                    if detail is not None
                    else WAGroupsError(f"{operation}: Graph reported a failure without a reason")
                )
                failures.append((failed.join_request_id, error))
        if doubtful:
            confirmed = (
                await confirm_approved(client, group_id, doubtful, requesters_of(group_id))
                if action == "approve"
                else set()
            )
            ok.update(confirmed)
            why = "gone after an attempt whose answer was lost, and the group does not show it as done"
            failures.extend((i, _unconfirmed(operation, i, why)) for i in doubtful if i not in confirmed)
        whole = (
            error_from_detail(answer.errors[0], operation=operation)
            if answer.errors
            else errors_module.ResponseError(f"{operation}: the answer does not mention this item")
        )
        failures.extend((item, whole) for item in batch if item not in reported)
        return [item for item in batch if item in ok], failures

    return call


def join_requests_settle(client: GraphCalls, action: Literal["approve", "reject"]) -> Settle:
    """Return the settle function of join requests: still pending means not done; gone is looked into.

    A request still listed as pending was not carried out and is sent again. One that is gone counts as done
    only when its requester (known from an earlier listing) is now a participant, for approvals; otherwise it
    is an :class:`~wa_groups.errors.UnconfirmedError`, never sent again.
    """
    operation = _ACTION_NAMES[action]

    async def settle(group_id: str, keys: list[str], requesters: Mapping[str, str]) -> Settled:
        wanted = set(keys)
        pending: set[str] = set()
        async for request in client.iter_join_requests(group_id, page_size=STREAM_PAGE_SIZE):
            if request.join_request_id in wanted:
                pending.add(request.join_request_id)
        gone = [k for k in keys if k not in pending]
        confirmed = (
            await confirm_approved(client, group_id, gone, requesters) if gone and action == "approve" else set()
        )
        why = (
            "no longer pending, and its requester is not known"
            if action == "approve"
            else "no longer pending; a rejection cannot be confirmed by looking"
        )
        return Settled(
            done=[k for k in gone if k in confirmed],
            again=[k for k in keys if k in pending],
            failed=[
                (
                    k,
                    _unconfirmed(
                        operation,
                        k,
                        why
                        if k not in requesters or action == "reject"
                        else "no longer pending, and its requester is not a participant",
                    ),
                )
                for k in gone
                if k not in confirmed
            ],
        )

    return settle


def participants_call(
    client: GraphCalls, action: Literal["add", "remove"], maybe_ours: Collection[str] = ()
) -> BatchCall:
    """Return the batch caller that adds or removes participants (a call succeeds or fails as a whole).

    Graph refuses a whole batch when one of its users is already in the group (131202, on add) or not in it
    (131212, on remove). The group is then looked at: users already in the wanted state count as done when an
    earlier attempt of this job (``maybe_ours``) may have done it, and as failures otherwise; the others are
    sent once more without them.
    """
    send = client.add_participants if action == "add" else client.remove_participants
    refusal = ALREADY_IN if action == "add" else NOT_IN

    async def call(group_id: str, batch: list[str]) -> tuple[list[str], list[tuple[str, WAGroupsError]]]:
        try:
            await send(group_id, batch)
            return list(batch), []
        except errors_module.APIError as error:
            if error.code != refusal:
                raise
            refused = error
        members = await members_of(client, group_id)
        settled = [k for k in batch if (k in members) == (action == "add")]
        rest = [k for k in batch if k not in settled]
        done = [k for k in settled if k in maybe_ours]
        failures: list[tuple[str, WAGroupsError]] = [(k, refused) for k in settled if k not in maybe_ours]
        if not settled:  # the group does not show why: report the refusal for the whole batch
            return [], [(k, refused) for k in batch]
        if rest:
            try:
                with _past_the_gate():
                    await send(group_id, rest)
                done += rest
            except WAGroupsError as again:
                failures += [(k, again) for k in rest]
        return done, failures

    return call


def participants_settle(client: GraphCalls, action: Literal["add", "remove"]) -> Settle:
    """Return the settle function of participants: a user in the wanted state is done, the others go again."""

    async def settle(group_id: str, keys: list[str], requesters: Mapping[str, str]) -> Settled:
        members = await members_of(client, group_id)
        wanted = action == "add"
        return Settled(
            done=[k for k in keys if (k in members) == wanted],
            again=[k for k in keys if (k in members) != wanted],
        )

    return settle


def _join_requests_stream(client: GraphCalls) -> StreamSource:
    """Return the stream source that feeds every open join request of a group (see :func:`_stream_join_requests`)."""

    async def source(job: Job, run: GroupRun) -> None:
        await _stream_join_requests(client, job, run)

    return source


async def _feed_listing(client: GraphCalls, job: Job, run: GroupRun) -> None:
    """Queue a group's open join requests page by page, remembering each requester for settling later.

    Each page is queued whole and checkpointed before any of it is sent (write-ahead), so a kill at any moment
    leaves every request the job may have sent on record.
    """
    requesters = run.result.requesters
    async for page in client.iter_join_requests(run.result.group_id, page_size=STREAM_PAGE_SIZE).pages():
        if job.stop is not None:
            return
        fresh = False
        for request in page.items:
            if request.wa_id:
                requesters[request.join_request_id] = request.wa_id
            fresh = job.accept(run, request.join_request_id) or fresh
        if fresh:
            await job.checkpoint(force=True)
        await job.dispatch(run)


async def _stream_join_requests(client: GraphCalls, job: Job, run: GroupRun) -> None:
    """Feed every open join request of a group, restarting from the first page when a cursor goes stale.

    Approved and rejected requests disappear from the listing, so the cursor of a page whose last item was
    just handled goes stale (131059). Restarting is safe because ``run.seen`` skips every id already taken; the
    stream ends after a full pass that finds nothing new. A cursor that keeps going stale with no new request
    found in between (``MAX_IDLE_RESTARTS`` times) stops the group's stream rather than looping.
    """
    result = run.result
    idle_restarts = 0
    while True:
        before = len(run.seen)
        try:
            await _feed_listing(client, job, run)
        except InvalidCursorError as error:
            idle_restarts = idle_restarts + 1 if len(run.seen) == before else 0
            if idle_restarts > MAX_IDLE_RESTARTS:
                result.stopped_by = error
                return
            continue
        except JobStopped:
            return
        except WAGroupsError as error:
            result.stopped_by = error
            if job.stops_on(error):
                job.halt(error)
            return
        if len(run.seen) == before or job.stop is not None:
            result.exhausted = job.stop is None
            return


async def _learn_requesters(client: GraphCalls, run: GroupRun, ids: list[str]) -> None:
    """List the group's open join requests once to learn who asked, for the ids about to be sent.

    Knowing the requester lets a resumed job confirm a request whose answer was lost. A failing listing only
    costs that knowledge: the job goes on.
    """
    wanted = set(ids)
    requesters = run.result.requesters
    try:
        async for request in client.iter_join_requests(run.result.group_id, page_size=STREAM_PAGE_SIZE):
            if request.join_request_id in wanted and request.wa_id:
                requesters[request.join_request_id] = request.wa_id
    except JobStopped:
        raise
    except WAGroupsError as error:
        logger.info("could not list join requests of %s before sending: %s", run.result.group_id, error)


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
    stop: asyncio.Event | None = None,
    checkpoint: CheckpointTarget | None = None,
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL,
) -> BulkResult:
    """Approve or reject join requests of one group; ``join_request_ids=None`` streams every open one."""
    gid = check_id(group_id, "group_id")
    concurrency, batch_size = check_concurrency(concurrency, batch_size, PARTICIPANTS_PER_CALL)
    if isinstance(join_request_ids, str):
        raise ClientValidationError(
            "join_request_ids must be a list of ids, not one string", argument="join_request_ids"
        )
    runs: dict[str, GroupRun] = {}
    job = Job(
        join_requests_call(client, action, lambda g: runs[g].result.requesters),
        client.retry_policy.sleep,
        concurrency=concurrency,
        batch_size=batch_size,
        on_progress=on_progress,
        stop=stop,
        checkpoint=checkpoint,
        checkpoint_interval=checkpoint_interval,
        settle=join_requests_settle(client, action),
        max_wait=client.retry_policy.max_wait,
    )
    run, again, unknown = prepare_run(job, result, resume, _ACTION_NAMES[action], gid)
    runs[gid] = run
    job.snapshot = lambda: job.snapshot_result(run)
    job.final = lambda: run.result
    learn = False
    if resume is not None:
        explicit: list[str] | None = again
        stream = join_request_ids is None and not resume.exhausted
    elif join_request_ids is not None:
        explicit = unique(join_request_ids, lambda i: check_id(i, "join_request_ids"), run)
        stream, learn = False, True
    else:
        explicit, stream = None, True
    job.total = None if stream else len(explicit or ()) + len(unknown)
    source = _join_requests_stream(client) if stream else None
    for key in explicit or ():  # queued before the first checkpoint, so a kill at once leaves them on record
        job.accept(run, key)

    async def work() -> None:
        if learn and explicit:
            await _learn_requesters(client, run, explicit)
            await job.checkpoint(force=True)  # a kill from now on leaves the requesters on record
        await group_work(job, run, explicit, source, unknown)

    await job.guarded(work())
    if job.stop is not None:
        run.result.stopped_by = run.result.stopped_by or job.stop
    await job.checkpoint(final=True)
    return run.result


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
    stop: asyncio.Event | None = None,
    checkpoint: CheckpointTarget | None = None,
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL,
) -> BulkResult:
    """Add or remove participants of one group in batches of at most 8.

    Results list each user as the caller spelt it first; repeats (in any spelling) are noted in ``duplicates``.
    """

    def normalise(user: str) -> str:
        return normalise_user(user, "users")

    maybe_ours: set[str] = set()
    if resume is not None:
        maybe_ours = {normalise(f.item) for f in resume.failed if f.error.outcome_unknown}
    return await run_items(
        participants_call(client, action, maybe_ours),
        client.retry_policy.sleep,
        action=_ACTION_NAMES[action],
        group_id=check_id(group_id, "group_id"),
        items=users,
        normalise=normalise,
        concurrency=concurrency,
        batch_size=batch_size,
        on_progress=on_progress,
        resume=resume,
        result=result,
        max_batch=PARTICIPANTS_PER_CALL,
        stop=stop,
        checkpoint=checkpoint,
        checkpoint_interval=checkpoint_interval,
        settle=participants_settle(client, action),
        keep_spelling=True,
        max_wait=client.retry_policy.max_wait,
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
    stop: asyncio.Event | None = None,
    checkpoint: CheckpointTarget | None = None,
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL,
) -> BulkReport:
    """Approve (or reject) every open join request of every group, under one global concurrency limit."""
    concurrency, batch_size = check_concurrency(concurrency, batch_size, PARTICIPANTS_PER_CALL)
    action: Literal["approve", "reject"] = "reject" if reject else "approve"
    runs: dict[str, GroupRun] = {}
    job = Job(
        join_requests_call(client, action, lambda g: runs[g].result.requesters),
        client.retry_policy.sleep,
        concurrency=concurrency,
        batch_size=batch_size,
        on_progress=on_progress,
        stop=stop,
        checkpoint=checkpoint,
        checkpoint_interval=checkpoint_interval,
        settle=join_requests_settle(client, action),
        max_wait=client.retry_policy.max_wait,
    )
    job.total = None
    target = result if result is not None else BulkReport()
    target.action = _ACTION_NAMES[action]
    if resume is not None:
        if resume.action != target.action:
            raise ClientValidationError(
                f"resume= holds a {resume.action} report, not {target.action}", argument="resume"
            )
        for gid, previous in resume.groups.items():  # kept even if a group is not listed again
            target.groups.setdefault(gid, previous)
    groups_slots = asyncio.Semaphore(concurrency)
    group_tasks: set[asyncio.Task[None]] = set()

    def snapshot() -> BulkReport:
        groups = dict(target.groups)
        for run in list(runs.values()):
            groups[run.result.group_id] = job.snapshot_result(run)
        return attrs.evolve(target, groups=groups)

    job.snapshot = snapshot
    job.final = lambda: target

    async def one_group(gid: str) -> None:
        try:
            previous = resume.groups.get(gid) if resume is not None else None
            existing = target.groups.get(gid)
            run, again, unknown = prepare_run(
                job, existing if existing is not previous else None, previous, target.action, gid
            )
            runs[gid] = run
            target.groups[gid] = run.result
            source = _join_requests_stream(client) if previous is None or not previous.exhausted else None
            await group_work(job, run, again, source, unknown)
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
                    if gid in runs:
                        continue
                    await groups_slots.acquire()
                    task = asyncio.get_running_loop().create_task(one_group(gid))
                    group_tasks.add(task)
                    task.add_done_callback(group_tasks.discard)
                else:
                    target.groups_exhausted = job.stop is None
            except ClientValidationError:
                raise
            except JobStopped:
                pass
            except WAGroupsError as error:
                target.stopped_by = error
                if job.stops_on(error):
                    job.halt(error)
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
    await job.checkpoint(final=True)
    return target
