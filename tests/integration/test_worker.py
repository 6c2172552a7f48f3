"""The worker daemon against a real coordinator: functions, commands, stdout reports, GPUs,
heartbeats (the worker's and the client's own in ``with trial:``), stopping and the CLI."""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hpo
from hpo.cli import app
from hpo.client import Client
from hpo.coordinator.server import Coordinator, start_coordinator
from hpo.errors import RemoteError
from hpo.space import Float, Int
from hpo.vocabulary import TrialState
from hpo.workers import Worker
from tests.conftest import free_port

SCRIPTS = Path(__file__).resolve().parents[1] / "e2e"
SPACE = {"x": Float(-2, 3), "units": Int(8, 64, log=True)}
SHORT_LEASE = 1.5
# Training without a word to the coordinator for longer than a lease (the scenario itself).
SILENT_SECONDS = 2 * SHORT_LEASE
# Runs the training script given as its argument and notes on which GPU its process ran, and
# when (time.monotonic is one clock for all processes of a machine).
TIMED_RUN = """
import json, os, runpy, sys, time
start = time.monotonic()
runpy.run_path(sys.argv[1], run_name="__main__")
span = {"gpu": os.environ["CUDA_VISIBLE_DEVICES"], "start": start, "end": time.monotonic()}
with open(os.path.join(os.environ["HPO_TRIAL_DIR"], "spans.jsonl"), "a") as log:
    log.write(json.dumps(span) + "\\n")
"""


@pytest.fixture
def study_name(client: Client) -> str:
    client.create_study("w", SPACE, r_min=1, r_max=9, eta=3, max_trials=9, seed=11)
    return "w"


@pytest.fixture
def worker_client(coordinator: Coordinator) -> Iterator[Client]:
    with Client(coordinator.address) as connected:
        yield connected


@pytest.fixture
def short_lease(sqlite_url: str) -> Iterator[Coordinator]:
    """A coordinator whose leases last 1.5 s (heartbeats every second), with its sweeper."""
    running = start_coordinator(sqlite_url, port=0, lease_seconds=SHORT_LEASE)
    yield running
    running.stop(grace=1)


def reports_by_trial(client: Client, study: str) -> dict[int, list[tuple[float, float]]]:
    """Each trial's stored (resource, value) reports, in the order of their resources."""
    trials = client.get_study(study).trials(include_reports=True)
    return {t.number: [(r.resource, r.value) for r in t.reports] for t in trials}


def stored_reports(client: Client, study: str) -> set[tuple[int, float, float]]:
    return {
        (number, *report)
        for number, reports in reports_by_trial(client, study).items()
        for report in reports
    }


def decision_kinds(coordinator: Coordinator) -> list[str]:
    with coordinator.store.engine.connect() as connection:
        return list(connection.exec_driver_sql("SELECT kind FROM decisions").scalars())


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


