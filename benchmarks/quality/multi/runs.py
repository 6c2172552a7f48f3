"""One run of the benchmark: a (problem, method, seed) cell, simulated, scored and stored.

A run's result is one small JSON file, ``<root>/<problem>/<method>/seed<N>.json``, written
atomically when the run ends; the command line skips a cell whose file exists, so an
interrupted grid resumes where it stopped. Kept apart from ``__main__`` so that spawned worker
processes can import it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Cell:
    problem: str
    method: str
    seed: int
    workers: int = 4
    # Total compute in r_max trainings (of an average configuration, on the cost problem).
    budget: float = 40

    def path(self, root: Path) -> Path:
        return root / self.problem / self.method / f"seed{self.seed}.json"


def _fit_summary(policy: object) -> dict:
    """hpo's sources of new configurations and what its fits cost (empty for Optuna)."""
    details = getattr(policy, "details", None)
    if details is None:
        return {}
    found = details()
    seconds = found.pop("fit_seconds")
    staleness = found.pop("staleness")
    return {
        **found,
        "fit_seconds_median": float(np.median(seconds)) if seconds else None,
        "fit_seconds_total": float(np.sum(seconds)),
        "staleness_mean": float(np.mean(staleness)) if staleness else None,
    }


def run_cell(cell: Cell, root: Path, cache_dir: Path | None = None) -> dict:
    """Simulate one cell, score it and store its result (in this process)."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"
    import torch

    from benchmarks.quality.multi.methods import METHODS
    from benchmarks.quality.multi.metrics import score
    from benchmarks.quality.multi.problems import get_problem
    from benchmarks.quality.multi.simulator import simulate

    torch.set_num_threads(1)
    problem = get_problem(cell.problem, cache_dir)
    # Every problem's cost rate averages 1 over the space, so a budget of B r_max trainings is
    # B * r_max units of cost, shared by the workers.
    cost_budget = cell.budget * problem.resource.r_max
    time_limit = cost_budget / cell.workers
    started = time.perf_counter()
    policy = METHODS[cell.method](problem, cell.seed)
    log = simulate(problem, policy, cell.workers, time_limit)
    simulated = time.perf_counter() - started
    result = {
        "cell": asdict(cell),
        "time_limit": time_limit,
        "cost_budget": cost_budget,
        "metrics": score(problem, log, time_limit, cost_budget),
        "optimizer_seconds": log.optimizer_seconds,
        "wall_seconds": simulated,
        "details": _fit_summary(policy),
    }
    path = cell.path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(result))
    partial.replace(path)
    return result


def run_cell_star(args: tuple[Cell, Path, Path | None]) -> dict:
    return run_cell(*args)
