"""The predictive distribution of a value at a target resource: a two-piece normal.

Why two pieces: an extrapolation's errors are skewed. A learning-rate decay, a late start or a
plateau that breaks make a trial end better than its curve so far suggests more often than
worse; on the tuning set a symmetric normal wide enough for the 80% interval put the truth below
its 5% quantile 17-18% of the time at horizons 3 and 9, three times the nominal rate, exactly
where a stopping rule decides (docs/curves.md). Two half normals joined at the median, each with
its own scale, let each tail be calibrated on its own; the median is the point prediction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

STANDARD = NormalDist()


@dataclass(frozen=True)
class CurvePrediction:
    """The predicted value at the target resource (signed, lower is better).

    ``mean`` is the point prediction, the median of the distribution (the number to rank by);
    below it the distribution is a half normal of scale ``below``, above it one of scale
    ``above`` (each half holds probability 1/2; both default to ``sd``, a plain normal). ``sd`` is
    the distribution's standard deviation. ``points`` is how many reports it used and ``method``
    how it was made: "ensemble", "last-value" (fewer than 3 reports), "constant" (a flat curve) or
    "observed" (the target is the last resource).
    """

    mean: float
    sd: float
    points: int
    method: str
    below: float = field(default=math.nan)
    above: float = field(default=math.nan)

    def __post_init__(self) -> None:
        if math.isnan(self.below):
            object.__setattr__(self, "below", self.sd)
        if math.isnan(self.above):
            object.__setattr__(self, "above", self.sd)

    @classmethod
    def two_piece(
        cls, median: float, below: float, above: float, points: int, method: str
    ) -> CurvePrediction:
        """The prediction with median ``median`` and half-normal scales ``below`` and ``above``
        (its ``sd`` computed from them)."""
        # Half of the mass at median - below * |Z|, half at median + above * |Z|; in units of the
        # larger scale, so that nothing overflows.
        larger = max(below, above)
        low, high = below / larger, above / larger
        variance = 0.5 * (low**2 + high**2) - (high - low) ** 2 / (2.0 * math.pi)
        return cls(median, larger * math.sqrt(variance), points, method, below, above)

    def quantile(self, q: float) -> float:
        """The ``q`` quantile of the predicted value (-inf at 0, inf at 1)."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile {q} is outside [0, 1]")
        if q in (0.0, 1.0):
            return -math.inf if q == 0.0 else math.inf
        scale = self.below if q < 0.5 else self.above
        return self.mean + scale * STANDARD.inv_cdf(q)

    def probability_below(self, threshold: float) -> float:
        """P(value at the target < ``threshold``)."""
        scale = self.below if threshold < self.mean else self.above
        return STANDARD.cdf((threshold - self.mean) / scale)
