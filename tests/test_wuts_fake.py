"""FakeWutsAPI on the wire: WUTS's envelopes, validation lists, faults and the machinery shared with FakeGraphAPI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from wa_groups.testing import FakeGraphAPI, FakeWutsAPI, Fault, WutsFault
from wa_groups.testing._server import FakeServer


@pytest.fixture
async def fake() -> AsyncIterator[FakeWutsAPI]:
    async with FakeWutsAPI() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    fake: FakeWutsAPI, http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
) -> tuple[int, dict[str, Any], Any]:
    headers = {"Authorization": f"Bearer {fake.token}", **kwargs.pop("headers", {})}
    async with http.request(method, fake.base_url + path, headers=headers, **kwargs) as response:
        return response.status, dict(response.headers), await response.json()


def assert_envelope(body: dict[str, Any], error_code: str) -> None:
    assert body["success"] is False and body["error_code"] == error_code
    assert isinstance(body["error"], str) and body["error"]
    assert body["timestamp"].endswith("Z")


def test_the_machinery_is_shared_not_copied() -> None:
    assert issubclass(FakeWutsAPI, FakeServer) and issubclass(FakeGraphAPI, FakeServer)
    for name in ("start", "close", "_handle", "_dispatch", "add_fault", "set_rate_limit", "reset_stats"):
        assert name not in vars(FakeWutsAPI), name
    assert issubclass(WutsFault, Fault)


async def test_success_answers_are_flat(fake: FakeWutsAPI, http: aiohttp.ClientSession) -> None:
    status, _, body = await call(fake, http, "POST", "/communities", json={"name": "Solo"})
    assert status == 201 and body["success"] is True and "data" not in body
    community = body["community"]
    assert fake.groups[community["jid"]].is_community
    status, _, body = await call(fake, http, "GET", "/groups")
    assert status == 200 and {g["jid"] for g in body["groups"]} == {
        community["jid"],
        community["announcement_group_jid"],
    }


async def test_validation_envelope_names_the_field(fake: FakeWutsAPI, http: aiohttp.ClientSession) -> None:
    status, _, body = await call(
        fake, http, "POST", "/groups", json={"name": "X", "participants": ["5511911110001", "??"]}
    )
    assert status == 400
    assert_envelope(body, "VALIDATION_ERROR")
    assert body["validation"] == [
        {"field": "participants[1]", "message": "not a phone number, JID or LID", "value": "??"}
    ]
    status, _, body = await call(
        fake, http, "POST", "/groups", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert status == 400 and body["error"] == "malformed JSON"
    jid = fake.add_group("G")
    status, _, body = await call(fake, http, "PATCH", f"/groups/{jid}", json={})
    assert status == 400 and body["validation"][0]["field"] == "body"
    status, _, body = await call(fake, http, "PUT", f"/groups/{jid}/ephemeral", json={"duration_seconds": 60})
    assert status == 400 and body["validation"][0]["field"] == "duration_seconds"


async def test_error_statuses(fake: FakeWutsAPI, http: aiohttp.ClientSession) -> None:
    status, _, body = await call(fake, http, "GET", "/nowhere")
    assert status == 404
    assert_envelope(body, "NOT_FOUND")
    status, _, body = await call(fake, http, "GET", "/groups/120363000000000000@g.us")
    assert status == 404
    assert_envelope(body, "NOT_FOUND")
    status, _, body = await call(fake, http, "GET", "/groups/5511911110001@s.whatsapp.net")
    assert status == 400 and body["validation"][0]["field"] == "jid"
    status, _, body = await call(fake, http, "GET", "/groups", headers={"Authorization": "Bearer nope"})
    assert (status, body) == (401, {"success": False, "error": "Invalid token"})
    status, _, body = await call(fake, http, "GET", "/groups", headers={"Authorization": f"BEARER {fake.token}"})
    assert status == 200


async def test_device_not_ready_switch(fake: FakeWutsAPI, http: aiohttp.ClientSession) -> None:
    fake.device_ready = False
    status, _, body = await call(fake, http, "GET", "/groups")
    assert status == 503
    assert_envelope(body, "DEVICE_NOT_READY")
    fake.device_ready = True
    assert (await call(fake, http, "GET", "/groups"))[0] == 200


async def test_faults_and_rate_limit_speak_wuts(fake: FakeWutsAPI, http: aiohttp.ClientSession) -> None:
    fake.add_fault(WutsFault(method="GET", status=422, error_code="CUSTOM", validation=[{"field": "f"}], times=1))
    status, _, body = await call(fake, http, "GET", "/groups")
    assert status == 422 and body["error_code"] == "CUSTOM" and body["validation"] == [{"field": "f"}]
    fake.add_fault(Fault(status=503, retry_after=1.5))
    status, headers, body = await call(fake, http, "GET", "/groups")
    assert status == 503 and headers["Retry-After"] == "1.5"
    assert_envelope(body, "DEVICE_NOT_READY")
    fake.set_rate_limit(0, burst=1, retry_after_header=True)
    assert (await call(fake, http, "GET", "/groups"))[0] == 200
    status, headers, body = await call(fake, http, "GET", "/groups")
    assert status == 429 and "Retry-After" in headers
    assert_envelope(body, "RATE_LIMITED")
    assert fake.stats.throttled == 1 and fake.stats.faults_fired == 2


async def test_request_log_masks_the_token_and_counts_in_flight(http: aiohttp.ClientSession) -> None:
    async with FakeWutsAPI(latency=0.05) as fake:
        await asyncio.gather(*(call(fake, http, "GET", "/groups") for _ in range(4)))
        assert fake.stats.max_in_flight >= 2 and fake.stats.requests == 4
        assert all(fake.token not in repr(request) for request in fake.requests)
        assert fake.requests[0].headers["Authorization"] == f"Bearer {fake.token}"
        fake.reset_stats()
        assert fake.stats.requests == 0


async def test_participants_the_fake_cannot_handle_are_left_out(fake: FakeWutsAPI, http: aiohttp.ClientSession) -> None:
    member = "5511911110001@s.whatsapp.net"
    jid = fake.add_group("G", participants=[member])
    fake.unreachable.add("5511911110009@s.whatsapp.net")
    status, _, body = await call(
        fake,
        http,
        "POST",
        f"/groups/{jid}/participants",
        json={"participants": ["5511911110009", member, "5511911110002"]},
    )
    assert status == 200 and [p["jid"] for p in body["participants"]] == [member, "5511911110002@s.whatsapp.net"]
    status, _, body = await call(
        fake, http, "DELETE", f"/groups/{jid}/participants", json={"participants": [fake.device_jid, "5511911110005"]}
    )
    assert status == 200 and body["participants"] == []
    status, _, body = await call(
        fake, http, "POST", f"/groups/{jid}/participants", json={"participants": [member], "action": "ban"}
    )
    assert status == 400 and body["validation"][0]["field"] == "action"


async def test_seeding_helpers_refuse_nonsense() -> None:
    fake = FakeWutsAPI()
    with pytest.raises(ValueError, match="device"):
        fake.add_group("G", participants=["5511900000000"])
    with pytest.raises(ValueError, match="not a phone"):
        fake.add_group("G", participants=["who?"])
    with pytest.raises(ValueError, match="community"):
        fake.add_group("G", parent_jid=fake.add_group("Plain"))
    with pytest.raises(TypeError, match="async with"), fake:
        pass
    with pytest.raises(RuntimeError, match="not running"):
        fake.client()
    assert "not running" in repr(fake)


@pytest.mark.fake_wuts(latency=0.0)
async def test_pytest_plugin_gives_a_running_wuts_fake(fake_wuts: FakeWutsAPI) -> None:
    jid = fake_wuts.add_group("From the plugin")
    async with fake_wuts.client() as client:
        assert (await client.get_group(jid)).jid == jid
