"""``wa-groups messages`` against the fake Graph API on 127.0.0.1 (in a background thread)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wa_groups.bulk import BulkResult
from wa_groups.cli import main
from wa_groups.testing import FakeGraphAPI, Fault
from wa_groups.testing.threaded import ThreadedFake

TOKEN = "CANARY-messaging-tok3n"
MEMBER = "16505550001"

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ThreadedFake[FakeGraphAPI]]:
    for name in list(os.environ):
        if name.startswith("WA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    fake = ThreadedFake(functools.partial(FakeGraphAPI, access_token=TOKEN), timeout=60).start()
    monkeypatch.setenv("WA_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("WA_PHONE_NUMBER_ID", fake.fake.phone_number_id)
    monkeypatch.setenv("WA_BASE_URL", fake.fake.base_url)
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        assert TOKEN not in captured.out + captured.err and "Traceback" not in captured.err
        return code, captured.out, captured.err

    return run


def group(graph: ThreadedFake[FakeGraphAPI], members: list[str] | None = None) -> str:
    gid: str = graph.call(graph.fake.add_group, "Team", participants=[MEMBER] if members is None else members)
    return gid


def test_send_text_media_and_template(graph: ThreadedFake[FakeGraphAPI], cli: Run) -> None:
    gid = group(graph)
    code, out, err = cli("messages", "send", gid, "--text", "Hello group", "--json")
    assert code == 0, err
    sent: dict[str, Any] = json.loads(out)
    assert sent["group_id"] == gid and sent["message_id"].startswith("wamid.")
    code, out, err = cli("messages", "send", gid, "--media-type", "image", "--link", "https://x.test/a.jpg")
    assert code == 0, err
    assert "wamid." in out
    code, _, err = cli("messages", "send", gid, "--template", "promo_v2", "--language", "en_US")
    assert code == 0, err
    assert [m["type"] for m in graph.fake.group_messages] == ["text", "image", "template"]
    code, _, err = cli("messages", "send", gid, "--text", "a", "--template", "t")
    assert code != 0 and "exactly one" in err


def test_pin_and_unpin(graph: ThreadedFake[FakeGraphAPI], cli: Run) -> None:
    gid = group(graph)
    _, out, _ = cli("messages", "send", gid, "--text", "pin me", "--json")
    message_id = json.loads(out)["message_id"]
    code, _, err = cli("messages", "pin", gid, message_id, "--days", "7")
    assert code == 0, err
    assert graph.fake.groups[gid].pinned == [message_id]
    code, _, err = cli("messages", "pin", gid, message_id, "--days", "31")
    assert code != 0 and "1..30" in err
    code, _, err = cli("messages", "unpin", gid, message_id)
    assert code == 0, err
    assert graph.fake.groups[gid].pinned == []


def test_sending_to_a_group_nobody_joined_says_why(graph: ThreadedFake[FakeGraphAPI], cli: Run) -> None:
    gid = group(graph, members=[])
    code, _, err = cli("messages", "send", gid, "--text", "anyone?")
    assert code != 0 and "131020" in err and "no member besides the business" in err


def test_broadcast_all_groups_writes_a_report_and_resumes(graph: ThreadedFake[FakeGraphAPI], cli: Run) -> None:
    ids: list[str] = graph.call(graph.fake.add_groups, 12, "B")
    for gid in ids:
        graph.fake.groups[gid].participants = [MEMBER]
    graph.call(graph.fake.add_fault, Fault(path="/messages$", status=400, code=131009, times=2))
    code, out, err = cli(
        "messages", "broadcast", "--all-groups", "--text", "Sale", "--report", "r.json", "--json", "--yes"
    )
    assert code != 0, err
    summary = json.loads(out)
    assert summary["counts"]["succeeded"] == 10 and summary["counts"]["failed"] == 2
    report = BulkResult.from_json(Path("r.json").read_text())
    assert len(report.details) == 10 and report.action == "broadcast"
    code, _, err = cli("messages", "broadcast", *ids[:2], "--text", "Sale", "--resume", "r.json", "--yes")
    assert code != 0  # the two refusals are not retryable: they stay failed, nothing is sent twice
    assert max(graph.fake.group_sends.values()) == 1
    code, _, err = cli("messages", "broadcast", "--text", "Sale")
    assert code != 0 and "--all-groups" in err


def test_broadcast_asks_first_and_a_dry_run_sends_nothing(graph: ThreadedFake[FakeGraphAPI], cli: Run) -> None:
    ids: list[str] = graph.call(graph.fake.add_groups, 3, "D")
    for gid in ids:
        graph.fake.groups[gid].participants = [MEMBER]
    code, _, err = cli("messages", "broadcast", "--all-groups", "--text", "Sale")
    assert code == 2 and "--yes" in err  # not on a terminal: refused without --yes
    code, out, err = cli("messages", "broadcast", "--all-groups", "--text", "Sale", "--dry-run", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert sorted(plan["groups"]) == sorted(ids) and plan["requests"] == 3
    assert plan["message"] == {"type": "text", "text": {"body": "Sale"}}
    assert not any(graph.fake.group_sends.values())
