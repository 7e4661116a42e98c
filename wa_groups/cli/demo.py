"""``wa-groups demo``: the main bulk job, then a broadcast followed by webhook, against an embedded fake Graph API."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import time
from typing import Any

import attrs

from .._graph.endpoints import GROUPS_PAGE_MAX, JOIN_REQUESTS_PAGE_MAX, PARTICIPANTS_PER_CALL
from ..bulk import BulkReport
from ..bulk.graph import run_all_join_requests
from ..client import GroupsClient
from ._args import CommandAdder, count, positive_int, seconds
from ._context import PROG, Context, ExitStatus, usage
from ._jobs import progress_display, save_report
from ._output import format_count, format_duration, format_table, key_value_table
from ._summary import summary, summary_pairs

DEFAULT_DEMO_REPORT = "wa-groups-demo-report.json"
#: The demo refuses more groups than this (seeding would take too long).
MAX_GROUPS = 100_000
#: The message the demo broadcasts once the join requests are approved.
BROADCAST_TEXT = "Welcome to the group! (a wa-groups demo broadcast)"
#: Seconds the demo waits at most for the status webhooks of its broadcast.
STATUS_WAIT = 20.0

DESCRIPTION = (
    "Run the main bulk job against an embedded fake Graph API, with no credentials: seed groups (some "
    "nearly full, a few suspended; a group holds at most 8 participants) and more join requests than they "
    "have room for, stream the groups, approve every open request with a progress display, then print a "
    "summary and write the JSON report. Some requests fail on purpose (#131204 Participant limit reached, "
    "#131207 Group suspended). Then broadcast one text message to the groups (at most 2000) while a webhook "
    "receiver on 127.0.0.1 follows the delivery statuses, and count deliveries and reads. The demo exits 0 "
    "when the approval job ran to its end although items failed, 1 if it stopped early, 130 on Ctrl-C."
)


def add_commands(parser: argparse.ArgumentParser, command: CommandAdder) -> None:
    """Add the options of ``demo`` to its parser."""
    parser.description = DESCRIPTION
    parser.add_argument("--groups", type=positive_int, default=1000, metavar="N", help="groups to seed (default: 1000)")
    parser.add_argument(
        "--requests", type=count, default=10_000, metavar="N", help="join requests to seed (default: 10000)"
    )
    parser.add_argument(
        "--latency", type=seconds, default=0.002, metavar="SECONDS", help="simulated server latency (default: 0.002)"
    )
    parser.add_argument("--concurrency", type=positive_int, default=16, metavar="N", help="requests at once (16)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the generated data (default: 0)")
    parser.add_argument("--report", metavar="FILE", default=DEFAULT_DEMO_REPORT, help=f"default: {DEFAULT_DEMO_REPORT}")
    parser.set_defaults(handler=demo)


def _scenario() -> Any:
    # The one place the product imports its test fake, by name and only when the demo runs: the demo's whole
    # point is an embedded fake server. Nothing else under wa_groups may import wa_groups.testing.
    return importlib.import_module("wa_groups.testing.demo")


async def demo(ctx: Context) -> int:
    """Run ``demo``: seed the fake, approve every open join request, check the server, then broadcast."""
    args = ctx.args
    if args.groups > MAX_GROUPS:
        raise usage(f"--groups must be at most {MAX_GROUPS}")
    human = not ctx.json
    server = _scenario().DemoServer(groups=args.groups, requests=args.requests, latency=args.latency, seed=args.seed)
    broadcast: dict[str, Any] | None = None
    async with server:
        seeded = server.seeded
        if human:
            ctx.out(f"Fake Graph API on {server.base_url} (latency {args.latency:g}s per request)")
            ctx.out(
                f"Seeded {format_count(args.groups)} groups ({format_count(seeded.crowded)} nearly full, "
                f"{format_count(seeded.suspended)} suspended; a group holds at most {server.max_participants} "
                f"participants) and {format_count(args.requests)} join requests, of which "
                f"{format_count(seeded.fits)} fit: the others will fail (#131204 Participant limit reached, "
                "#131207 Group suspended)."
            )
            ctx.out()
        async with server.client() as client:
            await _show_sample(ctx, client)
            report = BulkReport()
            server.start_counting()
            elapsed = await _approve_all(ctx, client, report)
            check = server.check()
            saved = save_report(ctx, args.report, report)
            done = summary(report, elapsed, args.report if saved else None)
            done["http_requests"] = check.http_requests
            done["http_requests_per_second"] = round(check.http_requests / elapsed, 1) if elapsed > 0 else None
            if human:
                _show_approval(ctx, done, check)
            ran_to_end = report.groups_exhausted and report.stopped_by is None
            if ran_to_end:
                broadcast = await _broadcast(ctx, server, client)
    if ctx.json:
        checked = {"approved": check.approved, "sent_twice": check.sent_twice, "still_pending": check.still_pending}
        ctx.out_json({**done, "seeded": attrs.asdict(seeded), "server": checked, "broadcast": broadcast})
    if report.stopped_by is not None:
        ctx.error(f"the job stopped early: {report.stopped_by}")
    return ExitStatus.OK if ran_to_end and saved else ExitStatus.FAILED


def _show_approval(ctx: Context, done: dict[str, Any], check: Any) -> None:
    """Print the approval job's summary table and what the server saw."""
    pairs = summary_pairs(done, "approved")
    rate = done["http_requests_per_second"]
    pairs.insert(-1, ("HTTP requests", f"{format_count(check.http_requests)} ({rate or 0:,.0f}/s)"))
    ctx.out(key_value_table(pairs))
    ctx.out()
    ctx.out(
        f"Server check: {format_count(check.approved)} join requests approved; "
        f"{'no' if not check.sent_twice else format_count(check.sent_twice)} join request id sent twice; "
        f"{format_count(check.still_pending)} still pending (their groups are full or suspended)."
    )
    ctx.out()


