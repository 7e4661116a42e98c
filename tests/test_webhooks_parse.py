from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest import reference_missing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wa_groups.errors import WebhookPayloadError
from wa_groups.webhooks import (
    EventError,
    EventParticipant,
    FailedParticipant,
    GroupCreated,
    GroupCreateFailed,
    GroupDeleted,
    GroupDeleteFailed,
    GroupMessageStatus,
    GroupSuspended,
    GroupSuspensionCleared,
    JoinRequestCreated,
    JoinRequestRevoked,
    ParticipantsAdded,
    ParticipantsRemoved,
    SettingResult,
    SettingsUpdated,
    StatusPricing,
    UnknownEvent,
    WebhookEvent,
    event_as_dict,
    parse_webhook,
)

WABA = "102290129340398"
PHONE_ID = "106540352242922"
DISPLAY = "15550783881"
GROUP = "Y2FwaV9ncm91cDoxODA1NTU1MDE3MjoxMjAzNjMyMjI3NzE5NjMwNjcZD"
REQUEST = "784D93D0C468593037EA0B1ECA245D9C"
TS = "1750269342"
WHEN = datetime(2025, 6, 18, 17, 55, 42, tzinfo=timezone.utc)


def envelope(field: str, value: Mapping[str, Any], **change_extra: Any) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA, "changes": [{"value": dict(value), "field": field, **change_extra}]}],
    }


def group_value(*groups: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY, "phone_number_id": PHONE_ID},
        "groups": [dict(g) for g in groups],
        **extra,
    }


def group_envelope(field: str, *groups: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    return envelope(field, group_value(*groups, **extra))


def one(data: Any) -> WebhookEvent:
    events = parse_webhook(data)
    assert len(events) == 1, events
    return events[0]


def error(code: Any = "131212", message: str = "Participant not in group") -> dict[str, Any]:
    return {"code": code, "message": message, "title": "Title", "error_data": {"details": "More details"}}


def assert_common(event: WebhookEvent, *, request_id: str | None = REQUEST) -> None:
    assert event.waba_id == WABA
    assert event.phone_number_id == PHONE_ID
    assert event.display_phone_number == DISPLAY
    assert event.group_id == GROUP
    assert event.request_id == request_id
    assert event.timestamp == WHEN


# ------------------------------------------------------------------------------------- Meta's OpenAPI file


def _reference_file() -> Path:
    base = os.environ.get("WA_GROUPS_REFERENCE_DIR")
    directory = Path(base) if base else Path(__file__).resolve().parents[1].parent / "shared" / "reference"
    return directory / "meta-groups-openapi-v23.yaml"


@pytest.fixture(scope="module")
def openapi_examples() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="pyyaml is needed to read Meta's OpenAPI file")
    path = _reference_file()
    if not path.is_file():
        reference_missing(f"Meta's OpenAPI file is not at {path} (set WA_GROUPS_REFERENCE_DIR)")
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    post = document["paths"]["/whatsapp/webhooks"]["post"]
    examples: dict[str, Any] = post["requestBody"]["content"]["application/json"]["examples"]
    assert examples, "the OpenAPI file holds no webhook examples"
    return {name: example["value"] for name, example in examples.items()}


def test_every_openapi_example_parses_to_typed_events(openapi_examples: dict[str, Any]) -> None:
    for name, payload in openapi_examples.items():
        events = parse_webhook(payload)
        assert events, name
        assert not any(isinstance(e, UnknownEvent) for e in events), (name, events)
        # The same bytes Meta would send parse identically.
        assert parse_webhook(json.dumps(payload).encode()) == events, name


def test_openapi_group_create_example(openapi_examples: dict[str, Any]) -> None:
    event = one(openapi_examples["Group Create Message"])
    assert isinstance(event, GroupCreated)
    assert_common(event)
    assert event.subject == "your-group-subject"
    assert event.description == "your-group-description"
    # The sample sends the participants as numbers.
    assert event.added_participants == (
        EventParticipant(input="16505551234", wa_id="16505551234"),
        EventParticipant(input="16505551235", wa_id="16505551235"),
    )


