"""What every benchmark shares: sizes, timing, statistics, the raw aiohttp baseline, machine facts, results.

Every benchmark runs its sides in one process, in one event loop, against one ``FakeGraphAPI`` that runs in that
same loop. The fake's CPU time is therefore part of every measurement, on both sides alike: ratios between two
clients are diluted by it (a client twice as slow as another shows less than 2x), and absolute figures are
those of client plus server on one core.
"""

from __future__ import annotations

import asyncio
import datetime
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import aiohttp

RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: ``--quick`` runs write here, so a smoke run never replaces the published figures.
QUICK_DIR = RESULTS_DIR / "quick"

#: The connector limit of ``GroupsClient`` (its ``max_connections`` default); the raw baselines use the same.
CONNECTION_LIMIT = 100


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does; ``full`` is what ``nox -s bench`` runs."""

    label: str
    # 1. per-call overhead
    overhead_calls: int
    overhead_rounds: int
    overhead_page_sizes: tuple[int, ...]
    # 2. bulk approval
    bulk_counts: tuple[int, ...]
    bulk_repeats: tuple[int, ...]
    bulk_latency: float
    bulk_concurrency: int
    bulk_batch: int
    # 3. streaming
    stream_counts: tuple[int, int]
    stream_repeats: int
    stream_page_size: int
    # 4. pywa
    peer_calls: int
    peer_rounds: int
    peer_approvals: int
    peer_repeats: int
    # 5. rate limit
    rate_items: int
    rate_per_second: float
    rate_burst: int
    rate_repeats: int

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            label="full",
            overhead_calls=100,
            overhead_rounds=30,
            overhead_page_sizes=(25, 1024),
            bulk_counts=(10_000, 100_000),
            bulk_repeats=(5, 1),
            bulk_latency=0.020,
            bulk_concurrency=16,
            bulk_batch=8,
            stream_counts=(10_000, 100_000),
            stream_repeats=5,
            stream_page_size=1024,
            peer_calls=100,
            peer_rounds=20,
            peer_approvals=10_000,
            peer_repeats=3,
            rate_items=8_000,
            rate_per_second=200.0,
            rate_burst=20,
            rate_repeats=2,
        )

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            label="quick",
            overhead_calls=50,
            overhead_rounds=8,
            overhead_page_sizes=(25, 1024),
            bulk_counts=(2_000, 10_000),
            bulk_repeats=(2, 1),
            bulk_latency=0.020,
            bulk_concurrency=16,
            bulk_batch=8,
            stream_counts=(2_000, 20_000),
            stream_repeats=2,
            stream_page_size=1024,
            peer_calls=50,
            peer_rounds=6,
            peer_approvals=2_000,
            peer_repeats=1,
            rate_items=1_600,
            rate_per_second=200.0,
            rate_burst=20,
            rate_repeats=1,
        )

    @classmethod
    def tiny(cls) -> Sizes:
        """Just enough to exercise every code path (the smoke test); the figures mean nothing."""
        return cls(
            label="tiny",
            overhead_calls=3,
            overhead_rounds=2,
            overhead_page_sizes=(5,),
            bulk_counts=(64, 128),
            bulk_repeats=(1, 1),
            bulk_latency=0.001,
            bulk_concurrency=4,
            bulk_batch=8,
            stream_counts=(300, 600),
            stream_repeats=1,
            stream_page_size=100,
            peer_calls=3,
            peer_rounds=2,
            peer_approvals=64,
            peer_repeats=1,
            rate_items=160,
            rate_per_second=400.0,
            rate_burst=10,
            rate_repeats=1,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------------ timing


@dataclass(frozen=True)
class Sample:
    """One timed run: wall-clock seconds and this process's CPU seconds."""

    wall: float
    cpu: float


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[Sample, Any]:
    """Run ``work`` once after a garbage collection; return its timing and its value."""
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    value = await work()
    return Sample(time.perf_counter() - wall0, time.process_time() - cpu0), value


