"""GroupsClient against the fake Graph server over real loopback HTTP: every endpoint, errors and retries."""

from __future__ import annotations

import re
import struct
from typing import Any

import aiohttp
import pytest
from conftest import SleepRecorder

from wa_groups import (
    AuthenticationError,
    ClientValidationError,
    GroupsClient,
    InvalidRequestError,
    JoinApprovalMode,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseError,
    RetryPolicy,
    ServerError,
    TransportError,
    WAGroupsError,
)
from wa_groups.testing import FakeGraphAPI, Fault

USER_AGENT = re.compile(
    r"^[a-zA-Z0-9\-_]+/[0-9]+\.[0-9]+\.[0-9]+(;[a-zA-Z0-9\-=\.]+)?(\s+[a-zA-Z0-9\-_]+/[0-9\-\.]+)?$"
)


def jpeg(side: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, side, side, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def last(fake: FakeGraphAPI) -> Any:
    return fake.requests[-1]


# ----------------------------------------------------------------------------------------------- endpoints


async def test_create_group_sends_the_documented_body(fake: FakeGraphAPI, client: GroupsClient) -> None:
    before = len(fake.groups)
    op = await client.create_group(
        "  Book club  ", description="Monthly", join_approval_mode=JoinApprovalMode.APPROVAL_REQUIRED
    )
    assert op.kind == "create" and op.request_id
    assert len(fake.groups) == before + 1
    sent = last(fake)
    assert (sent.method, sent.path) == ("POST", f"/v23.0/{fake.phone_number_id}/groups")
    assert sent.json == {
        "messaging_product": "whatsapp",
        "subject": "Book club",
        "description": "Monthly",
        "join_approval_mode": "approval_required",
    }
    assert sent.headers["Authorization"] == f"Bearer {fake.access_token}"
    assert USER_AGENT.match(sent.headers["User-Agent"]), sent.headers["User-Agent"]
    assert "access_token" not in sent.query


async def test_get_group_asks_for_every_documented_field(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gid = fake.add_group("Team", description="d", participants=["16505550001", "16505550002"])
    info = await client.get_group(gid)
    assert info.id == gid and info.subject == "Team" and info.description == "d"
    assert info.total_participant_count == 2 and info.suspended is False
    assert info.participants is not None and {p.wa_id for p in info.participants} == {"16505550001", "16505550002"}
    assert info.join_approval_mode is JoinApprovalMode.AUTO_APPROVE
    assert info.creation_timestamp is not None and info.creation_timestamp.tzinfo is not None
    assert set(last(fake).query["fields"].split(",")) == {
        "subject",
        "description",
        "suspended",
        "creation_timestamp",
        "participants",
        "total_participant_count",
        "join_approval_mode",
    }
    narrow = await client.get_group(gid, fields=["subject"])
    assert narrow.subject == "Team" and narrow.participants is None
    with pytest.raises(ClientValidationError, match="'colour'"):
        await client.get_group(gid, fields=["colour"])


async def test_update_picture_and_delete(fake: FakeGraphAPI, client: GroupsClient, tmp_path: Any) -> None:
    gid = fake.add_group("Old")
    op = await client.update_group(gid, subject="New", description="About")
    assert op.kind == "settings" and op.group_id == gid
    assert fake.groups[gid].subject == "New" and fake.groups[gid].description == "About"
    assert last(fake).json == {"messaging_product": "whatsapp", "subject": "New", "description": "About"}
    with pytest.raises(ClientValidationError, match="subject=, description="):
        await client.update_group(gid)

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg(640))
    await client.set_group_picture(gid, photo)
    sent = last(fake)
    assert sent.headers["Content-Type"].startswith("multipart/form-data")
    assert sent.form == {"messaging_product": "whatsapp"}
    assert sent.files is not None and sent.files["file"] == photo.read_bytes()
    await client.set_group_picture(gid, jpeg(256))

    deleted = await client.delete_group(gid)
    assert deleted.kind == "delete" and gid not in fake.groups
    with pytest.raises(NotFoundError) as info:
        await client.get_group(gid)
    assert info.value.code == 131041 and info.value.http_status == 400


async def test_invite_links(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gid = fake.add_group("Links")
    link = await client.get_invite_link(gid)
    assert link.startswith("https://chat.whatsapp.com/")
    new = await client.reset_invite_link(gid)
    assert new != link and await client.get_invite_link(gid) == new
    assert last(fake).method == "GET"
    await client.delete_invite_link(gid)
    assert last(fake).json == {"messaging_product": "whatsapp"} and last(fake).method == "DELETE"


async def test_participants(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gid = fake.add_group("People")
    op = await client.add_participants(gid, ["+1 (650) 555-1234", "16505551235"])
    assert op.kind == "participants_add"
    assert last(fake).json == {
        "messaging_product": "whatsapp",
        "participants": [{"user": "16505551234"}, {"user": "16505551235"}],
    }
    assert set(fake.groups[gid].participants) == {"16505551234", "16505551235"}
    with pytest.raises(InvalidRequestError) as info:
        await client.add_participants(gid, ["16505551234"])
    assert info.value.code == 131202
    removed = await client.remove_participants(gid, ["16505551234"])
    assert removed.kind == "participants_remove" and last(fake).method == "DELETE"
    assert fake.groups[gid].participants == ["16505551235"]
    with pytest.raises(ClientValidationError, match=r"1\.\.8"):
        await client.add_participants(gid, [str(16505550000 + i) for i in range(9)])


async def test_join_requests_listing_and_answers(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gid = fake.add_group("Club", join_approval_mode="approval_required")
    ids = fake.add_join_requests(gid, 60)
    seen = [r.join_request_id async for r in client.iter_join_requests(gid, page_size=25)]
    assert seen == ids
    assert sum(1 for r in fake.requests if r.path.endswith("/join_requests")) == 3

    result = await client.approve_join_requests(gid, [ids[0], ids[1], "missing"])
    assert result.succeeded == (ids[0], ids[1])
    assert [f.join_request_id for f in result.failed] == ["missing"]
    assert result.failed[0].errors[0].code == 131213
    assert last(fake).json == {"messaging_product": "whatsapp", "join_requests": [ids[0], ids[1], "missing"]}
    rejected = await client.reject_join_requests(gid, [ids[2]])
    assert rejected.succeeded == (ids[2],) and rejected.ok
    assert fake.approved[ids[0]] == 1 and fake.rejected[ids[2]] == 1
    with pytest.raises(ClientValidationError, match="must not be empty"):
        await client.approve_join_requests(gid, [])


async def test_invite_template(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gid = fake.add_group("Invite")
    sent = await client.send_invite_link_template(
        "+1 650 555 1234", group_id=gid, template_name="group_invite", language="en_US"
    )
    assert sent.message_id and sent.message_id.startswith("wamid.")
    body = last(fake).json
    assert body["to"] == "16505551234" and body["recipient_type"] == "individual" and body["type"] == "template"
    assert body["template"]["language"] == {"policy": "deterministic", "code": "en_US"}


# ------------------------------------------------------------------------------------------------- paging


async def test_iter_groups_pages_resumes_and_stops(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gids = fake.add_groups(130)
    assert [g.id async for g in client.iter_groups(page_size=50)] == gids
    pages = [page async for page in client.iter_groups(page_size=50).pages()]
    assert [len(p) for p in pages] == [50, 50, 30]
    assert pages[-1].has_next is False
    resumed = [g.id async for g in client.iter_groups(page_size=50, after=pages[0].after)]
    assert resumed == gids[50:]
    limited = [g.id async for g in client.iter_groups(page_size=50, max_items=70)]
    assert limited == gids[:70]
    with pytest.raises(ClientValidationError, match="page_size"):
        client.iter_groups(page_size=1025)


async def test_legacy_listing_shape() -> None:
    async with FakeGraphAPI(legacy_list_shape=True) as fake, fake.client() as client:
        gids = fake.add_groups(30)
        assert [g.id async for g in client.iter_groups(page_size=7)] == gids


async def test_stale_cursor_raises_invalid_cursor(fake: FakeGraphAPI, client: GroupsClient) -> None:
    from wa_groups import InvalidCursorError

    gid = fake.add_group("Stale", join_approval_mode="approval_required")
    ids = fake.add_join_requests(gid, 10)
    pages = client.iter_join_requests(gid, page_size=5).pages()
    first = await pages.__anext__()
    await client.approve_join_requests(gid, [first.items[-1].join_request_id])
    with pytest.raises(InvalidCursorError) as info:
        await pages.__anext__()
    assert info.value.code == 131059 and len(ids) == 10
    await pages.aclose()


# --------------------------------------------------------------------------------------------- errors, retries


async def test_wrong_token_is_an_authentication_error(fake: FakeGraphAPI) -> None:
    async with GroupsClient("wrong", phone_number_id=fake.phone_number_id, base_url=fake.base_url) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.get_group("G1")
    assert info.value.code == 190 and info.value.http_status == 401


async def test_suspended_group_refuses_writes(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gid = fake.add_group("Suspended", suspended=True)
    with pytest.raises(PermissionDeniedError) as info:
        await client.update_group(gid, subject="x")
    assert info.value.code == 131207


async def test_throttling_waits_what_the_server_asks_then_succeeds(
    fake: FakeGraphAPI, client: GroupsClient, sleeps: SleepRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    gid = fake.add_group("Busy")
    fake.add_fault(Fault(status=400, code=130429, retry_after=3, times=2))
    with caplog.at_level("INFO", logger="wa_groups"):
        assert (await client.get_group(gid)).id == gid
    assert sleeps.waits == [3.0, 3.0]
    retries = [r for r in caplog.records if "retrying get_group" in r.getMessage()]
    assert len(retries) == 2 and "130429" in retries[0].getMessage()


async def test_usage_header_minutes_are_honoured(
    fake: FakeGraphAPI, client: GroupsClient, sleeps: SleepRecorder
) -> None:
    gid = fake.add_group("Busy")
    fake.add_fault(Fault(status=400, code=80007, usage_minutes=0.5, times=1))
    await client.get_invite_link(gid)
    assert sleeps.waits == [30.0]


async def test_a_wait_longer_than_max_wait_is_raised_not_slept(
    fake: FakeGraphAPI, client: GroupsClient, sleeps: SleepRecorder
) -> None:
    gid = fake.add_group("Busy")
    fake.add_fault(Fault(status=429, code=131208, retry_after=600, times=1))
    with pytest.raises(RateLimitError) as info:
        await client.get_group(gid)
    assert info.value.retry_after == 600 and sleeps.waits == []
    assert "retry_after=600s" in str(info.value)


async def test_throttled_create_is_retried(fake: FakeGraphAPI, client: GroupsClient, sleeps: SleepRecorder) -> None:
    fake.add_fault(Fault(method="POST", path="/groups$", status=400, code=130429, times=1))
    op = await client.create_group("Retry me")
    assert op.request_id and len(sleeps.waits) == 1 and 0 <= sleeps.waits[0] <= 0.5


async def test_server_errors_are_retried_for_reads(
    fake: FakeGraphAPI, client: GroupsClient, sleeps: SleepRecorder
) -> None:
    gid = fake.add_group("Flaky")
    fake.add_fault(Fault(status=500, code=1, times=2))
    assert await client.get_invite_link(gid)
    assert len(sleeps.waits) == 2
    assert sleeps.waits[0] <= 0.5 and sleeps.waits[1] <= 1.0


async def test_create_is_never_repeated_after_an_ambiguous_failure(
    fake: FakeGraphAPI, client: GroupsClient, sleeps: SleepRecorder
) -> None:
    before = len(fake.groups)
    fake.add_fault(Fault(method="POST", path="/groups$", status=500, code=1, after_effect=True))
    with pytest.raises(ServerError) as info:
        await client.create_group("Maybe")
    assert info.value.outcome_unknown and "outcome is unknown" in str(info.value)
    assert sleeps.waits == [] and len(fake.groups) == before + 1
    creates = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/groups")]
    assert len(creates) == 1


async def test_dropped_connection_on_create_is_not_repeated(fake: FakeGraphAPI, client: GroupsClient) -> None:
    fake.add_fault(Fault(method="POST", path="/groups$", drop=True))
    with pytest.raises(TransportError) as info:
        await client.create_group("Dropped")
    assert info.value.outcome_unknown and "outcome is unknown" in str(info.value)


async def test_dropped_connection_on_a_repeatable_call_is_retried(
    fake: FakeGraphAPI, client: GroupsClient, sleeps: SleepRecorder
) -> None:
    # A POST: aiohttp itself repeats idempotent methods once on a dropped connection, the library retries the rest.
    gid = fake.add_group("Drop", join_approval_mode="approval_required")
    ids = fake.add_join_requests(gid, 2)
    fake.add_fault(Fault(method="POST", drop=True, times=1))
    assert (await client.approve_join_requests(gid, ids)).succeeded == tuple(ids)
    assert len(sleeps.waits) == 1


async def test_malformed_body_is_a_response_error(fake: FakeGraphAPI, policy: RetryPolicy) -> None:
    gid = fake.add_group("Proxy")
    fake.add_fault(Fault(status=502, malformed=True, times=None))
    async with fake.client(retry=RetryPolicy(max_attempts=2, sleep=policy.sleep)) as client:
        with pytest.raises(ResponseError) as info:
            await client.get_group(gid)
    assert info.value.http_status == 502 and "not JSON" in str(info.value)


async def test_retries_disabled(fake: FakeGraphAPI, sleeps: SleepRecorder) -> None:
    gid = fake.add_group("Once")
    fake.add_fault(Fault(status=500, code=2, times=1))
    async with fake.client(retry=RetryPolicy(max_attempts=1, sleep=sleeps)) as client:
        with pytest.raises(ServerError):
            await client.get_group(gid)
    assert sleeps.waits == []


async def test_connection_refused_is_a_transport_error(sleeps: SleepRecorder) -> None:
    async with GroupsClient(
        "t", phone_number_id="1", base_url="http://127.0.0.1:9", retry=RetryPolicy(max_attempts=2, sleep=sleeps)
    ) as client:
        with pytest.raises(TransportError) as info:
            await client.create_group("Nobody home")
    assert info.value.before_send and not info.value.outcome_unknown and len(sleeps.waits) == 1


async def test_timeout_is_a_transport_error(fake: FakeGraphAPI, sleeps: SleepRecorder) -> None:
    gid = fake.add_group("Slow")
    fake.add_fault(Fault(status=200, latency=1.0, times=1))
    async with fake.client(timeout=0.05, retry=RetryPolicy(max_attempts=1, sleep=sleeps)) as client:
        with pytest.raises(TransportError, match="no answer within"):
            await client.get_group(gid)


# ------------------------------------------------------------------------------------------- input checks


async def test_bad_input_fails_before_any_request(fake: FakeGraphAPI, client: GroupsClient) -> None:
    count = len(fake.requests)
    with pytest.raises(ClientValidationError, match="'a/b'"):
        await client.get_group("a/b")
    with pytest.raises(ClientValidationError, match="subject"):
        await client.create_group(" ")
    with pytest.raises(ClientValidationError, match="join_approval_mode"):
        await client.create_group("x", join_approval_mode="maybe")
    with pytest.raises(ClientValidationError, match="JPEG"):
        await client.set_group_picture("G1", b"GIF89a" + b"\x00" * 64)
    assert len(fake.requests) == count


def test_constructor_checks() -> None:
    with pytest.raises(ClientValidationError, match="https"):
        GroupsClient("t", base_url="http://graph.example.com")
    with pytest.raises(ClientValidationError, match="access_token"):
        GroupsClient("")
    with pytest.raises(ClientValidationError, match="max_connections"):
        GroupsClient("t", max_connections=0)
    GroupsClient("t", base_url="http://localhost:8080")


async def test_phone_number_id_is_required_where_needed(fake: FakeGraphAPI) -> None:
    async with GroupsClient(fake.access_token, base_url=fake.base_url) as client:
        with pytest.raises(ClientValidationError, match="phone_number_id"):
            client.iter_groups()
        op = await client.create_group("Explicit", phone_number_id=fake.phone_number_id)
        assert op.request_id


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WA_ACCESS_TOKEN", "env-token")
    monkeypatch.setenv("WA_PHONE_NUMBER_ID", "555")
    monkeypatch.setenv("WA_API_VERSION", "v24.0")
    monkeypatch.setenv("WA_BASE_URL", "http://127.0.0.1:1")
    client = GroupsClient.from_env()
    assert (client.phone_number_id, client.api_version, client.base_url) == ("555", "v24.0", "http://127.0.0.1:1")
    monkeypatch.delenv("WA_ACCESS_TOKEN")
    with pytest.raises(ClientValidationError, match="WA_ACCESS_TOKEN"):
        GroupsClient.from_env()


# ------------------------------------------------------------------------------------------------ sessions


async def test_external_session_is_never_closed(fake: FakeGraphAPI) -> None:
    gid = fake.add_group("Shared")
    async with aiohttp.ClientSession() as session:
        async with fake.client(session=session) as client:
            await client.get_group(gid)
        assert not session.closed
        async with fake.client(session=session) as again:
            await again.get_group(gid)


async def test_close_is_idempotent_and_final(fake: FakeGraphAPI) -> None:
    client = fake.client()
    await client.get_invite_link(fake.add_group("x"))
    await client.close()
    await client.close()
    assert client.closed
    with pytest.raises(WAGroupsError, match="closed"):
        await client.get_group("G1")


async def test_plain_with_is_refused(fake: FakeGraphAPI) -> None:
    client = fake.client()
    with pytest.raises(TypeError, match="async with"), client:
        pass
    await client.close()


async def test_session_is_closed_when_a_call_fails_or_is_cancelled(fake: FakeGraphAPI) -> None:
    import asyncio

    fake.add_fault(Fault(status=200, latency=5.0, times=1))
    gid = fake.add_group("Cancel")
    async with fake.client() as client:
        task = asyncio.create_task(client.get_group(gid))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(NotFoundError):
            await client.get_group("G-missing")
    assert client.closed


async def test_max_items_then_resume_sees_every_group_once(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gids = fake.add_groups(50)
    pages = [page async for page in client.iter_groups(page_size=10, max_items=35).pages()]
    first = [g.id for page in pages for g in page]
    assert first == gids[:35] and pages[-1].after
    assert fake.requests[-1].query["limit"] == "5"
    rest = [g.id async for g in client.iter_groups(page_size=10, after=pages[-1].after)]
    assert first + rest == gids


async def test_a_proxy_429_page_is_throttling_and_is_retried(
    fake: FakeGraphAPI, client: GroupsClient, sleeps: SleepRecorder
) -> None:
    gid = fake.add_group("Proxy")
    fake.add_fault(Fault(status=429, malformed=True, retry_after=2, times=1))
    assert await client.get_invite_link(gid)
    assert sleeps.waits == [2.0]
    fake.add_fault(Fault(status=401, malformed=True, times=1))
    with pytest.raises(AuthenticationError):
        await client.get_invite_link(gid)


async def test_a_closed_caller_session_is_a_clear_error(fake: FakeGraphAPI) -> None:
    session = aiohttp.ClientSession()
    await session.close()
    async with fake.client(session=session) as client:
        with pytest.raises(WAGroupsError, match="session given to this client is closed"):
            await client.get_group("G1")


def test_partial_success_is_never_taken_for_a_plain_failure() -> None:
    from wa_groups._graph.errors import api_error

    error = api_error({"code": 131201, "message": "Partial success"}, http_status=206)
    assert isinstance(error, InvalidRequestError) and error.outcome_unknown


@pytest.mark.parametrize("fault", [{"status": 500, "code": 1}, {"drop": True}])
async def test_an_invite_message_is_never_sent_twice(
    fake: FakeGraphAPI, client: GroupsClient, fault: dict[str, Any]
) -> None:
    gid = fake.add_group("Invite once")
    fake.add_fault(Fault(method="POST", path="/messages$", after_effect=True, **fault))
    with pytest.raises(WAGroupsError) as info:
        await client.send_invite_link_template("16505551234", group_id=gid, template_name="group_invite")
    assert info.value.outcome_unknown and "outcome is unknown" in str(info.value)
    assert sum(1 for r in fake.requests if r.path.endswith("/messages")) == 1
    assert len(fake.messages) == 1