def test_openapi_settings_example(openapi_examples: dict[str, Any]) -> None:
    event = one(openapi_examples["Group Settings Update"])
    assert isinstance(event, SettingsUpdated)
    assert_common(event)
    assert event.profile_picture == SettingResult(mime_type="image/jpeg", sha256="SfInY0gGKTsJlUWbwxC1k+FAD0FZHv")
    assert event.subject is None and event.description is None
    assert not event.failed


def test_openapi_remove_example_labelled_group_create(openapi_examples: dict[str, Any]) -> None:
    payload = openapi_examples["Group Remove Participants"]
    assert payload["entry"][0]["changes"][0]["value"]["groups"][0]["type"] == "group_create"
    event = one(payload)
    assert isinstance(event, ParticipantsRemoved)
    assert_common(event)
    assert [p.wa_id for p in event.removed_participants] == ["16505551234", "16505551235"]
    assert event.errors == () and event.failed_participants == ()


# ---------------------------------------------------------------------------------------------- lifecycle


def test_group_create_success() -> None:
    group = {
        "timestamp": TS,
        "group_id": GROUP,
        "type": "group_create",
        "request_id": REQUEST,
        "subject": "Subject",
        "description": "Description",
        "invite_link": "https://chat.whatsapp.com/LINK",
        "join_approval_mode": "approval_required",
        "added_participants": [{"input": "+1 650 555 1234", "wa_id": "16505551234"}],
        "brand_new_field": {"kept": True},
    }
    event = one(group_envelope("group_lifecycle_update", group))
    assert event == GroupCreated(
        waba_id=WABA,
        phone_number_id=PHONE_ID,
        display_phone_number=DISPLAY,
        group_id=GROUP,
        request_id=REQUEST,
        timestamp=WHEN,
        subject="Subject",
        description="Description",
        invite_link="https://chat.whatsapp.com/LINK",
        join_approval_mode="approval_required",
        added_participants=(EventParticipant(input="+1 650 555 1234", wa_id="16505551234"),),
    )
    assert event.raw == group
    assert event.raw["brand_new_field"] == {"kept": True}


def test_group_create_failure_with_string_code() -> None:
    group = {
        "timestamp": TS,
        "type": "group_create",
        "subject": "Subject",
        "description": "Description",
        "request_id": REQUEST,
        "group_id": GROUP,
        "errors": [error(code="131214", message="Group creation temporarily disabled")],
    }
    event = one(group_envelope("group_lifecycle_update", group))
    assert isinstance(event, GroupCreateFailed)
    assert_common(event)
    assert event.subject == "Subject"
    assert event.errors == (
        EventError(code=131214, message="Group creation temporarily disabled", title="Title", details="More details"),
    )
    assert str(event.errors[0]) == "(#131214) Group creation temporarily disabled: More details"


def test_group_delete_success_and_failure() -> None:
    ok = {"timestamp": TS, "group_id": GROUP, "type": "group_delete", "request_id": REQUEST}
    failed = {**ok, "errors": [error(code=131041, message="Group unknown")]}
    deleted = one(group_envelope("group_lifecycle_update", ok))
    assert isinstance(deleted, GroupDeleted)
    assert_common(deleted)
    not_deleted = one(group_envelope("group_lifecycle_update", failed))
    assert isinstance(not_deleted, GroupDeleteFailed)
    assert not_deleted.errors[0].code == 131041


def test_empty_errors_list_is_a_success() -> None:
    group = {"timestamp": TS, "group_id": GROUP, "type": "group_delete", "request_id": REQUEST, "errors": []}
    assert isinstance(one(group_envelope("group_lifecycle_update", group)), GroupDeleted)


# ------------------------------------------------------------------------------------------- participants


@pytest.mark.parametrize("type_", ["group_participants_add", "group_add_participants"])
def test_participants_added_through_invite_link(type_: str) -> None:
    group = {
        "timestamp": TS,
        "group_id": GROUP,
        "type": type_,
        "reason": "invite_link",
        "added_participants": [{"wa_id": "16505551234"}, {"input": 16505551235, "wa_id": 16505551235}],
    }
    event = one(group_envelope("group_participants_update", group))
    assert isinstance(event, ParticipantsAdded)
    assert_common(event, request_id=None)
    assert event.reason == "invite_link"
    assert event.added_participants == (
        EventParticipant(wa_id="16505551234"),
        EventParticipant(input="16505551235", wa_id="16505551235"),
    )


