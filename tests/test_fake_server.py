"""Tests of wa_groups.testing: the fake Graph server, exercised with raw aiohttp requests."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import io
import json
import pickle
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from wa_groups.testing import FakeGraphAPI, FakeGroup, Fault, IndexedDict
from wa_groups.testing._graph_state import normalize_user
from wa_groups.testing._graph_wire import jpeg_dimensions
from wa_groups.testing._store import MemberList
from wa_groups.testing.pytest_plugin import fake_graph  # noqa: F401 - the fixture under test

TOKEN = "test-token"
PN = "106540352242922"
V = "v23.0"
SECRET = "app-secret-for-tests"


@attrs.define
class Answer:
    status: int
    body: Any
    headers: dict[str, str]
    text: str


@pytest.fixture
async def fake() -> AsyncIterator[FakeGraphAPI]:
    async with FakeGraphAPI(access_token=TOKEN, phone_number_id=PN) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def send(
    http: aiohttp.ClientSession,
    fake: FakeGraphAPI,
    method: str,
    path: str,
    *,
    token: str | None = TOKEN,
    **kwargs: Any,
) -> Answer:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    url = path if path.startswith("http") else f"{fake.base_url}/{V}/{path.lstrip('/')}"
    async with http.request(method, url, headers=headers, **kwargs) as response:
        text = await response.text()
        body = json.loads(text) if response.content_type == "application/json" else None
        return Answer(response.status, body, dict(response.headers), text)


def error_code(answer: Answer) -> int:
    code = answer.body["error"]["code"]
    assert isinstance(code, int)
    return code


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = (
        b"\xff\xc0\x00\x11\x08"
        + height.to_bytes(2, "big")
        + width.to_bytes(2, "big")
        + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    )
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


async def create_group(http: aiohttp.ClientSession, fake: FakeGraphAPI, subject: str = "Team") -> str:
    before = set(fake.groups)
    answer = await send(http, fake, "POST", f"{PN}/groups", json={"messaging_product": "whatsapp", "subject": subject})
    assert answer.status == 200, answer.body
    (group_id,) = set(fake.groups) - before
    return group_id


# -- lifecycle and plumbing ----------------------------------------------------------------------


async def test_lifecycle_binds_loopback_and_close_is_idempotent() -> None:
    fake = FakeGraphAPI()
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    await fake.start()
    await fake.start()
    assert fake.base_url.startswith("http://127.0.0.1:")
    assert fake.phone_number_id == PN and fake.api_version == V
    await fake.close()
    await fake.close()
    assert not fake.running


def test_plain_with_is_refused() -> None:
    with pytest.raises(TypeError, match="async with"), FakeGraphAPI():
        pass


async def test_unreadable_body_is_a_graph_error(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    group_id = fake.add_group("Broken")
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    answer = await send(http, fake, "POST", group_id, data=b"--xyz\r\ngarbage", headers=headers)
    assert answer.status == 400 and error_code(answer) == 100


async def test_repr_hides_secrets(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    await send(http, fake, "GET", f"{PN}/groups", params={"access_token": TOKEN})
    text = repr(fake) + repr(fake.requests)
    assert TOKEN not in text
    assert fake.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


async def test_every_answer_is_json(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    for answer in (
        await send(http, fake, "GET", f"{PN}/groups"),
        await send(http, fake, "GET", "nope/a/b/c"),
        await send(http, fake, "GET", f"{PN}/groups", token="bad"),
    ):
        assert answer.headers["Content-Type"].startswith("application/json")


# -- authentication and routing ------------------------------------------------------------------


async def test_missing_token_is_104(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    answer = await send(http, fake, "GET", f"{PN}/groups", token=None)
    assert answer.status == 401 and error_code(answer) == 104
    assert answer.body["error"]["type"] == "OAuthException"
    assert answer.body["error"]["message"].startswith("(#104) ")
    assert answer.body["error"]["fbtrace_id"]


async def test_wrong_token_is_190(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    answer = await send(http, fake, "GET", f"{PN}/groups", token="other")
    assert answer.status == 401 and error_code(answer) == 190
    assert answer.body["error"]["type"] == "OAuthException"
    assert "other" not in answer.text


async def test_token_in_query_string_is_refused(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    answer = await send(http, fake, "GET", f"{PN}/groups", params={"access_token": TOKEN})
    assert answer.status == 401 and error_code(answer) == 190
    answer = await send(http, fake, "GET", f"{PN}/groups", token=None, params={"access_token": TOKEN})
    assert error_code(answer) == 190


async def test_unknown_routes_and_ids(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    answer = await send(http, fake, "GET", f"{PN}/groups/extra/parts")
    assert answer.status == 400 and error_code(answer) == 100
    answer = await send(http, fake, "PUT", f"{PN}/groups", json={})
    assert answer.status == 400 and error_code(answer) == 100
    answer = await send(http, fake, "GET", "999999/groups")
    assert error_code(answer) == 100 and answer.body["error"]["error_subcode"] == 33
    answer = await send(http, fake, "GET", PN, params={"fields": "subject"})
    assert error_code(answer) == 100 and answer.body["error"]["error_subcode"] == 33
    answer = await send(http, fake, "GET", "Y2FwaV9ncm91cDpub3BlOjE")
    assert answer.status == 400 and error_code(answer) == 131041
    assert answer.body["error"]["error_data"]["messaging_product"] == "whatsapp"


async def test_second_phone_number(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    fake.add_phone_number("200000000000001")
    fake.add_group("Mine")
    other = fake.add_group("Theirs", phone_number_id="200000000000001")
    answer = await send(http, fake, "GET", "200000000000001/groups")
    assert [group["id"] for group in answer.body["data"]["groups"]] == [other]


# -- groups --------------------------------------------------------------------------------------


async def test_create_group(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    body = {
        "messaging_product": "whatsapp",
        "subject": "  Launch crew  ",
        "description": "Plans",
        "join_approval_mode": "approval_required",
    }
    answer = await send(http, fake, "POST", f"{PN}/groups", json=body)
    assert answer.status == 200
    assert answer.body["messaging_product"] == "whatsapp" and answer.body["request_id"]
    (group,) = fake.groups.values()
    assert group.subject == "Launch crew" and group.description == "Plans"
    assert group.join_approval_mode == "approval_required" and group.phone_number_id == PN
    assert group.invite_link is not None and group.invite_link.startswith("https://chat.whatsapp.com/")
    assert len(group.invite_link.rsplit("/", 1)[1]) == 22
    assert base64.urlsafe_b64decode(group.id + "==").startswith(b"capi_group:")


@pytest.mark.parametrize(
    "body",
    [
        {"subject": "No product"},
        {"messaging_product": "whatsapp"},
        {"messaging_product": "whatsapp", "subject": "   "},
        {"messaging_product": "whatsapp", "subject": "x" * 129},
        {"messaging_product": "whatsapp", "subject": "ok", "description": "x" * 2049},
        {"messaging_product": "whatsapp", "subject": "ok", "join_approval_mode": "sometimes"},
        ["not", "an", "object"],
    ],
)
async def test_create_group_validation(fake: FakeGraphAPI, http: aiohttp.ClientSession, body: Any) -> None:
    answer = await send(http, fake, "POST", f"{PN}/groups", json=body)
    assert answer.status == 400 and error_code(answer) == 100
    assert not fake.groups


async def test_create_group_accepts_limits(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    body = {"messaging_product": "whatsapp", "subject": "x" * 128, "description": "d" * 2048}
    assert (await send(http, fake, "POST", f"{PN}/groups", json=body)).status == 200


async def test_invalid_json_body(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    answer = await send(http, fake, "POST", f"{PN}/groups", data=b"{nope", headers={"Content-Type": "application/json"})
    assert error_code(answer) == 100


async def test_group_limit_is_131211(http: aiohttp.ClientSession) -> None:
    async with FakeGraphAPI(access_token=TOKEN, max_groups=2) as fake:
        fake.add_groups(2)
        with pytest.raises(ValueError):
            fake.add_group("one too many")
        answer = await send(http, fake, "POST", f"{PN}/groups", json={"messaging_product": "whatsapp", "subject": "x"})
        assert answer.status == 400 and error_code(answer) == 131211


async def test_list_groups_pages_with_next(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    ids = fake.add_groups(7, subject_prefix="G")
    seen: list[str] = []
    url: str | None = f"{fake.base_url}/{V}/{PN}/groups?limit=3"
    pages = 0
    while url is not None:
        answer = await send(http, fake, "GET", url)
        assert answer.status == 200
        groups = answer.body["data"]["groups"]
        seen += [group["id"] for group in groups]
        assert all(isinstance(group["created_at"], str) for group in groups)
        assert set(answer.body["paging"]["cursors"]) == {"before", "after"}
        url = answer.body["paging"].get("next")
        if url is not None:
            assert url.startswith(fake.base_url) and TOKEN not in url and "limit=3" in url
        pages += 1
    assert seen == ids and pages == 3
    assert [group["subject"] for group in answer.body["data"]["groups"]] == ["G 7"]


async def test_list_groups_default_limit_and_bounds(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    fake.add_groups(30)
    answer = await send(http, fake, "GET", f"{PN}/groups")
    assert len(answer.body["data"]["groups"]) == 25 and "next" in answer.body["paging"]
    for limit in ("0", "1025", "many"):
        answer = await send(http, fake, "GET", f"{PN}/groups", params={"limit": limit})
        assert error_code(answer) == 100
    answer = await send(http, fake, "GET", f"{PN}/groups", params={"limit": "1024"})
    assert len(answer.body["data"]["groups"]) == 30 and "next" not in answer.body["paging"]


async def test_list_groups_empty(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    answer = await send(http, fake, "GET", f"{PN}/groups")
    assert answer.body["data"] == {"groups": []}
    assert "next" not in answer.body.get("paging", {})


async def test_list_groups_legacy_shape(http: aiohttp.ClientSession) -> None:
    async with FakeGraphAPI(access_token=TOKEN, legacy_list_shape=True) as fake:
        group_id = fake.add_group("Old")
        answer = await send(http, fake, "GET", f"{PN}/groups")
        assert [group["id"] for group in answer.body["data"]] == [group_id]


async def test_list_groups_before_cursor(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    ids = fake.add_groups(5)
    first = await send(http, fake, "GET", f"{PN}/groups", params={"limit": "3"})
    second = await send(http, fake, "GET", first.body["paging"]["next"])
    back = await send(
        http, fake, "GET", f"{PN}/groups", params={"limit": "2", "before": second.body["paging"]["cursors"]["before"]}
    )
    assert [group["id"] for group in back.body["data"]["groups"]] == ids[1:3]


async def test_garbage_and_stale_group_cursors(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    ids = fake.add_groups(4)
    for cursor in ("%%%", "bm9wZQ==", base64.b64encode(b"j:whatever").decode()):
        answer = await send(http, fake, "GET", f"{PN}/groups", params={"after": cursor})
        assert answer.status == 400 and error_code(answer) == 131059
    page = await send(http, fake, "GET", f"{PN}/groups", params={"limit": "2"})
    assert (await send(http, fake, "DELETE", ids[1])).status == 200
    answer = await send(http, fake, "GET", page.body["paging"]["next"])
    assert answer.status == 400 and error_code(answer) == 131059


async def test_get_group_fields(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    group_id = fake.add_group("Info", description="About", participants=["+1 650-555-0001"], created_at=1700000000)
    answer = await send(http, fake, "GET", group_id)
    assert answer.body == {"id": group_id, "messaging_product": "whatsapp"}
    fields = "subject,description,suspended,creation_timestamp,participants,total_participant_count,join_approval_mode"
    answer = await send(http, fake, "GET", group_id, params={"fields": fields})
    assert answer.body == {
        "id": group_id,
        "messaging_product": "whatsapp",
        "subject": "Info",
        "description": "About",
        "suspended": False,
        "creation_timestamp": 1700000000,
        "participants": [{"wa_id": "16505550001"}],
        "total_participant_count": 1,
        "join_approval_mode": "auto_approve",
    }
    answer = await send(http, fake, "GET", group_id, params={"fields": "subject,colour"})
    assert answer.status == 400 and error_code(answer) == 100


async def test_update_subject_and_description(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    group_id = fake.add_group("Before")
    body = {"messaging_product": "whatsapp", "subject": "After", "description": "New"}
    answer = await send(http, fake, "POST", group_id, json=body)
    assert answer.status == 200 and answer.body["request_id"]
    assert fake.groups[group_id].subject == "After" and fake.groups[group_id].description == "New"
    answer = await send(http, fake, "POST", group_id, json={"messaging_product": "whatsapp"})
    assert error_code(answer) == 100
    answer = await send(http, fake, "POST", group_id, json={"messaging_product": "whatsapp", "subject": ""})
    assert error_code(answer) == 100


@pytest.mark.parametrize(
    ("picture", "code"),
    [
        (jpeg(640, 640), None),
        (jpeg(640, 480), 131209),
        (jpeg(100, 100), 131210),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, 100),
        (b"\xff\xd8\xff\xd9", 100),
    ],
)
async def test_update_profile_picture(
    fake: FakeGraphAPI, http: aiohttp.ClientSession, picture: bytes, code: int | None
) -> None:
    group_id = fake.add_group("Pictured")
    form = aiohttp.FormData()
    form.add_field("messaging_product", "whatsapp")
    form.add_field("file", picture, filename="p.jpg", content_type="image/jpeg")
    answer = await send(http, fake, "POST", group_id, data=form)
    if code is None:
        assert answer.status == 200 and answer.body["request_id"]
        assert fake.groups[group_id].profile_picture == picture
        recorded = fake.requests[-1]
        assert recorded.form == {"messaging_product": "whatsapp"} and recorded.files == {"file": picture}
    else:
        assert answer.status == 400 and error_code(answer) == code
        assert fake.groups[group_id].profile_picture is None


async def test_oversized_picture(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    group_id = fake.add_group("Big")
    form = aiohttp.FormData()
    form.add_field("messaging_product", "whatsapp")
    big = io.BytesIO(jpeg(640, 640) + b"\x00" * (5 * 1024 * 1024))
    form.add_field("file", big, filename="p.jpg", content_type="image/jpeg")
    answer = await send(http, fake, "POST", group_id, data=form)
    assert answer.status == 400 and error_code(answer) == 100


async def test_delete_group(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    group_id = await create_group(http, fake)
    answer = await send(http, fake, "DELETE", group_id)
    assert answer.status == 200 and answer.body == {"success": True}
    assert group_id not in fake.groups
    assert error_code(await send(http, fake, "GET", group_id)) == 131041
    assert error_code(await send(http, fake, "DELETE", group_id)) == 131041


async def test_invite_link(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    group_id = fake.add_group("Linked")
    first = await send(http, fake, "GET", f"{group_id}/invite_link")
    assert first.body == {"messaging_product": "whatsapp", "invite_link": fake.groups[group_id].invite_link}
    reset = await send(http, fake, "POST", f"{group_id}/invite_link", json={"messaging_product": "whatsapp"})
    assert reset.status == 200 and reset.body["invite_link"] != first.body["invite_link"]
    assert fake.groups[group_id].invite_link == reset.body["invite_link"]
    assert error_code(await send(http, fake, "POST", f"{group_id}/invite_link")) == 100
    deleted = await send(http, fake, "DELETE", f"{group_id}/invite_link", json={"messaging_product": "whatsapp"})
    assert deleted.body == {"messaging_product": "whatsapp", "success": "true"}
    assert fake.groups[group_id].invite_link is None


async def test_add_and_remove_participants(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    group_id = fake.add_group("People", participants=["16505550001"])
    path = f"{group_id}/participants"
    body = {"messaging_product": "whatsapp", "participants": [{"user": "+1 650-555-1234"}, {"user": "16505550002"}]}
    answer = await send(http, fake, "POST", path, json=body)
    assert answer.status == 200 and answer.body["request_id"] and answer.body["messaging_product"] == "whatsapp"
    assert fake.groups[group_id].participants == ["16505550001", "16505551234", "16505550002"]

    duplicate = {"messaging_product": "whatsapp", "participants": [{"user": "16505551234"}]}
    assert error_code(await send(http, fake, "POST", path, json=duplicate)) == 131202
    many = [{"user": f"1650555100{i}"} for i in range(6)]
    answer = await send(http, fake, "POST", path, json={"messaging_product": "whatsapp", "participants": many})
    assert error_code(answer) == 131204
    for bad in ([], [{"user": str(i)} for i in range(9)], [{"name": "x"}], "16505551234"):
        answer = await send(http, fake, "POST", path, json={"messaging_product": "whatsapp", "participants": bad})
        assert error_code(answer) == 100

    remove = {"messaging_product": "whatsapp", "participants": [{"user": "+16505551234"}]}
    answer = await send(http, fake, "DELETE", path, json=remove)
    assert answer.status == 200 and answer.body["request_id"]
    assert fake.groups[group_id].participants == ["16505550001", "16505550002"]
    assert error_code(await send(http, fake, "DELETE", path, json=remove)) == 131212


async def test_suspended_group_refuses_writes(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    group_id = fake.add_group("Quiet", suspended=True)
    fake.add_join_requests(group_id, 1)
    assert (await send(http, fake, "GET", group_id, params={"fields": "suspended"})).body["suspended"] is True
    assert (await send(http, fake, "GET", f"{group_id}/join_requests")).status == 200
    writes = [
        ("POST", group_id, {"messaging_product": "whatsapp", "subject": "x"}),
        ("DELETE", group_id, None),
        ("POST", f"{group_id}/invite_link", {"messaging_product": "whatsapp"}),
        ("POST", f"{group_id}/participants", {"messaging_product": "whatsapp", "participants": [{"user": "1"}]}),
        ("POST", f"{group_id}/join_requests", {"messaging_product": "whatsapp", "join_requests": ["x"]}),
    ]
    for method, path, body in writes:
        answer = await send(http, fake, method, path, json=body)
        assert answer.status == 403 and error_code(answer) == 131207, (method, path)


# -- join requests -------------------------------------------------------------------------------


async def test_list_join_requests(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    group_id = fake.add_group("Club", join_approval_mode="approval_required")
    ids = fake.add_join_requests(group_id, 30)
    answer = await send(http, fake, "GET", f"{group_id}/join_requests")
    assert [item["join_request_id"] for item in answer.body["data"]] == ids[:25]
    item = answer.body["data"][0]
    assert set(item) == {"join_request_id", "wa_id", "creation_timestamp"}
    assert isinstance(item["creation_timestamp"], int)
    second = await send(http, fake, "GET", answer.body["paging"]["next"])
    assert [item["join_request_id"] for item in second.body["data"]] == ids[25:]
    assert "next" not in second.body["paging"]
    assert error_code(await send(http, fake, "GET", f"{group_id}/join_requests", params={"limit": "2000"})) == 100


async def test_approve_and_reject_join_requests(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    group_id = fake.add_group("Club", participants=[f"1650555000{i}" for i in range(6)])
    ids = fake.add_join_requests(group_id, 4, wa_ids=["16505559001", "16505559002", "16505559003", "16505559004"])
    path = f"{group_id}/join_requests"
    body = {"messaging_product": "whatsapp", "join_requests": [ids[0], "unknown", ids[1], ids[2]]}
    answer = await send(http, fake, "POST", path, json=body)
    assert answer.status == 200
    assert answer.body["approved_join_requests"] == [ids[0], ids[1]]
    failed = {item["join_request_id"]: item["errors"][0] for item in answer.body["failed_join_requests"]}
    assert failed["unknown"]["code"] == 131213 and failed["unknown"]["message"].startswith("(#131213)")
    assert failed["unknown"]["error_data"]["details"] and failed["unknown"]["title"]
    assert failed[ids[2]]["code"] == 131204
    assert fake.groups[group_id].participants[-2:] == ["16505559001", "16505559002"]
    assert list(fake.groups[group_id].join_requests) == [ids[2], ids[3]]

    answer = await send(http, fake, "POST", path, json={"messaging_product": "whatsapp", "join_requests": [ids[0]]})
    assert (
        answer.body["approved_join_requests"] == []
        and answer.body["failed_join_requests"][0]["errors"][0]["code"] == 131213
    )

    answer = await send(http, fake, "DELETE", path, json={"messaging_product": "whatsapp", "join_requests": ids[2:]})
    assert answer.body == {"messaging_product": "whatsapp", "rejected_join_requests": ids[2:]}
    assert fake.approved == {ids[0]: 1, ids[1]: 1} and fake.rejected == {ids[2]: 1, ids[3]: 1}
    bad_values: list[Any] = [[], "x", None]
    for bad in bad_values:
        answer = await send(http, fake, "POST", path, json={"messaging_product": "whatsapp", "join_requests": bad})
        assert error_code(answer) == 100


async def test_join_request_cursor_goes_stale_after_approval(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    fake.max_participants = 100
    group_id = fake.add_group("Busy")
    ids = fake.add_join_requests(group_id, 10)
    path = f"{group_id}/join_requests"
    page = await send(http, fake, "GET", path, params={"limit": "4"})
    page_ids = [item["join_request_id"] for item in page.body["data"]]
    await send(http, fake, "POST", path, json={"messaging_product": "whatsapp", "join_requests": page_ids})
    stale = await send(http, fake, "GET", page.body["paging"]["next"])
    assert stale.status == 400 and error_code(stale) == 131059
    restart = await send(http, fake, "GET", path, params={"limit": "4"})
    assert [item["join_request_id"] for item in restart.body["data"]] == ids[4:8]


# -- invite template message ---------------------------------------------------------------------


def invite_message(group_id: str, **changes: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+1 650 555 1234",
        "type": "template",
        "template": {
            "name": "group_invite",
            "language": {"policy": "deterministic", "code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "group_id", "group_id": group_id}]}],
        },
    }
    message.update(changes)
    return message


async def test_send_invite_template(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    group_id = fake.add_group("Invited")
    answer = await send(http, fake, "POST", f"{PN}/messages", json=invite_message(group_id))
    assert answer.status == 200
    assert answer.body["contacts"] == [{"input": "+1 650 555 1234", "wa_id": "16505551234"}]
    assert answer.body["messages"][0]["id"].startswith("wamid.")
    assert fake.messages[0]["group_id"] == group_id


@pytest.mark.parametrize(
    "changes",
    [
        {"type": "text"},
        {"recipient_type": "group"},
        {"to": ""},
        {"template": {"name": "x", "language": {"policy": "deterministic"}, "components": []}},
        {"template": {"name": "x", "language": {"code": "en"}, "components": [{"type": "body", "parameters": []}]}},
    ],
)
async def test_send_invite_template_validation(
    fake: FakeGraphAPI, http: aiohttp.ClientSession, changes: dict[str, Any]
) -> None:
    group_id = fake.add_group("Invited")
    answer = await send(http, fake, "POST", f"{PN}/messages", json=invite_message(group_id, **changes))
    assert answer.status == 400 and error_code(answer) == 100


async def test_send_invite_template_unknown_group(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    answer = await send(http, fake, "POST", f"{PN}/messages", json=invite_message("Y2FwaV9ncm91cDpnb25l"))
    assert error_code(answer) == 131041


# -- faults ----------------------------------------------------------------------------------------


async def test_fault_answers_graph_error_and_counts_down(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    fault = fake.add_fault(Fault(method="get", path=r"/groups$", status=500, code=2, times=2))
    for _ in range(2):
        answer = await send(http, fake, "GET", f"{PN}/groups")
        assert answer.status == 500 and error_code(answer) == 2
        assert answer.body["error"]["is_transient"] is True
    assert fault.times == 0 and fake.faults == []
    assert (await send(http, fake, "GET", f"{PN}/groups")).status == 200
    assert fake.stats.faults_fired == 2


async def test_fault_filters_and_probability(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    fake.add_fault(Fault(method="POST", times=None))
    fake.add_fault(Fault(path="/nothing-like-this", times=None))
    fake.add_fault(Fault(probability=0.0, times=None))
    assert (await send(http, fake, "GET", f"{PN}/groups")).status == 200
    assert (await send(http, fake, "POST", f"{PN}/groups", json={})).status == 500
    fake.clear_faults()
    assert fake.faults == []


async def test_fault_fires_before_auth_and_carries_headers(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    fake.add_fault(Fault(status=400, code=80007, subcode=2494, retry_after=2.5, usage_minutes=3, message="Slow"))
    answer = await send(http, fake, "GET", f"{PN}/groups", token=None)
    assert answer.status == 400 and error_code(answer) == 80007
    assert answer.body["error"]["error_subcode"] == 2494 and answer.body["error"]["message"] == "(#80007) Slow"
    assert answer.headers["Retry-After"] == "2.5"
    usage = json.loads(answer.headers["X-Business-Use-Case-Usage"])
    assert usage[fake.waba_id][0]["estimated_time_to_regain_access"] == 3


async def test_fault_drop_closes_connection(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    # aiohttp repeats an idempotent request once by itself after a dropped connection: drop twice.
    fake.add_fault(Fault(drop=True, times=2))
    with pytest.raises(aiohttp.ClientError):
        await send(http, fake, "GET", f"{PN}/groups")
    assert [request.status for request in fake.requests] == [0, 0]
    assert (await send(http, fake, "GET", f"{PN}/groups")).status == 200


async def test_fault_malformed_answers_html(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    fake.add_fault(Fault(status=502, malformed=True))
    answer = await send(http, fake, "GET", f"{PN}/groups")
    assert answer.status == 502 and answer.body is None
    assert answer.headers["Content-Type"].startswith("text/html") and "<html>" in answer.text


async def test_fault_after_effect_applies_operation(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    fake.add_fault(Fault(method="POST", path=r"/groups$", status=500, code=1, after_effect=True))
    answer = await send(http, fake, "POST", f"{PN}/groups", json={"messaging_product": "whatsapp", "subject": "Twice?"})
    assert answer.status == 500 and error_code(answer) == 1
    assert [group.subject for group in fake.groups.values()] == ["Twice?"]


async def test_fault_after_effect_with_drop(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    group_id = fake.add_group("Ambiguous")
    fake.add_fault(Fault(method="POST", drop=True, after_effect=True, latency=0.0))
    body = {"messaging_product": "whatsapp", "participants": [{"user": "16505550001"}]}
    with pytest.raises(aiohttp.ClientError):
        await send(http, fake, "POST", f"{group_id}/participants", json=body)
    assert fake.groups[group_id].participants == ["16505550001"]


# -- rate limiter, latency and stats -------------------------------------------------------------


async def test_rate_limiter_throughput_code(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    fake.set_rate_limit(0, 2)
    statuses = [(await send(http, fake, "GET", f"{PN}/groups")).status for _ in range(3)]
    assert statuses == [200, 200, 400]
    answer = await send(http, fake, "GET", f"{PN}/groups")
    assert error_code(answer) == 130429 and "Retry-After" not in answer.headers
    assert fake.stats.throttled == 2 and fake.stats.requests == 4
    fake.set_rate_limit(None)
    assert (await send(http, fake, "GET", f"{PN}/groups")).status == 200


async def test_rate_limiter_group_code_with_retry_after(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    fake.set_rate_limit(0.5, 1, code=131208, retry_after_header=True)
    assert (await send(http, fake, "GET", f"{PN}/groups")).status == 200
    answer = await send(http, fake, "GET", f"{PN}/groups")
    assert answer.status == 429 and error_code(answer) == 131208
    assert 0 < float(answer.headers["Retry-After"]) <= 2


async def test_rate_limiter_is_checked_before_faults(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    fake.set_rate_limit(0, 1)
    fault = fake.add_fault(Fault(status=503, code=2, times=None))
    assert (await send(http, fake, "GET", f"{PN}/groups")).status == 503
    assert error_code(await send(http, fake, "GET", f"{PN}/groups")) == 130429
    assert fake.stats.faults_fired == 1 and fault.times is None


async def test_in_flight_accounting(http: aiohttp.ClientSession) -> None:
    fake = FakeGraphAPI(access_token=TOKEN, latency=30.0)
    await fake.start()
    try:
        tasks = [asyncio.ensure_future(send(http, fake, "GET", f"{PN}/groups")) for _ in range(3)]
        for _ in range(2000):
            if fake.stats.in_flight == 3:
                break
            await asyncio.sleep(0.005)
        assert fake.stats.in_flight == 3 and fake.stats.max_in_flight == 3
    finally:
        # Closing wakes the requests sleeping in the latency instead of waiting 30 seconds.
        await fake.close()
    answers = await asyncio.gather(*tasks, return_exceptions=True)
    assert len(answers) == 3
    assert fake.stats.in_flight == 0 and fake.stats.max_in_flight == 3
    fake.reset_stats()
    assert attrs.asdict(fake.stats) == {
        "requests": 0,
        "throttled": 0,
        "in_flight": 0,
        "max_in_flight": 0,
        "faults_fired": 0,
        "webhooks_sent": 0,
        "webhooks_failed": 0,
    }


async def test_small_latency_still_answers(http: aiohttp.ClientSession) -> None:
    async with FakeGraphAPI(access_token=TOKEN, latency=0.001) as fake:
        fake.add_fault(Fault(latency=0.002, status=500))
        assert (await send(http, fake, "GET", f"{PN}/groups")).status == 500
        assert (await send(http, fake, "GET", f"{PN}/groups")).status == 200


async def test_request_recording(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    await send(http, fake, "POST", f"{PN}/groups", json={"messaging_product": "whatsapp", "subject": "R"})
    await send(http, fake, "GET", f"{PN}/groups", params={"limit": "5"})
    post, get = fake.requests
    assert (post.method, post.path, post.status) == ("POST", f"/{V}/{PN}/groups", 200)
    assert post.json == {"messaging_product": "whatsapp", "subject": "R"} and post.form is None
    assert get.query == {"limit": "5"} and get.json is None


async def test_recording_can_be_turned_off(http: aiohttp.ClientSession) -> None:
    async with FakeGraphAPI(access_token=TOKEN, record_requests=False) as fake:
        await send(http, fake, "GET", f"{PN}/groups")
        assert fake.requests == [] and fake.stats.requests == 1


# -- webhooks ------------------------------------------------------------------------------------


@attrs.define
class Receiver:
    url: str
    deliveries: list[tuple[bytes, dict[str, str]]]

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body, _ in self.deliveries]

    def updates(self) -> list[tuple[str, dict[str, Any]]]:
        found = []
        for payload in self.payloads():
            change = payload["entry"][0]["changes"][0]
            found += [(change["field"], update) for update in change["value"]["groups"]]
        return found


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    deliveries: list[tuple[bytes, dict[str, str]]] = []

    async def handle(request: web.Request) -> web.Response:
        deliveries.append((await request.read(), dict(request.headers)))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield Receiver(f"http://{host}:{port}/hook", deliveries)
    finally:
        await runner.cleanup()


async def test_webhooks_are_signed_and_describe_events(receiver: Receiver, http: aiohttp.ClientSession) -> None:
    async with FakeGraphAPI(access_token=TOKEN, webhook_url=receiver.url, app_secret=SECRET) as fake:
        create = await send(
            http, fake, "POST", f"{PN}/groups", json={"messaging_product": "whatsapp", "subject": "Hooked"}
        )
        (group_id,) = fake.groups
        update = await send(http, fake, "POST", group_id, json={"messaging_product": "whatsapp", "subject": "Renamed"})
        participants = {"messaging_product": "whatsapp", "participants": [{"user": "16505550001"}]}
        await send(http, fake, "POST", f"{group_id}/participants", json=participants)
        await send(http, fake, "DELETE", f"{group_id}/participants", json=participants)
        fake.add_join_requests(group_id, 1, notify=True)
        await send(http, fake, "DELETE", group_id)
        await fake.flush_webhooks()
        assert fake.stats.webhooks_sent == 6

    for body, headers in receiver.deliveries:
        assert headers["Content-Type"].startswith("application/json")
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Hub-Signature-256"] == f"sha256={expected}"
        payload = json.loads(body)
        assert payload["object"] == "whatsapp_business_account"
        value = payload["entry"][0]["changes"][0]["value"]
        assert value["messaging_product"] == "whatsapp" and value["metadata"]["phone_number_id"] == PN
        assert value["metadata"]["display_phone_number"]

    kinds = [(field, update["type"]) for field, update in receiver.updates()]
    assert kinds == [
        ("group_lifecycle_update", "group_create"),
        ("group_settings_update", "group_settings_update"),
        ("group_participants_update", "group_participants_add"),
        ("group_participants_update", "group_participants_remove"),
        ("group_participants_update", "group_join_request_created"),
        ("group_lifecycle_update", "group_delete"),
    ]
    created, settings, _, removed, joined, deleted = (update for _, update in receiver.updates())
    assert created["request_id"] == create.body["request_id"] and created["group_id"] == group_id
    assert created["subject"] == "Hooked" and created["invite_link"].startswith("https://chat.whatsapp.com/")
    assert created["join_approval_mode"] == "auto_approve" and isinstance(created["timestamp"], str)
    assert settings["request_id"] == update.body["request_id"]
    assert settings["group_subject"] == {"text": "Renamed", "update_successful": True}
    assert removed["removed_participants"] == [{"input": "16505550001"}] and removed["initiated_by"] == "business"
    assert joined["wa_id"] and joined["join_request_id"]
    assert deleted["request_id"] and deleted["group_id"] == group_id


async def test_webhook_delay_and_unsigned_delivery(receiver: Receiver) -> None:
    async with FakeGraphAPI(webhook_url=receiver.url, webhook_delay=0.01) as fake:
        group_id = fake.add_group("Quiet")
        fake.suspend_group(group_id)
        await fake.flush_webhooks()
    ((body, headers),) = receiver.deliveries
    assert "X-Hub-Signature-256" not in headers
    assert json.loads(body)["entry"][0]["changes"][0]["value"]["groups"][0]["type"] == "group_suspend"


async def test_webhook_failures_are_dropped(receiver: Receiver) -> None:
    async with FakeGraphAPI(webhook_url=receiver.url + "/missing", app_secret=SECRET) as fake:
        group_id = fake.add_group("Lost")
        fake.add_join_requests(group_id, 2, notify=True)
        await fake.flush_webhooks()
        assert fake.stats.webhooks_failed == 2 and fake.stats.webhooks_sent == 0


async def test_close_cancels_pending_webhooks(receiver: Receiver) -> None:
    fake = FakeGraphAPI(webhook_url=receiver.url, webhook_delay=30.0)
    await fake.start()
    fake.suspend_group(fake.add_group("Later"))
    await fake.close()
    assert receiver.deliveries == []


async def test_no_webhooks_without_url(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    await create_group(http, fake)
    await fake.flush_webhooks()
    assert fake.stats.webhooks_sent == 0 and fake.stats.webhooks_failed == 0


# -- seeding helpers and building blocks ---------------------------------------------------------


async def test_seeding_helpers(fake: FakeGraphAPI) -> None:
    ids = fake.add_groups(3, subject_prefix="Seed")
    assert [fake.groups[group_id].subject for group_id in ids] == ["Seed 1", "Seed 2", "Seed 3"]
    assert len(set(ids)) == 3 and all(isinstance(fake.groups[i], FakeGroup) for i in ids)
    requests = fake.add_join_requests(ids[0], 2, wa_ids=["+1 650 555 0009", "16505550010"])
    assert [fake.groups[ids[0]].join_requests[r].wa_id for r in requests] == ["16505550009", "16505550010"]
    with pytest.raises(ValueError):
        fake.add_join_requests(ids[0], 3, wa_ids=["1"])
    with pytest.raises(ValueError):
        fake.add_group("x", phone_number_id="404")
    with pytest.raises(KeyError):
        fake.add_join_requests("missing", 1)


async def test_plain_dict_of_join_requests_is_accepted(fake: FakeGraphAPI, http: aiohttp.ClientSession) -> None:
    group_id = fake.add_group("Manual")
    source = FakeGraphAPI()
    other = source.add_group("Source")
    request_ids = source.add_join_requests(other, 2)
    fake.groups[group_id].join_requests = dict(source.groups[other].join_requests)  # type: ignore[assignment]
    answer = await send(http, fake, "GET", f"{group_id}/join_requests")
    assert [item["join_request_id"] for item in answer.body["data"]] == request_ids


def test_seeding_is_deterministic() -> None:
    first, second = FakeGraphAPI(seed=7), FakeGraphAPI(seed=7)
    assert first.add_groups(3) == second.add_groups(3)
    assert FakeGraphAPI(seed=8).add_groups(3) != FakeGraphAPI(seed=7).add_groups(3)


def test_indexed_dict_paging_survives_deletes() -> None:
    items: IndexedDict[int, str] = IndexedDict()
    for key in range(300):
        items[key] = str(key)
    for key in range(0, 250):
        del items[key]
    page, more = items.page(limit=10)
    assert [key for key, _ in page] == list(range(250, 260)) and more
    page, more = items.page(limit=100, after=255)
    assert [key for key, _ in page] == list(range(256, 300)) and not more
    page, _ = items.page(limit=3, before=260)
    assert [key for key, _ in page] == [257, 258, 259]
    page, _ = items.page(limit=5, where=lambda value: value.endswith("7"))
    assert [key for key, _ in page] == [257, 267, 277, 287, 297]
    with pytest.raises(KeyError):
        items.page(limit=1, after=3)
    items[3] = "back"
    assert list(items)[-1] == 3 and items.get(3) == "back" and items.get(-1) is None
    items.clear()
    assert items.page(limit=5) == ([], False)


_IDS = st.sampled_from(["a", "b", "c", "d"])
_INDEX = st.integers(-5, 5)
_MEMBER_OPS = st.one_of(
    st.tuples(st.just("append"), _IDS),
    st.tuples(st.just("extend"), st.lists(_IDS, max_size=3)),
    st.tuples(st.just("insert"), _INDEX, _IDS),
    st.tuples(st.just("remove"), _IDS),
    st.tuples(st.just("pop"), _INDEX),
    st.tuples(st.just("set"), _INDEX, _IDS),
    st.tuples(st.just("set_slice"), _INDEX, _INDEX, st.lists(_IDS, max_size=3)),
    st.tuples(st.just("del"), _INDEX),
    st.tuples(st.just("del_slice"), _INDEX, _INDEX),
    st.tuples(st.just("iadd"), st.lists(_IDS, max_size=3)),
    st.tuples(st.just("imul"), st.integers(-1, 3)),
    st.tuples(st.just("clear")),
    st.tuples(st.just("sort")),
    st.tuples(st.just("reverse")),
)


def _apply(members: list[str], op: tuple[Any, ...]) -> None:
    name, *args = op
    if name == "set":
        members[args[0]] = args[1]
    elif name == "set_slice":
        members[args[0] : args[1]] = args[2]
    elif name == "del":
        del members[args[0]]
    elif name == "del_slice":
        del members[args[0] : args[1]]
    elif name == "iadd":
        members += args[0]
    elif name == "imul":
        members *= args[0]
    else:
        getattr(members, name)(*args)


@settings(max_examples=300, deadline=None)
@given(st.lists(_IDS, max_size=4), st.lists(_MEMBER_OPS, max_size=12))
def test_member_list_answers_in_as_a_list_does(start: list[str], ops: list[tuple[Any, ...]]) -> None:
    members, plain = MemberList(start), list(start)
    for op in ops:
        outcomes: list[type[Exception] | None] = []
        for target in (members, plain):
            try:
                _apply(target, op)
                outcomes.append(None)
            except (IndexError, ValueError) as error:
                outcomes.append(type(error))
        assert outcomes[0] == outcomes[1]
        assert isinstance(members, MemberList) and members == plain
        assert [user for user in "abcde" if user in members] == [user for user in "abcde" if user in plain]
    for twin in (copy.copy(members), copy.deepcopy(members), pickle.loads(pickle.dumps(members))):
        twin.append("e")
        assert "e" in twin and ("e" in members) == ("e" in plain) and members == plain


def test_a_group_keeps_any_participants_list_as_a_member_list() -> None:
    group = FakeGroup(id="g", phone_number_id="1", subject="s", participants=["1", "2"])
    assert isinstance(group.participants, MemberList) and "2" in group.participants
    group.participants = ["3"]
    assert isinstance(group.participants, MemberList) and group.participants == ["3"]
    unhashable: object = []
    assert "1" not in group.participants and unhashable not in group.participants
    group.participants.append("4")
    assert "4" in group.participants and repr(group).count("['3', '4']") == 1


def test_normalize_user_and_jpeg_dimensions() -> None:
    assert normalize_user("+1 650-555-1234") == "16505551234"
    assert normalize_user("(650) 555.1234") == "6505551234"
    assert normalize_user("US.13491208655302741918") == "US.13491208655302741918"
    assert jpeg_dimensions(jpeg(300, 200)) == (300, 200)
    assert jpeg_dimensions(b"not a jpeg") is None


async def test_pytest_plugin_fixture(fake_graph: FakeGraphAPI, http: aiohttp.ClientSession) -> None:  # noqa: F811
    assert fake_graph.running
    answer = await send(http, fake_graph, "GET", f"{fake_graph.phone_number_id}/groups", token=fake_graph.access_token)
    assert answer.status == 200
