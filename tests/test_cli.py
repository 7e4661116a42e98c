"""End-to-end tests of the ``wa-groups`` command against the fake Graph API on 127.0.0.1.

The fake runs on its own event loop in a background thread, so ``main()`` (which runs ``asyncio.run``) can be
called in-process, and a child process (``python -m wa_groups``) can be pointed at it for the Ctrl-C tests.
"""

from __future__ import annotations

import functools
import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wa_groups.bulk import BulkProgress, BulkReport, BulkResult
from wa_groups.cli import main
from wa_groups.cli._output import ProgressDisplay, format_table
from wa_groups.testing import FakeGraphAPI
from wa_groups.testing.threaded import ThreadedFake

CANARY = "CANARY-tok3n-9f8e7d6c5b4a"
REPO_ROOT = str(Path(__file__).resolve().parent.parent)
#: Upper bound for waits on a child process; only a safety net against hangs, never an assertion on speed.
DEADLINE = 60.0

GraphFake = ThreadedFake[FakeGraphAPI]


@pytest.fixture
def make_fake() -> Iterator[Callable[..., GraphFake]]:
    started: list[GraphFake] = []

    def make(**options: Any) -> GraphFake:
        options.setdefault("access_token", CANARY)
        fake = ThreadedFake(functools.partial(FakeGraphAPI, **options), timeout=DEADLINE).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()


