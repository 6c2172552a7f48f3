"""Several objectives, declared metrics, constraints and cost in the spec, and a report's
values checked against them (hpo.outcomes, docs/study-spec.md)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from hpo.errors import InvalidArgumentError
from hpo.local import LocalAssignment, LocalStudy
from hpo.outcomes import Constraint, ConstraintOp, Cost, CostSource, Objective, outcome_of
from hpo.space import Float, Space
from hpo.spec import Resource, StudySpec
from hpo.wire import spec_from_proto, spec_to_proto


def spec(**fields: Any) -> StudySpec:
    return StudySpec(
        name="mo",
        space=Space({"x": Float(0, 1)}),
        resource=Resource(1, 9),
        **fields,  # type: ignore[arg-type]
    )


TWO = {
    "objectives": [{"metric": "loss"}, {"metric": "latency_ms", "direction": "minimize"}],
    "metrics": ["memory_gb"],
    "constraints": [{"metric": "memory_gb", "op": "<=", "bound": 40}],
    "cost": {"metric": "gpu_hours"},
}


def test_a_single_objective_spec_keeps_its_stored_form() -> None:
    plain = spec()
    assert plain.objectives == (plain.objective,)
    assert "objectives" not in plain.to_json() and not plain.is_vector
    assert plain.reported_metrics == ("value",)


def test_several_objectives_round_trip_through_json_and_the_wire() -> None:
    study = spec(**TWO)
    assert study.objective == Objective("loss") and study.is_vector
    assert study.reported_metrics == ("loss", "latency_ms", "memory_gb", "gpu_hours")
    assert study.constraints == (Constraint("memory_gb", ConstraintOp.AT_MOST, 40.0),)
    assert StudySpec.from_json(study.to_json()) == study
    assert spec_from_proto(spec_to_proto(study)) == study
    # A v1 reader of the wire sees the primary objective.
    assert spec_to_proto(study).objective.metric == "loss"


def test_a_resource_cost_is_each_reports_resource() -> None:
    study = spec(cost={"source": "resource"}, algorithm="asha")
    assert study.cost == Cost(source=CostSource.RESOURCE) and study.cost.metric == "resource"
    assert StudySpec.from_json(study.to_json()) == study
    assert spec_from_proto(spec_to_proto(study)) == study
    local = LocalStudy(study)
    job = local.suggest("w")
    assert isinstance(job, LocalAssignment)
    local.report(job.number, job.resource, 0.5)
    assert local.state.metrics(job.number, 0) == {"resource": job.resource}
    with pytest.raises(InvalidArgumentError) as raised:
        spec(cost={"source": "resource"}, metrics=["resource"])
    assert raised.value.field == "cost.source"


def test_wall_time_cost_is_measured_not_reported() -> None:
    study = spec(cost={"source": "wall_time"})
    assert study.cost == Cost(source=CostSource.WALL_TIME)
    assert study.cost.metric == "wall_time" and study.reported_metrics == ("value",)
    assert StudySpec.from_json(study.to_json()) == study


M_AT_MOST = {"metric": "m", "op": "<="}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        (
            {"constraints": [{"metric": "memory_gb", "op": "<=", "bound": 1}]},
            "constraints[0].metric",
        ),
        (
            {"objectives": [{"metric": "a"}, {"metric": "b", "direction": "up"}]},
            "objectives[1].direction",
        ),
        ({"objectives": [{"metric": "a"}, {"metric": "a"}]}, "objectives[1].metric"),
        (
            {"metrics": ["m"], "constraints": [{"metric": "m", "op": "<", "bound": 1}]},
            "constraints[0].op",
        ),
        (
            {"metrics": ["m"], "constraints": [{**M_AT_MOST, "bound": math.nan}]},
            "constraints[0].bound",
        ),
        ({"metrics": ["m"], "constraints": [M_AT_MOST]}, "constraints[0].bound"),
        ({"cost": {"metric": "value"}}, "cost.metric"),
        ({"cost": {"source": "wall_time", "metric": "x"}}, "cost.metric"),
        ({"metrics": ["value"]}, "metrics[0]"),
        ({"objective": {"metric": "a"}, "objectives": [{"metric": "b"}]}, "objective"),
    ],
)
def test_a_bad_spec_names_the_field(fields: dict[str, Any], field: str) -> None:
    data = {**spec().to_json(), **fields}
    if "objectives" in fields and "objective" not in fields:
        del data["objective"]
    with pytest.raises(InvalidArgumentError) as raised:
        StudySpec.from_json(data)
    assert raised.value.field == field


OBJECTIVES = (Objective("loss"), Objective("acc", "maximize"))
REQUIRED = ("loss", "acc", "memory_gb")


def test_a_report_names_every_metric() -> None:
    outcome = outcome_of(OBJECTIVES, REQUIRED, None, {"loss": 0.5, "acc": 0.9, "memory_gb": 3})
    assert outcome.value == 0.5 and outcome.metrics["memory_gb"] == 3.0


@pytest.mark.parametrize(
    ("value", "metrics", "field"),
    [
        (None, {"loss": 0.5, "acc": 0.9}, "metrics.memory_gb"),
        (None, {"loss": 0.5, "acc": 0.9, "memory_gb": 1, "speed": 2}, "metrics.speed"),
        (None, {"loss": math.nan, "acc": 0.9, "memory_gb": 1}, "metrics.loss"),
        (None, {"loss": 0.5, "acc": math.inf, "memory_gb": 1}, "metrics.acc"),
        (0.5, None, "metrics.acc"),
        (0.4, {"loss": 0.5, "acc": 0.9, "memory_gb": 1}, "value"),
        (None, None, "metrics"),
    ],
)
def test_a_bad_report_names_the_metric(
    value: float | None, metrics: dict[str, float] | None, field: str
) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        outcome_of(OBJECTIVES, REQUIRED, value, metrics)
    assert raised.value.field == field


def test_a_scalar_study_takes_a_bare_value_or_its_one_metric() -> None:
    assert outcome_of((Objective(),), ("value",), 0.25, None).value == 0.25
    assert outcome_of((Objective(),), ("value",), None, {"value": 0.25}).metrics == {"value": 0.25}
