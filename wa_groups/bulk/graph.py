"""The Graph bulk jobs: approving or rejecting join requests and adding or removing participants in batches.

Each job hands the engine a batch caller (:mod:`.graph_batches`), a settle function for resumed items of
unknown outcome (:mod:`.graph_settle`) and, for join requests, a stream of every open request of a group
(:mod:`.graph_stream`). The jobs need only the few client methods of :class:`GraphCalls`, so this module never
imports the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Literal

import attrs

from .._graph.checks import check_id, normalise_user
from .._graph.endpoints import PARTICIPANTS_PER_CALL
from ..errors import ClientValidationError, WAGroupsError
from .engine import Job
from .gate import JobStopped
from .graph_batches import join_requests_call, participants_call
from .graph_calls import ACTION_NAMES, STREAM_PAGE_SIZE, GraphCalls
from .graph_settle import join_requests_settle, participants_settle
from .graph_stream import join_requests_stream, learn_requesters
from .items import group_work, run_items
from .options import DEFAULT_CHECKPOINT_INTERVAL, CheckpointTarget, check_concurrency
from .results import BulkProgressCallback, BulkReport, BulkResult
from .resume import prepare_run
from .state import GroupRun, unique

__all__ = ["GraphCalls", "run_all_join_requests", "run_join_requests", "run_participants"]


def _join_requests_job(
    client: GraphCalls,
    action: Literal["approve", "reject"],
    runs: dict[str, GroupRun],
    concurrency: int,
    batch_size: int,
    on_progress: BulkProgressCallback | None,
    stop: asyncio.Event | None,
    checkpoint: CheckpointTarget | None,
    checkpoint_interval: float,
) -> Job:
    """Return the job that answers join requests, reading each group's requesters from ``runs``."""
    return Job(
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
    job = _join_requests_job(
        client, action, runs, concurrency, batch_size, on_progress, stop, checkpoint, checkpoint_interval
    )
    run, again, unknown = prepare_run(job, result, resume, ACTION_NAMES[action], gid)
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
    source = join_requests_stream(client) if stream else None
    for key in explicit or ():  # taken before the first checkpoint, so a kill at once leaves them on record
        job.accept(run, key, hold=learn)  # held until the listing names the requester (learn_requesters)

    async def work() -> None:
        if learn and explicit:
            await learn_requesters(client, job, run)
        await group_work(job, run, explicit, source, unknown)

    await job.run_to_end(work(), run.result)
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
        action=ACTION_NAMES[action],
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
    job = _join_requests_job(
        client, action, runs, concurrency, batch_size, on_progress, stop, checkpoint, checkpoint_interval
    )
    job.total = None
    target = result if result is not None else BulkReport()
    target.action = ACTION_NAMES[action]
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
            source = join_requests_stream(client) if previous is None or not previous.exhausted else None
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

    await job.run_to_end(work(), target)
    return target
