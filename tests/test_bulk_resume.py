"""Bulk jobs stopped, killed and resumed: every item accounted for, nothing done twice, nothing claimed falsely.

The fake server's own record (``FakeGraphAPI.approved``, the group's participants, the ids it received) is the
judge: a report may only call succeeded what the server did, and a resumed job may only send again what the
server shows as not done.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import SleepRecorder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wa_groups import GroupsClient, NotFoundError, RateLimitError, RetryPolicy, UnconfirmedError
from wa_groups.bulk import BulkReport, BulkResult
from wa_groups.errors import TransportError
from wa_groups.testing import FakeGraphAPI, Fault


async def no_wait(seconds: float) -> None:
    return None


def outcomes(result: BulkResult) -> tuple[list[str], list[str], list[str]]:
    return result.succeeded, [f.item for f in result.failed], result.not_attempted


def check_partition(result: BulkResult, items: set[str] | None = None) -> None:
    """Every item is in exactly one outcome (and, when given, the items are exactly ``items``)."""
    flat = [item for part in outcomes(result) for item in part]
    twice = [item for item, n in collections.Counter(flat).items() if n > 1]
    assert not twice, f"items accounted twice: {twice[:5]}"
    if items is not None:
        assert set(flat) == items


def check_truthful(result: BulkResult, fake: FakeGraphAPI, *, complete: bool = True) -> None:
    """Succeeded only what the server did; what the server did is succeeded or, at worst, of unknown outcome.

    A checkpoint (``complete`` false) may be older than what the server did since; only the first half holds.
    """
    approved = set(fake.approved)
    unknown = {f.item for f in result.failed if f.error.outcome_unknown}
    unconfirmed = {f.item for f in result.failed if isinstance(f.error, UnconfirmedError)}
    mine = {item for part in outcomes(result) for item in part}
    assert set(result.succeeded) <= approved, "a request is reported approved that the server never approved"
    if complete:
        assert approved & mine <= set(result.succeeded) | unknown, "an approved request is reported as a failure"
    assert not unconfirmed & approved, "the job could have confirmed this approval by looking"
    assert max(fake.approved.values(), default=0) <= 1


def round_trip(result: BulkResult) -> BulkResult:
    return BulkResult.from_json(result.to_json())


# --------------------------------------------------------------------------------------------- drain


async def test_a_requested_stop_drains_the_batches_in_flight_and_resume_finishes() -> None:
    async with FakeGraphAPI(latency=0.02, max_participants=10_000) as fake:
        gid = fake.add_group("Drain", join_approval_mode="approval_required")
        ids = fake.add_join_requests(gid, 200)
        stop = asyncio.Event()

        def progress(p: Any) -> None:
            if p.done >= 24:
                stop.set()

        async with fake.client(retry=RetryPolicy(sleep=no_wait)) as client:
            first = await client.bulk_approve_join_requests(gid, ids, concurrency=4, stop=stop, on_progress=progress)
            check_partition(first, set(ids))
            # Drained, not cancelled: every batch that left got its answer, so nothing is of unknown outcome.
            assert not first.failed and first.not_attempted and first.succeeded
            assert set(first.succeeded) == set(fake.approved)
            assert first.stopped_by is not None and not first.ok
            sent_before = collections.Counter(fake.join_request_sends)
            second = await client.bulk_approve_join_requests(gid, ids, resume=round_trip(first))
        check_partition(second, set(ids))
        assert second.ok and set(fake.approved) == set(ids)
        assert all(fake.join_request_sends[i] == sent_before[i] for i in first.succeeded), "done items resent"


async def test_a_stop_ends_a_demanded_pause_at_once() -> None:
    started = asyncio.Event()
    stop = asyncio.Event()

    async def long_sleep(seconds: float) -> None:
        started.set()
        await asyncio.sleep(30)

    async with FakeGraphAPI(max_participants=1000) as fake:
        gid = fake.add_group("Paused", join_approval_mode="approval_required")
        ids = fake.add_join_requests(gid, 40)
        fake.add_fault(Fault(method="POST", status=400, code=130429, retry_after=30, times=1))
        async with fake.client(retry=RetryPolicy(sleep=long_sleep)) as client:
            task = asyncio.create_task(client.bulk_approve_join_requests(gid, ids, concurrency=1, stop=stop))
            await asyncio.wait_for(started.wait(), 5)
            stop.set()
            result = await asyncio.wait_for(task, 5)
    check_partition(result, set(ids))
    assert set(ids[:8]) <= set(result.not_attempted), "the throttled batch waits no more and is not attempted"
    assert not result.failed and set(result.succeeded) == set(fake.approved)


# --------------------------------------------------------------------------------------- demanded waits


async def test_a_demanded_wait_beyond_max_wait_stops_the_job_cleanly(sleeps: SleepRecorder) -> None:
    async with FakeGraphAPI(max_participants=1000) as fake:
        gid = fake.add_group("Two minutes", join_approval_mode="approval_required")
        ids = fake.add_join_requests(gid, 400)
        fake.add_fault(Fault(method="POST", status=400, code=80007, usage_minutes=2, times=None))
        async with fake.client(retry=RetryPolicy(max_wait=60, sleep=sleeps)) as client:
            result = await client.bulk_approve_join_requests(gid, ids, concurrency=4)
    check_partition(result, set(ids))
    assert isinstance(result.stopped_by, RateLimitError) and result.stopped_by.retry_after == 120
    assert not result.succeeded and not result.failed and len(result.not_attempted) == 400
    posts = [r for r in fake.requests if r.method == "POST"]
    assert len(posts) <= 4, f"{len(posts)} refused calls: the job should stop at the first refusals"
    assert 120 not in sleeps.waits


# ------------------------------------------------------------------------------------------ checkpoints


async def test_checkpoints_written_while_running_account_for_every_item(tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    snapshots: list[BulkResult] = []
    async with FakeGraphAPI(latency=0.01, max_participants=10_000) as fake:
        gid = fake.add_group("Checkpointed", join_approval_mode="approval_required")
        ids = fake.add_join_requests(gid, 120)

        def progress(p: Any) -> None:
            if path.exists():
                snapshots.append(BulkResult.from_json(path.read_text()))

        async with fake.client() as client:
            result = await client.bulk_approve_join_requests(
                gid, ids, concurrency=3, checkpoint=path, checkpoint_interval=0, on_progress=progress
            )
    assert len(snapshots) >= 5
    for snapshot in snapshots:
        check_partition(snapshot, set(ids))
        assert set(snapshot.succeeded) <= set(fake.approved)
        # In flight at the moment of writing: of unknown outcome, to be settled by looking on resume.
        assert all(f.error.outcome_unknown for f in snapshot.failed)
    assert BulkResult.from_json(path.read_text()).to_dict() == result.to_dict()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")], "no temporary file is left behind"


async def test_resuming_from_a_checkpoint_written_mid_run_settles_by_looking() -> None:
    """A kill right after a checkpoint: items it lists as not attempted may have been sent since."""
    first: list[BulkResult] = []

    def keep_first(snapshot: Any) -> None:
        if not first and snapshot.requesters:
            first.append(round_trip(snapshot))

    async with FakeGraphAPI(max_participants=1000) as fake, fake.client() as client:
        gid = fake.add_group("Killed", join_approval_mode="approval_required")
        ids = fake.add_join_requests(gid, 40)
        finished = await client.bulk_approve_join_requests(gid, [*ids, "typo-id"], checkpoint=keep_first)
        assert len(finished.succeeded) == 40
        (early,) = first
        assert early.running and len(early.not_attempted) == 41 and not early.ok
        sends = collections.Counter(fake.join_request_sends)
        resumed = await client.bulk_approve_join_requests(gid, [*ids, "typo-id"], resume=early)
    check_partition(resumed, {*ids, "typo-id"})
    assert sorted(resumed.succeeded) == sorted(ids) and not resumed.running
    assert [(f.item, type(f.error)) for f in resumed.failed] == [("typo-id", UnconfirmedError)]
    assert fake.join_request_sends == sends, "everything was settled by looking, nothing sent again"


async def test_a_checkpoint_callable_receives_reports() -> None:
    seen: list[dict[str, Any]] = []

    async def keep(report: Any) -> None:
        assert isinstance(report, BulkReport)
        seen.append(report.to_dict())

    async with FakeGraphAPI() as fake, fake.client() as client:
        for gid in fake.add_groups(3, "Club"):
            fake.groups[gid].join_approval_mode = "approval_required"
            fake.add_join_requests(gid, 5)
        report = await client.approve_all_join_requests(checkpoint=keep, checkpoint_interval=0)
    assert report.ok and seen[0]["counts"]["total"] == 0 and seen[-1] == report.to_dict()


async def test_a_checkpoint_that_cannot_be_written_does_not_break_the_job(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeGraphAPI() as fake, fake.client() as client:
        fake.max_participants = 100
        gid = fake.add_group("Disk full", join_approval_mode="approval_required")
        ids = fake.add_join_requests(gid, 10)
        result = await client.bulk_approve_join_requests(gid, ids, checkpoint=tmp_path / "missing" / "job.json")
    assert result.ok and "checkpoint could not be written" in caplog.text


# ------------------------------------------------------------------------------------- settling by looking


async def test_an_unknown_outcome_for_an_id_that_never_existed_is_unconfirmed_not_succeeded() -> None:
    async with FakeGraphAPI() as fake, fake.client() as client:
        gid = fake.add_group("Typos", join_approval_mode="approval_required")
        ids = fake.add_join_requests(gid, 3)
        lost = TransportError("the job was cancelled while this batch was in flight")
        lost.mark_outcome_unknown()
        earlier = BulkResult(action="approve_join_requests", group_id=gid, not_attempted=[ids[0]])
        from wa_groups.bulk import BulkFailure

        earlier.failed = [BulkFailure(item=i, group_id=gid, error=lost) for i in ("typo-id", ids[1])]
        result = await client.bulk_approve_join_requests(gid, ids, resume=round_trip(earlier))
    check_partition(result, {"typo-id", ids[0], ids[1]})
    (failure,) = result.failed
    assert failure.item == "typo-id" and isinstance(failure.error, UnconfirmedError) and not failure.retryable
    assert sorted(result.succeeded) == sorted(ids[:2])
    assert "typo-id" not in fake.join_request_sends, "an unconfirmed id is never sent again"


async def test_a_typo_among_explicit_ids_is_not_found() -> None:
    async with FakeGraphAPI() as fake, fake.client() as client:
        gid = fake.add_group("Typos", join_approval_mode="approval_required")
        ids = fake.add_join_requests(gid, 3)
        result = await client.bulk_approve_join_requests(gid, [*ids, "typo-id"])
    (failure,) = result.failed
    assert failure.item == "typo-id" and isinstance(failure.error, NotFoundError)


async def test_an_interrupted_add_resumes_without_phantom_already_in_group_failures() -> None:
    async with FakeGraphAPI(latency=0.02, max_participants=1000) as fake:
        gid = fake.add_group("Team")
        users = [f"+1 650 555 {2000 + i}" for i in range(80)]
        partial = BulkResult()
        async with fake.client() as client:
            enough = asyncio.Event()

            def progress(p: Any) -> None:
                if p.done >= 16:
                    enough.set()

            task = asyncio.create_task(
                client.bulk_add_participants(gid, users, concurrency=4, result=partial, on_progress=progress)
            )
            await enough.wait()
            await asyncio.sleep(0.01)  # a batch is on the wire
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            check_partition(partial, set(users))
            resumed = await client.bulk_add_participants(gid, users, resume=round_trip(partial))
    check_partition(resumed, set(users))
    assert resumed.ok, [str(f.error) for f in resumed.failed[:3]]
    participants = fake.groups[gid].participants
    assert len(participants) == len(set(participants)) == 80


async def test_a_batch_refused_for_one_present_member_sends_the_others(
    fake: FakeGraphAPI, client: GroupsClient
) -> None:
    fake.max_participants = 100
    gid = fake.add_group("Some already in", participants=["16505553003"])
    users = [f"+1 650 555 {3000 + i}" for i in range(8)]
    result = await client.bulk_add_participants(gid, users)
    assert [f.item for f in result.failed] == ["+1 650 555 3003"] and result.failed[0].code == 131202
    assert len(result.succeeded) == 7 and len(fake.groups[gid].participants) == 8


# ------------------------------------------------------------------------------------------ the property

FAULTS: dict[str, dict[str, Any]] = {
    "500": {"status": 500, "code": 1},
    "500-applied": {"status": 500, "code": 1, "after_effect": True},
    "drop": {"drop": True},
    "drop-applied": {"drop": True, "after_effect": True},
    "429": {"status": 429, "code": 131208},
    "503": {"status": 503, "code": 2},
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 40),
    streamed=st.booleans(),
    faults=st.lists(st.tuples(st.sampled_from(sorted(FAULTS)), st.floats(0.05, 0.5)), max_size=3),
    stops=st.lists(st.tuples(st.sampled_from(["cancel", "stop", "kill", "none"]), st.integers(0, 30)), max_size=4),
    concurrency=st.integers(1, 4),
    seed=st.integers(0, 10_000),
)
def test_the_resume_cycle_is_exact(
    n: int,
    streamed: bool,
    faults: list[tuple[str, float]],
    stops: list[tuple[str, int]],
    concurrency: int,
    seed: int,
) -> None:
    """Random faults, random stops (cancel, gentle, or a kill: resuming from the last checkpoint while the job
    went on a little after it), resumes through JSON, then a clean final resume."""

    async def scenario() -> None:
        async with FakeGraphAPI(seed=seed, latency=0.001, max_participants=10_000) as fake:
            gid = fake.add_group("Cycle", join_approval_mode="approval_required")
            ids = fake.add_join_requests(gid, n)
            for kind, probability in faults:
                fake.add_fault(Fault(method="POST", probability=probability, times=None, **FAULTS[kind]))
            previous: BulkResult | None = None
            async with fake.client(retry=RetryPolicy(max_attempts=3, sleep=no_wait)) as client:
                for how, after in [*stops, ("final", 0)]:
                    if how == "final":
                        fake.clear_faults()  # the last round runs clean and must finish the job
                    partial = BulkResult()
                    snapshots: list[BulkResult] = []
                    stop = asyncio.Event()
                    reached = asyncio.Event()

                    def progress(p: Any, after: int = after, reached: asyncio.Event = reached) -> None:
                        if p.done >= after:
                            reached.set()

                    before = collections.Counter(fake.join_request_sends)
                    settled_before = set(previous.succeeded) if previous is not None else set()
                    settled_before |= {
                        f.item for f in (previous.failed if previous is not None else []) if not f.retryable
                    }
                    job = client.bulk_approve_join_requests(
                        gid,
                        None if streamed else ids,
                        concurrency=concurrency,
                        resume=previous,
                        result=partial,
                        stop=stop,
                        on_progress=progress,
                        checkpoint=lambda snapshot, kept=snapshots: kept.append(round_trip(snapshot)),
                        checkpoint_interval=0,
                    )
                    task = asyncio.create_task(job)
                    killed_at: BulkResult | None = None
                    if how in ("cancel", "stop", "kill"):
                        waiter = asyncio.create_task(reached.wait())
                        await asyncio.wait({task, waiter}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
                        waiter.cancel()
                        if how == "kill":
                            killed_at = snapshots[-1]
                            await asyncio.sleep(0.003)  # the process "dies" a little after its last checkpoint
                            task.cancel()
                        elif how == "cancel":
                            task.cancel()
                        else:
                            stop.set()
                    await asyncio.gather(task, return_exceptions=True)  # cancelled, or finished
                    if killed_at is not None:
                        partial = killed_at
                    check_partition(partial, None if streamed else set(ids))
                    check_truthful(partial, fake, complete=killed_at is None)
                    for item in settled_before:
                        assert fake.join_request_sends[item] == before[item], f"{item} was sent again"
                    previous = round_trip(partial)
                    assert previous.to_dict() == partial.to_dict()
            final = previous
            assert final is not None
            check_partition(final, set(ids))
            assert set(final.succeeded) == set(fake.approved) == set(ids), final.counts
            assert final.ok

    asyncio.run(scenario())


def test_reports_keep_duplicates_and_requesters_through_json() -> None:
    result = BulkResult(
        action="add_participants",
        group_id="G",
        succeeded=["+1 650 555 0000"],
        duplicates={"16505550000": "+1 650 555 0000"},
        requesters={"r1": "1650"},
        not_attempted=["r1"],
    )
    data = json.loads(result.to_json())
    assert data["duplicates"] == {"16505550000": "+1 650 555 0000"} and data["requesters"] == {"r1": "1650"}
    assert round_trip(result).to_dict() == result.to_dict()