async def _show_sample(ctx: Context, client: GroupsClient) -> None:
    """Stream every group, then show a few with their open join requests."""
    started = time.monotonic()
    streamed = 0
    sample: list[str] = []
    async for group in client.iter_groups(page_size=GROUPS_PAGE_MAX):
        streamed += 1
        if len(sample) < 5:
            sample.append(group.id)
    listing_time = time.monotonic() - started
    infos = await asyncio.gather(
        *(client.get_group(gid, fields=["subject", "total_participant_count"]) for gid in sample)
    )
    pending = [await _count_open_requests(client, gid) for gid in sample]
    if not ctx.json:
        ctx.out(f"Streamed {format_count(streamed)} groups in {format_duration(listing_time)}. A sample:")
        rows = [
            (info.id, info.subject, info.total_participant_count, open_requests)
            for info, open_requests in zip(infos, pending, strict=True)
        ]
        ctx.out(format_table(("GROUP ID", "SUBJECT", "PARTICIPANTS", "OPEN REQUESTS"), rows, cut={1}))
        ctx.out()


async def _approve_all(ctx: Context, client: GroupsClient, report: BulkReport) -> float:
    """Approve every open join request of every group into ``report``; return the seconds it took."""
    args = ctx.args
    progress = progress_display(
        ctx,
        "approve_join_requests",
        args.requests,
        lambda: (sum(1 for result in report.groups.values() if result.exhausted), args.groups),
    )
    started = time.monotonic()
    try:
        await run_all_join_requests(
            client,
            group_ids=None,
            reject=False,
            concurrency=args.concurrency,
            batch_size=PARTICIPANTS_PER_CALL,
            on_progress=progress,
            resume=None,
            phone_number_id=None,
            result=report,
        )
    except asyncio.CancelledError:
        progress.finish(interrupted=True)
        if save_report(ctx, args.report, report):
            ctx.note(f"{PROG}: interrupted: partial report written to {args.report}")
            ctx.interrupt_noted = True
        raise
    progress.finish()
    return time.monotonic() - started


async def _broadcast(ctx: Context, server: Any, client: GroupsClient) -> dict[str, Any]:
    """Broadcast the demo message, follow its statuses by webhook, and return the broadcast's summary."""
    if not ctx.json:
        cap = _scenario().BROADCAST_MAX_GROUPS
        to = f"the first {format_count(cap)} groups" if ctx.args.groups > cap else "the groups"
        ctx.out(
            f'Broadcasting "{BROADCAST_TEXT}" to {to} with client.broadcast; a webhook receiver on 127.0.0.1 '
            f"follows the delivery statuses (waiting up to {STATUS_WAIT:g}s for them)."
        )
    sent = await server.broadcast(client, BROADCAST_TEXT, concurrency=ctx.args.concurrency, wait=STATUS_WAIT)
    job = summary(sent.result, sent.elapsed, None)
    done = {
        "groups": job["counts"]["total"],
        "sent_to": job["counts"]["succeeded"],
        "failed": job["counts"]["failed"],
        "failed_by_error": job["failed_by_error"],
        "elapsed_seconds": job["elapsed_seconds"],
        "delivered": sent.delivered,
        "read": sent.read,
        "statuses_complete": sent.complete,
        "status_wait_seconds": round(sent.waited, 3),
        "server": {"sent_to": sent.server_sent_to, "participants": sent.server_participants},
    }
    if not ctx.json:
        ctx.out(_broadcast_lines(done))
    return done


def _broadcast_lines(done: dict[str, Any]) -> str:
    """Return the human summary of :func:`_broadcast`'s result."""
    failures = ", ".join(f"{label}: {format_count(n)}" for label, n in done["failed_by_error"].items())
    lines = [
        f"Broadcast: sent to {format_count(done['sent_to'])} of {format_count(done['groups'])} groups in "
        f"{format_duration(done['elapsed_seconds'])}"
        + (f"; {format_count(done['failed'])} failed ({failures})." if done["failed"] else "."),
        f"Statuses received in {format_duration(done['status_wait_seconds'])}: delivered "
        f"{format_count(done['delivered'])}, read {format_count(done['read'])} (one per message and participant)"
        + ("." if done["statuses_complete"] else "; more were still on their way."),
        f"Server check: {format_count(done['server']['sent_to'])} groups accepted the message; they have "
        f"{format_count(done['server']['participants'])} participants.",
    ]
    return "\n".join(lines)


async def _count_open_requests(client: GroupsClient, group_id: str) -> int:
    return sum([1 async for _ in client.iter_join_requests(group_id, page_size=JOIN_REQUESTS_PAGE_MAX)])
