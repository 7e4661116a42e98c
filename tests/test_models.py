"""Models, the cattrs converter, the Paginator's own logic and the RetryPolicy validators, without any I/O."""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import cattrs
import pytest

from wa_groups._core.coerce import to_datetime
from wa_groups._core.retry import RetryPolicy, is_ambiguous, retry_wait
from wa_groups._graph import decode
from wa_groups._graph.convert import CONVERTER, make_converter
from wa_groups.errors import (
    APIError,
    AuthenticationError,
    ClientValidationError,
    InvalidRequestError,
    RateLimitError,
    ResponseError,
    ServerError,
    TransportError,
    WAGroupsError,
)
from wa_groups.models import (
    ErrorDetail,
    FailedJoinRequest,
    GroupInfo,
    GroupOperation,
    GroupSummary,
    JoinApprovalMode,
    JoinRequest,
    JoinRequestsResult,
    Page,
    Participant,
)
from wa_groups.paging import Paginator
from wa_groups.webhooks import GroupDeleted, OperationTracker, TrackedOperation, parse_webhook

UTC = timezone.utc
EPOCH_2025 = 1750269342  # 2025-06-18T17:55:42Z, the timestamp of Meta's webhook samples


# ------------------------------------------------------------------------------------------------- converter


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, None),
        (False, None),
        (EPOCH_2025, datetime.fromtimestamp(EPOCH_2025, UTC)),
        (float(EPOCH_2025) + 0.5, datetime.fromtimestamp(EPOCH_2025 + 0.5, UTC)),
        (str(EPOCH_2025), datetime.fromtimestamp(EPOCH_2025, UTC)),
        (" 1750269342 ", datetime.fromtimestamp(EPOCH_2025, UTC)),
        ("2025-06-18T17:55:42Z", datetime(2025, 6, 18, 17, 55, 42, tzinfo=UTC)),
        ("2025-06-18T17:55:42+00:00", datetime(2025, 6, 18, 17, 55, 42, tzinfo=UTC)),
        ("2025-06-18T17:55:42", datetime(2025, 6, 18, 17, 55, 42, tzinfo=UTC)),
        ("2025-06-18T19:55:42+02:00", datetime(2025, 6, 18, 19, 55, 42, tzinfo=timezone(timedelta(hours=2)))),
        ("soon", None),
        ("", None),
        ([EPOCH_2025], None),
        ({"t": 1}, None),
        (1e20, None),  # beyond datetime's range
        (float("inf"), None),
        (float("nan"), None),
        ("nan", None),
    ],
)
def test_to_datetime(value: Any, expected: datetime | None) -> None:
    result = to_datetime(value)
    assert result == expected
    if result is not None:
        assert result.tzinfo is not None


def test_to_datetime_keeps_aware_datetimes_and_makes_naive_ones_utc() -> None:
    aware = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5)))
    assert to_datetime(aware) is aware
    naive = datetime(2025, 1, 2, 3, 4, 5)
    assert to_datetime(naive) == naive.replace(tzinfo=UTC)


def test_required_strings_accept_numbers_and_refuse_the_rest() -> None:
    assert CONVERTER.structure({"id": 120363}, GroupSummary).id == "120363"
    assert CONVERTER.structure({"id": 1.5}, GroupSummary).id == "1.5"
    for bad in (True, None, [1], {"x": 1}):
        with pytest.raises(ResponseError, match="unexpected answer shape") as info:
            decode.structure({"id": bad}, GroupSummary, "list_groups")
        # The cattrs/TypeError detail is not chained into the library error.
        assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(ResponseError):
        decode.structure({"subject": "no id"}, GroupSummary, "list_groups")
    with pytest.raises(ResponseError):
        decode.structure("not an object", GroupSummary, "list_groups")


