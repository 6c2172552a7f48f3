"""``hpo study front`` and ``hpo study best --max-cost`` against a real coordinator on a
loopback port, over the study of tests/pareto_study.py; and ``hpo study export`` of its
metrics, which must be the dashboard's download."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner, Result

import hpo
from hpo.cli import app as cli
from hpo.client import Client, ParetoTrial, Study
from hpo.coordinator.server import start_coordinator
from hpo.dashboard.app import create_app
from tests.pareto_study import NAME, fill

METRICS = ["loss", "accuracy", "latency_ms", "gpu_hours"]
runner = CliRunner()


@dataclass
class Filled:
    address: str
    study: Study
    url: str


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    url = f"sqlite:///{tmp_path_factory.mktemp('front') / 'hpo.db'}"
    coordinator = start_coordinator(url, "127.0.0.1", 0, lease_seconds=600)
    try:
        with Client(coordinator.address, timeout=30) as client:
            study = fill(client)
            client.create_study("empty", {"x": hpo.Float(0, 1)}, r_min=1, r_max=1)
            yield Filled(coordinator.address, study, url)
    finally:
        coordinator.stop(grace=1)


def hpo_study(filled: Filled, *arguments: str) -> Result:
    return runner.invoke(cli, ["study", *arguments, "--coordinator", filled.address])


def as_json(entry: ParetoTrial) -> dict[str, object]:
    return {
        "trial": entry.trial.number,
        "state": entry.trial.state.value,
        "resource": entry.resource,
        "metrics": {metric: entry.metrics[metric] for metric in METRICS},
        "feasible": entry.feasible,
        "config": {"x": entry.config["x"], "y": entry.config["y"]},
    }


def test_the_front_as_json_csv_and_a_table(filled: Filled) -> None:
    front = filled.study.pareto_front()
    assert len(front) > 1

    result = hpo_study(filled, "front", NAME, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [as_json(entry) for entry in front]

    result = hpo_study(filled, "front", NAME, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == [
        "trial",
        "state",
        "resource",
        *(f"metrics.{metric}" for metric in METRICS),
        "feasible",
        "config.x",
        "config.y",
    ]
    assert [int(row["trial"]) for row in rows] == [entry.trial.number for entry in front]
    for row, entry in zip(rows, front, strict=True):
        assert {m: float(row[f"metrics.{m}"]) for m in METRICS} == entry.metrics
        assert float(row["config.x"]) == entry.config["x"] and row["feasible"] == "True"

    result = runner.invoke(
        cli,
        ["study", "front", NAME, "--coordinator", filled.address],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"Pareto front of {NAME}" in lines[0]
    header = next(line for line in lines if "loss" in line)
    assert all(column in header for column in ("#", "state", "epochs", *METRICS, "feasible"))
    rows = [line.split("│")[1:-1] for line in lines if line.startswith("│")]
    assert [int(row[0]) for row in rows] == [entry.trial.number for entry in front]
    for row, entry in zip(rows, front, strict=True):
        assert row[4].strip() == f"{entry.metrics['accuracy']:.6g}" and row[-2].strip() == "yes"


def test_max_cost_keeps_the_results_within_the_budget(filled: Filled) -> None:
    budget = sorted(entry.metrics["gpu_hours"] for entry in filled.study.pareto_front())[1]
    within = filled.study.pareto_front(max_cost=budget)
    assert within and all(entry.metrics["gpu_hours"] <= budget for entry in within)
    result = hpo_study(filled, "front", NAME, "--max-cost", str(budget), "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [as_json(entry) for entry in within]

    best = filled.study.best(max_cost=budget)
    assert best is not None and best.trial.number in {entry.trial.number for entry in within}
    result = hpo_study(filled, "best", NAME, "--max-cost", str(budget), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "trial": best.trial.number,
        "value": best.value,
        "resource": best.resource,
        "config": best.config,
    }


def test_nothing_to_show_is_an_error(filled: Filled) -> None:
    result = hpo_study(filled, "front", "empty")
    assert result.exit_code == 1
    assert "no result at any rung yet" in result.stderr
    result = hpo_study(filled, "front", NAME, "--max-cost", "0.01")
    assert result.exit_code == 1
    assert "no result at any rung within --max-cost 0.01 yet" in result.stderr
    # A budget needs a cost metric: the coordinator's refusal names the field.
    result = hpo_study(filled, "best", "empty", "--max-cost", "1")
    assert result.exit_code != 0
    assert "max_cost" in str(result.exception)


def test_study_export_writes_the_dashboards_download_with_the_metrics(filled: Filled) -> None:
    with TestClient(create_app(filled.url, anonymous=True, warm_up_studies=0)) as api:
        for export_format in ("csv", "json"):
            for table in ("trials", "reports"):
                result = hpo_study(
                    filled, "export", NAME, "--format", export_format, "--table", table
                )
                assert result.exit_code == 0, result.output
                page = api.get(f"/api/studies/{NAME}/export?format={export_format}&table={table}")
                assert result.stdout == page.text, (export_format, table)
                assert "gpu_hours" in page.text
