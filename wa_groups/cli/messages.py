"""``wa-groups messages``: send a message to a group, pin or unpin one, or broadcast one to many groups."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .._graph.endpoints import GROUPS_PAGE_MAX
from .._graph.messages import PIN_DAYS_MAX, PIN_DAYS_MIN
from ..bulk import BulkResult
from ..bulk.broadcast import ACTION as BROADCAST
from ..messages import MEDIA_TYPES, media_message, template_message, text_message
from ._args import CommandAdder, bulk_options, int_in
from ._config import graph_client
from ._confirm import confirm, dry_run, safety_options
from ._context import PROG, Context, ExitStatus, usage
from ._jobs import load_result, report_path, run_bulk
from ._output import key_value_table, plural

#: Requests in flight at most during a broadcast, unless ``--concurrency`` says otherwise.
BROADCAST_CONCURRENCY = 16


def _content_options(parser: argparse.ArgumentParser) -> None:
    what = parser.add_argument_group("the message (one of --text, --media-type, --template)")
    what.add_argument("--text", metavar="TEXT", help="send a text message")
    what.add_argument("--preview-url", action="store_true", help="show a preview of the first link of --text")
    what.add_argument("--media-type", choices=MEDIA_TYPES, help="send media of this kind (with --link or --media-id)")
    what.add_argument("--link", metavar="URL", help="the https URL WhatsApp downloads the media from")
    what.add_argument("--media-id", metavar="ID", help="the id of media uploaded to Graph")
    what.add_argument("--caption", metavar="TEXT", help="a caption for the media")
    what.add_argument("--filename", metavar="NAME", help="the file name shown for a document")
    what.add_argument("--template", metavar="NAME", help="send this approved template (text- or media-based)")
    what.add_argument("--language", metavar="CODE", help="the template's language, e.g. en_US")


def add_commands(parser: argparse.ArgumentParser, command: CommandAdder) -> None:
    """Add the actions of ``messages`` to its parser."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(
        actions,
        "send",
        "send a text, media or template message to a group",
        description="Send a message to a group. Interactive messages and authentication templates cannot go to "
        "groups; a group with nobody but the business in it cannot be messaged yet (131020).",
    )
    sub.add_argument("group_id", metavar="GROUP_ID")
    _content_options(sub)
    sub.set_defaults(handler=send)
    sub = command(
        actions,
        "pin",
        "pin a group message for 1..30 days",
        description="Pin a group message. At most 3 messages are pinned at once: a fourth unpins the oldest.",
    )
    sub.add_argument("group_id", metavar="GROUP_ID")
    sub.add_argument("message_id", metavar="MESSAGE_ID", help="the wamid of the message to pin")
    sub.add_argument(
        "--days",
        type=int_in(PIN_DAYS_MIN, PIN_DAYS_MAX, "days"),
        required=True,
        metavar="N",
        help=f"how long the pin lasts ({PIN_DAYS_MIN}..{PIN_DAYS_MAX} days)",
    )
    sub.set_defaults(handler=pin)
    sub = command(actions, "unpin", "unpin a pinned group message")
    sub.add_argument("group_id", metavar="GROUP_ID")
    sub.add_argument("message_id", metavar="MESSAGE_ID")
    sub.set_defaults(handler=unpin)
    sub = command(
        actions,
        "broadcast",
        "send one message to many groups (a bulk job with a report)",
        description="Send one message to the given groups, or to every active group with --all-groups. Each "
        "group is sent to once: a group whose send had an unknown outcome is not sent to again by --resume "
        "unless --resend-unknown is given.",
    )
    sub.add_argument("group_ids", metavar="GROUP_ID", nargs="*")
    sub.add_argument("--all-groups", action="store_true", help="every active group of the business number")
    sub.add_argument(
        "--resend-unknown",
        action="store_true",
        help="with --resume, also send to groups whose earlier send may or may not have gone out",
    )
    _content_options(sub)
    bulk_options(sub, concurrency_help=f"requests in flight at most ({BROADCAST_CONCURRENCY})")
    safety_options(sub, dry_run_help="print the groups and the message, with the number of requests; send nothing")
    sub.set_defaults(handler=broadcast)


