"""``wa-groups --backend wuts`` end to end against FakeWutsAPI on 127.0.0.1.

The fake runs on the test's event loop; ``main()`` (which runs its own ``asyncio.run``) runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from wa_groups import RetryPolicy
from wa_groups.bulk import BulkResult
from wa_groups.cli import _config as cli_config
from wa_groups.cli import main
from wa_groups.testing import FakeWutsAPI, WutsFault
from wa_groups.wuts import WutsClient

CANARY = "CANARY-wuts-7e6d5c4b3a21"
A = "5511911110001@s.whatsapp.net"
B = "5511911110002@s.whatsapp.net"

Run = Callable[..., Awaitable[tuple[int, str, str]]]


async def no_sleep(seconds: float) -> None:
    """Return at once: retries still happen, without wall time."""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("WA_", "WUTS_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli_config, "WutsClient", functools.partial(WutsClient, retry=RetryPolicy(sleep=no_sleep)))


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeWutsAPI]:
    async with FakeWutsAPI(token=CANARY) as server:
        monkeypatch.setenv("WUTS_TOKEN", CANARY)
        monkeypatch.setenv("WUTS_BASE_URL", server.base_url)
        yield server


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    async def run(*argv: str, backend: str | None = "wuts") -> tuple[int, str, str]:
        arguments = ["--backend", backend, *argv] if backend else list(argv)
        code = await asyncio.to_thread(main, arguments)
        out, err = capsys.readouterr()
        assert CANARY not in out + err and "Traceback" not in out + err
        return code, out, err

    return run


# ------------------------------------------------------------------------------------------------- groups


async def test_groups_list_show_and_json(fake: FakeWutsAPI, cli: Run) -> None:
    assert await cli("groups", "list") == (0, "No groups.\n", "")
    jid = fake.add_group("Book club", participants=[A, B], admins=[A])
    code, out, _ = await cli("groups", "list")
    assert code == 0 and jid in out and "Book club" in out and out.splitlines()[-1] == "1 group"
    code, out, _ = await cli("groups", "list", "--json")
    assert code == 0 and json.loads(out)[0]["jid"] == jid
    code, out, _ = await cli("groups", "show", jid)
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line.startswith(("5511", "JID"))]
    roles = {row[0]: row[-1] for row in rows[1:]}
    assert roles == {fake.device_jid: "admin", A: "admin", B: "member"}
    assert "super" in out
    code, out, _ = await cli("--json", "groups", "show", jid)
    assert json.loads(out)["members_count"] == 3


async def test_groups_create_update_leave(fake: FakeWutsAPI, cli: Run) -> None:
    code, out, err = await cli("--json", "groups", "create", "Team", "+55 (11) 91111-0001", B, "--announcement")
    assert code == 0, err
    created = json.loads(out)
    group = fake.groups[created["jid"]]
    assert set(group.members) == {fake.device_jid, A, B} and group.announce
    code, out, _ = await cli("groups", "update", group.jid, "--name", "Team 2", "--no-announcement", "--locked")
    assert code == 0 and "Updated group" in out
    assert (group.name, group.announce, group.locked) == ("Team 2", False, True)
    code, _, err = await cli("groups", "update", group.jid)
    assert code == 2 and "--name" in err
    code, _, err = await cli("groups", "create", "Nobody")
    assert code == 2 and "needs at least one USER" in err
    code, out, _ = await cli("groups", "leave", group.jid, "--yes")
    assert code == 0 and fake.device_jid not in group.members


async def test_invite_link(fake: FakeWutsAPI, cli: Run) -> None:
    jid = fake.add_group("Links")
    code, out, _ = await cli("invite-link", "get", jid)
    assert (code, out.strip()) == (0, fake.groups[jid].invite_link)
    code, out, _ = await cli("--json", "invite-link", "reset", jid, "--yes")
    data = json.loads(out)
    assert code == 0 and data["invite_link"] == fake.groups[jid].invite_link and data["reset_at"]


# ------------------------------------------------------------------------------------------- participants


async def test_participants_every_action_in_one_call(fake: FakeWutsAPI, cli: Run) -> None:
    jid = fake.add_group("Team")
    code, out, _ = await cli("participants", "add", jid, "+55 (11) 91111-0001", "5511911110002", "77@lid")
    assert code == 0 and "3 of 3 participants added" in out
    assert set(fake.groups[jid].members) == {fake.device_jid, A, B, "77@lid"}
    code, out, _ = await cli("participants", "promote", jid, A)
    assert code == 0 and fake.groups[jid].members[A].is_admin and "promoted" in out
    code, out, _ = await cli("--json", "participants", "demote", jid, A, "5511955550000")
    assert code == 1  # the second one is not a member
    data = json.loads(out)
    assert data["succeeded"] == [A] and list(data["failed"]) == ["5511955550000@s.whatsapp.net"]
    code, out, _ = await cli("participants", "remove", jid, "77@lid")
    assert code == 0 and "77@lid" not in fake.groups[jid].members


async def test_participants_bulk_with_report_and_resume(fake: FakeWutsAPI, cli: Run, tmp_path: Path) -> None:
    members = [f"55219{n:08d}" for n in range(20)]
    jid = fake.add_group("Big", participants=members)
    (tmp_path / "users.txt").write_text("# admins to be\n" + "\n".join(members) + "\n")
    fake.add_fault(WutsFault(path="/participants$", status=500, times=100))
    code, out, _ = await cli("participants", "promote", jid, "--users-file", "users.txt", "--report", "p.json")
    assert fake.stats.faults_fired == 3 * 5  # three batches, each tried five times
    assert code == 1 and "promote_participants" in out
    first = BulkResult.from_json((tmp_path / "p.json").read_text())
    assert len(first.failed) == 20 and all(f.retryable for f in first.failed)
    fake.clear_faults()
    code, out, err = await cli("--json", "participants", "promote", jid, "--resume", "p.json")
    assert code == 0, err
    assert json.loads(out)["counts"]["succeeded"] == 20
    assert all(fake.groups[jid].members[f"{p}@s.whatsapp.net"].is_admin for p in members)
    assert all(len(r.json["participants"]) <= 8 for r in fake.requests if r.json)


# --------------------------------------------------------------------------------------------- communities


async def test_communities(fake: FakeWutsAPI, cli: Run) -> None:
    code, out, _ = await cli("--json", "communities", "create", "Neighbours", A)
    assert code == 0
    community = json.loads(out)["jid"]
    assert fake.groups[community].is_community and A in fake.groups[community].members
    code, out, _ = await cli("communities", "add", community, "+55 11 91111-0002")
    assert code == 0 and B in fake.groups[community].members
    code, out, _ = await cli("communities", "remove", community, A)
    assert code == 0 and A not in fake.groups[community].members
    group = fake.add_group("Child")
    code, out, _ = await cli("communities", "link", community, group)
    assert code == 0 and fake.groups[group].parent_jid == community and "Linked" in out
    code, out, _ = await cli("--json", "communities", "unlink", community, group)
    assert code == 0 and json.loads(out)["linked"] is False and fake.groups[group].parent_jid is None


# ---------------------------------------------------------------------------------------- usage and errors


async def test_commands_of_the_other_backend_say_so(fake: FakeWutsAPI, cli: Run) -> None:
    code, out, err = await cli("join-requests", "list", "G1")
    assert (code, out) == (2, "") and "needs --backend graph" in err
    code, out, err = await cli("communities", "create", "X", backend=None)
    assert (code, out) == (2, "") and "needs --backend wuts" in err
    code, _, err = await cli("groups", "delete", "1@g.us")
    assert code == 2 and "invalid choice" in err
    code, _, err = await cli("groups", "list", backend="nope")
    assert code == 2 and "--backend" in err


async def test_help_is_the_backend_s_own(cli: Run) -> None:
    code, out, _ = await cli("--help")
    assert code == 0 and "WUTS_TOKEN" in out and "communities" in out and "WA_ACCESS_TOKEN" not in out
    code, out, _ = await cli("participants", "promote", "--help")
    assert code == 0 and "JID" in out
    code, out, _ = await cli("--help", backend=None)
    assert code == 0 and "--backend" in out and "WA_ACCESS_TOKEN" in out
    code, out, _ = await cli("--back=wuts", "--help", backend=None)
    assert code == 0 and "WUTS_TOKEN" in out


async def test_credentials(fake: FakeWutsAPI, cli: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WUTS_TOKEN")
    code, out, err = await cli("groups", "list")
    assert (code, out) == (2, "")
    assert err == "wa-groups: error: no WUTS token: set WUTS_TOKEN or pass --token-file PATH\n"
    (tmp_path / "token").write_text(CANARY + "\n")
    assert (await cli("groups", "list", "--token-file", "token"))[0] == 0
    monkeypatch.setenv("WUTS_TOKEN", "not-the-token")
    code, _, err = await cli("-v", "groups", "list")
    assert code == 1 and err.splitlines()[-1] == "wa-groups: error: Invalid token [HTTP 401]"
    assert err.startswith("wa-groups: WUTS gateway at http://127.0.0.1:")  # -v says where the command goes


async def test_errors_are_one_line(fake: FakeWutsAPI, cli: Run) -> None:
    jid = fake.add_group("G")
    code, out, err = await cli("participants", "add", jid, "call me maybe")
    assert (code, out) == (2, "") and err.count("\n") == 1 and "not a participant WUTS accepts" in err
    fake.device_ready = False
    code, out, err = await cli("groups", "show", jid, "--timeout", "5")
    assert (code, out) == (1, "") and err == "wa-groups: error: WhatsApp session is not connected [HTTP 503]\n"