@pytest.mark.parametrize(
    ("type_", "cls"),
    [("group_join_request_created", JoinRequestCreated), ("group_join_request_revoked", JoinRequestRevoked)],
)
def test_join_requests(type_: str, cls: type[JoinRequestCreated | JoinRequestRevoked]) -> None:
    group = {
        "timestamp": int(TS),
        "group_id": GROUP,
        "type": type_,
        "join_request_id": "MTY0NjcwNDM1OTU6MTIwMzYzNDA0Njk0MjMzODIw",
        "wa_id": 16505551234,
        "reason": "some_reason",
    }
    event = one(group_envelope("group_participants_update", group))
    assert isinstance(event, cls)
    assert_common(event, request_id=None)
    assert event.join_request_id == "MTY0NjcwNDM1OTU6MTIwMzYzNDA0Njk0MjMzODIw"
    assert event.wa_id == "16505551234"
    assert event.reason == "some_reason"


def test_participants_removed_by_business_with_partial_failure() -> None:
    group = {
        "timestamp": TS,
        "group_id": GROUP,
        "type": "group_participants_remove",
        "request_id": REQUEST,
        "initiated_by": "business",
        "removed_participants": [{"input": "16505551234"}],
        "failed_participants": [{"input": "16505551235", "errors": [error()]}],
    }
    event = one(group_envelope("group_participants_update", group))
    assert isinstance(event, ParticipantsRemoved)
    assert_common(event)
    assert event.initiated_by == "business"
    assert event.removed_participants == (EventParticipant(input="16505551234"),)
    assert event.failed_participants == (
        FailedParticipant(
            input="16505551235",
            errors=(
                EventError(code=131212, message="Participant not in group", title="Title", details="More details"),
            ),
        ),
    )
    assert event.errors == ()


def test_participants_remove_total_failure() -> None:
    group = {
        "timestamp": TS,
        "group_id": GROUP,
        "type": "group_remove_participants",
        "request_id": REQUEST,
        "errors": [error(code=131041, message="Group unknown")],
    }
    event = one(envelope("group_participant_update", group_value(group)))
    assert isinstance(event, ParticipantsRemoved)
    assert event.errors[0].code == 131041
    assert event.removed_participants == ()


def test_participant_leaves_with_initiated_by_outside_the_group_object() -> None:
    group = {
        "timestamp": TS,
        "group_id": GROUP,
        "type": "group_participants_remove",
        "removed_participants": [{"wa_id": 16505551234}],
    }
    event = one(group_envelope("group_participants_update", group, initiated_by="participant"))
    assert isinstance(event, ParticipantsRemoved)
    assert event.initiated_by == "participant"
    assert event.removed_participants == (EventParticipant(wa_id="16505551234"),)
    # initiated_by on the change rather than the value is found too.
    event2 = one(envelope("group_participants_update", group_value(group), initiated_by="participant"))
    assert isinstance(event2, ParticipantsRemoved)
    assert event2.initiated_by == "participant"


def test_removed_participants_win_over_a_contradicting_type() -> None:
    group = {"timestamp": TS, "group_id": GROUP, "type": "group_participants_add", "removed_participants": []}
    assert isinstance(one(group_envelope("group_participants_update", group)), ParticipantsRemoved)


# ----------------------------------------------------------------------------------------------- settings


def test_settings_update_success() -> None:
    group = {
        "timestamp": TS,
        "group_id": GROUP,
        "type": "group_settings_update",
        "request_id": REQUEST,
        "profile_picture": {"mime_type": "image/jpeg", "sha256": "abc=", "update_successful": True},
        "group_subject": {"text": "New subject", "update_successful": True},
        "group_description": {"text": "New description", "update_successful": "true"},
    }
    event = one(group_envelope("group_settings_update", group))
    assert isinstance(event, SettingsUpdated)
    assert_common(event)
    assert event.subject == SettingResult(text="New subject", update_successful=True)
    assert event.description == SettingResult(text="New description", update_successful=True)
    assert event.profile_picture == SettingResult(mime_type="image/jpeg", sha256="abc=", update_successful=True)
    assert not event.failed
    assert len(event.results) == 3


