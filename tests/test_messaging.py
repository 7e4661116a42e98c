"""Messaging in groups against the fake Graph API on loopback: sends, pins, refusals, delivery tracking, identities."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from wa_groups import (
    APIError,
    ClientValidationError,
    GroupsClient,
    InvalidRequestError,
    NotFoundError,
    RetryPolicy,
    ServerError,
    UserRef,
    WAGroupsError,
    media_message,
    template_message,
    text_message,
)
from wa_groups._graph import checks
from wa_groups._graph.errors import ERROR_CLASSES
from wa_groups.errors import PermissionDeniedError, RateLimitError
from wa_groups.testing import FakeGraphAPI, Fault
from wa_groups.webhooks import (
    GroupMessageReceived,
    GroupMessageStatus,
    JoinRequestCreated,
    ParticipantsAdded,
    RedactedAccessLogger,
    WebhookEvent,
    WebhookReceiver,
)

SECRET = "messaging-secret"
ALICE, BOB, CARA = "16505550001", "16505550002", "16505550003"


# ------------------------------------------------------------------------------------------------ pure parts


def test_builders_make_the_type_specific_part() -> None:
    assert text_message("Hi", preview_url=True) == {"type": "text", "text": {"body": "Hi", "preview_url": True}}
    assert text_message("Re", reply_to="wamid.X")["context"] == {"message_id": "wamid.X"}
    assert media_message("image", link="https://example.com/a.jpg", caption="A") == {
        "type": "image",
        "image": {"link": "https://example.com/a.jpg", "caption": "A"},
    }
    assert media_message("document", media_id="123", filename="a.pdf") == {
        "type": "document",
        "document": {"id": "123", "filename": "a.pdf"},
    }
    assert template_message("promo_v2", "en_US", components=[{"type": "body", "parameters": []}]) == {
        "type": "template",
        "template": {
            "name": "promo_v2",
            "language": {"policy": "deterministic", "code": "en_US"},
            "components": [{"type": "body", "parameters": []}],
        },
    }


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: media_message("sticker", link="https://x"), "media_type"),
        (lambda: media_message("image"), "exactly one"),
        (lambda: media_message("image", link="https://x", media_id="1"), "exactly one"),
        (lambda: media_message("audio", media_id="1", caption="no"), "caption"),
        (lambda: media_message("image", link="ftp://x"), "http"),
        (lambda: text_message(""), "text"),
        (lambda: text_message("x" * 4097), "4096"),
        (lambda: template_message("", "en"), "template name"),
    ],
)
def test_builders_refuse_bad_values(call: Any, match: str) -> None:
    with pytest.raises(ClientValidationError, match=match):
        call()


def test_users_accept_bsuids_and_refuse_garbage() -> None:
    assert checks.normalise_user("US.13491208655302741918") == "US.13491208655302741918"
    assert checks.normalise_user("US." + "a1" * 64) == "US." + "a1" * 64
    assert checks.normalise_user("00 1 650 555 1234") == "16505551234"
    assert checks.normalise_user("+1 650 555 1234") == "16505551234"
    for bad in ("hello", "US.", "US..1", "US.12 34", "+00 1 650 555 1234", "0 650 555 1234", "1234"):
        with pytest.raises(ClientValidationError, match=repr(bad).replace("+", r"\+").replace(".", r"\.")):
            checks.normalise_user(bad)


def test_group_error_codes_are_classified() -> None:
    assert ERROR_CLASSES[131020] is InvalidRequestError
    assert ERROR_CLASSES[131041] is NotFoundError
    assert ERROR_CLASSES[131207] is PermissionDeniedError
    assert ERROR_CLASSES[131208] is RateLimitError
    for code in (131214, 131215, 131062):
        assert ERROR_CLASSES[code] is InvalidRequestError


# ------------------------------------------------------------------------------------------------- sending


async def test_each_send_helper_posts_a_group_message(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gid = fake.add_group("Team", participants=[ALICE, BOB])
    text = await client.send_text(gid, "Hello group", preview_url=False)
    media = await client.send_media(gid, "image", link="https://example.com/a.jpg", caption="Look")
    template = await client.send_template(gid, "promo_v2", "en_US", components=[{"type": "body", "parameters": []}])
    raw = await client.send_message(gid, {"type": "text", "text": {"body": "raw"}})
    for message in (text, media, template, raw):
        assert message.group_id == gid and message.message_id is not None
        assert message.message_id.startswith("wamid.")
    bodies = [r.json for r in fake.requests if r.path.endswith("/messages")]
    assert bodies[0] == {
        "messaging_product": "whatsapp",
        "recipient_type": "group",
        "to": gid,
        "type": "text",
        "text": {"body": "Hello group", "preview_url": False},
    }
    assert [b["type"] for b in bodies if b] == ["text", "image", "template", "text"]
    assert fake.group_sends[gid] == 4


async def test_unsupported_types_are_refused_before_any_request(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gid = fake.add_group("Team", participants=[ALICE])
    for message, word in (
        ({"type": "interactive", "interactive": {}}, "'interactive'"),
        ({"type": "order", "order": {}}, "'order'"),
        ({"type": "image", "image": {"id": "1", "view_once": True}}, "view-once"),
        ({"type": "text"}, "'text' object"),
        ({"type": "text", "text": {"body": "x"}, "to": "other"}, "to"),
        ({"text": {"body": "x"}}, "type"),
    ):
        with pytest.raises(ClientValidationError, match=word):
            await client.send_message(gid, message)
    assert not [r for r in fake.requests if r.path.endswith("/messages")]


async def test_group_refusals_explain_themselves(fake: FakeGraphAPI, client: GroupsClient) -> None:
    lonely = fake.add_group("Nobody yet")
    with pytest.raises(InvalidRequestError) as single:
        await client.send_text(lonely, "Hello?")
    assert single.value.code == 131020 and "no member besides the business" in str(single.value)
    with pytest.raises(NotFoundError) as unknown:
        await client.send_text("Y2FwaV9ncm91cDpnb25l", "Hello?")
    assert unknown.value.code == 131041 and "does not exist" in str(unknown.value)
    team = fake.add_group("Team", participants=[ALICE])
    with pytest.raises(InvalidRequestError, match="authentication templates"):
        await client.send_template(team, "auth_code_login", "en_US")
    with pytest.raises(InvalidRequestError) as lonely_template:
        await client.send_template(lonely, "promo_v2", "en_US")
    assert "authentication" not in str(lonely_template.value)  # the reason is known: no hint about templates
    fake.groups[team].suspended = True
    with pytest.raises(PermissionDeniedError, match="suspended"):
        await client.send_text(team, "Hi")


async def test_a_send_is_never_repeated_after_an_ambiguous_failure(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gid = fake.add_group("Team", participants=[ALICE])
    fake.add_fault(Fault(path="/messages$", status=500, code=1, after_effect=True))
    with pytest.raises(ServerError) as info:
        await client.send_text(gid, "once")
    assert info.value.outcome_unknown
    assert fake.group_sends[gid] == 1
    assert len([r for r in fake.requests if r.path.endswith("/messages")]) == 1


async def test_throttled_sends_are_retried(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gid = fake.add_group("Team", participants=[ALICE])
    fake.add_fault(Fault(path="/messages$", status=429, code=131208, times=2))
    message = await client.send_text(gid, "eventually")
    assert message.message_id is not None and fake.group_sends[gid] == 1


async def test_pins_keep_at_most_three_and_check_days(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gid = fake.add_group("Team", participants=[ALICE])
    sent = [await client.send_text(gid, f"m{n}") for n in range(4)]
    ids = [m.message_id for m in sent]
    assert all(ids)
    for message_id in ids:
        assert message_id is not None
        pin = await client.pin_message(gid, message_id, days=7)
        assert pin.message_id is not None and pin.message_id not in ids
    assert fake.groups[gid].pinned == ids[1:]  # the fourth pin evicted the oldest
    pin_bodies = [r.json for r in fake.requests if r.json and r.json.get("type") == "pin"]
    assert pin_bodies[0] == {
        "messaging_product": "whatsapp",
        "recipient_type": "group",
        "to": gid,
        "type": "pin",
        "pin": {"type": "pin", "message_id": ids[0], "expiration_days": 7},
    }
    assert ids[3] is not None
    await client.unpin_message(gid, ids[3])
    assert fake.groups[gid].pinned == ids[1:3]
    assert [r.json for r in fake.requests if r.json and r.json.get("type") == "pin"][-1]["pin"] == {
        "type": "unpin",
        "message_id": ids[3],
    }
    for days in (0, 31, 1.5, True, "7"):
        with pytest.raises(ClientValidationError, match="days"):
            await client.pin_message(gid, ids[1] or "", days=days)  # type: ignore[arg-type]
    assert fake.group_sends[gid] == 4  # pins are not counted as sends


# ---------------------------------------------------------------------------------------- the loop, tracked


class Loop:
    """A receiver on 127.0.0.1, a fake posting signed webhooks to it, a client attached to the receiver."""

    def __init__(self, fake: FakeGraphAPI, client: GroupsClient, events: list[WebhookEvent]) -> None:
        self.fake, self.client, self.events = fake, client, events


async def _loop(identities: str, policy: RetryPolicy) -> AsyncIterator[Loop]:
    events: list[WebhookEvent] = []

    async def handler(event: WebhookEvent) -> None:
        events.append(event)

    receiver = WebhookReceiver(app_secret=SECRET, verify_token="v", handler=handler)
    runner = web.AppRunner(receiver.app, access_log_class=RedactedAccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with (
            FakeGraphAPI(webhook_url=f"http://127.0.0.1:{port}/", app_secret=SECRET, identities=identities) as fake,
            fake.client(retry=policy) as client,
        ):
            client.attach(receiver)
            yield Loop(fake, client, events)
    finally:
        await runner.cleanup()


@pytest.fixture(params=["phone", "bsuid", "both"])
async def loop(request: pytest.FixtureRequest, policy: RetryPolicy) -> AsyncIterator[Loop]:
    async for value in _loop(request.param, policy):
        yield value


async def test_wait_returns_on_sent_and_participants_fill_in(loop: Loop) -> None:
    fake, client = loop.fake, loop.client
    gid = fake.add_group("Team", participants=[ALICE, BOB, CARA])
    message = await client.send_text(gid, "Hello group")
    sent = await message.wait(timeout=5)
    assert isinstance(sent, GroupMessageStatus) and sent.status == "sent" and sent.group_id == gid
    await fake.flush_webhooks()
    expected = {ALICE, BOB, CARA} if fake.identities != "bsuid" else None
    assert len(message.delivered_to) == 3 and len(message.read_by) == 3
    if expected is not None:
        assert set(message.delivered_to) == expected == set(message.read_by)
    else:
        assert all(key.startswith("US.") for key in message.delivered_to)
    statuses = [e for e in loop.events if isinstance(e, GroupMessageStatus) and e.message_id == message.message_id]
    assert sorted(e.status or "" for e in statuses) == ["delivered"] * 3 + ["read"] * 3 + ["sent"]
    if fake.identities != "phone":
        assert all(e.participant is not None and e.participant.user_id for e in statuses if not e.group_level)


async def test_statuses_that_arrive_before_wait_are_not_lost(loop: Loop) -> None:
    fake, client = loop.fake, loop.client
    gid = fake.add_group("Team", participants=[ALICE])
    message = await client.send_text(gid, "early")
    await fake.flush_webhooks()  # every status is in before anyone waits
    assert len(message.read_by) == 1
    assert (await message.wait(timeout=0.5)).status == "sent"


async def test_a_failed_status_raises_from_wait(loop: Loop) -> None:
    fake, client = loop.fake, loop.client
    gid = fake.add_group("Team", participants=[ALICE])
    fake.fail_messages_to(gid, 131000)
    message = await client.send_text(gid, "doomed")
    with pytest.raises(APIError) as info:
        await message.wait(timeout=5)
    assert info.value.code == 131000 and message.delivered_to == ()


async def test_many_messages_one_participant_read_at_once(loop: Loop) -> None:
    fake, client = loop.fake, loop.client
    gid = fake.add_group("Team", participants=[ALICE, BOB])
    fake.auto_statuses = False
    messages = [await client.send_text(gid, f"m{n}") for n in range(3)]
    fake.auto_statuses = True
    assert fake.mark_read(gid, ALICE) == [m.message_id for m in messages]
    await fake.flush_webhooks()
    for message in messages:
        assert len(message.read_by) == 1 and message.delivered_to == message.read_by


async def test_a_participant_writes_and_the_receiver_types_it(loop: Loop) -> None:
    fake = loop.fake
    gid = fake.add_group("Team", participants=[ALICE])
    fake.set_username(ALICE, "alice.w")
    text_id = fake.participant_writes(gid, ALICE, "Hi all", name="Alice")
    media_id = fake.participant_writes(
        gid, ALICE, media={"id": "77", "mime_type": "image/png", "sha256": "abc", "caption": "pic"}, reply_to=text_id
    )
    fake.participant_writes(gid, ALICE, unsupported="poll_creation")
    await fake.flush_webhooks()
    received = [e for e in loop.events if isinstance(e, GroupMessageReceived)]
    assert [e.type for e in received] == ["text", "image", "unsupported"]
    text, media, unsupported = received
    assert text.message_id == text_id and text.text == "Hi all" and text.group_id == gid
    assert text.sender is not None and text.sender.name == "Alice"
    if fake.identities == "phone":
        assert text.sender.user_ref() == UserRef(wa_id=ALICE)
    else:
        assert text.sender.user_id is not None and text.sender.username == "alice.w"
        assert (text.sender.wa_id == ALICE) == (fake.identities == "both")
    assert media.message_id == media_id and media.media is not None and media.media.caption == "pic"
    assert media.context is not None and media.context.message_id == text_id
    assert unsupported.errors[0].code == 131051 and unsupported.unsupported_type == "poll_creation"


@pytest.fixture
async def bsuid_loop(policy: RetryPolicy) -> AsyncIterator[Loop]:
    async for value in _loop("bsuid", policy):
        yield value


async def test_bsuid_mode_keeps_identities_in_answers_and_webhooks(bsuid_loop: Loop) -> None:
    loop = bsuid_loop
    fake, client = loop.fake, loop.client
    gid = fake.add_group("Team", participants=[ALICE])
    fake.set_username(BOB, "bob")
    info = await client.get_group(gid)
    assert info.participants is not None and info.participants[0].wa_id is None
    assert info.participants[0].user_id is not None and info.participants[0].user_id.startswith("US.")
    fake.add_join_requests(gid, 1, [BOB], notify=True)
    (request,) = [r async for r in client.iter_join_requests(gid)]
    assert request.wa_id is None and request.user_id and request.username == "bob"
    await (await client.add_participants(gid, [CARA])).wait(timeout=5)
    await fake.flush_webhooks()
    created = [e for e in loop.events if isinstance(e, JoinRequestCreated)]
    assert created and created[0].user_id == request.user_id and created[0].username == "bob"
    added = [e for e in loop.events if isinstance(e, ParticipantsAdded)]
    assert added[0].added_participants[0].user_id is not None and added[0].added_participants[0].input == CARA
    bsuid = info.participants[0].user_id
    removed = await (await client.remove_participants(gid, [bsuid])).wait(timeout=5)
    assert removed.group_id == gid and fake.groups[gid].participants == [CARA]


async def test_wait_without_a_receiver_says_what_to_do(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gid = fake.add_group("Team", participants=[ALICE])
    message = await client.send_text(gid, "untracked")
    assert message.delivered_to == () and message.read_by == ()
    with pytest.raises(WAGroupsError, match="attach"):
        await message.wait(timeout=0.1)


async def test_status_for_a_message_nobody_sent_is_harmless(loop: Loop) -> None:
    # A deleted group's statuses may still arrive; the tracker keeps them without complaint.
    tracker = loop.client._deliveries
    assert tracker is not None
    event = GroupMessageStatus(message_id="wamid.ghost", status="read", participant=UserRef(wa_id=ALICE))
    tracker.feed([event])
    assert tracker.read_by("wamid.ghost") == (ALICE,)
    await asyncio.sleep(0)


# ------------------------------------------------------------------------------------- the tracker on its own


def _status(message_id: str, status: str, who: str | None = None, **extra: Any) -> GroupMessageStatus:
    return GroupMessageStatus(
        message_id=message_id, status=status, participant=UserRef(user_id=who) if who else None, **extra
    )


async def test_delivery_tracker_orders_and_bounds_what_it_keeps() -> None:
    from wa_groups.models import ErrorDetail
    from wa_groups.webhooks import DeliveryTracker

    tracker = DeliveryTracker(max_messages=2)
    tracker.feed(
        [_status("m1", "read", "US.1"), _status("m1", "delivered", "US.2"), _status("m1", "delivered", "US.1")]
    )
    assert tracker.delivered_to("m1") == ("US.1", "US.2") and tracker.read_by("m1") == ("US.1",)
    # A participant's read implies the message went out: wait returns at once.
    assert (await tracker.wait("m1", timeout=0.1)).status == "read"
    tracker.feed([_status("m2", "failed", "US.3", errors=(ErrorDetail(code=131026, message="x"),))])
    assert tracker.failed_for("m2") == {"US.3": (ErrorDetail(code=131026, message="x"),)}
    tracker.feed([_status("m3", "sent")])
    assert tracker.delivered_to("m1") == ()  # the oldest message was forgotten (max_messages=2)
    waiting = asyncio.ensure_future(tracker.wait("m4", timeout=5))
    await asyncio.sleep(0)
    tracker.feed([_status("m4", "failed", errors=(ErrorDetail(code=131020, message="Bad Group"),))])
    with pytest.raises(InvalidRequestError, match="no member besides the business"):
        await waiting
    with pytest.raises(asyncio.TimeoutError):
        await tracker.wait("m5", timeout=0.01)
    with pytest.raises(ClientValidationError):
        DeliveryTracker(max_messages=0)


async def test_bulk_removal_takes_bsuids(bsuid_loop: Loop) -> None:
    fake, client = bsuid_loop.fake, bsuid_loop.client
    gid = fake.add_group("Team", participants=[ALICE, BOB, CARA])
    info = await client.get_group(gid)
    assert info.participants is not None
    bsuids = [p.user_id for p in info.participants if p.user_id]
    result = await client.bulk_remove_participants(gid, bsuids[:2])
    assert result.ok and fake.groups[gid].participants == [CARA]
