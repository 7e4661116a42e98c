"""The whole loop on loopback: the fake Graph server posts signed webhooks to a receiver attached to the client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from wa_groups import APIError, GroupsClient, WAGroupsError
from wa_groups.testing import FakeGraphAPI
from wa_groups.webhooks import (
    GroupCreated,
    GroupDeleted,
    ParticipantsRemoved,
    RedactedAccessLogger,
    SettingsUpdated,
    WebhookEvent,
    WebhookReceiver,
)

SECRET = "app-secret-for-tests"


class Loop:
    """A receiver served on 127.0.0.1 and a fake whose webhooks go to it."""

    def __init__(
        self, receiver: WebhookReceiver, fake: FakeGraphAPI, client: GroupsClient, handled: list[WebhookEvent]
    ) -> None:
        self.receiver, self.fake, self.client, self.handled = receiver, fake, client, handled


@pytest.fixture
async def loop_setup() -> AsyncIterator[Loop]:
    handled: list[WebhookEvent] = []

    async def handler(event: WebhookEvent) -> None:
        handled.append(event)

    receiver = WebhookReceiver(app_secret=SECRET, verify_token="verify", handler=handler)
    runner = web.AppRunner(receiver.app, access_log_class=RedactedAccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with (
            FakeGraphAPI(webhook_url=f"http://127.0.0.1:{port}/", app_secret=SECRET) as fake,
            fake.client() as client,
        ):
            client.attach(receiver)
            yield Loop(receiver, fake, client, handled)
    finally:
        await runner.cleanup()


async def test_create_then_wait_gives_the_new_group_and_its_link(loop_setup: Loop) -> None:
    op = await loop_setup.client.create_group("Launch party", description="Bring snacks")
    created = await op.wait(timeout=5)
    assert isinstance(created, GroupCreated)
    assert created.request_id == op.request_id
    assert created.group_id is not None and created.group_id in loop_setup.fake.groups
    assert created.invite_link == loop_setup.fake.groups[created.group_id].invite_link
    assert created.subject == "Launch party"
    assert created.timestamp is not None and created.timestamp.tzinfo is not None


async def test_settings_removal_and_delete_are_awaitable(loop_setup: Loop) -> None:
    fake, client = loop_setup.fake, loop_setup.client
    gid = fake.add_group("Team", participants=["16505550001", "16505550002"])
    settings = await (await client.update_group(gid, subject="Renamed")).wait(timeout=5)
    assert isinstance(settings, SettingsUpdated) and settings.group_id == gid
    removed = await (await client.remove_participants(gid, ["16505550001"])).wait(timeout=5)
    assert isinstance(removed, ParticipantsRemoved) and removed.group_id == gid
    deleted = await (await client.delete_group(gid)).wait(timeout=5)
    assert isinstance(deleted, GroupDeleted) and deleted.group_id == gid


async def test_events_that_arrive_before_wait_are_not_lost(loop_setup: Loop) -> None:
    op = await loop_setup.client.create_group("Early bird")
    await loop_setup.fake.flush_webhooks()
    await asyncio.sleep(0)
    created = await op.wait(timeout=1)
    assert isinstance(created, GroupCreated)


async def test_duplicate_deliveries_reach_the_handler_once(loop_setup: Loop) -> None:
    fake = loop_setup.fake
    op = await loop_setup.client.create_group("Twice")
    await fake.flush_webhooks()
    await op.wait(timeout=5)
    await loop_setup.receiver.drain()
    handled = loop_setup.handled
    first = [e for e in handled if isinstance(e, GroupCreated) and e.request_id == op.request_id]
    assert len(first) == 1
    # Meta retries deliveries: send the very same signed body again.
    await fake.redeliver_webhooks()
    await loop_setup.receiver.drain()
    again = [e for e in handled if isinstance(e, GroupCreated) and e.request_id == op.request_id]
    assert len(again) == 1


async def test_waiting_without_a_receiver_or_request_id_is_a_clear_error(fake: FakeGraphAPI) -> None:
    async with fake.client() as client:
        op = await client.create_group("Nobody listens")
        with pytest.raises(WAGroupsError, match="attach a WebhookReceiver"):
            await op.wait(timeout=0.1)


async def test_a_failure_event_raises_an_api_error() -> None:
    from wa_groups.webhooks import OperationTracker, parse_webhook

    tracker = OperationTracker()
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "group_lifecycle_update",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "1", "phone_number_id": "2"},
                            "groups": [
                                {
                                    "timestamp": "1750269342",
                                    "type": "group_create",
                                    "request_id": "REQ",
                                    "errors": [{"code": 131215, "message": "Number not eligible", "title": "No"}],
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    tracker.feed(parse_webhook(payload))
    with pytest.raises(APIError) as info:
        await tracker.wait(request_id="REQ", group_id=None, kind="create", timeout=1)
    assert info.value.code == 131215


async def test_timeout(loop_setup: Loop) -> None:
    from wa_groups.webhooks import TrackedOperation

    op = TrackedOperation(kind="create", request_id="never", tracker=loop_setup.client._tracker)
    with pytest.raises(asyncio.TimeoutError):
        await op.wait(timeout=0.05)


async def test_repeated_deliveries_are_handled_once(loop_setup: Loop) -> None:
    loop_setup.fake.webhook_repeats = 2
    op = await loop_setup.client.create_group("Thrice")
    await loop_setup.fake.flush_webhooks()
    await loop_setup.receiver.drain()
    handled = loop_setup.handled
    assert sum(1 for e in handled if isinstance(e, GroupCreated) and e.request_id == op.request_id) == 1
    assert loop_setup.fake.stats.webhooks_sent >= 3


def test_absurd_numbers_in_a_signed_delivery_do_not_break_parsing() -> None:
    from wa_groups.webhooks import parse_webhook

    payload = (
        b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"group_lifecycle_update",'
        b'"value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"2"},"groups":[{"type":"group_delete",'
        b'"group_id":"G","request_id":"R","timestamp":' + b"9" * 400 + b"}]}}]}]}"
    )
    (event,) = parse_webhook(payload)
    assert isinstance(event, GroupDeleted) and event.timestamp is None
