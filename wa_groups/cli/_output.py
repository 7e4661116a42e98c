"""What the ``wa-groups`` commands print: plain-text tables, JSON-ready data and the progress display.

Nothing here talks to the network; the commands feed it data.
"""

from __future__ import annotations

import enum
import math
import shutil
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import TextIO

from ..bulk import BulkProgress
from ..models import GroupOperation
from ._context import Context

__all__ = [
    "ProgressDisplay",
    "format_count",
    "format_duration",
    "format_table",
    "key_value_table",
    "plural",
    "print_operation",
]

#: Longest cell a table prints before cutting it with an ellipsis.
MAX_CELL = 48


def format_count(value: int) -> str:
    """Return an integer with thousands separators, e.g. ``10,000``."""
    return f"{value:,}"


def plural(count: int, noun: str) -> str:
    """Return e.g. ``1 group`` or ``10,000 groups``."""
    return f"{format_count(count)} {noun}{'s' if count != 1 else ''}"


def print_operation(ctx: Context, operation: GroupOperation, what: str) -> None:
    """Print an accepted Graph operation, whose outcome arrives in a webhook."""
    if ctx.json:
        ctx.out_json({"kind": operation.kind, "request_id": operation.request_id, "group_id": operation.group_id})
        return
    request = f" (request_id {operation.request_id})" if operation.request_id else ""
    ctx.out(f"{what}{request}; the outcome arrives in a webhook.")