@pytest.mark.parametrize(
    ("value", "expected"), [("S", "S"), (5, "5"), (2.5, "2.5"), (None, None), (True, None), ([1], None), ({}, None)]
)
def test_optional_strings_are_lenient(value: Any, expected: str | None) -> None:
    assert CONVERTER.structure({"id": "G", "subject": value}, GroupSummary).subject == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7, 7), ("7", 7), (" 7 ", 7), (7.0, 7), (7.9, None), ("x", None), (None, None), (True, None), ([7], None)],
)
def test_optional_ints_are_lenient(value: Any, expected: int | None) -> None:
    assert (
        CONVERTER.structure({"id": "G", "total_participant_count": value}, GroupInfo).total_participant_count
        == expected
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (None, None),
        ("true", True),
        (" TRUE ", True),
        ("1", True),
        ("false", False),
        ("0", False),
        ("", None),  # one reading for every decoder: an empty string says nothing
        ("maybe", None),
        (1, True),
        (0, False),
        (0.0, False),
        ([True], None),
        ({"suspended": True}, None),
    ],
)
def test_optional_bools_are_lenient(value: Any, expected: bool | None) -> None:
    assert CONVERTER.structure({"id": "G", "suspended": value}, GroupInfo).suspended is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("approval_required", JoinApprovalMode.APPROVAL_REQUIRED),
        ("auto_approve", JoinApprovalMode.AUTO_APPROVE),
        ("invite_only_2027", "invite_only_2027"),
        (5, "5"),
        (None, None),
    ],
)
def test_join_approval_mode_keeps_unknown_values(value: Any, expected: Any) -> None:
    mode = CONVERTER.structure({"id": "G", "join_approval_mode": value}, GroupInfo).join_approval_mode
    assert mode == expected and type(mode) is type(expected)


def test_nested_models_and_timestamps_decode() -> None:
    info = CONVERTER.structure(
        {
            "id": "G",
            "creation_timestamp": str(EPOCH_2025),
            "participants": [{"wa_id": 16505551234, "user_id": "US.1", "username": "ann", "country_code": 1}],
        },
        GroupInfo,
    )
    assert info.creation_timestamp == datetime.fromtimestamp(EPOCH_2025, UTC)
    assert info.participants == (Participant(wa_id="16505551234", user_id="US.1", username="ann", country_code="1"),)
    request = CONVERTER.structure(
        {"join_request_id": 42, "wa_id": "1", "creation_timestamp": "2025-06-18T17:55:42Z"}, JoinRequest
    )
    assert request.join_request_id == "42" and request.creation_timestamp == datetime(
        2025, 6, 18, 17, 55, 42, tzinfo=UTC
    )


def test_make_converter_builds_a_private_converter() -> None:
    first, second = make_converter(), make_converter()
    assert first is not second and first is not cattrs.global_converter
    assert first.structure({"id": 1}, GroupSummary) == GroupSummary(id="1")
    # Registering on the library's converter leaves the global converter alone.
    assert cattrs.global_converter.structure(1, str) == "1"


# ---------------------------------------------------------------------------------------------------- models


@pytest.mark.parametrize(
    ("detail", "text"),
    [
        (ErrorDetail(), "error"),
        (ErrorDetail(code=131213), "(#131213) error"),
        (ErrorDetail(message="Join request does not exist"), "Join request does not exist"),
        (ErrorDetail(code=131213, message="Join request does not exist"), "(#131213) Join request does not exist"),
        (
            ErrorDetail(code=131213, message="(#131213) Join request does not exist"),
            "(#131213) Join request does not exist",
        ),
        (ErrorDetail(code=131213, title="Not found"), "(#131213) Not found"),
        (ErrorDetail(message="m", title="t"), "m"),
        (ErrorDetail(code=1, message="m", details="more"), "(#1) m: more"),
        (ErrorDetail(code=1, message="m: more", details="more"), "(#1) m: more"),
        (ErrorDetail(details="only details"), "error: only details"),
    ],
)
def test_error_detail_str(detail: ErrorDetail, text: str) -> None:
    assert str(detail) == text


def test_page_iterates_and_has_a_length() -> None:
    page = Page(items=("a", "b", "c"), before="B", after="A", has_next=True)
    assert list(page) == ["a", "b", "c"] and len(page) == 3
    assert [item for item in page] == list(page)  # iterable more than once
    empty: Page[str] = Page(items=())
    assert list(empty) == [] and len(empty) == 0 and not empty.has_next
    assert (empty.before, empty.after) == (None, None)
    with pytest.raises(AttributeError):
        page.after = "other"  # type: ignore[misc]


def test_join_approval_mode_str_is_the_wire_value() -> None:
    assert str(JoinApprovalMode.APPROVAL_REQUIRED) == "approval_required"
    assert f"{JoinApprovalMode.AUTO_APPROVE}" == "auto_approve"
    assert JoinApprovalMode("auto_approve") is JoinApprovalMode.AUTO_APPROVE


