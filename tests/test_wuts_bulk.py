"""WUTS bulk jobs against FakeWutsAPI over real loopback HTTP: spelling, stop, checkpoints, settling by looking.

The fake's own state (a group's members and their admin flags, the participants each request carried) is the
judge: a report may only call done what the group shows, and a resumed job may only send again what the group
shows as not done.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wa_groups import RetryPolicy
from wa_groups.bulk import BulkProgress, BulkResult
from wa_groups.testing import FakeWutsAPI, Fault
from wa_groups.wuts import WutsClient


async def no_wait(seconds: float) -> None:
    return None


def phones(count: int, start: int = 0) -> list[str]:
    return [f"55219{n:08d}" for n in range(start, start + count)]


def as_jid(phone: str) -> str:
    return f"{phone}@s.whatsapp.net"


def flat(result: BulkResult) -> list[str]:
    return result.succeeded + [f.item for f in result.failed] + result.not_attempted


def check_partition(result: BulkResult, items: set[str]) -> None:
    """Every item is in exactly one outcome, and the items are exactly ``items``."""
    everything = flat(result)
    twice = [item for item, n in collections.Counter(everything).items() if n > 1]
    assert not twice, f"items accounted twice: {twice[:5]}"
    assert set(everything) == items


def sent(fake: FakeWutsAPI) -> collections.Counter[str]:
    """How many participants requests carried each participant."""
    counts: collections.Counter[str] = collections.Counter()
    for request in fake.requests:
        if request.path.endswith("/participants") and request.json:
            counts.update(request.json["participants"])
    return counts


def looks(fake: FakeWutsAPI, group: str) -> int:
    return sum(1 for r in fake.requests if (r.method, r.path) == ("GET", f"/groups/{group}"))


def round_trip(result: BulkResult) -> BulkResult:
    return BulkResult.from_json(result.to_json())


@pytest.fixture
async def fake() -> AsyncIterator[FakeWutsAPI]:
    async with FakeWutsAPI() as server:
        yield server


@pytest.fixture
async def client(fake: FakeWutsAPI) -> AsyncIterator[WutsClient]:
    async with fake.client(retry=RetryPolicy(max_attempts=2, sleep=no_wait)) as wuts_client:
        yield wuts_client


async def test_items_are_reported_as_the_caller_spelt_them(fake: FakeWutsAPI, client: WutsClient) -> None:
    members = phones(10)
    group = fake.add_group("Spelt", participants=members)
    spelt = [f"+55 21 9{p[5:9]}-{p[9:]}" for p in members[:5]] + [as_jid(p) for p in members[5:]] + ["9988@lid"]
    repeats = [members[0], as_jid(members[5])]
    result = await client.bulk_promote(group, spelt + repeats)
    check_partition(result, set(spelt))
    assert set(result.succeeded) == set(spelt[:-1]) and [f.item for f in result.failed] == ["9988@lid"]
    assert result.duplicates == {members[0]: spelt[0], as_jid(members[5]): spelt[5]}
    assert all(fake.groups[group].members[as_jid(p)].is_admin for p in members)
    assert max(sent(fake).values()) == 1, "a participant given twice is sent once"


async def test_a_stop_drains_the_batches_in_flight_and_resume_finishes(fake: FakeWutsAPI) -> None:
    members = phones(60)
    group = fake.add_group("Stopped", participants=members)
    fake.latency = 0.01
    stop = asyncio.Event()

    def progress(p: BulkProgress) -> None:
        if p.done >= 16:
            stop.set()

    async with fake.client(retry=RetryPolicy(sleep=no_wait)) as client:
        first = await client.bulk_promote(group, members, concurrency=2, stop=stop, on_progress=progress)
        check_partition(first, set(members))
        assert first.stopped_by is not None and not first.ok
        assert not first.failed and first.not_attempted and len(first.succeeded) >= 16
        assert {p for p in members if fake.groups[group].members[as_jid(p)].is_admin} == set(first.succeeded)
        second = await client.bulk_promote(group, members, resume=round_trip(first))
    check_partition(second, set(members))
    assert second.ok and all(fake.groups[group].members[as_jid(p)].is_admin for p in members)
    assert max(sent(fake).values()) == 1, "a participant done before the stop was sent again"


async def test_checkpoints_keep_a_resumable_copy(fake: FakeWutsAPI, client: WutsClient, tmp_path: Path) -> None:
    members = phones(40)
    group = fake.add_group("Checkpointed", participants=members)
    path = tmp_path / "job.json"
    copies: list[BulkResult] = []
    result = await client.bulk_add_participants(
        group, phones(20, start=100), checkpoint=lambda copy: copies.append(round_trip(copy)), checkpoint_interval=0
    )
    assert len(copies) >= 3 and copies[0].running and not copies[-1].running
    assert all(set(flat(copy)) == set(phones(20, start=100)) for copy in copies)
    demoted = await client.bulk_demote(group, members, checkpoint=str(path))
    assert round_trip(demoted) == BulkResult.from_json(path.read_text()) and result.ok


async def test_resume_settles_unknown_outcomes_by_looking_not_by_resending(
    fake: FakeWutsAPI, client: WutsClient
) -> None:
    members = phones(24)
    group = fake.add_group("Lost answers", participants=members)
    # WUTS carries out the promotion of the first two batches, but their answers are lost (a 500 after the effect).
    fake.add_fault(Fault(path="/participants$", status=500, after_effect=True, times=4))
    first = await client.bulk_promote(group, members, concurrency=1)
    check_partition(first, set(members))
    unknown = [f.item for f in first.failed if f.error.outcome_unknown]
    assert len(unknown) == 16 and len(first.succeeded) == 8
    assert all(fake.groups[group].members[as_jid(p)].is_admin for p in members)
    before = sent(fake)
    second = await client.bulk_promote(group, members, resume=round_trip(first))
    check_partition(second, set(members))
    assert second.ok and set(second.succeeded) == set(members)
    assert sent(fake) == before, "a participant the group shows as done was sent again"
    assert looks(fake, group) == 1


async def test_resume_sends_again_what_the_group_shows_not_done(fake: FakeWutsAPI, client: WutsClient) -> None:
    members = phones(12)
    group = fake.add_group("Half done", participants=members, admins=members)
    fake.add_fault(Fault(path="/participants$", status=500, times=None))  # every answer lost, before any effect
    first = await client.bulk_demote(group, members, concurrency=1)
    assert sorted(f.item for f in first.failed if f.error.outcome_unknown) == sorted(members)
    fake.clear_faults()
    fake.groups[group].members[as_jid(members[0])].is_admin = False  # someone else demoted one meanwhile
    before = len(fake.requests)
    second = await client.bulk_demote(group, members, resume=round_trip(first))
    assert second.ok and set(second.succeeded) == set(members)
    assert not any(fake.groups[group].members[as_jid(p)].is_admin for p in members)
    assert looks(fake, group) == 1
    again = [p for r in fake.requests[before:] if r.path.endswith("/participants") for p in r.json["participants"]]
    assert sorted(again) == sorted(as_jid(p) for p in members[1:]), "only what is not done goes again"


async def test_resume_of_removals_counts_members_gone_as_done(fake: FakeWutsAPI, client: WutsClient) -> None:
    members = phones(10)
    group = fake.add_group("Leaving", participants=members)
    fake.add_fault(Fault(path="/participants$", status=500, after_effect=True, times=2))
    first = await client.bulk_remove_participants(group, members[:8])
    assert all(f.error.outcome_unknown for f in first.failed) and len(first.failed) == 8
    before = sent(fake)
    second = await client.bulk_remove_participants(group, members[:8], resume=round_trip(first))
    assert second.ok and set(second.succeeded) == set(members[:8]) and sent(fake) == before
    assert set(fake.groups[group].members) == {fake.device_jid, *(as_jid(p) for p in members[8:])}


async def test_resume_from_a_checkpoint_of_a_killed_job_sends_nothing_twice(
    fake: FakeWutsAPI, client: WutsClient
) -> None:
    members = phones(40)
    group = fake.add_group("Killed", participants=members)
    copies: list[BulkResult] = []
    await client.bulk_promote(
        group, members, concurrency=1, checkpoint=lambda copy: copies.append(round_trip(copy)), checkpoint_interval=0
    )
    # The process "died" after some checkpoint written mid-run: what it lists as not attempted may have been sent.
    killed = next(copy for copy in copies if copy.running and copy.succeeded and copy.not_attempted)
    check_partition(killed, set(members))
    before = sent(fake)
    resumed = await client.bulk_promote(group, members, resume=killed)
    check_partition(resumed, set(members))
    assert resumed.ok and set(resumed.succeeded) == set(members)
    assert sent(fake) == before, "the group showed every promotion done; nothing needed sending"
    assert looks(fake, group) == 1
