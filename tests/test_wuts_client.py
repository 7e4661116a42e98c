"""WutsClient against FakeWutsAPI over real loopback HTTP: every endpoint, request shapes, errors, retries, bulk."""

from __future__ import annotations

import logging
import struct
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import SleepRecorder

from wa_groups import (
    AuthenticationError,
    ClientValidationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseError,
    RetryPolicy,
    ServerError,
    WAGroupsError,
)
from wa_groups.bulk import BulkProgress, BulkResult
from wa_groups.errors import DeviceNotReadyError
from wa_groups.testing import FakeWutsAPI, Fault, WutsFault
from wa_groups.wuts import (
    GroupParticipant,
    MemberAddMode,
    ParticipantAction,
    WutsClient,
    validation_errors,
)

A = "5511911110001@s.whatsapp.net"
B = "5511911110002@s.whatsapp.net"
C = "5511911110003@s.whatsapp.net"


def jpeg(side: int = 640) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, side, side, 1) + b"\x01\x11\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", 4) + b"\x00\x00" + sof + b"\xff\xd9"


def last(fake: FakeWutsAPI) -> Any:
    return fake.requests[-1]


@pytest.fixture
async def fake() -> AsyncIterator[FakeWutsAPI]:
    async with FakeWutsAPI() as server:
        yield server


@pytest.fixture
async def client(fake: FakeWutsAPI, policy: RetryPolicy) -> AsyncIterator[WutsClient]:
    async with fake.client(retry=policy) as wuts_client:
        yield wuts_client


# ------------------------------------------------------------------------------------------------- groups


async def test_create_group_sends_the_documented_body(fake: FakeWutsAPI, client: WutsClient) -> None:
    group = await client.create_group(
        "  Book club ", ["+55 (11) 91111-0001", B, "9988@lid"], announcement=True, join_approval=False
    )
    sent = last(fake)
    assert (sent.method, sent.path, sent.status) == ("POST", "/groups", 201)
    assert sent.json == {
        "name": "Book club",
        "participants": [A, B, "9988@lid"],
        "options": {"announcement": True, "join_approval": False},
    }
    assert sent.headers["Authorization"] == f"Bearer {fake.token}"
    assert sent.query == {}
    assert group.jid in fake.groups and group.name == "Book club" and group.is_announce is True
    assert group.members_count == 4 and group.participants is not None
    creator = group.participants[0]
    assert (creator.jid, creator.is_admin, creator.is_super_admin) == (fake.device_jid, True, True)
    assert GroupParticipant(jid="9988@lid") in group.participants
    assert group.created_at is not None and group.created_at.tzinfo is not None


async def test_create_group_options_community_and_parent(fake: FakeWutsAPI, client: WutsClient) -> None:
    parent = await client.create_group("Parent", [A], community=True, locked=True)
    assert fake.groups[parent.jid].is_community and fake.groups[parent.jid].locked
    child = await client.create_group("Child", [B], parent_jid=parent.jid.split("@")[0])
    assert last(fake).json["options"] == {"parent_jid": parent.jid}
    assert fake.groups[child.jid].parent_jid == parent.jid


async def test_list_and_get(fake: FakeWutsAPI, client: WutsClient) -> None:
    first = fake.add_group("One", participants=[A], admins=[A])
    fake.add_group("Not mine", device_member=False)
    groups = [group async for group in client.iter_groups()]
    assert [g.jid for g in groups] == [first]
    assert groups[0].participants is None and groups[0].members_count == 2
    info = await client.get_group(first)
    assert (last(fake).method, last(fake).path) == ("GET", f"/groups/{first}")
    assert info.participants is not None and {p.jid for p in info.admins} == {fake.device_jid, A}