def test_join_requests_result_ok() -> None:
    assert JoinRequestsResult(succeeded=("a",)).ok
    assert not JoinRequestsResult().ok  # an answer naming no approved id proves nothing was done
    assert not JoinRequestsResult(failed=(FailedJoinRequest(join_request_id="b"),)).ok
    assert not JoinRequestsResult(errors=(ErrorDetail(code=1),)).ok


def test_group_operation_raw_is_neither_compared_nor_shown() -> None:
    first = GroupOperation(kind="create", request_id="R", raw={"request_id": "R", "extra": 1})
    second = GroupOperation(kind="create", request_id="R", raw={})
    assert first == second
    assert "extra" not in repr(first) and "tracker" not in repr(first)


async def test_group_operation_wait_needs_a_tracker_and_something_to_match() -> None:
    with pytest.raises(WAGroupsError, match="attach a WebhookReceiver"):
        await TrackedOperation(kind="create", request_id="R").wait()
    tracker = OperationTracker()
    with pytest.raises(WAGroupsError, match="no request_id"):
        await TrackedOperation(kind="settings", group_id="G", tracker=tracker).wait()


async def test_group_operation_wait_returns_the_matching_event() -> None:
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "group_lifecycle_update",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "1555", "phone_number_id": "2"},
                            "groups": [{"timestamp": str(EPOCH_2025), "group_id": "G", "type": "group_delete"}],
                        },
                    }
                ],
            }
        ],
    }
    tracker = OperationTracker()
    tracker.feed(parse_webhook(json.dumps(envelope).encode()))
    # A delete without request_id is matched by group id.
    event = await TrackedOperation(kind="delete", group_id="G", tracker=tracker).wait(timeout=None)
    assert isinstance(event, GroupDeleted) and event.group_id == "G"


# ---------------------------------------------------------------------------------------------------- paging


def scripted(
    *pages: Page[str], wants: list[int | None] | None = None
) -> tuple[Callable[[str | None, int | None], Awaitable[Page[str]]], list[str | None]]:
    """Return a fetch function answering ``pages`` in order, and the list of cursors it was called with."""
    asked: list[str | None] = []
    remaining = list(pages)

    async def fetch(cursor: str | None, want: int | None) -> Page[str]:
        asked.append(cursor)
        if wants is not None:
            wants.append(want)
        assert remaining, "the paginator asked for a page after the last one"
        return remaining.pop(0)

    return fetch, asked


@pytest.mark.parametrize("after", ["", 5, b"c"])
def test_paginator_refuses_bad_after(after: Any) -> None:
    fetch, _ = scripted()
    with pytest.raises(ClientValidationError, match="after") as info:
        Paginator(fetch, after=after)
    assert info.value.argument == "after"


@pytest.mark.parametrize("max_items", [-1, True, False, 2.0, "3"])
def test_paginator_refuses_bad_max_items(max_items: Any) -> None:
    fetch, _ = scripted()
    with pytest.raises(ClientValidationError, match="max_items") as info:
        Paginator(fetch, max_items=max_items)
    assert info.value.argument == "max_items"


async def test_max_items_zero_fetches_nothing() -> None:
    fetch, asked = scripted()
    assert [item async for item in Paginator(fetch, max_items=0)] == []
    assert [page async for page in Paginator(fetch, max_items=0).pages()] == []
    assert asked == []


async def test_next_without_cursor_from_a_custom_fetch_ends_the_listing() -> None:
    # The decoders refuse such a page; a hand-written fetch may still produce one: stop rather than restart.
    fetch, asked = scripted(Page(items=("a",), has_next=True, after=None))
    assert [item async for item in Paginator(fetch)] == ["a"]
    assert asked == [None]


async def test_max_items_asks_for_no_more_than_it_needs() -> None:
    wants: list[int | None] = []
    fetch, asked = scripted(
        Page(items=("a", "b"), after="c1", has_next=True),
        Page(items=("c",), before="b2", after="c2", has_next=True),
        wants=wants,
    )
    pages = [page async for page in Paginator(fetch, max_items=3).pages()]
    assert [list(page) for page in pages] == [["a", "b"], ["c"]]
    # The last page is whole, so its cursor resumes exactly after the items yielded.
    assert (pages[1].before, pages[1].after, pages[1].has_next) == ("b2", "c2", True)
    assert asked == [None, "c1"] and wants == [3, 1]


