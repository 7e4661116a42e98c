"""``wa-groups --backend wuts communities``: create communities, manage their members and linked groups."""

from __future__ import annotations

import argparse

from .._core.plain import plain_data
from ..wuts import ParticipantAction
from ..wuts._protocol import check_users
from ._args import CommandAdder, users, users_arguments
from ._config import wuts_client
from ._context import Context, ExitStatus
from ._wuts import USERS_HELP, print_outcomes


def add_commands(parser: argparse.ArgumentParser, command: CommandAdder) -> None:
    """Add the actions of ``communities`` to its parser."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(actions, "create", "create a community (WUTS adds its announcement group)")
    sub.add_argument("name", metavar="NAME")
    users_arguments(sub, USERS_HELP, required=False)
    sub.set_defaults(handler=create_community)
    for name, summary in (("add", "add members to a community"), ("remove", "remove members from a community")):
        sub = command(actions, name, summary)
        sub.add_argument("group_id", metavar="COMMUNITY_JID")
        users_arguments(sub, USERS_HELP)
        sub.set_defaults(handler=community_members)
    for name, summary in (
        ("link", "attach an existing group to a community"),
        ("unlink", "detach a group from a community"),
    ):
        sub = command(actions, name, summary)
        sub.add_argument("community", metavar="COMMUNITY_JID")
        sub.add_argument("group_id", metavar="GROUP_JID")
        sub.set_defaults(handler=link_group)


async def create_community(ctx: Context) -> int:
    """``communities create``."""
    args = ctx.args
    async with wuts_client(ctx) as client:
        community = await client.create_community(args.name, users(ctx))
    if ctx.json:
        ctx.out_json({"jid": community.jid, "name": community.name, "community": plain_data(dict(community.raw))})
    else:
        ctx.out(f"Created community {community.jid or '(WUTS did not say its JID)'} ({community.name or args.name}).")
    return ExitStatus.OK


async def community_members(ctx: Context) -> int:
    """Run ``communities add|remove``: members of a community."""
    args = ctx.args
    action = ParticipantAction(args.action)
    sent = check_users(users(ctx), "users")
    async with wuts_client(ctx) as client:
        if action is ParticipantAction.ADD:
            answer = await client.add_community_participants(args.group_id, sent)
        else:
            answer = await client.remove_community_participants(args.group_id, sent)
    return print_outcomes(ctx, f"{action.value}_community_participants", action, sent, answer)


async def link_group(ctx: Context) -> int:
    """Run ``communities link|unlink``: attach a group to a community or detach it."""
    args = ctx.args
    link = args.action == "link"
    async with wuts_client(ctx) as client:
        await (client.link_group if link else client.unlink_group)(args.community, args.group_id)
    if ctx.json:
        ctx.out_json({"community_jid": args.community, "group_jid": args.group_id, "linked": link})
    else:
        ctx.out(
            f"{'Linked' if link else 'Unlinked'} group {args.group_id} {'to' if link else 'from'} community "
            f"{args.community}."
        )
    return ExitStatus.OK