async def test_update_group_patches_only_the_fields_given(fake: FakeWutsAPI, client: WutsClient) -> None:
    jid = fake.add_group("Old")
    group = await client.update_group(
        jid, name="New", topic="About us", member_add_mode=MemberAddMode.ADMIN, locked=True, join_approval=True
    )
    sent = last(fake)
    assert (sent.method, sent.path) == ("PATCH", f"/groups/{jid}")
    assert sent.json == {
        "name": "New",
        "topic": "About us",
        "locked": True,
        "join_approval": True,
        "member_add_mode": "admin",
    }
    assert (group.name, group.topic, group.is_locked, group.join_approval) == ("New", "About us", True, True)
    await client.update_group(jid, description="Described", announcement=True)
    assert last(fake).json == {"description": "Described", "announcement": True}
    assert fake.groups[jid].topic == "Described" and fake.groups[jid].announce
    with pytest.raises(ClientValidationError, match="at least one"):
        await client.update_group(jid)
    with pytest.raises(ClientValidationError, match="True or False"):
        await client.update_group(jid, locked="yes")  # type: ignore[arg-type]


async def test_leave_group(fake: FakeWutsAPI, client: WutsClient) -> None:
    jid = fake.add_group("Bye", participants=[A])
    await client.leave_group(jid)
    assert (last(fake).method, last(fake).path) == ("DELETE", f"/groups/{jid}/leave")
    assert fake.device_jid not in fake.groups[jid].members
    with pytest.raises(PermissionDeniedError):
        await client.get_group(jid)


# ------------------------------------------------------------------------------------------- participants


async def test_add_and_remove_participants(fake: FakeWutsAPI, client: WutsClient) -> None:
    jid = fake.add_group("Team")
    added = await client.add_participants(jid, ["+55 11 91111-0001", "5511911110002", "1234@lid"])
    sent = last(fake)
    assert (sent.method, sent.path) == ("POST", f"/groups/{jid}/participants")
    assert sent.json == {"participants": [A, B, "1234@lid"], "action": "add"}
    assert added.action is ParticipantAction.ADD
    assert [p.jid for p in added] == [A, B, "1234@lid"] and len(added) == 3
    assert set(fake.groups[jid].members) == {fake.device_jid, A, B, "1234@lid"}
    removed = await client.remove_participants(jid, [A])
    sent = last(fake)
    assert (sent.method, sent.json) == ("DELETE", {"participants": [A], "action": "remove"})
    assert [p.jid for p in removed] == [A] and A not in fake.groups[jid].members


async def test_promote_and_demote_use_the_action_override(fake: FakeWutsAPI, client: WutsClient) -> None:
    jid = fake.add_group("Admins", participants=[A, B])
    promoted = await client.promote_participants(jid, [A, "+55 11 91111-0002"])
    sent = last(fake)
    assert (sent.method, sent.path, sent.json) == (
        "POST",
        f"/groups/{jid}/participants",
        {"participants": [A, B], "action": "promote"},
    )
    assert [(p.jid, p.is_admin) for p in promoted] == [(A, True), (B, True)]
    demoted = await client.demote_participants(jid, [B])
    assert last(fake).json == {"participants": [B], "action": "demote"}
    assert [(p.jid, p.is_admin) for p in demoted] == [(B, False)]
    assert fake.groups[jid].members[A].is_admin and not fake.groups[jid].members[B].is_admin


async def test_participants_are_checked_before_sending(fake: FakeWutsAPI, client: WutsClient) -> None:
    jid = fake.add_group("Checks")
    before = len(fake.requests)
    for bad in (["12"], [], "5511911110001", ["+55 11 91111-0001", A], [None]):
        with pytest.raises(ClientValidationError):
            await client.add_participants(jid, bad)  # type: ignore[arg-type]
    with pytest.raises(ClientValidationError, match="group JID"):
        await client.add_participants("not-a-group", [A])
    assert len(fake.requests) == before


# -------------------------------------------------------------------------------------- invite and join


async def test_invite_link_get_and_reset(fake: FakeWutsAPI, client: WutsClient) -> None:
    jid = fake.add_group("Links")
    link = await client.get_invite_link(jid)
    assert (last(fake).method, last(fake).path) == ("GET", f"/groups/{jid}/invite")
    assert str(link) == fake.groups[jid].invite_link and link.group_jid == jid and link.reset_at is None
    assert link.code == fake.groups[jid].invite_code
    fresh = await client.reset_invite_link(jid)
    assert (last(fake).method, last(fake).path) == ("POST", f"/groups/{jid}/invite/reset")
    assert fresh.invite_link != link.invite_link and fresh.invite_link == fake.groups[jid].invite_link
    assert fresh.reset_at is not None


