"""Run a webhook receiver that prints each verified event as one JSON line (``wa-groups webhooks serve``)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from typing import TextIO

from aiohttp import web

from .events import WebhookEvent, event_as_dict
from .receiver import RedactedAccessLogger, WebhookReceiver

__all__ = ["serve"]

logger = logging.getLogger("wa_groups.webhooks")


async def serve(
    *,
    host: str,
    port: int,
    app_secret: str,
    verify_token: str,
    out: TextIO,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Receive webhooks on ``host:port`` until cancelled, writing each new event to ``out`` as a JSON line.

    Each line is :func:`event_as_dict` of the event (``raw`` only for unknown events), in delivery order;
    duplicates are written once. The access log omits query strings, which hold the verify token.

    Args:
        host: The address to listen on.
        port: The port to listen on; 0 picks a free one.
        app_secret: The Meta app secret that signs deliveries.
        verify_token: The token for the verification handshake.
        out: Where the JSON lines go; flushed after each delivery.
        on_ready: Called with the bound port once the server listens.

    """
    receiver = WebhookReceiver(app_secret, verify_token)

    def write(events: Sequence[WebhookEvent]) -> None:
        for event in events:
            out.write(json.dumps(event_as_dict(event), default=str) + "\n")
        out.flush()

    receiver.add_listener(write)
    runner = web.AppRunner(receiver.app, access_log_class=RedactedAccessLogger)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = port
        for address in runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                bound = int(address[1])
                break
        logger.info("receiving webhooks on %s:%d", host, bound)
        if on_ready is not None:
            on_ready(bound)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
