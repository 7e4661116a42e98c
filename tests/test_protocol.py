"""Pure protocol functions: input checks, error classification, decoders, retry decisions."""

from __future__ import annotations

import contextlib
import json
import struct
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wa_groups._core.files import read_upload
from wa_groups._core.retry import RetryPolicy, retry_wait
from wa_groups._graph import checks, decode, endpoints
from wa_groups._graph import errors as graph_errors
from wa_groups.errors import (
    APIError,
    AuthenticationError,
    ClientValidationError,
    InvalidCursorError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseError,
    ServerError,
    TransportError,
    WAGroupsError,
)
from wa_groups.models import JoinApprovalMode


def jpeg(width: int, height: int, size: int = 0) -> bytes:
    """Return a minimal JPEG-shaped byte string with an SOF0 frame of the given size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    data = b"\xff\xd8" + app0 + sof + b"\xff\xd9"
    return data + b"\x00" * max(0, size - len(data))


# ------------------------------------------------------------------------------------------------ input checks


@pytest.mark.parametrize("value", ["", "a/b", "a?b", "a#b", "a b", "a\tb", "..", "%2F"])
def test_ids_that_cannot_go_in_a_path_are_rejected(value: str) -> None:
    with pytest.raises(ClientValidationError, match="group_id") as info:
        checks.check_id(value, "group_id")
    assert repr(value) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_subject_is_trimmed_and_bounded() -> None:
    assert checks.check_subject("  Team  ") == "Team"
    assert checks.check_subject("x" * 128) == "x" * 128
    for bad in ("", "   ", "x" * 129):
        with pytest.raises(ClientValidationError, match="subject"):
            checks.check_subject(bad)
    with pytest.raises(ClientValidationError, match="description"):
        checks.check_description("d" * 2049)
    assert checks.check_description("d" * 2048) == "d" * 2048


def test_join_approval_mode_accepts_enum_and_string() -> None:
    assert checks.check_join_approval_mode(JoinApprovalMode.APPROVAL_REQUIRED) == "approval_required"
    assert checks.check_join_approval_mode("auto_approve") == "auto_approve"
    with pytest.raises(ClientValidationError, match="'sometimes'"):
        checks.check_join_approval_mode("sometimes")


def test_participants_are_normalised_counted_and_distinct() -> None:
    assert checks.check_users(["+1 (650) 555-1234", "16505551235", "BSUID.abc"]) == [
        "16505551234",
        "16505551235",
        "BSUID.abc",
    ]
    with pytest.raises(ClientValidationError, match=r"1\.\.8"):
        checks.check_users([])
    with pytest.raises(ClientValidationError, match=r"1\.\.8"):
        checks.check_users([str(16505550000 + i) for i in range(9)])
    with pytest.raises(ClientValidationError, match="listed twice"):
        checks.check_users(["+16505551234", "16505551234"])
    with pytest.raises(ClientValidationError, match="list of phone numbers"):
        checks.check_users("16505551234")
    with pytest.raises(ClientValidationError, match="'12'"):
        checks.check_users(["12"])


def test_join_request_ids_must_be_distinct_and_non_empty() -> None:
    assert checks.check_join_request_ids(["a", "b"]) == ["a", "b"]
    with pytest.raises(ClientValidationError, match="must not be empty"):
        checks.check_join_request_ids([])
    with pytest.raises(ClientValidationError, match="listed twice"):
        checks.check_join_request_ids(["a", "a"])
    with pytest.raises(ClientValidationError, match="non-empty"):
        checks.check_join_request_ids(["a", ""])


def test_page_size_bounds() -> None:
    assert checks.check_page_size(1024, endpoints.GROUPS_PAGE_MAX) == 1024
    for bad in (0, 1025, True, "10"):
        with pytest.raises(ClientValidationError, match="page_size"):
            checks.check_page_size(bad, endpoints.GROUPS_PAGE_MAX)


def load_picture(picture: Any) -> tuple[bytes, str]:
    """Read a picture as the client does (I/O layer), then check it (pure)."""
    data, name = read_upload(picture, argument="picture", max_bytes=endpoints.PICTURE_MAX_BYTES)
    return checks.check_picture(data), name


def test_picture_checks_read_the_jpeg_header() -> None:
    data, name = load_picture(jpeg(640, 640))
    assert data.startswith(b"\xff\xd8") and name == "picture.jpg"
    with pytest.raises(ClientValidationError, match="square, got 640x480"):
        load_picture(jpeg(640, 480))
    with pytest.raises(ClientValidationError, match="at least 192x192, got 100x100"):
        load_picture(jpeg(100, 100))
    with pytest.raises(ClientValidationError, match="JPEG"):
        load_picture(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    with pytest.raises(ClientValidationError, match="bytes; at most"):
        load_picture(jpeg(640, 640, size=endpoints.PICTURE_MAX_BYTES + 1))
    with pytest.raises(ClientValidationError, match="truncated"):
        load_picture(b"\xff\xd8\xff\xe0\x00\x10JFIF")


def test_picture_from_a_path(tmp_path: Any) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg(256, 256))
    data, name = load_picture(path)
    assert name == "photo.jpg" and len(data) == path.stat().st_size
    with pytest.raises(ClientValidationError, match="cannot be read"):
        load_picture(tmp_path / "missing.jpg")


# ------------------------------------------------------------------------------------------------- bodies


def test_request_bodies_follow_the_openapi_shapes() -> None:
    assert endpoints.participants_body(["1", "2"]) == {
        "messaging_product": "whatsapp",
        "participants": [{"user": "1"}, {"user": "2"}],
    }
    body = endpoints.invite_template_body("16505551234", "G1", "group_invite", "en_US")
    assert body["recipient_type"] == "individual"
    assert body["template"]["language"] == {"policy": "deterministic", "code": "en_US"}
    assert body["template"]["components"][0]["parameters"] == [{"type": "group_id", "group_id": "G1"}]
    assert endpoints.body(subject="S", description=None) == {"messaging_product": "whatsapp", "subject": "S"}


def test_every_endpoint_is_in_the_one_table() -> None:
    request = endpoints.build("remove_participants", json={}, group_id="G1")
    assert (request.method, request.path, request.repeatable) == ("DELETE", "/G1/participants", True)
    assert endpoints.ENDPOINTS["create_group"].repeatable is False
    assert endpoints.ENDPOINTS["send_invite_link_template"].repeatable is False


# ------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("code", "status", "subcode", "cls"),
    [
        (190, 401, None, AuthenticationError),
        (100, 400, 463, AuthenticationError),
        (10, 403, None, PermissionDeniedError),
        (131207, 403, None, PermissionDeniedError),
        (130429, 400, None, RateLimitError),
        (80007, 400, None, RateLimitError),
        (131208, 429, None, RateLimitError),
        (131048, 400, None, InvalidRequestError),
        (131204, 400, None, InvalidRequestError),
        (131041, 400, None, NotFoundError),
        (131213, 400, None, NotFoundError),
        (131059, 400, None, InvalidCursorError),
        (131000, 500, None, ServerError),
        (1, 500, None, ServerError),
        (None, 429, None, RateLimitError),
        (None, 503, None, ServerError),
        (None, 404, None, NotFoundError),
        (99999, 400, None, InvalidRequestError),
        (None, None, None, APIError),
    ],
)
def test_classification_by_code_then_status(
    code: int | None, status: int | None, subcode: int | None, cls: type
) -> None:
    assert graph_errors.error_class_for(code, status, subcode) is cls


def envelope(**error: Any) -> bytes:
    return json.dumps({"error": error}).encode()


def test_error_envelope_becomes_a_typed_one_line_error() -> None:
    raw = envelope(
        message="(#131041) Group unknown",
        type="OAuthException",
        code=131041,
        error_subcode=2494010,
        error_user_title="Unknown group",
        error_data=json.dumps({"messaging_product": "whatsapp", "details": "No group with that id"}),
        fbtrace_id="AbCdEf",
    )
    with pytest.raises(NotFoundError) as info:
        decode.decode_response(400, {}, raw, "get_group")
    error = info.value
    assert (error.code, error.subcode, error.http_status, error.fbtrace_id) == (131041, 2494010, 400, "AbCdEf")
    assert error.details == "No group with that id" and error.title == "Unknown group"
    assert str(error) == "(#131041) Group unknown: No group with that id [HTTP 400] fbtrace_id=AbCdEf"
    assert "\n" not in str(error)


def test_rate_limit_wait_from_retry_after_or_usage_minutes() -> None:
    raw = envelope(message="(#130429) Rate limit hit", code=130429, type="OAuthException")
    with pytest.raises(RateLimitError) as info:
        decode.decode_response(400, {"Retry-After": "7"}, raw, "approve_join_requests")
    assert info.value.retry_after == 7.0
    usage = json.dumps({"123": [{"type": "whatsapp", "call_count": 100, "estimated_time_to_regain_access": 2}]})
    with pytest.raises(RateLimitError) as info:
        decode.decode_response(400, {"X-Business-Use-Case-Usage": usage}, raw, "approve_join_requests")
    assert info.value.retry_after == 120.0
    with pytest.raises(RateLimitError) as info:
        decode.decode_response(429, {}, b"{}", "x")
    assert info.value.retry_after is None


def test_non_json_body_is_a_response_error() -> None:
    with pytest.raises(ResponseError) as info:
        decode.decode_response(502, {}, b"<html>Bad gateway</html>", "get_group")
    assert info.value.http_status == 502 and "Bad gateway" in info.value.body_excerpt
    assert info.value.retryable


def test_string_codes_in_bodies_are_read() -> None:
    result = decode.decode_join_requests_result(
        {
            "approved_join_requests": ["a"],
            "failed_join_requests": [
                {
                    "join_request_id": "b",
                    "errors": [{"code": "131213", "message": "gone", "error_data": {"details": "d"}}],
                }
            ],
        },
        "approve_join_requests",
    )
    assert result.succeeded == ("a",)
    assert result.failed[0].errors[0].code == 131213
    assert not result.ok


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
error_like = st.fixed_dictionaries(
    {},
    optional={
        "message": json_values,
        "type": json_values,
        "code": json_values | st.integers(),
        "error_subcode": json_values,
        "error_data": json_values | st.text(),
        "fbtrace_id": json_values,
        "is_transient": json_values,
        "error_user_title": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(status=st.integers(100, 599), value=json_values | st.fixed_dictionaries({"error": error_like}))
def test_decoder_raises_only_library_errors_on_any_json(status: int, value: Any) -> None:
    raw = json.dumps(value).encode()
    try:
        decode.decode_response(status, {}, raw, "op")
    except WAGroupsError as error:
        assert "\n" not in str(error)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=200))
def test_decoder_raises_only_library_errors_on_any_bytes(raw: bytes) -> None:
    with contextlib.suppress(WAGroupsError):
        decode.decode_response(200, {"Retry-After": "x"}, raw, "op")


page_like = st.fixed_dictionaries(
    {},
    optional={
        "data": json_values
        | st.lists(st.fixed_dictionaries({"id": json_values, "join_request_id": json_values, "subject": json_values}))
        | st.fixed_dictionaries({"groups": st.lists(st.fixed_dictionaries({"id": json_values}))}),
        "paging": json_values
        | st.fixed_dictionaries(
            {"cursors": st.fixed_dictionaries({}, optional={"after": json_values, "before": json_values})},
            optional={"next": json_values},
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(value=json_values | page_like)
def test_page_decoders_raise_only_library_errors(value: Any) -> None:
    for decoder in (decode.decode_groups_page, decode.decode_join_requests_page):
        try:
            page = decoder(value)
        except WAGroupsError:
            continue
        assert not page.has_next or page.after


def test_both_group_listing_shapes_decode() -> None:
    paging = {"cursors": {"before": "B", "after": "A"}, "next": "https://graph.facebook.com/next"}
    new = decode.decode_groups_page(
        {"data": {"groups": [{"id": "1", "subject": "S", "created_at": "1700000000"}]}, "paging": paging}
    )
    old = decode.decode_groups_page({"data": [{"id": "1", "subject": "S", "created_at": 1700000000}], "paging": paging})
    assert new == old
    assert new.items[0].created_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    assert new.after == "A" and new.has_next
    last = decode.decode_groups_page({"data": {"groups": []}, "paging": {"cursors": {"before": "B", "after": "A"}}})
    assert not last.has_next and last.items == ()


def test_group_info_is_lenient() -> None:
    info = decode.decode_group_info(
        {
            "id": "G",
            "subject": "S",
            "suspended": "false",
            "creation_timestamp": 683731200,
            "participants": [{"wa_id": 16505551234}, {"wa_id": "", "username": "ann"}],
            "total_participant_count": "2",
            "join_approval_mode": "future_mode",
            "brand_new_field": {"x": 1},
        }
    )
    assert info.suspended is False and info.total_participant_count == 2
    assert info.participants is not None and info.participants[0].wa_id == "16505551234"
    assert info.join_approval_mode == "future_mode"
    assert info.creation_timestamp is not None and info.creation_timestamp.tzinfo is timezone.utc


# --------------------------------------------------------------------------------------------------- retries

POLICY = RetryPolicy(max_attempts=4, initial=1.0, cap=8.0, max_wait=30.0)


def top(low: float, high: float) -> float:
    return high


def test_throttling_is_retried_for_every_operation_with_the_demanded_wait() -> None:
    error = RateLimitError("slow down", code=130429, retry_after=5.0)
    assert retry_wait(error, repeatable=False, attempt=1, policy=POLICY, rng=top) == 5.0
    too_long = RateLimitError("slow down", code=130429, retry_after=31.0)
    assert retry_wait(too_long, repeatable=True, attempt=1, policy=POLICY, rng=top) is None
    unknown_wait = RateLimitError("slow down", code=4)
    assert [retry_wait(unknown_wait, repeatable=False, attempt=n, policy=POLICY, rng=top) for n in (1, 2, 3, 4)] == [
        1.0,
        2.0,
        4.0,
        None,
    ]


def test_server_errors_are_retried_only_when_repeating_is_harmless() -> None:
    error = ServerError("boom", code=1, http_status=500)
    assert retry_wait(error, repeatable=True, attempt=1, policy=POLICY, rng=top) == 1.0
    assert retry_wait(error, repeatable=False, attempt=1, policy=POLICY, rng=top) is None
    dropped = TransportError("dropped")
    assert retry_wait(dropped, repeatable=False, attempt=1, policy=POLICY, rng=top) is None
    refused = TransportError("refused", before_send=True)
    assert retry_wait(refused, repeatable=False, attempt=1, policy=POLICY, rng=top) == 1.0
    assert retry_wait(InvalidRequestError("bad", code=100), repeatable=True, attempt=1, policy=POLICY) is None
    transient = APIError("odd", code=123, is_transient=True)
    assert retry_wait(transient, repeatable=True, attempt=1, policy=POLICY, rng=top) == 1.0


def test_backoff_bound_is_capped() -> None:
    assert [POLICY.backoff_bound(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert RetryPolicy() == RetryPolicy(max_attempts=5, initial=0.5, cap=30.0, max_wait=60.0)
    with pytest.raises(ClientValidationError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
