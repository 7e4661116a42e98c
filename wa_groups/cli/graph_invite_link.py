"""``wa-groups invite-link``: get, reset or delete a group's invite link on Graph."""

from __future__ import annotations

import argparse

from .._graph.endpoints import ENDPOINTS
from ._args import INVITE_LINK_ACTIONS, CommandAdder, group_actions
from ._config import graph_client
from ._confirm import confirm, dry_run, safety_options, would_send
from ._context import Context, ExitStatus

#: The actions that make earlier links stop working, with the question asked first.
QUESTIONS = {
    "reset": "Replace the invite link of group {group}? The current link stops working.",
    "delete": "Delete the invite link of group {group}? It stops working.",
}


def add_commands(parser: argparse.ArgumentParser, command: CommandAdder) -> None:
    """Add the actions of ``invite-link`` to its parser."""
    subs = group_actions(
        parser,
        command,
        (*INVITE_LINK_ACTIONS, ("delete", "delete the invite link")),
        group_metavar="GROUP_ID",
        handler=invite_link,
    )
    for sub in subs[1:]:
        safety_options(sub)


async def invite_link(ctx: Context) -> int:
    """``invite-link get|reset|delete``."""
    args = ctx.args
    if args.action in QUESTIONS:
        if dry_run(ctx):
            endpoint = ENDPOINTS[f"{args.action}_invite_link"]
            return would_send(ctx, [f"{endpoint.method} {endpoint.path.format(group_id=args.group_id)}"])
        confirm(ctx, QUESTIONS[args.action].format(group=args.group_id), command=f"invite-link {args.action}")
    async with graph_client(ctx) as client:
        if args.action == "delete":
            await client.delete_invite_link(args.group_id)
            link: str | None = None
        elif args.action == "reset":
            link = await client.reset_invite_link(args.group_id)
        else:
            link = await client.get_invite_link(args.group_id)
    if ctx.json:
        ctx.out_json({"group_id": args.group_id, "invite_link": link})
    elif link is None:
        ctx.out(f"Invite link of group {args.group_id} deleted.")
    else:
        ctx.out(link)
    return ExitStatus.OK
