from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wa_groups.errors import APIError, ClientValidationError, InvalidRequestError, NotFoundError
from wa_groups.webhooks import (
    OPERATION_KINDS,
    EventError,
    EventParticipant,
    FailedParticipant,
    GroupCreated,
    GroupCreateFailed,
    GroupDeleted,
    GroupDeleteFailed,
    GroupSuspended,
    OperationTracker,
    ParticipantsAdded,
    ParticipantsRemoved,
    SettingResult,
    SettingsUpdated,
    UnknownEvent,
    operation_kind,
    outcome_error,
    parse_webhook,
)

GROUP = "group-1"


def removed(**kwargs: Any) -> ParticipantsRemoved:
    return ParticipantsRemoved(group_id=kwargs.pop("group_id", GROUP), **kwargs)


async def test_event_before_wait_is_not_lost() -> None:
    tracker = OperationTracker()
    event = GroupCreated(request_id="r1", group_id="new-group")
    tracker.feed([event])
    assert await tracker.wait(request_id="r1", kind="create", timeout=0) is event
    # Waiting twice for the same request gives the same answer.
    assert await tracker.wait(request_id="r1", kind="create", timeout=0) is event


async def test_wait_then_event_resolves_every_waiter_of_the_request() -> None:
    tracker = OperationTracker()
    first = asyncio.create_task(tracker.wait(request_id="r1", kind="create", timeout=None))
    second = asyncio.create_task(tracker.wait(request_id="r1", kind="create", timeout=None))
    await asyncio.sleep(0)
    event = GroupCreated(request_id="r1", group_id="g")
    tracker.feed([GroupCreated(request_id="other", group_id="x"), event])
    assert await first is event
    assert await second is event
    assert "waiting=0" in repr(tracker)


async def test_match_by_group_and_kind_without_request_id() -> None:
    tracker = OperationTracker()
    waiter = asyncio.create_task(tracker.wait(group_id=GROUP, kind="delete", timeout=None))
    await asyncio.sleep(0)
    # Events of another kind or group do not match.
    tracker.feed([GroupSuspended(group_id=GROUP), GroupDeleted(group_id="other"), removed(request_id="x")])
    await asyncio.sleep(0)
    assert not waiter.done()
    # The delete webhook carries a request id the DELETE answer never announced: it still matches by group.
    event = GroupDeleted(group_id=GROUP, request_id="server-side-id")
    tracker.feed([event])
    assert await waiter is event


async def test_group_waiters_are_served_in_order() -> None:
    tracker = OperationTracker()
    first = asyncio.create_task(tracker.wait(group_id=GROUP, kind="participants_remove", timeout=None))
    second = asyncio.create_task(tracker.wait(group_id=GROUP, kind="participants_remove", timeout=None))
    await asyncio.sleep(0)
    a = removed(removed_participants=(EventParticipant(input="1"),))
    b = removed(removed_participants=(EventParticipant(input="2"),))
    tracker.feed([a, b])
    assert await first is a
    assert await second is b


async def test_buffered_group_events_are_taken_oldest_first_and_once() -> None:
    tracker = OperationTracker()
    a = SettingsUpdated(group_id=GROUP, subject=SettingResult(text="a"))
    b = SettingsUpdated(group_id=GROUP, subject=SettingResult(text="b"))
    tracker.feed([a, b])
    assert await tracker.wait(group_id=GROUP, kind="settings", timeout=0) is a
    assert await tracker.wait(group_id=GROUP, kind="settings", timeout=0) is b
    with pytest.raises(asyncio.TimeoutError):
        await tracker.wait(group_id=GROUP, kind="settings", timeout=0)


async def test_event_taken_by_request_is_not_given_to_a_group_waiter() -> None:
    tracker = OperationTracker()
    event = GroupDeleted(group_id=GROUP, request_id="r9")
    tracker.feed([event, event])  # the second is a redelivery
    assert await tracker.wait(request_id="r9", kind="delete", timeout=0) is event
    with pytest.raises(asyncio.TimeoutError):
        await tracker.wait(group_id=GROUP, kind="delete", timeout=0)


async def test_users_leaving_or_joining_are_not_operation_outcomes() -> None:
    tracker = OperationTracker()
    tracker.feed(
        [
            removed(initiated_by="participant", removed_participants=(EventParticipant(wa_id="1"),)),
            ParticipantsAdded(group_id=GROUP, reason="invite_link", added_participants=(EventParticipant(wa_id="2"),)),
        ]
    )
    with pytest.raises(asyncio.TimeoutError):
        await tracker.wait(group_id=GROUP, kind="participants_remove", timeout=0)
    with pytest.raises(asyncio.TimeoutError):
        await tracker.wait(group_id=GROUP, kind="participants_add", timeout=0)


async def test_failure_raises_api_error_from_the_first_error() -> None:
    tracker = OperationTracker()
    tracker.feed(
        [
            GroupCreateFailed(
                request_id="r1",
                errors=(
                    EventError(code=131211, message="Group create limit", title="T", details="D"),
                    EventError(code=1, message="second"),
                ),
            )
        ]
    )
    with pytest.raises(InvalidRequestError) as caught:
        await tracker.wait(request_id="r1", kind="create", timeout=0)
    error = caught.value
    assert (error.code, error.message, error.title, error.details) == (131211, "Group create limit", "T", "D")
    assert error.http_status is None


