"""Group messages and statuses in webhooks: every sample of the messaging facts file, and random shapes.

The samples are Meta's payloads as the reference file reproduces them (placeholders filled in); each test checks
that the right typed events come out and that nothing Meta sent is lost.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wa_groups import UserRef, WAGroupsError
from wa_groups.webhooks import (
    GroupMessageReceived,
    GroupMessageStatus,
    JoinRequestCreated,
    JoinRequestRevoked,
    ParticipantsAdded,
    ParticipantsRemoved,
    UnknownEvent,
    event_as_dict,
    parse_webhook,
    sign_body,
    verify_signature,
)

GROUP = "HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA"
METADATA = {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}


def delivery(value: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": field, "value": value}]}],
    }


def messages_value(**fields: Any) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "metadata": METADATA, **fields}


# ------------------------------------------------------------------------------------------ inbound messages


def test_inbound_text_sample_becomes_a_group_message() -> None:
    sample = delivery(
        messages_value(
            contacts=[{"profile": {"name": "Tiago Mingo"}, "wa_id": "16505551234"}],
            messages=[
                {
                    "from": "16505551234",
                    "group_id": GROUP,
                    "id": "wamid.HASDI128HJOPUERIH82ahdasd09ASDHi5>",
                    "timestamp": "1744344496",
                    "text": {"body": "What does everyone think about this?"},
                    "type": "text",
                }
            ],
        )
    )
    (event,) = parse_webhook(sample)
    assert isinstance(event, GroupMessageReceived)
    assert event.group_id == GROUP and event.message_id == "wamid.HASDI128HJOPUERIH82ahdasd09ASDHi5>"
    assert event.type == "text" and event.text == "What does everyone think about this?"
    assert event.timestamp == datetime(2025, 4, 11, 4, 8, 16, tzinfo=timezone.utc)
    assert event.sender is not None and event.sender.wa_id == "16505551234" and event.sender.name == "Tiago Mingo"
    assert event.phone_number_id == "106540352242922" and event.waba_id == "102290129340398"
    assert event.raw["text"] == {"body": "What does everyone think about this?"}
    assert event.media is None and event.context is None and event.errors == ()


def test_unsupported_group_sample_without_unsupported_object() -> None:
    sample = delivery(
        messages_value(
            contacts=[{"profile": {"name": "<WHATSAPP_USER_NAME>"}, "wa_id": "<WHATSAPP_USER_PHONE_NUMBER>"}],
            messages=[
                {
                    "from": "<GROUP_PARTICIPANT_PHONE_NUMBER>",
                    "group_id": "<GROUP_ID>",
                    "id": "<WHATSAPP_MESSAGE_ID>",
                    "timestamp": "<WEBHOOK_TRIGGER_TIMESTAMP>",
                    "errors": [
                        {
                            "code": 130501,
                            "message": "Message type is not currently supported",
                            "title": "Unsupported message type",
                            "error_data": {"details": "<ERROR_DETAILS>"},
                        }
                    ],
                    "type": "unsupported",
                }
            ],
        )
    )
    (event,) = parse_webhook(sample)
    assert isinstance(event, GroupMessageReceived) and event.type == "unsupported"
    assert event.group_id == "<GROUP_ID>" and event.timestamp is None  # the placeholder is not a time
    assert [e.code for e in event.errors] == [130501]
    assert event.errors[0].details == "<ERROR_DETAILS>" and event.errors[0].title == "Unsupported message type"
    assert event.unsupported_type is None
    assert event.sender is not None and event.sender.wa_id == "<GROUP_PARTICIPANT_PHONE_NUMBER>"


def test_unsupported_sample_with_an_unsupported_object_and_131051() -> None:
    message = {
        "from": "16505551234",
        "group_id": GROUP,
        "id": "wamid.HBgLMTQyMDU1NTA3NDkVAgASGBI5N0MwRjg0RTVBNUI1RDA2OTkA",
        "timestamp": "1750090702",
        "errors": [
            {
                "code": "131051",
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ],
        "unsupported": {"type": "poll_creation"},
        "type": "unsupported",
    }
    (event,) = parse_webhook(delivery(messages_value(messages=[message])))
    assert isinstance(event, GroupMessageReceived) and event.type == "unsupported"
    assert event.errors[0].code == 131051 and event.unsupported_type == "poll_creation"


def test_bsuid_era_inbound_message_without_phone_keeps_every_identifier() -> None:
    sample = delivery(
        messages_value(
            contacts=[
                {
                    "profile": {"name": "Ana", "username": "ana.travels"},
                    "user_id": "US.13491208655302741918",
                    "parent_user_id": "US.ENT.11815799212886844830",
                }
            ],
            messages=[
                {
                    "from_user_id": "US.13491208655302741918",
                    "from_parent_user_id": "US.ENT.11815799212886844830",
                    "group_id": GROUP,
                    "id": "wamid.B",
                    "timestamp": "1770000000",
                    "type": "image",
                    "image": {
                        "id": "1479537139650973",
                        "mime_type": "image/jpeg",
                        "sha256": "N3yFuXJ0Xf4M2o0e2A8e9Xw0=",
                        "caption": "Look",
                    },
                    "context": {"from": "15550783881", "id": "wamid.PARENT"},
                }
            ],
        )
    )
    (event,) = parse_webhook(sample)
    assert isinstance(event, GroupMessageReceived)
    assert event.sender is not None
    assert event.sender.user_ref() == UserRef(
        user_id="US.13491208655302741918", parent_user_id="US.ENT.11815799212886844830", username="ana.travels"
    )
    assert event.sender.wa_id is None and event.sender.name == "Ana"
    assert event.media is not None and event.media.id == "1479537139650973"
    assert (event.media.mime_type, event.media.sha256, event.media.caption) == (
        "image/jpeg",
        "N3yFuXJ0Xf4M2o0e2A8e9Xw0=",
        "Look",
    )
    assert event.context is not None and event.context.message_id == "wamid.PARENT"
    assert event.context.sender == "15550783881"


def test_message_events_are_json_ready() -> None:
    message = {
        "from": "16505551234",
        "group_id": GROUP,
        "id": "wamid.J",
        "timestamp": "1770000000",
        "type": "text",
        "text": {"body": "hi"},
        "context": {"id": "wamid.P"},
    }
    status = {
        "id": "wamid.J",
        "status": "read",
        "timestamp": "1770000000",
        "recipient_id": GROUP,
        "recipient_type": "group",
        "recipient_participant_user_id": "US.1",
    }
    contacts = [{"profile": {"name": "Ana"}, "wa_id": "16505551234"}]
    received, read = sorted(
        parse_webhook(delivery(messages_value(messages=[message], statuses=[status], contacts=contacts))),
        key=lambda e: type(e).__name__,
    )
    as_dict = json.loads(json.dumps(event_as_dict(received)))
    assert as_dict["event"] == "GroupMessageReceived" and as_dict["sender"]["name"] == "Ana"
    assert as_dict["context"] == {"message_id": "wamid.P", "sender": None}
    assert json.loads(json.dumps(event_as_dict(read)))["participant"]["user_id"] == "US.1"


def test_document_media_keeps_its_filename() -> None:
    message = {
        "from": "16505551234",
        "group_id": GROUP,
        "id": "wamid.D",
        "timestamp": "1770000000",
        "type": "document",
        "document": {"id": "9", "mime_type": "application/pdf", "sha256": "x", "filename": "plan.pdf"},
    }
    (event,) = parse_webhook(delivery(messages_value(messages=[message])))
    assert isinstance(event, GroupMessageReceived) and event.media is not None
    assert event.media.filename == "plan.pdf" and event.media.caption is None


def test_one_to_one_messages_are_kept_raw_never_dropped() -> None:
    message = {
        "from": "16505551234",
        "id": "wamid.1",
        "timestamp": "1770000000",
        "type": "text",
        "text": {"body": "hi"},
    }
    (event,) = parse_webhook(delivery(messages_value(messages=[message])))
    assert isinstance(event, UnknownEvent) and event.raw == message and event.type == "text"


# ------------------------------------------------------------------------------------------------ statuses


def test_group_level_failed_sample_with_a_string_code() -> None:
    status = {
        "id": "<WAMID>",
        "recipient_id": "<GROUP_ID>",
        "recipient_type": "group",
        "status": "failed",
        "timestamp": "<TS>",
        "errors": [
            {
                "code": "131000",
                "title": "<T>",
                "message": "<M>",
                "error_data": {"details": "<D>"},
                "href": "/documentation/business-messaging/whatsapp/support/error-codes",
            }
        ],
    }
    (event,) = parse_webhook(delivery(messages_value(statuses=[status])))
    assert isinstance(event, GroupMessageStatus)
    assert (event.status, event.group_id, event.message_id) == ("failed", "<GROUP_ID>", "<WAMID>")
    assert event.participant is None and event.group_level and event.participant_id is None
    assert event.errors[0].code == 131000 and event.errors[0].details == "<D>"
    assert event.raw["errors"][0]["href"].startswith("/documentation")


def test_aggregated_read_sample_gives_one_event_per_participant_with_nested_pricing() -> None:
    def status(phone: str) -> dict[str, Any]:
        return {
            "id": "wamid.M",
            "status": "read",
            "timestamp": "1770000000",
            "recipient_id": GROUP,
            "recipient_type": "group",
            "recipient_participant_id": phone,
            "conversation": {
                "id": "CONV",
                "origin": {"type": "group_marketing"},
                "pricing": {"billable": True, "pricing_model": "PMP", "category": "group_marketing"},
            },
        }

    events = parse_webhook(delivery(messages_value(statuses=[status("16505550001"), status("16505550002")])))
    assert [type(e) for e in events] == [GroupMessageStatus, GroupMessageStatus]
    assert [e.participant_id for e in events if isinstance(e, GroupMessageStatus)] == ["16505550001", "16505550002"]
    first = events[0]
    assert isinstance(first, GroupMessageStatus)
    assert first.pricing is not None and first.pricing.category == "group_marketing" and first.pricing.billable
    assert first.conversation_id == "CONV" and first.conversation_category == "group_marketing"


def test_single_delivered_sample_with_the_other_spelling_and_pricing_beside() -> None:
    status = {
        "id": "wamid.M",
        "status": "delivered",
        "timestamp": "1770000000",
        "recipient_id": GROUP,
        "recipient_type": "group",
        "participant_recipient_id": "16505550003",
        "conversation": {"id": "CONV", "origin": {"type": "group_utility"}},
        "pricing": {"billable": True, "pricing_model": "PMP", "category": "group_utility"},
    }
    (event,) = parse_webhook(delivery(messages_value(statuses=[status])))
    assert isinstance(event, GroupMessageStatus)
    assert event.participant == UserRef(wa_id="16505550003")
    assert event.pricing is not None and event.pricing.category == "group_utility"


def test_bsuid_era_status_with_contacts_and_no_conversation() -> None:
    statuses = [
        {
            "id": f"wamid.{n}",
            "status": "read",
            "timestamp": "1770000000",
            "recipient_id": GROUP,
            "recipient_type": "group",
            "recipient_participant_user_id": "US.13491208655302741918",
            "recipient_participant_parent_user_id": "US.ENT.11815799212886844830",
            "pricing": {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "group_marketing"},
        }
        for n in range(3)
    ]
    contacts = [
        {
            "profile": {"name": "Ana", "username": "ana.travels"},
            "user_id": "US.13491208655302741918",
            "parent_user_id": "US.ENT.11815799212886844830",
        }
    ]
    events = parse_webhook(delivery(messages_value(statuses=statuses, contacts=contacts)))
    assert len(events) == 3  # many messages, one participant: every status object is an event
    for event in events:
        assert isinstance(event, GroupMessageStatus)
        assert event.participant == UserRef(
            user_id="US.13491208655302741918",
            parent_user_id="US.ENT.11815799212886844830",
            username="ana.travels",
        )
        assert event.participant_id == "US.13491208655302741918"
        assert event.pricing is not None and event.pricing.type == "regular"
        assert event.conversation_id is None
    assert [e.message_id for e in events if isinstance(e, GroupMessageStatus)] == ["wamid.0", "wamid.1", "wamid.2"]


def test_group_level_sent_without_participant_or_contacts() -> None:
    status = {
        "id": "wamid.S",
        "status": "sent",
        "timestamp": 1770000000,
        "recipient_id": GROUP,
        "recipient_type": "group",
    }
    (event,) = parse_webhook(delivery(messages_value(statuses=[status])))
    assert isinstance(event, GroupMessageStatus) and event.status == "sent" and event.group_level
    assert event.timestamp == datetime.fromtimestamp(1770000000, timezone.utc)


def test_openapi_style_status_with_group_id_only() -> None:
    status = {"id": "wamid.S", "status": "sent", "timestamp": "1", "recipient_id": "16505550001", "group_id": GROUP}
    (event,) = parse_webhook(delivery(messages_value(statuses=[status])))
    assert isinstance(event, GroupMessageStatus) and event.group_id == "16505550001"


# --------------------------------------------------------------------------------- identities in group webhooks


def test_bsuid_participants_and_join_requests_keep_their_identifiers() -> None:
    added = {
        "timestamp": "1770000000",
        "group_id": GROUP,
        "type": "group_participants_add",
        "reason": "invite_link",
        "added_participants": [
            {"user_id": "US.1", "parent_user_id": "US.ENT.2", "username": "ana"},
            {"wa_id": "16505550001", "user_id": "US.3", "input": "+1 650 555 0001"},
        ],
    }
    removed = {
        "timestamp": "1770000000",
        "group_id": GROUP,
        "type": "group_participants_remove",
        "request_id": "R",
        "removed_participants": [{"input": "US.1", "user_id": "US.1"}],
        "failed_participants": [{"input": "US.9", "user_id": "US.9", "errors": [{"code": 131212, "message": "no"}]}],
        "initiated_by": "business",
    }
    created = {
        "timestamp": "1770000000",
        "group_id": GROUP,
        "type": "group_join_request_created",
        "join_request_id": "J",
        "user_id": "US.5",
        "parent_user_id": "US.ENT.6",
        "username": "bob",
    }
    revoked = {**created, "type": "group_join_request_revoked", "wa_id": "16505550005"}
    value = {"messaging_product": "whatsapp", "metadata": METADATA, "groups": [added, removed, created, revoked]}
    events = parse_webhook(delivery(value, "group_participants_update"))
    add, rem, cre, rev = events
    assert isinstance(add, ParticipantsAdded)
    assert add.added_participants[0].user_ref() == UserRef(user_id="US.1", parent_user_id="US.ENT.2", username="ana")
    assert add.added_participants[1].user_ref() == UserRef(wa_id="16505550001", user_id="US.3", input="+1 650 555 0001")
    assert isinstance(rem, ParticipantsRemoved) and rem.removed_participants[0].user_id == "US.1"
    assert rem.failed_participants[0].user_id == "US.9" and rem.failed_participants[0].errors[0].code == 131212
    assert isinstance(cre, JoinRequestCreated)
    assert cre.user == UserRef(user_id="US.5", parent_user_id="US.ENT.6", username="bob") and cre.wa_id is None
    assert isinstance(rev, JoinRequestRevoked) and rev.wa_id == "16505550005" and rev.user.user_id == "US.5"


def test_pre_2026_participants_still_parse_with_wa_id() -> None:
    added = {
        "timestamp": "1770000000",
        "group_id": GROUP,
        "type": "group_participants_add",
        "added_participants": [{"input": "16505550001", "wa_id": "16505550001"}],
    }
    value = {"messaging_product": "whatsapp", "metadata": METADATA, "groups": [added]}
    (event,) = parse_webhook(delivery(value, "group_participants_update"))
    assert isinstance(event, ParticipantsAdded)
    assert event.added_participants[0].wa_id == "16505550001" and event.added_participants[0].user_id is None


# ------------------------------------------------------------------------------ each notification on its own


def test_a_notification_that_cannot_be_typed_does_not_cost_the_others(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from wa_groups.webhooks import _parse_messages

    original = _parse_messages._status_event

    def fragile(context: Any, status: Any) -> Any:
        if status.get("id") == "wamid.BAD":
            raise ValueError("boom")
        return original(context, status)

    monkeypatch.setattr(_parse_messages, "_status_event", fragile)
    statuses = [
        {"id": "wamid.OK", "status": "sent", "timestamp": "1", "recipient_id": GROUP, "recipient_type": "group"},
        {"id": "wamid.BAD", "status": "sent", "timestamp": "1", "recipient_id": GROUP, "recipient_type": "group"},
        {"id": "wamid.OK2", "status": "sent", "timestamp": "1", "recipient_id": GROUP, "recipient_type": "group"},
    ]
    with caplog.at_level(logging.WARNING, logger="wa_groups.webhooks"):
        events = parse_webhook(delivery(messages_value(statuses=statuses)))
    assert [type(e).__name__ for e in events] == ["GroupMessageStatus", "UnknownEvent", "GroupMessageStatus"]
    assert events[1].raw == statuses[1] and isinstance(events[1], UnknownEvent) and events[1].field == "messages"
    assert "kept as UnknownEvent" in caplog.text


def test_a_signed_delivery_with_a_superscript_timestamp_yields_its_other_notifications() -> None:
    statuses = [
        {"id": "wamid.A", "status": "sent", "timestamp": "²", "recipient_id": GROUP, "recipient_type": "group"},
        {
            "id": "wamid.B",
            "status": "sent",
            "timestamp": "1770000000",
            "recipient_id": GROUP,
            "recipient_type": "group",
        },
    ]
    body = json.dumps(delivery(messages_value(statuses=statuses)), ensure_ascii=False).encode()
    signature = sign_body(body, "secret")
    verify_signature(body, signature, "secret")
    events = parse_webhook(body)
    assert [e.message_id for e in events if isinstance(e, GroupMessageStatus)] == ["wamid.A", "wamid.B"]
    assert events[0].timestamp is None and events[1].timestamp is not None


# ---------------------------------------------------------------------------------------------- hypothesis

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["²", "١٢٣", "1770000000", "group", "sent", "read", "US.1", "16505550001"]),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)
_status_keys = st.sampled_from(
    [
        "id",
        "status",
        "timestamp",
        "recipient_id",
        "recipient_type",
        "recipient_participant_id",
        "participant_recipient_id",
        "recipient_participant_user_id",
        "recipient_participant_parent_user_id",
        "conversation",
        "pricing",
        "errors",
        "group_id",
    ]
)
_message_keys = st.sampled_from(
    [
        "from",
        "from_user_id",
        "from_parent_user_id",
        "group_id",
        "id",
        "timestamp",
        "type",
        "text",
        "image",
        "document",
        "context",
        "errors",
        "unsupported",
    ]
)
_contacts = st.lists(
    st.dictionaries(st.sampled_from(["wa_id", "user_id", "profile", "parent_user_id"]), _json), max_size=2
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    statuses=st.lists(st.one_of(st.dictionaries(_status_keys, _json), _json), max_size=3),
    messages=st.lists(st.one_of(st.dictionaries(_message_keys, _json), _json), max_size=3),
    contacts=st.one_of(_contacts, _json),
)
def test_any_status_or_message_shape_parses_without_surprises(statuses: Any, messages: Any, contacts: Any) -> None:
    try:
        events = parse_webhook(delivery(messages_value(statuses=statuses, messages=messages, contacts=contacts)))
    except WAGroupsError:
        return
    objects = [s for s in statuses if isinstance(s, dict)] + [m for m in messages if isinstance(m, dict)]
    assert len(events) == max(1, len(objects)) if objects else len(events) <= 1
    for event in events:
        json.dumps(event.raw, default=str)
