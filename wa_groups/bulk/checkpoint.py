"""Checkpoints of a running bulk job: a resumable copy of its result, written so a kill at any moment leaves one.

A path is written atomically: the JSON goes to a temporary file beside it, which then replaces the path
(``os.replace``), so a reader never sees half a file whatever moment the process dies. A callable receives the
result (or report) instead, for callers that store it elsewhere.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from .results import BulkReport, BulkResult

__all__ = ["Checkpointer", "write_atomically"]

logger = logging.getLogger("wa_groups")

_Target = Union[str, "os.PathLike[str]", Callable[["BulkResult | BulkReport"], "Awaitable[None] | None"]]


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

    def __init__(self, target: _Target) -> None:
        if not callable(target) and not isinstance(target, (str, os.PathLike)):
            from ..errors import ClientValidationError

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
