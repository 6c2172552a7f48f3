"""The pilot that chose the family: does the best learning rate move with the width?

    python -m benchmarks.scaling.pilot                      # widths 64, 256, 1024, 4096
    python -m benchmarks.scaling.pilot --widths 64,256 --seeds 0

For each width, 22 learning rates (6 a decade from 10^-3.5 to 1), each trained for R_MAX
epochs with each seed, no coordinator involved: the mean validation loss per learning rate and
the best one, at epochs 3, 9 and 27. It shares the benchmark's curve cache, so its runs at
width 4096 are free once the benchmark ran, and vice versa. About 5 CPU-minutes from scratch.
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.scaling.family import R_MAX, Trainer
from benchmarks.scaling.runs import CURVES

LEARNING_RATES = tuple(float(x) for x in np.logspace(-3.5, 0.0, 22))


def sweep(trainer: Trainer, width: int, seeds: tuple[int, ...]) -> list[str]:
    """One line per epoch of interest: the best learning rate and every mean value."""
    curves = np.array(
        [[trainer.curve(width, lr, seed, R_MAX) for lr in LEARNING_RATES] for seed in seeds]
    )
    means = curves.mean(axis=0)
    lines = []
    for epoch in (3, 9, R_MAX):
        column = means[:, epoch - 1]
        best = int(column.argmin())
        values = " ".join(f"{value:.3f}" for value in column)
        lines.append(
            f"width {width:5d} epoch {epoch:2d}: best lr {LEARNING_RATES[best]:.4f} "
            f"({column[best]:.4f}) | {values}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling.pilot")
    parser.add_argument("--widths", default="64,256,1024,4096")
    parser.add_argument("--seeds", default="0,1")
    arguments = parser.parse_args()
    trainer = Trainer(CURVES)
    seeds = tuple(int(seed) for seed in arguments.seeds.split(","))
    print("learning rates:", " ".join(f"{lr:.2g}" for lr in LEARNING_RATES))
    for width in (int(w) for w in arguments.widths.split(",")):
        print("\n".join(sweep(trainer, width, seeds)), flush=True)


if __name__ == "__main__":
    main()
