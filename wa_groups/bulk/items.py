"""Running one group's items: the part of a job each group gets, and the list job any backend's helpers use.

:func:`group_work` settles a resumed group's unknown outcomes, sends its explicit items, then reads its stream
(a :data:`StreamSource`, e.g. a listing of open join requests). :func:`run_items` is a whole one-group job over
a list: the WUTS client's bulk helpers and the Graph participants jobs run on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from ..errors import ClientValidationError
from .engine import Job
from .options import DEFAULT_CHECKPOINT_INTERVAL, CheckpointTarget, check_concurrency
from .results import BulkProgressCallback, BulkResult
from .resume import prepare_run, settle_unknown
from .state import BatchCall, GroupRun, Settle, unique

__all__ = ["StreamSource", "group_work", "run_items"]

#: Feeds a group's streamed items into the job (``job.feed``) and sets ``result.exhausted`` when it ends.
StreamSource = Callable[[Job, GroupRun], Awaitable[None]]


async def group_work(
    job: Job,
    run: GroupRun,
    explicit: list[str] | None,
    stream: StreamSource | None,
    unknown: list[str] | None = None,
) -> None:
    """Run one group's part of a job: settle unknown outcomes, send explicit items, then (if given) the stream.

    ``unknown`` holds the keys to settle first (see :func:`~wa_groups.bulk.resume.settle_unknown`). Without a
    stream the group's input is exhausted once its items are sent, unless the job stopped.
    """
    if unknown:
        await settle_unknown(job, run, list(unknown))
    if explicit:
        await job.feed(run, explicit)
    if stream is not None:
        await stream(job, run)
    await job.dispatch(run, final=True)
    if stream is None:
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

    await job.run_to_end(work(), run.result)
    return run.result
