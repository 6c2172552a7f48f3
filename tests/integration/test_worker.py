"""The worker daemon against a real coordinator: functions, commands, stdout reports, GPUs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import hpo
from hpo.client import Client
from hpo.coordinator.server import Coordinator
from hpo.space import Float, Int
from hpo.state import TrialState
from hpo.workers import Worker

SCRIPTS = Path(__file__).resolve().parents[1] / "e2e"
SPACE = {"x": Float(-2, 3), "units": Int(8, 64, log=True)}


@pytest.fixture
def study_name(client: Client) -> str:
    client.create_study("w", SPACE, r_min=1, r_max=9, eta=3, max_trials=9, seed=11)
    return "w"


@pytest.fixture
def worker_client(coordinator: Coordinator) -> Iterator[Client]:
    with Client(coordinator.address) as connected:
        yield connected


def stored_reports(client: Client, study: str) -> set[tuple[int, float, float]]:
    trials = client.get_study(study).trials(include_reports=True)
    return {(t.number, r.resource, r.value) for t in trials for r in t.reports}


def logged(workdir: Path, name: str) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted(workdir.rglob(name))
        for line in path.read_text().splitlines()
    ]


def test_function_mode_runs_the_study(
    worker_client: Client, study_name: str, tmp_path: Path
) -> None:
    seen = []

    def train(trial: hpo.TrialContext) -> None:
        assert hpo.current_trial() == trial
        resource = int(trial.resume_from)
        while True:
            resource += 1
            value = (float(trial.config["x"]) - 1) ** 2 + 1 / resource
            decision = hpo.report(resource, value)  # the module-level API reaches the worker
            seen.append((trial.number, float(resource), value))
            if decision.should_stop:
                return

    summary = Worker(worker_client, study_name, workdir=tmp_path, slots=[None, None]).run_function(
        train
    )
    study = worker_client.get_study(study_name)
    assert study.state == "finished"
    assert summary.failed == 0 and summary.assignments == summary.completed >= 9
    assert stored_reports(worker_client, study_name) == set(seen)
    assert study.counts["running"] == study.counts["failed"] == 0


def test_a_raising_function_fails_its_trial(
    worker_client: Client, study_name: str, tmp_path: Path
) -> None:
    def train(trial: hpo.TrialContext) -> None:
        raise RuntimeError(f"diverged at trial {trial.number}")

    summary = Worker(worker_client, study_name, workdir=tmp_path, max_assignments=2).run_function(
        train
    )
    assert (summary.assignments, summary.failed) == (2, 2)
    failed = worker_client.get_study(study_name).trials(states=["failed"])
    assert [t.fail_reason for t in failed] == [
        "RuntimeError: diverged at trial 0",
        "RuntimeError: diverged at trial 1",
    ]


def test_a_nan_report_fails_the_trial_with_the_reason(
    worker_client: Client, study_name: str, tmp_path: Path
) -> None:
    def train(trial: hpo.TrialContext) -> None:
        assert trial.report(1, float("nan")).should_stop

    Worker(worker_client, study_name, workdir=tmp_path, max_assignments=1).run_function(train)
    (failed,) = worker_client.get_study(study_name).trials(states=["failed"])
    assert "value: must be a finite number" in failed.fail_reason


def test_command_mode_reports_through_the_pipes(
    worker_client: Client, study_name: str, tmp_path: Path
) -> None:
    command = [sys.executable, str(SCRIPTS / "train_quadratic.py")]
    summary = Worker(
        worker_client, study_name, workdir=tmp_path, slots=[None, None], echo=False
    ).run_command(command)
    assert summary.failed == 0
    entries = logged(tmp_path, "reports.jsonl")
    assert stored_reports(worker_client, study_name) == {
        (e["number"], float(e["resource"]), e["value"]) for e in entries
    }
    config_files = sorted(tmp_path.rglob("config.json"))
    assert len(config_files) == 9
    assert all(set(json.loads(path.read_text())) == {"x", "units"} for path in config_files)


def test_stdout_reports_are_forwarded_and_stops_enforced(
    worker_client: Client, study_name: str, tmp_path: Path
) -> None:
    command = [sys.executable, str(SCRIPTS / "train_stdout.py")]
    summary = Worker(worker_client, study_name, workdir=tmp_path, echo=False).run_command(command)
    assert summary.failed == 0
    stored = stored_reports(worker_client, study_name)
    printed = {
        (int(path.parent.name.split("-")[1]), float(e["resource"]), e["value"])
        for path in tmp_path.rglob("printed.jsonl")
        for e in map(json.loads, path.read_text().splitlines())
    }
    assert stored <= printed
    # Paused trials were terminated long before r_max: the script alone would print 9 lines.
    paused = worker_client.get_study(study_name).trials(states=["paused"])
    assert paused and all(t.last_resource < 9 for t in paused)
    assert all(
        len((tmp_path / "w" / f"trial-{t.number:05d}" / "printed.jsonl").read_text().splitlines())
        < 9
        for t in paused
    )


def test_gpus_are_pinned_one_trial_each(
    worker_client: Client, study_name: str, tmp_path: Path
) -> None:
    command = [sys.executable, str(SCRIPTS / "train_quadratic.py")]
    Worker(worker_client, study_name, workdir=tmp_path, slots=["0", "1"], echo=False).run_command(
        command
    )
    gpus = {entry["gpu"] for entry in logged(tmp_path, "reports.jsonl")}
    assert gpus == {"0", "1"}


def test_a_command_that_fails_fails_its_trial(
    worker_client: Client, study_name: str, tmp_path: Path
) -> None:
    command = [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]
    Worker(worker_client, study_name, workdir=tmp_path, max_assignments=1, echo=False).run_command(
        command
    )
    (failed,) = worker_client.get_study(study_name).trials(states=[TrialState.FAILED])
    assert failed.fail_reason.startswith("command exited with status 3")
    assert "boom" in failed.fail_reason
    assert (tmp_path / "w" / "trial-00000" / "output.log").read_text() == "boom\n"


def test_a_missing_command_fails_its_trial(
    worker_client: Client, study_name: str, tmp_path: Path
) -> None:
    Worker(worker_client, study_name, workdir=tmp_path, max_assignments=1).run_command(
        [str(tmp_path / "no-such-program")]
    )
    (failed,) = worker_client.get_study(study_name).trials(states=["failed"])
    assert failed.fail_reason.startswith("cannot start")