async def test_a_page_longer_than_asked_is_cut_and_cannot_be_resumed() -> None:
    fetch, _ = scripted(Page(items=("a", "b", "c"), before="b1", after="c1", has_next=True))
    pages = [page async for page in Paginator(fetch, max_items=2).pages()]
    assert [list(page) for page in pages] == [["a", "b"]]
    assert (pages[0].before, pages[0].after, pages[0].has_next) == ("b1", None, False)


async def test_a_paginator_can_be_iterated_again() -> None:
    fetch, asked = scripted(Page(items=("a",)), Page(items=("a",)))
    paginator = Paginator(fetch, after="start")
    assert [item async for item in paginator] == ["a"]
    assert [item async for item in paginator] == ["a"]
    assert asked == ["start", "start"]


async def test_resume_cursor_counts_as_seen() -> None:
    from wa_groups.errors import PaginationError

    fetch, asked = scripted(Page(items=("a",), after="start", has_next=True))
    with pytest.raises(PaginationError, match="'start' twice"):
        [item async for item in Paginator(fetch, after="start")]
    assert asked == ["start"]


# --------------------------------------------------------------------------------------------------- retries


@pytest.mark.parametrize("name", ["initial", "cap", "max_wait"])
def test_retry_policy_refuses_negative_durations(name: str) -> None:
    negative: dict[str, Any] = {name: -0.1}
    with pytest.raises(ClientValidationError, match=f"RetryPolicy.{name} must be a number >= 0") as info:
        RetryPolicy(**negative)
    assert info.value.argument == name
    zero: dict[str, Any] = {name: 0}
    assert getattr(RetryPolicy(**zero), name) == 0


@pytest.mark.parametrize("attempts", [0, -1, 1.5, "3", None])
def test_retry_policy_refuses_bad_attempts(attempts: Any) -> None:
    with pytest.raises(ClientValidationError, match="max_attempts") as info:
        RetryPolicy(max_attempts=attempts)
    assert info.value.argument == "max_attempts"


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"initial": math.nan}, id="initial-nan"),
        pytest.param({"cap": math.nan}, id="cap-nan"),
        pytest.param({"max_wait": math.nan}, id="max_wait-nan"),
        pytest.param({"max_attempts": True}, id="max_attempts-bool"),
    ],
)
def test_retry_policy_refuses_nan_and_bool(kwargs: dict[str, Any]) -> None:
    try:
        RetryPolicy(**kwargs)
    except ClientValidationError:
        return
    raise AssertionError(f"RetryPolicy({kwargs}) was accepted")


def test_retry_policy_refuses_non_numbers_with_a_validation_error() -> None:
    with pytest.raises(ClientValidationError, match="initial"):
        RetryPolicy(initial="0.5")  # type: ignore[arg-type]


def test_retry_policy_is_frozen_and_compares_without_sleep() -> None:
    async def sleep(seconds: float) -> None:
        return None

    assert RetryPolicy(sleep=sleep) == RetryPolicy()
    assert "sleep" not in repr(RetryPolicy(sleep=sleep))
    with pytest.raises(AttributeError):
        RetryPolicy().max_attempts = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("error", "ambiguous"),
    [
        (RateLimitError("slow", code=130429, http_status=400), False),
        (RateLimitError("slow", http_status=503), False),
        (TransportError("refused", before_send=True), False),
        (TransportError("dropped"), True),
        (ResponseError("html", http_status=None), True),
        (ResponseError("html", http_status=502), True),
        (ResponseError("html", http_status=400), False),
        (ServerError("boom", code=1, http_status=500), True),
        (APIError("odd", code=123, is_transient=True), True),
        (InvalidRequestError("bad", code=100, http_status=400), False),
        (AuthenticationError("who", code=190, http_status=401), False),
        (WAGroupsError("plain"), False),
        (ClientValidationError("arg"), False),
    ],
)
def test_is_ambiguous(error: WAGroupsError, ambiguous: bool) -> None:
    assert is_ambiguous(error) is ambiguous


def test_demanded_wait_stops_at_max_attempts_and_is_never_negative() -> None:
    policy = RetryPolicy(max_attempts=3, max_wait=10.0)
    demanded = RateLimitError("slow", code=4, retry_after=2.0)
    assert retry_wait(demanded, repeatable=True, attempt=2, policy=policy) == 2.0
    assert retry_wait(demanded, repeatable=True, attempt=3, policy=policy) is None
    negative = RateLimitError("slow", code=4, retry_after=-5.0)
    assert retry_wait(negative, repeatable=True, attempt=1, policy=policy) == 0.0
    at_limit = RateLimitError("slow", code=4, retry_after=10.0)
    assert retry_wait(at_limit, repeatable=False, attempt=1, policy=policy) == 10.0


