"""The bulk-job runner the commands share: progress display, stopping, the JSON report and ``--resume``.

The report is kept up to date while the job runs (a checkpoint, replaced atomically at most every
``CHECKPOINT_SECONDS``), so even a process killed outright leaves a report that ``--resume`` completes. The first
Ctrl-C, SIGTERM or SIGHUP stops the job gently: nothing new is sent and the requests in flight are waited for
(at most ``DRAIN_SECONDS``), so their outcome is known; a second Ctrl-C stops at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from ..bulk import BulkProgress, BulkReport, BulkResult
from ..bulk.checkpoint import write_atomically
from ..bulk.options import JobDefaults, job_defaults
from ..errors import ClientValidationError, ResponseError, TransportError
from ._config import network_hint
from ._context import PROG, CommandError, Context, ExitStatus, usage
from ._output import GroupsDone, ProgressDisplay, key_value_table
from ._summary import summary, summary_pairs

#: What each job does, as its progress display says it (the report keeps the library's operation name).
LABELS = {
    "approve_join_requests": ("Approving join requests", "join requests"),
    "reject_join_requests": ("Rejecting join requests", "join requests"),
    "add_participants": ("Adding participants", "participants"),
    "remove_participants": ("Removing participants", "participants"),
    "promote_participants": ("Promoting participants", "participants"),
    "demote_participants": ("Demoting participants", "participants"),
}


def job_label(operation: str) -> tuple[str, str]:
    """Return (label, noun of the items) of a job, e.g. ``("Approving join requests", "join requests")``."""
    return LABELS.get(operation, (operation.replace("_", " ").capitalize(), ""))


def job_name(operation: str) -> str:
    """Return a job's name for messages, e.g. ``approve join requests``."""
    return operation.replace("_", " ")


#: Seconds the requests in flight get to finish after a first Ctrl-C, SIGTERM or SIGHUP before the job is cancelled.
DRAIN_SECONDS = 10.0
#: Seconds between two checkpoints of the report while a job runs.
CHECKPOINT_SECONDS = 1.0
#: The signals that stop a job gently (those the platform has).
STOP_SIGNALS = tuple(
    sig for sig in (getattr(signal, name, None) for name in ("SIGINT", "SIGTERM", "SIGHUP")) if sig is not None
)

#: Run a participants bulk job: (items, resume, result, progress) -> awaitable.
ParticipantsJob = Callable[[list[str], BulkResult | None, BulkResult, ProgressDisplay], Awaitable[object]]


def report_path(args: argparse.Namespace) -> str | None:
    """Return where the job's report goes: ``--report``, else the ``--resume`` file, else ``None``.

    With ``None``, :func:`run_bulk` gives the report a name of the job's own (see :func:`default_report_name`).
    """
    return args.report or args.resume or None


def default_report_name(action: str, group_id: str | None, now: datetime | None = None) -> str:
    """Return a report name of the job's own: action, group (or ``all-groups``) and UTC time.

    E.g. ``wa-groups-approve-join-requests-all-groups-20261130T140501Z.json``: two jobs never share a file by
    default, so one job's report is never overwritten by another's.
    """
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    where = "all-groups" if group_id is None else re.sub(r"[^A-Za-z0-9._-]+", "_", group_id)[:80]
    return f"wa-groups-{action.replace('_', '-')}-{where}-{stamp}.json"


def _unfinished(report: BulkResult | BulkReport) -> bool:
    if isinstance(report, BulkReport):
        return not report.groups_exhausted or any(_unfinished(r) for r in report.groups.values())
    return report.running or not report.exhausted or bool(report.retry_items())


