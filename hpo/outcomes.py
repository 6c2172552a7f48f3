"""What a study optimises and what each report carries: objectives, outcome constraints, the
cost metric, and a report's values checked against them (docs/study-spec.md, "Several
objectives, constraints and cost").

A study has one or more *objectives* (a metric and a direction), optional *outcome
constraints* (``metric <= bound`` or ``metric >= bound`` on a declared metric) and an optional
*cost* metric. The first objective is the *primary* one: its value is what single-metric code
(the ``value`` column, ``GetBest`` of a one-objective study, v1 clients) sees. A study with one
objective and no constraint is a *scalar* study and behaves exactly as before this module; any
other is a *vector* study, whose rungs rank by non-dominated sorting
(:mod:`hpo.pareto`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hpo.errors import InvalidArgumentError
from hpo.pareto import violation
from hpo.validation import (
    MAX_NAME_LENGTH,
    check_count,
    check_text,
    describe,
    enum_member,
    member,
)

# Objectives, extra metrics and constraints a study may declare: each objective is one more
# GP output, and the non-dominated sort of a rung is quadratic in its results, linear in these.
MAX_OBJECTIVES = 8
MAX_METRICS = 32
MAX_CONSTRAINTS = 16


class Direction(str, enum.Enum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


@dataclass(frozen=True)
class Objective:
    metric: str = "value"
    direction: Direction = Direction.MINIMIZE

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "direction", enum_member(Direction, "objective.direction", self.direction)
        )
        check_text("objective.metric", self.metric, MAX_NAME_LENGTH, required=True)

    @property
    def sign(self) -> float:
        """Multiply a value by this to turn the objective into a minimisation."""
        return 1.0 if self.direction is Direction.MINIMIZE else -1.0

    def to_json(self) -> dict[str, str]:
        return {"metric": self.metric, "direction": self.direction.value}


class ConstraintOp(str, enum.Enum):
    AT_MOST = "<="
    AT_LEAST = ">="


@dataclass(frozen=True)
class Constraint:
    """A result is feasible when ``metric op bound`` holds (``latency_ms <= 40``)."""

    metric: str
    op: ConstraintOp
    bound: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "op", enum_member(ConstraintOp, "constraint.op", self.op))
        check_text("constraint.metric", self.metric, MAX_NAME_LENGTH, required=True)
        if isinstance(self.bound, bool) or not isinstance(self.bound, (int, float)):
            raise InvalidArgumentError("constraint.bound", f"must be a number, got {self.bound!r}")
        if not math.isfinite(self.bound):
            raise InvalidArgumentError("constraint.bound", "must be finite")
        object.__setattr__(self, "bound", float(self.bound))

    @property
    def upper(self) -> bool:
        return self.op is ConstraintOp.AT_MOST

    def to_json(self) -> dict[str, object]:
        return {"metric": self.metric, "op": self.op.value, "bound": self.bound}


class CostSource(str, enum.Enum):
    # The worker reports the cost so far as a metric (GPU-hours, dollars...).
    METRIC = "metric"
    # The coordinator measures it: the seconds between handing out each assignment and the
    # trial's reports, summed over its assignments (metric "wall_time").
    WALL_TIME = "wall_time"
    # The resource the trial has trained (its report's resource: epochs, steps...).
    RESOURCE = "resource"


WALL_TIME_METRIC = "wall_time"
RESOURCE_METRIC = "resource"
# The metric each measured source stores its cost as.
MEASURED_METRICS = {CostSource.WALL_TIME: WALL_TIME_METRIC, CostSource.RESOURCE: RESOURCE_METRIC}


@dataclass(frozen=True)
class Cost:
    """What a trial has cost so far; cost-aware search weighs improvement against it."""

    metric: str = ""
    source: CostSource = CostSource.METRIC

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", enum_member(CostSource, "cost.source", self.source))
        measured = MEASURED_METRICS.get(self.source)
        if measured is not None:
            if self.metric not in ("", measured):
                raise InvalidArgumentError(
                    "cost.metric",
                    f"is measured by the coordinator with source {self.source.value}: omit it",
                )
            object.__setattr__(self, "metric", measured)
        else:
            check_text("cost.metric", self.metric, MAX_NAME_LENGTH, required=True)

    @property
    def reported(self) -> bool:
        """Whether every report must carry the cost metric (it is not measured here)."""
        return self.source is CostSource.METRIC

    def to_json(self) -> dict[str, str]:
        if not self.reported:
            return {"source": self.source.value}
        return {"metric": self.metric}


@dataclass(frozen=True)
class Outcome:
    """A report's values: the primary objective's ``value``, and every metric it carried
    (empty for a scalar study's plain-number report)."""

    value: float
    metrics: Mapping[str, float]


def check_metric_value(field: str, value: object) -> float:
    """A reported value: a finite number (NaN and inf are refused, as for ``value``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgumentError(field, f"must be a number, got {describe(value)}")
    if not math.isfinite(value):
        raise InvalidArgumentError(field, f"must be finite, got {value}")
    return float(value)


def outcome_of(
    objectives: tuple[Objective, ...],
    required: tuple[str, ...],
    value: float | None,
    metrics: Mapping[str, object] | None,
) -> Outcome:
    """A report checked against the study's metrics.

    ``required`` are the metrics every report names (objectives, declared metrics, a reported
    cost). A scalar study also takes a bare ``value`` (the v1 form); given both, they must
    agree. An unknown or missing metric is refused by name, and so is any non-finite value.
    """
    primary = objectives[0].metric
    check_count("metrics", metrics or {}, MAX_OBJECTIVES + MAX_METRICS + 1)
    if not metrics:
        if value is None:
            raise InvalidArgumentError("metrics", f"must name {', '.join(required)}")
        if len(required) > 1:
            missing = next(name for name in required if name != primary)
            raise InvalidArgumentError(member("metrics", missing), "is missing from the report")
        return Outcome(check_metric_value("value", value), {})
    checked = {}
    for name, reported in metrics.items():
        field = member("metrics", name)
        if name not in required:
            raise InvalidArgumentError(field, "is not a metric of this study")
        checked[name] = check_metric_value(field, reported)
    for name in required:
        if name not in checked:
            raise InvalidArgumentError(member("metrics", name), "is missing from the report")
    if value is not None and check_metric_value("value", value) != checked[primary]:
        raise InvalidArgumentError(
            "value", f"disagrees with metrics[{primary!r}]; send the metrics alone"
        )
    return Outcome(checked[primary], checked)


def signed_objectives(
    objectives: tuple[Objective, ...], metrics: Mapping[str, float]
) -> np.ndarray:
    """The objective vector of one result, each signed so lower is better."""
    return np.array([metrics[objective.metric] * objective.sign for objective in objectives])


def constraint_slack(
    constraints: tuple[Constraint, ...], metrics: Mapping[str, float]
) -> np.ndarray:
    """How far each constraint is from its bound in one result, scaled by the bound as
    :func:`hpo.pareto.violation` scales it: positive where violated, <= 0 where it holds."""
    return np.array(
        [
            (metrics[c.metric] - c.bound if c.upper else c.bound - metrics[c.metric])
            / max(abs(c.bound), 1.0)
            for c in constraints
        ],
        dtype=float,
    )


def violations(
    constraints: tuple[Constraint, ...], results: Sequence[Mapping[str, float]]
) -> np.ndarray:
    """Each result's total constraint violation (:func:`hpo.pareto.violation`): 0 where
    every constraint holds."""
    values = np.array(
        [[metrics[constraint.metric] for constraint in constraints] for metrics in results],
        dtype=float,
    ).reshape(len(results), len(constraints))
    bounds = np.array([constraint.bound for constraint in constraints])
    upper = np.array([constraint.upper for constraint in constraints], dtype=bool)
    return violation(values, bounds, upper)
