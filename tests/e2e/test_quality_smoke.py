"""A smoke run of the quality benchmark: its command line end to end on a tiny budget.

The full grid is hours of CPU (docs/benchmarks.md); this runs the same code path (the
simulator, hpo's LocalStudy with background fits on the simulated clock, Optuna, the run
files, the report and its goals) on two problems, one seed and a budget of 3 r_max, and
checks that a second invocation reuses the run files instead of running again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

PROBLEMS = ("branin", "mfh3-bad")
METHODS = ("random", "asha", "hyperband", "gp-hyperband", "optuna-random-sh")


def run_benchmark(results: Path, summary: Path) -> str:
    command = [
        sys.executable, "-m", "benchmarks.quality",
        "--problems", ",".join(PROBLEMS), "--methods", ",".join(METHODS),
        "--seeds", "1", "--slow-seeds", "1", "--budget", "3", "--processes", "1",
        "--results", str(results), "--json", str(summary), "--no-plot",
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[2]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_quality_benchmark_runs_stores_each_run_and_reports_from_the_files(
    tmp_path: Path,
) -> None:
    results, summary_path = tmp_path / "results", tmp_path / "summary.json"
    first = run_benchmark(results, summary_path)
    assert f"running {len(PROBLEMS) * len(METHODS)} of" in first
    files = sorted(results.glob("*/*/*/seed0.json"))
    assert len(files) == len(PROBLEMS) * len(METHODS)
    summary = json.loads(summary_path.read_text())
    for problem in PROBLEMS:
        entry = summary["problems"][problem]
        assert set(entry["methods"]) == set(METHODS)
        for method, figures in entry["methods"].items():
            final = figures["regret"]["r_max"]["1.0"]["mean"]
            anywhere = figures["regret"]["any"]["1.0"]["mean"]
            assert figures["seeds"] == 1 and figures["trials"]["mean"] > 0, method
            # An answer at any fidelity is at least as good as one among r_max results only,
            # except that a noisy problem can rank a configuration by luck.
            assert final >= anywhere or problem == "mfh3-bad", method
        assert set(entry["ranks"]["r_max"]) == set(METHODS)
    assert set(summary["mean_rank"]["r_max"]) == set(METHODS)
    assert any(goal["goal"].startswith("gp-hyperband has the best") for goal in summary["goals"])
    # Random search trains every trial to r_max: every trial but those of the 4 workers still
    # training when the budget ran out gave an r_max result.
    random_runs = summary["problems"]["branin"]["methods"]["random"]
    trials, at_r_max = random_runs["trials"]["mean"], random_runs["r_max_results"]["mean"]
    assert trials - 4 <= at_r_max <= trials
    stamps = {path: path.stat().st_mtime_ns for path in files}
    second = run_benchmark(results, summary_path)
    assert "running" not in second
    assert {path: path.stat().st_mtime_ns for path in files} == stamps
    assert "mean rank over problems" in second
