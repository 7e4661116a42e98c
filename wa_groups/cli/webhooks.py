"""``wa-groups webhooks serve``: receive webhooks and print each verified event as a JSON line."""

from __future__ import annotations

import argparse

from ._args import CommandAdder, port
from ._config import webhook_secrets
from ._context import Context, ExitStatus, usage


def add_commands(parser: argparse.ArgumentParser, command: CommandAdder) -> None:
    """Add the actions of ``webhooks`` to its parser."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(
        actions,
        "serve",
        "receive webhooks and print each event as a JSON line",
        connects=False,
        description="Receive webhooks and print each verified event as one JSON line on stdout, until Ctrl-C. "
        "Needs WA_APP_SECRET (the Meta app secret) and WA_VERIFY_TOKEN in the environment.",
    )
    sub.add_argument("--port", type=port, required=True, metavar="P", help="port to listen on (0: any free port)")
    sub.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    sub.set_defaults(handler=serve_webhooks)


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
        )
    except OSError as error:
        # A port in use or an address that cannot be bound is a configuration error (status 2).
        raise usage(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
    return ExitStatus.OK
