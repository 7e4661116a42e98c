"""5. Bulk approval under the fake's rate limiter: the share of the allowed rate a job achieves.

The fake admits requests through a token bucket (``rate`` per second, ``burst`` at most). Over a job of ``T``
seconds it admits at most ``burst + rate * T`` requests, so the share is ``accepted / (burst + rate * T)``.
Refused requests are answered as Graph does (code 130429, HTTP 400); the job must retry them and end with every
item approved. Two refusal styles:

- *Graph style*: no ``Retry-After``; the job paces itself from the rate at which the server accepts requests.
- *Retry-After*: each refusal carries the exact wait until the next token (the fake's bucket), which the
  client honours as a demanded pause.

A sampler records accepted and refused requests every 100 ms for the timeline chart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from wa_groups import GroupsClient
from wa_groups.testing import FakeGraphAPI

from ._common import Sizes, member_pool, result, row, summary

NAME = "rate_limit"
TITLE = "5. Bulk approval under the rate limiter"
TARGET = ">= 0.9"
SAMPLE_EVERY = 0.1


async def _sample(fake: FakeGraphAPI, timeline: list[tuple[float, int, int]]) -> None:
    start = time.perf_counter()
    while True:
        stats = fake.stats
        timeline.append((time.perf_counter() - start, stats.requests - stats.throttled, stats.throttled))
        await asyncio.sleep(SAMPLE_EVERY)


async def run(sizes: Sizes) -> dict[str, Any]:
    rate, burst, count = sizes.rate_per_second, sizes.rate_burst, sizes.rate_items
    latency, batch, concurrency = sizes.bulk_latency, sizes.bulk_batch, sizes.bulk_concurrency
    rows: list[dict[str, Any]] = []
    data: dict[str, Any] = {"rate": rate, "burst": burst, "items": count, "batch": batch, "scenarios": {}}
    async with FakeGraphAPI(record_requests=False, latency=latency, max_participants=count + 16) as fake:
        group_id = fake.add_groups(1)[0]
        client: GroupsClient
        async with fake.client() as client:
            for label, header in (("Graph style (no Retry-After)", False), ("Retry-After on each refusal", True)):
                shares: list[float] = []
                runs: list[dict[str, Any]] = []
                for _ in range(sizes.rate_repeats):
                    ids = fake.add_join_requests(group_id, count, member_pool(count))
                    fake.set_rate_limit(rate, burst, retry_after_header=header)
                    fake.reset_stats()
                    timeline: list[tuple[float, int, int]] = []
                    sampler = asyncio.get_running_loop().create_task(_sample(fake, timeline))
                    started = time.perf_counter()
                    outcome = await client.bulk_approve_join_requests(
                        group_id, ids, concurrency=concurrency, batch_size=batch
                    )
                    elapsed = time.perf_counter() - started
                    sampler.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sampler
                    accepted = fake.stats.requests - fake.stats.throttled
                    share = accepted / (burst + rate * elapsed)
                    shares.append(share)
                    runs.append(
                        {
                            "elapsed_s": elapsed,
                            "accepted": accepted,
                            "throttled": fake.stats.throttled,
                            "share": share,
                            "counts": outcome.counts,
                            "timeline": timeline,
                        }
                    )
                    fake.set_rate_limit(None)
                    # Leave nothing pending for the next run (items that failed are still open).
                    fake.groups[group_id].join_requests.clear()
                stats = summary(shares)
                last = runs[-1]
                failed = sum(item["counts"]["failed"] + item["counts"]["not_attempted"] for item in runs)
                throttled = summary([float(item["throttled"]) for item in runs])["median"]
                requests = -(-count // batch)
                rows.append(
                    row(
                        case=label,
                        metric="req/s accepted",
                        ours=last["accepted"] / last["elapsed_s"],
                        baseline_name="allowed",
                        baseline=rate,
                        ratio=stats,
                        ratio_meaning="accepted / (burst + rate x elapsed)",
                        target=TARGET,
                        detail=f"{throttled:.0f} throttled answers for {requests} requests (median of runs); "
                        f"items failed or not attempted: {failed}",
                    )
                )
                if failed:
                    rows[-1]["met"] = False
                data["scenarios"][label] = runs
    notes = [
        f"{count:,} join requests in batches of {batch} ({-(-count // batch)} requests), concurrency {concurrency}, "
        f"{latency * 1000:g} ms latency: unthrottled the job would send {concurrency / latency:.0f} requests per "
        f"second, {concurrency / latency / rate:.0f}x the allowed {rate:g}/s (burst {burst}).",
        "A row counts as met only if every item was approved as well.",
    ]
    return result(NAME, TITLE, sizes, rows, notes=notes, data=data)