def test_response_errors_are_retried_only_when_server_side_and_repeatable() -> None:
    policy = RetryPolicy(max_attempts=3, initial=1.0)
    top: Callable[[float, float], float] = lambda low, high: high  # noqa: E731
    html_502 = ResponseError("html", http_status=502)
    assert html_502.retryable
    assert retry_wait(html_502, repeatable=True, attempt=1, policy=policy, rng=top) == 1.0
    assert retry_wait(html_502, repeatable=False, attempt=1, policy=policy, rng=top) is None
    assert retry_wait(ResponseError("html", http_status=400), repeatable=True, attempt=1, policy=policy) is None


# ------------------------------------------------------------------------------------------------ identities


def test_user_ref_fields_are_all_optional_and_key_prefers_the_phone() -> None:
    from wa_groups.models import UserRef

    assert UserRef().key is None
    assert UserRef(user_id="US.1", input="+1 650").key == "US.1"
    assert UserRef(wa_id="16505551234", user_id="US.1").key == "16505551234"
    assert UserRef(input="US.9").key == "US.9"
    participant = Participant(wa_id="1", user_id="US.1", username="ana", country_code="US")
    assert isinstance(participant, UserRef)
    assert participant.user_ref() == UserRef(wa_id="1", user_id="US.1", username="ana")


def test_group_info_and_join_requests_keep_bsuid_fields() -> None:
    info = decode.decode_group_info(
        {
            "id": "G",
            "participants": [
                {"user_id": "US.13491208655302741918", "parent_user_id": "US.ENT.1", "username": "ana"},
                {"wa_id": "16505551234"},
            ],
        }
    )
    assert info.participants is not None
    first, second = info.participants
    assert (first.wa_id, first.user_id, first.parent_user_id, first.username) == (
        None,
        "US.13491208655302741918",
        "US.ENT.1",
        "ana",
    )
    assert second.wa_id == "16505551234" and second.user_id is None
    page = decode.decode_join_requests_page(
        {"data": [{"join_request_id": "J", "user_id": "US.5", "username": "bob", "creation_timestamp": 1770000000}]}
    )
    (request,) = page.items
    assert isinstance(request, JoinRequest)
    assert (request.wa_id, request.user_id, request.username) == (None, "US.5", "bob")
    legacy = decode.decode_join_requests_page({"data": [{"join_request_id": "J", "wa_id": "16505551234"}]})
    assert legacy.items[0].wa_id == "16505551234" and legacy.items[0].user_id is None


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (  # Meta's pin sample: the group id echoed in both input and wa_id
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": "Y2FwaV9ncm91cDo", "wa_id": "Y2FwaV9ncm91cDo"}],
                "messages": [{"id": "wamid.HBgLM"}],
            },
            {"message_id": "wamid.HBgLM", "input": "Y2FwaV9ncm91cDo", "wa_id": "Y2FwaV9ncm91cDo"},
        ),
        (  # after the BSUID change: no wa_id; a status; a group_id some peers model
            {
                "contacts": [{"input": "G"}],
                "messages": [{"id": "wamid.X", "message_status": "accepted", "group_id": "G2"}],
            },
            {"message_id": "wamid.X", "input": "G", "wa_id": None, "message_status": "accepted", "group_id": "G2"},
        ),
        ({"messages": [{"id": "wamid.Y"}]}, {"message_id": "wamid.Y", "group_id": "G", "input": None}),
    ],
)
def test_group_send_answers_decode(answer: dict[str, Any], expected: dict[str, Any]) -> None:
    from wa_groups._graph.messages import decode_group_send

    sent = decode_group_send(answer, "G", "send_message")
    for name, value in expected.items():
        assert getattr(sent, name) == value, name
    if "group_id" not in expected:
        assert sent.group_id == "G"


@pytest.mark.parametrize("answer", [{}, {"messages": []}, {"messages": [{"id": ""}]}, [], "ok"])
def test_a_group_send_answer_without_a_message_id_is_a_response_error(answer: Any) -> None:
    from wa_groups._graph.messages import decode_group_send

    with pytest.raises(ResponseError, match=r"message id|JSON object"):
        decode_group_send(answer, "G", "send_message")
