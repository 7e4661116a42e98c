"""``wa-groups --backend wuts groups``: list, show, create, update and leave the device's groups."""

from __future__ import annotations

import argparse

from .._core.plain import plain_data
from ..wuts import Group, GroupParticipant
from ..wuts._protocol import ENDPOINTS, check_group_jid
from ._args import CommandAdder, positive_int, users, users_arguments
from ._config import wuts_client
from ._confirm import confirm, dry_run, safety_options, would_send
from ._context import Context, ExitStatus, usage
from ._output import format_table, key_value_table, plural
from ._wuts import USERS_HELP


def add_commands(parser: argparse.ArgumentParser, command: CommandAdder) -> None:
    """Add the actions of ``groups`` (WUTS) to its parser."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(actions, "list", "list the groups the device belongs to")
    sub.add_argument("--limit", type=positive_int, metavar="N", help="show at most N groups")
    sub.set_defaults(handler=list_groups)
    sub = command(actions, "show", "show a group's info and participants")
    sub.add_argument("group_id", metavar="GROUP_JID")
    sub.set_defaults(handler=show_group)
    sub = command(actions, "create", "create a group with its first participants")
    sub.add_argument("name", metavar="NAME")
    users_arguments(sub, USERS_HELP)
    sub.add_argument("--announcement", action="store_true", default=None, help="only admins send messages")
    sub.add_argument("--locked", action="store_true", default=None, help="only admins edit the group's info")
    sub.add_argument("--join-approval", action="store_true", default=None, help="new members need approval")
    sub.add_argument("--community", action="store_true", default=None, help="create a community instead")
    sub.add_argument("--parent", metavar="COMMUNITY_JID", help="attach the new group to this community")
    sub.set_defaults(handler=create_group)
    sub = command(actions, "update", "change a group's name, topic or settings")
    sub.add_argument("group_id", metavar="GROUP_JID")
    sub.add_argument("--name", metavar="TEXT")
    sub.add_argument("--topic", metavar="TEXT", help="the group's topic (its description)")
    for flag, what in (
        ("announcement", "only admins send messages"),
        ("locked", "only admins edit the group's info"),
        ("join-approval", "new members need approval"),
    ):
        sub.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, default=None, help=what)
    sub.add_argument("--member-add-mode", metavar="MODE", help="who adds members: admin or all_members")
    sub.set_defaults(handler=update_group)
    sub = command(
        actions,
        "leave",
        "make the device leave a group",
        description="Make the device leave a group. On a terminal it asks first; elsewhere it needs --yes.",
    )
    sub.add_argument("group_id", metavar="GROUP_JID")
    safety_options(sub)
    sub.set_defaults(handler=leave_group)


def _role(participant: GroupParticipant) -> str:
    if participant.is_super_admin:
        return "super admin"
    return "admin" if participant.is_admin else "member"


def _phone(participant: GroupParticipant) -> str | None:
    """Return the participant's phone number with a ``+``, or ``None`` when WUTS gave only a JID."""
    number = participant.phone_number
    if not number or "@" in number:
        # WUTS may fill the phone number with the JID itself: that is not a number to show as one.
        user, _, server = (number or participant.jid or "").partition("@")
        if server not in ("s.whatsapp.net", "c.us") or not user.isdigit():
            return None
        number = user
    digits = "".join(ch for ch in number if ch.isdigit())
    return f"+{digits}" if digits else None


def _print_group(ctx: Context, group: Group) -> None:
    if ctx.json:
        ctx.out_json(plain_data(group))
        return
    pairs: list[tuple[str, object]] = [
        (label, value)
        for label, value in (
            ("jid", group.jid),
            ("name", group.name),
            ("topic", group.topic),
            ("owner", group.owner),
            ("created (UTC)", group.created_at),
            ("announcement", group.is_announce),
            ("locked", group.is_locked),
            ("join approval", group.join_approval),
            ("members", group.members_count),
        )
        if value is not None
    ]
    ctx.out(key_value_table(pairs))
    if group.participants:
        ctx.out()
        rows = [(p.jid, _phone(p), _role(p)) for p in group.participants]
        ctx.out(format_table(("JID", "PHONE NUMBER", "ROLE"), rows))


async def list_groups(ctx: Context) -> int:
    """Run ``groups list``: the device's groups."""
    async with wuts_client(ctx) as client:
        groups = [group async for group in client.iter_groups()]
    groups = groups[: ctx.args.limit] if ctx.args.limit else groups
    if ctx.json:
        ctx.out_json(plain_data(groups))
    elif not groups:
        ctx.out("No groups.")
    else:
        rows = [(group.jid, group.name, group.members_count, group.created_at) for group in groups]
        ctx.out(format_table(("GROUP JID", "NAME", "MEMBERS", "CREATED (UTC)"), rows, cut={1}))
        ctx.out(plural(len(groups), "group"))
    return ExitStatus.OK


async def show_group(ctx: Context) -> int:
    """Run ``groups show``: a group's info and participants."""
    async with wuts_client(ctx) as client:
        _print_group(ctx, await client.get_group(ctx.args.group_id))
    return ExitStatus.OK


async def create_group(ctx: Context) -> int:
    """Run ``groups create``: a group (or a community) with its first participants."""
    args = ctx.args
    given = users(ctx)
    async with wuts_client(ctx) as client:
        group = await client.create_group(
            args.name,
            given,
            announcement=args.announcement,
            locked=args.locked,
            join_approval=args.join_approval,
            community=args.community,
            parent_jid=args.parent,
        )
    if not ctx.json:
        ctx.out(f"Created {'community' if args.community else 'group'} {group.jid}.")
    _print_group(ctx, group)
    return ExitStatus.OK


async def update_group(ctx: Context) -> int:
    """Run ``groups update``: name, topic and settings."""
    args = ctx.args
    changes = {
        "name": args.name,
        "topic": args.topic,
        "announcement": args.announcement,
        "locked": args.locked,
        "join_approval": args.join_approval,
        "member_add_mode": args.member_add_mode,
    }
    if all(value is None for value in changes.values()):
        raise usage(
            "groups update needs at least one of --name, --topic, --[no-]announcement, --[no-]locked, "
            "--[no-]join-approval or --member-add-mode"
        )
    async with wuts_client(ctx) as client:
        group = await client.update_group(args.group_id, **changes)
    if not ctx.json:
        ctx.out(f"Updated group {group.jid}.")
    _print_group(ctx, group)
    return ExitStatus.OK


async def leave_group(ctx: Context) -> int:
    """Run ``groups leave``: the device leaves the group, once confirmed."""
    group_id = ctx.args.group_id
    if dry_run(ctx):
        endpoint = ENDPOINTS["leave_group"]
        return would_send(ctx, [f"{endpoint.method} {endpoint.path.format(jid=check_group_jid(group_id))}"])
    confirm(ctx, f"Make the device leave group {group_id}?", command="groups leave")
    async with wuts_client(ctx) as client:
        await client.leave_group(ctx.args.group_id)
    if ctx.json:
        ctx.out_json({"group_jid": ctx.args.group_id, "left": True})
    else:
        ctx.out(f"The device left group {ctx.args.group_id}.")
    return ExitStatus.OK
