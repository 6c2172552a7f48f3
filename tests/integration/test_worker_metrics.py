"""The worker daemon with several metrics per report, against a real coordinator: function
mode (``hpo.report`` with a mapping), commands on the report pipe and on stdout (both line
forms), and reports the coordinator refuses, which fail their trial, not the worker."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import hpo
from hpo.client import Client
from hpo.coordinator.server import Coordinator
from hpo.space import Float, Int
from hpo.workers import Worker
from tests.conftest import table_rows
from tests.e2e.train_metrics import metrics_at

SCRIPT = Path(__file__).resolve().parents[1] / "e2e" / "train_metrics.py"
SPACE = {"x": Float(-2, 3), "units": Int(8, 256, log=True)}
METRICS = ("loss", "latency_ms", "memory_gb")
StoredReports = set[tuple[int, float, tuple[tuple[str, float], ...]]]


@pytest.fixture
def study_name(client: Client) -> str:
    """Two objectives and a constraint on a third metric; 6 trials, rungs at 1, 3 and 9."""
    client.create_study(
        "mo",
        SPACE,
        r_min=1,
        r_max=9,
        eta=3,
        algorithm="asha",
        max_trials=6,
        seed=3,
        objectives=[
            {"metric": "loss", "direction": "minimize"},
            {"metric": "latency_ms", "direction": "minimize"},
        ],
        metrics=["memory_gb"],
        constraints=[{"metric": "memory_gb", "op": "<=", "bound": 40}],
    )
    return "mo"


def stored_reports(client: Client, study: str) -> StoredReports:
    """Every stored report as (trial number, resource, its metrics sorted by name)."""
    trials = client.get_study(study).trials(include_reports=True)
    return {
        (trial.number, report.resource, tuple(sorted(report.metrics.items())))
        for trial in trials
        for report in trial.reports
    }


def as_stored(number: int, resource: float, metrics: dict[str, float]) -> tuple:
    return (number, float(resource), tuple(sorted(metrics.items())))


def test_function_mode_reports_a_mapping(client: Client, study_name: str, tmp_path: Path) -> None:
    seen: StoredReports = set()

    def train(trial: hpo.TrialContext) -> None:
        assert trial.metrics == METRICS
        for resource in range(int(trial.resume_from) + 1, int(trial.resource) + 1):
            metrics = metrics_at(trial.config, resource)
            decision = hpo.report(resource, metrics)
            seen.add(as_stored(trial.number, resource, metrics))
            if decision.should_stop:
                return

    summary = Worker(client, study_name, workdir=tmp_path).run_function(train)
    assert summary.failed == 0 and summary.completed == summary.assignments >= 6
    assert stored_reports(client, study_name) == seen
    assert client.get_study(study_name).state == "finished"


@pytest.mark.parametrize("mode", ["pipe", "text", "json"])
def test_commands_report_several_metrics_on_the_pipe_and_on_stdout(
    client: Client, study_name: str, tmp_path: Path, mode: str
) -> None:
    command = [sys.executable, str(SCRIPT), mode]
    summary = Worker(client, study_name, workdir=tmp_path, echo=False).run_command(command)
    assert summary.failed == 0 and summary.completed == summary.assignments >= 6
    logged = [
        json.loads(line)
        for path in tmp_path.rglob("reports.jsonl")
        for line in path.read_text().splitlines()
    ]
    # Each assignment reports up to its resource: everything printed is forwarded and stored.
    assert stored_reports(client, study_name) == {
        as_stored(entry["number"], entry["resource"], entry["metrics"]) for entry in logged
    }
    assert all(entry["known"] == list(METRICS) for entry in logged)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            "loss=0.5 latency_ms=12 memory_gb=30 accuracy=0.9",
            "metrics.accuracy: is not a metric of this study",
        ),
        ("loss=0.5 latency_ms=12", "metrics.memory_gb: is missing from the report"),
        ("value=0.5", "metrics.latency_ms: is missing from the report"),
        ("loss=nan latency_ms=12 memory_gb=30", "metrics.loss: must be finite, got nan"),
    ],
)
def test_a_refused_stdout_report_fails_its_trial_and_the_worker_goes_on(
    client: Client,
    coordinator: Coordinator,
    study_name: str,
    tmp_path: Path,
    fields: str,
    reason: str,
) -> None:
    engine = coordinator.store.engine
    command = [sys.executable, "-c", f"print('@hpo report resource=1 {fields}')"]
    before = table_rows(engine)["reports"]
    worker = Worker(client, study_name, workdir=tmp_path, max_assignments=2, echo=False)
    summary = worker.run_command(command)
    assert (summary.assignments, summary.failed) == (2, 2)
    failed = client.get_study(study_name).trials(states=["failed"])
    assert len(failed) == 2
    assert all(reason in trial.fail_reason for trial in failed), [t.fail_reason for t in failed]
    assert all(trial.fail_reason.startswith("report (1, ") for trial in failed)
    assert table_rows(engine)["reports"] == before == []
