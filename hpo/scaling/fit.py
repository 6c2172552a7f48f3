"""Fit scaling laws to a family of studies and propose hyperparameters at a new scale.

:func:`fit_scaling` groups the results by scale (:mod:`hpo.scaling.observations`), estimates
each point's optimum (:mod:`hpo.scaling.optima`), decides which scale variables can be used at
all, and fits one law per numeric parameter (:mod:`hpo.scaling.laws`). The result,
:class:`ScalingFit`, proposes a configuration at any scale and round-trips through JSON, so a
fit can be stored and read back without the results it came from.

Which variables a law may use: a variable that never varies across the points says nothing
and is dropped; so is one whose log is a linear function of the logs of variables kept before
it (in name order), such as tokens always 20 times the parameters: the data cannot tell their
effects apart, and the kept variable's exponent carries both. Both are recorded in
``dropped`` and ``notes``.

Categorical parameters are not extrapolated: ``choices`` holds the choice that is optimal at
the most scale points (a tie goes to the one optimal at the larger scale, by the product of the
scale variables), and every proposal uses it. A single point's choice is noisy when the
choices differ little, so a majority is the safer summary; a choice that really changes with
scale shows in the points' optima.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo.scaling.coordinates import clip, to_coordinate, uses_log
from hpo.scaling.laws import ParameterLaw, fit_law
from hpo.scaling.observations import Observation, ScalingError, group_by_scale, scale_size
from hpo.scaling.optima import ScalePoint, estimate_point
from hpo.space import Categorical, Config, ParamValue, Space

FORMAT = "hpo.scaling/1"
# A variable whose log is fitted by the kept ones to within this fraction of its own spread
# counts as collinear with them.
COLLINEAR = 1e-6


@dataclass(frozen=True)
class Proposal:
    """Hyperparameters for one scale.

    ``config`` is valid in the space (numbers clipped to the bounds, ints rounded);
    ``estimates`` are the laws' predictions before that, and ``intervals`` their prediction
    intervals at ``level`` (unclipped, in the parameters' units). ``clipped`` names the
    parameters whose estimate lay outside the space. ``extrapolation`` gives, per scale
    variable, how many decades the scale lies outside the range of the fitted points (0
    inside): the further, the more the answer rests on the power law holding."""

    scale: dict[str, float]
    config: Config
    estimates: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    clipped: tuple[str, ...]
    extrapolation: dict[str, float]
    level: float

    def to_json(self) -> dict[str, Any]:
        return {
            "scale": dict(self.scale),
            "config": dict(self.config),
            "estimates": dict(self.estimates),
            "intervals": {name: list(bounds) for name, bounds in self.intervals.items()},
            "clipped": list(self.clipped),
            "extrapolation": dict(self.extrapolation),
            "level": self.level,
        }


@dataclass(frozen=True)
class ScalingFit:
    """Scaling laws of a family of studies over ``space``.

    ``variables``: every scale variable seen; ``dropped``: those no law may use, with the
    reason; ``laws``: one per numeric parameter; ``choices``: the categorical parameters'
    choices; ``points``: the scale points, smallest first; ``level``: of every interval;
    ``notes``: what a reader should know about the fit, as sentences."""

    space: Space
    variables: tuple[str, ...]
    laws: dict[str, ParameterLaw]
    choices: dict[str, ParamValue]
    points: list[ScalePoint]
    level: float
    dropped: dict[str, str]
    notes: tuple[str, ...]

    def propose(self, scale: Mapping[str, float]) -> Proposal:
        """The configuration the laws predict at ``scale``, which must give every variable in
        ``variables`` (others are ignored)."""
        target: dict[str, float] = {}
        for name in self.variables:
            size = scale.get(name)
            if size is None:
                raise ScalingError(
                    f"the scale must give {', '.join(self.variables)}; {name!r} is missing"
                )
            target[name] = scale_size(name, size)
        config: Config = {}
        estimates: dict[str, float] = {}
        intervals: dict[str, tuple[float, float]] = {}
        clipped: list[str] = []
        for name, parameter in self.space.items():
            if isinstance(parameter, Categorical):
                config[name] = self.choices[name]
                continue
            estimate, lower, upper = self.laws[name].predict(target)
            estimates[name], intervals[name] = estimate, (lower, upper)
            if not parameter.low <= estimate <= parameter.high:
                clipped.append(name)
            config[name] = clip(parameter, estimate)
        return Proposal(
            scale=target,
            config=config,
            estimates=estimates,
            intervals=intervals,
            clipped=tuple(clipped),
            extrapolation={name: self._decades_outside(name, target[name]) for name in target},
            level=self.level,
        )

    def _decades_outside(self, name: str, size: float) -> float:
        sizes = [point.scale[name] for point in self.points]
        below, above = math.log10(min(sizes) / size), math.log10(size / max(sizes))
        return max(below, above, 0.0)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form: plain dicts, lists, strings and finite numbers."""
        return {
            "format": FORMAT,
            "level": self.level,
            "space": self.space.to_json(),
            "variables": list(self.variables),
            "dropped": dict(self.dropped),
            "notes": list(self.notes),
            "laws": {name: law.to_json() for name, law in self.laws.items()},
            "choices": dict(self.choices),
            "points": [point.to_json() for point in self.points],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], space: Space | None = None) -> ScalingFit:
        """Read :meth:`to_json`'s form back; ``space`` replaces the stored one when given."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ScalingError(f"not a scaling fit: expected an object with format {FORMAT!r}")
        try:
            return cls(
                space=space if space is not None else Space.from_json(data["space"]),
                variables=tuple(str(name) for name in data["variables"]),
                laws={str(k): ParameterLaw.from_json(v) for k, v in data["laws"].items()},
                choices=dict(data["choices"]),
                points=[ScalePoint.from_json(point) for point in data["points"]],
                level=float(data["level"]),
                dropped={str(k): str(v) for k, v in data["dropped"].items()},
                notes=tuple(str(note) for note in data["notes"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ScalingError(f"malformed scaling fit: {error!r}") from None


def _usable_variables(
    variables: Sequence[str], points: Sequence[ScalePoint]
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The log scale of each variable a law may use, and why the others are dropped."""
    kept: dict[str, np.ndarray] = {}
    dropped: dict[str, str] = {}
    for name in variables:
        logs = np.log([point.scale[name] for point in points])
        if np.ptp(logs) == 0:
            dropped[name] = f"constant: every scale point has {name}={points[0].scale[name]:g}"
            continue
        basis = np.column_stack([np.ones(len(points)), *kept.values()])
        residual = logs - basis @ np.linalg.lstsq(basis, logs, rcond=None)[0]
        if np.linalg.norm(residual) <= COLLINEAR * np.linalg.norm(logs - logs.mean()):
            dropped[name] = (
                f"collinear: across the scale points log {name} is a linear function of "
                f"log {', '.join(kept)}, so their effects cannot be told apart; the kept "
                "exponents carry both"
            )
            continue
        kept[name] = logs
    return kept, dropped


