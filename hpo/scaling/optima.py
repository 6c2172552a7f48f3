"""The optimum of each hyperparameter at one scale point, estimated from that point's results.

The best result's configuration is a poor estimate of the optimum: values are noisy, and the
argmin of 40 noisy results wanders over the whole basin. Instead, in the coordinates the laws
are fitted in (:mod:`hpo.scaling.coordinates`, scaled by the space's width):

1. **Response surface.** A least-squares quadratic in the numeric parameters plus an offset
   per categorical choice, fitted to the better half of the results (more when the
   coefficients need ``PER_COEFFICIENT`` results each). The better half, because losses are
   rarely quadratic far from the optimum (a diverging learning rate). The full quadratic
   (with interactions: the best learning rate moves with the batch size) is used when its
   Hessian is positive definite and its vertex lies within the sampled range widened by
   ``MARGIN`` of it on each side; otherwise the separable one (one curvature per parameter),
   whose vertex is used per parameter under the same conditions.
2. **Fallback.** A parameter without a usable vertex takes the rank-weighted mean of the best
   ``TOP_FRACTION`` of the results (at least ``MIN_TOP``; weights k, k-1, ..., 1). It is
   pulled towards where the sampler looked, so it is the second choice.
3. **Categoricals** take the choice with the least fitted offset (the surface compares the
   choices at equal numeric parameters, so a choice is not credited for the learning rates
   it happened to be tried with); without a surface, the rank-weighted vote of the top
   results.
4. **Uncertainty.** The numeric estimates are repeated on ``BOOTSTRAP_SAMPLES`` bootstrap
   resamples of the point's results (a fixed seed); the standard deviation of a parameter's
   estimates is its spread, which :mod:`hpo.scaling.laws` turns into the law's weights. Under
   ``MIN_BOOTSTRAP`` results there is no meaningful resample and the spread is ``None``.

``methods`` records, per parameter, ``quadratic`` (from the surface), ``top-k`` (the
fallback) or ``constant`` (every result used the same value).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo.scaling.coordinates import bounds, clip, from_coordinate, to_coordinate
from hpo.scaling.observations import Group
from hpo.space import Categorical, Config, Space

BOOTSTRAP_SAMPLES = 50
MIN_BOOTSTRAP = 4
PER_COEFFICIENT = 3
MARGIN = 0.1
TOP_FRACTION = 0.2
MIN_TOP = 3

# How a numeric parameter's optimum was found at a point.
QUADRATIC = "quadratic"
TOP_K = "top-k"
CONSTANT = "constant"  # every result used the same value


@dataclass(frozen=True)
class ScalePoint:
    """One distinct scale: its optimum (a valid configuration: clipped to the space, ints
    rounded), the unrounded estimates the laws are fitted to (in the parameters' units), their
    bootstrap spreads (in the law's coordinate: natural-log units for log laws), how each was
    found, how many results it had, the best value and the studies it came from."""

    scale: dict[str, float]
    optimum: Config
    estimates: dict[str, float]
    spread: dict[str, float | None]
    methods: dict[str, str]
    count: int
    best_value: float
    studies: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "scale": dict(self.scale),
            "optimum": dict(self.optimum),
            "estimates": dict(self.estimates),
            "spread": dict(self.spread),
            "methods": dict(self.methods),
            "count": self.count,
            "best_value": self.best_value,
            "studies": list(self.studies),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScalePoint:
        return cls(
            scale={str(k): float(v) for k, v in data["scale"].items()},
            optimum=dict(data["optimum"]),
            estimates={str(k): float(v) for k, v in data["estimates"].items()},
            spread={str(k): None if v is None else float(v) for k, v in data["spread"].items()},
            methods={str(k): str(v) for k, v in data["methods"].items()},
            count=int(data["count"]),
            best_value=float(data["best_value"]),
            studies=tuple(str(study) for study in data["studies"]),
        )


@dataclass(frozen=True)
class _Design:
    """A point's results as arrays, best first: numeric coordinates (law coordinate divided by
    the space's width), values, and the index of each categorical's choice."""

    units: np.ndarray  # (n, numeric parameters)
    values: np.ndarray  # (n,)
    choices: np.ndarray  # (n, categorical parameters), integers
    sizes: tuple[int, ...]  # choices per categorical

    def take(self, rows: np.ndarray) -> _Design:
        """The results at ``rows`` (a bootstrap resample), best first again."""
        rows = rows[np.argsort(self.values[rows], kind="stable")]
        return _Design(self.units[rows], self.values[rows], self.choices[rows], self.sizes)


def _top_weights(n: int) -> np.ndarray:
    k = min(n, max(MIN_TOP, math.ceil(TOP_FRACTION * n)))
    return np.arange(k, 0, -1, dtype=float)


def _surface_columns(x: np.ndarray, full: bool) -> list[np.ndarray]:
    d = x.shape[1]
    if full:
        return [x[:, i] * x[:, j] for i in range(d) for j in range(i, d)]
    return [x[:, i] ** 2 for i in range(d)]


def _hessian(quadratic: np.ndarray, d: int, full: bool) -> np.ndarray:
    if not full:
        return np.diag(2.0 * quadratic)
    hessian = np.zeros((d, d))
    pairs = [(i, j) for i in range(d) for j in range(i, d)]
    for (i, j), coefficient in zip(pairs, quadratic, strict=True):
        if i == j:
            hessian[i, i] = 2.0 * coefficient
        else:
            hessian[i, j] = hessian[j, i] = coefficient
    return hessian


@dataclass(frozen=True)
class _Surface:
    """A fitted response surface: its vertex in the numeric columns it was fitted in, which
    coordinates of the vertex are usable, and each categorical's fitted offset per choice
    (NaN for a choice that none of the fitted results used)."""

    vertex: np.ndarray
    usable: np.ndarray
    offsets: list[np.ndarray]


def _offsets(design: _Design, size: int, coefficients: np.ndarray) -> list[np.ndarray]:
    offsets, start = [], 0
    for c, choices in enumerate(design.sizes):
        offset = np.concatenate([[0.0], coefficients[start : start + choices - 1]])
        start += choices - 1
        used = np.bincount(design.choices[:size, c], minlength=choices) > 0
        offsets.append(np.where(used, offset, np.nan))
    return offsets


def _surface(design: _Design, columns: np.ndarray) -> _Surface | None:
    """The response surface in the numeric ``columns``: the full quadratic when its vertex is
    usable in every coordinate, else the separable one; None with too few results for
    either."""
    units = design.units[:, columns]
    n, d = units.shape
    lowest, highest = units.min(axis=0), units.max(axis=0)
    span = highest - lowest
    dummies = sum(size - 1 for size in design.sizes)
    for full in (True, False) if d else (False,):
        quadratics = d * (d + 1) // 2 if full else d
        size = max(math.ceil(n / 2), PER_COEFFICIENT * (1 + d + quadratics + dummies))
        if size > n:
            continue
        center = units[:size].mean(axis=0)
        x = units[:size] - center
        offsets = [
            (design.choices[:size, c] == j).astype(float)
            for c, choices in enumerate(design.sizes)
            for j in range(1, choices)
        ]
        matrix = np.column_stack([np.ones(size), x, *_surface_columns(x, full), *offsets])
        solution = np.linalg.lstsq(matrix, design.values[:size], rcond=None)[0]
        gradient = solution[1 : 1 + d]
        hessian = _hessian(solution[1 + d : 1 + d + quadratics], d, full)
        if full:
            if np.linalg.eigvalsh(hessian)[0] <= 0:
                continue
            usable = np.ones(d, dtype=bool)
            step = np.linalg.solve(hessian, -gradient)
        else:
            curvature = np.diag(hessian)
            usable = curvature > 0
            step = -gradient / np.where(usable, curvature, 1.0)
        vertex = center + step
        usable &= (vertex >= lowest - MARGIN * span) & (vertex <= highest + MARGIN * span)
        if not full or usable.all():
            return _Surface(vertex, usable, _offsets(design, size, solution[1 + d + quadratics :]))
    return None


def _estimate(design: _Design) -> tuple[np.ndarray, list[str], _Surface | None]:
    """Each numeric parameter's optimum (scaled coordinate), how it was found, and the
    response surface (None when there were too few results for one)."""
    weights = _top_weights(len(design.values))
    estimate = weights @ design.units[: len(weights)] / weights.sum()
    methods = [TOP_K] * design.units.shape[1]
    constant = np.ptp(design.units, axis=0) == 0
    estimate[constant] = design.units[0, constant]
    for column in np.flatnonzero(constant):
        methods[column] = CONSTANT
    varying = np.flatnonzero(~constant)
    surface = _surface(design, varying)
    if surface is not None:
        estimate[varying[surface.usable]] = surface.vertex[surface.usable]
        for column in varying[surface.usable]:
            methods[column] = QUADRATIC
    return estimate, methods, surface


def _choose(design: _Design, surface: _Surface | None) -> tuple[list[int], str]:
    """Each categorical's choice and how it was found: the least fitted offset of the
    response surface, else the rank-weighted vote of the top results."""
    if surface is not None:
        return [int(np.nanargmin(offsets)) for offsets in surface.offsets], QUADRATIC
    weights = _top_weights(len(design.values))
    top = design.choices[: len(weights)]
    votes = [
        int(np.argmax(np.bincount(top[:, c], weights=weights, minlength=size)))
        for c, size in enumerate(design.sizes)
    ]
    return votes, TOP_K


def _spread(design: _Design, seed: int) -> np.ndarray | None:
    n = len(design.values)
    if n < MIN_BOOTSTRAP:
        return None
    rng = np.random.default_rng(seed)
    samples = np.array(
        [_estimate(design.take(rng.integers(0, n, n)))[0] for _ in range(BOOTSTRAP_SAMPLES)]
    )
    return samples.std(axis=0, ddof=1)


def estimate_point(space: Space, group: Group, seed: int = 0) -> ScalePoint:
    """The optimum of every parameter of ``space`` at ``group``'s scale (see the module's
    docstring); ``seed`` fixes the bootstrap."""
    numeric = {n: p for n, p in space.items() if not isinstance(p, Categorical)}
    categorical = {n: p for n, p in space.items() if isinstance(p, Categorical)}
    observations = group.observations
    origin = {name: bounds(p)[0] for name, p in numeric.items()}
    widths = {name: bounds(p)[1] - bounds(p)[0] for name, p in numeric.items()}
    units = np.array(
        [
            [
                (to_coordinate(p, float(o.config[name])) - origin[name]) / widths[name]
                for name, p in numeric.items()
            ]
            for o in observations
        ],
        dtype=float,
    ).reshape(len(observations), len(numeric))
    choices = np.array(
        [
            [int(np.argmax(p.encode(o.config[name]))) for name, p in categorical.items()]
            for o in observations
        ],
        dtype=int,
    ).reshape(len(observations), len(categorical))
    design = _Design(
        units,
        np.array([o.value for o in observations], dtype=float),
        choices,
        tuple(len(p.choices) for p in categorical.values()),
    )
    estimate, methods, surface = _estimate(design)
    choices_made, how = _choose(design, surface)
    spread = _spread(design, seed)
    estimates = {
        name: from_coordinate(p, origin[name] + float(u) * widths[name])
        for (name, p), u in zip(numeric.items(), estimate, strict=True)
    }
    chosen = dict(zip(categorical, choices_made, strict=True))
    found = dict(zip(numeric, methods, strict=True))
    optimum: Config = {
        name: p.choices[chosen[name]] if isinstance(p, Categorical) else clip(p, estimates[name])
        for name, p in space.items()
    }
    return ScalePoint(
        scale=dict(group.scale),
        optimum=optimum,
        estimates=estimates,
        spread={
            name: None if spread is None else float(spread[i] * widths[name])
            for i, name in enumerate(numeric)
        },
        methods={name: how if name in categorical else found[name] for name in space},
        count=len(observations),
        best_value=float(design.values[0]),
        studies=tuple(sorted({o.study for o in observations if o.study})),
    )
