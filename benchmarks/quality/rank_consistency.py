"""How well each rung of a problem ranks configurations like r_max does: a diagnosis.

    python -m benchmarks.quality.rank_consistency                 # every problem of the suite
    python -m benchmarks.quality.rank_consistency --problems lc-crossing --samples 500

For uniformly drawn configurations, Kendall's tau between the values at each rung and at
``r_max``, over all of them and over the best third at that rung (the ones promotion and the
model's acquisition act on). A rung can rank the whole sample well (it tells divergent
configurations from working ones) and still rank the good ones in reverse: that is what a
method trusting low rungs pays for. The figures are of the problem, not of any method.
"""

from __future__ import annotations

import argparse

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy.stats import kendalltau

from benchmarks.quality.problems import Problem, get_problem
from hpo.schedulers.rungs import rung_levels

# The suite's problems whose values cost nothing to draw (the live tasks train for real).
CHEAP = ("hartmann6", "branin", "mfh6-good", "mfh3-bad", "mfh6-bad", "rank-reversal", "lc-crossing")


def consistency(problem: Problem, samples: int, seed: int = 0) -> list[tuple[float, float, float]]:
    """Per rung below r_max: (resource, tau over the sample, tau over the rung's best third)."""
    rng = np.random.default_rng(seed)
    configs = [problem.space.sample(rng) for _ in range(samples)]
    levels = rung_levels(problem.resource)
    top = np.array([problem.value(config, levels[-1]) for config in configs])
    rows = []
    for resource in levels[:-1]:
        values = np.array([problem.value(config, resource) for config in configs])
        best_third = np.argsort(values)[: len(values) // 3]
        rows.append(
            (
                resource,
                float(kendalltau(values, top).statistic),
                float(kendalltau(values[best_third], top[best_third]).statistic),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", default=",".join(CHEAP))
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    table = Table(title=f"Kendall's tau with r_max, {args.samples} uniform configurations")
    for column in ("problem", "resource", "all", "best third"):
        table.add_column(column, justify="right")
    for name in args.problems.split(","):
        for resource, everyone, best in consistency(get_problem(name), args.samples):
            table.add_row(name, f"{resource:g}", f"{everyone:+.2f}", f"{best:+.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
