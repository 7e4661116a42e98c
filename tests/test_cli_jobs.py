"""The bulk-job options of ``wa-groups``: a report of another unfinished job is kept unless ``--force`` is given.

The command runs in-process (``main([...])``) against the fake Graph API, which serves on 127.0.0.1 from its own
event loop in a background thread.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from wa_groups.bulk import BulkFailure, BulkResult
from wa_groups.cli import main
from wa_groups.errors import TransportError
from wa_groups.testing import FakeGraphAPI
from wa_groups.testing.threaded import ThreadedFake

TOKEN = "tok3n-of-the-cli-jobs-tests"
USERS = [f"1650555{n:04d}" for n in range(12)]


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ThreadedFake[FakeGraphAPI]]:
    for name in list(os.environ):
        if name.startswith("WA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    fake = ThreadedFake(functools.partial(FakeGraphAPI, access_token=TOKEN, max_participants=1000), timeout=60).start()
    try:
        monkeypatch.setenv("WA_ACCESS_TOKEN", TOKEN)
        monkeypatch.setenv("WA_PHONE_NUMBER_ID", fake.fake.phone_number_id)
        monkeypatch.setenv("WA_BASE_URL", fake.fake.base_url)
        monkeypatch.setenv("WA_API_VERSION", fake.fake.api_version)
        yield fake
    finally:
        fake.stop()


def unfinished_report(path: Path) -> str:
    """Write the report of an interrupted approval job on another group; return its text."""
    lost = TransportError("the job was cancelled while this batch was in flight")
    lost.mark_outcome_unknown()
    earlier = BulkResult(
        action="approve_join_requests",
        group_id="G-OTHER",
        succeeded=["J1"],
        failed=[BulkFailure(item="J2", group_id="G-OTHER", error=lost)],
        not_attempted=["J3"],
    )
    path.write_text(earlier.to_json())
    return path.read_text()


def test_a_bulk_job_keeps_another_unfinished_report_unless_forced(
    graph: ThreadedFake[FakeGraphAPI], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    gid = graph.call(graph.fake.add_group, "Team")
    report = tmp_path / "job.json"
    kept = unfinished_report(report)

    code = main(["participants", "add", gid, *USERS, "--report", "job.json"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "holds the report of another unfinished job (approve_join_requests on group G-OTHER)" in err
    assert "--force overwrites it" in err
    assert report.read_text() == kept, "the other job's report was touched"
    assert graph.call(lambda: list(graph.fake.groups[gid].participants)) == [], "the job ran anyway"

    code = main(["participants", "add", gid, *USERS, "--report", "job.json", "--force"])
    err = capsys.readouterr().err
    assert code == 0, err
    replaced = BulkResult.from_json(report.read_text())
    assert replaced.action == "add_participants" and replaced.group_id == gid and replaced.ok
    assert sorted(replaced.succeeded) == USERS


def test_the_same_job_and_finished_reports_need_no_force(
    graph: ThreadedFake[FakeGraphAPI], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    gid = graph.call(graph.fake.add_group, "Team")
    finished = BulkResult(action="approve_join_requests", group_id="G-OTHER", succeeded=["J1"], exhausted=True)
    (tmp_path / "done.json").write_text(finished.to_json())
    assert main(["participants", "add", gid, *USERS[:9], "--report", "done.json"]) == 0
    interrupted = BulkResult(action="add_participants", group_id=gid, not_attempted=USERS[9:])
    (tmp_path / "mine.json").write_text(interrupted.to_json())
    assert main(["participants", "add", gid, *USERS[9:], "--report", "mine.json"]) == 0
    capsys.readouterr()
    assert BulkResult.from_json((tmp_path / "mine.json").read_text()).ok


def test_the_bulk_options_help_names_force_and_the_report_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["participants", "add", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--force" in text and "another job that is not finished" in text
    assert "wa-groups-report.json" not in text and "named after the job" in text
