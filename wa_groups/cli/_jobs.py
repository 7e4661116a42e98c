"""The bulk-job runner the commands share: progress display, Ctrl-C, the JSON report and ``--resume``."""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from ..bulk import BulkFailure, BulkReport, BulkResult
from ..errors import APIError, WAGroupsError
from ._args import DEFAULT_REPORT
from ._context import PROG, Context, ExitStatus, usage
from ._output import ProgressDisplay, format_duration, key_value_table

#: Run a participants bulk job: (items, resume, result, progress) -> awaitable.
ParticipantsJob = Callable[[list[str], BulkResult | None, BulkResult, ProgressDisplay], Awaitable[object]]


def report_path(args: argparse.Namespace) -> str:
    """Return where the job's report goes: ``--report``, else the ``--resume`` file, else the default."""
    return str(args.report or args.resume or DEFAULT_REPORT)


def _read_json_object(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as error:
        raise usage(f"cannot read the report {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise usage(f"{path} is not a wa-groups report: {error}") from None
    if not isinstance(data, dict):
        raise usage(f"{path} is not a wa-groups report: expected a JSON object")
    return data


def load_result(path: str, action: str, items: Iterable[str]) -> BulkResult:
    """Load a one-group report; items given again on the command line that it never mentions are added to do."""
    data = _read_json_object(path)
    if "groups" in data:
        raise usage(f"{path} is the report of an --all-groups job: resume it with --all-groups")
    result = BulkResult.from_dict(data)
    if result.action and result.action != action:
        raise usage(f"{path} is the report of a {result.action} job, not {action}")
    record_unaccounted_items(result, items)
    return result


def load_report(path: str, action: str) -> BulkReport:
    """Load the report of an ``--all-groups`` job of ``action``."""
    data = _read_json_object(path)
    if "groups" not in data:
        raise usage(f"{path} is the report of a one-group job: resume it with GROUP_ID")
    report = BulkReport.from_dict(data)
    if report.action != action:
        raise usage(f"{path} is the report of a {report.action} job, not {action}")
    return report


# The bulk module's job cancellation accounts for items the same way; at merge time this becomes a function of
# wa_groups.bulk that both use.
def record_unaccounted_items(result: BulkResult, items: Iterable[str]) -> None:
    """Record as not attempted every item the result does not account for (so a resumed job does it).

    Also keep each item in one place only: an item recorded twice (as may happen when a job is cancelled while
    a batch waits to be sent) is listed once, and never as not attempted when it has an outcome.
    """
    done = set(result.succeeded) | {failure.item for failure in result.failed}
    result.not_attempted[:] = [item for item in dict.fromkeys(result.not_attempted) if item not in done]
    accounted = done | set(result.not_attempted)
    for item in dict.fromkeys(items):
        if item not in accounted:
            result.not_attempted.append(item)


def settle_report(report: BulkReport) -> None:
    """Keep each item of every group of an ``--all-groups`` report in one place only."""
    for result in report.groups.values():
        record_unaccounted_items(result, ())


def merge_unreached(report: BulkReport, previous: BulkReport | None) -> None:
    """Keep, in an interrupted resumed report, the earlier state of groups this run did not reach or finish."""
    if previous is None:
        return
    for group_id, earlier in previous.groups.items():
        current = report.groups.get(group_id)
        if current is None:
            report.groups[group_id] = earlier
        else:
            record_unaccounted_items(current, earlier.retry_items())


def _failures(target: BulkResult | BulkReport) -> Iterator[BulkFailure]:
    if isinstance(target, BulkResult):
        yield from target.failed
        return
    for result in target.groups.values():
        yield from result.failed


def _failure_label(error: WAGroupsError) -> str:
    if isinstance(error, APIError) and error.code is not None:
        return f"#{error.code} {error.title or error.message or type(error).__name__}"
    return type(error).__name__


def save_report(ctx: Context, path: str, target: BulkResult | BulkReport) -> bool:
    """Write the report through a temporary file; say so on stderr and return False when that fails."""
    temporary = f"{path}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(target.to_json())
            handle.write("\n")
        os.replace(temporary, path)
    except OSError as error:
        ctx.error(f"cannot write the report {path}: {error.strerror or error}")
        return False
    return True


def summary(target: BulkResult | BulkReport, elapsed: float, path: str | None) -> dict[str, Any]:
    """Return the job's summary (the JSON printed with ``--json``)."""
    by_error = collections.Counter(_failure_label(failure.error) for failure in _failures(target))
    counts = dict(target.counts)
    if isinstance(target, BulkResult):
        counts = {"groups": 1, **counts}
    done = counts["succeeded"] + counts["failed"]
    return {
        "action": target.action,
        "ok": target.ok,
        "counts": counts,
        "failed_by_error": dict(by_error.most_common()),
        "stopped_by": None if target.stopped_by is None else str(target.stopped_by),
        "elapsed_seconds": round(elapsed, 3),
        "items_per_second": round(done / elapsed, 1) if elapsed > 0 else None,
        "report": path,
    }


def summary_pairs(job: dict[str, Any], succeeded_label: str = "succeeded") -> list[tuple[str, object]]:
    """Return the rows of the summary table of a :func:`summary`."""
    counts = job["counts"]
    pairs: list[tuple[str, object]] = [
        ("groups", counts["groups"]),
        (succeeded_label, counts["succeeded"]),
        ("failed", counts["failed"]),
    ]
    pairs += [(f"  {label}", number) for label, number in job["failed_by_error"].items()]
    pairs += [
        ("not attempted", counts["not_attempted"]),
        ("elapsed", format_duration(job["elapsed_seconds"])),
    ]
    if job["items_per_second"] is not None:
        pairs.append(("items/s", f"{job['items_per_second']:,.0f}"))
    if job["report"]:
        pairs.append(("report", job["report"]))
    return pairs


async def run_bulk(
    ctx: Context,
    *,
    label: str,
    total: int | None,
    target: BulkResult | BulkReport,
    path: str,
    job: Callable[[ProgressDisplay], Awaitable[object]],
    settle: Callable[[], None] | None = None,
    on_interrupt: Callable[[], None] | None = None,
) -> int:
    """Run a bulk job with a progress display; write its report at the end and on Ctrl-C."""
    progress = ProgressDisplay(ctx.stderr, label=label, total=total, live=ctx.live_progress)
    started = time.monotonic()
    try:
        await job(progress)
    except asyncio.CancelledError:
        progress.finish(interrupted=True)
        if settle is not None:
            settle()
        if on_interrupt is not None:
            on_interrupt()
        if save_report(ctx, path, target):
            ctx.note(f"{PROG}: interrupted: partial report written to {path}; continue with --resume {path}")
            ctx.interrupt_noted = True
        raise
    except BaseException:
        progress.finish()
        raise
    progress.finish()
    if settle is not None:
        settle()
    elapsed = time.monotonic() - started
    saved = save_report(ctx, path, target)
    done = summary(target, elapsed, path if saved else None)
    if ctx.json:
        ctx.out_json(done)
    else:
        ctx.out(key_value_table([("action", target.action), *summary_pairs(done)]))
    if target.stopped_by is not None:
        ctx.error(f"the job stopped early: {target.stopped_by}")
    elif not target.ok and not ctx.json:
        ctx.note(f"{PROG}: some items were not done; see {path}" if saved else f"{PROG}: some items were not done")
    return ExitStatus.OK if target.ok and saved else ExitStatus.FAILED


async def participants_bulk(ctx: Context, operation: str, normalised: list[str], run: ParticipantsJob) -> int:
    """Run a participants bulk job of either backend with a progress display and a report."""
    args = ctx.args
    resume = load_result(args.resume, operation, normalised) if args.resume else None
    result = BulkResult()
    expected = normalised + (resume.retry_items() if resume is not None else [])
    return await run_bulk(
        ctx,
        label=operation,
        total=len(set(normalised)) if resume is None else len(resume.retry_items()),
        target=result,
        path=report_path(args),
        job=lambda progress: run(normalised, resume, result, progress),
        settle=lambda: record_unaccounted_items(result, expected),
    )
