"""``wa-groups groups``: list, show, create, update and delete the business number's groups on Graph."""

from __future__ import annotations

import argparse
import json

from .._graph.endpoints import GROUPS_PAGE_MAX
from ..models import JoinApprovalMode
from ._args import CommandAdder, positive_int
from ._config import graph_client
from ._context import Context, ExitStatus, usage
from ._output import format_count, format_table, jsonable, key_value_table, print_operation


def add_commands(parser: argparse.ArgumentParser, command: CommandAdder) -> None:
    """Add the actions of ``groups`` to its parser."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(actions, "list", "list the business number's active groups")
    sub.add_argument("--limit", type=positive_int, metavar="N", help="stop after N groups")
    sub.add_argument("--page-size", type=positive_int, metavar="N", help=f"groups per request (1..{GROUPS_PAGE_MAX})")
    sub.add_argument("--after", metavar="CURSOR", help="resume a listing after this cursor")
    sub.set_defaults(handler=list_groups)
    sub = command(actions, "show", "show a group's metadata and participants")
    sub.add_argument("group_id", metavar="GROUP_ID")
    sub.add_argument("--fields", metavar="F,F", help="only these fields (comma separated)")
    sub.set_defaults(handler=show_group)
    sub = command(
        actions,
        "create",
        "create a group",
        description="Create a group. Graph answers with a request id at once; the new group's id and invite link "
        "arrive in a webhook (see 'wa-groups webhooks serve').",
    )
    sub.add_argument("subject", metavar="SUBJECT")
    sub.add_argument("--description", metavar="TEXT")
    sub.add_argument("--join-approval-mode", choices=[mode.value for mode in JoinApprovalMode])
    sub.set_defaults(handler=create_group)
    sub = command(actions, "update", "change a group's subject and/or description")
    sub.add_argument("group_id", metavar="GROUP_ID")
    sub.add_argument("--subject", metavar="TEXT")
    sub.add_argument("--description", metavar="TEXT")
    sub.set_defaults(handler=update_group)
    sub = command(actions, "delete", "delete a group and remove every participant")
    sub.add_argument("group_id", metavar="GROUP_ID")
    sub.set_defaults(handler=delete_group)


async def list_groups(ctx: Context) -> int:
    """Run ``groups list``: the active groups, streamed page by page."""
    args = ctx.args
    page_size = args.page_size or min(args.limit or GROUPS_PAGE_MAX, GROUPS_PAGE_MAX)
    async with graph_client(ctx, needs_phone=True) as client:
        groups = client.iter_groups(page_size=page_size, after=args.after, max_items=args.limit)
        if ctx.json:
            # Streamed as it arrives; nothing is written before the first page came back, so a refused call
            # leaves stdout empty.
            count = 0
            async for group in groups:
                ctx.stdout.write(("," if count else "[") + "\n  " + json.dumps(jsonable(group), ensure_ascii=False))
                count += 1
            ctx.stdout.write("\n]\n" if count else "[]\n")
            ctx.stdout.flush()
            return ExitStatus.OK
        rows = [(group.id, group.subject, group.created_at) async for group in groups]
    if not rows:
        ctx.out("No active groups.")
        return ExitStatus.OK
    ctx.out(format_table(("GROUP ID", "SUBJECT", "CREATED (UTC)"), rows, cut={1}))
    ctx.out(f"{format_count(len(rows))} group{'s' if len(rows) != 1 else ''}")
    return ExitStatus.OK


async def show_group(ctx: Context) -> int:
    """Run ``groups show``: a group's metadata and participants."""
    args = ctx.args
    fields = None if args.fields is None else [name.strip() for name in args.fields.split(",") if name.strip()]
    async with graph_client(ctx) as client:
        info = await client.get_group(args.group_id, fields=fields)
    if ctx.json:
        ctx.out_json(jsonable(info))
        return ExitStatus.OK
    pairs: list[tuple[str, object]] = [("id", info.id)]
    for label, value in (
        ("subject", info.subject),
        ("description", info.description),
        ("join approval mode", info.join_approval_mode),
        ("suspended", info.suspended),
        ("created (UTC)", info.creation_timestamp),
        ("participants", info.total_participant_count),
    ):
        if value is not None:
            pairs.append((label, value))
    ctx.out(key_value_table(pairs))
    if info.participants:
        ctx.out()
        rows = [(p.wa_id, p.username, p.user_id) for p in info.participants]
        ctx.out(format_table(("WA ID", "USERNAME", "USER ID"), rows))
    return ExitStatus.OK


async def create_group(ctx: Context) -> int:
    """Run ``groups create``: accepted at once, the new group's id comes in a webhook."""
    args = ctx.args
    async with graph_client(ctx, needs_phone=True) as client:
        operation = await client.create_group(
            args.subject, description=args.description, join_approval_mode=args.join_approval_mode
        )
    print_operation(ctx, operation, "Group creation accepted")
    if not ctx.json:
        ctx.note("The new group's id and invite link come in the group_create webhook ('wa-groups webhooks serve').")
    return ExitStatus.OK


async def update_group(ctx: Context) -> int:
    """Run ``groups update``: a new subject and/or description."""
    args = ctx.args
    if args.subject is None and args.description is None:
        raise usage("groups update needs --subject, --description or both")
    async with graph_client(ctx) as client:
        operation = await client.update_group(args.group_id, subject=args.subject, description=args.description)
    print_operation(ctx, operation, f"Update of group {args.group_id} accepted")
    return ExitStatus.OK


async def delete_group(ctx: Context) -> int:
    """Run ``groups delete``: the group and its participants."""
    async with graph_client(ctx) as client:
        operation = await client.delete_group(ctx.args.group_id)
    print_operation(ctx, operation, f"Deletion of group {ctx.args.group_id} accepted")
    return ExitStatus.OK
