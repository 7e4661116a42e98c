"""What a bulk job is told: the options every job takes, the context's defaults, and their checks."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TypedDict, Union

import attrs

from ..errors import ClientValidationError
from .results import BulkProgressCallback, BulkReport, BulkResult

__all__ = [
    "DEFAULT_CHECKPOINT_INTERVAL",
    "CheckpointTarget",
    "JobDefaults",
    "JobOptions",
    "ReportOptions",
    "check_concurrency",
    "check_job_options",
    "job_defaults",
]

#: Where a job writes its checkpoints: a file path (written atomically), or a callable given the partial
#: result (or report) at each checkpoint; a coroutine function is awaited.
CheckpointTarget = Union[str, "os.PathLike[str]", Callable[[BulkResult | BulkReport], "Awaitable[None] | None"]]

#: Seconds between two checkpoints written after batches (the first and last are always written).
DEFAULT_CHECKPOINT_INTERVAL = 2.0


@attrs.frozen(kw_only=True)
class JobDefaults:
    """Options for the bulk jobs started in a context, where a job's own options leave them unset."""

    stop: asyncio.Event | None = None
    """See :attr:`JobOptions.stop`."""

    checkpoint: CheckpointTarget | None = None
    """See :attr:`JobOptions.checkpoint`."""

    checkpoint_interval: float | None = None
    """See :attr:`JobOptions.checkpoint_interval`."""


#: Defaults for the bulk jobs started in the current context. A runner that starts jobs through code it does
#: not write (the ``wa-groups`` command runs every bulk command this way) sets a stop event and a checkpoint
#: for all of them at once; the options a job is given still win.
job_defaults: ContextVar[JobDefaults | None] = ContextVar("wa_groups_job_defaults", default=None)


class JobOptions(TypedDict, total=False):
    """The options every bulk job takes as keyword arguments."""

    concurrency: int
    """Requests in flight at most, listings included (8 by default; 16 for cross-group jobs)."""

    batch_size: int
    """Items per request, capped at the backend's limit (8 for Graph)."""

    on_progress: BulkProgressCallback | None
    """Called with a :class:`~wa_groups.bulk.BulkProgress` after each batch (a function or a coroutine function)."""

    resume: BulkResult | None
    """A result of an earlier run: its not-attempted items and retryable failures run again, and items whose
    outcome was unknown are settled by looking at the server first (never sent blindly a second time)."""

    result: BulkResult | None
    """A result to fill in place, so that a cancelled task's partial result stays reachable."""

    stop: asyncio.Event | None
    """Set this event to stop the job gently: no new batch is sent, the batches in flight are waited for so
    their outcome is known, and the rest is recorded as not attempted. Cancelling the task still stops at once."""

    checkpoint: CheckpointTarget | None
    """Keep a resumable copy of the result while the job runs: a file path (replaced atomically) or a callable.
    Written when the job starts, after batches at most every ``checkpoint_interval`` seconds, and at the end
    (cancellation included). Batches in flight at a checkpoint appear as failures of unknown outcome."""

    checkpoint_interval: float
    """Seconds between checkpoints written after batches (2 by default)."""


class ReportOptions(TypedDict, total=False):
    """The options of cross-group jobs, whose outcome is a :class:`~wa_groups.bulk.BulkReport`."""

    concurrency: int
    """Requests in flight at most, all groups together (16 by default)."""

    batch_size: int
    """Items per request, capped at the backend's limit (8 for Graph)."""

    on_progress: BulkProgressCallback | None
    """Called with a :class:`~wa_groups.bulk.BulkProgress` after each batch."""

    resume: BulkReport | None
    """A report of an earlier run to complete."""

    result: BulkReport | None
    """A report to fill in place, so that a cancelled task's partial report stays reachable."""

    stop: asyncio.Event | None
    """Set this event to stop the job gently (see :class:`JobOptions`)."""

    checkpoint: CheckpointTarget | None
    """Keep a resumable copy of the report while the job runs (see :class:`JobOptions`)."""

    checkpoint_interval: float
    """Seconds between checkpoints written after batches (2 by default)."""


def check_concurrency(concurrency: object, batch_size: object, max_batch: int | None) -> tuple[int, int]:
    """Return ``(concurrency, batch_size)`` checked, the batch size capped at the backend's ``max_batch``."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ClientValidationError(f"concurrency must be an int >= 1, got {concurrency!r}", argument="concurrency")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ClientValidationError(f"batch_size must be an int >= 1, got {batch_size!r}", argument="batch_size")
    return concurrency, batch_size if max_batch is None else min(batch_size, max_batch)


def check_job_options(stop: object, checkpoint_interval: object) -> float:
    """Check ``stop`` (an :class:`asyncio.Event` or ``None``) and return ``checkpoint_interval`` as seconds."""
    if stop is not None and not isinstance(stop, asyncio.Event):
        raise ClientValidationError(f"stop must be an asyncio.Event, got {type(stop).__name__}", argument="stop")
    if (
        isinstance(checkpoint_interval, bool)
        or not isinstance(checkpoint_interval, (int, float))
        or not 0 <= checkpoint_interval < float("inf")
    ):
        raise ClientValidationError(
            f"checkpoint_interval must be a number of seconds >= 0, got {checkpoint_interval!r}",
            argument="checkpoint_interval",
        )
    return float(checkpoint_interval)