def _point_env(monkeypatch: pytest.MonkeyPatch, fake: FakeGraphAPI, token: str = CANARY) -> None:
    monkeypatch.setenv("WA_ACCESS_TOKEN", token)
    monkeypatch.setenv("WA_PHONE_NUMBER_ID", fake.phone_number_id)
    monkeypatch.setenv("WA_BASE_URL", fake.base_url)
    monkeypatch.setenv("WA_API_VERSION", fake.api_version)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("WA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def graph(make_fake: Callable[..., GraphFake], monkeypatch: pytest.MonkeyPatch) -> GraphFake:
    fake = make_fake()
    _point_env(monkeypatch, fake.fake)
    return fake


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        for stream in (captured.out, captured.err):
            assert CANARY not in stream
            assert "Traceback" not in stream
        return code, captured.out, captured.err

    return run


# ------------------------------------------------------------------------------------------------- groups


def test_groups_list_table(graph: GraphFake, cli: Run) -> None:
    ids = graph.call(graph.fake.add_groups, 3, "Book club")
    code, out, err = cli("groups", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["GROUP", "ID", "SUBJECT", "CREATED", "(UTC)"]
    for index, gid in enumerate(ids, 1):
        assert any(gid in line and f"Book club {index}" in line for line in lines)
    assert lines[-1] == "3 groups"


def test_groups_list_json_accepts_global_options_after_the_command(graph: GraphFake, cli: Run) -> None:
    ids = graph.call(graph.fake.add_groups, 30)
    code, out, _ = cli("groups", "list", "--json", "--page-size", "7")
    assert code == 0
    listed = json.loads(out)
    assert [group["id"] for group in listed["groups"]] == ids
    assert listed["after"] is None
    assert listed["groups"][0]["subject"] == "Group 1"
    assert "created_at" in listed["groups"][0]
    code, out, _ = cli("--json", "groups", "list", "--limit", "4")
    assert code == 0
    first = json.loads(out)
    assert [group["id"] for group in first["groups"]] == ids[:4]
    code, out, _ = cli("--json", "groups", "list", "--limit", "4", "--after", first["after"])
    assert [group["id"] for group in json.loads(out)["groups"]] == ids[4:8]


def test_groups_list_empty(graph: GraphFake, cli: Run) -> None:
    assert cli("groups", "list") == (0, "No active groups.\n", "")
    code, out, _ = cli("groups", "list", "--json")
    assert code == 0
    assert json.loads(out) == {"groups": [], "after": None}


def test_groups_show(graph: GraphFake, cli: Run) -> None:
    gid = graph.call(
        graph.fake.add_group, "Hikers", description="Weekend walks", participants=["+1 650 555 0101", "16505550102"]
    )
    code, out, _ = cli("groups", "show", gid)
    assert code == 0
    assert "Hikers" in out
    assert "Weekend walks" in out
    assert "16505550101" in out
    assert "16505550102" in out
    code, out, _ = cli("--json", "groups", "show", gid)
    assert code == 0
    data = json.loads(out)
    assert data["id"] == gid
    assert data["total_participant_count"] == 2
    assert {p["wa_id"] for p in data["participants"]} == {"16505550101", "16505550102"}


def test_groups_create_update_delete(graph: GraphFake, cli: Run) -> None:
    code, out, err = cli(
        "groups", "create", "Reading circle", "--description", "Monthly", "--join-approval-mode", "approval_required"
    )
    assert code == 0, err
    assert "request_id" in out
    (group,) = graph.call(lambda: list(graph.fake.groups.values()))
    assert (group.subject, group.description, group.join_approval_mode) == (
        "Reading circle",
        "Monthly",
        "approval_required",
    )
    code, out, _ = cli("--json", "groups", "update", group.id, "--subject", "Reading club")
    assert code == 0
    assert json.loads(out)["group_id"] == group.id
    assert graph.call(lambda: graph.fake.groups[group.id].subject) == "Reading club"
    code, _, err = cli("groups", "update", group.id)
    assert code == 2
    assert "--subject" in err
    assert cli("groups", "delete", group.id, "--yes")[0] == 0
    assert graph.call(lambda: len(graph.fake.groups)) == 0


def test_invite_link(graph: GraphFake, cli: Run) -> None:
    gid = graph.call(graph.fake.add_group, "Link test")
    code, out, _ = cli("invite-link", "get", gid)
    assert code == 0
    link = out.strip()
    assert link == graph.call(lambda: graph.fake.groups[gid].invite_link)
    assert link.startswith("https://")
    code, out, _ = cli("--json", "invite-link", "reset", gid, "--yes")
    assert code == 0
    assert json.loads(out)["invite_link"] not in (None, link)
    code, out, _ = cli("invite-link", "delete", gid, "-y")
    assert code == 0
    assert "deleted" in out


def test_participants_add_and_remove(graph: GraphFake, cli: Run) -> None:
    gid = graph.call(graph.fake.add_group, "Team")
    code, out, err = cli("participants", "add", gid, "+1 (650) 555-0100", "16505550101")
    assert code == 0, err
    assert "request_id" in out
    assert graph.call(lambda: list(graph.fake.groups[gid].participants)) == ["16505550100", "16505550101"]
    assert cli("participants", "remove", gid, "16505550100")[0] == 0
    assert graph.call(lambda: list(graph.fake.groups[gid].participants)) == ["16505550101"]


def test_participants_bulk_with_users_file(
    make_fake: Callable[..., GraphFake], monkeypatch: pytest.MonkeyPatch, cli: Run, tmp_path: Path
) -> None:
    fake = make_fake(max_participants=1000)
    _point_env(monkeypatch, fake.fake)
    gid = fake.call(fake.fake.add_group, "Big team")
    users = [f"1650555{n:04d}" for n in range(20)]
    (tmp_path / "users.txt").write_text("# people\n" + "\n".join(users) + "\n")
    code, out, err = cli("participants", "add", gid, "--users-file", "users.txt", "--report", "add.json")
    assert code == 0, err
    assert fake.call(lambda: sorted(fake.fake.groups[gid].participants)) == users
    result = BulkResult.from_json((tmp_path / "add.json").read_text())
    assert sorted(result.succeeded) == users
    assert "add_participants" in out


# ------------------------------------------------------------------------------------------ join requests


def test_join_requests_list(graph: GraphFake, cli: Run) -> None:
    gid = graph.call(graph.fake.add_group, "Queue")
    ids = graph.call(graph.fake.add_join_requests, gid, 3)
    code, out, _ = cli("join-requests", "list", gid)
    assert code == 0
    assert all(request_id in out for request_id in ids)
    code, out, _ = cli("--json", "join-requests", "list", gid, "--limit", "2")
    assert [item["join_request_id"] for item in json.loads(out)] == ids[:2]


def test_join_requests_approve_all_with_report(
    make_fake: Callable[..., GraphFake], monkeypatch: pytest.MonkeyPatch, cli: Run, tmp_path: Path
) -> None:
    fake = make_fake(max_participants=1000)
    _point_env(monkeypatch, fake.fake)
    gid = fake.call(fake.fake.add_group, "Popular", join_approval_mode="approval_required")
    ids = fake.call(fake.fake.add_join_requests, gid, 50)
    code, out, err = cli("join-requests", "approve", gid, "--all", "--report", "approve.json", "--concurrency", "3")
    assert code == 0, err
    result = BulkResult.from_json((tmp_path / "approve.json").read_text())
    assert result.ok
    assert result.exhausted
    assert sorted(result.succeeded) == sorted(ids)
    assert fake.call(lambda: dict(fake.fake.approved)) == dict.fromkeys(ids, 1)
    assert "approve_join_requests" in out
    assert "50" in out
    assert "Approving join requests:" in err  # plain progress lines: stderr is not a terminal here


def test_join_requests_reject_explicit_ids_json(graph: GraphFake, cli: Run, tmp_path: Path) -> None:
    gid = graph.call(graph.fake.add_group, "Picky")
    ids = graph.call(graph.fake.add_join_requests, gid, 3)
    code, out, _ = cli("--json", "join-requests", "reject", gid, ids[0], ids[1], "no-such-request")
    assert code == 1
    summary = json.loads(out)
    assert summary["counts"]["succeeded"] == 2
    assert summary["counts"]["failed"] == 1
    assert list(summary["failed_by_error"]) == ["#131213 Join request does not exist"]
    # The default report name is the job's own: action, group and UTC time.
    assert summary["report"].startswith(f"wa-groups-reject-join-requests-{gid}-")
    assert (tmp_path / summary["report"]).exists()
    assert graph.call(lambda: dict(graph.fake.rejected)) == {ids[0]: 1, ids[1]: 1}


def test_join_requests_all_groups(graph: GraphFake, cli: Run, tmp_path: Path) -> None:
    open_ids: list[str] = []
    for gid in graph.call(graph.fake.add_groups, 5):
        open_ids += graph.call(graph.fake.add_join_requests, gid, 4)
    full = graph.call(graph.fake.add_group, "Full", participants=[f"1555000000{n}" for n in range(8)])
    blocked = graph.call(graph.fake.add_join_requests, full, 2)
    code, out, err = cli("join-requests", "approve", "--all-groups", "--yes")
    assert code == 1  # the full group's requests failed
    assert "#131204 Participant limit reached" in out
    (written,) = tmp_path.glob("wa-groups-approve-join-requests-all-groups-*.json")
    report = BulkReport.from_json(written.read_text())
    assert report.counts == {"groups": 6, "succeeded": 20, "failed": 2, "not_attempted": 0, "total": 22}
    assert {f.item for f in report.groups[full].failed} == set(blocked)
    assert graph.call(lambda: dict(graph.fake.approved)) == dict.fromkeys(open_ids, 1)
    assert "some items were not done" in err


def test_join_requests_all_groups_success_json(graph: GraphFake, cli: Run) -> None:
    for gid in graph.call(graph.fake.add_groups, 3):
        graph.call(graph.fake.add_join_requests, gid, 2)
    code, out, _ = cli("--json", "join-requests", "approve", "--all-groups", "--report", "r.json", "--yes")
    assert code == 0
    summary = json.loads(out)
    assert summary["ok"] is True
    assert summary["counts"]["succeeded"] == 6


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["join-requests", "approve"], "needs GROUP_ID"),
        (["join-requests", "approve", "G1"], "needs JOIN_REQUEST_IDs"),
        (["join-requests", "approve", "G1", "J1", "--all"], "not both"),
        (["join-requests", "approve", "G1", "--all-groups"], "takes no GROUP_ID"),
        (["join-requests", "approve", "G1", "--resume", "r.json"], "repeat the original selection"),
        (["join-requests", "approve", "G1", "--all", "--resume", "missing.json"], "cannot read the report"),
    ],
)
def test_join_requests_usage_errors(graph: GraphFake, cli: Run, argv: list[str], message: str) -> None:
    code, out, err = cli(*argv)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert message in err


