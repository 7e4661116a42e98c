"""What destructive commands share: ``--yes``, ``--dry-run`` and the question asked on a terminal.

A destructive command (deleting a group, resetting or deleting an invite link, leaving a group, approving or
rejecting the join requests of every group) asks before it acts when stdin and stderr are terminals, and
refuses to act without ``--yes`` otherwise, so a script never deletes by accident. ``--dry-run`` prints what
would be sent and sends nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
from collections.abc import Iterable, Mapping, Sequence

from .._graph.endpoints import PARTICIPANTS_PER_CALL
from ._context import PROG, CommandError, Context, ExitStatus, usage
from ._output import format_count, plural


def safety_options(
    parser: argparse.ArgumentParser, *, dry_run_help: str = "print what would be sent; send nothing"
) -> None:
    """Add ``--yes`` and ``--dry-run`` to a destructive command."""
    parser.add_argument("-y", "--yes", action="store_true", help="do it without asking (needed when not on a terminal)")
    parser.add_argument("--dry-run", action="store_true", help=dry_run_help)


def would_send(ctx: Context, requests: Iterable[str]) -> int:
    """Print the requests a ``--dry-run`` would have sent (``METHOD path`` lines) and return exit status 0."""
    lines = list(requests)
    if ctx.json:
        ctx.out_json({"dry_run": True, "requests": lines})
    else:
        for line in lines:
            ctx.out(f"would send: {line}")
        ctx.info(f"{PROG}: dry run: nothing was sent")
    return ExitStatus.OK


def would_send_items(
    ctx: Context, operation: str, by_group: Mapping[str, Sequence[str]], per_call: int = PARTICIPANTS_PER_CALL
) -> int:
    """Print the items of a bulk job's ``--dry-run`` by group, with the number of requests; return status 0."""
    requests = sum(math.ceil(len(items) / per_call) for items in by_group.values())
    items = sum(len(found) for found in by_group.values())
    if ctx.json:
        ctx.out_json(
            {
                "dry_run": True,
                "action": operation,
                "groups": {group: list(found) for group, found in by_group.items()},
                "items": items,
                "requests": requests,
            }
        )
        return ExitStatus.OK
    for group, found in by_group.items():
        if found:
            ctx.out(f"group {group}: {plural(len(found), 'item')}")
            for item in found:
                ctx.out(f"  {item}")
    ctx.out(
        f"would send {plural(requests, 'request')} ({format_count(items)} items, up to {per_call} a request) "
        f"across {plural(sum(1 for found in by_group.values() if found), 'group')}"
    )
    ctx.info(f"{PROG}: dry run: nothing was sent")
    return ExitStatus.OK


def _read_answer(ctx: Context, question: str) -> str:
    """Ask on stderr and read one line of stdin; Ctrl-C while waiting interrupts the command at once."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    removed = False
    with contextlib.suppress(RuntimeError, ValueError, NotImplementedError):
        # The command's Ctrl-C handler cancels its task, which a blocking read never notices: while asking, let
        # Ctrl-C raise KeyboardInterrupt as usual instead.
        removed = loop.remove_signal_handler(signal.SIGINT)
    try:
        ctx.stderr.write(question)
        ctx.stderr.flush()
        assert ctx.stdin is not None
        answer = ctx.stdin.readline()
        if not answer:
            ctx.stderr.write("\n")
        return answer
    finally:
        if removed and task is not None:
            loop.add_signal_handler(signal.SIGINT, task.cancel)


def confirm(ctx: Context, question: str, *, command: str) -> None:
    """Go on when ``--yes`` was given or the user answers yes on a terminal; raise otherwise.

    Raises:
        CommandError: Not on a terminal and no ``--yes`` (status 2), or the user did not say yes (status 1).

    """
    if ctx.option("yes", False):
        return
    if not ctx.interactive:
        raise usage(f"{command} changes data and asks first, but stdin is not a terminal: pass --yes to go ahead")
    answer = _read_answer(ctx, f"{question} [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise CommandError("not confirmed: nothing was sent", ExitStatus.FAILED)


def dry_run(ctx: Context) -> bool:
    """Tell whether ``--dry-run`` was given."""
    return bool(ctx.option("dry_run", False))
