"""Render ``<results>/*.json`` into ``<results>/README.md`` (Markdown tables) and PNG charts.

``python -m benchmarks.report [DIR] [--readme PATH]`` re-renders without running anything. Charts need
matplotlib (the ``bench`` extra); without it only the Markdown is written. With ``--readme`` (and after a full
``python -m benchmarks`` run) the part of the project README between the ``benchmarks:start`` and
``benchmarks:end`` markers is replaced by the summary table and links to the charts.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ._common import RESULTS_DIR

START = "<!-- benchmarks:start -->"
END = "<!-- benchmarks:end -->"
ORDER = ("overhead", "bulk_approval", "streaming", "peer_pywa", "rate_limit")


def load(results: Path) -> list[dict[str, Any]]:
    """Return the benchmark documents in ``results``, in the order of the benchmarks."""
    documents = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(results.glob("*.json"))]
    rank = {name: index for index, name in enumerate(ORDER)}
    return sorted(documents, key=lambda doc: (rank.get(doc.get("benchmark", ""), len(rank)), doc.get("benchmark")))


def _number(value: float) -> str:
    if value >= 10_000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(stats: Mapping[str, float]) -> str:
    if stats.get("n", 0) >= 3:
        return f"{stats['median']:.2f} ({stats['q1']:.2f}-{stats['q3']:.2f})"
    return f"{stats['median']:.2f}"


def _verdict(item: Mapping[str, Any]) -> str:
    if item.get("met") is None:
        return "-"
    return "yes" if item["met"] else "**no**"


def summary_table(documents: Sequence[Mapping[str, Any]]) -> str:
    """One Markdown table with a line per measured case."""
    lines = [
        "| Benchmark | Case | wa_groups | Reference | Ratio, median (IQR) | Target | Met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for document in documents:
        title = document["title"].split(" ", 1)[-1].split(" (")[0]
        for item in document["rows"]:
            lines.append(
                f"| {title} | {item['case']} | {_number(item['wa_groups'])} {item['metric']} "
                f"| {item['baseline_name']}: {_number(item['baseline'])} | {_ratio(item['ratio'])} "
                f"| {item['target'] or '-'} | {_verdict(item)} |"
            )
        if not document["rows"]:
            lines.append(f"| {title} | {'; '.join(document['notes'])} | - | - | - | - | - |")
    return "\n".join(lines)


def machine_line(documents: Sequence[Mapping[str, Any]]) -> str:
    if not documents:
        return ""
    machine = documents[0]["machine"]
    load = machine.get("load_average_1_5_15")
    parts = [
        f"{machine['cores']} cores ({machine['usable_cores']} usable)",
        f"{machine['implementation']} {machine['python']}",
        f"aiohttp {machine['aiohttp']}",
        f"wa_groups {machine['wa_groups']}",
    ]
    if machine.get("pywa"):
        parts.append(f"pywa {machine['pywa']} (httpx {machine['httpx']})")
    parts.append(machine["platform"])
    if load:
        parts.append(f"load average at start {load[0]}")
    sizes = documents[0].get("sizes", "?")
    return f"Measured {machine['date']} with `{sizes}` sizes on {', '.join(parts)}."


def _missed(document: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    return [item for item in (document or {}).get("rows", []) if item.get("met") is False]


def _gap_overhead(document: Mapping[str, Any]) -> str:
    data = document["data"]
    extra = data["get_group"]["extra_cpu_us"]
    text = (
        f"**Per-call overhead** ({', '.join(item['case'] for item in _missed(document))}): wa_groups spends "
        f"{extra['wa_groups']:.0f} us more CPU per `get_group` than raw aiohttp."
    )
    if "transport" in extra and "transport_once" in extra:
        text += (
            f" By layer: {extra['transport_once']:.0f} us in the exchange itself (`Transport._send_once`: building "
            f"the call, `decode_response`), {extra['transport'] - extra['transport_once']:.0f} us in the retry "
            "wrapper (`backoff` drives every call, not only the retried ones), "
            f"{extra['wa_groups'] - extra['transport']:.0f} us in argument checks, request building and the "
            "`GroupInfo` model."
        )
    pages = {
        int(name.rsplit(" ", 1)[-1]): values["extra_cpu_us"]["wa_groups"]
        for name, values in data.items()
        if name.startswith("join-request page of ")
    }
    if len(pages) >= 2:
        small, large = min(pages), max(pages)
        per_item = (pages[large] - pages[small]) / (large - small)
        text += (
            f" Each join request in a page adds about {per_item:.1f} us (one frozen `JoinRequest` and one "
            "datetime), which raw aiohttp does not spend, so the ratio grows with the page size."
        )
    return text


def _gap_bulk(document: Mapping[str, Any]) -> str:
    jobs = document["data"]["jobs"]
    parts = []
    for key, job in jobs.items():
        raw = _median(job["wall_s"]["raw"]) / job["ideal_s"]
        where = f"{int(key):,} requests" if key.isdigit() else f"{job['count']:,} requests, fake in a child process"
        parts.append(
            f"{where}: wa_groups {job['vs_ideal']['median']:.2f}x ideal, raw aiohttp {raw:.2f}x, timer floor "
            f"{job['timer_floor_s'] / job['ideal_s']:.2f}x, wa_groups / raw {job['vs_raw']['median']:.2f}"
        )
    in_loop = [job for key, job in jobs.items() if key.isdigit()]
    raw_misses = all(_median(job["wall_s"]["raw"]) / job["ideal_s"] > 1.10 for job in in_loop)
    if raw_misses:
        lead = (
            "**Bulk approval** misses 1.10x because of the setting more than the library: a raw aiohttp client "
            "doing the same exchanges with nothing on top misses it too. The ideal counts no CPU time and on-time "
            "timers; here 16 exchanges are in flight per 20 ms cycle, each costs the client and the fake (same "
            "core) a few hundred microseconds, and every simulated wait ends late (the timer floor). wa_groups' "
            "own share is the wa_groups / raw ratio. "
        )
    else:
        lead = (
            "**Bulk approval** misses 1.10x where raw aiohttp, doing the same exchanges with nothing on top, meets "
            "it: the difference is wa_groups' own CPU per request (see the wa_groups / raw ratio). "
        )
    return lead + "; ".join(parts) + "."


def _gap_streaming(document: Mapping[str, Any]) -> str:
    data = document["data"]
    raw_us = 1e6 / _median(data["items_per_s"]["raw"])
    budget = raw_us * (1 / 0.85 - 1)
    return (
        f"**Streaming** throughput: wa_groups spends {data['extra_cpu_us_per_item']:.2f} us more CPU per group "
        "than raw aiohttp, which keeps `json.loads`' dicts: each item becomes a frozen attrs `GroupSummary` with "
        f"an aware datetime. Raw aiohttp needs {raw_us:.2f} us per item here (fake included), so 0.85x leaves "
        f"wa_groups {budget:.2f} us per item for everything it adds."
    )


def _gap_rate_limit(document: Mapping[str, Any]) -> str:
    texts = []
    for item in _missed(document):
        runs = document["data"]["scenarios"].get(item["case"], [])
        failed = sum(run["counts"]["failed"] + run["counts"]["not_attempted"] for run in runs)
        throttled = sum(run["throttled"] for run in runs)
        requests = sum(-(-run["counts"]["total"] // document["data"].get("batch", 8)) for run in runs)
        texts.append(
            f"**Rate limiter, {item['case']}**: the accepted rate is fine ({item['ratio']['median']:.2f} of the "
            f"allowed), but {failed:,} items failed in {len(runs)} runs and {throttled:,} requests were refused "
            f"for {requests:,} sent. Each refusal demands a few milliseconds (until the bucket's next token); the "
            "job pauses once for it and then lets every waiting request go at once, so all but one are refused "
            "again, and items fail once the retry policy's attempts are spent."
        )
    return " ".join(texts)


GAPS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "overhead": _gap_overhead,
    "bulk_approval": _gap_bulk,
    "streaming": _gap_streaming,
    "rate_limit": _gap_rate_limit,
}


def gaps(documents: Sequence[Mapping[str, Any]]) -> list[str]:
    """One paragraph per benchmark with a missed target, giving the measured cause."""
    found = []
    for document in documents:
        explain = GAPS.get(document["benchmark"])
        if explain is not None and _missed(document):
            found.append(explain(document))
    return found


def results_markdown(documents: Sequence[Mapping[str, Any]], charts: Sequence[str]) -> str:
    out = [
        "# wa_groups benchmarks",
        "",
        "Generated by `python -m benchmarks` (`nox -s bench`); do not edit by hand.",
        "",
        machine_line(documents),
        "",
        "Every benchmark runs its sides in one process and one event loop against one `FakeGraphAPI` running in",
        "that same loop, interleaving the sides (A B, B A, ...). Ratios are wa_groups over the reference, taken",
        "run by run; the table gives their median and interquartile range. The fake's CPU time is inside every",
        "figure on both sides, so ratios between clients are of client plus server.",
        "",
        summary_table(documents),
        "",
    ]
    causes = gaps(documents)
    if causes:
        out += ["## Targets missed, and why", ""]
        for cause in causes:
            out += [f"- {cause}", ""]
    chart_set = set(charts)
    for document in documents:
        out += [f"## {document['title']}", ""]
        for item in document["rows"]:
            out.append(f"- **{item['case']}**: ratio = {item['ratio_meaning']}.")
            if item["detail"]:
                out.append(f"  {item['detail']}.")
        for note in document["notes"]:
            out.append(f"- {note}")
        chart = f"{document['benchmark']}.png"
        if chart in chart_set:
            out += ["", f"![{document['title']}]({chart})"]
        out.append("")
    return "\n".join(out)


def readme_section(documents: Sequence[Mapping[str, Any]], charts: Sequence[str], results: Path, readme: Path) -> str:
    relative = Path(os.path.relpath(results, readme.parent)).as_posix()
    links = ", ".join(f"[{Path(name).stem.replace('_', ' ')}]({relative}/{name})" for name in charts)
    lines = [
        START,
        machine_line(documents),
        "",
        summary_table(documents),
        "",
        f"Why targets are missed, the method and details: [{relative}/README.md]({relative}/README.md).",
    ]
    if links:
        lines.append(f"Charts: {links}.")
    lines.append(END)
    return "\n".join(lines)


def update_readme(readme: Path, section: str) -> None:
    """Replace the marked section of ``readme``, or append a Benchmarks section holding it."""
    text = readme.read_text(encoding="utf-8")
    if START in text and END in text:
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        text = head + section + tail
    else:
        intro = (
            "`nox -s bench` (or `python -m benchmarks`) measures wa_groups against raw aiohttp, an ideal schedule "
            "and pywa on the fake Graph server, and refreshes this table."
        )
        text = text.rstrip("\n") + f"\n\n## Benchmarks\n\n{intro}\n\n{section}\n"
    readme.write_text(text, encoding="utf-8")


# ------------------------------------------------------------------------------------------------- charts


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _errors(series: Sequence[Sequence[float]]) -> list[list[float]]:
    """Asymmetric error bars from the median down to the first quartile and up to the third, for matplotlib."""
    lows, highs = [], []
    for values in series:
        middle = statistics.median(values)
        q1, q3 = statistics.quantiles(values, n=4, method="inclusive")[::2] if len(values) >= 2 else (middle, middle)
        lows.append(middle - q1)
        highs.append(q3 - middle)
    return [lows, highs]


def _chart_overhead(plt: Any, document: Mapping[str, Any], path: Path) -> None:
    cases = [(key, value) for key, value in document["data"].items() if isinstance(value, dict) and "wall_us" in value]
    figure, axes = plt.subplots(1, len(cases), figsize=(4 * len(cases), 3.6), squeeze=False)
    for axis, (case, values) in zip(axes[0], cases, strict=True):
        series = [values["wall_us"]["wa_groups"], values["wall_us"]["raw"]]
        axis.bar(
            ["wa_groups", "raw aiohttp"],
            [_median(s) for s in series],
            yerr=_errors(series),
            capsize=4,
            color=["#2b6cb0", "#a0aec0"],
        )
        axis.set_title(case, fontsize=10)
        axis.set_ylabel("us per call (median, IQR)")
    figure.suptitle(document["title"], fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _chart_bulk(plt: Any, document: Mapping[str, Any], path: Path) -> None:
    jobs = document["data"]["jobs"]
    labels = ["ideal", "timer floor", "raw aiohttp", "wa_groups"]
    colors = ["#cbd5e0", "#a0aec0", "#718096", "#2b6cb0"]
    figure, axis = plt.subplots(figsize=(7, 3.8))
    width = 0.2
    for offset, (label, color) in enumerate(zip(labels, colors, strict=True)):
        xs, heights, errors = [], [], []
        for index, job in enumerate(jobs.values()):
            ideal = job["ideal_s"]
            if label == "ideal":
                values = [ideal]
            elif label == "timer floor":
                values = [job["timer_floor_s"]]
            else:
                values = job["wall_s"]["raw" if label == "raw aiohttp" else "wa_groups"]
            ratios = [value / ideal for value in values]
            xs.append(index + (offset - 1.5) * width)
            heights.append(_median(ratios))
            errors.append(ratios)
        axis.bar(xs, heights, width, label=label, color=color, yerr=_errors(errors), capsize=3)
    axis.axhline(1.10, color="#c53030", linestyle="--", linewidth=1, label="target 1.10x")
    names = [
        f"{int(key):,} requests" if key.isdigit() else f"{job['count']:,}, fake in\na child process"
        for key, job in jobs.items()
    ]
    axis.set_xticks(range(len(jobs)), names)
    axis.set_ylabel("elapsed / ideal")
    axis.set_title(document["title"], fontsize=11)
    axis.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _chart_streaming(plt: Any, document: Mapping[str, Any], path: Path) -> None:
    data = document["data"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
    series = [data["items_per_s"]["wa_groups"], data["items_per_s"]["raw"]]
    left.bar(
        ["wa_groups", "raw aiohttp"],
        [_median(s) for s in series],
        yerr=_errors(series),
        capsize=4,
        color=["#2b6cb0", "#a0aec0"],
    )
    left.set_ylabel("items per second")
    left.set_title(f"{data['count']:,} groups, page size {data['page_size']}", fontsize=10)
    peaks = data["peak_bytes"]
    counts = list(peaks["wa_groups"])
    width = 0.35
    for offset, (name, color) in enumerate((("wa_groups", "#2b6cb0"), ("raw", "#a0aec0"))):
        right.bar(
            [index + (offset - 0.5) * width for index in range(len(counts))],
            [peaks[name][count] / 1024 for count in counts],
            width,
            label="raw aiohttp" if name == "raw" else name,
            color=color,
        )
    right.set_xticks(range(len(counts)), [f"{int(count):,} groups" for count in counts])
    right.set_ylabel("tracemalloc peak, KiB")
    right.set_title("peak memory while streaming", fontsize=10)
    right.legend(fontsize=8, loc="lower center")
    figure.suptitle(document["title"], fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _chart_peer(plt: Any, document: Mapping[str, Any], path: Path) -> None:
    data = document["data"]
    if data.get("skipped"):
        return
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
    names = [name for name in ("wa_groups", "pywa", "raw", "httpx") if name in data["get_group_us"]]
    series = [data["get_group_us"][name] for name in names]
    labels = {"raw": "raw aiohttp", "httpx": "bare httpx"}
    left.bar(
        [labels.get(name, name) for name in names],
        [_median(s) for s in series],
        yerr=_errors(series),
        capsize=4,
        color=["#2b6cb0", "#dd6b20", "#a0aec0", "#cbd5e0"][: len(names)],
    )
    left.set_ylabel("us per get_group call")
    left.set_title("get_group loop", fontsize=10)
    jobs = [data["approval_s"]["wa_groups"], data["approval_s"]["pywa"]]
    right.bar(
        ["wa_groups", "pywa"], [_median(s) for s in jobs], yerr=_errors(jobs), capsize=4, color=["#2b6cb0", "#dd6b20"]
    )
    right.set_ylabel("seconds")
    right.set_title("approval job", fontsize=10)
    figure.suptitle(document["title"], fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _chart_rate_limit(plt: Any, document: Mapping[str, Any], path: Path) -> None:
    data = document["data"]
    scenarios = data["scenarios"]
    figure, axes = plt.subplots(1, len(scenarios), figsize=(5 * len(scenarios), 3.6), squeeze=False, sharey=True)
    for axis, (label, runs) in zip(axes[0], scenarios.items(), strict=True):
        timeline = runs[-1]["timeline"]
        times, accepted, refused = [], [], []
        for (t0, a0, r0), (t1, a1, r1) in itertools.pairwise(timeline):
            span = max(t1 - t0, 1e-6)
            times.append(t1)
            accepted.append((a1 - a0) / span)
            refused.append((r1 - r0) / span)
        axis.plot(times, accepted, label="accepted / s", color="#2b6cb0")
        axis.plot(times, refused, label="throttled / s", color="#dd6b20", linestyle=":")
        axis.axhline(data["rate"], color="#c53030", linestyle="--", linewidth=1, label="allowed rate")
        axis.set_title(label, fontsize=10)
        axis.set_xlabel("seconds")
        axis.legend(fontsize=8)
    axes[0][0].set_ylabel("requests per second")
    figure.suptitle(document["title"], fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


CHARTS: dict[str, Callable[[Any, Mapping[str, Any], Path], None]] = {
    "overhead": _chart_overhead,
    "bulk_approval": _chart_bulk,
    "streaming": _chart_streaming,
    "peer_pywa": _chart_peer,
    "rate_limit": _chart_rate_limit,
}


def charts(documents: Sequence[Mapping[str, Any]], results: Path) -> list[str]:
    """Draw one PNG per benchmark that has data; return their file names (none without matplotlib)."""
    if importlib.util.find_spec("matplotlib") is None:
        return []
    import matplotlib  # type: ignore[import-not-found, unused-ignore]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]

    drawn: list[str] = []
    for document in documents:
        draw = CHARTS.get(document["benchmark"])
        if draw is None or not document["rows"]:
            continue
        path = results / f"{document['benchmark']}.png"
        draw(plt, document, path)
        if path.exists():
            drawn.append(path.name)
    return drawn


def render(results: Path = RESULTS_DIR, *, project_readme: Path | None = None, draw: bool = True) -> list[Path]:
    """Write ``results/README.md`` and (with ``draw``) the charts; refresh ``project_readme``'s section if given."""
    documents = load(results)
    names = charts(documents, results) if draw else []
    written = [results / name for name in names]
    markdown = results / "README.md"
    markdown.write_text(results_markdown(documents, names), encoding="utf-8")
    written.append(markdown)
    if project_readme is not None:
        update_readme(project_readme, readme_section(documents, names, results, project_readme))
        written.append(project_readme)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, default=RESULTS_DIR)
    parser.add_argument("--readme", type=Path, help="refresh the Benchmarks section of this README")
    args = parser.parse_args(argv)
    for path in render(args.results, project_readme=args.readme):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
