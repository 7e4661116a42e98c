"""Run the benchmarks and render their report: ``python -m benchmarks [--quick] [--only NAME ...]``.

Each benchmark runs in a fresh event loop and writes ``<out>/<name>.json``; the report (``README.md`` and PNG
charts) is then rendered from every JSON file in ``<out>``. A full run into ``benchmarks/results`` also refreshes
the Benchmarks section of the project README. ``--quick`` writes to ``benchmarks/results/quick`` instead.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from . import BENCHMARKS, report, webhooks
from ._common import QUICK_DIR, RESULTS_DIR, Sizes, print_rows, write_result

BENCHMARKS.setdefault(webhooks.NAME, webhooks)  # the webhook intake benchmark, run last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a fast smoke run (about a minute)")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), metavar="NAME", help="run only these")
    parser.add_argument("--out", type=Path, help="where to write results (default: benchmarks/results)")
    parser.add_argument("--no-readme", action="store_true", help="do not refresh the project README's section")
    args = parser.parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes.full()
    out_dir: Path = args.out or (QUICK_DIR if args.quick else RESULTS_DIR)
    if args.quick:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / ".gitignore").write_text("*\n", encoding="utf-8")
    started = time.perf_counter()
    for name in args.only or list(BENCHMARKS):
        module = BENCHMARKS[name]
        began = time.perf_counter()
        document = asyncio.run(module.run(sizes))
        document["duration_s"] = round(time.perf_counter() - began, 2)
        path = write_result(document, out_dir)
        print_rows(document)
        print(f"  ({document['duration_s']:.1f} s, {path})", flush=True)
    readme = None
    if not args.quick and not args.no_readme and out_dir.resolve() == RESULTS_DIR.resolve():
        readme = Path(__file__).resolve().parent.parent / "README.md"
    written = report.render(out_dir, project_readme=readme)
    print(f"report: {', '.join(str(path) for path in written)}")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
