"""1. Per-call overhead: ``get_group`` and one join-request page, ``wa_groups`` against raw aiohttp.

Both sides make the same sequential HTTP exchanges against the same fake (same path, query, ``Authorization``
header, connector limit). The raw side stops at ``json.loads``; ``wa_groups`` also validates arguments, builds
the request, runs its retry wrapper and turns the JSON into frozen models (``GroupInfo``, ``Page[JoinRequest]``
with aware datetimes). Rounds of ``calls`` calls alternate between the sides; the ratio is taken round by round.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from wa_groups import GroupsClient
from wa_groups._graph.endpoints import GROUP_INFO_FIELDS, build
from wa_groups.testing import FakeGraphAPI

from ._common import RawGraph, Sizes, interleaved, paired_ratios, result, row, summary

NAME = "overhead"
TITLE = "1. Per-call overhead (sequential calls, no simulated latency)"
TARGET = "<= 1.15"
#: wa_groups' layers timed on their own for get_group, each including the ones before it.
LAYERS = {
    "transport_once": "one exchange + decode_response (Transport._send_once)",
    "transport": "retry wrapper (Transport.send via backoff)",
    "wa_groups": "argument checks, request building, GroupInfo model (get_group)",
}


async def _case(
    case: str, calls: dict[str, Callable[[], Awaitable[Any]]], sizes: Sizes, per_call_weight: int = 1
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Time ``calls`` (``wa_groups``, ``raw`` and optional layers of wa_groups) in alternating rounds."""
    count = max(2, sizes.overhead_calls // per_call_weight)

    def loop(call: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
        async def repeat() -> None:
            for _ in range(count):
                await call()

        return repeat

    samples = await interleaved({name: loop(call) for name, call in calls.items()}, sizes.overhead_rounds)
    wall = {name: [s.wall / count * 1e6 for s in values] for name, values in samples.items()}
    cpu = {name: [s.cpu / count * 1e6 for s in values] for name, values in samples.items()}
    wall_ratio = summary(paired_ratios(wall["wa_groups"], wall["raw"]))
    cpu_ratio = summary(paired_ratios(cpu["wa_groups"], cpu["raw"]))
    # CPU each side spends beyond raw aiohttp, round by round (the fake's share cancels out).
    extra = {
        name: summary([a - b for a, b in zip(values, cpu["raw"], strict=True)])["median"]
        for name, values in cpu.items()
        if name != "raw"
    }
    detail = f"CPU-time ratio {cpu_ratio['median']:.3f}; wa_groups adds {extra['wa_groups']:.0f} us of CPU per call"
    layers = [name for name in calls if name not in ("wa_groups", "raw")]
    if layers:
        steps, previous = [], 0.0
        for name in [*layers, "wa_groups"]:
            steps.append(f"{LAYERS.get(name, name)} {extra[name] - previous:+.0f} us")
            previous = extra[name]
        detail += f" ({'; '.join(steps)})"
    line = row(
        case=case,
        metric="us per call",
        ours=summary(wall["wa_groups"])["median"],
        baseline_name="raw aiohttp",
        baseline=summary(wall["raw"])["median"],
        ratio=wall_ratio,
        ratio_meaning="wa_groups time / raw aiohttp time (wall clock, per round)",
        target=TARGET,
        detail=detail,
    )
    return line, {"wall_us": wall, "cpu_us": cpu, "cpu_ratio": cpu_ratio, "extra_cpu_us": extra}


async def run(sizes: Sizes) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    data: dict[str, Any] = {}
    async with FakeGraphAPI(record_requests=False) as fake:
        group_id = fake.add_groups(1)[0]
        fake.groups[group_id].participants = ["16505550001", "16505550002", "16505550003"]
        fake.add_join_requests(group_id, max(sizes.overhead_page_sizes))
        client: GroupsClient
        async with fake.client() as client, RawGraph(fake) as raw:
            fields = {"fields": ",".join(GROUP_INFO_FIELDS)}

            calls: dict[str, Callable[[], Awaitable[Any]]] = {
                "wa_groups": lambda: client.get_group(group_id),
                "raw": lambda: raw.get(f"/{group_id}", fields),
            }
            # The layers go through private attributes on purpose: they split the overhead by cause. Should the
            # internals change shape, the case is measured without the split.
            transport: Any = getattr(client, "_transport", None)
            if hasattr(transport, "_send_once") and hasattr(transport, "send"):
                request = build("get_group", params=fields, group_id=group_id)
                calls["transport_once"] = lambda: transport._send_once(request)
                calls["transport"] = lambda: transport.send(request)
            line, data["get_group"] = await _case("get_group (3 participants)", calls, sizes)
            rows.append(line)

            for page_size in sizes.overhead_page_sizes:
                limit = {"limit": str(page_size)}

                async def ours_page(page_size: int = page_size) -> Any:
                    pages = client.iter_join_requests(group_id, page_size=page_size).pages()
                    async with contextlib.aclosing(pages):
                        return await anext(pages)

                async def raw_page(limit: dict[str, str] = limit) -> Any:
                    return await raw.get(f"/{group_id}/join_requests", limit)

                case = f"join-request page of {page_size}"
                # Big pages take longer: fewer calls per round keep each case to a few seconds.
                weight = 1 + page_size // 100
                line, data[case] = await _case(case, {"wa_groups": ours_page, "raw": raw_page}, sizes, weight)
                rows.append(line)
    notes = [
        "The fake runs in the same event loop: its CPU time is inside both sides' figures, so the ratio is of "
        "client plus server; the 'adds N us of CPU per call' detail is the client's own difference.",
        "The raw side stops at json.loads (dicts); wa_groups also builds frozen attrs models with datetimes, "
        "which grows with the number of items in a page.",
    ]
    return result(NAME, TITLE, sizes, rows, notes=notes, data=data)
