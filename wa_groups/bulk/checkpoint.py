"""Checkpoints of a running bulk job: a resumable copy of its result, written so a kill at any moment leaves one.

A path is written atomically: the JSON goes to a temporary file beside it, which then replaces the path
(``os.replace``), so a reader never sees half a file whatever moment the process dies. A callable receives the
result (or report) instead, for callers that store it elsewhere. :func:`snapshot_result` builds what a
checkpoint of a running group holds.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import attrs

from ..errors import ClientValidationError, TransportError
from .options import CheckpointTarget
from .results import BulkFailure, BulkReport, BulkResult
from .state import Batch, GroupRun

__all__ = ["Checkpointer", "snapshot_result", "write_atomically"]

logger = logging.getLogger("wa_groups")


def write_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and ``os.replace``."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class Checkpointer:
    """Writes a job's checkpoints to a path or hands them to a callable; a failure is logged, never raised."""

    def __init__(self, target: CheckpointTarget) -> None:
        if not callable(target) and not isinstance(target, (str, os.PathLike)):
            raise ClientValidationError(
                f"checkpoint must be a path or a callable, got {type(target).__name__}", argument="checkpoint"
            )
        self.target = target
        #: Checkpoints written so far.
        self.written = 0

    def __repr__(self) -> str:
        return f"Checkpointer({self.target!r}, written={self.written})"

    async def write(self, snapshot: BulkResult | BulkReport) -> None:
        """Store ``snapshot``: as JSON at the path, or by calling the callable (awaited when it is a coroutine)."""
        try:
            if callable(self.target):
                outcome = self.target(snapshot)
                if inspect.isawaitable(outcome):
                    await outcome
            else:
                write_atomically(self.target, snapshot.to_json())
        except Exception:  # a full disk must not lose the job; the next checkpoint tries again
            logger.error("bulk checkpoint could not be written", exc_info=True)
            return
        self.written += 1


def snapshot_result(run: GroupRun, batches: Iterable[Batch]) -> BulkResult:
    """Return a copy of ``run``'s result with every key it holds accounted for, ``batches`` being the job's own.

    Keys in batches already sent are failures of unknown outcome (the answer is not back), held and queued keys
    and batches not yet sent are not attempted: resuming from the copy settles or sends each as it should.
    """
    result = run.result
    failed = list(result.failed)
    not_attempted = list(result.not_attempted)
    for state in batches:
        if state.run is not run or state.recorded:
            continue
        if state.sent:
            error = TransportError("the batch was in flight when this checkpoint was written")
            error.mark_outcome_unknown()
            failed.extend(BulkFailure(item=run.label(k), group_id=result.group_id, error=error) for k in state.keys)
        else:
            not_attempted.extend(run.label(k) for k in state.keys)
    not_attempted.extend(run.label(k) for k in run.held)
    not_attempted.extend(run.label(k) for k in run.queued)
    return attrs.evolve(
        result,
        running=True,
        succeeded=list(result.succeeded),
        failed=failed,
        not_attempted=not_attempted,
        duplicates=dict(result.duplicates),
        requesters=dict(result.requesters),
        details=dict(result.details),
    )