def test_settings_update_partial_failure() -> None:
    group = {
        "timestamp": TS,
        "group_id": GROUP,
        "type": "group_settings_update",
        "request_id": REQUEST,
        "profile_picture": {
            "mime_type": "image/png",
            "sha256": "abc=",
            "update_successful": False,
            "errors": [error(code=131209, message="Image not square")],
        },
        "group_subject": {"text": "New subject", "update_successful": True},
    }
    event = one(group_envelope("group_settings_update", group))
    assert isinstance(event, SettingsUpdated)
    assert event.profile_picture is not None and event.profile_picture.failed
    assert event.profile_picture.errors[0].code == 131209
    assert event.subject is not None and not event.subject.failed
    assert not event.failed


def test_settings_update_total_failure() -> None:
    group = {
        "timestamp": TS,
        "group_id": GROUP,
        "type": "group_settings_update",
        "request_id": REQUEST,
        "group_subject": {"text": "x", "update_successful": False, "errors": [error()]},
        "errors": [error(code=131041, message="Group unknown")],
    }
    event = one(group_envelope("group_settings_update", group))
    assert isinstance(event, SettingsUpdated)
    assert event.failed
    assert event.errors[0].code == 131041


# ------------------------------------------------------------------------------------------------- status


@pytest.mark.parametrize(
    ("type_", "cls"), [("group_suspend", GroupSuspended), ("group_suspend_cleared", GroupSuspensionCleared)]
)
def test_group_status_updates(type_: str, cls: type[WebhookEvent]) -> None:
    event = one(group_envelope("group_status_update", {"timestamp": TS, "group_id": GROUP, "type": type_}))
    assert type(event) is cls
    assert_common(event, request_id=None)


# ---------------------------------------------------------------------------------------- message statuses


def status_envelope(*statuses: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY, "phone_number_id": PHONE_ID},
        "statuses": [dict(s) for s in statuses],
        **extra,
    }
    return envelope("messages", value)


@pytest.mark.parametrize("participant_key", ["recipient_participant_id", "participant_recipient_id"])
def test_group_message_status(participant_key: str) -> None:
    status = {
        "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA",
        "status": "delivered",
        "timestamp": TS,
        "recipient_id": GROUP,
        "recipient_type": "group",
        participant_key: 16505551234,
        "pricing": {"billable": True, "pricing_model": "PMP", "category": "group_marketing"},
    }
    event = one(status_envelope(status))
    assert isinstance(event, GroupMessageStatus)
    assert_common(event, request_id=None)
    assert event.message_id == status["id"]
    assert event.status == "delivered"
    assert event.participant_id == "16505551234"
    assert event.pricing == StatusPricing(billable=True, pricing_model="PMP", category="group_marketing")


def test_failed_group_message_status_and_aggregated_statuses() -> None:
    base = {"id": "wamid.X", "status": "failed", "timestamp": TS, "recipient_id": GROUP, "recipient_type": "group"}
    events = parse_webhook(
        status_envelope(
            {**base, "recipient_participant_id": "1", "errors": [{"code": 131026, "title": "Undeliverable"}]},
            {**base, "recipient_participant_id": "2"},
        )
    )
    assert [type(e) for e in events] == [GroupMessageStatus, GroupMessageStatus]
    first = events[0]
    assert isinstance(first, GroupMessageStatus)
    assert first.errors == (EventError(code=131026, title="Undeliverable"),)
    assert [e.participant_id for e in events if isinstance(e, GroupMessageStatus)] == ["1", "2"]


def test_individual_statuses_and_incoming_messages_are_kept_as_unknown() -> None:
    individual = {"id": "wamid.Y", "status": "read", "timestamp": TS, "recipient_id": "16505551234"}
    message = {"from": "16505551234", "id": "wamid.Z", "timestamp": TS, "type": "text", "text": {"body": "hi"}}
    events = parse_webhook(status_envelope(individual, messages=[message]))
    assert [type(e) for e in events] == [UnknownEvent, UnknownEvent]
    status_event, message_event = events
    assert isinstance(status_event, UnknownEvent) and isinstance(message_event, UnknownEvent)
    assert (status_event.field, status_event.type, status_event.raw) == ("messages", "status", individual)
    assert (message_event.field, message_event.type, message_event.raw) == ("messages", "text", message)


# ------------------------------------------------------------------------------------------------ unknown


