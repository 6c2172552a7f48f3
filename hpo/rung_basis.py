"""Which key ranks a rung of a study that decides by curves: the predicted value at r_max, or the
rung value, whichever has ranked the study's own trials better (docs/curves.md).

A curve's prediction helps where low rungs mislead (curves that cross) and hurts where the
parametric families cannot see what comes (a learning-rate schedule that decays late turns a
flat curve down). So the study checks itself, as the GP portfolio does (docs/algorithms.md):
among the trials with a result at rung ``k`` and at a higher rung ``j`` (the highest with at
least :data:`MIN_PAIRS` such trials), it compares the Spearman rank correlation of their
predictions at ``k`` with their values at ``j`` against that of their values at ``k``, and ranks
rung ``k`` by the prediction unless the rung value did strictly better. Before there are
:data:`MIN_PAIRS` pairs the prediction ranks (the study asked for it). The check reads only
stored results, so a restarted coordinator makes the same choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

# Trials with results at both rungs needed before the check may overrule the prediction.
MIN_PAIRS = 6


@dataclass(frozen=True)
class RungBasis:
    """How rung ``rung`` ranks, and the evidence: the reference rung and both correlations
    (None without enough pairs)."""

    rung: int
    by_curve: bool
    reference: int | None = None
    pairs: int = 0
    curve_rho: float | None = None
    rung_rho: float | None = None

    def describe(self) -> str:
        key = "predicted values" if self.by_curve else "rung values"
        if self.reference is None:
            return f"rung {self.rung} ranks by {key} (fewer than {MIN_PAIRS} trials went higher)"
        return (
            f"rung {self.rung} ranks by {key}: against rung {self.reference} over "
            f"{self.pairs} trials, predictions rank with rho {self.curve_rho:.2f}, "
            f"rung values {self.rung_rho:.2f}"
        )


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (ties get their order's rank: results rarely tie exactly);
    0 when either side is constant."""
    ranks_a, ranks_b = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    if ranks_a.std() == 0 or ranks_b.std() == 0:
        return 0.0
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1])


def rung_basis(
    rung: int,
    values: Mapping[int, Mapping[int, float]],
    predictions: Mapping[int, float],
) -> RungBasis:
    """The basis of ``rung`` from ``values[r][number]`` (signed values at every rung ``r``) and
    ``predictions[number]`` (signed predictions made at ``rung``)."""
    here = values.get(rung, {})
    for reference in sorted((r for r in values if r > rung), reverse=True):
        numbers = sorted(number for number in values[reference] if number in here)
        if len(numbers) < MIN_PAIRS:
            continue
        target = np.array([values[reference][number] for number in numbers])
        curve_rho = spearman(np.array([predictions[number] for number in numbers]), target)
        rung_rho = spearman(np.array([here[number] for number in numbers]), target)
        return RungBasis(rung, curve_rho >= rung_rho, reference, len(numbers), curve_rho, rung_rho)
    return RungBasis(rung, True)
