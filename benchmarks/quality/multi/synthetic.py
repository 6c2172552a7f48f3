"""The synthetic problems: ``zdt-r`` (two objectives), ``constrained`` and ``cost``.

Each is a textbook function with a resource axis ``r`` in [1, 81] (eta 3) whose fidelity
``s = r / r_max`` biases what a worker sees at low resource and vanishes at ``r_max``:

* ``zdt-r``: ZDT1 in 6 dimensions (Zitzler, Deb and Thiele 2000), front ``f2 = 1 - sqrt(f1)``
  at ``x1..x5 = 0``. At resource ``r`` the distance term ``g`` is inflated by
  ``1 + 0.5 (1 - s)`` and ``f2`` carries Gaussian noise (sd 0.05, a twentieth of the front's
  height) at every resource; runs are scored on the noise-free values at ``r_max``.
* ``constrained``: Branin with BoTorch's fidelity term (``AugmentedBranin``) and one outcome
  constraint ``c1 <= 0``: a tilted band across the middle of the square, half its area, that
  excludes all three of Branin's minima. The constrained optimum (2.354 at about
  (-2.65, 10.22), on the band's edge) is computed, not assumed.
* ``cost``: Hartmann-3 with BoTorch's ``AugmentedHartmann`` fidelity term (the first basin's
  weight lowered by ``0.1 (1 - s)``); one resource unit of a configuration costs
  ``k e^(k x1) / (e^k - 1)`` with ``k = ln 20``: 0.16 to 3.2, a 20x range whose mean over the
  space is 1, so a budget in r_max units means the same as on the other problems. The optimum
  (x1 = 0.556) costs 0.83 a unit: an average configuration, so neither cost-aware nor
  cost-blind search is favoured by where the optimum sits. The reported ``cost`` is the
  cumulative cost at ``r``, ``rate * r``.

Functions are written in numpy (they are evaluated on grids of millions of points here and
tens of thousands of times a run); the unit tests check them against BoTorch's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache

import numpy as np
from scipy.optimize import minimize

from benchmarks.quality.determinism import config_key, hash_normal
from benchmarks.quality.multi.problems import ParetoProblem, ScalarProblem
from hpo.space import Float, ParamValue, Space
from hpo.spec import Resource

SYNTHETIC_RESOURCE = Resource(r_min=1, r_max=81, eta=3, name="fidelity units")


def _point(space: Space, config: Mapping[str, ParamValue]) -> np.ndarray:
    return np.array([float(config[name]) for name in space])


# --- zdt-r --------------------------------------------------------------------------------------


class ZdtR(ParetoProblem):
    """ZDT1 (d = 6) with a fidelity bias on ``g`` and noise on ``f2``."""

    DIMENSIONS = 6
    BIAS = 0.5
    NOISE = 0.05

    def __init__(self) -> None:
        self.name = "zdt-r"
        self.space = Space({f"x{i}": Float(0.0, 1.0) for i in range(self.DIMENSIONS)})
        self.resource = SYNTHETIC_RESOURCE
        self.objectives = ("f1", "f2")
        # Each objective's range over the whole space (f2 = 10 at x0 = 0, g = 10), so every
        # configuration lies inside the reference box; as BoTorch's ZDT1 reference point (11, 11).
        self.bounds = ((0.0, 1.0), (0.0, 10.0))

    def _objectives(self, x: np.ndarray, fidelity: float) -> tuple[float, float]:
        g = 1 + 9 * float(np.mean(x[1:])) * (1 + self.BIAS * (1 - fidelity))
        return float(x[0]), g * (1 - math.sqrt(x[0] / g))

    def outcomes(self, config: Mapping[str, ParamValue], resource: float) -> dict[str, float]:
        self.check_resource(resource)
        f1, f2 = self._objectives(_point(self.space, config), resource / self.resource.r_max)
        noise = self.NOISE * hash_normal(self.name, config_key(config, self.space), resource)
        return {"f1": f1, "f2": f2 + noise}

    def true_outcomes(self, config: Mapping[str, ParamValue]) -> dict[str, float]:
        f1, f2 = self._objectives(_point(self.space, config), 1.0)
        return {"f1": f1, "f2": f2}

    @property
    def best_hypervolume(self) -> float:
        """The front ``f2 = 1 - sqrt(f1)`` on [0, 1] scaled by 1/10, against (1.1, 1.1):
        1.1 * 1.1 minus the area under it, ``(1/3) / 10``."""
        return 1.21 - 1 / 30


# --- constrained --------------------------------------------------------------------------------


def branin(x0: np.ndarray, x1: np.ndarray, fidelity: float = 1.0) -> np.ndarray:
    """BoTorch's ``AugmentedBranin`` (fidelity 1: Branin, minimum 0.397887)."""
    t1 = x1 - (5.1 / (4 * math.pi**2) - 0.1 * (1 - fidelity)) * x0**2 + 5 / math.pi * x0 - 6
    t2 = 10 * (1 - 1 / (8 * math.pi)) * np.cos(x0)
    return t1**2 + t2 + 10