def message_of(args: argparse.Namespace) -> dict[str, Any]:
    """Return the message the options describe; exactly one of --text, --media-type or --template."""
    chosen = [name for name in ("text", "media_type", "template") if getattr(args, name) is not None]
    if len(chosen) != 1:
        raise usage("give exactly one of --text, --media-type or --template")
    if args.text is not None:
        return text_message(args.text, preview_url=True if args.preview_url else None)
    if args.media_type is not None:
        return media_message(
            args.media_type, link=args.link, media_id=args.media_id, caption=args.caption, filename=args.filename
        )
    if not args.language:
        raise usage("--template needs --language, e.g. --language en_US")
    return template_message(args.template, args.language)


def _print_sent(ctx: Context, label: str, group_id: str, message_id: str | None) -> None:
    if ctx.json:
        ctx.out_json({"group_id": group_id, "message_id": message_id})
    else:
        ctx.out(key_value_table([("sent", label), ("group", group_id), ("message id", message_id)]))


async def send(ctx: Context) -> int:
    """Run ``messages send``."""
    args = ctx.args
    message = message_of(args)
    async with graph_client(ctx, needs_phone=True) as client:
        sent = await client.send_message(args.group_id, message)
    _print_sent(ctx, str(message["type"]), args.group_id, sent.message_id)
    return ExitStatus.OK


async def pin(ctx: Context) -> int:
    """Run ``messages pin``."""
    args = ctx.args
    async with graph_client(ctx, needs_phone=True) as client:
        sent = await client.pin_message(args.group_id, args.message_id, days=args.days)
    _print_sent(ctx, f"pin of {args.message_id} for {args.days} day(s)", args.group_id, sent.message_id)
    return ExitStatus.OK


async def unpin(ctx: Context) -> int:
    """Run ``messages unpin``."""
    args = ctx.args
    async with graph_client(ctx, needs_phone=True) as client:
        sent = await client.unpin_message(args.group_id, args.message_id)
    _print_sent(ctx, f"unpin of {args.message_id}", args.group_id, sent.message_id)
    return ExitStatus.OK


async def broadcast(ctx: Context) -> int:
    """Run ``messages broadcast``: a bulk job whose report lists every group and the message sent there."""
    args = ctx.args
    if args.all_groups == bool(args.group_ids):
        raise usage("give GROUP_ID... or --all-groups (not both)")
    if args.resend_unknown and not args.resume:
        raise usage("--resend-unknown only makes sense with --resume FILE")
    message = message_of(args)
    given = None if args.all_groups else list(dict.fromkeys(args.group_ids))
    if dry_run(ctx):
        return await _dry_run(ctx, message, given)
    where = "every active group" if given is None else plural(len(given), "group")
    confirm(ctx, f"Post this {message['type']} message to {where}?", command="messages broadcast")
    resume = load_result(args.resume, BROADCAST, given or ()) if args.resume else None
    result = BulkResult()
    total = None if given is None else len(given)
    if resume is not None:
        total = None if args.all_groups and not resume.exhausted else len(resume.retry_items())

    async with graph_client(ctx, needs_phone=True) as client:

        async def job(progress: Any) -> object:
            return await client.broadcast(
                message,
                given,
                concurrency=args.concurrency or BROADCAST_CONCURRENCY,
                on_progress=progress,
                resume=resume,
                result=result,
                resend_unknown=args.resend_unknown,
            )

        return await run_bulk(
            ctx,
            label=BROADCAST,
            total=total,
            target=result,
            path=report_path(args),
            job=job,
            settle=lambda: result.account_for(given or ()),
        )


async def _dry_run(ctx: Context, message: dict[str, Any], given: list[str] | None) -> int:
    """Print the groups a broadcast would post to and the message, one request a group; send nothing."""
    if given is None:
        async with graph_client(ctx, needs_phone=True) as client:
            given = [group.id async for group in client.iter_groups(page_size=GROUPS_PAGE_MAX)]
    if ctx.json:
        ctx.out_json(
            {"dry_run": True, "action": BROADCAST, "message": message, "groups": given, "requests": len(given)}
        )
        return ExitStatus.OK
    ctx.out(f"message: {json.dumps(message, ensure_ascii=False)}")
    for group_id in given:
        ctx.out(f"  {group_id}")
    ctx.out(f"would send {plural(len(given), 'request')}, one to each of {plural(len(given), 'group')}")
    ctx.info(f"{PROG}: dry run: nothing was sent")
    return ExitStatus.OK
