"""3. Streaming: every group of a business number at page size 1024, ``iter_groups`` against raw aiohttp.

Throughput: items per second over the whole listing, the two sides alternating. The raw side follows the same
cursors with one aiohttp session and ``json.loads`` and touches each item dict; ``wa_groups`` yields a frozen
``GroupSummary`` per item (with ``created_at`` as an aware datetime).

Memory: ``tracemalloc`` peak while iterating and discarding every item, for the smaller and the larger count
(tenfold). Tracing starts after the fake is seeded, so the peak is what one listing holds at a time (a page in
flight on the server and on the client), not the fake's stored groups.
"""

from __future__ import annotations

import functools
import gc
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

from wa_groups import GroupsClient
from wa_groups.testing import FakeGraphAPI

from ._common import RawGraph, Sample, Sizes, paired_ratios, result, row, summary, timed

NAME = "streaming"
TITLE = "3. Streaming every group (page size 1024)"
TARGET = ">= 0.85"
#: Largest acceptable growth of the tracemalloc peak when the listing grows tenfold.
MEMORY_GROWTH_LIMIT = 1.25


async def peak_bytes(work: Callable[[], Awaitable[Any]]) -> int:
    """Return the tracemalloc peak (bytes above the starting level) while ``work`` runs."""
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        await work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start


async def run(sizes: Sizes) -> dict[str, Any]:
    small, large = sizes.stream_counts
    page_size = sizes.stream_page_size
    async with FakeGraphAPI(record_requests=False, max_groups=large) as fake:
        fake.add_groups(large)
        client: GroupsClient
        async with fake.client() as client, RawGraph(fake) as raw:
            path = f"/{fake.phone_number_id}/groups"

            async def ours(limit: int | None = None) -> int:
                count = 0
                async for _ in client.iter_groups(page_size=page_size, max_items=limit):
                    count += 1
                return count

            async def baseline(limit: int | None = None) -> int:
                count = 0
                params = {"limit": str(page_size)}
                while True:
                    answer = await raw.get(path, params)
                    for _ in answer["data"]["groups"]:
                        count += 1
                        if count == limit:
                            return count
                    paging = answer.get("paging") or {}
                    if not paging.get("next"):
                        return count
                    params = {"limit": str(page_size), "after": paging["cursors"]["after"]}

            await ours(page_size)  # warm both paths up
            await baseline(page_size)
            samples: dict[str, list[Sample]] = {"wa_groups": [], "raw": []}
            for index in range(sizes.stream_repeats):
                order: list[tuple[str, Callable[[], Awaitable[int]]]] = [("wa_groups", ours), ("raw", baseline)]
                for name, listing in order if index % 2 == 0 else order[::-1]:
                    sample, count = await timed(listing)
                    assert count == large, (name, count)
                    samples[name].append(sample)
            ours_rate = [large / s.wall for s in samples["wa_groups"]]
            raw_rate = [large / s.wall for s in samples["raw"]]
            ratio = summary(paired_ratios(ours_rate, raw_rate))
            extra_us = summary(
                [(a.cpu - b.cpu) / large * 1e6 for a, b in zip(samples["wa_groups"], samples["raw"], strict=True)]
            )["median"]

            memory: dict[str, dict[str, int]] = {"wa_groups": {}, "raw": {}}
            for count in (small, large):
                memory["wa_groups"][str(count)] = await peak_bytes(functools.partial(ours, count))
                memory["raw"][str(count)] = await peak_bytes(functools.partial(baseline, count))
    growth = memory["wa_groups"][str(large)] / max(1, memory["wa_groups"][str(small)])
    raw_growth = memory["raw"][str(large)] / max(1, memory["raw"][str(small)])
    rows = [
        row(
            case=f"{large:,} groups, throughput",
            metric="items/s",
            ours=summary(ours_rate)["median"],
            baseline_name="raw aiohttp",
            baseline=summary(raw_rate)["median"],
            ratio=ratio,
            ratio_meaning="wa_groups items/s / raw aiohttp items/s",
            target=TARGET,
            detail=f"wa_groups spends {extra_us:.2f} us more CPU per item than raw aiohttp + json.loads",
        ),
        row(
            case=f"peak memory, {small:,} -> {large:,} groups",
            metric="KiB peak",
            ours=memory["wa_groups"][str(large)] / 1024,
            baseline_name=f"wa_groups at {small:,}",
            baseline=memory["wa_groups"][str(small)] / 1024,
            ratio=summary([growth]),
            ratio_meaning=f"tracemalloc peak at {large:,} / at {small:,} groups (flat = 1)",
            target=f"<= {MEMORY_GROWTH_LIMIT}",
            detail=f"raw aiohttp: {memory['raw'][str(small)] / 1024:.0f} -> {memory['raw'][str(large)] / 1024:.0f} "
            f"KiB ({raw_growth:.2f}x)",
        ),
    ]
    notes = [
        "The fake builds each page (1024 dicts, JSON-encoded) in the same event loop and process: its CPU time is "
        "in both sides' throughput and its allocations in both sides' tracemalloc peaks.",
        f"Memory: 'flat' is read as a peak growing by at most {MEMORY_GROWTH_LIMIT}x for a tenfold listing.",
    ]
    data = {
        "count": large,
        "page_size": page_size,
        "items_per_s": {"wa_groups": ours_rate, "raw": raw_rate},
        "cpu_s": {"wa_groups": [s.cpu for s in samples["wa_groups"]], "raw": [s.cpu for s in samples["raw"]]},
        "extra_cpu_us_per_item": extra_us,
        "peak_bytes": memory,
    }
    return result(NAME, TITLE, sizes, rows, notes=notes, data=data)