def assignments(lines: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """Split what a trial printed over its assignments: each starts again from its resume
    point, so a new one begins where the resource stops growing."""
    runs: list[list[tuple[float, float]]] = []
    for line in lines:
        if not runs or line[0] <= runs[-1][-1][0]:
            runs.append([])
        runs[-1].append(line)
    return runs


def test_stdout_reports_are_forwarded_and_stops_enforced(
    worker_client: Client, study_name: str, tmp_path: Path
) -> None:
    command = [sys.executable, str(SCRIPTS / "train_stdout.py")]
    summary = Worker(worker_client, study_name, workdir=tmp_path, echo=False).run_command(command)
    assert summary.failed == 0
    stored = reports_by_trial(worker_client, study_name)
    printed = {
        int(path.parent.name.split("-")[1]): [
            (float(e["resource"]), e["value"])
            for e in map(json.loads, path.read_text().splitlines())
        ]
        for path in tmp_path.rglob("printed.jsonl")
    }
    assert printed.keys() == stored.keys()
    for number, lines in printed.items():
        # Each assignment forwarded what it printed until it was told to stop: a prefix.
        runs = assignments(lines)
        starts = [run[0][0] for run in runs] + [math.inf]
        forwarded = [
            [report for report in stored[number] if start <= report[0] < end]
            for start, end in pairwise(starts)
        ]
        for part, run in zip(forwarded, runs, strict=True):
            assert part and part == run[: len(part)], (number, runs, stored[number])
        assert sum(forwarded, []) == stored[number]
    # Paused trials were terminated long before r_max: the script alone would print 9 lines.
    paused = worker_client.get_study(study_name).trials(states=["paused"])
    assert paused and all(t.last_resource < 9 for t in paused)
    assert all(len(printed[t.number]) < 9 for t in paused)


def test_gpus_are_pinned_one_trial_each(
    worker_client: Client, study_name: str, tmp_path: Path
) -> None:
    command = [sys.executable, "-c", TIMED_RUN, str(SCRIPTS / "train_quadratic.py")]
    summary = Worker(
        worker_client, study_name, workdir=tmp_path, slots=["0", "1"], echo=False
    ).run_command(command)
    spans = logged(tmp_path, "spans.jsonl")
    assert summary.failed == 0 and len(spans) == summary.assignments
    on_gpu = {
        gpu: sorted((span["start"], span["end"]) for span in spans if span["gpu"] == gpu)
        for gpu in ("0", "1")
    }
    assert sum(map(len, on_gpu.values())) == len(spans)  # no other value, never both
    for gpu, runs in on_gpu.items():
        assert all(end <= start for (_, end), (start, _) in pairwise(runs)), (gpu, runs)
    # The two GPUs did run trials at the same time, so two on one GPU would have shown.
    assert any(a0 < b1 and b0 < a1 for a0, a1 in on_gpu["0"] for b0, b1 in on_gpu["1"])


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


def test_the_heartbeat_keeps_a_silent_trials_lease(
    short_lease: Coordinator, tmp_path: Path
) -> None:
    def train(trial: hpo.TrialContext) -> None:
        time.sleep(SILENT_SECONDS)  # a first epoch longer than the lease
        assert not trial.report(trial.resource, 0.5).buffered

    with Client(short_lease.address, timeout=10) as client:
        client.create_study("w", SPACE, r_min=1, r_max=9, eta=3, max_trials=1, seed=11)
        summary = Worker(client, "w", workdir=tmp_path, max_assignments=1).run_function(train)
        (trial,) = client.get_study("w").trials()
    assert (summary.completed, summary.failed) == (1, 0)
    assert trial.retries == 0 and trial.state is not TrialState.FAILED
    assert "requeue" not in decision_kinds(short_lease)


def test_a_client_trial_is_heartbeated_while_its_block_runs(short_lease: Coordinator) -> None:
    with Client(short_lease.address, timeout=10) as client:
        study = client.create_study("c", SPACE, r_min=1, r_max=9, eta=3, max_trials=1, seed=11)
        trial = study.suggest()
        assert trial is not None
        with trial:
            time.sleep(SILENT_SECONDS)  # a first epoch longer than the lease
            trial.report(trial.resource, 0.5)  # refused (FAILED_PRECONDITION) had it lapsed
        (record,) = study.trials(include_reports=True)
    assert [(r.resource, r.value) for r in record.reports] == [(trial.resource, 0.5)]
    assert record.retries == 0 and record.state is not TrialState.FAILED
    assert "requeue" not in decision_kinds(short_lease)


def test_a_stop_cuts_the_wait_for_an_unreachable_coordinator_short(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    with Client(address, timeout=0.2) as client:
        worker = Worker(client, "w", workdir=tmp_path, grace_seconds=0)
        stopped: list[tuple[float, float]] = []

        class StopOnALongWait(logging.Handler):
            """Stops the worker as it is about to wait a second or more before a retry."""

            def emit(self, record: logging.LogRecord) -> None:
                delay = record.args[-1] if isinstance(record.args, tuple) else 0.0
                if not stopped and "retrying" in record.msg and delay >= 1.0:
                    stopped.append((time.monotonic(), delay))
                    worker.stop()

        handler = StopOnALongWait()
        logging.getLogger("hpo.worker").addHandler(handler)
        try:
            with pytest.raises(RemoteError):
                worker.run_function(lambda trial: None)
        finally:
            logging.getLogger("hpo.worker").removeHandler(handler)
    ((stopped_at, delay),) = stopped
    assert time.monotonic() - stopped_at < delay


def test_the_worker_command_refuses_gpus_with_a_function(
    coordinator: Coordinator, study_name: str
) -> None:
    result = CliRunner().invoke(
        app,
        [
            "worker",
            *("--coordinator", coordinator.address, "--study", study_name),
            *("--gpus", "0,1", "--function", "tests.e2e.train_faults:train", "--max-trials", "0"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "Invalid value for --gpus: GPU pinning needs a command" in " ".join(
        result.stderr.replace("│", " ").split()
    )
