"""Reading a group's open join requests for a Graph job, page by page, safe against stale cursors.

A streamed job takes every open request from the listing; a job given ids reads the listing to learn who asked
for each before sending it, while it sends what earlier pages named.
"""

from __future__ import annotations

import asyncio
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


async def learn_requesters(client: GraphCalls, job: Job, run: GroupRun) -> None:
    """Send the held join requests of ``run`` as the group's listing names who asked for each.

    Knowing the requester lets a resumed job confirm a request whose answer was lost, so a request is sent only
    once its requester is on record, or once the listing is over without naming it. The listing is read in a
    task of its own, page by page, while the job sends what earlier pages named (instead of reading it whole
    before anything is sent): each page's requesters are checkpointed (write-ahead) before its requests are
    released to the job. The last request of a page waits for the next page, so approving it cannot make the
    listing's cursor stale. A failing listing only costs that knowledge: every request still held is then
    released and the job goes on.
    """
    released = asyncio.Event()
    listing = asyncio.get_running_loop().create_task(_learn(client, job, run, released))
    try:
        while True:
            await job.dispatch(run)
            if listing.done():
                break
            if not released.is_set():
                waiter = asyncio.ensure_future(released.wait())
                try:
                    await asyncio.wait((listing, waiter), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
            released.clear()
        listing.result()  # a bug in the listing task is not swallowed
    finally:
        if not listing.done():
            listing.cancel()
        await asyncio.gather(listing, return_exceptions=True)
        job.release(run)


async def _learn(client: GraphCalls, job: Job, run: GroupRun, released: asyncio.Event) -> None:
    """Read the listing (again after a stale cursor) until nothing is held; release every held key at the end."""
    held = run.held
    idle_restarts = 0
    try:
        while held and job.stop is None:
            before = len(held)
            try:
                await _learn_pages(client, job, run, released)
                return
            except InvalidCursorError:
                idle_restarts = idle_restarts + 1 if len(held) == before else 0
                if idle_restarts > MAX_IDLE_RESTARTS:
                    raise
    except JobStopped:
        return  # the job stopped: what is still held is recorded as not attempted
    except WAGroupsError as error:
        logger.info("could not list join requests of %s before sending: %s", run.result.group_id, error)
    finally:
        job.release(run)
        released.set()


async def _learn_pages(client: GraphCalls, job: Job, run: GroupRun, released: asyncio.Event) -> None:
    """Read the listing once, releasing each held request once its requester is on record."""
    requesters = run.result.requesters
    held = run.held
    waiting: str | None = None  # the previous page's last request, held until this page is read
    async for page in client.iter_join_requests(run.result.group_id, page_size=STREAM_PAGE_SIZE).pages():
        ready = [waiting] if waiting is not None else []
        waiting = None
        fresh = False
        for request in page.items:
            key = request.join_request_id
            if key in held:
                if request.wa_id and requesters.get(key) != request.wa_id:
                    requesters[key] = request.wa_id
                    fresh = True
                ready.append(key)
        if page.items and ready and ready[-1] == page.items[-1].join_request_id:
            waiting = ready.pop()
        if fresh:
            await job.checkpoint(force=True)  # the requesters are on record before any of these is sent
        if ready:
            job.release(run, ready)
            released.set()
        if job.stop is not None or not held:
            return
