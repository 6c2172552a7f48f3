"""Multi-fidelity Hartmann problems whose low fidelities mislead: ``mfh3-bad``, ``mfh6-bad`` and
the smooth control ``mfh6-good``.

Why: BoTorch's ``AugmentedHartmann`` (``hartmann6``) degrades gracefully with the fidelity, so a
method that trusts its low rungs is never punished for it. Real low-budget results are often
biased (the landscape at one epoch is not the landscape at the end) and noisy, and a benchmark
should show what a method loses to that. These problems follow the idea of mf-prior-bench's
MF-Hartmann generators (a bias that flattens the function as the fidelity falls, and noise that
grows as it falls); the code and the exact form are ours:

* fidelity gap ``g = 1 - log(r / r_min) / log(r_max / r_min)`` (1 at r_min, 0 at r_max);
* the weights of the four Hartmann terms fall by ``bias * g`` (with a large bias they turn
  negative at low fidelity: the wells become hills, and the ranking inverts), and the centres
  of the wells drift by ``drift * g`` along fixed random directions (the low fidelities point
  to the wrong place);
* the observed value adds Gaussian noise of scale ``noise * g + noise_floor``, deterministic
  given (configuration, resource, the problem's seed): an optimizer sees noise at every level,
  r_max included, least at r_max.

``final_value`` is the plain, noise-free Hartmann function (the value at r_max without its
noise): the regret measures where a method ends, not how lucky its last draw was. One ``value``
costs about 50 microseconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cached_property

import numpy as np
from scipy.optimize import minimize

from benchmarks.quality.determinism import config_key, hash_normal
from benchmarks.quality.problems import SYNTHETIC_SAMPLES, Problem
from hpo.space import Config, Float, ParamValue, Space
from hpo.spec import Resource

# The Hartmann functions' published constants (Dixon and Szegö; as in BoTorch and in Surjanovic
# and Bingham's library), and a known minimiser of each (refined numerically in ``optimum``).
ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
HARTMANN = {
    3: (
        np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]]),
        1e-4
        * np.array(
            [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]],
            dtype=float,
        ),
        (0.114614, 0.555649, 0.852547),
    ),
    6: (
        np.array(
            [
                [10, 3, 17, 3.5, 1.7, 8],
                [0.05, 10, 17, 0.1, 8, 14],
                [3, 3.5, 1.7, 10, 17, 8],
                [17, 8, 0.05, 10, 0.1, 14],
            ]
        ),
        1e-4
        * np.array(
            [
                [1312, 1696, 5569, 124, 8283, 5886],
                [2329, 4135, 8307, 3736, 1004, 9991],
                [2348, 1451, 3522, 2883, 3047, 6650],
                [4047, 8828, 8732, 5743, 1091, 381],
            ],
            dtype=float,
        ),
        (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573),
    ),
}

# name: (dimensions, bias, drift, noise, noise_floor)
SETTINGS = {
    "mfh3-bad": (3, 3.0, 0.15, 0.5, 0.05),
    "mfh6-bad": (6, 3.5, 0.15, 0.5, 0.05),
    "mfh6-good": (6, 0.5, 0.0, 0.05, 0.01),
}


class MFHartmann(Problem):
    """Hartmann (3-D or 6-D) with a fidelity bias and fidelity noise; see the module docstring."""

    def __init__(
        self,
        name: str,
        dims: int,
        bias: float,
        drift: float,
        noise: float,
        noise_floor: float,
        seed: int = 0,
    ) -> None:
        self.name = name
        self.space = Space({f"x{i}": Float(0.0, 1.0) for i in range(dims)})
        self.resource = Resource(r_min=1, r_max=81, eta=3, name="fidelity units")
        self.bias, self.drift, self.noise, self.noise_floor = bias, drift, noise, noise_floor
        self.seed = seed
        self._a, self._p, self._minimiser = HARTMANN[dims]
        directions = np.random.default_rng([seed, dims]).normal(size=self._p.shape)
        self._directions = directions / np.linalg.norm(directions, axis=1, keepdims=True)

    def gap(self, resource: float) -> float:
        """1 at r_min, 0 at r_max, linear in log(resource)."""
        r_min, r_max = self.resource.r_min, self.resource.r_max
        return 1.0 - math.log(resource / r_min) / math.log(r_max / r_min)

    def mean(self, points: np.ndarray, gap: float) -> np.ndarray:
        """The noise-free value of rows ``points`` (in [0, 1]^dims) at fidelity gap ``gap``."""
        alpha = ALPHA - self.bias * gap
        centres = self._p + self.drift * gap * self._directions
        inner = np.sum(self._a * (points[:, None, :] - centres) ** 2, axis=-1)
        return -(np.exp(-inner) @ alpha)

    def value(self, config: Mapping[str, ParamValue], resource: float) -> float:
        if not self.resource.contains(resource):
            raise ValueError(f"{self.name}: resource {resource} is outside the resource range")
        resource = min(max(resource, self.resource.r_min), self.resource.r_max)
        gap = self.gap(resource)
        point = np.array([[float(config[key]) for key in self.space]])
        scale = self.noise * gap + self.noise_floor
        draw = hash_normal(self.name, self.seed, config_key(config, self.space), resource)
        return float(self.mean(point, gap)[0] + scale * draw)

    def final_value(self, config: Mapping[str, ParamValue]) -> float:
        """The noise-free Hartmann function at r_max."""
        return float(self.mean(np.array([[float(config[key]) for key in self.space]]), 0.0)[0])

    @cached_property
    def _best(self) -> tuple[Config, float]:
        """The known minimiser, polished by L-BFGS-B on this float64 implementation."""
        result = minimize(
            lambda x: float(self.mean(x[None, :], 0.0)[0]),
            np.array(self._minimiser),
            method="L-BFGS-B",
            bounds=[(0.0, 1.0)] * len(self.space),
            options={"ftol": 1e-15, "gtol": 1e-12},
        )
        config = dict(zip(self.space, (float(x) for x in result.x), strict=True))
        return config, self.final_value(config)

    @property
    def optimum(self) -> float:
        return self._best[1]

    @cached_property
    def _sample(self) -> tuple[np.ndarray, np.ndarray]:
        points = np.random.default_rng(0).random((SYNTHETIC_SAMPLES, len(self.space)))
        return points, self.mean(points, 0.0)

    def final_values(self) -> np.ndarray:
        """Noise-free final values of a fixed sample of uniformly random configurations."""
        return self._sample[1].copy()

    def best_and_worst(self) -> tuple[Config, Config]:
        points, finals = self._sample
        worst = dict(zip(self.space, (float(x) for x in points[np.argmax(finals)]), strict=True))
        return dict(self._best[0]), worst


def make(name: str) -> MFHartmann:
    """The MF-Hartmann problem called ``name`` (one of ``SETTINGS``)."""
    dims, bias, drift, noise, floor = SETTINGS[name]
    return MFHartmann(name, dims, bias, drift, noise, floor)