def test_unknown_field_becomes_unknown_event() -> None:
    value = {"metadata": {"phone_number_id": PHONE_ID}, "something": [1, 2, 3], "type": "new_thing"}
    event = one(envelope("brand_new_field", value))
    assert isinstance(event, UnknownEvent)
    assert event.field == "brand_new_field"
    assert event.type == "new_thing"
    assert event.raw == value
    assert event.phone_number_id == PHONE_ID


@pytest.mark.parametrize(
    "field",
    [
        "group_lifecycle_update",
        "group_participants_update",
        "group_participant_update",
        "group_settings_update",
        "group_status_update",
    ],
)
def test_unknown_group_type_becomes_unknown_event(field: str) -> None:
    group = {"timestamp": TS, "group_id": GROUP, "type": "group_teleported", "request_id": REQUEST}
    event = one(group_envelope(field, group))
    assert isinstance(event, UnknownEvent)
    assert (event.field, event.type, event.raw) == (field, "group_teleported", group)
    assert_common(event)


def test_change_without_an_object_value_is_unknown() -> None:
    payload = {"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [{"field": "x", "value": 3}]}]}
    event = one(payload)
    assert isinstance(event, UnknownEvent)
    assert event.raw == {"field": "x", "value": 3}


def test_group_field_without_groups_list_is_unknown() -> None:
    event = one(envelope("group_lifecycle_update", {"metadata": {}, "groups": "nope"}))
    assert isinstance(event, UnknownEvent)


def test_non_object_items_are_skipped_and_order_is_kept() -> None:
    first = {"timestamp": TS, "group_id": "g1", "type": "group_delete"}
    second = {"timestamp": TS, "group_id": "g2", "type": "group_suspend"}
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            "junk",
            {"id": WABA, "changes": "junk"},
            {
                "id": WABA,
                "changes": [7, {"field": "group_lifecycle_update", "value": {**group_value(), "groups": [first, "x"]}}],
            },
            {"id": WABA, "changes": [{"field": "group_status_update", "value": group_value(second)}]},
        ],
    }
    events = parse_webhook(payload)
    assert [(type(e), e.group_id) for e in events] == [(GroupDeleted, "g1"), (GroupSuspended, "g2")]


def test_empty_entry_list_gives_no_events() -> None:
    assert parse_webhook(b'{"object":"whatsapp_business_account","entry":[]}') == []


# ------------------------------------------------------------------------------------------ value coercion


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (TS, WHEN),
        (int(TS), WHEN),
        (float(TS), WHEN),
        (f" {TS} ", WHEN),
        ("2025-06-18T17:55:42+00:00", WHEN),
        ("2025-06-18T17:55:42", WHEN),
        ("not a time", None),
        ("", None),
        (None, None),
        (True, None),
        (10**30, None),
        ("nan", None),
        ([TS], None),
    ],
)
def test_timestamps(raw: Any, expected: datetime | None) -> None:
    event = one(group_envelope("group_status_update", {"timestamp": raw, "group_id": GROUP, "type": "group_suspend"}))
    assert event.timestamp == expected
    if event.timestamp is not None:
        assert event.timestamp.tzinfo is not None


def test_error_data_as_json_string_and_odd_error_items() -> None:
    group = {
        "timestamp": TS,
        "group_id": GROUP,
        "type": "group_delete",
        "errors": [
            {"code": " 131041 ", "message": "m", "error_data": '{"details": "from a string"}'},
            {"code": "abc", "error_data": "plain text"},
            {"code": True, "details": "top-level details"},
            "a bare message",
            42,
        ],
    }
    event = one(group_envelope("group_lifecycle_update", group))
    assert isinstance(event, GroupDeleteFailed)
    assert event.errors == (
        EventError(code=131041, message="m", details="from a string"),
        EventError(code=None, details="plain text"),
        EventError(code=None, details="top-level details"),
        EventError(message="a bare message"),
    )


def test_ids_that_arrive_as_numbers_become_strings_and_junk_becomes_none() -> None:
    group = {"timestamp": TS, "group_id": 1234.0, "type": "group_delete", "request_id": {"x": 1}}
    event = one(group_envelope("group_lifecycle_update", group))
    assert event.group_id == "1234"
    assert event.request_id is None