async def test_join_by_link_and_by_code(fake: FakeWutsAPI, client: WutsClient) -> None:
    open_group = fake.add_group("Open", device_member=False, device_admin=False)
    joined = await client.join_group(fake.groups[open_group].invite_code)
    assert last(fake).json == {"link": fake.groups[open_group].invite_link}
    assert (joined.group_jid, joined.pending_approval) == (open_group, False)
    assert fake.device_jid in fake.groups[open_group].members
    closed = fake.add_group("Closed", device_member=False, device_admin=False, join_approval=True)
    target = fake.groups[closed]
    result = await client.join_group(code=target.invite_code, group_id=closed, inviter_jid=target.owner)
    assert last(fake).json == {"code": target.invite_code, "group_jid": closed, "inviter_jid": target.owner}
    assert result.pending_approval and target.pending == [fake.device_jid]
    with pytest.raises(ClientValidationError):
        await client.join_group()
    with pytest.raises(ClientValidationError):
        await client.join_group(target.invite_link, code="x")
    with pytest.raises(NotFoundError):
        await client.join_group("https://chat.whatsapp.com/RevokedOrUnknown1234")


# ------------------------------------------------------------------------------------------------ settings


async def test_set_ephemeral(fake: FakeWutsAPI, client: WutsClient) -> None:
    jid = fake.add_group("Vanishing")
    assert await client.set_ephemeral(jid, timedelta(days=90)) == 7776000
    assert (last(fake).method, last(fake).path, last(fake).json) == (
        "PUT",
        f"/groups/{jid}/ephemeral",
        {"duration_seconds": 7776000},
    )
    assert await client.set_ephemeral(jid, 0) == 0 and fake.groups[jid].ephemeral == 0
    with pytest.raises(ClientValidationError):
        await client.set_ephemeral(jid, 3600)


async def test_set_group_picture_from_bytes_and_path(fake: FakeWutsAPI, client: WutsClient, tmp_path: Path) -> None:
    jid = fake.add_group("Pictured")
    picture_id = await client.set_group_picture(jid, jpeg())
    assert picture_id and fake.groups[jid].picture == jpeg()
    assert (last(fake).method, last(fake).path) == ("POST", f"/groups/{jid}/picture")
    assert set(last(fake).json) == {"image_base64"}
    path = tmp_path / "p.jpg"
    path.write_bytes(jpeg(200))
    await client.set_group_picture(jid, path)
    assert fake.groups[jid].picture == jpeg(200)
    with pytest.raises(ClientValidationError, match="JPEG"):
        await client.set_group_picture(jid, b"GIF89a")


# --------------------------------------------------------------------------------------------- communities


async def test_communities(fake: FakeWutsAPI, client: WutsClient) -> None:
    community = await client.create_community("Neighbours")
    assert (last(fake).path, last(fake).json) == ("/communities", {"name": "Neighbours", "participants": []})
    assert community.jid is not None and community.name == "Neighbours"
    state = fake.groups[community.jid]
    assert state.is_community and community.raw["announcement_group_jid"] == state.announcement_group_jid
    added = await client.add_community_participants(community.jid, ["+55 11 91111-0001", B])
    sent = last(fake)
    assert (sent.method, sent.path, sent.json) == (
        "POST",
        f"/communities/{community.jid}/participants",
        {"participants": [A, B]},
    )
    assert added.jid == community.jid and [p.jid for p in added] == [A, B]
    assert state.announcement_group_jid is not None and A in fake.groups[state.announcement_group_jid].members
    removed = await client.remove_community_participants(community.jid, [B])
    assert last(fake).method == "DELETE" and [p.jid for p in removed] == [B]
    assert B not in state.members


async def test_link_and_unlink_a_group(fake: FakeWutsAPI, client: WutsClient) -> None:
    community = fake.add_group("Community", community=True)
    group = fake.add_group("Child")
    await client.link_group(community, group)
    sent = last(fake)
    assert (sent.method, sent.path, sent.json) == ("POST", f"/communities/{community}/groups", {"group_jid": group})
    assert fake.groups[group].parent_jid == community
    await client.unlink_group(community, group)
    assert last(fake).method == "DELETE" and fake.groups[group].parent_jid is None
    with pytest.raises(InvalidRequestError):  # 409: not linked any more
        await client.unlink_group(community, group)


