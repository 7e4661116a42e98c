"""Benchmarks of wa_groups against raw aiohttp, an ideal schedule and pywa, all on the fake Graph server.

``python -m benchmarks`` (or ``nox -s bench``) runs them all, writes ``benchmarks/results/*.json`` and renders
``benchmarks/results/README.md`` with PNG charts. Each module has ``NAME``, ``TITLE`` and ``async run(sizes)``.
"""

from __future__ import annotations

from types import ModuleType

from . import bulk_approval, overhead, peer_pywa, rate_limit, streaming

#: The benchmarks in the order they run and are reported.
BENCHMARKS: dict[str, ModuleType] = {
    module.NAME: module for module in (overhead, bulk_approval, streaming, peer_pywa, rate_limit)
}
