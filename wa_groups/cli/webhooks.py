"""``wa-groups webhooks``: receive webhooks (``serve``) and look after an inbox's dead letters."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from ._args import CommandAdder, int_in, port
from ._config import webhook_secrets
from ._context import CommandError, Context, ExitStatus, usage

if TYPE_CHECKING:
    from ..webhooks.inbox import Inbox


def _inbox_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    where = parser.add_mutually_exclusive_group(required=required)
    where.add_argument("--inbox", metavar="PATH", help="SQLite file of the inbox (created when missing)")
    where.add_argument("--redis", metavar="URL", help="Redis URL of the inbox, e.g. redis://localhost:6379/0")
    parser.add_argument(
        "--redis-prefix", default="wa_groups:webhooks", metavar="PREFIX", help="key prefix of the Redis inbox"
    )


def add_commands(parser: argparse.ArgumentParser, command: CommandAdder) -> None:
    """Add the actions of ``webhooks`` to its parser."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(
        actions,
        "serve",
        "receive webhooks and print each event as a JSON line",
        connects=False,
        description="Receive webhooks and print each verified event as one JSON line on stdout, until Ctrl-C. "
        "Needs WA_APP_SECRET (the Meta app secret) and WA_VERIFY_TOKEN in the environment. With --inbox or "
        "--redis, each event is stored before Meta gets its 200 and printed from the inbox, at least once, "
        "also after a restart.",
    )
    sub.add_argument("--port", type=port, required=True, metavar="P", help="port to listen on (0: any free port)")
    sub.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    _inbox_options(sub, required=False)
    sub.set_defaults(handler=serve_webhooks)

    dead = actions.add_parser(
        "dead-letters",
        help="list or replay the events whose handler kept failing",
        description="List or replay the dead letters of an inbox: events whose handler failed on every attempt.",
    )
    dead_actions = dead.add_subparsers(dest="dead_action", metavar="ACTION", required=True)
    listing = command(
        dead_actions,
        "list",
        "print each dead letter as a JSON line",
        connects=False,
        description="Print each dead letter as one JSON line: its id, attempts, last error and the event.",
    )
    _inbox_options(listing, required=True)
    listing.add_argument(
        "--limit", type=int_in(1, None, "a positive number"), default=100, metavar="N", help="at most N (100)"
    )
    listing.set_defaults(handler=list_dead_letters)
    replay = command(
        dead_actions,
        "replay",
        "put dead letters back in line for their handler",
        connects=False,
        description="Put dead letters back in line, with no failed attempts, for the receiver's handler to take "
        "again. With no ID, every dead letter.",
    )
    _inbox_options(replay, required=True)
    replay.add_argument("ids", nargs="*", metavar="ID", help="ids from 'dead-letters list' (default: all)")
    replay.set_defaults(handler=replay_dead_letters)


def _open(ctx: Context) -> Inbox | None:
    from ..webhooks.inbox import RedisInbox, SqliteInbox

    args = ctx.args
    if args.redis:
        if not args.redis.startswith(("redis://", "rediss://", "unix://")):
            raise usage("--redis takes a redis://, rediss:// or unix:// URL")
        ctx.secrets.append(args.redis)
        return RedisInbox(args.redis, prefix=args.redis_prefix)
    if args.inbox:
        return SqliteInbox(args.inbox)
    return None


async def serve_webhooks(ctx: Context) -> int:
    """Run ``webhooks serve``: listen until Ctrl-C."""
    args = ctx.args
    app_secret, verify_token = webhook_secrets(ctx)
    from ..webhooks._serve import serve

    def ready(bound_port: int) -> None:
        ctx.note(f"receiving webhooks on http://{args.host}:{bound_port}/ (Ctrl-C to stop)")

    try:
        await serve(
            host=args.host,
            port=args.port,
            app_secret=app_secret,
            verify_token=verify_token,
            out=ctx.stdout,
            on_ready=ready,
            inbox=_open(ctx),
        )
    except OSError as error:
        # A port in use or an address that cannot be bound is a configuration error (status 2).
        raise usage(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
    return ExitStatus.OK


async def list_dead_letters(ctx: Context) -> int:
    """Run ``webhooks dead-letters list``."""
    from ..errors import WebhookPayloadError
    from ..webhooks import event_as_dict
    from ..webhooks.inbox import InboxUnavailableError

    inbox = _open(ctx)
    assert inbox is not None
    try:
        async with inbox:
            letters = await inbox.dead_letters(ctx.args.limit)
    except InboxUnavailableError as error:
        raise CommandError(str(error)) from None
    for letter in letters:
        line: dict[str, object] = {"id": letter.id, "attempts": letter.attempts, "error": letter.error}
        try:
            line["event"] = event_as_dict(letter.event())
        except WebhookPayloadError:
            line["notification"] = letter.item.notification
        ctx.out(json.dumps(line, default=str, ensure_ascii=False))
    ctx.note(f"{len(letters)} dead letter(s)")
    return ExitStatus.OK


async def replay_dead_letters(ctx: Context) -> int:
    """Run ``webhooks dead-letters replay``."""
    from ..webhooks.inbox import InboxUnavailableError

    inbox = _open(ctx)
    assert inbox is not None
    try:
        async with inbox:
            count = await inbox.replay(ctx.args.ids or None)
    except InboxUnavailableError as error:
        raise CommandError(str(error)) from None
    ctx.note(f"replayed {count} dead letter(s)")
    return ExitStatus.OK
