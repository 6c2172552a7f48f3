"""Every example in examples/ runs against a real coordinator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hpo.client import Client
from hpo.coordinator.server import Coordinator
from hpo.space import Float
from tests.conftest import HPO

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
pytestmark = pytest.mark.e2e


def run(*command: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_client_loop(coordinator: Coordinator, client: Client) -> None:
    output = run(sys.executable, str(EXAMPLES / "client_loop.py"), coordinator.address).stdout
    assert output.startswith("best value")
    study = client.get_study("client-loop-example")
    assert study.state == "finished" and study.counts["completed"] >= 1


def test_async_driver(coordinator: Coordinator, client: Client) -> None:
    command = [sys.executable, str(EXAMPLES / "async_driver.py"), coordinator.address]
    output = run(*command, "--concurrency", "6").stdout.splitlines()
    assert output[0].startswith("best value")
    study = client.get_study("async-driver-example")
    assert study.state == "finished" and sum(study.counts.values()) == 40
    assert study.counts["running"] == study.counts["pending"] == study.counts["failed"] == 0
    # Every one of the 40 trials paused at rung 0 (promotion type), and the best reached r_max.
    actions = dict(item.split() for item in output[1].removeprefix("actions: ").split(", "))
    assert int(actions["pause"]) >= 40 and int(actions["done"]) >= 1
    # The driver kept the checkpoints of exactly the trials left paused.
    assert output[2] == f"checkpoints kept for {study.counts['paused']} paused trials"


def test_study_spec_and_gbm_command(
    coordinator: Coordinator, client: Client, tmp_path: Path
) -> None:
    address = coordinator.address
    run(*HPO, "study", "create", "--spec", str(EXAMPLES / "study.json"), "-c", address)
    study = client.get_study("gbm-breast-cancer")
    assert study.spec.resource.name == "iterations" and study.spec.max_trials == 40
    run(
        *HPO, "worker", "-c", address, "--study", study.name, "--workdir", str(tmp_path),
        "--max-trials", "4", "--", sys.executable, str(EXAMPLES / "train_gbm.py"),
    )  # fmt: skip
    # Three new trials pause at rung 0 (10 iterations); once three results are in, the fourth
    # assignment promotes the best of them (the top 1/eta) to rung 1 instead of starting one.
    trials = client.get_study(study.name).trials(include_reports=True)
    assert len(trials) == 3
    assert all(0 < t.reports[0].value < 1 and t.reports[0].resource == 10 for t in trials)
    best = min(trials, key=lambda t: t.reports[0].value)
    assert [r.resource for r in best.reports] == [10, 30]
    assert all(len(t.reports) == 1 for t in trials if t is not best)
    assert {t.state.value for t in trials} == {"paused"}


def test_shell_command_reports_on_stdout(
    coordinator: Coordinator, client: Client, tmp_path: Path
) -> None:
    client.create_study("shell", {"x": Float(-3, 3)}, r_min=1, r_max=9, asha_mode="stopping")
    run(
        *HPO, "worker", "-c", coordinator.address, "--study", "shell", "--workdir", str(tmp_path),
        "--max-trials", "3", "--", "bash", str(EXAMPLES / "train_shell.sh"),
    )  # fmt: skip
    trials = client.get_study("shell").trials(include_reports=True)
    assert len(trials) == 3
    first = trials[0]
    # Stopping-type ASHA lets the first trial, alone at every rung, run to r_max; the worker
    # forwards each "@hpo report" line the script prints.
    assert [r.resource for r in first.reports] == list(range(1, 10))
    assert first.state.value == "completed"
    x = float(first.config["x"])
    assert first.reports[0].value == pytest.approx((x - 1) ** 2 + 1)
    assert json.loads((tmp_path / "shell" / "trial-00000" / "config.json").read_text()) == {
        "x": first.config["x"]
    }
