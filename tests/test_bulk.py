"""Bulk jobs against the fake Graph server: batching, accounting, faults, throttling, cancellation, resume."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import pytest
from conftest import SleepRecorder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wa_groups import (
    AuthenticationError,
    ClientValidationError,
    GroupsClient,
    InvalidCursorError,
    InvalidRequestError,
    NotFoundError,
    RetryPolicy,
)
from wa_groups.bulk import BulkProgress, BulkReport, BulkResult
from wa_groups.testing import FakeGraphAPI, Fault


def check_partition(result: BulkResult, items: set[str]) -> None:
    """Every distinct item is in exactly one of succeeded, failed and not_attempted."""
    lists = [result.succeeded, [f.item for f in result.failed], result.not_attempted]
    flat = [item for part in lists for item in part]
    duplicates = [item for item, n in collections.Counter(flat).items() if n > 1]
    assert not duplicates, f"items accounted twice: {duplicates[:5]}"
    assert set(flat) == items


def approve_bodies(fake: FakeGraphAPI) -> list[list[str]]:
    return [r.json["join_requests"] for r in fake.requests if r.method == "POST" and r.path.endswith("/join_requests")]


async def test_explicit_ids_are_deduplicated_and_sent_in_batches_of_8(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gid = fake.add_group("Club", join_approval_mode="approval_required")
    fake.max_participants = 1000
    ids = fake.add_join_requests(gid, 50)
    result = await client.bulk_approve_join_requests(gid, ids + ids[:10], batch_size=20)
    assert result.ok and sorted(result.succeeded) == sorted(ids)
    bodies = approve_bodies(fake)
    assert all(1 <= len(body) <= 8 for body in bodies) and len(bodies) == 7
    assert sorted(i for body in bodies for i in body) == sorted(ids)
    assert result.counts == {"succeeded": 50, "failed": 0, "not_attempted": 0, "total": 50}


async def test_per_item_failures_are_mapped_to_their_items(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gid = fake.add_group("Nearly full", participants=[str(16505550000 + i) for i in range(6)])
    ids = fake.add_join_requests(gid, 10)
    result = await client.bulk_approve_join_requests(gid, [*ids, "gone-request"])
    check_partition(result, {*ids, "gone-request"})
    assert len(result.succeeded) == 2 and len(result.failed) == 9 and not result.ok
    codes = collections.Counter(f.code for f in result.failed)
    assert codes == {131204: 8, 131213: 1}
    full = next(f for f in result.failed if f.code == 131204)
    assert isinstance(full.error, InvalidRequestError) and full.group_id == gid and not full.retryable
    gone = next(f for f in result.failed if f.item == "gone-request")
    assert isinstance(gone.error, NotFoundError)


async def test_explicit_ids_are_sent_while_the_listing_is_read_each_once_its_requester_is_known(
    fake: FakeGraphAPI, client: GroupsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    gid = fake.add_group("Big", join_approval_mode="approval_required")
    fake.max_participants = 10_000
    ids = fake.add_join_requests(gid, 2500)  # three pages of 1024
    # Stale cursors in the middle of the listing: it is read again from its first page.
    fake.add_fault(Fault(method="GET", path=r"/join_requests$", status=400, code=131059, probability=0.5, times=2))
    result = BulkResult()
    unknown_when_sent: list[str] = []
    approve = client.approve_join_requests

    async def watched(group_id: str, batch: Any) -> Any:
        unknown_when_sent.extend(i for i in batch if i not in result.requesters)
        return await approve(group_id, batch)

    monkeypatch.setattr(client, "approve_join_requests", watched)
    outcome = await client.bulk_approve_join_requests(gid, [*ids, "typo-id"], result=result)
    check_partition(outcome, {*ids, "typo-id"})
    assert sorted(outcome.succeeded) == sorted(ids) and [f.item for f in outcome.failed] == ["typo-id"]
    assert unknown_when_sent == ["typo-id"], "a listed request is sent only once its requester is on record"
    assert max(fake.join_request_sends.values()) == 1
    kinds = [r.method for r in fake.requests if r.path.endswith("/join_requests")]
    last_listing = len(kinds) - 1 - kinds[::-1].index("GET")
    assert kinds.index("POST") < last_listing, "the first batch goes out before the listing is read to its end"
    typo = next(i for i, r in enumerate(fake.requests) if r.method == "POST" and "typo-id" in r.json["join_requests"])
    listings = [i for i, r in enumerate(fake.requests) if r.method == "GET" and r.path.endswith("/join_requests")]
    assert typo > max(listings), "an id the listing does not name waits for the listing's end"


async def test_a_failing_listing_before_sending_only_costs_the_requesters(
    fake: FakeGraphAPI, client: GroupsClient
) -> None:
    gid = fake.add_group("Unlisted", join_approval_mode="approval_required")
    fake.max_participants = 100
    ids = fake.add_join_requests(gid, 20)
    fake.add_fault(Fault(method="GET", path=r"/join_requests$", status=400, code=100, times=None))
    result = await client.bulk_approve_join_requests(gid, ids)
    assert result.ok and sorted(result.succeeded) == sorted(ids) and not result.requesters


async def test_streamed_approval_survives_stale_cursors(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gid = fake.add_group("Busy", join_approval_mode="approval_required")
    fake.max_participants = 10_000
    ids = fake.add_join_requests(gid, 5000)
    # Cursors go stale when the request they point at is approved; script more stale answers, on first
    # pages and on later ones alike.
    fake.add_fault(Fault(method="GET", path=r"/join_requests$", status=400, code=131059, times=3))
    fake.add_fault(Fault(method="GET", path=r"/join_requests$", status=400, code=131059, probability=0.5, times=8))
    seen: list[BulkProgress] = []
    result = await client.bulk_approve_join_requests(gid, concurrency=8, on_progress=seen.append)
    check_partition(result, set(ids))
    assert result.ok and result.exhausted
    assert set(fake.approved) == set(ids) and max(fake.approved.values()) == 1
    stale = [r for r in fake.requests if r.status == 400 and r.method == "GET"]
    assert len(stale) >= 3, "the job should have met stale cursors and restarted"
    assert any("after" in r.query for r in stale), "a cursor should have gone stale in the middle of the listing"
    assert max(fake.join_request_sends.values()) == 1, "restarts must not send an id again"
    assert seen and seen[-1].done == 5000 and seen[-1].total is None
    assert not fake.groups[gid].join_requests


async def test_a_cursor_that_never_stops_going_stale_ends_the_stream(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gid = fake.add_group("Broken", join_approval_mode="approval_required")
    fake.add_join_requests(gid, 3)
    fake.add_fault(Fault(method="GET", path=r"/join_requests$", status=400, code=131059, times=None))
    result = await client.bulk_approve_join_requests(gid)
    assert result.stopped_by is not None and isinstance(result.stopped_by, InvalidCursorError) and not result.ok


async def test_streamed_rejection_ends_when_only_failed_requests_remain(
    fake: FakeGraphAPI, client: GroupsClient
) -> None:
    gid = fake.add_group("Full", participants=[str(16505550000 + i) for i in range(8)])
    ids = fake.add_join_requests(gid, 30)
    approved = await client.bulk_approve_join_requests(gid)
    check_partition(approved, set(ids))
    assert len(approved.failed) == 30 and approved.exhausted
    assert all(f.code == 131204 for f in approved.failed)
    assert [i for body in approve_bodies(fake) for i in body].count(ids[0]) == 1
    rejected = await client.bulk_reject_join_requests(gid)
    assert sorted(rejected.succeeded) == sorted(ids) and rejected.ok


async def test_participants_in_batches(fake: FakeGraphAPI, client: GroupsClient) -> None:
    fake.max_participants = 100
    gid = fake.add_group("Team")
    users = [f"+1 650 555 {1000 + i}" for i in range(20)]
    added = await client.bulk_add_participants(gid, [*users, "16505551000", *users[1:3]])
    # Reported as the caller spelt them first; the repeats, in any spelling, are noted.
    assert added.ok and added.succeeded == users
    assert added.duplicates == {"16505551000": users[0], users[1]: users[1], users[2]: users[2]}
    assert len(fake.groups[gid].participants) == 20
    removed = await client.bulk_remove_participants(gid, [*users[:5], "16505559999"])
    check_partition(removed, {*users[:5], "16505559999"})
    assert removed.failed and all(f.code == 131212 for f in removed.failed)
    with pytest.raises(ClientValidationError, match="'12'"):
        await client.bulk_add_participants(gid, ["12"])


async def test_approve_all_groups_reports_per_group(fake: FakeGraphAPI, client: GroupsClient) -> None:
    open_gids = [fake.add_group(f"Open {i}") for i in range(12)]
    full = fake.add_group("Full", participants=[str(16505550000 + i) for i in range(7)])
    empty = fake.add_group("Empty")
    expected: dict[str, list[str]] = {gid: fake.add_join_requests(gid, 5) for gid in open_gids}
    expected[full] = fake.add_join_requests(full, 4)
    progress: list[BulkProgress] = []

    async def on_progress(p: BulkProgress) -> None:
        progress.append(p)

    report = await client.approve_all_join_requests(concurrency=4, on_progress=on_progress)
    assert report.groups_exhausted and not report.ok
    assert set(report.groups) == {*open_gids, full, empty}
    for gid, ids in expected.items():
        check_partition(report.groups[gid], set(ids))
    assert report.groups[empty].ok and report.groups[empty].total == 0
    assert report.counts == {"groups": 14, "succeeded": 61, "failed": 3, "not_attempted": 0, "total": 64}
    assert progress[-1].done == 64 and progress[-1].failed == 3
    assert max(fake.approved.values()) == 1

    again = BulkReport.from_json(report.to_json())
    assert again.counts == report.counts and again.groups[full].failed[0].code == 131204


async def test_approve_all_with_given_groups_and_reject(fake: FakeGraphAPI, client: GroupsClient) -> None:
    a, b, c = (fake.add_group(name) for name in "abc")
    ids = {gid: fake.add_join_requests(gid, 3) for gid in (a, b, c)}
    report = await client.approve_all_join_requests(group_ids=[a, b, a], reject=True)
    assert set(report.groups) == {a, b} and report.ok and report.action == "reject_join_requests"
    assert sorted(report.groups[a].succeeded) == sorted(ids[a])
    assert len(fake.groups[c].join_requests) == 3 and not fake.approved


async def test_requests_in_flight_never_exceed_concurrency() -> None:
    async with FakeGraphAPI(latency=0.005, record_requests=False) as fake, fake.client() as client:
        for i in range(30):
            gid = fake.add_group(f"G{i}")
            fake.add_join_requests(gid, 12)
        report = await client.approve_all_join_requests(concurrency=5)
        assert fake.stats.max_in_flight <= 5
        assert report.succeeded == 30 * 8 and report.failed == 30 * 4


async def test_ten_thousand_items_under_scripted_faults(sleeps: SleepRecorder) -> None:
    """20 % of batches answered 500, 5 % 130429 with Retry-After, 1 % dropped connections."""
    policy = RetryPolicy(max_attempts=6, sleep=sleeps)
    async with FakeGraphAPI(latency=0.001, record_requests=False, seed=7, max_participants=20_000) as fake:
        gid = fake.add_group("Huge", join_approval_mode="approval_required")
        ids = fake.add_join_requests(gid, 10_000)
        batches = r"/join_requests$"
        fake.add_fault(Fault(method="POST", path=batches, drop=True, probability=0.01, times=None))
        fake.add_fault(
            Fault(method="POST", path=batches, status=400, code=130429, retry_after=1, probability=0.05, times=None)
        )
        fake.add_fault(Fault(method="POST", path=batches, status=500, code=1, probability=0.2, times=None))
        async with fake.client(retry=policy) as client:
            result = await client.bulk_approve_join_requests(gid, ids, concurrency=16)
        check_partition(result, set(ids))
        assert max(fake.approved.values()) == 1
        assert fake.stats.max_in_flight <= 16
        assert fake.stats.faults_fired > 300
        # A handful of batches may still fail after six attempts; they are accounted and retryable.
        assert all(f.retryable for f in result.failed)
        assert len(result.succeeded) + len(result.failed) == 10_000
        assert 1.0 in sleeps.waits


async def test_a_demanded_wait_pauses_the_whole_job_once() -> None:
    pauses: list[float] = []
    fake = FakeGraphAPI(latency=0.01)

    async def slow_sleep(seconds: float) -> None:
        # The pause lasts until every throttled answer is back, however slow the machine.
        pauses.append(seconds)
        for _ in range(1000):
            if fake.stats.faults_fired >= 8:
                break
            await asyncio.sleep(0.002)

    async with fake, fake.client(retry=RetryPolicy(sleep=slow_sleep)) as client:
        gid = fake.add_group("Throttled", join_approval_mode="approval_required")
        fake.max_participants = 1000
        ids = fake.add_join_requests(gid, 64)
        fake.add_fault(Fault(method="POST", status=400, code=130429, retry_after=2, times=8))
        result = await client.bulk_approve_join_requests(gid, ids, concurrency=8)
    assert result.ok and len(result.succeeded) == 64
    assert pauses == [2.0], "eight batches throttled together should pause the job once"


async def test_pacing_under_the_rate_limiter_loses_nothing() -> None:
    # Two attempts per request and a bucket of 2: without paced retries that keep their attempts, batches
    # would fail; with them, every request is approved.
    policy = RetryPolicy(max_attempts=2)
    async with (
        FakeGraphAPI(record_requests=False, max_participants=10_000) as fake,
        fake.client(retry=policy) as client,
    ):
        gid = fake.add_group("Limited", join_approval_mode="approval_required")
        ids = fake.add_join_requests(gid, 320)
        fake.set_rate_limit(100, 2)
        result = await client.bulk_approve_join_requests(gid, ids, concurrency=16)
        assert result.ok and fake.stats.throttled > 16


async def test_an_invalid_token_stops_the_job(fake: FakeGraphAPI) -> None:
    gid = fake.add_group("Any", join_approval_mode="approval_required")
    ids = fake.add_join_requests(gid, 40)
    async with GroupsClient("bad-token", phone_number_id=fake.phone_number_id, base_url=fake.base_url) as client:
        result = await client.bulk_approve_join_requests(gid, ids, concurrency=1)
    check_partition(result, set(ids))
    assert isinstance(result.stopped_by, AuthenticationError) and not result.ok
    assert not result.failed and len(result.not_attempted) == 40


async def test_cancellation_leaves_a_consistent_result_and_resume_finishes(fake: FakeGraphAPI) -> None:
    fake.latency = 0.02
    fake.max_participants = 10_000
    gid = fake.add_group("Cancel", join_approval_mode="approval_required")
    ids = fake.add_join_requests(gid, 400)
    partial = BulkResult()
    async with fake.client() as client:
        started = asyncio.Event()

        def progress(p: BulkProgress) -> None:
            if p.done >= 40:
                started.set()

        task = asyncio.create_task(
            client.bulk_approve_join_requests(gid, ids, concurrency=4, on_progress=progress, result=partial)
        )
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        check_partition(partial, set(ids))
        assert partial.not_attempted and partial.succeeded
        restored = BulkResult.from_json(partial.to_json())
        assert restored.to_dict() == partial.to_dict()
        fake.latency = 0.0
        resumed = await client.bulk_approve_join_requests(gid, ids, resume=restored)
    check_partition(resumed, set(ids))
    assert resumed.ok, resumed.failed[:3]
    assert set(fake.approved) == set(ids) and max(fake.approved.values()) == 1


async def test_cancelled_streamed_job_resumes(fake: FakeGraphAPI) -> None:
    fake.latency = 0.01
    fake.max_participants = 10_000
    gid = fake.add_group("Stream", join_approval_mode="approval_required")
    ids = fake.add_join_requests(gid, 300)
    partial = BulkResult()
    async with fake.client() as client:
        enough = asyncio.Event()

        def progress(p: BulkProgress) -> None:
            if p.succeeded >= 30:
                enough.set()

        task = asyncio.create_task(
            client.bulk_approve_join_requests(gid, concurrency=4, on_progress=progress, result=partial)
        )
        await enough.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not partial.exhausted
        fake.latency = 0.0
        resumed = await client.bulk_approve_join_requests(gid, resume=partial)
    assert resumed.ok and resumed.exhausted
    assert sorted(resumed.succeeded) == sorted(ids)
    assert max(fake.approved.values()) == 1


async def test_resume_reruns_only_retryable_failures(fake: FakeGraphAPI, client: GroupsClient) -> None:
    gid = fake.add_group("Resume", participants=[str(16505550000 + i) for i in range(7)])
    fake.max_participants = 8
    ids = fake.add_join_requests(gid, 10)
    fake.add_fault(Fault(method="POST", status=503, code=2, times=None))
    first = await client.bulk_approve_join_requests(gid, ids)
    assert len(first.failed) == 10 and all(f.retryable for f in first.failed)
    fake.clear_faults()
    second = await client.bulk_approve_join_requests(gid, ids, resume=first)
    check_partition(second, set(ids))
    assert len(second.succeeded) == 1 and len(second.failed) == 9
    assert all(f.code == 131204 for f in second.failed)
    sent = len(fake.requests)
    third = await client.bulk_approve_join_requests(gid, ids, resume=second)
    assert third.to_dict()["counts"] == second.to_dict()["counts"]
    assert len(fake.requests) == sent, "nothing retryable was left, so nothing is sent"
    with pytest.raises(ClientValidationError, match="group"):
        await client.bulk_approve_join_requests("other-group", ids, resume=second)


def test_results_round_trip_and_reject_garbage() -> None:
    with pytest.raises(ClientValidationError, match="invalid JSON"):
        BulkResult.from_json("{")
    with pytest.raises(ClientValidationError, match="not a bulk result"):
        BulkResult.from_json('{"failed": [{"item": 1}]}')
    with pytest.raises(ClientValidationError, match="groups"):
        BulkReport.from_json("{}")
    assert BulkResult.from_json("{}").ok


def test_bad_concurrency_is_rejected_before_any_request() -> None:
    async def scenario() -> None:
        async with FakeGraphAPI() as fake, fake.client() as client:
            with pytest.raises(ClientValidationError, match="concurrency"):
                await client.bulk_approve_join_requests("G", ["a"], concurrency=0)
            with pytest.raises(ClientValidationError, match="batch_size"):
                await client.bulk_add_participants("G", ["16505551234"], batch_size=0)
            with pytest.raises(ClientValidationError, match="not one string"):
                await client.bulk_approve_join_requests("G", "abc")
            assert not fake.requests

    asyncio.run(scenario())


# ------------------------------------------------------------------------------------------------- invariant

faults = st.lists(
    st.sampled_from(["500", "429", "drop", "html", "400", "500-applied", "drop-applied"]).flatmap(
        lambda kind: st.tuples(st.just(kind), st.floats(0.0, 0.6))
    ),
    max_size=3,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.lists(st.sampled_from([f"r{i}" for i in range(60)] + ["ghost1", "ghost2"]), max_size=80),
    scripted=faults,
    concurrency=st.integers(1, 6),
    batch_size=st.integers(1, 12),
    seed=st.integers(0, 1000),
)
def test_every_item_ends_in_exactly_one_outcome(
    items: list[str], scripted: list[tuple[str, float]], concurrency: int, batch_size: int, seed: int
) -> None:
    async def scenario() -> None:
        async with FakeGraphAPI(seed=seed, max_participants=10_000, record_requests=False) as fake:
            gid = fake.add_group("Prop", join_approval_mode="approval_required")
            real = fake.add_join_requests(gid, 60)
            rename = {f"r{i}": real[i] for i in range(60)}
            wanted = [rename.get(item, item) for item in items]
            for kind, probability in scripted:
                specs: dict[str, dict[str, Any]] = {
                    "500": {"status": 500, "code": 1},
                    "429": {"status": 429, "code": 131208},
                    "drop": {"drop": True},
                    "html": {"status": 502, "malformed": True},
                    "400": {"status": 400, "code": 100},
                    # Carried out, then answered with an error: the ambiguous failures.
                    "500-applied": {"status": 500, "code": 1, "after_effect": True},
                    "drop-applied": {"drop": True, "after_effect": True},
                }
                spec = specs[kind]
                fake.add_fault(Fault(method="POST", probability=probability, times=None, **spec))

            async def no_wait(seconds: float) -> None:
                return None

            async with fake.client(retry=RetryPolicy(max_attempts=3, sleep=no_wait)) as client:
                result = await client.bulk_approve_join_requests(
                    gid, wanted, concurrency=concurrency, batch_size=batch_size
                )
            check_partition(result, set(wanted))
            assert not result.not_attempted
            # Whatever the faults, nothing is reported approved that was not, and every approved request is
            # reported either approved or, when an answer was lost, as a failure of unknown outcome.
            approved = set(fake.approved) & set(wanted)
            unknown = {f.item for f in result.failed if f.error.outcome_unknown}
            assert set(result.succeeded) <= approved <= set(result.succeeded) | unknown

    asyncio.run(scenario())


async def test_an_invalid_token_stops_a_job_over_all_groups(fake: FakeGraphAPI) -> None:
    gids = [fake.add_group(f"G{i}") for i in range(3)]
    for gid in gids:
        fake.add_join_requests(gid, 4)
    async with GroupsClient("bad-token", phone_number_id=fake.phone_number_id, base_url=fake.base_url) as client:
        report = await client.approve_all_join_requests(group_ids=gids, concurrency=1)
        assert isinstance(report.stopped_by, AuthenticationError) and not report.ok
        with pytest.raises(ClientValidationError, match="not one string"):
            await client.approve_all_join_requests(group_ids="abc")


async def test_a_failing_progress_callback_or_batch_caller_loses_nothing(
    fake: FakeGraphAPI, client: GroupsClient, caplog: pytest.LogCaptureFixture
) -> None:
    from wa_groups.bulk.items import run_items

    gid = fake.add_group("Callbacks", join_approval_mode="approval_required")
    fake.max_participants = 100
    ids = fake.add_join_requests(gid, 20)

    def broken(progress: BulkProgress) -> None:
        raise RuntimeError("display crashed")

    with caplog.at_level("WARNING", logger="wa_groups"):
        result = await client.bulk_approve_join_requests(gid, ids, on_progress=broken)
    assert result.ok and "on_progress callback failed" in caplog.text

    async def flaky(group_id: str, batch: list[str]) -> tuple[list[str], list[tuple[str, Any]]]:
        if "b3" in batch:
            raise RuntimeError("bug")
        return list(batch), []

    async def no_wait(seconds: float) -> None:
        return None

    items = [f"b{i}" for i in range(20)]
    outcome = await run_items(
        flaky,
        no_wait,
        action="custom",
        group_id="G",
        items=items,
        normalise=str,
        concurrency=2,
        batch_size=8,
        on_progress=None,
        resume=None,
    )
    check_partition(outcome, set(items))
    assert len(outcome.failed) == 8 and all(f.error.outcome_unknown for f in outcome.failed)


async def test_a_refusal_before_any_rate_is_known_pauses_once_instead_of_pacing(
    fake: FakeGraphAPI, sleeps: SleepRecorder
) -> None:
    gid = fake.add_group("Early refusal", join_approval_mode="approval_required")
    fake.max_participants = 1000
    ids = fake.add_join_requests(gid, 80)
    fake.add_fault(Fault(method="POST", status=400, code=130429, times=1))
    async with fake.client(retry=RetryPolicy(sleep=sleeps)) as client:
        result = await client.bulk_approve_join_requests(gid, ids, concurrency=1)
    assert result.ok and len(sleeps.waits) == 1 and 0 <= sleeps.waits[0] <= 0.5


async def test_a_batch_carried_out_before_its_answer_was_lost_is_not_reported_as_missing(
    fake: FakeGraphAPI, client: GroupsClient
) -> None:
    gid = fake.add_group("Lost answer", join_approval_mode="approval_required")
    ids = fake.add_join_requests(gid, 5)
    fake.add_fault(Fault(method="POST", path=r"/join_requests$", status=500, code=1, after_effect=True))
    first = await client.bulk_approve_join_requests(gid, ids)
    check_partition(first, set(ids))
    assert set(fake.approved) == set(ids)
    # The retry found the requests gone; the group shows their requesters as participants, so the job counts
    # them approved by looking, not by guessing.
    assert first.ok and sorted(first.succeeded) == sorted(ids)
    assert max(fake.approved.values()) == 1
    settled = await client.bulk_approve_join_requests(gid, ids, resume=first)
    assert settled.ok and sorted(settled.succeeded) == sorted(ids)
