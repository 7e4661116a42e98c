"""The WUTS protocol with canned samples: participant spellings, input checks, error envelopes, decoders."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wa_groups import (
    APIError,
    AuthenticationError,
    ClientValidationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseError,
    ServerError,
)
from wa_groups._core.files import read_upload
from wa_groups.errors import DeviceNotReadyError
from wa_groups.wuts import (
    FieldError,
    GroupParticipant,
    ParticipantAction,
    ParticipantsResult,
    normalise_participant,
    validation_errors,
)
from wa_groups.wuts import _decode as decode
from wa_groups.wuts import _protocol as proto

JID = "5511999999999@s.whatsapp.net"


def answer(status: int, payload: Any, headers: dict[str, str] | None = None) -> Any:
    return decode.decode_response(status, headers or {}, json.dumps(payload).encode(), "op")


def failure(status: int, payload: Any, headers: dict[str, str] | None = None) -> APIError:
    with pytest.raises(APIError) as caught:
        answer(status, payload, headers)
    return caught.value


# -------------------------------------------------------------------------------------------- participants


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("+55 (11) 99999-9999", JID),
        ("5511999999999", JID),
        ("+5511999999999", JID),
        ("55 11 99999.9999", JID),
        ("  +55-11-99999-9999  ", JID),
        (JID, JID),
        ("5511999999999@S.WhatsApp.Net", JID),
        ("5511999999999@c.us", JID),
        ("abcd@lid", "abcd@lid"),
        ("123456789012345@LID", "123456789012345@lid"),
    ],
)
def test_every_participant_spelling_is_normalised_once(spelling: str, expected: str) -> None:
    assert normalise_participant(spelling) == expected
    assert normalise_participant(expected) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "12345",  # too short
        "1234567890123456",  # 16 digits
        "0055 11 99999-9999",  # not E.164: trunk prefix
        "55 11 9999x-9999",
        "someone@example.com",
        "5511999999999:12@s.whatsapp.net",  # a device, not a user
        "120363039000000000@g.us",  # a group
        "ab-cd@lid",
        5511999999999,
        None,
    ],
)
def test_anything_else_is_refused_with_the_accepted_forms(bad: object) -> None:
    with pytest.raises(ClientValidationError) as caught:
        normalise_participant(bad, "users")
    message = str(caught.value)
    assert caught.value.argument == "users"
    assert repr(bad) in message
    assert "phone number" in message and "JID" in message and "LID" in message


@given(
    country=st.sampled_from(["55", "1", "44", "351"]),
    rest=st.text(alphabet="0123456789", min_size=9, max_size=11),
    plus=st.booleans(),
    separators=st.lists(st.sampled_from([" ", "-", ".", "(", ")"]), min_size=0, max_size=4),
)
def test_phone_spellings_agree(country: str, rest: str, plus: bool, separators: list[str]) -> None:
    digits = country + rest
    spelled = ("+" if plus else "") + country
    for index, char in enumerate(rest):
        spelled += (separators[index % len(separators)] if separators and index % 3 == 0 else "") + char
    if 10 <= len(digits) <= 15:
        assert normalise_participant(spelled) == f"{digits}@s.whatsapp.net"
    else:
        with pytest.raises(ClientValidationError):
            normalise_participant(spelled)


def test_check_participants_merges_nothing_silently() -> None:
    assert proto.check_users(["+55 11 98888-7777", "x1@lid"]) == ["5511988887777@s.whatsapp.net", "x1@lid"]
    with pytest.raises(ClientValidationError, match="same participant"):
        proto.check_users(["+55 11 99999-9999", JID])
    with pytest.raises(ClientValidationError, match="at least one"):
        proto.check_users([])
    assert proto.check_users([], allow_empty=True) == []
    with pytest.raises(ClientValidationError, match="list"):
        proto.check_users("5511999999999")


def test_group_jids() -> None:
    assert proto.check_group_jid("120363039000000000@g.us") == "120363039000000000@g.us"
    assert proto.check_group_jid("120363039000000000") == "120363039000000000@g.us"
    assert proto.check_group_jid("5511999999999-1600000000@G.US") == "5511999999999-1600000000@g.us"
    for bad in ("", "abc@g.us", JID, "1/2@g.us", "120363039000000000@g.us?x", 12):
        with pytest.raises(ClientValidationError):
            proto.check_group_jid(bad)


# -------------------------------------------------------------------------------------------------- checks


def test_ephemeral_accepts_only_the_four_timers() -> None:
    assert [proto.check_ephemeral(value) for value in (0, 86400, 604800, 7776000)] == [0, 86400, 604800, 7776000]
    assert proto.check_ephemeral(timedelta(days=7)) == 604800
    assert proto.check_ephemeral(86400.0) == 86400
    for bad in (1, 3600, -1, True, "86400", timedelta(hours=1), None):
        with pytest.raises(ClientValidationError, match="86400"):
            proto.check_ephemeral(bad)


def test_invite_links_and_codes() -> None:
    code = "AbCdEfGhIjKlMnOpQrStUv"
    expected = f"https://chat.whatsapp.com/{code}"
    for spelling in (
        expected,
        f"{expected}/",
        f"{expected}?mode=r",
        f"chat.whatsapp.com/{code}",
        code,
        f" {expected} ",
    ):
        assert proto.check_invite(spelling) == expected
    for bad in ("", "https://example.com/x", "short", None):
        with pytest.raises(ClientValidationError):
            proto.check_invite(bad)


def test_picture_must_be_jpeg() -> None:
    assert proto.encode_picture(b"\xff\xd8\xff\xe0data") == "/9j/4GRhdGE="
    with pytest.raises(ClientValidationError, match="JPEG"):
        proto.encode_picture(b"\x89PNG\r\n")
    with pytest.raises(ClientValidationError, match="cannot be read"):
        read_upload("/nonexistent/picture.jpg", argument="picture", max_bytes=1024)  # the client reads paths


def test_create_body_sends_only_the_options_given() -> None:
    assert proto.create_body("N", [JID], {"announcement": None}) == {"name": "N", "participants": [JID]}
    assert proto.create_body("N", [JID], {"locked": False, "parent_jid": "1@g.us"})["options"] == {
        "locked": False,
        "parent_jid": "1@g.us",
    }


# -------------------------------------------------------------------------------------------------- errors


def test_401_quickstart_body_without_error_code() -> None:
    error = failure(401, {"success": False, "error": "Invalid token"})
    assert type(error) is AuthenticationError
    assert error.type is None and error.http_status == 401
    assert str(error) == "Invalid token [HTTP 401]"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, InvalidRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
    ],
)
def test_envelope_status_classes(status: int, cls: type[APIError]) -> None:
    envelope = {"success": False, "error": "nope", "error_code": "SOMETHING", "timestamp": "2026-06-15T12:00:00Z"}
    error = failure(status, envelope)
    assert type(error) is cls
    assert error.type == "SOMETHING" and error.message == "nope" and error.operation == "op"
    assert error.raw["timestamp"] == "2026-06-15T12:00:00Z"


def test_validation_error_carries_the_field_list() -> None:
    envelope = {
        "success": False,
        "error": "validation failed",
        "error_code": "VALIDATION_ERROR",
        "timestamp": "2026-06-15T12:00:00Z",
        "validation": [
            {"field": "participants[1]", "message": "invalid phone", "value": "12"},
            {"field": "name", "message": "required", "value": None},
        ],
    }
    error = failure(400, envelope)
    assert type(error) is InvalidRequestError
    assert error.type == "VALIDATION_ERROR"
    assert error.details == "participants[1]: invalid phone; name: required"
    assert str(error) == "validation failed: participants[1]: invalid phone; name: required [HTTP 400]"
    assert validation_errors(error) == (
        FieldError(field="participants[1]", message="invalid phone", value="12"),
        FieldError(field="name", message="required", value=None),
    )
    assert validation_errors(ValueError("x")) == ()


@pytest.mark.parametrize("status", [200, 400, 409, 503])
def test_device_not_ready_is_retryable_whatever_the_status(status: int) -> None:
    error = failure(
        status, {"success": False, "error": "WhatsApp session is not connected", "error_code": "DEVICE_NOT_READY"}
    )
    assert type(error) is DeviceNotReadyError
    assert error.retryable


def test_success_false_in_a_200_is_an_error() -> None:
    error = failure(200, {"success": False, "error": "refused"})
    assert type(error) is APIError and error.http_status == 200


def test_throttled_answer_reads_retry_after() -> None:
    error = failure(429, {"success": False, "error": "slow down"}, {"Retry-After": "3"})
    assert isinstance(error, RateLimitError) and error.retry_after == 3.0


def test_error_status_without_envelope() -> None:
    error = failure(502, [])
    assert type(error) is ServerError
    assert "HTTP 502" in str(error)


def test_non_json_answer() -> None:
    with pytest.raises(ResponseError) as caught:
        decode.decode_response(502, {}, b"<html>Bad gateway</html>", "get_group")
    assert caught.value.http_status == 502 and caught.value.retryable
    assert caught.value.body_excerpt.startswith("<html>")


def test_success_answers_pass_through() -> None:
    assert answer(201, {"success": True, "group": {"jid": "1@g.us"}}) == {"success": True, "group": {"jid": "1@g.us"}}
    assert decode.decode_response(204, {}, b"", "leave_group") == {}


# ------------------------------------------------------------------------------------------------ decoders


def test_group_decoding_is_lenient() -> None:
    group = decode.decode_group(
        {
            "success": True,
            "group": {
                "jid": "120363039000000000@g.us",
                "name": "N",
                "created_at": "2026-06-15T12:00:00Z",
                "is_announce": "true",
                "members_count": "3",
                "new_field": {"ignored": True},
                "participants": [
                    {"jid": JID, "phone_number": JID, "is_admin": True, "is_super_admin": "false"},
                    {"jid": "x@lid"},
                ],
            },
        },
        "get_group",
    )
    assert group.is_announce is True and group.members_count == 3
    assert group.created_at is not None and group.created_at.tzinfo is not None
    assert group.participants == (
        GroupParticipant(jid=JID, phone_number=JID, is_admin=True, is_super_admin=False),
        GroupParticipant(jid="x@lid"),
    )
    assert group.admins == (group.participants[0],)
    with pytest.raises(ResponseError, match="group"):
        decode.decode_group({"success": True}, "get_group")
    with pytest.raises(ResponseError, match="shape"):
        decode.decode_group({"group": {"name": "no jid"}}, "get_group")


def test_community_keeps_the_undocumented_object() -> None:
    community = decode.decode_community({"success": True, "community": {"jid": "1@g.us", "name": "C", "extra": 1}})
    assert (community.jid, community.name, community.raw["extra"]) == ("1@g.us", "C", 1)
    assert decode.decode_community({"success": True, "community": {}}).jid is None


def test_participants_answer_of_a_community_route() -> None:
    result = decode.decode_participants(
        {"success": True, "jid": "1@g.us", "action": "add", "participants": [{}]},
        ParticipantAction.ADD,
        "add_community_participants",
    )
    assert result.jid == "1@g.us" and result.action is ParticipantAction.ADD
    assert result.participants == (GroupParticipant(),)


def test_outcomes_follow_the_chosen_reading() -> None:
    other = "5511888888888@s.whatsapp.net"
    lid_member = GroupParticipant(jid="77@lid", phone_number=other, is_admin=True)
    result = ParticipantsResult(action=ParticipantAction.PROMOTE, participants=(lid_member,))
    ok, failed = proto.participant_outcomes(ParticipantAction.PROMOTE, [other, JID], result)
    assert ok == [other]  # matched through phone_number although WUTS answered with a LID
    assert failed == {JID: "WUTS did not report this participant as handled"}
    ok, failed = proto.participant_outcomes(ParticipantAction.DEMOTE, [other], result)
    assert (ok, failed) == ([], {other: "the participant is still an admin"})
    plain = ParticipantsResult(action="promote", participants=(GroupParticipant(jid=JID),))
    assert proto.participant_outcomes(ParticipantAction.PROMOTE, [JID], plain)[1] == {
        JID: "the participant is still not an admin"
    }
    assert proto.participant_outcomes(ParticipantAction.REMOVE, [JID], plain) == ([JID], {})


def test_every_endpoint_is_in_one_table() -> None:
    request = proto.build("promote_participants", json={}, jid="1@g.us")
    assert (request.method, request.path, request.repeatable) == ("POST", "/groups/1@g.us/participants", True)
    assert not proto.ENDPOINTS["create_group"].repeatable and not proto.ENDPOINTS["create_community"].repeatable
    assert {ep.method for ep in proto.ENDPOINTS.values()} == {"GET", "POST", "PATCH", "PUT", "DELETE"}
