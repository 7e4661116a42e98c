"""The ``wa-groups`` bulk commands killed, stopped and resumed in a child process against a threaded fake Graph.

A job killed outright (SIGKILL) at a random moment leaves its checkpointed report; ``--resume`` then ends with
every join request approved exactly once and the report telling the truth about each. SIGTERM and a first
Ctrl-C drain the job; a second Ctrl-C stops it at once.
"""

from __future__ import annotations

import functools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wa_groups.bulk import BulkResult
from wa_groups.cli import main
from wa_groups.cli._jobs import default_report_name
from wa_groups.testing import FakeGraphAPI
from wa_groups.testing.threaded import ThreadedFake

REPO_ROOT = str(Path(__file__).resolve().parent.parent)
TOKEN = "EAA-cli-resume-token"
DEADLINE = 60.0

GraphFake = ThreadedFake[FakeGraphAPI]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
def threaded() -> Iterator[GraphFake]:
    factory = functools.partial(
        FakeGraphAPI, access_token=TOKEN, latency=0.01, max_participants=100_000, record_requests=False
    )
    with ThreadedFake(factory, timeout=DEADLINE) as server:
        yield server


def child_env(fake: FakeGraphAPI) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("WA_")}
    env.update(
        PYTHONPATH=REPO_ROOT + os.pathsep + env.get("PYTHONPATH", ""),
        WA_ACCESS_TOKEN=TOKEN,
        WA_PHONE_NUMBER_ID=fake.phone_number_id,
        WA_BASE_URL=fake.base_url,
    )
    return env


