"""2. Bulk approval: N join requests of one group at 20 ms simulated latency, concurrency 16, batches of 8.

The target compares ``bulk_approve_join_requests`` with the ideal ``ceil(N / 8 / concurrency) * latency``: every
slot always busy and every exchange taking exactly the simulated latency. Two more references explain a gap:

- *timer floor*: ``concurrency`` tasks doing nothing but the fake's own way of waiting out its latency
  (``asyncio.wait_for`` on an event, with that timeout), once per batch. What a client with zero cost could reach
  on this machine; measured on a slice of the cycles and scaled to the job.
- *raw aiohttp*: ``concurrency`` workers posting the same batches with one aiohttp session and ``json.loads``.

The join requests come from 8 users cycling (see ``member_pool``), so the fake's cost per approve call stays
flat; one extra run with distinct users shows what the fake's O(group size) approval costs. A last, informative
row runs the smaller job against a fake in a child process (``FakeProcess``), whose CPU time then falls on the
other core instead of the client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
from collections.abc import Awaitable, Callable
from typing import Any

from wa_groups import GroupsClient
from wa_groups.testing import FakeGraphAPI

from ._common import RawGraph, Sample, Sizes, member_pool, paired_ratios, result, row, summary, timed
from ._fake_process import FakeProcess

NAME = "bulk_approval"
TITLE = "2. Bulk approval against the ideal schedule"
TARGET = "<= 1.10"
#: Cycles timed to estimate the timer floor of a job (the floor is this sample scaled to the job's cycles).
FLOOR_CYCLES = 40


def ideal_seconds(count: int, batch: int, concurrency: int, latency: float) -> float:
    return math.ceil(count / batch / concurrency) * latency


async def timer_floor(cycles: int, concurrency: int, latency: float) -> float:
    """Seconds ``concurrency`` tasks need for ``cycles`` waits each, waiting as the fake does."""
    never = asyncio.Event()

    async def worker() -> None:
        for _ in range(cycles):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(never.wait(), latency)

    sample, _ = await timed(lambda: asyncio.gather(*(worker() for _ in range(concurrency))))
    return sample.wall


async def raw_job(raw: RawGraph, group_id: str, ids: list[str], batch: int, concurrency: int) -> int:
    """Approve ``ids`` in batches with ``concurrency`` workers; return how many the server approved."""
    starts = iter(range(0, len(ids), batch))
    approved = 0

    async def worker() -> None:
        nonlocal approved
        for start in starts:
            answer = await raw.post(
                f"/{group_id}/join_requests",
                {"messaging_product": "whatsapp", "join_requests": ids[start : start + batch]},
            )
            approved += len(answer["approved_join_requests"])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return approved


async def _measure(
    sizes: Sizes,
    count: int,
    repeats: int,
    client: GroupsClient,
    raw: RawGraph,
    group_id: str,
    seed: Callable[[int], Awaitable[list[str]]],
) -> dict[str, list[Sample]]:
    """Run the wa_groups job and the raw aiohttp job ``repeats`` times each, alternating, on fresh requests."""
    batch, concurrency = sizes.bulk_batch, sizes.bulk_concurrency

    async def ours(ids: list[str]) -> int:
        outcome = await client.bulk_approve_join_requests(group_id, ids, concurrency=concurrency, batch_size=batch)
        assert outcome.ok, outcome.counts
        return len(outcome.succeeded)

    async def baseline(ids: list[str]) -> int:
        return await raw_job(raw, group_id, ids, batch, concurrency)

    samples: dict[str, list[Sample]] = {"wa_groups": [], "raw": []}
    order: list[tuple[str, Callable[[list[str]], Awaitable[int]]]] = [("wa_groups", ours), ("raw", baseline)]
    for index in range(repeats):
        for name, job in order if index % 2 == 0 else order[::-1]:
            ids = await seed(count)
            sample, approved = await timed(functools.partial(job, ids))
            assert approved == count, (name, approved, count)
            samples[name].append(sample)
    return samples


def _job_row(
    case: str, sizes: Sizes, count: int, samples: dict[str, list[Sample]], floor: float, *, target: str | None = TARGET
) -> tuple[dict[str, Any], dict[str, Any]]:
    latency, batch, concurrency = sizes.bulk_latency, sizes.bulk_batch, sizes.bulk_concurrency
    ideal = ideal_seconds(count, batch, concurrency, latency)
    ours_wall = [s.wall for s in samples["wa_groups"]]
    raw_wall = [s.wall for s in samples["raw"]]
    vs_ideal = summary([wall / ideal for wall in ours_wall])
    vs_raw = summary(paired_ratios(ours_wall, raw_wall))
    requests = math.ceil(count / batch)
    ours_cpu_us = summary([s.cpu / requests * 1e6 for s in samples["wa_groups"]])["median"]
    raw_cpu_us = summary([s.cpu / requests * 1e6 for s in samples["raw"]])["median"]
    raw_median = summary(raw_wall)["median"]
    detail = (
        f"ideal {ideal:.2f} s; timer floor {floor:.2f} s ({floor / ideal:.2f}x ideal); raw aiohttp "
        f"{raw_median:.2f} s ({raw_median / ideal:.2f}x ideal); wa_groups / raw {vs_raw['median']:.3f}; "
        f"CPU of this process per request {ours_cpu_us:.0f} us vs {raw_cpu_us:.0f} us raw"
    )
    line = row(
        case=case,
        metric="s",
        ours=summary(ours_wall)["median"],
        baseline_name="ideal",
        baseline=ideal,
        ratio=vs_ideal,
        ratio_meaning="wa_groups elapsed / ideal",
        target=target,
        detail=detail,
    )
    data = {
        "ideal_s": ideal,
        "timer_floor_s": floor,
        "wall_s": {"wa_groups": ours_wall, "raw": raw_wall},
        "cpu_s": {"wa_groups": [s.cpu for s in samples["wa_groups"]], "raw": [s.cpu for s in samples["raw"]]},
        "vs_ideal": vs_ideal,
        "vs_raw": vs_raw,
        "vs_floor": summary([wall / floor for wall in ours_wall]),
        "cpu_per_request_us": {"wa_groups": ours_cpu_us, "raw": raw_cpu_us},
    }
    return line, data


async def _floor(sizes: Sizes, count: int) -> float:
    cycles = math.ceil(count / sizes.bulk_batch / sizes.bulk_concurrency)
    sample = min(cycles, FLOOR_CYCLES)
    return await timer_floor(sample, sizes.bulk_concurrency, sizes.bulk_latency) * cycles / sample


async def run(sizes: Sizes) -> dict[str, Any]:
    latency, batch, concurrency = sizes.bulk_latency, sizes.bulk_batch, sizes.bulk_concurrency
    rows: list[dict[str, Any]] = []
    data: dict[str, Any] = {"latency_s": latency, "batch": batch, "concurrency": concurrency, "jobs": {}}
    largest = max(sizes.bulk_counts)
    smallest = min(sizes.bulk_counts)
    async with FakeGraphAPI(record_requests=False, latency=latency, max_participants=2 * largest + 16) as fake:
        group_id = fake.add_groups(1)[0]

        async def seed(count: int) -> list[str]:
            return fake.add_join_requests(group_id, count, member_pool(count))

        client: GroupsClient
        async with fake.client() as client, RawGraph(fake) as raw:
            for count, repeats in zip(sizes.bulk_counts, sizes.bulk_repeats, strict=True):
                floor = await _floor(sizes, count)
                samples = await _measure(sizes, count, repeats, client, raw, group_id, seed)
                line, data["jobs"][str(count)] = _job_row(f"{count:,} join requests", sizes, count, samples, floor)
                rows.append(line)

            # The same job with distinct users: the fake's approve call then costs O(participants).
            ids = fake.add_join_requests(group_id, smallest)
            sample, _ = await timed(
                functools.partial(client.bulk_approve_join_requests, group_id, ids, concurrency=concurrency)
            )
            ideal = ideal_seconds(smallest, batch, concurrency, latency)
            data["distinct_users"] = {"count": smallest, "wall_s": sample.wall, "vs_ideal": sample.wall / ideal}

    # The fake in a child process: its CPU time no longer shares the client's core.
    async with FakeProcess(latency=latency, max_participants=16) as child:
        remote_group: str = await child.call("group")

        async def remote_seed(count: int) -> list[str]:
            ids: list[str] = await child.call("join_requests", group=remote_group, count=count)
            return ids

        async with child.client() as client, RawGraph(child) as raw:
            floor = await _floor(sizes, smallest)
            repeats = min(3, max(sizes.bulk_repeats))
            samples = await _measure(sizes, smallest, repeats, client, raw, remote_group, remote_seed)
            line, data["jobs"]["child process"] = _job_row(
                f"{smallest:,} join requests, fake in a child process", sizes, smallest, samples, floor, target=None
            )
            data["jobs"]["child process"]["count"] = smallest
            rows.append(line)
    notes = [
        f"Ideal = ceil(N / {batch} / {concurrency}) x {latency * 1000:g} ms: no CPU time anywhere and timers that "
        "fire exactly on time. The timer floor is what zero-cost requests reach here: the fake's wait (an "
        "asyncio.wait_for per request) and the event loop's millisecond timer granularity add to every cycle.",
        "In the first rows the fake runs in the benchmark's event loop, so its request handling (about as much CPU "
        "as the client's) competes with the client's for one core; in the last row it runs in a child process "
        "on the other core, and the CPU per request is the client's alone.",
        f"With {smallest:,} distinct users (the group grows to {smallest:,} participants) the same job took "
        f"{data['distinct_users']['wall_s']:.2f} s ({data['distinct_users']['vs_ideal']:.2f}x ideal): the fake "
        "rebuilds a set of all participants on every approve call, so the benchmark cycles over 8 users.",
    ]
    return result(NAME, TITLE, sizes, rows, notes=notes, data=data)