def test_resume_rejects_a_report_of_another_job(graph: GraphFake, cli: Run, tmp_path: Path) -> None:
    gid = graph.call(graph.fake.add_group, "One")
    (tmp_path / "one.json").write_text(BulkResult(action="approve_join_requests", group_id=gid).to_json())
    code, _, err = cli("join-requests", "reject", gid, "--all", "--resume", "one.json")
    assert code == 2
    assert "another job (approve join requests), not of reject join requests" in err
    code, _, err = cli("join-requests", "approve", "--all-groups", "--resume", "one.json", "--yes")
    assert code == 2
    assert "one-group job" in err
    code, _, err = cli("join-requests", "approve", "other-group", "--all", "--resume", "one.json")
    assert code == 2
    before = (tmp_path / "one.json").read_text()
    assert BulkResult.from_json(before).group_id == gid  # a refused resume leaves its file alone


# ------------------------------------------------------------------------------------------------- errors


def test_api_error_is_one_line_and_exit_1(graph: GraphFake, cli: Run) -> None:
    code, out, err = cli("groups", "show", "unknown-group")
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("wa-groups: error: (#131041) Group unknown")
    assert "[HTTP 400]" in err


def test_missing_token_exit_2(graph: GraphFake, cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WA_ACCESS_TOKEN")
    code, out, err = cli("groups", "list")
    assert code == 2
    assert out == ""
    assert err == "wa-groups: error: no access token: set WA_ACCESS_TOKEN or pass --token-file PATH\n"


def test_missing_phone_number_id_exit_2(graph: GraphFake, cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WA_PHONE_NUMBER_ID")
    code, _, err = cli("groups", "list")
    assert code == 2
    assert "WA_PHONE_NUMBER_ID" in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["groups"],
        ["no-such-command"],
        ["groups", "list", "--limit", "lots"],
        ["groups", "list", "--limit", "0"],
        ["demo", "--latency", "-1"],
        ["webhooks", "serve"],
    ],
)
def test_bad_arguments_exit_2(cli: Run, argv: list[str]) -> None:
    code, out, err = cli(*argv)
    assert code == 2
    assert out == ""
    assert "error:" in err


