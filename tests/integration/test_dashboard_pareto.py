"""The dashboard's views of a study with several objectives, a constraint and a cost, over a
real SQLite store filled through a real coordinator (tests/pareto_study.py): the Pareto
figure is the coordinator's GetParetoFront, the constraint counts and infeasible marks are
the constraint's, the learning curves show any metric, and the exports carry the metrics.
A study of one value shows none of it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

import hpo
from hpo.client import Client, Study, TrialRecord
from hpo.coordinator.server import start_coordinator
from hpo.dashboard.app import create_app
from hpo.dashboard.export import TRIAL_FIELDS
from hpo.dashboard.metrics import default_axes, has_front, metric_names
from hpo.dashboard.plans import page_load_plans, scans
from hpo.dashboard.views import load_study
from hpo.dashboard.warmup import FRONT_FIGURES, PAGE_FIGURES
from hpo.spec import StudySpec
from hpo.storage import Store
from tests.pareto_study import LATENCY_BOUND, NAME, fill, spec

SCALAR = "one-value"
INFEASIBLE = "pareto-infeasible"
METRICS = ["loss", "accuracy", "latency_ms", "gpu_hours"]


@dataclass
class World:
    url: str
    study: Study
    infeasible: Study
    api: TestClient

    def get(self, path: str, status: int = 200) -> Any:
        response = self.api.get(f"/api{path}")
        assert response.status_code == status, response.text
        return response.json()

    def records(self) -> list[TrialRecord]:
        return self.study.trials(include_reports=True)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = f"sqlite:///{tmp_path_factory.mktemp('pareto') / 'hpo.db'}"
    coordinator = start_coordinator(url, "127.0.0.1", 0, lease_seconds=600)
    try:
        with Client(coordinator.address, timeout=30) as client:
            study = fill(client)
            infeasible = fill(client, INFEASIBLE, bound=0.0)
            scalar = client.create_study(
                SCALAR, {"x": hpo.Float(0, 1)}, r_min=1, r_max=1, algorithm="random"
            )
            trial = scalar.suggest()
            assert trial is not None
            with trial:
                trial.report(1, 0.5)
            with TestClient(create_app(url, anonymous=True, warm_up_studies=0)) as api:
                yield World(url, study, infeasible, api)
    finally:
        coordinator.stop(grace=1)


def settled(records: list[TrialRecord], rung: int | None = None) -> list[tuple[int, Any]]:
    """(trial number, metrics) of every result that settled a rung (or ``rung``)."""
    return [
        (record.number, report.metrics)
        for record in records
        for report in record.reports
        if report.rung is not None and (rung is None or report.rung == rung)
    ]


def test_the_front_is_the_coordinators(world: World) -> None:
    """Every result at the front's rung is drawn; the front is GetParetoFront's, in its
    order; the feasibility of each point is the constraint's."""
    pareto = world.get(f"/studies/{NAME}/pareto")
    front = world.study.pareto_front()
    assert pareto["front"] == [entry.trial.number for entry in front]
    assert pareto["resource"] == front[0].resource == 3.0 and pareto["rung"] == 1
    assert pareto["feasible"] and all(entry.feasible for entry in front)
    assert pareto["axes"] == ["loss", "accuracy"]
    expected = settled(world.records(), rung=1)
    points = pareto["points"]
    assert sorted((p["number"], p["metrics"]) for p in points) == sorted(
        expected, key=lambda pair: pair[0]
    )
    on_front = {entry.trial.number: entry.metrics for entry in front}
    for point in points:
        assert point["front"] == (point["number"] in on_front)
        assert point["feasible"] == (point["metrics"]["latency_ms"] <= LATENCY_BOUND)
        if point["front"]:
            assert point["metrics"] == on_front[point["number"]]
    # The study exercises every kind of point.
    kinds = {(point["front"], point["feasible"]) for point in points}
    assert kinds == {(True, True), (False, True), (False, False)}


