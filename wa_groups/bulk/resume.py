"""Resuming a job: which items of an earlier result run again, and settling those of unknown outcome by looking.

A resumed result keeps its successes and final failures. Its not-attempted items and retryable failures of
known outcome are sent again; items whose outcome is unknown (an answer was lost, or a checkpoint was written
while the job ran) are first settled by the backend's :data:`~wa_groups.bulk.state.Settle` function, which
looks at the server, so nothing is done twice. A backend without one sends them again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..errors import ClientValidationError, TransportError, WAGroupsError
from .engine import Job
from .gate import JobStopped
from .results import BulkFailure, BulkResult
from .state import GroupRun

__all__ = ["prepare_run", "settle_unknown"]

logger = logging.getLogger("wa_groups")


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


async def settle_unknown(job: Job, run: GroupRun, keys: list[str]) -> None:
    """Settle keys of ``run`` whose earlier outcome is unknown by looking, then queue those found not done.

    Until settled they stay recorded as failures of unknown outcome; when looking fails they stay so, and a
    later resume tries again. A backend without a settle function sends them again.
    """
    if not keys or job.stop is not None:
        return
    result = run.result
    if job.settle is None:
        # A backend that cannot look: its items are sent again, as the backend's own retry rules allow.
        _reopen(result, {run.label(key) for key in keys})
        for key in keys:
            run.queued[key] = None
        return
    try:
        settled = await job.settle(result.group_id, keys, result.requesters)
    except JobStopped:
        return
    except WAGroupsError as error:
        if job.stops_on(error):
            job.halt(error)
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
    _reopen(result, {run.label(key) for key in (*settled.done, *settled.again, *(k for k, _ in settled.failed))})
    job.record(run, settled.done, settled.failed)
    for key in settled.again:
        run.queued[key] = None


def _reopen(result: BulkResult, labels: set[str]) -> None:
    """Take ``labels`` out of the result's unknown outcomes and not-attempted items, to record them anew."""
    result.failed[:] = [f for f in result.failed if not (f.item in labels and f.error.outcome_unknown)]
    result.not_attempted[:] = [i for i in result.not_attempted if i not in labels]
