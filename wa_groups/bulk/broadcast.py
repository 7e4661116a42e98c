"""Broadcasting: one message to many groups, one send per group, every group accounted for exactly once.

The broadcast runs on the bulk engine with a batch of one group per request (a send has one recipient).
Its items are group ids. A send whose answer was lost may have gone out: such a group is recorded as a
failure of unknown outcome and, on resume, is never sent to again unless the caller says so
(``resend_unknown=True``), so that no group receives the message twice by accident.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from .._core.retry import RetryPolicy
from .._graph.checks import check_id
from .._graph.messages import check_group_message
from ..errors import AuthenticationError, ClientValidationError, WAGroupsError
from .engine import Job
from .gate import JobStopped
from .items import group_work
from .options import check_concurrency
from .results import BulkFailure, BulkProgressCallback, BulkResult, accounted_items
from .state import GroupRun, unique

if TYPE_CHECKING:
    from ..models import GroupSummary, SentMessage

__all__ = ["ACTION", "BroadcastCalls", "broadcast_retry_items", "run_broadcast"]

#: The ``action`` of a broadcast's :class:`BulkResult`.
ACTION: Final = "broadcast"
#: Page size used to stream the active groups.
STREAM_PAGE_SIZE: Final = 1024


class BroadcastCalls(Protocol):
    """The client methods a broadcast calls (:class:`~wa_groups.GroupsClient` has them)."""

    @property
    def retry_policy(self) -> RetryPolicy:
        """The client's retry policy (its sleep paces the job)."""

    async def send_message(
        self, group_id: str, message: Mapping[str, Any], *, phone_number_id: str | None = None
    ) -> SentMessage:
        """Send one message to one group."""

    def iter_groups(
        self, *, page_size: int | None = None, phone_number_id: str | None = None
    ) -> AsyncIterable[GroupSummary]:
        """Stream the active groups."""


def broadcast_retry_items(previous: BulkResult, *, resend_unknown: bool) -> tuple[list[str], list[BulkFailure]]:
    """Split an earlier broadcast's failures: the groups to send to again, and the failures to keep as they are.

    Not attempted groups and failures that certainly did not go out but may succeed later (throttling, a
    refused connection) are sent again. A failure of unknown outcome is sent again only with
    ``resend_unknown``; every other failure (an unknown group, a group with nobody in it...) is kept.
    """
    again = list(previous.not_attempted)
    kept: list[BulkFailure] = []
    for failure in previous.failed:
        error = failure.error
        send_again = resend_unknown if error.outcome_unknown else error.retryable
        if send_again:
            again.append(failure.item)
        else:
            kept.append(failure)
    return again, kept


async def run_broadcast(
    client: BroadcastCalls,
    message: Mapping[str, Any],
    *,
    group_ids: Iterable[str] | None = None,
    concurrency: int = 16,
    on_progress: BulkProgressCallback | None = None,
    resume: BulkResult | None = None,
    result: BulkResult | None = None,
    resend_unknown: bool = False,
    phone_number_id: str | None = None,
) -> BulkResult:
    """Send ``message`` to every group of ``group_ids`` (every active group when ``None``), once each.

    Returns:
        A :class:`BulkResult` whose items are group ids: each in exactly one of ``succeeded`` (its ``wamid``
        in ``details``), ``failed`` or ``not_attempted``.

    """
    checked = check_group_message(message)
    concurrency, _ = check_concurrency(concurrency, 1, 1)
    if isinstance(group_ids, str):
        raise ClientValidationError("group_ids must be a list of group ids, not one string", argument="group_ids")
    if resume is not None and resume.action not in ("", ACTION):
        raise ClientValidationError(f"resume= holds a {resume.action} result, not a broadcast", argument="resume")
    explicit = None if group_ids is None else unique(group_ids, lambda gid: check_id(gid, "group_ids"))

    target = result if result is not None else BulkResult()
    target.action, target.group_id = ACTION, ""
    if resume is not None:
        again, kept = broadcast_retry_items(resume, resend_unknown=resend_unknown)
        details = dict(resume.details)  # copied first: ``result`` may be ``resume`` itself
        target.succeeded[:] = list(resume.succeeded)
        target.failed[:] = kept
        target.not_attempted.clear()
        target.details.clear()
        target.details.update(details)
        target.exhausted = False
        if explicit is not None:  # groups named now that the earlier run never saw
            known = accounted_items(resume)
            again += [gid for gid in explicit if gid not in known]
        todo: list[str] | None = again
        stream = explicit is None and not resume.exhausted
    else:
        todo, stream = explicit, explicit is None

    async def send(_: str, batch: list[str]) -> tuple[list[str], list[tuple[str, WAGroupsError]]]:
        (gid,) = batch
        sent = await client.send_message(gid, checked, phone_number_id=phone_number_id)
        if sent.message_id is not None:
            target.details[gid] = sent.message_id
        return [gid], []

    job = Job(send, client.retry_policy.sleep, concurrency=concurrency, batch_size=1, on_progress=on_progress)
    job.total = None if stream else len(todo or ())
    # Groups with an outcome already are taken: a listing that names them again does not send twice.
    run = job.add_run(GroupRun(result=target, seen=set(target.succeeded) | {f.item for f in target.failed}))

    async def groups(job: Job, run: GroupRun) -> None:
        result = run.result
        try:
            listing = client.iter_groups(page_size=STREAM_PAGE_SIZE, phone_number_id=phone_number_id)
            await job.feed(run, (group.id async for group in listing))
        except JobStopped:
            return
        except WAGroupsError as error:
            result.stopped_by = error
            if isinstance(error, AuthenticationError):
                job.halt(error)
            return
        result.exhausted = job.stop is None

    await job.run_to_end(group_work(job, run, todo, groups if stream else None), target)
    return target