async def test_failure_reported_while_waiting() -> None:
    tracker = OperationTracker()
    waiter = asyncio.create_task(tracker.wait(group_id=GROUP, kind="delete", timeout=None))
    await asyncio.sleep(0)
    tracker.feed(parse_webhook(_delete_failed_payload()))
    with pytest.raises(NotFoundError) as caught:
        await waiter
    assert caught.value.code == 131041


def _delete_failed_payload() -> dict[str, Any]:
    group = {
        "timestamp": "1750269342",
        "group_id": GROUP,
        "type": "group_delete",
        "request_id": "d1",
        "errors": [{"code": "131041", "message": "Group unknown", "title": "Unknown group"}],
    }
    value = {"metadata": {"phone_number_id": "1"}, "groups": [group]}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "w", "changes": [{"field": "group_lifecycle_update", "value": value}]}],
    }


def test_outcome_error_rules() -> None:
    fail = (EventError(code=131212, message="not in group"),)
    assert outcome_error(GroupCreated()) is None
    assert outcome_error(GroupDeleted()) is None
    assert isinstance(outcome_error(GroupDeleteFailed(errors=fail)), InvalidRequestError)
    # Partial removal: success, the event tells which participants failed.
    partial = removed(
        removed_participants=(EventParticipant(input="1"),),
        failed_participants=(FailedParticipant(input="2", errors=fail),),
    )
    assert outcome_error(partial) is None
    # Nobody removed: failure, from the participants' errors.
    none_removed = removed(failed_participants=(FailedParticipant(input="2", errors=fail),))
    assert isinstance(outcome_error(none_removed), InvalidRequestError)
    assert isinstance(outcome_error(removed(errors=fail)), InvalidRequestError)
    # Settings: partial success is success; every setting failing or request-wide errors is failure.
    ok = SettingResult(text="s", update_successful=True)
    bad = SettingResult(mime_type="image/png", update_successful=False, errors=fail)
    assert outcome_error(SettingsUpdated(subject=ok, profile_picture=bad)) is None
    assert isinstance(outcome_error(SettingsUpdated(profile_picture=bad)), InvalidRequestError)
    assert isinstance(outcome_error(SettingsUpdated(errors=fail)), InvalidRequestError)
    # A failure with no error items still raises.
    silent = outcome_error(SettingsUpdated(subject=SettingResult(text="s", update_successful=False)))
    assert type(silent) is APIError
    assert "settings" in str(silent)
    # Unknown codes give the base class.
    assert type(outcome_error(GroupDeleteFailed(errors=(EventError(code=999999999),)))) is APIError


async def test_timeout_raises_and_forgets_the_waiter() -> None:
    tracker = OperationTracker()
    with pytest.raises(asyncio.TimeoutError):
        await tracker.wait(request_id="never", kind="create", timeout=0)
    with pytest.raises(asyncio.TimeoutError):
        await tracker.wait(group_id=GROUP, kind="delete", timeout=0)
    assert "waiting=0" in repr(tracker)
    # An event arriving after the timeout is kept for the next wait.
    event = GroupDeleted(group_id=GROUP)
    tracker.feed([event])
    assert await tracker.wait(group_id=GROUP, kind="delete", timeout=0) is event


async def test_cancelled_wait_does_not_swallow_the_event() -> None:
    tracker = OperationTracker()
    waiter = asyncio.create_task(tracker.wait(group_id=GROUP, kind="delete", timeout=None))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    event = GroupDeleted(group_id=GROUP)
    tracker.feed([event])
    assert await tracker.wait(group_id=GROUP, kind="delete", timeout=0) is event


async def test_buffer_is_bounded() -> None:
    tracker = OperationTracker(max_buffered=2)
    events = [GroupDeleted(group_id=f"g{i}", request_id=f"r{i}") for i in range(3)]
    tracker.feed(events)
    with pytest.raises(asyncio.TimeoutError):
        await tracker.wait(group_id="g0", kind="delete", timeout=0)
    with pytest.raises(asyncio.TimeoutError):
        await tracker.wait(request_id="r0", kind="delete", timeout=0)
    assert await tracker.wait(group_id="g1", kind="delete", timeout=0) is events[1]
    assert await tracker.wait(request_id="r2", kind="delete", timeout=0) is events[2]


async def test_unknown_event_with_a_request_id_answers_the_request() -> None:
    tracker = OperationTracker()
    event = UnknownEvent(field="group_lifecycle_update", type="group_create_v2", request_id="r5")
    tracker.feed([event])
    assert await tracker.wait(request_id="r5", kind="create", timeout=0) is event


async def test_bad_wait_arguments() -> None:
    tracker = OperationTracker()
    with pytest.raises(ClientValidationError):
        await tracker.wait(request_id="r", kind="explode", timeout=0)
    with pytest.raises(ClientValidationError):
        await tracker.wait(kind="create", timeout=0)
    with pytest.raises(ClientValidationError):
        OperationTracker(max_buffered=0)


def test_operation_kinds() -> None:
    assert set(OPERATION_KINDS) == {"create", "delete", "participants_remove", "participants_add", "settings"}
    assert operation_kind(GroupCreateFailed()) == "create"
    assert operation_kind(GroupDeleteFailed()) == "delete"
    assert operation_kind(ParticipantsAdded()) == "participants_add"
    assert operation_kind(removed()) == "participants_remove"
    assert operation_kind(SettingsUpdated()) == "settings"
    assert operation_kind(GroupSuspended()) is None