def check_overwrite(ctx: Context, path: str, action: str, group_id: str | None) -> None:
    """Refuse to overwrite the report of a different job that is not finished, unless ``--force`` is given.

    Raises:
        CommandError: ``path`` holds such a report.

    """
    args = ctx.args
    resuming = getattr(args, "resume", None)
    if getattr(args, "force", False) or (resuming and os.path.abspath(resuming) == os.path.abspath(path)):
        return
    try:
        data = _read_json_object(path)
        if "action" not in data:
            return
        earlier: BulkResult | BulkReport = (
            BulkReport.from_dict(data) if "groups" in data else BulkResult.from_dict(data)
        )
    except (CommandError, ClientValidationError):
        return  # nothing there, or not a report: nothing of a job to lose
    earlier_group = None if isinstance(earlier, BulkReport) else earlier.group_id
    if not _unfinished(earlier) or (earlier.action == action and earlier_group == group_id):
        return
    where = "every group" if earlier_group is None else f"group {earlier_group}"
    raise usage(
        f"{path} holds the report of another unfinished job ({earlier.action} on {where}): continue it with "
        f"--resume {path}, or name another --report (--force overwrites it)"
    )


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
        raise usage(f"{path} is the report of another job ({job_name(result.action)}), not of {job_name(action)}")
    result.account_for(items)
    return result


def load_report(path: str, action: str) -> BulkReport:
    """Load the report of an ``--all-groups`` job of ``action``."""
    data = _read_json_object(path)
    if "groups" not in data:
        raise usage(f"{path} is the report of a one-group job: resume it with GROUP_ID")
    report = BulkReport.from_dict(data)
    if report.action != action:
        raise usage(f"{path} is the report of another job ({job_name(report.action)}), not of {job_name(action)}")
    return report


def merge_unreached(report: BulkReport, previous: BulkReport | None) -> None:
    """Keep, in an interrupted resumed report, the earlier state of groups this run did not reach or finish."""
    if previous is None:
        return
    for group_id, earlier in previous.groups.items():
        current = report.groups.get(group_id)
        if current is None:
            report.groups[group_id] = earlier
        else:
            current.account_for(earlier.retry_items())


def save_report(ctx: Context, path: str, target: BulkResult | BulkReport) -> bool:
    """Write the report through a temporary file; say so on stderr and return False when that fails."""
    try:
        write_atomically(path, target.to_json() + "\n")
    except OSError as error:
        ctx.error(f"cannot write the report {path}: {error.strerror or error}")
        return False
    return True


class _Stopper:
    """What the stop signals do while a job runs: the first drains the job, a second one cancels it."""

    def __init__(self, ctx: Context, task: asyncio.Task[None], stop: asyncio.Event) -> None:
        self.ctx = ctx
        self.task = task
        self.stop = stop
        self.loop = asyncio.get_running_loop()
        self.signals = 0
        self.installed: list[int] = []
        self._deadline: asyncio.TimerHandle | None = None

    @property
    def requested(self) -> bool:
        """True once a stop signal arrived."""
        return self.signals > 0

    def install(self) -> None:
        """Take over the stop signals (where the platform lets an event loop handle them)."""
        for sig in STOP_SIGNALS:
            try:
                self.loop.add_signal_handler(sig, self.on_signal, sig)
            except (ValueError, RuntimeError, NotImplementedError):
                continue  # not the main thread, or no signal support: Ctrl-C cancels as before
            self.installed.append(sig)

    def remove(self, main: asyncio.Task[Any] | None) -> None:
        """Give the signals back; Ctrl-C cancels the command's own task again, as the command runner set it."""
        if self._deadline is not None:
            self._deadline.cancel()
        for sig in self.installed:
            self.loop.remove_signal_handler(sig)
        if main is not None and signal.SIGINT in self.installed:
            self.loop.add_signal_handler(signal.SIGINT, main.cancel)

    def on_signal(self, sig: int) -> None:
        """Drain on the first signal, with a deadline; cancel at once on the next one."""
        self.signals += 1
        if self.signals > 1:
            self.ctx.note(f"{PROG}: stopping now; requests in flight are recorded as of unknown outcome")
            self.task.cancel()
            return
        self.stop.set()
        name = signal.Signals(sig).name
        self.ctx.note(
            f"{PROG}: {name}: stopping: no new request is sent, waiting up to {DRAIN_SECONDS:g}s for those in "
            "flight (Ctrl-C again stops at once)"
        )
        self._deadline = self.loop.call_later(DRAIN_SECONDS, self.task.cancel)


