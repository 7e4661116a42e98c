"""``wa-groups join-requests``: list a group's join requests; approve or reject them as a bulk job."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable
from typing import Literal

from .._core.plain import plain_data
from .._graph.endpoints import GROUPS_PAGE_MAX, JOIN_REQUESTS_PAGE_MAX, PARTICIPANTS_PER_CALL
from ..bulk import BulkReport, BulkResult
from ..bulk.graph import run_all_join_requests, run_join_requests
from ..client import GroupsClient
from ._args import DEFAULT_CONCURRENCY, CommandAdder, bulk_options, positive_int
from ._config import graph_client
from ._confirm import confirm, safety_options, would_send_items
from ._context import Context, ExitStatus, usage
from ._jobs import (
    load_report,
    load_result,
    merge_unreached,
    report_path,
    run_bulk,
)
from ._output import ProgressDisplay, format_count, format_table

#: Requests at the same time of an ``--all-groups`` job unless ``--concurrency`` says otherwise.
ALL_GROUPS_CONCURRENCY = 16


def add_commands(parser: argparse.ArgumentParser, command: CommandAdder) -> None:
    """Add the actions of ``join-requests`` to its parser."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(actions, "list", "list a group's open join requests")
    sub.add_argument("group_id", metavar="GROUP_ID")
    sub.add_argument("--limit", type=positive_int, metavar="N", help="stop after N requests")
    sub.set_defaults(handler=list_join_requests)
    for name in ("approve", "reject"):
        sub = command(
            actions,
            name,
            f"{name} join requests",
            description=f"{name.capitalize()} join requests: the ids given, every open request of a group (--all) "
            f"or of every active group (--all-groups). Requests go out in batches of {PARTICIPANTS_PER_CALL}; the "
            "JSON report lists every item and is written on Ctrl-C too, so --resume FILE continues the job. "
            "With --all-groups it asks first on a terminal, and needs --yes elsewhere.",
        )
        sub.add_argument("group_id", metavar="GROUP_ID", nargs="?")
        sub.add_argument("ids", metavar="JOIN_REQUEST_ID", nargs="*")
        which = sub.add_mutually_exclusive_group()
        which.add_argument("--all", action="store_true", help="every open join request of GROUP_ID (streamed)")
        which.add_argument("--all-groups", action="store_true", help="every open join request of every active group")
        bulk_options(
            sub,
            concurrency_help=f"requests at the same time (default: {DEFAULT_CONCURRENCY}, "
            f"{ALL_GROUPS_CONCURRENCY} with --all-groups)",
        )
        safety_options(sub, dry_run_help="print the join requests and the number of requests; send nothing")
        sub.set_defaults(handler=answer_join_requests)


async def list_join_requests(ctx: Context) -> int:
    """Run ``join-requests list``: a group's open join requests."""
    args = ctx.args
    page_size = min(args.limit or JOIN_REQUESTS_PAGE_MAX, JOIN_REQUESTS_PAGE_MAX)
    async with graph_client(ctx) as client:
        requests = client.iter_join_requests(args.group_id, page_size=page_size, max_items=args.limit)
        if ctx.json:
            items = [plain_data(request) async for request in requests]
            ctx.out_json(items)
            return ExitStatus.OK
        rows = [(r.join_request_id, r.wa_id, r.creation_timestamp) async for r in requests]
    if not rows:
        ctx.out(f"No open join requests in group {args.group_id}.")
        return ExitStatus.OK
    ctx.out(format_table(("JOIN REQUEST ID", "WA ID", "CREATED (UTC)"), rows))
    ctx.out(f"{format_count(len(rows))} open join request{'s' if len(rows) != 1 else ''}")
    return ExitStatus.OK


