"""Results of a family of studies, checked and grouped by the scale they were run at.

A family is tuned at several small scales (each study declares scale variables such as
``n_params`` and ``n_tokens``); every completed result becomes an :class:`Observation`.
Results at exactly the same scale form one scale point, whose optimum
:mod:`hpo.scaling.optima` estimates. Grouping puts everything in a canonical order, so a fit
does not depend on the order the store returned the results in.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hpo.errors import FailedPreconditionError, InvalidArgumentError
from hpo.scaling.coordinates import uses_log
from hpo.space import Categorical, Config, Space


class ScalingError(FailedPreconditionError, ValueError):
    """The results cannot support a scaling fit (too few scales, inconsistent variables...).
    A service call that fits answers FAILED_PRECONDITION: the request is fine, the family's
    results are not (yet) enough."""


@dataclass(frozen=True)
class Observation:
    """One result: the scale it was run at (every variable > 0), its configuration and its
    signed value at full resource (lower is better), and the study it came from."""

    scale: Mapping[str, float]
    config: Config
    value: float
    study: str = ""


@dataclass(frozen=True)
class Group:
    """The results at one scale, best first (ties in a fixed order)."""

    scale: dict[str, float]
    observations: tuple[Observation, ...]


def _where(observation: Observation) -> str:
    return (
        f"an observation of study {observation.study!r}" if observation.study else "an observation"
    )


def scale_size(name: str, size: object, where: str = "") -> float:
    """``size`` as a float; :class:`ScalingError` (prefixed by ``where``) unless it is a
    finite number > 0, the only sizes a power law can take the log of."""
    if isinstance(size, bool) or not isinstance(size, numbers.Real):
        raise ScalingError(f"{where}scale {name} must be a number > 0, got {size!r}")
    if not (math.isfinite(size) and size > 0):
        raise ScalingError(f"{where}scale {name} must be a number > 0, got {size!r}")
    return float(size)


def scale_variables(observations: Sequence[Observation]) -> tuple[str, ...]:
    """The scale variables every observation must give, sorted by name."""
    names = sorted({name for observation in observations for name in observation.scale})
    if not names:
        raise ScalingError("the observations declare no scale variables (e.g. n_params)")
    for observation in observations:
        missing = [name for name in names if name not in observation.scale]
        if missing:
            raise ScalingError(
                f"{_where(observation)} lacks scale variable {missing[0]!r}; every observation "
                f"must give {', '.join(names)}"
            )
        for name in names:
            scale_size(name, observation.scale[name], f"{_where(observation)}: ")
    return tuple(names)


def _check_config(space: Space, observation: Observation) -> None:
    """Every parameter present; numbers finite (positive on a log coordinate), choices known.
    Numbers outside the space's bounds are accepted: studies of a family may search
    different ranges."""
    for name, parameter in space.items():
        if name not in observation.config:
            raise ScalingError(f"{_where(observation)} lacks parameter {name!r}")
        value = observation.config[name]
        if isinstance(parameter, Categorical):
            try:
                parameter.validate(name, value)
            except InvalidArgumentError as error:
                raise ScalingError(f"{_where(observation)}: {error}") from None
            continue
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise ScalingError(f"{_where(observation)}: {name} must be a number, got {value!r}")
        if not math.isfinite(value) or (uses_log(parameter) and value <= 0):
            raise ScalingError(f"{_where(observation)}: {name} cannot be {value!r}")


def _order(observation: Observation) -> tuple[float, str, str]:
    return (
        observation.value,
        json.dumps(observation.config, sort_keys=True, default=repr),
        observation.study,
    )


def group_by_scale(
    space: Space, observations: Sequence[Observation]
) -> tuple[tuple[str, ...], list[Group]]:
    """The scale variables and one group per distinct scale, smallest scale first.

    Results whose value is not finite (a diverged run reported as inf or NaN) carry no usable
    value for the optimum and are left out. Raises :class:`ScalingError` when fewer than two
    distinct scales remain."""
    usable = [observation for observation in observations if math.isfinite(observation.value)]
    if not usable:
        raise ScalingError(
            "no observations with a finite value: a scaling fit needs results at 2 or more "
            "distinct scales"
        )
    variables = scale_variables(usable)
    for observation in usable:
        _check_config(space, observation)
    grouped: dict[tuple[float, ...], list[Observation]] = {}
    for observation in usable:
        key = tuple(float(observation.scale[name]) for name in variables)
        grouped.setdefault(key, []).append(observation)
    if len(grouped) < 2:
        (key,) = grouped
        where = ", ".join(f"{name}={size:g}" for name, size in zip(variables, key, strict=True))
        raise ScalingError(
            f"all {len(usable)} observations share one scale ({where}): a scaling fit needs "
            "results at 2 or more distinct scales"
        )
    groups = [
        Group(dict(zip(variables, key, strict=True)), tuple(sorted(grouped[key], key=_order)))
        for key in sorted(grouped)
    ]
    return variables, groups