def test_bytes_text_and_mapping_inputs_agree() -> None:
    payload = group_envelope("group_status_update", {"timestamp": TS, "group_id": GROUP, "type": "group_suspend"})
    text = json.dumps(payload)
    events = parse_webhook(payload)
    assert parse_webhook(text) == events
    assert parse_webhook(text.encode()) == events
    assert parse_webhook(bytearray(text.encode())) == events
    assert parse_webhook(b"\xef\xbb\xbf" + text.encode()) == events


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00",
        "[]",
        "null",
        '"text"',
        "{}",
        '{"entry": {}}',
        '{"entry": "x"}',
        b"[" * 100_000,
    ],
)
def test_invalid_envelopes_raise_payload_error(data: bytes | str) -> None:
    with pytest.raises(WebhookPayloadError):
        parse_webhook(data)


def test_unsupported_input_type_raises_payload_error() -> None:
    with pytest.raises(WebhookPayloadError):
        parse_webhook(42)  # type: ignore[arg-type]


def test_payload_error_message_does_not_echo_the_body() -> None:
    with pytest.raises(WebhookPayloadError) as caught:
        parse_webhook(b'{"secret-looking": "value", ')
    assert "secret-looking" not in str(caught.value)


# ---------------------------------------------------------------------------------------------- as JSON


def test_event_as_dict_is_json_ready() -> None:
    group = {
        "timestamp": TS,
        "group_id": GROUP,
        "type": "group_settings_update",
        "request_id": REQUEST,
        "group_subject": {"text": "S", "update_successful": False, "errors": [error()]},
    }
    event = one(group_envelope("group_settings_update", group))
    data = event_as_dict(event)
    assert data["event"] == "SettingsUpdated"
    assert data["timestamp"] == "2025-06-18T17:55:42+00:00"
    assert data["subject"]["errors"][0]["code"] == 131212
    assert "raw" not in data
    assert json.loads(json.dumps(data)) == data
    assert event_as_dict(event, include_raw=True)["raw"] == group
    unknown = one(envelope("new_field", {"a": 1}))
    assert event_as_dict(unknown)["raw"] == {"a": 1}


def test_events_are_frozen_and_hashable() -> None:
    event = one(group_envelope("group_status_update", {"timestamp": TS, "group_id": GROUP, "type": "group_suspend"}))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.group_id = "other"  # type: ignore[misc]
    assert hash(event) == hash(attrs.evolve(event))


# --------------------------------------------------------------------------------------------- properties

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)

GROUP_KEYS = [
    "timestamp",
    "group_id",
    "type",
    "request_id",
    "subject",
    "description",
    "invite_link",
    "join_approval_mode",
    "added_participants",
    "removed_participants",
    "failed_participants",
    "initiated_by",
    "errors",
    "join_request_id",
    "wa_id",
    "reason",
    "profile_picture",
    "group_subject",
    "group_description",
]
STATUS_KEYS = [
    "id",
    "status",
    "timestamp",
    "recipient_id",
    "recipient_type",
    "recipient_participant_id",
    "participant_recipient_id",
    "pricing",
    "errors",
    "group_id",
]
FIELDS = [
    "group_lifecycle_update",
    "group_participants_update",
    "group_participant_update",
    "group_settings_update",
    "group_status_update",
    "messages",
]
TYPES = [
    "group_create",
    "group_delete",
    "group_participants_add",
    "group_participants_remove",
    "group_join_request_created",
    "group_join_request_revoked",
    "group_settings_update",
    "group_suspend",
    "group_suspend_cleared",
]
group_like = st.dictionaries(
    st.sampled_from(GROUP_KEYS), json_values | st.sampled_from(TYPES) | st.lists(json_values, max_size=3), max_size=8
)
status_like = st.dictionaries(st.sampled_from(STATUS_KEYS), json_values | st.just("group"), max_size=8)
value_like = st.fixed_dictionaries(
    {},
    optional={
        "metadata": json_values,
        "groups": st.lists(group_like | json_values, max_size=3) | json_values,
        "statuses": st.lists(status_like | json_values, max_size=3) | json_values,
        "messages": json_values,
        "initiated_by": json_values,
        "type": json_values,
    },
)
envelope_like = st.fixed_dictionaries(
    {
        "entry": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "id": json_values,
                    "changes": st.lists(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "field": st.sampled_from(FIELDS) | json_values,
                                "value": value_like | json_values,
                            },
                        )
                        | json_values,
                        max_size=3,
                    )
                    | json_values,
                },
            )
            | json_values,
            max_size=3,
        )
    },
    optional={"object": json_values},
)


