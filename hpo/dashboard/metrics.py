"""What the dashboard and the CLI show of a study's outcomes beyond its one value: the metrics
a result carries, the Pareto plot's default axes, and the outcome constraints a result breaks
(docs/dashboard.md, "Several objectives, constraints and cost").

A study with one objective and nothing else has results that are one number: for it the
functions here answer "nothing more to show", so that its pages and exports stay as they
were. Light on purpose (the spec only): ``hpo study export`` and ``hpo study front`` import
it on a machine without SQLAlchemy or a web server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpo.outcomes import Constraint, constraint_slack
from hpo.spec import StudySpec


def metric_names(spec: StudySpec) -> tuple[str, ...]:
    """Every metric a result of the study carries, in the order the dashboard lists them:
    objectives, declared metrics, then the cost (a measured ``wall_time`` too, which the
    coordinator adds to each report). Empty for a study whose results are one value."""
    names = list(spec.reported_metrics)
    if spec.cost is not None and spec.cost.metric not in names:
        names.append(spec.cost.metric)
    return tuple(names) if len(names) > 1 else ()


def metric_choices(spec: StudySpec) -> list[dict[str, Any]]:
    """The metrics a page may plot (the Pareto plot's axes, the learning curves' values), each
    with its role (objective, metric, cost) and, for an objective, its direction."""
    directions = {objective.metric: objective.direction.value for objective in spec.objectives}
    cost = spec.cost.metric if spec.cost is not None else None
    return [
        {
            "name": name,
            "role": "objective" if name in directions else "cost" if name == cost else "metric",
            "direction": directions.get(name),
        }
        for name in metric_names(spec)
    ]


def has_front(spec: StudySpec) -> bool:
    """Whether the study's page shows a Pareto front: it has several objectives, outcome
    constraints or a cost, so that its best results are a set, not one trial."""
    return spec.is_vector or spec.cost is not None


def default_axes(spec: StudySpec) -> tuple[str, str] | None:
    """The Pareto plot's axes (x, y) before the viewer chooses: the first two objectives;
    with one objective, the cost (else a constrained metric, else another metric) against it.
    None for a study of one metric, which has nothing to plot against it."""
    objectives = [objective.metric for objective in spec.objectives]
    if len(objectives) > 1:
        return objectives[0], objectives[1]
    cost = [spec.cost.metric] if spec.cost is not None else []
    constrained = [constraint.metric for constraint in spec.constraints]
    others = [name for name in (*cost, *constrained, *metric_names(spec)) if name != objectives[0]]
    return (others[0], objectives[0]) if others else None


def constraint_text(constraint: Constraint) -> str:
    """A constraint as people write it: ``latency_ms <= 40``."""
    return f"{constraint.metric} {constraint.op.value} {constraint.bound:g}"


def broken(spec: StudySpec, metrics: Mapping[str, float]) -> list[int]:
    """The indexes of the constraints a result breaks. A constraint is broken exactly when
    :func:`hpo.pareto.violation` counts it, so the dashboard and the coordinator agree on
    which results are feasible."""
    slack = constraint_slack(spec.constraints, metrics)
    return [index for index, excess in enumerate(slack) if excess > 0]


def violated(spec: StudySpec, metrics: Mapping[str, float] | None) -> list[str] | None:
    """The constraints a trial's last report breaks, as text (empty when it keeps them all);
    None when the study has no constraint or the trial no report with metrics."""
    if not spec.constraints or not metrics:
        return None
    return [constraint_text(spec.constraints[index]) for index in broken(spec, metrics)]
