"""The quality benchmark: normalised regret over a simulated budget, hpo against its peers.

    python -m benchmarks.quality                       # the suite: 10 problems x 12 methods
    python -m benchmarks.quality --problems branin --methods asha,gp-hyperband --seeds 3
    python -m benchmarks.quality --report-only         # rebuild the report from the run files

Every (problem, method, seed) run is one small JSON file under
``benchmarks/quality/results/`` (kept in the repository), written when the run
ends; a run whose file exists is skipped, so an interrupted grid resumes where it
stopped and the report is always rebuilt from the files. See benchmarks/README.md.
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

from benchmarks.quality import markdown
from benchmarks.quality.prior_report import (
    BAD,
    BASELINE,
    GOOD,
    NEAR,
    print_priors,
    summarise_priors,
)
from benchmarks.quality.problems import CACHE_DIR, prepare
from benchmarks.quality.report import print_report, summarise
from benchmarks.quality.runs import Cell, regret_at, run_cell_star

# The suite: smooth synthetic functions, misleading low fidelities (biased and noisy in 3 and
# 6 dimensions, rank-reversed), crossing learning curves, real models trained on small data
# sets, and a 10-parameter space with categorical choices.
SUITE = (
    "hartmann6",
    "branin",
    "mfh6-good",
    "mfh3-bad",
    "mfh6-bad",
    "rank-reversal",
    "lc-crossing",
    "sgd-cancer",
    "mlp-digits-err",
    "sgd-10d",
)
HPO_METHODS = ("random", "asha", "hyperband", "gp-hyperband")
# Rung decisions against curve decisions (docs/curves.md), run with --dense.
CURVE_METHODS = ("asha", "asha-curve")
PEERS = (
    "optuna-tpe-hyperband",
    "optuna-random-sh",
    "st-asha",
    "st-bohb",
    "st-hypertune",
    "st-mobster",
    "smac-mf",
    "dehb",
)
METHOD_NAMES = (*HPO_METHODS, *PEERS)
# Methods whose runs take minutes (a GP refitted through the run): --slow-seeds seeds each.
PRIOR_METHODS = (BASELINE, GOOD, NEAR, BAD)
SLOW_METHODS = (*PRIOR_METHODS, "st-mobster", "st-hypertune", "smac-mf")
RESULTS_DIR = Path(__file__).resolve().parent / "results"
console = Console()


def collect(cells: Sequence[Cell], root: Path, processes: int) -> None:
    """Run the cells whose file is missing, ``processes`` at a time."""
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
        axis.set_ylabel("normalised regret (answer at r_max)")
        axis.set_yscale("symlog", linthresh=1e-2)  # live tasks' regret can dip below 0
    axes.flat[0].legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    console.print(f"plot saved to {path}")


def cells_for(args: argparse.Namespace, problems: Sequence[str], methods: Sequence[str]) -> list:
    """The runs asked for: ``--seeds`` seeds per method, ``--slow-seeds`` for slow ones."""
    return [
        Cell(problem, method, seed, args.workers, args.budget, args.dense)
        for problem in problems
        for method in methods
        for seed in range(args.slow_seeds if method in SLOW_METHODS else args.seeds)
    ]


def stored(root: Path, workers: int, budget: float, dense: bool = False) -> list[dict]:
    """Every run file of this budget and worker count (and reporting)."""
    folder = Cell("x", "x", 0, workers, budget, dense).path(root).parents[2]
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*/*/seed*.json"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", default=",".join(SUITE))
    parser.add_argument("--methods", default=",".join(METHOD_NAMES))
    parser.add_argument(
        "--priors",
        action="store_true",
        help=(
            "the prior benchmark instead: gp-hyperband with a good prior, a near one, a bad "
            "one and none"
        ),
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--slow-seeds", type=int, default=3, help=f"seeds of {', '.join(SLOW_METHODS)}"
    )
    parser.add_argument("--workers", type=int, default=4, help="simulated workers (N)")
    parser.add_argument(
        "--budget", type=float, default=40, help="total compute, in multiples of r_max"
    )
    parser.add_argument("--processes", type=int, default=2, help="runs in parallel")
    parser.add_argument(
        "--dense",
        action="store_true",
        help="workers report every resource unit, not only at rungs (curve decisions)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="the run files")
    parser.add_argument(
        "--report-only", action="store_true", help="run nothing: report the stored runs"
    )
    parser.add_argument("--plot", type=Path, default=CACHE_DIR / "regret.png")
    parser.add_argument("--no-plot", action="store_true", help="draw no plot")
    parser.add_argument("--json", type=Path, help="write the summary here")
    parser.add_argument(
        "--markdown", type=Path, help="write the tables here, as Markdown (docs/benchmarks.md)"
    )
    args = parser.parse_args()
    problems = args.problems.split(",")
    methods = list(PRIOR_METHODS) if args.priors else args.methods.split(",")
    if not args.report_only:
        for problem in problems:  # learning curves and optima not cached yet are made first
            prepare(problem, args.processes)
        collect(cells_for(args, problems, methods), args.results, args.processes)
    results = [
        result
        for result in stored(args.results, args.workers, args.budget, args.dense)
        if result["cell"]["problem"] in problems and result["cell"]["method"] in methods
    ]
    if args.priors:
        summary = {"priors": summarise_priors(results, problems)}
        print_priors(summary["priors"], console)
    else:
        summary = summarise(results, problems, methods)
        print_report(summary, console)
    if not args.no_plot:
        plot(results, problems, methods, args.plot)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    if args.markdown:
        tables = (
            markdown.priors(summary["priors"]) if args.priors else markdown.report(summary, methods)
        )
        args.markdown.write_text(tables)


if __name__ == "__main__":
    main()
