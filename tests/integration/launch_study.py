"""What the launchers' tests share: a coordinator that refuses anonymous calls, with an admin
and a worker token registered, a small study, and the check that the workers the launcher
started ran it to the end with every report stored.

The coordinator takes no anonymous calls, so a launcher that did not hand the token to its
workers fails the test.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo.auth import Role, generate_secret
from hpo.client import Client
from hpo.launch.tokens import SecretFile, register
from hpo.spec import StudySpec
from hpo.vocabulary import TrialState
from tests.conftest import E2E_SCRIPTS

STUDY = "launched"
SPEC: dict[str, Any] = {
    "name": STUDY,
    "space": {
        "x": {"type": "float", "low": -2, "high": 3},
        "units": {"type": "int", "low": 8, "high": 256, "log": True},
    },
    "objective": {"metric": "loss", "direction": "minimize"},
    "resource": {"name": "epochs", "r_min": 1, "r_max": 9, "eta": 3},
    "max_trials": 6,
    "seed": 11,
}
# Logs each report and the decision it got to reports.jsonl in its trial directory.
TRAIN = [sys.executable, str(E2E_SCRIPTS / "train_quadratic.py")]


@dataclass(frozen=True)
class SecuredStudy:
    """A running coordinator (no anonymous calls) and a created study."""

    address: str
    admin_token: str
    worker_token: str
    worker_token_file: Path

    def client(self) -> Client:
        return Client(self.address, token=self.admin_token, timeout=10)


def secret_file(directory: Path, name: str) -> tuple[str, Path]:
    """A fresh secret in ``directory/name`` (mode 600, as hpo token create writes it)."""
    path = directory / name
    secret = generate_secret()
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return secret, path


def start_secured_study(serve: Any, directory: Path) -> SecuredStudy:
    """``hpo serve --no-anonymous`` over a new SQLite store holding an admin and a worker
    token (registered as a Kubernetes init container does), with the study created."""
    db = f"sqlite:///{directory / 'hpo.db'}"
    admin_token, admin_file = secret_file(directory, "admin.token")
    worker_token, worker_file = secret_file(directory, "worker.token")
    register(
        db,
        [
            SecretFile("admin", Role.ADMIN, admin_file),
            SecretFile("launched-workers", Role.WORKER, worker_file),
        ],
    )
    server = serve(db, "--no-anonymous")
    secured = SecuredStudy(server.address, admin_token, worker_token, worker_file)
    with secured.client() as client:
        client.create_study_from_spec(StudySpec.from_json(SPEC))
    return secured


def assert_study_ran_to_the_end(secured: SecuredStudy, workdir: Path) -> list[dict[str, Any]]:
    """The study finished, all its trials were run, and the store holds exactly the reports
    the training command made (each logged with its decision in reports.jsonl); returns the
    logged entries."""
    with secured.client() as client:
        study = client.get_study(STUDY)
        trials = study.trials(include_reports=True)
    assert study.state == "finished"
    assert len(trials) == SPEC["max_trials"]
    assert {trial.state for trial in trials} <= {TrialState.COMPLETED, TrialState.PAUSED}
    # Every worker released the trials it paused.
    assert all(trial.worker_id == "" for trial in trials if trial.state is TrialState.PAUSED)
    logged = [
        json.loads(line)
        for path in (workdir / STUDY).glob("trial-*/reports.jsonl")
        for line in path.read_text().splitlines()
    ]
    stored = sorted(
        (trial.number, float(report.resource), report.value)
        for trial in trials
        for report in trial.reports
    )
    assert stored, "no report reached the store"
    assert stored == sorted(
        (entry["number"], float(entry["resource"]), entry["value"]) for entry in logged
    )
    return logged