async def interleaved(
    sides: Mapping[str, Callable[[], Awaitable[Any]]], rounds: int, *, warmup: int = 1
) -> dict[str, list[Sample]]:
    """Run each side once per round, alternating the order (A B, B A, ...) so drift hits all sides alike."""
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            await sides[name]()
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for index in range(rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            sample, _ = await timed(sides[name])
            samples[name].append(sample)
    return samples


def paired_ratios(numerator: Sequence[float], denominator: Sequence[float]) -> list[float]:
    """Return the round-by-round ratios of two interleaved series."""
    return [a / b for a, b in zip(numerator, denominator, strict=True) if b > 0]


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, quartiles, extremes and count of a series (quartiles equal the median below 2 values)."""
    data = sorted(values)
    if not data:
        return {"median": 0.0, "q1": 0.0, "q3": 0.0, "min": 0.0, "max": 0.0, "n": 0}
    median = statistics.median(data)
    q1, q3 = (statistics.quantiles(data, n=4, method="inclusive")[::2]) if len(data) >= 2 else (median, median)
    return {"median": median, "q1": q1, "q3": q3, "min": data[0], "max": data[-1], "n": len(data)}


def spread(stats: Mapping[str, float]) -> str:
    """Format a summary as ``median (IQR q1-q3)``."""
    return f"{stats['median']:.3f} (IQR {stats['q1']:.3f}-{stats['q3']:.3f}, n={int(stats['n'])})"


# ------------------------------------------------------------------------------------------ raw aiohttp


class Endpoint(Protocol):
    """Where a fake Graph server listens and what it accepts (a ``FakeGraphAPI`` or a ``FakeProcess``)."""

    @property
    def base_url(self) -> str: ...

    @property
    def access_token(self) -> str: ...

    @property
    def api_version(self) -> str: ...


class RawGraph:
    """The baseline: the same HTTP exchanges with aiohttp alone, decoding JSON with ``json.loads``.

    One ``ClientSession`` with the same connector limit as ``GroupsClient``, the same ``Authorization`` header,
    the same query parameters and JSON bodies; no validation, no models, no retries.
    """

    def __init__(self, fake: Endpoint, *, limit: int = CONNECTION_LIMIT) -> None:
        self.root = f"{fake.base_url}/{fake.api_version}"
        self.headers = {"Authorization": f"Bearer {fake.access_token}"}
        self.json_headers = {**self.headers, "Content-Type": "application/json"}
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RawGraph:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self._limit))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use 'async with RawGraph(...)'"
        return self._session

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        async with self.session.get(self.root + path, params=params, headers=self.headers) as response:
            return json.loads(await response.read())

    async def post(self, path: str, payload: Any) -> Any:
        body = json.dumps(payload, separators=(",", ":")).encode()
        async with self.session.post(self.root + path, data=body, headers=self.json_headers) as response:
            return json.loads(await response.read())


# ---------------------------------------------------------------------------------------------- fixtures


def member_pool(count: int, size: int = 8) -> list[str]:
    """Return ``count`` WhatsApp ids cycling over ``size`` users.

    Approving a join request makes its user a participant; the fake rebuilds a set of all participants on each
    approve call, so distinct users make each call cost O(participants) on the server. Cycling over 8 users keeps
    the group at Meta's 8 participants and the fake's cost per call flat, whatever the job's size.
    """
    return [f"1650555{index % size:04d}" for index in range(count)]


# ------------------------------------------------------------------------------------------------ results


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """Facts that figures depend on: cores, Python, library versions, load when the run started."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 0
    try:
        load: list[float] | None = [round(value, 2) for value in os.getloadavg()]
    except OSError:
        load = None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load_average_1_5_15": load,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "aiohttp": _version("aiohttp"),
        "wa_groups": _version("wa-groups"),
        "attrs": _version("attrs"),
        "cattrs": _version("cattrs"),
        "pywa": _version("pywa"),
        "httpx": _version("httpx"),
        "event_loop": type(asyncio.get_event_loop_policy()).__name__,
        "argv": sys.argv[1:],
    }


def row(
    *,
    case: str,
    metric: str,
    ours: float,
    baseline_name: str,
    baseline: float,
    ratio: Mapping[str, float],
    ratio_meaning: str,
    target: str | None = None,
    detail: str = "",
) -> dict[str, Any]:
    """One line of a results table; ``target`` is ``"<= x"`` or ``">= x"`` on the median ratio."""
    met: bool | None = None
    if target is not None:
        operator, value = target.split()
        met = ratio["median"] <= float(value) if operator == "<=" else ratio["median"] >= float(value)
    return {
        "case": case,
        "metric": metric,
        "wa_groups": ours,
        "baseline_name": baseline_name,
        "baseline": baseline,
        "ratio": dict(ratio),
        "ratio_meaning": ratio_meaning,
        "target": target,
        "met": met,
        "detail": detail,
    }


def result(
    name: str,
    title: str,
    sizes: Sizes,
    rows: list[dict[str, Any]],
    *,
    notes: Sequence[str] = (),
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble one benchmark's JSON document."""
    return {
        "benchmark": name,
        "title": title,
        "sizes": sizes.label,
        "machine": machine_info(),
        "rows": rows,
        "notes": list(notes),
        "data": dict(data or {}),
    }


def write_result(document: Mapping[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{document['benchmark']}.json"
    path.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return path


def print_rows(document: Mapping[str, Any]) -> None:
    """Print a benchmark's rows as one line each: values, ratio with spread, target."""
    print(f"== {document['title']}")
    for item in document["rows"]:
        verdict = "" if item["met"] is None else ("  MET" if item["met"] else "  MISSED")
        target = f"  target {item['target']}" if item["target"] else ""
        print(
            f"  {item['case']}: wa_groups {item['wa_groups']:.4g} vs {item['baseline_name']} {item['baseline']:.4g}"
            f" {item['metric']}; ratio {spread(item['ratio'])}{target}{verdict}"
        )
        if item["detail"]:
            print(f"    {item['detail']}")
    for note in document["notes"]:
        print(f"  note: {note}")