def _common_choice(
    name: str, parameter: Categorical, points: Sequence[ScalePoint], variables: Sequence[str]
) -> ParamValue:
    """The choice optimal at the most points, ties to the larger scale (see the module)."""
    chosen = [int(np.argmax(parameter.encode(point.optimum[name]))) for point in points]
    counts = np.bincount(chosen, minlength=len(parameter.choices))
    tied = set(np.flatnonzero(counts == counts.max()))
    sizes = [sum(math.log(point.scale[v]) for v in variables) for point in points]
    by_size = sorted(range(len(points)), key=lambda i: sizes[i], reverse=True)
    return parameter.choices[next(chosen[i] for i in by_size if chosen[i] in tied)]


def fit_scaling(
    space: Space,
    observations: Sequence[Observation],
    *,
    level: float = 0.9,
    select_variables: bool = True,
) -> ScalingFit:
    """Fit the scaling laws of ``space``'s parameters to ``observations`` (results of a
    family of studies at two or more distinct scales); every interval is at ``level``.
    ``select_variables``: let each law drop scale variables that do not help it predict
    (:mod:`hpo.scaling.laws`). Raises :class:`ScalingError` when the observations cannot
    support a fit."""
    if not 0 < level < 1:
        raise ScalingError(f"level must lie strictly between 0 and 1, got {level}")
    variables, groups = group_by_scale(space, observations)
    points = [estimate_point(space, group, seed=index) for index, group in enumerate(groups)]
    logs, dropped = _usable_variables(variables, points)
    laws = {
        name: fit_law(
            name,
            uses_log(parameter),
            np.array([to_coordinate(parameter, p.estimates[name]) for p in points]),
            [p.spread[name] for p in points],
            logs,
            level,
            select_variables,
        )
        for name, parameter in space.items()
        if not isinstance(parameter, Categorical)
    }
    notes = [f"{name} is not used: {reason}" for name, reason in dropped.items()]
    if len(points) == 2:
        notes.append(
            "only 2 scale points: every law is a constant; an exponent needs 3 (2 to fit, "
            "1 to judge the fit)"
        )
    return ScalingFit(
        space=space,
        variables=variables,
        laws=laws,
        choices={
            name: _common_choice(name, parameter, points, variables)
            for name, parameter in space.items()
            if isinstance(parameter, Categorical)
        },
        points=points,
        level=level,
        dropped=dropped,
        notes=tuple(notes),
    )
