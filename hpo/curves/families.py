"""Parametric learning-curve families and their robust, deterministic fits.

Every family is ``z(x) = c + a * g(x; theta)``: linear in a level ``c`` and an amplitude ``a``,
with at most two shape parameters ``theta``. That is what makes a fit cheap and deterministic
(variable projection): for each ``theta`` of a fixed geometric grid the best ``c`` and ``a`` have a
closed form (weighted least squares, every grid point at once as a few matrix products), and the fit
is the grid point of least loss, refined along each shape axis by a parabola through its
neighbours. There is no starting guess and no local optimiser that can stall in a local minimum,
and every call runs the same operations in the same order. ``scipy.optimize.least_squares`` with
bounds and a soft-L1 loss was measured at about 3 ms for one pow3 fit to 27 points, more than the
budget of the whole ensemble.

Coordinates are normalised by the caller (``x = r / r_last`` in (0, 1], the target ``t >= 1``;
values shifted and scaled to a unit range), so the grids are the same for every curve and a fit
is equivariant to rescaling the resource and to increasing affine maps of the values.

The loss is soft-L1 (``2 * (sqrt(1 + (residual / f)^2) - 1)``: quadratic for residuals well below
the scale ``f``, linear above), minimised by iteratively reweighted least squares: a spike in a
curve (a step that diverges and recovers) pulls a fit much less than under squared loss.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# Reweighted passes after the first, squared-loss, fit.
ROBUST_PASSES = 2
# The soft-L1 scale: twice the residuals' robust spread (1.4826 * the median absolute residual
# estimates a normal sd), and at least ROBUST_FLOOR (normalised units: the curve's range is 1).
ROBUST_SPREADS = 2.0 * 1.4826
ROBUST_FLOOR = 1e-3
# Losses closer than this fraction of the largest on the grid are a tie.
TIE = 1e-9

Basis = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Family:
    """A curve shape ``c + a * basis(x, theta)``, searched over the product of ``axes`` (each a
    geometric grid of one shape parameter; none for a shape without one)."""

    name: str
    basis: Basis  # basis(x of shape (n,), thetas of shape (m, len(axes))) -> shape (m, n)
    axes: tuple[np.ndarray, ...] = ()
    constant: bool = False  # the basis is zero: only the level is fitted
    grid: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        points = list(itertools.product(*self.axes))
        grid = np.array(points, dtype=float).reshape(len(points), len(self.axes))
        object.__setattr__(self, "grid", grid)

    @property
    def parameters(self) -> int:
        """How many parameters a fit chooses: the level, the amplitude and the shapes."""
        return 1 if self.constant else 2 + len(self.axes)


def _power(x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    return np.power(x[None, :], -theta[:, 0:1])


def _exponential(x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    return np.exp(-x[None, :] / theta[:, 0:1])


def _log_power(x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.power(x[None, :] / theta[:, 0:1], theta[:, 1:2]))


def _log(x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    return np.log(x)[None, :]


def _zero(x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    return np.zeros((1, len(x)))


# pow3 (Domhan et al. 2015): a power-law approach to the limit c, slow and heavy-tailed; as the
# exponent goes to 0 it becomes linear in log r. exp: a fast approach, flat a few taus later; tau
# at most r_last, so it never predicts more than e times the drop it still has left at r_last.
# log-power (Domhan et al.): a sigmoid in log r, a plateau, a drop around the midpoint s and a
# power-law tail; s at most r_last, so it extrapolates a drop it has seen begin. loglinear: no
# limit, the curve that keeps falling (or rising) at its last rate per log r. constant: a curve
# that has converged. A negative amplitude turns each into a rising curve (a model that
# overfits). A tried fifth shape, pow3 plus a trend linear in log r (a fall, then a rise), did
# not improve the tuning set and is left out.
FAMILIES: tuple[Family, ...] = (
    Family("pow3", _power, (np.geomspace(0.05, 4.0, 48),)),
    Family("exp", _exponential, (np.geomspace(0.02, 1.0, 48),)),
    Family("log-power", _log_power, (np.geomspace(0.01, 1.0, 16), np.geomspace(0.5, 6.0, 12))),
    Family("loglinear", _log),
    Family("constant", _zero, constant=True),
)


@dataclass(frozen=True)
class Fit:
    """One family fitted to one curve, in normalised coordinates."""

    family: Family
    level: float
    amplitude: float
    theta: np.ndarray  # the shape parameters, shape (len(family.axes),)
    residuals: np.ndarray  # z - fitted, per point
    robust_weights: np.ndarray  # the soft-L1 weights of the last pass, in (0, 1]

    def at(self, x: float) -> float:
        """The fitted curve at the normalised resource ``x``."""
        basis = self.family.basis(np.array([x]), self.theta[None, :])[0, 0]
        return float(self.level + self.amplitude * basis)


def _lines(
    basis: np.ndarray, z: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row of ``basis``: the weighted least-squares level, amplitude and loss of
    ``z ~ level + amplitude * row``."""
    share = weights / weights.sum()
    basis_mean = basis @ share
    z_mean = float(z @ share)
    centred = basis - basis_mean[:, None]
    z_centred = z - z_mean
    spread = (centred * centred) @ weights
    covariance = centred @ (weights * z_centred)
    # A row flat over the points (the zero basis, a rate far beyond them) fits the level only.
    flat = spread <= 1e-12 * max(float(np.max(spread)), 1e-300)
    amplitude = np.where(flat, 0.0, covariance / np.where(flat, 1.0, spread))
    level = z_mean - amplitude * basis_mean
    loss = float(z_centred**2 @ weights) - amplitude * covariance
    return level, amplitude, np.maximum(loss, 0.0)