def start(argv: list[str], fake: FakeGraphAPI, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "wa_groups", *argv],
        cwd=cwd,
        env=child_env(fake),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], child: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if child.poll() is not None:
            pytest.fail(f"the command ended early with status {child.returncode}: {child.communicate()}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail("the condition never came true")
        time.sleep(0.005)


def finish(child: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return child.communicate(timeout=DEADLINE)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()


def run_in_process(
    argv: list[str], fake: FakeGraphAPI, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    for name, value in child_env(fake).items():
        if name.startswith("WA_"):
            monkeypatch.setenv(name, value)
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def approved(threaded: GraphFake) -> dict[str, int]:
    return threaded.call(lambda: dict(threaded.fake.approved))


@pytest.mark.parametrize("mode", ["explicit-ids", "all"])
def test_sigkill_at_random_moments_then_resume_approves_each_once_and_reports_the_truth(
    threaded: GraphFake,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    mode: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    fake = threaded.fake
    chooser = random.Random(f"sigkill-{mode}")
    for trial in range(5):  # five kills at random moments per mode: ten in all
        gid = threaded.call(fake.add_group, f"Crowd {trial}", join_approval_mode="approval_required")
        ids = threaded.call(fake.add_join_requests, gid, 240)
        selection = ids if mode == "explicit-ids" else ["--all"]
        argv = ["join-requests", "approve", gid, *selection, "--report", f"kill{trial}.json", "--concurrency", "3"]
        at = chooser.randrange(1, 200)
        child = start(argv, fake, tmp_path)
        try:
            wanted = set(ids)

            def reached(wanted: set[str] = wanted, at: int = at) -> bool:
                return len(wanted.intersection(approved(threaded))) >= at

            wait_for(reached, child)
            child.send_signal(signal.SIGKILL)
        finally:
            finish(child)
        assert child.returncode == -signal.SIGKILL
        path = tmp_path / f"kill{trial}.json"
        checkpoint = BulkResult.from_json(path.read_text())  # left by the killed process
        assert checkpoint.running and set(checkpoint.succeeded) <= set(approved(threaded))
        sends = threaded.call(lambda: dict(fake.join_request_sends))

        code, _, err = run_in_process([*argv, "--resume", path.name], fake, monkeypatch, capsys)
        assert code == 0, err
        final = BulkResult.from_json(path.read_text())
        assert final.ok and not final.running and not final.failed and not final.not_attempted
        assert sorted(final.succeeded) == sorted(ids), "every request reported approved, each once"
        server = approved(threaded)
        assert {i: server.get(i) for i in ids} == dict.fromkeys(ids, 1)
        after = threaded.call(lambda: dict(fake.join_request_sends))
        resent = [i for i in checkpoint.succeeded if after.get(i) != sends.get(i)]
        assert not resent, "requests the checkpoint recorded as approved were sent again"


def test_sigterm_drains_the_job_and_resume_finishes(
    threaded: GraphFake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    fake = threaded.fake
    gid = threaded.call(fake.add_group, "Terminated", join_approval_mode="approval_required")
    ids = threaded.call(fake.add_join_requests, gid, 400)
    argv = ["join-requests", "approve", gid, *ids, "--report", "term.json", "--concurrency", "2"]
    child = start(argv, fake, tmp_path)
    wait_for(lambda: len(approved(threaded)) >= 24, child)
    child.send_signal(signal.SIGTERM)
    _, err = finish(child)
    assert child.returncode == 130, err
    assert "SIGTERM: stopping" in err and "--resume term.json" in err and "Traceback" not in err
    partial = BulkResult.from_json((tmp_path / "term.json").read_text())
    assert not partial.running and partial.total == len(ids)
    assert not partial.failed, "drained: every request that left got its answer"
    assert set(partial.succeeded) == set(approved(threaded)) and partial.not_attempted

    code, _, err = run_in_process([*argv, "--resume", "term.json"], fake, monkeypatch, capsys)
    assert code == 0, err
    final = BulkResult.from_json((tmp_path / "term.json").read_text())
    assert final.ok and sorted(final.succeeded) == sorted(ids)
    assert approved(threaded) == dict.fromkeys(ids, 1)


@pytest.mark.parametrize("mode", ["explicit-ids", "all"])
def test_ctrl_c_resume_sigkill_resume_reports_no_false_failure_and_no_false_success(
    threaded: GraphFake,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    mode: str,
) -> None:
    """The chain users run into: Ctrl-C, resume, the resume killed outright, resume again."""
    monkeypatch.chdir(tmp_path)
    fake = threaded.fake
    gid = threaded.call(fake.add_group, f"Chain {mode}", join_approval_mode="approval_required")
    ids = threaded.call(fake.add_join_requests, gid, 600)
    selection = ids if mode == "explicit-ids" else ["--all"]
    argv = ["join-requests", "approve", gid, *selection, "--report", "chain.json", "--concurrency", "3"]
    report = tmp_path / "chain.json"

    def count() -> int:
        return len(set(ids).intersection(approved(threaded)))

    first = start(argv, fake, tmp_path)  # 1. interrupted with Ctrl-C: drains, exits 130
    wait_for(lambda: count() >= 100, first)
    first.send_signal(signal.SIGINT)
    _, err = finish(first)
    assert first.returncode == 130, err
    interrupted = BulkResult.from_json(report.read_text())
    assert not interrupted.failed and set(interrupted.succeeded) <= set(approved(threaded))

    second = start([*argv, "--resume", report.name], fake, tmp_path)  # 2. the resume, killed outright
    done_before = count()
    wait_for(lambda: count() >= done_before + 150, second)
    second.send_signal(signal.SIGKILL)
    finish(second)
    assert second.returncode == -signal.SIGKILL

    code, _, err = run_in_process([*argv, "--resume", report.name], fake, monkeypatch, capsys)  # 3. resume again
    assert code == 0, err
    final = BulkResult.from_json(report.read_text())
    server = approved(threaded)
    false_failures = [f.item for f in final.failed if server.get(f.item)]
    false_successes = [i for i in final.succeeded if not server.get(i)]
    assert not false_failures and not false_successes
    assert final.ok and sorted(final.succeeded) == sorted(ids)
    assert {i: server.get(i) for i in ids} == dict.fromkeys(ids, 1), "each approved exactly once"


def test_a_second_ctrl_c_stops_at_once_with_a_consistent_report(threaded: GraphFake, tmp_path: Path) -> None:
    fake = threaded.fake
    threaded.call(setattr, fake, "latency", 0.5)  # requests stay in flight long enough to be cut
    gid = threaded.call(fake.add_group, "Impatient", join_approval_mode="approval_required")
    ids = threaded.call(fake.add_join_requests, gid, 64)
    child = start(["join-requests", "approve", gid, *ids, "--report", "twice.json"], fake, tmp_path)
    assert child.stderr is not None
    wait_for(lambda: (tmp_path / "twice.json").exists(), child)
    child.send_signal(signal.SIGINT)
    time.sleep(0.1)
    child.send_signal(signal.SIGINT)
    _, err = finish(child)
    assert child.returncode == 130, err
    assert "stopping now" in err
    partial = BulkResult.from_json((tmp_path / "twice.json").read_text())
    assert not partial.running and partial.total == len(ids)
    assert all(f.error.outcome_unknown for f in partial.failed)


def test_the_default_report_is_named_after_the_job_and_printed_at_the_start(
    threaded: GraphFake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    fake = threaded.fake
    gid = threaded.call(fake.add_group, "Named", join_approval_mode="approval_required")
    ids = threaded.call(fake.add_join_requests, gid, 3)
    code, _, err = run_in_process(["join-requests", "approve", gid, *ids], fake, monkeypatch, capsys)
    assert code == 0, err
    (written,) = tmp_path.glob("wa-groups-approve-join-requests-*.json")
    assert written.name.startswith(f"wa-groups-approve-join-requests-{gid}-")
    assert err.splitlines()[0].endswith(f"(continue an interrupted job with --resume {written.name})")
    assert default_report_name("add_participants", "1203@g.us").startswith("wa-groups-add-participants-1203_g.us-")


def test_a_report_of_another_unfinished_job_is_never_overwritten(
    threaded: GraphFake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    fake = threaded.fake
    gid = threaded.call(fake.add_group, "Guarded", join_approval_mode="approval_required")
    ids = threaded.call(fake.add_join_requests, gid, 3)
    other = BulkResult(action="approve_join_requests", group_id="another-group", not_attempted=["x1", "x2"])
    (tmp_path / "shared.json").write_text(other.to_json())
    code, _, err = run_in_process(
        ["join-requests", "approve", gid, *ids, "--report", "shared.json"], fake, monkeypatch, capsys
    )
    assert code == 2 and "another unfinished job" in err and "--resume shared.json" in err
    assert json.loads((tmp_path / "shared.json").read_text()) == json.loads(other.to_json())
    assert not approved(threaded), "nothing was sent"

    finished = BulkResult(action="approve_join_requests", group_id="another-group", exhausted=True)
    (tmp_path / "shared.json").write_text(finished.to_json())
    code, _, err = run_in_process(
        ["join-requests", "approve", gid, *ids, "--report", "shared.json"], fake, monkeypatch, capsys
    )
    assert code == 0, err
    assert BulkResult.from_json((tmp_path / "shared.json").read_text()).group_id == gid
