"""The quality benchmark: normalised regret over a simulated budget, hpo against its peers.

    python -m benchmarks.quality                       # 4 problems x 5 methods x 10 seeds, N=4
    python -m benchmarks.quality --problems branin --methods asha,gp-hyperband --seeds 3

Every (problem, method, seed) run is cached as JSON under
``benchmarks/quality/.cache/runs/`` and reused, so an interrupted benchmark
resumes and a new method only runs its own cells. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy.stats import rankdata

from benchmarks.quality.prior_report import BAD, BASELINE, GOOD, print_priors, summarise_priors
from benchmarks.quality.problems import CACHE_DIR, PROBLEM_NAMES, prepare
from benchmarks.quality.runs import Cell, regret_at, run_cell_star

METHOD_NAMES = ("random", "asha", "hyperband", "gp-hyperband", "optuna-tpe-hyperband")
PRIOR_METHODS = (BASELINE, GOOD, BAD)
CHECKPOINTS = (0.25, 0.5, 1.0)
console = Console()


def collect(cells: Sequence[Cell], root: Path, processes: int) -> list[dict]:
    missing = [cell for cell in cells if not cell.path(root).exists()]
    if missing:
        console.print(f"running {len(missing)} of {len(cells)} runs on {processes} processes")
        context = multiprocessing.get_context("spawn")
        with context.Pool(processes) as pool:
            for done, result in enumerate(
                pool.imap_unordered(run_cell_star, [(cell, root) for cell in missing]), 1
            ):
                cell = result["cell"]
                console.print(
                    f"  [{done}/{len(missing)}] {cell['problem']} {cell['method']} "
                    f"seed {cell['seed']}: {result['wall_seconds']:.0f} s"
                )
    return [json.loads(cell.path(root).read_text()) for cell in cells]


def summarise(results: list[dict], problems: Sequence[str], methods: Sequence[str]) -> dict:
    """Mean regret and standard error per checkpoint, mean ranks, optimizer time."""
    by_key: dict[tuple[str, str], list[dict]] = {}
    for result in results:
        by_key.setdefault((result["cell"]["problem"], result["cell"]["method"]), []).append(result)
    summary: dict = {"regret": {}, "rank": {}, "ms_per_suggestion": {}}
    for (problem, method), runs in by_key.items():
        for fraction in CHECKPOINTS:
            values = np.array([regret_at(run, fraction) for run in runs])
            error = values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else 0.0
            summary["regret"][f"{problem}|{method}|{fraction}"] = (values.mean(), error)
        seconds = sum(run["optimizer_seconds"] for run in runs)
        summary["ms_per_suggestion"].setdefault(method, []).append(
            1000 * seconds / max(1, sum(run["suggestions"] for run in runs))
        )
    ranks: dict[str, list[float]] = {method: [] for method in methods}
    seeds = sorted({result["cell"]["seed"] for result in results})
    for problem in problems:
        for seed in seeds:
            runs = {
                r["cell"]["method"]: r
                for r in results
                if r["cell"]["problem"] == problem and r["cell"]["seed"] == seed
            }
            if set(runs) != set(methods):
                continue
            for fraction in CHECKPOINTS:
                order = rankdata([regret_at(runs[method], fraction) for method in methods])
                for method, rank in zip(methods, order, strict=True):
                    ranks[method].append(float(rank))
    summary["rank"] = {method: float(np.mean(values)) for method, values in ranks.items() if values}
    summary["ms_per_suggestion"] = {
        method: float(np.mean(values)) for method, values in summary["ms_per_suggestion"].items()
    }
    return summary


def print_summary(summary: dict, problems: Sequence[str], methods: Sequence[str]) -> None:
    for problem in problems:
        table = Table(title=f"{problem}: normalised regret (mean ± standard error)")
        table.add_column("method")
        for fraction in CHECKPOINTS:
            table.add_column(f"{fraction:.0%} budget", justify="right")
        for method in methods:
            cells = []
            for fraction in CHECKPOINTS:
                mean, error = summary["regret"].get(f"{problem}|{method}|{fraction}", (math.nan, 0))
                cells.append(f"{mean:.4f} ± {error:.4f}")
            table.add_row(method, *cells)
        console.print(table)
    table = Table(title="across problems")
    table.add_column("method")
    table.add_column("mean rank (lower is better)", justify="right")
    table.add_column("optimizer ms / suggestion", justify="right")
    for method in methods:
        table.add_row(
            method,
            f"{summary['rank'].get(method, math.nan):.2f}",
            f"{summary['ms_per_suggestion'].get(method, math.nan):.1f}",
        )
    console.print(table)
    if "gp-hyperband" in methods and "asha" in methods:
        ahead = [
            problem
            for problem in problems
            if summary["regret"][f"{problem}|gp-hyperband|0.5"][0]
            < summary["regret"][f"{problem}|asha|0.5"][0]
        ]
        console.print(
            f"gp-hyperband ahead of asha at 50% of the budget on {len(ahead)} of "
            f"{len(problems)} problems ({', '.join(ahead) or 'none'})"
        )


def plot(results: list[dict], problems: Sequence[str], methods: Sequence[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(2, len(problems))
    rows = math.ceil(len(problems) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(6 * columns, 4 * rows), squeeze=False)
    for axis, problem in zip(axes.flat, problems, strict=False):
        for method in methods:
            runs = [
                r
                for r in results
                if r["cell"]["problem"] == problem and r["cell"]["method"] == method
            ]
            if not runs:
                continue
            fractions = np.linspace(0.02, 1.0, 50)
            values = np.array([[regret_at(run, f) for f in fractions] for run in runs])
            mean = values.mean(axis=0)
            error = values.std(axis=0, ddof=1) / math.sqrt(len(runs)) if len(runs) > 1 else 0
            axis.plot(fractions, mean, label=method)
            axis.fill_between(fractions, mean - error, mean + error, alpha=0.2)
        axis.set_title(problem)
        axis.set_xlabel("fraction of the budget (simulated time)")
        axis.set_ylabel("normalised regret")
        axis.set_yscale("log")
    axes.flat[0].legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    console.print(f"plot saved to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", default=",".join(PROBLEM_NAMES))
    parser.add_argument("--methods", default=",".join(METHOD_NAMES))
    parser.add_argument(
        "--priors",
        action="store_true",
        help="the prior benchmark instead: gp-hyperband with a good prior, a bad one and none",
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4, help="simulated workers (N)")
    parser.add_argument(
        "--budget", type=float, default=50, help="total compute, in multiples of r_max"
    )
    parser.add_argument("--processes", type=int, default=2, help="runs in parallel")
    parser.add_argument("--cache", type=Path, default=CACHE_DIR / "runs")
    parser.add_argument("--plot", type=Path, default=CACHE_DIR / "regret.png")
    parser.add_argument("--json", type=Path, help="write the summary here")
    args = parser.parse_args()
    problems = args.problems.split(",")
    methods = list(PRIOR_METHODS) if args.priors else args.methods.split(",")
    cells = [
        Cell(problem, method, seed, args.workers, args.budget)
        for problem in problems
        for method in methods
        for seed in range(args.seeds)
    ]
    for problem in problems:  # learning curves not cached yet are trained first (once)
        prepare(problem, args.processes)
    results = collect(cells, args.cache, args.processes)
    summary = summarise(results, problems, methods)
    print_summary(summary, problems, methods)
    if args.priors:
        summary["priors"] = summarise_priors(results, problems)
        print_priors(summary["priors"], console)
    plot(results, problems, methods, args.plot)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
