"""Which key ranks a rung of a study that decides by curves: the predicted value at r_max, or the
rung value, whichever has ranked the study's own trials better at r_max (docs/curves.md).

A curve's prediction helps where low rungs mislead (curves that cross) and hurts where the
parametric families cannot see what comes (a learning-rate schedule that decays late turns a
flat curve down). So the study checks itself, as the GP portfolio does (docs/algorithms.md):
among the trials with a result at rung ``k`` and at r_max, it compares the Spearman rank
correlation of their predictions at ``k`` with their values at r_max against that of their
values at ``k``, and ranks rung ``k`` by the prediction once it did at least as well.

Two choices, both measured (docs/benchmarks.md, "The self-check judged at r_max"):

* **The reference is r_max**, the value the prediction is made for. An intermediate rung
  cannot show what a curve does after it: judged against the values at 27 of 81 epochs, the
  predictions of `lc-crossing`'s schedules, whose drops come after epoch 40, looked as good as
  the values and ranked its rungs worse than ASHA.
* **Until** :data:`MIN_PAIRS` **trials of the rung have reached r_max, the rung ranks by its
  values**, as ASHA does: a study leaves ASHA's ranking only on evidence that the predictions
  rank better here.

The check reads only stored results, so a restarted coordinator makes the same choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

# Trials with results at both the rung and r_max needed before the predictions may rank.
MIN_PAIRS = 6


@dataclass(frozen=True)
class RungBasis:
    """How rung ``rung`` ranks, and the evidence: the number of trials with results at the
    rung and at r_max, and both correlations (None without enough of them)."""

    rung: int
    by_curve: bool
    pairs: int = 0
    curve_rho: float | None = None
    rung_rho: float | None = None

    def describe(self) -> str:
        key = "predicted values" if self.by_curve else "rung values"
        if self.curve_rho is None or self.rung_rho is None:
            return (
                f"rung {self.rung} ranks by {key} ({self.pairs} of its trials reached r_max, "
                f"{MIN_PAIRS} needed to judge the predictions)"
            )
        return (
            f"rung {self.rung} ranks by {key}: at r_max, over {self.pairs} trials, "
            f"predictions rank with rho {self.curve_rho:.2f}, rung values {self.rung_rho:.2f}"
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
    top: int,
    values: Mapping[int, Mapping[int, float]],
    predictions: Mapping[int, float],
) -> RungBasis:
    """The basis of ``rung`` from ``values[r][number]`` (signed values at every rung ``r``; ``top``
    is r_max's rung) and ``predictions[number]`` (signed predictions made at ``rung``)."""
    here = values.get(rung, {}) if rung < top else {}
    reached = values.get(top, {})
    numbers = sorted(number for number in reached if number in here)
    if len(numbers) < MIN_PAIRS:
        return RungBasis(rung, False, len(numbers))
    target = np.array([reached[number] for number in numbers])
    curve_rho = spearman(np.array([predictions[number] for number in numbers]), target)
    rung_rho = spearman(np.array([here[number] for number in numbers]), target)
    return RungBasis(rung, curve_rho >= rung_rho, len(numbers), curve_rho, rung_rho)
