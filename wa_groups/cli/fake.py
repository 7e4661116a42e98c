"""``wa-groups fake serve``: a seeded fake Graph API (or WUTS gateway) on 127.0.0.1, in the foreground.

It prints the ``export`` lines that point the command at it, so a new user can try every command, and every
example of the documentation runs as shown. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import importlib
from typing import Any

from ._args import CommandAdder, count, port, positive_int, seconds
from ._context import PROG, Context, ExitStatus, usage

DEFAULT_GROUPS = 12
DEFAULT_JOIN_REQUESTS = 40


def add_commands(parser: argparse.ArgumentParser, command: CommandAdder) -> None:
    """Add the actions of ``fake`` to its parser."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(
        actions,
        "serve",
        "run a seeded fake API on 127.0.0.1 until Ctrl-C",
        connects=False,
        description="Run a fake of the API on 127.0.0.1, seeded with groups and open join requests, until "
        "Ctrl-C. It prints on stdout the 'export' lines to paste into another shell: they point wa-groups at "
        "the fake (WA_BASE_URL, WA_ACCESS_TOKEN, WA_PHONE_NUMBER_ID; with --backend wuts, WA_BACKEND, "
        "WUTS_BASE_URL, WUTS_TOKEN) and name a group (GROUP_ID) and a join request (JOIN_REQUEST_ID) to try "
        "commands on. The fake's token is not a secret: it only opens this fake.",
    )
    sub.add_argument("--port", type=port, default=0, metavar="P", help="port to listen on (default: 0, any free port)")
    sub.add_argument(
        "--groups",
        type=positive_int,
        default=DEFAULT_GROUPS,
        metavar="N",
        help=f"groups to seed (default: {DEFAULT_GROUPS})",
    )
    sub.add_argument(
        "--join-requests",
        type=count,
        default=DEFAULT_JOIN_REQUESTS,
        metavar="M",
        help=f"open join requests to seed, Graph only (default: {DEFAULT_JOIN_REQUESTS})",
    )
    sub.add_argument(
        "--latency", type=seconds, default=0.0, metavar="S", help="seconds before each answer (default: 0)"
    )
    sub.add_argument("--webhook-url", metavar="URL", help="POST Graph's webhooks here (default: none are sent)")
    sub.add_argument("--app-secret", metavar="S", help="sign those webhooks with this app secret")
    sub.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the generated data (default: 0)")
    sub.set_defaults(handler=serve_fake)
    sub = command(
        actions,
        "picture",
        "write a placeholder JPEG the fake accepts as a group picture",
        connects=False,
        description="Write FILE: a square JPEG header the fake (and the library's checks) accept as a group "
        "picture, to try 'groups picture' with. It is not an image to look at.",
    )
    sub.add_argument("file", metavar="FILE")
    sub.add_argument("--side", type=positive_int, default=192, metavar="PX", help="width and height (default: 192)")
    sub.set_defaults(handler=write_picture)


def _serving_module() -> Any:
    # Like the demo's scenario (see demo.py), the fake is loaded by name and only when this command runs: the
    # product never imports wa_groups.testing otherwise. This is the second case of that one declared exception.
    return importlib.import_module("wa_groups.testing.serve")


async def serve_fake(ctx: Context) -> int:
    """Run ``fake serve``: start the seeded fake, print the lines to paste and serve until Ctrl-C."""
    args = ctx.args
    backend = str(ctx.option("backend", "graph"))
    if backend != "graph" and (args.webhook_url or args.join_requests != DEFAULT_JOIN_REQUESTS):
        raise usage("--webhook-url and --join-requests are for the fake Graph API only")
    if args.app_secret and not args.webhook_url:
        raise usage("--app-secret signs webhooks: give --webhook-url too")
    if args.app_secret:
        ctx.secrets.append(args.app_secret)
    served = _serving_module().SeededFake(
        backend=backend,
        port=args.port,
        groups=args.groups,
        join_requests=args.join_requests if backend == "graph" else 0,
        latency=args.latency,
        webhook_url=args.webhook_url,
        app_secret=args.app_secret,
        seed=args.seed,
    )
    try:
        await served.start()
    except OSError as error:
        await served.close()
        if error.errno == errno.EADDRINUSE:
            raise usage(f"port {args.port} is in use: choose another --port, or 0 for any free one") from None
        raise usage(f"cannot listen on 127.0.0.1:{args.port}: {error.strerror or error}") from None
    try:
        what = "Graph API" if backend == "graph" else "WUTS gateway"
        ctx.info(f"Fake {what} on {served.base_url} with {served.summary()}; Ctrl-C stops it.")
        if ctx.json:
            ctx.out_json({"base_url": served.base_url, "environment": served.environment(), **served.example_ids})
        else:
            ctx.info("Paste these lines into another shell:")
            ctx.out(served.export_lines())
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        ctx.info(f"{PROG}: fake server stopped")
        ctx.interrupt_noted = True
        raise
    finally:
        await served.close()
    return ExitStatus.OK


async def write_picture(ctx: Context) -> int:
    """Run ``fake picture``: write the placeholder JPEG."""
    args = ctx.args
    if args.side > 65535:
        raise usage("--side must be at most 65535")
    _write(args.file, _serving_module().sample_picture(args.side))
    ctx.info(f"wrote {args.file}: a {args.side}x{args.side} JPEG header for the fake")
    return ExitStatus.OK


def _write(path: str, data: bytes) -> None:
    try:
        with open(path, "wb") as handle:
            handle.write(data)
    except OSError as error:
        raise usage(f"cannot write {path}: {error.strerror or error}") from None
