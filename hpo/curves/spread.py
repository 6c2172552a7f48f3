"""How uncertain an extrapolation is: the two scales of the predictive distribution.

Each scale (the half below the point prediction and the half above) is

    scale * sqrt(B + N + M^2 + RANGE_FLOOR^2) * S^span_power * n^-points_power

in normalised units (1 is the curve's observed range), with

* ``B`` the variance of the families' predictions around the ensemble's: shapes that fit the
  points about equally well and disagree about the target;
* ``N`` the residual variance: noise, and misfit;
* ``M`` the change the ensemble predicts between r_last and the target: a curve still moving is
  less certain than one that has converged;
* ``S = log(target / r_last) / log(r_last / r_first)``: how far the extrapolation reaches,
  relative to the span of resources observed;
* ``n`` the number of points.

The first three are this curve's own uncertainty; ``S`` and ``n`` say how much the fits are to
be trusted beyond the data. The constants are fitted on the synthetic tuning set only
(``python -m benchmarks.curves.calibration --tune``, docs/curves.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

# The uncertainty of a fit that matches its points and predicts no change still counts 1% of the
# curve's observed range: no fit is that sure of a curve's future.
RANGE_FLOOR = 0.01


@dataclass(frozen=True)
class SideConstants:
    """The constants of one half of the predictive distribution."""

    scale: float
    span_power: float
    points_power: float


@dataclass(frozen=True)
class SpreadConstants:
    """The constants of both halves."""

    below: SideConstants
    above: SideConstants


# From python -m benchmarks.curves.calibration --tune (synthetic tuning set only).
TUNED = SpreadConstants(
    below=SideConstants(scale=3.26, span_power=0.997, points_power=0.293),
    above=SideConstants(scale=0.288, span_power=0.0, points_power=0.0),
)


def own_uncertainty(between: ArrayLike, noise: ArrayLike, move: ArrayLike) -> np.ndarray:
    """``sqrt(B + N + M^2 + RANGE_FLOOR^2)``, elementwise."""
    return np.sqrt(np.asarray(between) + np.asarray(noise) + np.asarray(move) ** 2 + RANGE_FLOOR**2)


def side_scale(
    between: ArrayLike,
    noise: ArrayLike,
    move: ArrayLike,
    span: ArrayLike,
    points: ArrayLike,
    side: SideConstants,
) -> np.ndarray:
    """One half's scale from the parts of the uncertainty (module docstring), elementwise."""
    return (
        side.scale
        * own_uncertainty(between, noise, move)
        * np.asarray(span, dtype=float) ** side.span_power
        * np.asarray(points, dtype=float) ** -side.points_power
    )
