"""``wa-groups participants``: add or remove a group's participants on Graph, as one call or a bulk job."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable
from typing import Literal

from .._graph.checks import normalise_user
from .._graph.endpoints import PARTICIPANTS_PER_CALL
from ..bulk import BulkResult
from ..bulk.graph import run_participants
from ._args import (
    DEFAULT_CONCURRENCY,
    PARTICIPANT_ACTIONS,
    CommandAdder,
    group_actions,
    is_bulk,
    participants_arguments,
    participants_description,
    users,
)
from ._config import graph_client
from ._context import Context, ExitStatus
from ._jobs import participants_bulk
from ._output import ProgressDisplay, print_operation


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
    participants_arguments(subs, "phone numbers (any usual spelling) or WhatsApp ids")


async def participants(ctx: Context) -> int:
    """Run ``participants add|remove``: one call up to the per-call limit, a bulk job beyond it."""
    args = ctx.args
    action: Literal["add", "remove"] = args.action
    given = users(ctx)
    async with graph_client(ctx) as client:
        if not is_bulk(args, given):
            send = client.add_participants if action == "add" else client.remove_participants
            operation = await send(args.group_id, given)
            what = f"{len(given)} participant(s) {'to' if action == 'add' else 'from'} group {args.group_id}"
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

        normalised = [normalise_user(user, "users") for user in given]
        return await participants_bulk(ctx, f"{action}_participants", normalised, run)
