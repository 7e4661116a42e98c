"""Streaming a group's open join requests into a Graph job, page by page, safe against stale cursors."""

from __future__ import annotations

import logging

from ..errors import InvalidCursorError, WAGroupsError
from .engine import Job
from .gate import JobStopped
from .graph_calls import STREAM_PAGE_SIZE, GraphCalls
from .items import StreamSource
from .state import GroupRun

__all__ = ["MAX_IDLE_RESTARTS", "join_requests_stream", "learn_requesters"]

logger = logging.getLogger("wa_groups")

#: Restarts after a stale cursor that found no new request before a streamed job gives up on a group.
MAX_IDLE_RESTARTS = 5


def join_requests_stream(client: GraphCalls) -> StreamSource:
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


async def learn_requesters(client: GraphCalls, run: GroupRun, ids: list[str]) -> None:
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