def _refined(family: Family, losses: np.ndarray, best: int) -> np.ndarray:
    """The best grid point's shape parameters, each moved to the vertex of the parabola (in log)
    through the losses of it and its two neighbours along that parameter's axis."""
    sizes = [len(axis) for axis in family.axes]
    cells = np.unravel_index(best, sizes)
    strides = [int(np.prod(sizes[j + 1 :])) for j in range(len(sizes))]
    theta = family.grid[best].copy()
    for j, axis in enumerate(family.axes):
        if not 0 < cells[j] < sizes[j] - 1:
            continue
        left, middle, right = (losses[best + k * strides[j]] for k in (-1, 0, 1))
        curvature = left - 2.0 * middle + right
        if curvature > 0.0:
            offset = 0.5 * (left - right) / curvature  # grid steps, within [-0.5, 0.5]
            theta[j] *= (axis[1] / axis[0]) ** offset
    return theta


def _fit_once(
    family: Family, x: np.ndarray, z: np.ndarray, weights: np.ndarray
) -> tuple[float, float, np.ndarray]:
    """The weighted least-squares level, amplitude and shape parameters."""
    levels, amplitudes, losses = _lines(family.basis(x, family.grid), z, weights)
    # The first grid point within rounding of the least loss: where the points cannot tell
    # shapes apart (a flat valley of the loss), rounding must not pick among them, or a shift of
    # the values would change the prediction.
    tie = TIE * float(np.max(losses))
    best = int(np.argmax(losses <= np.min(losses) + tie))
    theta = _refined(family, losses, best)
    if np.any(theta != family.grid[best]):
        level, amplitude, loss = _lines(family.basis(x, theta[None, :]), z, weights)
        if loss[0] <= losses[best] + tie:
            return float(level[0]), float(amplitude[0]), theta
    return float(levels[best]), float(amplitudes[best]), family.grid[best]


def fit(family: Family, x: np.ndarray, z: np.ndarray, weights: np.ndarray) -> Fit:
    """Fit ``family`` to the normalised curve ``(x, z)`` under soft-L1 loss, point ``i``
    counting ``weights[i]``."""
    robust = np.ones_like(z)
    for reweighted in range(ROBUST_PASSES + 1):
        level, amplitude, theta = _fit_once(family, x, z, weights * robust)
        residuals = z - level - amplitude * family.basis(x, theta[None, :])[0]
        if reweighted < ROBUST_PASSES:
            scale = max(ROBUST_SPREADS * float(np.median(np.abs(residuals))), ROBUST_FLOOR)
            robust = 1.0 / np.sqrt(1.0 + (residuals / scale) ** 2)
    return Fit(family, level, amplitude, theta, residuals, robust)
