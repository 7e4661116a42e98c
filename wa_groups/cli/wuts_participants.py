"""``wa-groups --backend wuts participants``: add, remove, promote or demote, as one call or a bulk job."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable

from ..bulk import BulkResult
from ..wuts import ParticipantAction, normalise_participant
from ..wuts._protocol import PARTICIPANT_OPERATIONS, check_users
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
from ._config import wuts_client
from ._context import Context
from ._jobs import participants_bulk
from ._output import ProgressDisplay
from ._wuts import USERS_HELP, print_outcomes

_ACTIONS = (
    *PARTICIPANT_ACTIONS,
    ("promote", "make participants admins"),
    ("demote", "take admin rights from participants"),
)


def add_commands(parser: argparse.ArgumentParser, command: CommandAdder) -> None:
    """Add the actions of ``participants`` (WUTS) to its parser."""
    subs = group_actions(
        parser,
        command,
        _ACTIONS,
        group_metavar="GROUP_JID",
        handler=participants,
        description=participants_description(" A participant WUTS does not report as handled counts as failed."),
    )
    participants_arguments(subs, USERS_HELP)


async def participants(ctx: Context) -> int:
    """Run ``participants add|remove|promote|demote``: one call up to the per-call limit, a bulk job beyond it."""
    args = ctx.args
    action = ParticipantAction(args.action)
    operation = PARTICIPANT_OPERATIONS[action]
    given = users(ctx)
    async with wuts_client(ctx) as client:
        if not is_bulk(args, given):
            single = {
                ParticipantAction.ADD: client.add_participants,
                ParticipantAction.REMOVE: client.remove_participants,
                ParticipantAction.PROMOTE: client.promote_participants,
                ParticipantAction.DEMOTE: client.demote_participants,
            }[action]
            sent = check_users(given, "users")
            return print_outcomes(ctx, operation, action, sent, await single(args.group_id, sent))
        bulk = {
            ParticipantAction.ADD: client.bulk_add_participants,
            ParticipantAction.REMOVE: client.bulk_remove_participants,
            ParticipantAction.PROMOTE: client.bulk_promote,
            ParticipantAction.DEMOTE: client.bulk_demote,
        }[action]

        def run(
            items: list[str], resume: BulkResult | None, result: BulkResult, progress: ProgressDisplay
        ) -> Awaitable[object]:
            return bulk(
                args.group_id,
                items,
                concurrency=args.concurrency or DEFAULT_CONCURRENCY,
                on_progress=progress,
                resume=resume,
                result=result,
            )

        normalised = [normalise_participant(user, "users") for user in given]
        return await participants_bulk(ctx, operation, normalised, run)