def test_with_no_feasible_result_the_front_is_the_least_infeasible(world: World) -> None:
    pareto = world.get(f"/studies/{INFEASIBLE}/pareto")
    front = world.infeasible.pareto_front()
    assert front and not any(entry.feasible for entry in front)
    assert pareto["front"] == [entry.trial.number for entry in front]
    assert pareto["feasible"] is False and pareto["rung"] == 1
    assert not any(point["feasible"] for point in pareto["points"])
    (constraint,) = pareto["constraints"]
    assert constraint["violated"] == pareto["n_results"]
    assert constraint["violated_at_rung"] == pareto["n_at_rung"]


def test_each_constraint_counts_the_results_that_break_it(world: World) -> None:
    pareto = world.get(f"/studies/{NAME}/pareto")
    everywhere = settled(world.records())
    at_rung = settled(world.records(), rung=pareto["rung"])
    (constraint,) = pareto["constraints"]
    assert constraint == {
        "metric": "latency_ms",
        "op": "<=",
        "bound": LATENCY_BOUND,
        "violated": sum(metrics["latency_ms"] > LATENCY_BOUND for _, metrics in everywhere),
        "violated_at_rung": sum(metrics["latency_ms"] > LATENCY_BOUND for _, metrics in at_rung),
    }
    assert (pareto["n_results"], pareto["n_at_rung"]) == (len(everywhere), len(at_rung))
    assert 0 < constraint["violated_at_rung"] < pareto["n_at_rung"]


def test_the_best_is_getbest_and_the_study_lists_its_metrics(world: World) -> None:
    best = world.study.best()
    assert best is not None
    shown = {"value": best.value, "resource": best.resource, "trial": best.trial.number}
    listed = {study["name"]: study for study in world.get("/studies")["studies"]}
    assert listed[NAME]["best"] == shown
    detail = world.get(f"/studies/{NAME}")["study"]
    assert detail["best"] == shown and detail["has_front"] is True
    assert detail["metrics"] == [
        {"name": "loss", "role": "objective", "direction": "minimize"},
        {"name": "accuracy", "role": "objective", "direction": "maximize"},
        {"name": "latency_ms", "role": "metric", "direction": None},
        {"name": "gpu_hours", "role": "cost", "direction": None},
    ]


def test_the_trial_table_names_the_constraints_a_trial_breaks(world: World) -> None:
    trials = world.get(f"/studies/{NAME}/trials?limit=1000")["trials"]
    records = {record.number: record for record in world.records()}
    assert len(trials) == len(records)
    for trial in trials:
        last = records[trial["number"]].last_metrics
        assert trial["last_metrics"] == last
        broken = last["latency_ms"] > LATENCY_BOUND
        assert trial["violated"] == (["latency_ms <= 25"] if broken else [])
    assert any(trial["violated"] for trial in trials)


def test_the_learning_curves_show_any_metric(world: World) -> None:
    records = {record.number: record for record in world.records()}
    for metric in METRICS:
        curves = world.get(f"/studies/{NAME}/curves?limit=1000&metric={metric}")["curves"]
        assert {curve["number"] for curve in curves} == set(records)
        for curve in curves:
            reports = records[curve["number"]].reports
            assert curve["points"] == [[r.resource, r.metrics[metric]] for r in reports]
    default = world.get(f"/studies/{NAME}/curves?limit=1000")["curves"]
    assert all(
        curve["points"] == [[r.resource, r.value] for r in records[curve["number"]].reports]
        for curve in default
    )
    refused = world.get(f"/studies/{NAME}/curves?metric=latency", status=400)
    assert (
        refused["field"] == "metric" and "loss, accuracy, latency_ms, gpu_hours" in refused["error"]
    )
    one_value = world.get(f"/studies/{SCALAR}/curves?metric=value", status=400)
    assert "one value" in one_value["error"]