def band(x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """The constraint metric, <= 0 inside a band of height 1/2 (in unit coordinates) around
    the line ``u1 = 0.5 + 0.2 (u0 - 0.5)``: -1 on the line, 3.8 at worst."""
    u0, u1 = (x0 + 5) / 15, x1 / 15
    return 16 * (u1 - 0.5 - 0.2 * (u0 - 0.5)) ** 2 - 1


@cache
def _constrained_optimum() -> tuple[float, tuple[float, float]]:
    """Branin's minimum inside the band: the best of a 1001 x 1001 grid, refined by SLSQP."""
    x0, x1 = np.meshgrid(np.linspace(-5, 10, 1001), np.linspace(0, 15, 1001))
    values = np.where(band(x0, x1) <= 0, branin(x0, x1), np.inf)
    start = np.unravel_index(int(np.argmin(values)), values.shape)
    refined = minimize(
        lambda x: float(branin(x[0], x[1])),
        [x0[start], x1[start]],
        method="SLSQP",
        bounds=[(-5, 10), (0, 15)],
        constraints=[{"type": "ineq", "fun": lambda x: -float(band(x[0], x[1]))}],
        options={"ftol": 1e-12},
    )
    best = float(values[start])
    if refined.success and band(*refined.x) <= 1e-9 and refined.fun < best:
        return float(refined.fun), (float(refined.x[0]), float(refined.x[1]))
    return best, (float(x0[start]), float(x1[start]))


class ConstrainedBranin(ScalarProblem):
    """Branin with fidelity, and ``c1 <= 0`` cutting away half the square and its minima."""

    def __init__(self) -> None:
        self.name = "constrained"
        self.space = Space({"x0": Float(-5.0, 10.0), "x1": Float(0.0, 15.0)})
        self.resource = SYNTHETIC_RESOURCE
        self.constraints = (("c1", 0.0),)

    def outcomes(self, config: Mapping[str, ParamValue], resource: float) -> dict[str, float]:
        self.check_resource(resource)
        x0, x1 = _point(self.space, config)
        fidelity = resource / self.resource.r_max
        return {"value": float(branin(x0, x1, fidelity)), "c1": float(band(x0, x1))}

    def true_outcomes(self, config: Mapping[str, ParamValue]) -> dict[str, float]:
        return self.outcomes(config, self.resource.r_max)

    @property
    def optimum(self) -> float:
        return _constrained_optimum()[0]


# --- cost ---------------------------------------------------------------------------------------

H3_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
H3_P = 1e-4 * np.array(
    [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
)
H3_OPTIMUM = -3.86278214782076
H3_OPTIMIZER = (0.114614, 0.555649, 0.852547)


def hartmann3(x: np.ndarray, fidelity: float = 1.0) -> float:
    """Hartmann-3 with ``AugmentedHartmann``'s fidelity term on the first basin's weight."""
    alpha = H3_ALPHA.copy()
    alpha[0] -= 0.1 * (1 - fidelity)
    return float(-np.sum(alpha * np.exp(-np.sum(H3_A * (x - H3_P) ** 2, axis=1))))


class CostlyHartmann(ScalarProblem):
    """Hartmann-3 whose cost per resource unit grows 20x along ``x1``."""

    COST_RANGE = 20.0

    def __init__(self) -> None:
        self.name = "cost"
        self.space = Space({f"x{i}": Float(0.0, 1.0) for i in range(3)})
        self.resource = SYNTHETIC_RESOURCE
        self.cost_metric = "cost"

    def rate(self, config: Mapping[str, ParamValue]) -> float:
        k = math.log(self.COST_RANGE)
        return k * math.exp(k * float(config["x1"])) / (self.COST_RANGE - 1)

    def outcomes(self, config: Mapping[str, ParamValue], resource: float) -> dict[str, float]:
        self.check_resource(resource)
        fidelity = resource / self.resource.r_max
        value = hartmann3(_point(self.space, config), fidelity)
        return {"value": value, "cost": self.rate(config) * resource}

    def true_outcomes(self, config: Mapping[str, ParamValue]) -> dict[str, float]:
        return self.outcomes(config, self.resource.r_max)

    @property
    def optimum(self) -> float:
        return H3_OPTIMUM
