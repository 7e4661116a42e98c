"""``wa-groups --backend wuts invite-link``: get or reset a group's invite link."""

from __future__ import annotations

import argparse

from .._core.plain import plain_data
from ..wuts._protocol import ENDPOINTS, check_group_jid
from ._args import INVITE_LINK_ACTIONS, CommandAdder, group_actions
from ._config import wuts_client
from ._confirm import confirm, dry_run, safety_options, would_send
from ._context import Context, ExitStatus


def add_commands(parser: argparse.ArgumentParser, command: CommandAdder) -> None:
    """Add the actions of ``invite-link`` (WUTS) to its parser."""
    subs = group_actions(parser, command, INVITE_LINK_ACTIONS, group_metavar="GROUP_JID", handler=invite_link)
    safety_options(subs[1])


async def invite_link(ctx: Context) -> int:
    """``invite-link get|reset``."""
    args = ctx.args
    if args.action == "reset":
        if dry_run(ctx):
            endpoint = ENDPOINTS["reset_invite_link"]
            jid = check_group_jid(args.group_id)
            return would_send(ctx, [f"{endpoint.method} {endpoint.path.format(jid=jid)}"])
        confirm(
            ctx,
            f"Replace the invite link of group {args.group_id}? The current link stops working.",
            command="invite-link reset",
        )
    async with wuts_client(ctx) as client:
        send = client.reset_invite_link if args.action == "reset" else client.get_invite_link
        link = await send(args.group_id)
    if ctx.json:
        ctx.out_json(plain_data(link))
    else:
        ctx.out(str(link))
    return ExitStatus.OK