class _Silent(ProgressDisplay):
    """A progress display that shows nothing (``--quiet``)."""

    def __call__(self, progress: BulkProgress) -> None:
        """Ignore a snapshot."""

    def finish(self, *, interrupted: bool = False) -> None:
        """Do nothing."""


def progress_display(
    ctx: Context, operation: str, total: int | None, groups: GroupsDone | None = None
) -> ProgressDisplay:
    """Return the progress display of a job: live on a terminal, plain lines elsewhere, none with ``--quiet``."""
    if ctx.verbosity < 0:
        return _Silent(ctx.stderr, label="")
    label, noun = job_label(operation)
    return ProgressDisplay(ctx.stderr, label=label, total=total, live=ctx.live_progress, groups=groups, noun=noun)


async def run_bulk(
    ctx: Context,
    *,
    label: str,
    total: int | None,
    target: BulkResult | BulkReport,
    path: str | None,
    job: Callable[[ProgressDisplay], Awaitable[object]],
    settle: Callable[[], object] | None = None,
    on_interrupt: Callable[[], None] | None = None,
    groups: GroupsDone | None = None,
) -> int:
    """Run a bulk job with a progress display, keeping its report up to date, and stop it gently on a signal.

    ``label`` is the job's operation (``approve_join_requests``); the display shows its human label. Without
    ``--report`` or ``--resume`` the report gets a name of the job's own, printed at the start. The report is
    checkpointed while the job runs and written whole at the end; a stop signal drains the job and writes it
    too, and the command then ends as interrupted.
    """
    args = ctx.args
    group_id = None if getattr(args, "all_groups", False) else getattr(args, "group_id", None)
    if path is None:
        path = default_report_name(label, group_id)
    check_overwrite(ctx, path, label, group_id)
    ctx.info(
        f"{PROG}: {job_name(label)}: the report is kept in {path} (continue an interrupted job with --resume {path})"
    )
    progress = progress_display(ctx, label, total, groups)
    stop = asyncio.Event()

    async def running() -> None:
        await job(progress)

    token = job_defaults.set(JobDefaults(stop=stop, checkpoint=path, checkpoint_interval=CHECKPOINT_SECONDS))
    try:
        task = asyncio.get_running_loop().create_task(running())  # the task's context carries the defaults
    finally:
        job_defaults.reset(token)
    stopper = _Stopper(ctx, task, stop)
    stopper.install()
    started = time.monotonic()
    try:
        await task
    except asyncio.CancelledError:
        _interrupted(ctx, progress, target, path, settle, on_interrupt)
        raise
    except BaseException:
        progress.finish()
        raise
    finally:
        stopper.remove(asyncio.current_task())
    if stopper.requested:
        # Drained: every request that left was answered, the rest is not attempted; the command was interrupted.
        _interrupted(ctx, progress, target, path, settle, on_interrupt)
        raise asyncio.CancelledError
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
    if isinstance(target.stopped_by, (TransportError, ResponseError)):
        # The server stopped answering, or is not the API: the same status and hint as a single call.
        ctx.error(f"the job stopped early: {network_hint(ctx, target.stopped_by)}")
        return ExitStatus.NETWORK
    if target.stopped_by is not None:
        ctx.error(f"the job stopped early: {target.stopped_by}")
    elif not target.ok and not ctx.json:
        ctx.info(f"{PROG}: some items were not done; see {path}" if saved else f"{PROG}: some items were not done")
    return ExitStatus.OK if target.ok and saved else ExitStatus.FAILED


def _interrupted(
    ctx: Context,
    progress: ProgressDisplay,
    target: BulkResult | BulkReport,
    path: str,
    settle: Callable[[], object] | None,
    on_interrupt: Callable[[], None] | None,
) -> None:
    progress.finish(interrupted=True)
    if settle is not None:
        settle()
    if on_interrupt is not None:
        on_interrupt()
    if save_report(ctx, path, target):
        ctx.note(f"{PROG}: interrupted: partial report written to {path}; continue with --resume {path}")
        ctx.interrupt_noted = True


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
        settle=lambda: result.account_for(expected),
    )
