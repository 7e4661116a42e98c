"""4. Peer: the same ``get_group`` loop and approval job through pywa's async client (``pywa_async.WhatsApp``).

pywa talks to Graph through an ``httpx.AsyncClient`` whose ``base_url`` it sets to Graph's host; the benchmark
re-points that ``base_url`` at the fake after construction, and an httpx request hook refuses any request to a
host other than 127.0.0.1, so nothing leaves the machine.

Every step is first tried through pywa's typed API; what fails is recorded with the reason, and the timing then
uses pywa's dict-returning layer (``wa.api``), which does the same HTTP exchange without pywa's models. pywa has
no bulk helper, so its approval job is the obvious hand-written one: ``concurrency`` workers, batches of 8.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
from collections.abc import Awaitable, Callable
from typing import Any

from wa_groups import GroupsClient
from wa_groups.testing import FakeGraphAPI

from ._common import (
    CONNECTION_LIMIT,
    RawGraph,
    Sample,
    Sizes,
    interleaved,
    member_pool,
    paired_ratios,
    result,
    row,
    summary,
    timed,
)

NAME = "peer_pywa"
TITLE = "4. Peer comparison with pywa (async client)"
LOOPBACK = "127.0.0.1"


def available() -> bool:
    return importlib.util.find_spec("pywa_async") is not None and importlib.util.find_spec("httpx") is not None


class LeftLoopback(RuntimeError):
    """pywa tried to reach a host other than the fake."""


async def _loopback_only(request: Any) -> None:
    if request.url.host != LOOPBACK:
        raise LeftLoopback(f"refused a request to {request.url.host}")


async def _attempt(step: Callable[[], Awaitable[Any]]) -> str:
    """Run one pywa step; return ``"supported"`` or ``"not supported: <why>"``."""
    try:
        await step()
    except LeftLoopback:
        raise
    except Exception as exc:
        return f"not supported: {type(exc).__name__}: {exc}"
    return "supported"


async def run(sizes: Sizes) -> dict[str, Any]:
    if not available():
        return result(
            NAME,
            TITLE,
            sizes,
            [],
            notes=["skipped: pywa is not installed (pip install -e '.[bench]')"],
            data={"skipped": True},
        )
    # The bench extra brings these; the type check of the test suite runs without them.
    import httpx  # type: ignore[import-not-found, unused-ignore]
    import pywa  # type: ignore[import-not-found, unused-ignore]
    from pywa_async.client import WhatsApp  # type: ignore[import-not-found, unused-ignore]
    from pywa_async.types.groups import GroupDetails  # type: ignore[import-not-found, unused-ignore]

    latency, batch, concurrency = sizes.bulk_latency, sizes.bulk_batch, sizes.bulk_concurrency
    capabilities: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    data: dict[str, Any] = {"pywa": getattr(pywa, "__version__", None)}
    async with FakeGraphAPI(record_requests=False, max_participants=2 * sizes.peer_approvals + 16) as fake:
        plain, crowded = fake.add_groups(2)
        fake.groups[crowded].participants = ["16505550001", "16505550002", "16505550003"]
        fake.add_join_requests(crowded, 30)
        http = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=CONNECTION_LIMIT, max_keepalive_connections=CONNECTION_LIMIT),
            timeout=30.0,
            event_hooks={"request": [_loopback_only]},
        )
        client: GroupsClient
        async with http, fake.client() as client, RawGraph(fake) as raw:
            wa = WhatsApp(token=fake.access_token, phone_id=fake.phone_number_id, session=http)
            http.base_url = httpx.URL(f"{fake.base_url}/{fake.api_version}/")
            fake_api: Any = wa.api

            # ---- what pywa can do against Graph's documented answers (as the fake gives them)
            capabilities["get_group, group without participants"] = await _attempt(lambda: wa.get_group(plain))
            capabilities["get_group, group with participants"] = await _attempt(lambda: wa.get_group(crowded))
            capabilities["list join requests, typed"] = await _attempt(lambda: wa.get_group_join_requests(crowded))

            async def second_page() -> None:
                first = await fake_api.get_group_join_requests(crowded, pagination={"limit": "10"})
                after = first["paging"]["cursors"]["after"]
                await fake_api.get_group_join_requests(crowded, pagination={"limit": "10", "after": after})

            capabilities["join requests past page one, dict layer (wa.api)"] = await _attempt(second_page)
            capabilities["list groups, typed (get_groups)"] = await _attempt(lambda: wa.get_groups())
            ids = fake.add_join_requests(crowded, 8, member_pool(8))
            before = sum(fake.approved.values())
            capabilities["approve join requests, typed"] = await _attempt(
                lambda: wa.approve_group_join_requests(crowded, ids)
            )
            done = sum(fake.approved.values()) - before
            if capabilities["approve join requests, typed"] != "supported":
                capabilities["approve join requests, typed"] += f" (the server had approved {done} of 8 requests)"
            capabilities["bulk approval helper"] = "not supported: pywa has none; the job below is written by hand"

            # ---- get_group loop (the group without participants, which pywa's typed call can read)
            calls = sizes.peer_calls
            pywa_fields = ",".join(GroupDetails._api_fields())  # what pywa's get_group asks for

            async def bare_httpx(path: str, params: dict[str, str]) -> Any:
                return (await http.get(path.lstrip("/"), params=params)).json()

            async def loop(call: Callable[[], Awaitable[Any]]) -> None:
                for _ in range(calls):
                    await call()

            sides: dict[str, Callable[[], Awaitable[None]]] = {
                "wa_groups": functools.partial(loop, lambda: client.get_group(plain)),
                "pywa": functools.partial(loop, lambda: wa.get_group(plain)),
                "raw": functools.partial(loop, lambda: raw.get(f"/{plain}", {"fields": pywa_fields})),
                "httpx": functools.partial(loop, lambda: bare_httpx(f"/{plain}", {"fields": pywa_fields})),
            }
            samples = await interleaved(sides, sizes.peer_rounds)
            per_call = {name: [s.wall / calls * 1e6 for s in values] for name, values in samples.items()}
            ratio = summary(paired_ratios(per_call["wa_groups"], per_call["pywa"]))
            rows.append(
                row(
                    case="get_group loop",
                    metric="us per call",
                    ours=summary(per_call["wa_groups"])["median"],
                    baseline_name="pywa",
                    baseline=summary(per_call["pywa"])["median"],
                    ratio=ratio,
                    ratio_meaning="wa_groups time / pywa time (below 1: wa_groups faster)",
                    detail=f"raw aiohttp {summary(per_call['raw'])['median']:.0f} us per call, bare httpx (pywa's "
                    f"transport, same request + .json()) {summary(per_call['httpx'])['median']:.0f} us; pywa / raw "
                    f"aiohttp {summary(paired_ratios(per_call['pywa'], per_call['raw']))['median']:.2f}",
                )
            )
            data["get_group_us"] = per_call

            # ---- approval job at the bulk benchmark's latency, concurrency and batch size
            fake.latency = latency
            group = fake.add_groups(1)[0]

            async def ours_job(ids: list[str]) -> int:
                outcome = await client.bulk_approve_join_requests(group, ids, concurrency=concurrency, batch_size=batch)
                return len(outcome.succeeded)

            async def pywa_job(ids: list[str]) -> int:
                starts = iter(range(0, len(ids), batch))
                approved = 0

                async def worker() -> None:
                    nonlocal approved
                    for start in starts:
                        answer = await fake_api.approve_group_join_requests(group, tuple(ids[start : start + batch]))
                        approved += len(answer.get("approved_join_requests", ()))

                await asyncio.gather(*(worker() for _ in range(concurrency)))
                return approved

            count = sizes.peer_approvals
            job_samples: dict[str, list[Sample]] = {"wa_groups": [], "pywa": []}
            for index in range(sizes.peer_repeats):
                order: list[tuple[str, Callable[[list[str]], Awaitable[int]]]] = [
                    ("wa_groups", ours_job),
                    ("pywa", pywa_job),
                ]
                for name, job in order if index % 2 == 0 else order[::-1]:
                    ids = fake.add_join_requests(group, count, member_pool(count))
                    sample, approved = await timed(functools.partial(job, ids))
                    assert approved == count, (name, approved)
                    job_samples[name].append(sample)
            ours_wall = [s.wall for s in job_samples["wa_groups"]]
            pywa_wall = [s.wall for s in job_samples["pywa"]]
            rows.append(
                row(
                    case=f"approval job, {count:,} requests",
                    metric="s",
                    ours=summary(ours_wall)["median"],
                    baseline_name="pywa (wa.api + asyncio)",
                    baseline=summary(pywa_wall)["median"],
                    ratio=summary(paired_ratios(ours_wall, pywa_wall)),
                    ratio_meaning="wa_groups time / pywa time (below 1: wa_groups faster)",
                    detail=f"{latency * 1000:g} ms latency, concurrency {concurrency}, batches of {batch}; pywa's "
                    "typed approve call cannot be used (see capabilities)",
                )
            )
            data["approval_s"] = {"wa_groups": ours_wall, "pywa": pywa_wall}
    data["capabilities"] = capabilities
    notes = [f"pywa {name}: {verdict}" for name, verdict in capabilities.items()]
    verdicts = " ".join(capabilities.values())
    if "'user_id'" in verdicts or "'request_id'" in verdicts:
        notes.append(
            "Why: pywa's models read a 'user_id' on every participant and join request and a 'request_id' in the "
            "approve answer; Graph v23.0's documented answers (which the fake follows) carry 'wa_id' and "
            "'approved_join_requests'. Its typed group listing iterates 'data' as a list, where v23.0 answers "
            "{'data': {'groups': [...]}}. The timings therefore use get_group on a group without participants "
            "(which pywa's model reads) and pywa's dict layer for the approvals."
        )
    notes.append(
        "pywa sends through httpx: most of its time per call is httpx's own (see 'bare httpx'), not pywa's models."
    )
    return result(NAME, TITLE, sizes, rows, notes=notes, data=data)
