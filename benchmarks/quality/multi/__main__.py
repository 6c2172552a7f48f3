"""Several objectives, constraints and cost (issue 18): hpo's study against Optuna's, simulated.

    python -m benchmarks.quality.multi                                  # every problem and method
    python -m benchmarks.quality.multi --problems zdt-r --methods random,optuna-nsga2 --seeds 0-4
    python -m benchmarks.quality.multi report                           # the tables, from the files

Every (problem, method, seed) run is one small JSON file under
``benchmarks/quality/results/multi/<problem>/<method>/seed<N>.json``, written when the run
ends; a run whose file exists is skipped (whatever budget it was made with: give another
``--results`` folder for another budget), so an interrupted grid resumes where it stopped.
An ablation runs only on the problem it is for (``gp-hyperband-no-constraint`` on
``constrained``, ``gp-hyperband-no-cost`` on ``cost``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from collections.abc import Sequence
from pathlib import Path

from benchmarks.quality.multi.methods import METHODS, applies
from benchmarks.quality.multi.problems import PROBLEM_NAMES, get_problem
from benchmarks.quality.multi.report import load, markdown
from benchmarks.quality.multi.runs import Cell, run_cell_star

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results" / "multi"


def parse_seeds(text: str) -> list[int]:
    """``0-4``, ``0,3,7`` or a mix (``0-2,9``): the seeds named."""
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        seeds += range(int(first), int(last or first) + 1)
    return sorted(set(seeds))


def cells_for(
    problems: Sequence[str],
    methods: Sequence[str],
    seeds: Sequence[int],
    workers: int,
    budget: float,
) -> list[Cell]:
    """The runs asked for, less the ablations on problems they do not apply to."""
    return [
        Cell(problem, method, seed, workers, budget)
        for problem in problems
        for method in methods
        if applies(method, get_problem(problem))
        for seed in seeds
    ]


def collect(cells: Sequence[Cell], root: Path, processes: int, cache_dir: Path | None) -> None:
    """Run the cells whose file is missing, ``processes`` at a time (in this process if 1)."""
    missing = []
    for cell in cells:
        path = cell.path(root)
        if not path.exists():
            missing.append(cell)
            continue
        stored = json.loads(path.read_text())["cell"]
        if (stored["budget"], stored["workers"]) != (cell.budget, cell.workers):
            print(
                f"kept {path} (budget {stored['budget']:g}, {stored['workers']} workers, "
                f"not {cell.budget:g} and {cell.workers}): delete it or give another --results"
            )
    if not missing:
        return
    print(f"running {len(missing)} of {len(cells)} runs on {processes} processes", flush=True)
    jobs = [(cell, root, cache_dir) for cell in missing]
    if processes <= 1:
        results = map(run_cell_star, jobs)
    else:
        pool = multiprocessing.get_context("spawn").Pool(processes)
        results = pool.imap_unordered(run_cell_star, jobs)
    for done, result in enumerate(results, 1):
        cell = result["cell"]
        print(
            f"  [{done}/{len(missing)}] {cell['problem']} {cell['method']} seed {cell['seed']}: "
            f"{result['wall_seconds']:.1f} s",
            flush=True,
        )
    if processes > 1:
        pool.close()
        pool.join()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", choices=("run", "report"), default="run")
    parser.add_argument("--problems", default=",".join(PROBLEM_NAMES))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,3,7")
    parser.add_argument("--workers", type=int, default=4, help="simulated workers")
    parser.add_argument(
        "--budget", type=float, default=40, help="total compute, in multiples of r_max"
    )
    parser.add_argument("--processes", type=int, default=2, help="runs in parallel")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="the run files")
    parser.add_argument("--cache-dir", type=Path, default=None, help="mlp-size's curves")
    parser.add_argument("--markdown", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    problems = args.problems.split(",")
    methods = args.methods.split(",")
    for name in problems:
        get_problem(name, args.cache_dir)  # unknown names fail before anything runs
    unknown = [method for method in methods if method not in METHODS]
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; the methods are {', '.join(METHODS)}")
    results = load(args.results)
    if args.command == "run":
        if "mlp-size" in problems:  # its grid curves, trained once and cached
            get_problem("mlp-size", args.cache_dir).prepare(args.processes)  # type: ignore[attr-defined]
        cells = cells_for(problems, methods, parse_seeds(args.seeds), args.workers, args.budget)
        collect(cells, args.results, args.processes, args.cache_dir)
        results = [
            result
            for result in load(args.results)
            if result["cell"]["problem"] in problems and result["cell"]["method"] in methods
        ]
    report = markdown(results)
    print(report)
    if args.markdown:
        args.markdown.write_text(report)


if __name__ == "__main__":
    main()
