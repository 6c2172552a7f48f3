"""How predictions rank the configurations successive halving keeps, against rung values.

    python -m benchmarks.curves.kept lc-crossing

Calibration (``benchmarks.curves.calibration``) ranks every random configuration; a rung of
ASHA only ranks those the rung below kept. This draws 600 configurations of a quality-suite
problem, follows them through horizons 3, 9 and 27 (reports every resource unit), keeps the top
third by rung value at each horizon, and prints, among those still kept, Spearman's rank
correlation with the final value of the rung values and of the curve predictions, and the mean
final value of the third each would keep next.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import spearmanr

from benchmarks.quality.problems import get_problem
from hpo.curves import predict_at

CONFIGURATIONS = 600
HORIZONS = (3, 9, 27)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("problem")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    problem = get_problem(args.problem)
    rng = np.random.default_rng(args.seed)
    configs = [problem.space.sample(rng) for _ in range(CONFIGURATIONS)]
    r_max = int(problem.resource.r_max)
    curves = np.array([[problem.value(c, r) for r in range(1, r_max + 1)] for c in configs])
    final = np.array([problem.final_value(c) for c in configs])
    kept = np.arange(len(configs))
    for horizon in (h for h in HORIZONS if h < r_max):
        resources = list(range(1, horizon + 1))
        predicted = np.array(
            [predict_at(resources, list(curves[i, :horizon]), r_max).mean for i in kept]
        )
        at_rung = curves[kept, horizon - 1]
        third = max(len(kept) // 3, 3)
        for name, key in (("rung value", at_rung), ("prediction", predicted)):
            chosen = kept[np.argsort(key)[:third]]
            rho = spearmanr(key, final[kept])[0]
            print(
                f"{args.problem} horizon {horizon} ({len(kept)} kept): {name} "
                f"Spearman {rho:.3f}, mean final of the third it keeps {final[chosen].mean():.4f}"
            )
        kept = kept[np.argsort(at_rung)[:third]]


if __name__ == "__main__":
    main()