def test_exports_carry_each_trials_metrics(world: World) -> None:
    records = world.records()
    text = world.api.get(f"/api/studies/{NAME}/export?format=csv&table=trials").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0])[-len(METRICS) :] == [f"metrics.{name}" for name in METRICS]
    for row, record in zip(rows, records, strict=True):
        assert {name: float(row[f"metrics.{name}"]) for name in METRICS} == record.last_metrics
    trials = world.api.get(f"/api/studies/{NAME}/export?format=json").json()
    assert [trial["metrics"] for trial in trials] == [
        {name: record.last_metrics[name] for name in METRICS} for record in records
    ]
    assert [list(trial["metrics"]) for trial in trials] == [METRICS] * len(records)
    reports = world.api.get(f"/api/studies/{NAME}/export?format=json&table=reports").json()
    assert [report["metrics"] for report in reports] == [
        dict(report.metrics) for record in records for report in record.reports
    ]
    reports_csv = world.api.get(f"/api/studies/{NAME}/export?table=reports").text
    header = next(csv.reader(io.StringIO(reports_csv)))
    assert header[-len(METRICS) :] == [f"metrics.{name}" for name in METRICS]


def test_a_study_of_one_value_shows_no_metrics(world: World) -> None:
    detail = world.get(f"/studies/{SCALAR}")["study"]
    assert (detail["metrics"], detail["has_front"]) == ([], False)
    (trial,) = world.get(f"/studies/{SCALAR}/trials")["trials"]
    assert (trial["last_metrics"], trial["violated"]) == (None, None)
    header = world.api.get(f"/api/studies/{SCALAR}/export").text.splitlines()[0]
    assert header.split(",") == [*TRIAL_FIELDS, "config.x"]
    assert "metrics" not in world.api.get(f"/api/studies/{SCALAR}/export?format=json").json()[0]
    # Its front is its best result, and there is nothing to plot it against.
    pareto = world.get(f"/studies/{SCALAR}/pareto")
    assert (pareto["axes"], pareto["front"], pareto["constraints"]) == (None, [0], [])


def test_default_axes() -> None:
    """Two objectives: the first two; one objective and a cost: the cost against it, a
    measured one too."""
    assert default_axes(spec()) == ("loss", "accuracy")
    one = {**spec().to_json(), "objectives": [{"metric": "loss"}], "constraints": []}
    with_cost = StudySpec.from_json(one)
    assert has_front(with_cost) and not with_cost.is_vector
    assert default_axes(with_cost) == ("gpu_hours", "loss")
    measured = StudySpec.from_json({**one, "metrics": [], "cost": {"source": "wall_time"}})
    assert metric_names(measured) == ("loss", "wall_time")
    assert default_axes(measured) == ("wall_time", "loss")


def test_the_fronts_figure_is_prepared_at_start(world: World) -> None:
    """The warm-up prepares the Pareto figure of a study that has a front, and only then."""
    with TestClient(create_app(world.url, anonymous=True, warm_up_studies=3)) as api:
        assert api.app.state.preparer.done.wait(60)
        cache = api.app.state.cache
        with api.app.state.engine.connect() as connection:
            study, scalar = (load_study(connection, name) for name in (NAME, SCALAR))
        for name, *arguments in PAGE_FIGURES + FRONT_FIGURES:
            assert ((study.id, name, *arguments), study.row.version) in cache, name
        assert ((scalar.id, "history", *PAGE_FIGURES[0][1:]), scalar.row.version) in cache
        assert ((scalar.id, "pareto"), scalar.row.version) not in cache


def test_the_front_and_a_metrics_curves_read_the_big_tables_through_indexes(
    world: World,
) -> None:
    store = Store(world.url)
    try:
        plans = page_load_plans(store, NAME, ("/pareto", "/curves?metric=accuracy"))
    finally:
        store.dispose()
    assert {plan.call for plan in plans} == {"/pareto", "/curves?metric=accuracy"}
    assert scans(plans, ("reports", "trials")) == []