async def answer_join_requests(ctx: Context) -> int:
    """Run ``join-requests approve|reject``: the ids given, ``--all`` of a group or ``--all-groups``, as a bulk job."""
    args = ctx.args
    action: Literal["approve", "reject"] = args.action
    operation = f"{action}_join_requests"
    if args.dry_run and args.resume:
        raise usage("--dry-run shows a new job: it does not read --resume")
    if args.all_groups:
        if args.group_id is not None or args.ids:
            raise usage("--all-groups takes no GROUP_ID or join request ids")
        if args.dry_run:
            return await _dry_run(ctx, operation, None, None)
        confirm(
            ctx,
            f"{action.capitalize()} every open join request of every active group?",
            command=f"join-requests {action} --all-groups",
        )
        return await _answer_all_groups(ctx, action, operation)
    if args.group_id is None:
        raise usage(f"join-requests {action} needs GROUP_ID (or --all-groups)")
    if args.all and args.ids:
        raise usage("give join request ids or --all, not both")
    if not args.all and not args.ids:
        if args.resume:
            raise usage("with --resume, repeat the original selection: the join request ids or --all")
        raise usage(f"join-requests {action} needs JOIN_REQUEST_IDs, --all or --all-groups")
    ids: list[str] | None = None if args.all else list(dict.fromkeys(args.ids))
    if args.dry_run:
        return await _dry_run(ctx, operation, args.group_id, ids)
    resume = load_result(args.resume, operation, ids or ()) if args.resume else None
    result = BulkResult()
    expected = list(ids or ()) + (resume.retry_items() if resume is not None else [])
    if resume is not None:
        total: int | None = None if ids is None and not resume.exhausted else len(resume.retry_items())
    else:
        total = None if ids is None else len(ids)
    async with graph_client(ctx) as client:

        def group_job(progress: ProgressDisplay) -> Awaitable[object]:
            return run_join_requests(
                client,
                action,
                args.group_id,
                ids,
                concurrency=args.concurrency or DEFAULT_CONCURRENCY,
                batch_size=PARTICIPANTS_PER_CALL,
                on_progress=progress,
                resume=resume,
                result=result,
            )

        return await run_bulk(
            ctx,
            label=operation,
            total=total,
            target=result,
            path=report_path(args),
            job=group_job,
            settle=lambda: result.account_for(expected),
        )


async def _answer_all_groups(ctx: Context, action: Literal["approve", "reject"], operation: str) -> int:
    args = ctx.args
    previous = load_report(args.resume, operation) if args.resume else None
    report = BulkReport()
    async with graph_client(ctx, needs_phone=True) as client:
        # The groups are listed first, so that the progress display can tell how many are done of how many.
        group_ids = [group.id async for group in client.iter_groups(page_size=GROUPS_PAGE_MAX)]

        def groups_done() -> tuple[int, int | None]:
            return sum(1 for result in report.groups.values() if result.exhausted), len(group_ids)

        def all_groups_job(progress: ProgressDisplay) -> Awaitable[object]:
            return run_all_join_requests(
                client,
                group_ids=group_ids,
                reject=action == "reject",
                concurrency=args.concurrency or ALL_GROUPS_CONCURRENCY,
                batch_size=PARTICIPANTS_PER_CALL,
                on_progress=progress,
                resume=previous,
                phone_number_id=None,
                result=report,
            )

        return await run_bulk(
            ctx,
            label=operation,
            total=None,
            target=report,
            path=report_path(args),
            job=all_groups_job,
            settle=report.account_for,
            on_interrupt=lambda: merge_unreached(report, previous),
            groups=groups_done,
        )


async def _open_requests(client: GroupsClient, group_id: str) -> list[str]:
    pages = client.iter_join_requests(group_id, page_size=JOIN_REQUESTS_PAGE_MAX)
    return [request.join_request_id async for request in pages]


async def _dry_run(ctx: Context, operation: str, group_id: str | None, ids: list[str] | None) -> int:
    """Print the join requests a job would answer, by group, and the number of requests; send nothing."""
    async with graph_client(ctx, needs_phone=group_id is None) as client:
        if group_id is None:
            by_group = {
                group.id: await _open_requests(client, group.id)
                async for group in client.iter_groups(page_size=GROUPS_PAGE_MAX)
            }
        else:
            by_group = {group_id: ids if ids is not None else await _open_requests(client, group_id)}
    return would_send_items(ctx, operation, by_group)
