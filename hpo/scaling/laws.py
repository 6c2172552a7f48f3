"""One hyperparameter's optimum as a power law of the scale, with honest intervals.

Given the optimum estimated at each scale point (:mod:`hpo.scaling.optima`), the law is a
weighted least-squares fit of

    log h* = a + sum_j b_j log s_j     (log laws: h* = e^a * prod_j s_j^b_j)
        h* = a + sum_j b_j log s_j     (parameters fitted as they are)

over the scale variables s_j (natural logarithms). There are few points (3 to 6 is normal),
so:

- **Intervals** come from the t distribution with n - p degrees of freedom (p coefficients)
  and the residual variance of the fit itself, not from the points' bootstrap spreads, which
  overstate a point's error in the tests and miss any scatter of the true optima around a
  power law. With 2 or 3 residual degrees
  of freedom they are wide; that is the honest answer.
- **Variables are selected** among all subsets of the candidates (including none: a constant
  law) that leave at least one residual degree of freedom, n >= len(subset) + 2, by the
  weighted leave-one-out prediction error (PRESS, exact for least squares from the hat
  matrix); a subset replaces a smaller one only when strictly better, so ties keep the
  simpler law. AICc would need n >= len(subset) + 4, which rules out even one variable with
  4 points. Selection costs the exponents' intervals a few points of coverage (they are
  computed as if the subset had been chosen in advance; docs/scaling.md has measurements);
  without it a law uses every candidate the points allow, and selects only when they are too
  few for all.
- **Predictions** at a new scale carry a prediction interval: the coefficients' uncertainty
  plus the residual variance of one typical point (weights are normalised to mean 1), so the
  interval also covers how far a single scale's optimum strays from the law.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from scipy import stats

from hpo.scaling.observations import ScalingError, scale_size

# A leave-one-out fit with a leverage this close to 1 is undefined (one point pins a
# coefficient): that subset cannot be judged and is not chosen.
MAX_LEVERAGE = 1.0 - 1e-9
# exp() of more than this overflows a float.
MAX_LOG = math.log(sys.float_info.max)


@dataclass(frozen=True)
class ParameterLaw:
    """The fitted law of one numeric parameter.

    ``exponents[v]`` is the power of ``v`` (log laws) or the slope per unit of ``log v``;
    ``intervals[v]`` its confidence interval at ``level``. ``covariance`` is the estimated
    covariance of (intercept, exponents in ``variables`` order); ``residual_sd`` the residual
    standard deviation of a typical point in the law's coordinate (natural-log units for log
    laws); ``dof`` the residual degrees of freedom; ``loo_rmse`` the leave-one-out error that
    selected ``variables``; ``points`` how many scale points the law was fitted to."""

    parameter: str
    log: bool
    intercept: float
    exponents: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    variables: tuple[str, ...]
    residual_sd: float
    covariance: tuple[tuple[float, ...], ...]
    dof: int
    level: float
    loo_rmse: float
    points: int

    def _row(self, scale: Mapping[str, float]) -> np.ndarray:
        logs = []
        for name in self.variables:
            size = scale.get(name)
            if size is None:
                raise ScalingError(
                    f"the scale lacks {name!r}, which the law of {self.parameter} uses"
                )
            logs.append(math.log(scale_size(name, size)))
        return np.array([1.0, *logs])

    def predict(self, scale: Mapping[str, float]) -> tuple[float, float, float]:
        """The optimum at ``scale`` and its prediction interval at ``level``, in the
        parameter's own units (not clipped to the space)."""
        row = self._row(scale)
        coefficients = np.array([self.intercept, *(self.exponents[v] for v in self.variables)])
        mean = float(row @ coefficients)
        variance = float(row @ np.array(self.covariance) @ row) + self.residual_sd**2
        half = _quantile(self.level, self.dof) * math.sqrt(max(variance, 0.0))
        estimate, lower, upper = mean, mean - half, mean + half
        if self.log:
            # Far beyond the data a log law can pass the largest float: saturate, stay finite.
            estimate, lower, upper = (math.exp(min(x, MAX_LOG)) for x in (estimate, lower, upper))
        return estimate, lower, upper

    def to_json(self) -> dict[str, Any]:
        return {
            "parameter": self.parameter,
            "log": self.log,
            "intercept": self.intercept,
            "exponents": dict(self.exponents),
            "intervals": {name: list(bounds) for name, bounds in self.intervals.items()},
            "variables": list(self.variables),
            "residual_sd": self.residual_sd,
            "covariance": [list(row) for row in self.covariance],
            "dof": self.dof,
            "level": self.level,
            "loo_rmse": self.loo_rmse,
            "points": self.points,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ParameterLaw:
        return cls(
            parameter=str(data["parameter"]),
            log=bool(data["log"]),
            intercept=float(data["intercept"]),
            exponents={str(k): float(v) for k, v in data["exponents"].items()},
            intervals={
                str(k): (float(low), float(high)) for k, (low, high) in data["intervals"].items()
            },
            variables=tuple(str(name) for name in data["variables"]),
            residual_sd=float(data["residual_sd"]),
            covariance=tuple(tuple(float(x) for x in row) for row in data["covariance"]),
            dof=int(data["dof"]),
            level=float(data["level"]),
            loo_rmse=float(data["loo_rmse"]),
            points=int(data["points"]),
        )


# The most the bootstrap spread of a point's optimum overstated its actual error in the tests
# (tests/unit/test_scaling.py): 1.1 to 1.8 times.
BOOTSTRAP_OVERSTATES = 1.8


def _quantile(level: float, dof: int) -> float:
    """The two-sided t multiplier of an interval at ``level``."""
    return float(stats.t.ppf(0.5 + level / 2, dof))


@dataclass(frozen=True)
class _Fit:
    variables: tuple[str, ...]
    coefficients: np.ndarray
    unscaled: np.ndarray  # (X'WX)^-1
    residual_sd: float
    dof: int
    loo_rmse: float


def _weighted_fit(
    variables: tuple[str, ...], logs: Mapping[str, np.ndarray], y: np.ndarray, w: np.ndarray
) -> _Fit:
    """Weighted least squares through a QR factorisation (stable when the logs are large)."""
    design = np.column_stack([np.ones(len(y)), *(logs[name] for name in variables)])
    root = np.sqrt(w)
    q, r = np.linalg.qr(design * root[:, None])
    coefficients = np.linalg.solve(r, q.T @ (y * root))
    residuals = y - design @ coefficients
    leverage = np.sum(q**2, axis=1)
    dof = len(y) - design.shape[1]
    if np.any(leverage > MAX_LEVERAGE):
        loo = math.inf
    else:
        loo = math.sqrt(float(np.mean(w * (residuals / (1 - leverage)) ** 2)))
    inverse = np.linalg.inv(r)
    return _Fit(
        variables=variables,
        coefficients=coefficients,
        unscaled=inverse @ inverse.T,
        residual_sd=math.sqrt(float(np.sum(w * residuals**2)) / dof),
        dof=dof,
        loo_rmse=loo,
    )


def _select(
    candidates: Sequence[str],
    logs: Mapping[str, np.ndarray],
    y: np.ndarray,
    w: np.ndarray,
    select: bool,
) -> _Fit:
    """The subset of ``candidates`` with the least leave-one-out error (see the module); all
    of them when not ``select`` and the points allow it. Needs 2 points or more."""
    if not select and len(y) >= len(candidates) + 2:
        return _weighted_fit(tuple(candidates), logs, y, w)
    # Differences below this are rounding, not evidence: an exact law must not gain a
    # variable by a last-bit improvement.
    tolerance = 1e-9 * float(np.abs(y).max())
    best = _weighted_fit((), logs, y, w)
    for size in range(1, min(len(candidates), len(y) - 2) + 1):
        for subset in combinations(candidates, size):
            fit = _weighted_fit(subset, logs, y, w)
            if fit.loo_rmse < best.loo_rmse - tolerance:
                best = fit
    return best


def _point_weights(spreads: Sequence[float | None]) -> np.ndarray:
    """Weights of the points from their bootstrap spreads s_i, normalised to mean 1:
    1 / (s_i^2 + median s^2), so an imprecise point counts less but none counts more than
    twice a typical one. A spread from a few dozen noisy results is itself uncertain (in the
    tests the bootstrap overstates the actual error of a point's optimum by 1.1 to 1.8 times,
    which is also why the intervals use the residuals rather than the spreads), and the true
    optima scatter around any power law by an amount no spread measures. A point without
    a spread (too few results) takes the largest of the others; without any, weights are
    equal."""
    known = [spread for spread in spreads if spread is not None]
    variances = np.square([max(known, default=0.0) if s is None else s for s in spreads])
    typical = float(np.median(variances))
    if typical == 0:
        return np.ones(len(spreads))
    weights = 1.0 / (variances + typical)
    return weights / weights.mean()


def _scatter_floor(spreads: Sequence[float | None]) -> float:
    """The least residual standard deviation a law may claim: the points' own estimation error
    (their median bootstrap spread, shrunk by the most the bootstrap was seen to overstate it).
    With 3 to 6 points the residuals have 1 to 4 degrees of freedom, and optima that happen to
    line up would otherwise give an interval narrower than the error of each point."""
    known = [spread for spread in spreads if spread is not None]
    return float(np.median(known)) / BOOTSTRAP_OVERSTATES if known else 0.0


def fit_law(
    parameter: str,
    log: bool,
    optima: np.ndarray,
    spreads: Sequence[float | None],
    logs: Mapping[str, np.ndarray],
    level: float,
    select: bool = True,
) -> ParameterLaw:
    """Fit ``optima`` (one per scale point, in the law's coordinate) to the log scale
    variables ``logs`` (all candidates, in a fixed order, not collinear), weighting the
    points by their bootstrap ``spreads``; intervals at ``level``; ``select``: choose
    variables (the module) rather than use all that the points allow."""
    w = _point_weights(spreads)
    fit = _select(tuple(logs), logs, np.asarray(optima, dtype=float), w, select)
    residual_sd = max(fit.residual_sd, _scatter_floor(spreads))
    covariance = residual_sd**2 * fit.unscaled
    t = _quantile(level, fit.dof)
    exponents = {
        name: float(b) for name, b in zip(fit.variables, fit.coefficients[1:], strict=True)
    }
    intervals = {
        name: (
            exponents[name] - t * math.sqrt(covariance[i + 1, i + 1]),
            exponents[name] + t * math.sqrt(covariance[i + 1, i + 1]),
        )
        for i, name in enumerate(fit.variables)
    }
    return ParameterLaw(
        parameter=parameter,
        log=log,
        intercept=float(fit.coefficients[0]),
        exponents=exponents,
        intervals=intervals,
        variables=fit.variables,
        residual_sd=residual_sd,
        covariance=tuple(tuple(float(x) for x in row) for row in covariance),
        dof=fit.dof,
        level=level,
        loo_rmse=fit.loo_rmse,
        points=len(w),
    )
