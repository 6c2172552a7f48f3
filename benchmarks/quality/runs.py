"""One run of the quality benchmark: a (problem, method, seed) cell, simulated and stored.

Kept apart from ``__main__`` so that spawned worker processes can import it.
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
    workers: int
    budget: float
    # Workers report at every whole resource unit, as real training loops do each epoch, not
    # only at the rungs: what curve decisions extrapolate from (docs/curves.md).
    dense: bool = False

    def path(self, root: Path) -> Path:
        folder = f"budget{self.budget:g}-workers{self.workers}{'-dense' if self.dense else ''}"
        return (root / folder / self.problem / self.method) / f"seed{self.seed}.json"


def run_cell(cell: Cell, root: Path) -> dict:
    """Simulate one cell (in a worker process) and store its trajectory."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"
    import torch

    from benchmarks.quality.methods import METHODS
    from benchmarks.quality.problems import get_problem
    from benchmarks.quality.simulator import simulate

    torch.set_num_threads(1)
    problem = get_problem(cell.problem)
    time_limit = cell.budget * problem.resource.r_max / cell.workers
    started = time.perf_counter()
    policy = METHODS[cell.method](problem, cell.seed)
    trajectory = simulate(problem, policy, cell.workers, time_limit, dense=cell.dense)
    details = getattr(policy, "details", None)
    result = {
        "cell": asdict(cell),
        "time_limit": time_limit,
        "answers": {name: asdict(steps) for name, steps in trajectory.answers.items()},
        "r_max_results": trajectory.r_max_results,
        "suggestions": trajectory.suggestions,
        "trials": trajectory.trials,
        "optimizer_seconds": trajectory.optimizer_seconds,
        "wall_seconds": time.perf_counter() - started,
        "details": details() if details is not None else {},
    }
    path = cell.path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(result))
    partial.replace(path)
    return result


def run_cell_star(args: tuple[Cell, Path]) -> dict:
    return run_cell(*args)


def regret_at(result: dict, fraction: float, answer: str = "r_max") -> float:
    """Regret of ``answer`` (``r_max`` or ``any``, see the simulator) held at ``fraction`` of
    the time limit; 1.0 (a median random configuration) before there is one."""
    steps = result["answers"][answer]
    moment = fraction * result["time_limit"]
    held = int(np.searchsorted(np.asarray(steps["times"]), moment, side="right"))
    return steps["regrets"][held - 1] if held else 1.0