def format_duration(seconds: float) -> str:
    """Return a duration as ``0.4s``, ``12s`` or ``1:05:09``."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _cell(value: object, cut: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return format_count(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, enum.Enum):
        return str(value.value)
    text = " ".join(str(value).split())
    return text if not cut or len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."


def format_table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, cut: Collection[int] = ()) -> str:
    """Return rows as an aligned plain-text table; numbers are right-aligned.

    Cells of the columns whose indexes are in ``cut`` are shortened to :data:`MAX_CELL` characters (ids are never
    cut, so they can be copied from the table).
    """
    raw = [list(row) for row in rows]
    cells = [[_cell(value, index in cut) for index, value in enumerate(row)] for row in raw]
    widths = [len(header) for header in headers]
    for row in cells:
        for index, text in enumerate(row):
            widths[index] = max(widths[index], len(text))
    lines = ["  ".join(header.ljust(widths[i]) for i, header in enumerate(headers)).rstrip()]
    for values, row in zip(raw, cells, strict=True):
        lines.append(
            "  ".join(
                text.rjust(widths[i]) if _is_number(values[i]) else text.ljust(widths[i]) for i, text in enumerate(row)
            ).rstrip()
        )
    return "\n".join(lines)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def key_value_table(pairs: Iterable[tuple[str, object]]) -> str:
    """Return ``label  value`` lines with the labels aligned."""
    items = [(label, _cell(value) if not isinstance(value, str) else value) for label, value in pairs]
    width = max((len(label) for label, _ in items), default=0)
    return "\n".join(f"{label.ljust(width)}  {value}".rstrip() for label, value in items)


#: How far a cross-group job is: (groups done, groups in all or ``None`` while still unknown).
GroupsDone = Callable[[], "tuple[int, int | None]"]


class ProgressDisplay:
    """Show a bulk job's progress on a stream; use the instance as the job's ``on_progress`` callback.

    On a terminal (``live=True``) one line is redrawn in place with a bar, the counts, the rate and the ETA, at
    most every ``live_interval`` seconds. Otherwise a plain line is written at most every ``interval`` seconds,
    or when the job crosses another ``step_percent``, so logs stay short. An ETA is shown once a rate is known
    and there is a total to reach (items, or groups for a cross-group job); never a placeholder.

    Args:
        stream: Where to write (usually ``sys.stderr``).
        label: What the job does, for people, e.g. ``Approving join requests``.
        total: Items expected, for the percentage and the ETA; ``None`` when unknown.
        live: Redraw one line in place (for terminals).
        interval: Seconds between plain lines.
        step_percent: A plain line is also written each time this share of the work is passed.
        live_interval: Seconds between redraws of the live line.
        clock: Monotonic clock, in seconds.
        groups: For a cross-group job, tells how many groups are done and how many there are.
        noun: What the items are, e.g. ``join requests`` (plain counts when not given).

    """

    def __init__(
        self,
        stream: TextIO,
        *,
        label: str,
        total: int | None = None,
        live: bool = False,
        interval: float = 1.0,
        step_percent: float = 10.0,
        live_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        groups: GroupsDone | None = None,
        noun: str = "",
    ) -> None:
        self._stream = stream
        self._label = label
        self._total = total
        self._live = live
        self._interval = interval
        self._step = step_percent
        self._live_interval = live_interval
        self._clock = clock
        self._groups = groups
        self._noun = noun
        self._started = clock()
        self._last_write: float | None = self._started if not live else None
        self._last_step = 0
        self._last: BulkProgress | None = None
        self._drawn = 0
        self._finished = False

    @property
    def elapsed(self) -> float:
        """Seconds since the display was created."""
        return self._clock() - self._started

    def __call__(self, progress: BulkProgress) -> None:
        """Record a progress snapshot and write it when it is time to."""
        self._last = progress
        if self._finished:
            return
        now = self._clock()
        if self._live:
            if self._last_write is None or now - self._last_write >= self._live_interval:
                self._draw(now)
            return
        share = self._share()
        if share is not None and share >= 1.0:
            return  # finish() writes the last line
        step = 0 if share is None or self._step <= 0 else int(share * 100 // self._step)
        due = self._last_write is None or now - self._last_write >= self._interval
        if due or step > self._last_step:
            self._last_step = max(step, self._last_step)
            self._write_line(now)

    def finish(self, *, interrupted: bool = False) -> None:
        """Write the final state and end the line; idempotent."""
        if self._finished:
            return
        self._finished = True
        now = self._clock()
        if self._last is None and not interrupted:
            if self._live and self._drawn:
                self._stream.write("\n")
                self._stream.flush()
            return
        suffix = " (interrupted)" if interrupted else ""
        if self._live:
            self._draw(now, final=True, suffix=suffix)
            self._stream.write("\n")
            self._stream.flush()
        else:
            self._write_line(now, final=True, suffix=suffix)

    # ------------------------------------------------------------------------------------------- rendering

    def _done(self) -> int:
        return self._last.done if self._last is not None else 0

    def _known_total(self, done: int) -> int | None:
        progress_total = self._last.total if self._last is not None else None
        total = progress_total if progress_total is not None else self._total
        if total is None:
            return None
        return max(total, done)

    def _groups_done(self) -> tuple[int, int | None] | None:
        if self._groups is None:
            return None
        done, total = self._groups()
        return done, (None if total is None else max(total, done))

    def _share(self) -> float | None:
        """Return the share of the work done (0..1): by items when their total is known, else by groups."""
        done = self._done()
        total = self._known_total(done)
        if total is not None:
            return 1.0 if total == 0 else done / total
        groups = self._groups_done()
        if groups is not None and groups[1] is not None:
            return 1.0 if groups[1] == 0 else groups[0] / groups[1]
        return None

    def _numbers(self, now: float, final: bool) -> tuple[str, str]:
        """Return (counts text, rate and ETA text)."""
        last = self._last
        done = self._done()
        failed = last.failed if last is not None else 0
        total = self._known_total(done)
        elapsed = max(now - self._started, 1e-9)
        rate = done / elapsed
        counts = format_count(done) if total is None else f"{format_count(done)}/{format_count(total)}"
        if self._noun:
            counts += f" {self._noun}"
        if failed:
            counts += f" ({format_count(failed)} failed)"
        groups = self._groups_done()
        if groups is not None:
            done_groups, all_groups = groups
            shown = format_count(done_groups) if all_groups is None else f"{done_groups:,}/{all_groups:,}"
            counts = f"{shown} groups, {counts}"
        timing = f"{rate:,.0f}/s"
        if final:
            return counts, f"{timing} in {format_duration(elapsed)}"
        eta: float | None = None
        if total is not None and rate > 0:
            eta = (total - done) / rate
        elif groups is not None and groups[1] is not None and groups[0] > 0:
            eta = elapsed * (groups[1] - groups[0]) / groups[0]
        if eta is not None:
            timing += f" ETA {format_duration(eta)}"
        return counts, timing

    def _percent(self) -> int | None:
        share = self._share()
        return None if share is None else min(100, int(share * 100))

    def _write_line(self, now: float, *, final: bool = False, suffix: str = "") -> None:
        counts, timing = self._numbers(now, final)
        percent = self._percent()
        share = "" if percent is None else f" {percent}%"
        self._stream.write(f"{self._label}:{share} {counts} {timing}{suffix}\n")
        self._stream.flush()
        self._last_write = now

    def _draw(self, now: float, *, final: bool = False, suffix: str = "") -> None:
        counts, timing = self._numbers(now, final)
        percent = self._percent()
        columns = shutil.get_terminal_size((80, 24)).columns
        tail = f" {counts} {timing}{suffix}"
        if percent is None:
            line = f"{self._label}{tail}"
        else:
            room = max(10, min(30, columns - len(self._label) - len(tail) - 8))
            filled = room * percent // 100
            line = f"{self._label} [{'#' * filled}{'-' * (room - filled)}] {percent:3d}%{tail}"
        line = line[: max(1, columns - 1)]
        padding = " " * max(0, self._drawn - len(line))
        self._stream.write(f"\r{line}{padding}")
        self._stream.flush()
        self._drawn = len(line)
        self._last_write = now
