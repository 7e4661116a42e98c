"""``wa-groups groups``: list, show, create, update and delete the business number's groups on Graph."""

from __future__ import annotations

import argparse
import json
import shlex

from .._core.plain import plain_data
from .._graph.endpoints import ENDPOINTS, GROUPS_PAGE_MAX
from ..models import JoinApprovalMode
from ._args import CommandAdder, groups_page_size, positive_int
from ._config import graph_client
from ._confirm import confirm, dry_run, safety_options, would_send
from ._context import Context, ExitStatus, usage
from ._output import format_table, key_value_table, plural, print_operation

#: Groups ``groups list`` shows when neither ``--limit`` nor ``--all`` is given: one page.
DEFAULT_LIST_LIMIT = 100


def add_commands(parser: argparse.ArgumentParser, command: CommandAdder) -> None:
    """Add the actions of ``groups`` to its parser."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(
        actions,
        "list",
        "list the business number's active groups",
        description="List the business number's active groups, a page at a time. When more groups exist, the "
        "table ends with the command that shows the next ones (--after CURSOR) and the JSON carries that cursor "
        "as 'after'; --all lists every group, page after page.",
    )
    which = sub.add_mutually_exclusive_group()
    which.add_argument(
        "--limit", type=positive_int, metavar="N", help=f"show at most N groups (default: {DEFAULT_LIST_LIMIT})"
    )
    which.add_argument("--all", action="store_true", help="list every group (streamed page by page)")
    sub.add_argument(
        "--page-size",
        type=groups_page_size,
        metavar="N",
        help=f"groups per request, 1..{GROUPS_PAGE_MAX} (default: the limit, at most {GROUPS_PAGE_MAX})",
    )
    sub.add_argument("--after", metavar="CURSOR", help="continue a listing after this cursor")
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
    sub = command(
        actions,
        "delete",
        "delete a group and remove every participant",
        description="Delete a group and remove every participant. On a terminal it asks first; elsewhere it "
        "needs --yes.",
    )
    sub.add_argument("group_id", metavar="GROUP_ID")
    safety_options(sub)
    sub.set_defaults(handler=delete_group)
    sub = command(
        actions,
        "picture",
        "set a group's picture from a JPEG file",
        description="Set a group's picture: a square JPEG of at least 192x192 pixels and at most 5 MB. Graph "
        "accepts it at once; the outcome arrives in a webhook.",
    )
    sub.add_argument("group_id", metavar="GROUP_ID")
    sub.add_argument("file", metavar="FILE", help="the JPEG file")
    sub.set_defaults(handler=set_picture)


async def list_groups(ctx: Context) -> int:
    """Run ``groups list``: a page of the active groups (or all of them), and the cursor to continue from."""
    args = ctx.args
    limit = None if args.all else (args.limit or DEFAULT_LIST_LIMIT)
    page_size = args.page_size or min(limit or GROUPS_PAGE_MAX, GROUPS_PAGE_MAX)
    after: str | None = None
    count = 0
    rows: list[tuple[object, ...]] = []
    async with graph_client(ctx, needs_phone=True) as client:
        pages = client.iter_groups(page_size=page_size, after=args.after, max_items=limit).pages()
        async for page in pages:
            after = page.after if page.has_next else None
            for group in page.items:
                if ctx.json:
                    # Streamed as it arrives; nothing is written before the first page came back, so a refused
                    # call leaves stdout empty.
                    head = '{\n  "groups": [' if count == 0 else ","
                    ctx.stdout.write(head + "\n    " + json.dumps(plain_data(group), ensure_ascii=False))
                else:
                    rows.append((group.id, group.subject, group.created_at))
                count += 1
            ctx.stdout.flush()
    if ctx.json:
        ctx.stdout.write(("\n  ]" if count else '{\n  "groups": []') + f',\n  "after": {json.dumps(after)}\n}}\n')
        ctx.stdout.flush()
        return ExitStatus.OK
    if rows:
        ctx.out(format_table(("GROUP ID", "SUBJECT", "CREATED (UTC)"), rows, cut={1}))
    if after is None:
        ctx.out(plural(count, "group") if rows else ("No more groups." if args.after else "No active groups."))
        return ExitStatus.OK
    again = ["wa-groups", "groups", "list", "--after", after]
    if args.limit:
        again[3:3] = ["--limit", str(args.limit)]
    ctx.out(f"{plural(count, 'group')} shown; more exist. Next page: {shlex.join(again)} (or --all)")
    return ExitStatus.OK


async def show_group(ctx: Context) -> int:
    """Run ``groups show``: a group's metadata and participants."""
    args = ctx.args
    fields = None if args.fields is None else [name.strip() for name in args.fields.split(",") if name.strip()]
    async with graph_client(ctx) as client:
        info = await client.get_group(args.group_id, fields=fields)
    if ctx.json:
        ctx.out_json(plain_data(info))
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
    """Run ``groups delete``: the group and its participants, once confirmed."""
    group_id = ctx.args.group_id
    if dry_run(ctx):
        endpoint = ENDPOINTS["delete_group"]
        return would_send(ctx, [f"{endpoint.method} {endpoint.path.format(group_id=group_id)}"])
    confirm(ctx, f"Delete group {group_id} and remove every participant?", command="groups delete")
    async with graph_client(ctx) as client:
        operation = await client.delete_group(group_id)
    print_operation(ctx, operation, f"Deletion of group {group_id} accepted")
    return ExitStatus.OK


async def set_picture(ctx: Context) -> int:
    """Run ``groups picture``: a new picture from a JPEG file."""
    args = ctx.args
    async with graph_client(ctx) as client:
        operation = await client.set_group_picture(args.group_id, args.file)
    print_operation(ctx, operation, f"New picture of group {args.group_id} accepted")
    return ExitStatus.OK
