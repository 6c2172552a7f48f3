"""Several objectives, a constraint and a cost over the real coordinator, on SQLite and
PostgreSQL: reports carry every metric and are stored with them, a restarted coordinator ranks
the rungs as the one before it, and GetParetoFront / GetBest answer the feasible front and the
best within a cost budget (docs/study-spec.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from hpo.client import Client, Study
from hpo.coordinator.server import Coordinator, start_coordinator
from hpo.errors import InvalidArgumentError
from hpo.samplers.model_input import MIN_RESULTS
from hpo.space import Float
from tests.local_runs import seed_giving_model

SPACE = {"x": Float(0, 1), "y": Float(0, 1)}
OBJECTIVES = [{"metric": "loss"}, {"metric": "latency_ms"}]
CONSTRAINTS = [{"metric": "memory_gb", "op": "<=", "bound": 40}]
# The longest a background fit may take here (a loaded 2-core machine).
FIT_SECONDS = 120


def metrics(config: dict[str, Any], resource: float) -> dict[str, float]:
    x, y = config["x"], config["y"]
    return {
        "loss": (1 - x) * (1 + 1 / resource) + 0.1 * y,
        "latency_ms": 10 + 50 * x,
        "memory_gb": 80 * y,
        "gpu_hours": resource * (1 + 9 * x),
    }


def train(
    study: Study,
    assignments: int,
    result: Callable[[dict[str, Any], float], float | dict[str, float]] = metrics,
) -> None:
    """One worker: each assignment trained rung by rung, reporting ``result`` there."""
    for _ in range(assignments):
        trial = study.suggest()
        if trial is None:
            return
        for level in (1, 3, 9):
            if trial.resume_from < level <= trial.resource:
                decision = trial.report(level, result(trial.config, level))
                if decision.should_stop:
                    break
        trial.complete()


def dominated(a: dict[str, float], b: dict[str, float]) -> bool:
    """Whether ``b`` dominates ``a`` (both objectives minimised)."""
    keys = ("loss", "latency_ms")
    return all(b[k] <= a[k] for k in keys) and any(b[k] < a[k] for k in keys)


def test_a_constrained_two_objective_study_is_stored_resumed_and_answered(store_url: str) -> None:
    running = start_coordinator(store_url, "127.0.0.1", 0, lease_seconds=30)
    with Client(running.address, timeout=20) as client:
        study = client.create_study(
            "pareto",
            SPACE,
            r_min=1,
            r_max=9,
            algorithm="asha",
            objectives=OBJECTIVES,
            metrics=["memory_gb"],
            constraints=CONSTRAINTS,
            cost={"metric": "gpu_hours"},
        )
        train(study, 25)
        before = {record.number: record.rung for record in study.trials()}
    running.stop(grace=1)

    engine = sa.create_engine(store_url)
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT value, metrics FROM reports")).all()
    engine.dispose()
    assert stored and all(row.metrics is not None for row in stored)
    assert all(row.value == _json(row.metrics)["loss"] for row in stored)

    # A restarted coordinator decides from the store: the next promotions continue.
    running = start_coordinator(store_url, "127.0.0.1", 0, lease_seconds=30)
    try:
        with Client(running.address, timeout=20) as client:
            study = client.get_study("pareto")
            assert {record.number: record.rung for record in study.trials()} == before
            train(study, 25)
            front = study.pareto_front()
            assert front and all(entry.feasible for entry in front)
            assert all(entry.metrics["memory_gb"] <= 40 for entry in front)
            for entry in front:
                assert not any(dominated(entry.metrics, other.metrics) for other in front)
            best = study.best()
            assert best is not None and best.value == min(e.metrics["loss"] for e in front)
            budget = sorted(entry.metrics["gpu_hours"] for entry in front)[0] + 1e-9
            within = study.pareto_front(max_cost=budget)
            assert within and all(entry.metrics["gpu_hours"] <= budget for entry in within)
            cheap = study.best(max_cost=budget)
            assert cheap is not None
            assert cheap.value == min(entry.metrics["loss"] for entry in within)
            with pytest.raises(InvalidArgumentError, match="^metrics.memory_gb: is missing"):
                trial = study.suggest()
                assert trial is not None
                trial.report(trial.resource, {"loss": 1.0, "latency_ms": 2.0, "gpu_hours": 1.0})
    finally:
        running.stop(grace=1)


def test_a_wall_time_cost_is_measured_by_the_coordinator(sqlite_url: str) -> None:
    running = start_coordinator(sqlite_url, "127.0.0.1", 0, lease_seconds=30)
    try:
        with Client(running.address, timeout=20) as client:
            study = client.create_study(
                "timed", SPACE, r_min=1, r_max=9, algorithm="asha", cost={"source": "wall_time"}
            )
            trial = study.suggest()
            assert trial is not None
            trial.report(1, 0.5)
            trial.complete()
            record = next(r for r in study.trials(include_reports=True) if r.number == 0)
            assert record.reports[0].metrics["wall_time"] >= 0
            assert record.last_metrics["wall_time"] == record.reports[0].metrics["wall_time"]
            within = study.best(max_cost=record.last_metrics["wall_time"])
            assert within is not None and within.value == 0.5
            with pytest.raises(InvalidArgumentError, match="^max_cost: must be a finite"):
                study.best(max_cost=float("nan"))
    finally:
        running.stop(grace=1)


def test_a_resource_cost_answers_the_best_within_a_resource_budget(client: Client) -> None:
    study = client.create_study(
        "by-resource", SPACE, r_min=1, r_max=9, algorithm="asha", cost={"source": "resource"}
    )
    train(study, 30, lambda config, level: metrics(config, level)["loss"])
    best, cheap = study.best(), study.best(max_cost=3)
    assert best is not None and cheap is not None
    assert best.resource == 9 and cheap.resource == 3
    at_three = [
        report.value
        for record in study.trials(include_reports=True)
        for report in record.reports
        if report.resource == 3 and report.rung is not None
    ]
    assert cheap.value == min(at_three)
    assert all(
        report.metrics["resource"] == report.resource
        for record in study.trials(include_reports=True)
        for report in record.reports
    )


def test_a_cost_budget_needs_a_cost_metric(client: Client) -> None:
    study = client.create_study("plain", SPACE, r_min=1, r_max=9, algorithm="asha")
    with pytest.raises(InvalidArgumentError, match="^max_cost: the study has no cost metric"):
        study.best(max_cost=3)


def _json(value: Any) -> dict[str, float]:
    """A JSON column as read back: text on SQLite, already decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else dict(value)


def test_the_background_model_fits_a_constrained_two_objective_study_with_cost(
    coordinator: Coordinator, client: Client
) -> None:
    """The coordinator's model process fits the scalarised objectives, the constraint and the
    cost, and new trials take its candidates, as for one objective."""
    study = client.create_study(
        "pareto-gp",
        SPACE,
        r_min=1,
        r_max=1,
        objectives=OBJECTIVES,
        metrics=["memory_gb"],
        constraints=CONSTRAINTS,
        cost={"metric": "gpu_hours"},
        seed=seed_giving_model(MIN_RESULTS),
    )
    for _ in range(MIN_RESULTS):
        with study.suggest() as trial:
            assert trial.record.source == "random"
            trial.report(1, metrics(trial.config, 1))
    assert coordinator.models.wait_idle(FIT_SECONDS)
    with study.suggest() as trial:
        assert trial.record.source == "model"
        trial.report(1, metrics(trial.config, 1))