# -------------------------------------------------------------------------------------------------- errors


async def test_wrong_token_quickstart_envelope(fake: FakeWutsAPI, policy: RetryPolicy) -> None:
    async with WutsClient("0" * 36, base_url=fake.base_url, retry=policy) as client:
        with pytest.raises(AuthenticationError) as caught:
            [group async for group in client.iter_groups()]
    assert caught.value.http_status == 401 and caught.value.type is None
    assert len(fake.requests) == 1


async def test_bearer_scheme_is_optional_but_the_token_is_not(fake: FakeWutsAPI) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fake.base_url}/groups", headers={"Authorization": fake.token}) as response:
            assert response.status == 200
        async with session.get(f"{fake.base_url}/groups?token={fake.token}") as response:
            body = await response.json()
    assert response.status == 401 and body["error_code"] == "UNAUTHORIZED" and body["success"] is False


async def test_403_when_the_device_is_not_an_admin(fake: FakeWutsAPI, client: WutsClient) -> None:
    jid = fake.add_group("Read only", device_admin=False)
    with pytest.raises(PermissionDeniedError) as caught:
        await client.promote_participants(jid, [A])
    assert caught.value.type == "FORBIDDEN" and caught.value.operation == "promote_participants"


async def test_404_unknown_group(fake: FakeWutsAPI, client: WutsClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        await client.get_group("120363000000000001@g.us")
    assert caught.value.http_status == 404 and caught.value.type == "NOT_FOUND"


async def test_400_validation_error_from_the_server(fake: FakeWutsAPI, client: WutsClient) -> None:
    jid = fake.add_group("Modes")
    with pytest.raises(InvalidRequestError) as caught:
        await client.update_group(jid, member_add_mode="everybody")  # passed through, refused by WUTS
    error = caught.value
    assert error.type == "VALIDATION_ERROR" and error.http_status == 400
    (issue,) = validation_errors(error)
    assert (issue.field, issue.value) == ("member_add_mode", "everybody")
    assert "member_add_mode" in str(error)


async def test_device_not_ready_is_retried_for_repeatable_calls(
    fake: FakeWutsAPI, client: WutsClient, sleeps: SleepRecorder
) -> None:
    jid = fake.add_group("Waiting")
    fake.add_fault(WutsFault(status=503, error_code="DEVICE_NOT_READY", times=2))
    assert (await client.get_group(jid)).jid == jid
    assert len(sleeps.waits) == 2 and [r.status for r in fake.requests] == [503, 503, 200]


async def test_device_not_ready_everywhere(fake: FakeWutsAPI, sleeps: SleepRecorder) -> None:
    fake.device_ready = False
    async with fake.client(retry=RetryPolicy(max_attempts=3, sleep=sleeps)) as client:
        with pytest.raises(DeviceNotReadyError) as caught:
            [group async for group in client.iter_groups()]
        assert caught.value.retryable and caught.value.type == "DEVICE_NOT_READY"
        assert len(fake.requests) == 3
        with pytest.raises(DeviceNotReadyError) as refused:
            await client.create_group("Not processed", [A])
    # A disconnected device processes nothing, so even a creation is tried again, and its outcome is known.
    assert len(fake.requests) == 6 and not refused.value.outcome_unknown
    assert not fake.groups


async def test_server_errors_are_retried_only_when_harmless(
    fake: FakeWutsAPI, client: WutsClient, sleeps: SleepRecorder
) -> None:
    fake.add_fault(Fault(status=500, times=1))
    assert [group async for group in client.iter_groups()] == []
    fake.add_fault(Fault(method="POST", path="^/groups$", status=500, times=1, after_effect=True))
    with pytest.raises(ServerError) as caught:
        await client.create_group("Maybe", [A])
    assert caught.value.outcome_unknown and caught.value.type == "INTERNAL_ERROR"
    assert len(fake.groups) == 1  # the group exists although the call failed, and was created once


async def test_throttling_and_malformed_answers(fake: FakeWutsAPI, client: WutsClient, sleeps: SleepRecorder) -> None:
    fake.add_fault(WutsFault(status=429, retry_after=2, times=1))
    assert [group async for group in client.iter_groups()] == []
    assert sleeps.waits == [2.0]
    fake.add_fault(Fault(status=502, malformed=True, times=10))
    with pytest.raises(ResponseError) as caught:
        [group async for group in client.iter_groups()]
    assert caught.value.http_status == 502
    fake.clear_faults()
    fake.set_rate_limit(0, burst=1, retry_after_header=True)
    [group async for group in client.iter_groups()]
    with pytest.raises(RateLimitError):
        [group async for group in client.iter_groups()]  # the bucket never refills: the wait is beyond max_wait


async def test_token_never_leaks(fake: FakeWutsAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wa_groups")
    fake.add_fault(WutsFault(status=503, error_code="DEVICE_NOT_READY", times=10))
    async with fake.client(retry=RetryPolicy(max_attempts=2, sleep=SleepRecorder())) as client:
        with pytest.raises(DeviceNotReadyError) as caught:
            [group async for group in client.iter_groups()]
        texts = [repr(client), str(caught.value), repr(caught.value), repr(caught.value.raw), caplog.text]
        texts += [repr(request) for request in fake.requests]
        texts += [request.path + str(request.query) for request in fake.requests]
    assert caplog.records, "the retry was logged"
    for text in texts:
        assert fake.token not in text


# ------------------------------------------------------------------------------------------------ lifecycle


async def test_lifecycle(fake: FakeWutsAPI) -> None:
    client = fake.client()
    with pytest.raises(TypeError, match="async with"), client:
        pass
    [group async for group in client.iter_groups()]
    await client.close()
    await client.close()
    assert client.closed
    with pytest.raises(WAGroupsError, match="closed"):
        [group async for group in client.iter_groups()]


async def test_a_session_passed_in_stays_open(fake: FakeWutsAPI) -> None:
    async with aiohttp.ClientSession() as session:
        async with fake.client(session=session) as client:
            [group async for group in client.iter_groups()]
        assert not session.closed


def test_constructor_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in ("", "two words", None):
        with pytest.raises(ClientValidationError, match="token"):
            WutsClient(bad)  # type: ignore[arg-type]
    with pytest.raises(ClientValidationError, match="https"):
        WutsClient("t", base_url="http://api.wuts.com.br")
    with pytest.raises(ClientValidationError, match="RetryPolicy"):
        WutsClient("t", retry=3)  # type: ignore[arg-type]
    assert WutsClient("t").base_url == "https://api.wuts.com.br"
    monkeypatch.delenv("WUTS_TOKEN", raising=False)
    with pytest.raises(ClientValidationError, match="WUTS_TOKEN"):
        WutsClient.from_env()
    monkeypatch.setenv("WUTS_TOKEN", "secret-token")
    monkeypatch.setenv("WUTS_BASE_URL", "http://127.0.0.1:9/")
    client = WutsClient.from_env()
    assert client.base_url == "http://127.0.0.1:9" and "secret-token" not in repr(client)


# ---------------------------------------------------------------------------------------------------- bulk


def phones(count: int, start: int = 0) -> list[str]:
    return [f"55219{n:08d}" for n in range(start, start + count)]


def as_jid(phone: str) -> str:
    return f"{phone}@s.whatsapp.net"


def accounted(result: BulkResult) -> list[str]:
    return sorted(result.succeeded + [f.item for f in result.failed] + result.not_attempted)


def batches(fake: FakeWutsAPI) -> list[list[str]]:
    return [request.json["participants"] for request in fake.requests if request.path.endswith("/participants")]


async def test_bulk_promote_accounts_for_every_item(fake: FakeWutsAPI, client: WutsClient) -> None:
    members = phones(20)
    strangers = phones(5, start=100)
    group = fake.add_group("Big", participants=members)
    seen: list[BulkProgress] = []
    # The same people spelled two ways count once; each is reported as first spelt.
    respelt = f"+55 21 9{members[0][5:]}"
    items = members + strangers + [respelt]
    result = await client.bulk_promote(group, items, concurrency=2, on_progress=seen.append)
    assert result.action == "promote_participants" and result.group_id == group
    assert sorted(result.succeeded) == sorted(members)
    assert sorted(f.item for f in result.failed) == sorted(strangers)
    assert not result.not_attempted and result.exhausted and result.duplicates == {respelt: members[0]}
    assert accounted(result) == sorted(members + strangers)
    for failure in result.failed:
        assert isinstance(failure.error, InvalidRequestError) and not failure.retryable
        assert "did not report" in str(failure.error)
    assert all(len(batch) <= 8 for batch in batches(fake)) and len(batches(fake)) == 4
    assert all(request.json["action"] == "promote" for request in fake.requests)
    assert all(fake.groups[group].members[as_jid(p)].is_admin for p in members)
    assert seen[-1].done == 25 and seen[-1].succeeded == 20 and seen[-1].failed == 5


async def test_bulk_demote_reports_who_stays_admin(fake: FakeWutsAPI, client: WutsClient) -> None:
    admins = phones(10)
    group = fake.add_group("Admins", participants=admins, admins=admins)
    creator = fake.groups[group].members[as_jid(admins[0])]
    creator.is_super_admin = True  # WhatsApp keeps the creator an admin
    result = await client.bulk_demote(group, admins, batch_size=3)
    assert sorted(result.succeeded) == sorted(admins[1:])
    (failure,) = result.failed
    assert failure.item == admins[0] and "still an admin" in str(failure.error)
    assert all(len(batch) <= 3 for batch in batches(fake))
    assert accounted(result) == sorted(admins)


async def test_bulk_add_and_remove(fake: FakeWutsAPI, client: WutsClient) -> None:
    group = fake.add_group("Growing")
    people = phones(30)
    fake.unreachable = {as_jid(people[3]), as_jid(people[17])}
    added = await client.bulk_add_participants(group, people)
    assert len(added.succeeded) == 28 and {as_jid(f.item) for f in added.failed} == fake.unreachable
    assert len(fake.groups[group].members) == 29
    assert max(len(batch) for batch in batches(fake)) == 8
    removed = await client.bulk_remove_participants(group, people[:10], concurrency=1)
    assert sorted(removed.succeeded) == sorted(p for p in people[:10] if as_jid(p) not in fake.unreachable)
    assert [f.item for f in removed.failed] == [people[3]]
    assert removed.action == "remove_participants"


async def test_bulk_rides_out_device_not_ready_and_throttling(fake: FakeWutsAPI, client: WutsClient) -> None:
    members = phones(24)
    group = fake.add_group("Flaky", participants=members)
    fake.add_fault(WutsFault(status=503, error_code="DEVICE_NOT_READY", times=3))
    fake.add_fault(WutsFault(status=429, retry_after=0.5, times=2))
    result = await client.bulk_promote(group, members, concurrency=3)
    assert result.ok and len(result.succeeded) == 24
    assert fake.stats.faults_fired == 5


async def test_bulk_server_failure_is_recorded_and_resumed(fake: FakeWutsAPI, client: WutsClient) -> None:
    members = phones(16)
    group = fake.add_group("Resumable", participants=members)
    fake.add_fault(Fault(path="/participants$", status=500, times=100))
    first = await client.bulk_promote(group, members, concurrency=1)
    assert not first.succeeded and len(first.failed) == 16 and all(f.retryable for f in first.failed)
    fake.clear_faults()
    second = await client.bulk_promote(group, members, resume=BulkResult.from_json(first.to_json()))
    assert second.ok and sorted(second.succeeded) == sorted(members)


async def test_bulk_stops_on_a_rejected_token(fake: FakeWutsAPI, policy: RetryPolicy) -> None:
    group = fake.add_group("Locked out", participants=phones(40))
    async with WutsClient("wrong-token", base_url=fake.base_url, retry=policy) as client:
        result = await client.bulk_promote(group, phones(40), concurrency=1)
    assert isinstance(result.stopped_by, AuthenticationError)
    assert not result.failed and len(result.not_attempted) == 40 and not result.succeeded  # resumable whole
    assert accounted(result) == sorted(phones(40))


async def test_bulk_checks_every_participant_first(fake: FakeWutsAPI, client: WutsClient) -> None:
    group = fake.add_group("Checked")
    with pytest.raises(ClientValidationError, match="not a participant"):
        await client.bulk_add_participants(group, [*phones(3), "call me"])
    with pytest.raises(ClientValidationError):
        await client.bulk_promote("nope", phones(2))
    assert not fake.requests
