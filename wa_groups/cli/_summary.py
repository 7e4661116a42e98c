"""A bulk job's summary: the JSON printed with ``--json`` and the rows of the table printed without it."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

from ..bulk import BulkFailure, BulkReport, BulkResult
from ..errors import APIError, WAGroupsError
from ._output import format_duration

__all__ = ["summary", "summary_pairs"]


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
