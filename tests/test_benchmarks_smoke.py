"""Smoke test of the benchmarks: every module runs with tiny sizes and the report renders (no timing checks)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # the benchmarks package lives at the repository root, beside wa_groups
    sys.path.insert(0, str(REPO))

from benchmarks import BENCHMARKS, report  # noqa: E402
from benchmarks._common import Sizes, write_result  # noqa: E402
from benchmarks.peer_pywa import available as pywa_available  # noqa: E402


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-results")


@pytest.mark.parametrize("name", list(BENCHMARKS))
async def test_benchmark_runs(name: str, results_dir: Path) -> None:
    if name == "peer_pywa" and not pywa_available():
        pytest.skip("pywa is not installed (it comes with the bench extra)")
    document: dict[str, Any] = await BENCHMARKS[name].run(Sizes.tiny())
    assert document["benchmark"] == name
    assert document["rows"]
    assert document["machine"]["cores"]
    for item in document["rows"]:
        assert item["wa_groups"] > 0
        assert item["ratio"]["n"] >= 1
    write_result(document, results_dir)


async def test_report_renders(results_dir: Path, tmp_path: Path) -> None:
    if not list(results_dir.glob("*.json")):  # noqa: ASYNC240 - run alone or first: produce a result of its own
        write_result(await BENCHMARKS["overhead"].run(Sizes.tiny()), results_dir)
    readme = tmp_path / "README.md"
    readme.write_text("# Project\n\nIntro.\n", encoding="utf-8")
    written = report.render(results_dir, project_readme=readme, draw=False)  # charts: see --quick
    table = (results_dir / "README.md").read_text(encoding="utf-8")
    assert "| Benchmark | Case |" in table
    assert results_dir / "README.md" in written
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# Project\n\nIntro.\n")
    assert "## Benchmarks" in text and report.START in text and report.END in text
    report.render(results_dir, project_readme=readme, draw=False)  # a second render replaces the section, not appends
    assert readme.read_text(encoding="utf-8").count("## Benchmarks") == 1
