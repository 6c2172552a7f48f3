"""The two-objective hypervolume, computed exactly, and the normalisation it is scored in.

Written here rather than imported from hpo (``hpo.schedulers.pareto``) so that the benchmark
does not score hpo with hpo's own code; ``tests/unit/test_multi_benchmark.py`` checks it
against BoTorch's. Everything is minimised.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# In normalised units, where every objective spans [0, 1] over its problem's fixed bounds: a
# point at a bound still adds a thin slice, so the extremes of a front count.
REFERENCE = (1.1, 1.1)


def normalise(
    points: np.ndarray, bounds: Sequence[tuple[float, float]], log_scale: Sequence[bool]
) -> np.ndarray:
    """``points`` (n, m) mapped to [0, 1] per objective by fixed ``bounds`` (log10 of the
    values and bounds where ``log_scale``), so that runs and methods share one scale."""
    values = np.array(points, dtype=float).reshape(-1, len(bounds))
    for column, ((low, high), log) in enumerate(zip(bounds, log_scale, strict=True)):
        if log:
            values[:, column] = np.log10(values[:, column])
            low, high = np.log10(low), np.log10(high)
        values[:, column] = (values[:, column] - low) / (high - low)
    return values


def hypervolume_2d(points: np.ndarray, reference: Sequence[float] = REFERENCE) -> float:
    """The area dominated by ``points`` (n, 2) and bounded by ``reference``: a sweep in
    increasing first objective that adds, for each point that improves the second, the
    strip between it and the best second objective so far. Points not strictly better than
    the reference in both objectives add nothing."""
    values = np.asarray(points, dtype=float).reshape(-1, 2)
    inside = values[(values[:, 0] < reference[0]) & (values[:, 1] < reference[1])]
    area = 0.0
    best_second = float(reference[1])
    for first, second in inside[np.lexsort((inside[:, 1], inside[:, 0]))]:
        if second < best_second:
            area += (reference[0] - first) * (best_second - second)
            best_second = second
    return float(area)
