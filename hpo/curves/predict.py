"""A trial's value at a target resource from its learning curve so far: an ensemble of the
parametric families of :mod:`hpo.curves.families`, with the predictive distribution of
:mod:`hpo.curves.distribution` scaled by :mod:`hpo.curves.spread`.

Why an ensemble: no single shape extrapolates every curve well (a power law keeps falling where
an exponential has stopped), and the spread between shapes that fit the observed points about
equally well is an honest part of the uncertainty of an extrapolation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hpo.curves.distribution import CurvePrediction
from hpo.curves.families import FAMILIES, Fit, fit
from hpo.curves.spread import TUNED, side_scale

# Fewer points than this and the prediction is the last value (method "last-value").
MIN_POINTS = 3
# Point i of a curve counts (r_i / r_last) ** RECENCY in every fit: a curve's recent shape says
# more about its future than its first epochs do.
RECENCY = 2.0
# Ensemble weights: exp(-BIC / (2 * TEMPERATURE)), each family's mean squared residual floored at
# MSE_FLOOR (normalised units: 1 is the curve's observed range), so that fits better than the
# floor tie and the family with fewer parameters wins. TEMPERATURE above 1 keeps the runners-up
# in the ensemble: every family is misspecified, and plain BIC weights trust the best one as if
# it were the truth.
MSE_FLOOR = 1e-3**2
TEMPERATURE = 3.0
# The fallback with a single report: sd = FALLBACK_RELATIVE * |value|. One point has no scale of
# change to go by; this is a convention, not a calibration (docs/curves.md).
FALLBACK_RELATIVE = 1.0
# The sd of an observed value (target == last resource) or a flat curve, relative to the curve's
# largest magnitude; also the smallest sd of any prediction.
OBSERVED_RELATIVE = 1e-9
SMALLEST = float(np.finfo(float).tiny)
LARGEST = float(np.finfo(float).max)


@dataclass(frozen=True)
class Spread:
    """The ensemble's prediction in normalised units and the parts of its uncertainty (see
    :mod:`hpo.curves.spread`), kept apart so that the calibration can tune the constants
    without refitting."""

    median: float
    between: float
    noise: float
    move: float
    span: float
    points: int

    def scales(self) -> tuple[float, float]:
        """The scales below and above the median, in normalised units."""
        parts = (self.between, self.noise, self.move, self.span, self.points)
        return float(side_scale(*parts, TUNED.below)), float(side_scale(*parts, TUNED.above))


def extrapolation(x: np.ndarray, t: float) -> float:
    """How far the target lies beyond the curve relative to how far the curve reaches,
    ``log(t) / log(x_last / x_first)`` (normalised resources, ``x_last == 1``); infinite where
    the resources are too close together for their ratio to differ from 1."""
    reach = math.log(1.0 / x[0])
    return math.log(t) / reach if reach > 0 else math.inf


def two_point_spread(x: np.ndarray, t: float) -> Spread:
    """The fallback's uncertainty for two points (normalised units): the line through them in
    log r as the only family, so the change it predicts is the extrapolation span."""
    span = extrapolation(x, t)
    return Spread(median=0.0, between=0.0, noise=0.0, move=span, span=span, points=2)


def ensemble(x: np.ndarray, z: np.ndarray, t: float) -> Spread:
    """Fit every family with no more parameters than points to the normalised curve ``(x, z)``
    (``x[-1] == 1``, ``z`` of unit range) and combine their predictions at ``t``."""
    n = len(x)
    weights = x**RECENCY
    fits = [fit(family, x, z, weights) for family in FAMILIES if family.parameters <= n]
    mses = np.array([_mse(one) for one in fits])
    parameters = np.array([one.family.parameters for one in fits])
    bic = n * np.log(np.maximum(mses, MSE_FLOOR)) + parameters * math.log(n)
    share = np.exp(-0.5 * (bic - bic.min()) / TEMPERATURE)
    share /= share.sum()
    at_target = np.array([one.at(t) for one in fits])
    at_last = np.array([one.at(1.0) for one in fits])
    median = float(share @ at_target)
    return Spread(
        median=median,
        between=float(share @ (at_target - median) ** 2),
        noise=float(share @ mses),
        move=abs(median - float(share @ at_last)),
        span=extrapolation(x, t),
        points=n,
    )


def _mse(one: Fit) -> float:
    """The mean squared residual under the fit's own weights (recency and soft-L1)."""
    weights = one.robust_weights
    return float(weights @ one.residuals**2 / weights.sum())


def predict_at(
    resources: Sequence[float], values: Sequence[float], target: float
) -> CurvePrediction:
    """The predicted value at ``target`` of a curve reported at ``resources`` (positive,
    strictly increasing) with ``values`` (finite, signed, lower is better).

    Raises ValueError for input that is not a curve (lengths differ, no point, a resource not
    positive and increasing, a value not finite, ``target`` below the last resource); every
    curve gets a prediction with a finite mean and a positive, finite sd.
    """
    r = np.asarray(resources, dtype=float)
    y = np.asarray(values, dtype=float)
    _check(r, y, target)
    n, last = len(y), float(y[-1])
    # Values are divided by their largest magnitude first, so that no difference overflows.
    magnitude = float(np.max(np.abs(y)))
    floor = max(OBSERVED_RELATIVE * magnitude, SMALLEST)
    if target == r[-1]:
        return CurvePrediction(last, floor, n, "observed")
    if n == 1:
        return CurvePrediction(last, max(FALLBACK_RELATIVE * abs(last), floor), n, "last-value")
    scaled = y / magnitude if magnitude > 0 else y
    low, high = float(np.min(scaled)), float(np.max(scaled))
    if high - low <= 1e-12:
        method = "last-value" if n < MIN_POINTS else "constant"
        return CurvePrediction(last, floor, n, method)
    unit = magnitude * (high - low)  # the observed range, in the values' units
    x, t = r / r[-1], float(target / r[-1])
    with np.errstate(all="ignore"):  # overflow on absurd scales ends in the checks below
        if n < MIN_POINTS:
            spread = two_point_spread(x, t)
        else:
            spread = ensemble(x, (scaled - scaled[-1]) / (high - low), t)
        below, above = (_finite(max(unit * scale, floor)) for scale in spread.scales())
        median = last + unit * spread.median
    if n < MIN_POINTS or not math.isfinite(median):
        return CurvePrediction.two_piece(last, below, above, n, "last-value")
    return CurvePrediction.two_piece(median, below, above, n, "ensemble")


def _finite(scale: float) -> float:
    """``scale``, or the largest float where it overflowed (curves near the largest float)."""
    return float(scale) if math.isfinite(scale) else LARGEST


def _check(r: np.ndarray, y: np.ndarray, target: float) -> None:
    if r.ndim != 1 or y.shape != r.shape or len(r) == 0:
        raise ValueError("resources and values must be two sequences of the same, nonzero length")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(y))):
        raise ValueError("resources and values must be finite")
    if r[0] <= 0 or np.any(np.diff(r) <= 0):
        raise ValueError("resources must be positive and strictly increasing")
    if not (math.isfinite(target) and target >= r[-1]):
        raise ValueError(f"target {target} must be finite and at least the last resource {r[-1]}")
