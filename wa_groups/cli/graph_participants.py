"""``wa-groups participants``: add or remove a group's participants on Graph, as one call or a bulk job."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable
from typing import Literal

from .._graph.endpoints import PARTICIPANTS_PER_CALL
from ..bulk import BulkResult
from ..bulk.graph import run_participants
from ._args import (
    DEFAULT_CONCURRENCY,
    PARTICIPANT_ACTIONS,
    CommandAdder,
    graph_user,
    group_actions,
    is_bulk,
    participants_arguments,
    participants_description,
    users,
)
from ._config import graph_client
from ._confirm import dry_run, would_send_items
from ._context import Context, ExitStatus
from ._jobs import participants_bulk
from ._output import ProgressDisplay, plural, print_operation


def add_commands(parser: argparse.ArgumentParser, command: CommandAdder) -> None:
    """Add the actions of ``participants`` to its parser."""
    subs = group_actions(
        parser,
        command,
        PARTICIPANT_ACTIONS,
        group_metavar="GROUP_ID",
        handler=participants,
        description=participants_description(),
    )
    participants_arguments(
        subs,
        "phone numbers with their country code (+1 555 070 0004, 00 1 555 070 0004) or business-scoped user ids "
        "(US.1234...)",
    )
    for sub in subs:
        sub.add_argument(
            "--dry-run", action="store_true", help="print the participants and the number of requests; send nothing"
        )


async def participants(ctx: Context) -> int:
    """Run ``participants add|remove``: one call up to the per-call limit, a bulk job beyond it."""
    args = ctx.args
    action: Literal["add", "remove"] = args.action
    # Checked before any request: a value that is not a participant is refused with its name, not sent.
    given = list(dict.fromkeys(graph_user(user) for user in users(ctx)))
    if dry_run(ctx):
        return would_send_items(ctx, f"{action}_participants", {args.group_id: given})
    async with graph_client(ctx) as client:
        if not is_bulk(args, given):
            send = client.add_participants if action == "add" else client.remove_participants
            operation = await send(args.group_id, given)
            what = f"{plural(len(given), 'participant')} {'to' if action == 'add' else 'from'} group {args.group_id}"
            print_operation(ctx, operation, f"{'Adding' if action == 'add' else 'Removing'} {what} accepted")
            return ExitStatus.OK

        def run(
            items: list[str], resume: BulkResult | None, result: BulkResult, progress: ProgressDisplay
        ) -> Awaitable[object]:
            return run_participants(
                client,
                action,
                args.group_id,
                items,
                concurrency=args.concurrency or DEFAULT_CONCURRENCY,
                batch_size=PARTICIPANTS_PER_CALL,
                on_progress=progress,
                resume=resume,
                result=result,
            )

        return await participants_bulk(ctx, f"{action}_participants", given, run)