def test_invalid_configuration_exit_2(graph: GraphFake, cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WA_BASE_URL", "http://graph.example.com")  # plain http only for loopback
    code, _, err = cli("groups", "list")
    assert code == 2
    assert err.startswith("wa-groups: error:")
    assert err.count("\n") == 1


def test_help_and_version_exit_0(cli: Run) -> None:
    code, out, _ = cli("--help")
    assert code == 0
    assert "exit status" in out
    code, out, _ = cli("--version")
    assert code == 0
    assert out.startswith("wa-groups ")


def test_token_file(graph: GraphFake, cli: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WA_ACCESS_TOKEN")
    (tmp_path / "token").write_text(CANARY + "\n")
    graph.call(graph.fake.add_groups, 2)
    code, out, _ = cli("--token-file", "token", "groups", "list")
    assert code == 0
    assert "2 groups" in out
    code, _, err = cli("groups", "list", "--token-file", "absent")
    assert code == 2
    assert "cannot read the token file absent" in err


def test_rejected_token_is_never_printed(
    make_fake: Callable[..., GraphFake], monkeypatch: pytest.MonkeyPatch, cli: Run
) -> None:
    fake = make_fake(access_token="the-right-token")
    _point_env(monkeypatch, fake.fake, token=CANARY)  # the fake refuses the canary
    for argv in (
        ["groups", "list"],
        ["--json", "join-requests", "approve", "--all-groups", "--yes"],
        ["-v", "groups", "list"],
    ):
        code, _, err = cli(*argv)  # the fixture asserts the canary appears nowhere
        assert code == 1
        assert "error:" in err


def test_verbose_logging_keeps_the_token_out(graph: GraphFake, cli: Run, caplog: pytest.LogCaptureFixture) -> None:
    graph.call(graph.fake.add_fault, _fault(status=500, code=131000, times=1))
    code, _, _ = cli("-v", "groups", "list")
    assert code == 0
    assert CANARY not in caplog.text


def _fault(**options: Any) -> Any:
    from wa_groups.testing import Fault

    return Fault(**options)


# -------------------------------------------------------------------------------------------------- demo


@pytest.fixture
def demo_servers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Keep every demo server the command starts, to read the fake's own record afterwards."""
    from wa_groups.testing import demo

    started: list[Any] = []

    class KeptDemoServer(demo.DemoServer):
        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            started.append(self)

    monkeypatch.setattr(demo, "DemoServer", KeptDemoServer)
    return started


def _fake_broadcast_record(server: Any) -> tuple[int, int]:
    """Return the groups that accepted the demo broadcast and their participants, by the fake's record."""
    fake = server.fake
    return len(fake.group_sends), sum(len(fake.groups[gid].participants) for gid in fake.group_sends)


def test_demo_small(cli: Run, tmp_path: Path, demo_servers: list[Any]) -> None:
    code, out, err = cli("demo", "--groups", "20", "--requests", "200", "--latency", "0")
    assert code == 0, err
    assert "Streamed 20 groups" in out
    assert "#131204 Participant limit reached" in out
    assert "no join request id sent twice" in out
    report = BulkReport.from_json((tmp_path / "wa-groups-demo-report.json").read_text())
    assert report.groups_exhausted
    assert report.total == 200
    assert report.failed > 0
    assert "Approving join requests:" in err
    # The broadcast's summary, counted from the webhooks received, matches what the fake sent.
    (server,) = demo_servers
    sent_to, members = _fake_broadcast_record(server)
    suspended = sum(1 for group in server.fake.groups.values() if group.suspended)
    assert 0 < sent_to < 20 and members > 0 and suspended > 0
    assert f"Broadcast: sent to {sent_to} of 20 groups in " in out
    assert f"failed (#131207 Group suspended: {suspended})" in out
    assert f"delivered {members:,}, read {members:,} (one per message and participant)." in out
    assert f"Server check: {sent_to} groups accepted the message; they have {members:,} participants." in out
    assert out.index("Server check: ") < out.index("Broadcasting ") < out.index("Broadcast: sent to")


def test_demo_json(cli: Run, tmp_path: Path, demo_servers: list[Any]) -> None:
    code, out, _ = cli("--json", "demo", "--groups", "10", "--requests", "50", "--latency", "0", "--report", "d.json")
    assert code == 0
    summary = json.loads(out)
    assert summary["counts"]["total"] == 50
    assert summary["server"]["approved"] == summary["counts"]["succeeded"]
    assert summary["server"]["sent_twice"] == 0
    assert (tmp_path / "d.json").exists()
    (server,) = demo_servers
    sent_to, members = _fake_broadcast_record(server)
    broadcast = summary["broadcast"]
    assert broadcast["statuses_complete"] is True
    assert broadcast["groups"] == 10 and broadcast["sent_to"] == sent_to == broadcast["server"]["sent_to"]
    assert broadcast["delivered"] == broadcast["read"] == members == broadcast["server"]["participants"]
    assert broadcast["sent_to"] + broadcast["failed"] == 10


# ------------------------------------------------------------------------------------- Ctrl-C and resume


def _child_env(fake: FakeGraphAPI) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("WA_")}
    env.update(
        PYTHONPATH=REPO_ROOT + os.pathsep + env.get("PYTHONPATH", ""),
        WA_ACCESS_TOKEN=CANARY,
        WA_PHONE_NUMBER_ID=fake.phone_number_id,
        WA_BASE_URL=fake.base_url,
    )
    return env


def _wait_for(condition: Callable[[], bool], child: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if child.poll() is not None:
            pytest.fail(f"the command ended early with status {child.returncode}: {child.communicate()}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail("the condition never came true")
        time.sleep(0.01)


def test_ctrl_c_writes_the_report_and_resume_finishes_the_job(
    make_fake: Callable[..., GraphFake], monkeypatch: pytest.MonkeyPatch, cli: Run, tmp_path: Path
) -> None:
    threaded = make_fake(max_participants=100_000, latency=0.01, record_requests=False)
    fake = threaded.fake
    everything: list[str] = []
    for gid in threaded.call(fake.add_groups, 60):
        everything += threaded.call(fake.add_join_requests, gid, 20)
    child = subprocess.Popen(
        [sys.executable, "-m", "wa_groups", "join-requests", "approve", "--all-groups", "--concurrency", "2", "--yes"],
        cwd=tmp_path,
        env=_child_env(fake),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: len(fake.approved) >= 40, child)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=DEADLINE)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 130, err
    assert CANARY not in out + err
    assert "Traceback" not in err
    (written,) = tmp_path.glob("wa-groups-approve-join-requests-all-groups-*.json")
    assert f"--resume {written.name}" in err
    partial = BulkReport.from_json(written.read_text())
    assert 0 < partial.succeeded < len(everything)
    recorded = [
        item for r in partial.groups.values() for item in [*r.succeeded, *(f.item for f in r.failed), *r.not_attempted]
    ]
    assert len(recorded) == len(set(recorded)) == partial.total  # each item in one place only
    unknown = {f.item for r in partial.groups.values() for f in r.failed if f.error.outcome_unknown}
    assert {f.item for r in partial.groups.values() for f in r.failed} == unknown  # only in-flight batches failed

    _point_env(monkeypatch, fake)
    code, out, err = cli("join-requests", "approve", "--all-groups", "--resume", written.name, "--yes")
    final = BulkReport.from_json(written.read_text())
    # Batches in flight at Ctrl-C may have been carried out: their ids, gone on the retry (#131213), count as done.
    assert [f for r in final.groups.values() for f in r.failed] == []
    assert code == 0, err
    assert final.groups_exhausted and final.ok
    assert final.not_attempted == 0
    assert final.succeeded == len(everything)
    sends = threaded.call(lambda: dict(fake.join_request_sends))
    assert all(sends[item] == 1 for item in everything if item not in unknown)
    assert threaded.call(lambda: dict(fake.approved)) == dict.fromkeys(everything, 1)
    assert threaded.call(lambda: sum(len(g.join_requests) for g in fake.groups.values())) == 0


def test_ctrl_c_on_one_group_with_explicit_ids_and_resume(
    make_fake: Callable[..., GraphFake], monkeypatch: pytest.MonkeyPatch, cli: Run, tmp_path: Path
) -> None:
    threaded = make_fake(max_participants=100_000, latency=0.02, record_requests=False)
    fake = threaded.fake
    gid = threaded.call(fake.add_group, "Crowd")
    ids = threaded.call(fake.add_join_requests, gid, 400)
    argv = ["join-requests", "approve", gid, *ids, "--report", "one.json", "--concurrency", "1"]
    child = subprocess.Popen(
        [sys.executable, "-m", "wa_groups", *argv],
        cwd=tmp_path,
        env=_child_env(fake),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: len(fake.approved) >= 16, child)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=DEADLINE)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 130, err
    partial = BulkResult.from_json((tmp_path / "one.json").read_text())
    assert partial.total == len(ids)  # every id is accounted for, those never sent as not attempted
    assert partial.not_attempted

    _point_env(monkeypatch, fake)
    code, _, err = cli(*argv, "--resume", "one.json", "--concurrency", "8")
    final = BulkResult.from_json((tmp_path / "one.json").read_text())
    assert not final.failed and final.ok
    assert code == 0, err
    assert final.total == len(ids)
    assert threaded.call(lambda: dict(fake.approved)) == dict.fromkeys(ids, 1)


def test_webhooks_serve(tmp_path: Path, cli: Run) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("WA_")}
    env.update(PYTHONPATH=REPO_ROOT, WA_APP_SECRET="app-secret-value", WA_VERIFY_TOKEN="verify-me")
    child = subprocess.Popen(
        [sys.executable, "-m", "wa_groups", "webhooks", "serve", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stderr is not None
        line = child.stderr.readline()
        assert "receiving webhooks on http://127.0.0.1:" in line
        url = line.split()[3].rstrip("/")
        query = "hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=4242"
        with urllib.request.urlopen(f"{url}/?{query}", timeout=DEADLINE) as answer:
            assert answer.read() == b"4242"
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=DEADLINE)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 130
    assert "verify-me" not in err
    assert "app-secret-value" not in err


def test_webhooks_serve_needs_the_secrets(cli: Run) -> None:
    code, _, err = cli("webhooks", "serve", "--port", "0")
    assert code == 2
    assert "WA_APP_SECRET and WA_VERIFY_TOKEN" in err


# ------------------------------------------------------------------------------------------------- output


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _progress(done: int, failed: int = 0, total: int | None = None) -> BulkProgress:
    return BulkProgress(done=done, total=total, succeeded=done - failed, failed=failed)


def test_plain_progress_is_throttled() -> None:
    clock = _Clock()
    stream = io.StringIO()
    display = ProgressDisplay(stream, label="job", total=1000, clock=clock)
    for done in range(1, 1000):
        clock.now = 100.0 + done / 1000  # under 1 s in all: only the 10 % steps print
        display(_progress(done, failed=done // 10))
    display.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("job: 10% 100/1,000 (10 failed)")
    assert lines[-1].startswith("job: 99% 999/1,000")
    assert " in " in lines[-1]


def test_plain_progress_without_total_prints_about_once_a_second() -> None:
    clock = _Clock()
    stream = io.StringIO()
    display = ProgressDisplay(stream, label="job", clock=clock)
    for done in range(1, 301):
        clock.now = 100.0 + done / 100
        display(_progress(done))
    display.finish(interrupted=True)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[0] == "job: 100 100/s"
    assert lines[-1].endswith("(interrupted)")


def test_live_progress_redraws_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    clock = _Clock()
    stream = io.StringIO()
    display = ProgressDisplay(stream, label="job", total=200, live=True, clock=clock)
    for done in range(1, 201):
        clock.now = 100.0 + done / 100
        display(_progress(done))
    display.finish()
    text = stream.getvalue()
    assert text.count("\n") == 1
    frames = text.rstrip("\n").split("\r")[1:]
    assert 10 <= len(frames) <= 22
    assert "ETA" in frames[len(frames) // 2]
    assert frames[-1].startswith("job [")
    assert "100% 200/200 100/s in 2.0s" in frames[-1]


def test_table_keeps_ids_whole_and_aligns_numbers() -> None:
    long_id = "x" * 80
    table = format_table(("ID", "SUBJECT", "N"), [(long_id, "s" * 80, 5), ("b", "short", 1234)], cut={1})
    lines = table.splitlines()
    assert long_id in lines[1]
    assert "s" * 80 not in lines[1]
    assert lines[1].endswith("    5")
    assert lines[2].endswith("1,234")


# ------------------------------------------------------------------------------------------ command table


def test_a_command_imports_only_its_own_module() -> None:
    script = (
        "import contextlib, io, sys\n"
        "from wa_groups.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['groups', 'list', '--help'])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('wa_groups.cli.', 'wa_groups.testing'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=DEADLINE, check=True
    ).stdout
    loaded = json.loads(out.replace("'", '"'))
    assert "wa_groups.cli.graph_groups" in loaded
    assert not [m for m in loaded if m.startswith("wa_groups.testing") or m.endswith((".demo", ".webhooks"))]


def test_threaded_fake_runs_a_wuts_fake_too() -> None:
    from wa_groups.testing import FakeWutsAPI

    with ThreadedFake(FakeWutsAPI) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.call(lambda: server.fake.running)
    with pytest.raises(RuntimeError):
        _ = server.fake