def check_events(events: list[WebhookEvent]) -> None:
    for event in events:
        assert isinstance(event, WebhookEvent)
        for name in ("waba_id", "phone_number_id", "display_phone_number", "group_id", "request_id"):
            assert getattr(event, name) is None or isinstance(getattr(event, name), str)
        assert event.timestamp is None or event.timestamp.tzinfo is not None
        assert isinstance(event.raw, Mapping)
        json.dumps(event_as_dict(event, include_raw=True), default=str)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(payload=envelope_like)
def test_envelope_shaped_json_never_crashes(payload: dict[str, Any]) -> None:
    check_events(parse_webhook(payload))
    check_events(parse_webhook(json.dumps(payload).encode()))


@given(document=json_values)
def test_arbitrary_json_raises_only_payload_errors(document: Any) -> None:
    try:
        events = parse_webhook(json.dumps(document))
    except WebhookPayloadError:
        return
    check_events(events)


@given(data=st.binary(max_size=256))
def test_arbitrary_bytes_raise_only_payload_errors(data: bytes) -> None:
    try:
        events = parse_webhook(data)
    except WebhookPayloadError:
        return
    check_events(events)


# ------------------------------------------------------------------------- each notification on its own


def _group_change(field: str, groups: list[dict[str, Any]]) -> dict[str, Any]:
    return {"field": field, "value": {"messaging_product": "whatsapp", "groups": groups}}


def test_one_group_object_that_cannot_be_decoded_does_not_cost_the_others(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from wa_groups.webhooks import _parse

    original = _parse._group_event

    def fragile(context: Any, group: Mapping[str, Any]) -> WebhookEvent:
        if group.get("group_id") == "BROKEN":
            raise KeyError("surprise")
        return original(context, group)

    monkeypatch.setattr(_parse, "_group_event", fragile)
    deleted = [{"type": "group_delete", "group_id": gid, "timestamp": "1"} for gid in ("A", "BROKEN", "C")]
    body = {"entry": [{"id": "W", "changes": [_group_change("group_lifecycle_update", deleted)]}]}
    with caplog.at_level("WARNING", logger="wa_groups.webhooks"):
        events = parse_webhook(body)
    assert [type(e).__name__ for e in events] == ["GroupDeleted", "UnknownEvent", "GroupDeleted"]
    assert events[1].raw == deleted[1] and events[1].waba_id == "W"
    assert "could not be decoded" in caplog.text


def test_one_change_that_cannot_be_decoded_does_not_cost_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    from wa_groups.webhooks import _parse

    original = _parse._parse_change

    def fragile(entry: Mapping[str, Any], change: Mapping[str, Any]) -> list[WebhookEvent]:
        if change.get("field") == "boom":
            raise TypeError("surprise")
        return original(entry, change)

    monkeypatch.setattr(_parse, "_parse_change", fragile)
    suspended = _group_change("group_status_update", [{"type": "group_suspend", "group_id": "G", "timestamp": "1"}])
    body = {"entry": [{"id": "W", "changes": [{"field": "boom", "value": {}}, suspended]}]}
    first, second = parse_webhook(body)
    assert isinstance(first, UnknownEvent) and first.field == "boom" and first.raw == {"field": "boom", "value": {}}
    assert isinstance(second, GroupSuspended)


def test_a_non_ascii_digit_timestamp_never_costs_the_delivery() -> None:
    groups = [
        {"type": "group_suspend", "group_id": "A", "timestamp": "²"},
        {"type": "group_suspend", "group_id": "B", "timestamp": "1770000000"},
    ]
    body = json.dumps(
        {"entry": [{"id": "W", "changes": [_group_change("group_status_update", groups)]}]}, ensure_ascii=False
    ).encode()
    first, second = parse_webhook(body)
    assert isinstance(first, GroupSuspended) and first.timestamp is None and first.group_id == "A"
    assert isinstance(second, GroupSuspended) and second.timestamp is not None
