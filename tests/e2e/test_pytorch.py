"""examples/pytorch_cnn.py under real `hpo worker` processes against a real coordinator: every
epoch is reported and stored, and a trial paused at a rung and promoted later resumes from its
checkpoint exactly where it stopped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from hpo.client import Client
from hpo.coordinator.server import Coordinator
from hpo.spec import StudySpec
from tests.conftest import HPO

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
pytestmark = pytest.mark.e2e

# Enqueued, so they are trials 0 and 1 in this order. The first learns in an epoch what the
# second (a learning rate 100 times smaller) does not, so it ranks first at rung 0 and is the
# one promoted; its dropout makes the resumed run depend on the restored random state.
GOOD = {"lr": 0.01, "channels": 8, "dropout": 0.1, "batch_size": 32, "weight_decay": 0.0001}
SLOW = {"lr": 0.0001, "channels": 4, "dropout": 0.5, "batch_size": 128, "weight_decay": 0.01}


def shrunk_spec(**overrides: Any) -> dict[str, Any]:
    """The example's study spec, shrunk for a test by ``overrides``."""
    return dict(json.loads((EXAMPLES / "pytorch_cnn.json").read_text()) | overrides)


def run(*command: str) -> str:
    result = subprocess.run(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout
    return result.stdout


def run_worker(address: str, study: str, workdir: Path) -> str:
    """One `hpo worker` pinned to GPU 0 until the study is finished; its output."""
    return run(
        *HPO, "worker", "-c", address, "--study", study, "--workdir", str(workdir),
        "--gpus", "0", "--", sys.executable, str(EXAMPLES / "pytorch_cnn.py"),
    )  # fmt: skip


def metrics(trial_dir: Path) -> list[dict[str, Any]]:
    """What the example wrote after each epoch, over all of the trial's assignments."""
    lines = (trial_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_cnn_reports_every_epoch_and_resumes_exactly_from_its_checkpoint(
    coordinator: Coordinator, client: Client, tmp_path: Path
) -> None:
    address = coordinator.address
    resource = {"name": "epochs", "r_min": 1, "r_max": 2, "eta": 2}
    # Promotion-type ASHA: two trials pause at 1 epoch; the better (the top half) is then
    # promoted and trains epoch 2 in a new process, from the checkpoint of epoch 1.
    spec = tmp_path / "cnn-asha.json"
    spec.write_text(
        json.dumps(
            shrunk_spec(name="cnn-asha", resource=resource, max_trials=2, enqueue=[GOOD, SLOW])
        )
    )
    run(*HPO, "study", "create", "--spec", str(spec), "-c", address)
    paused = "cnn-asha"
    # The same configuration as trial 0 of a one-trial study (so with the same seed), trained
    # for 2 epochs in one go: stopping-type ASHA lets a trial alone at its rungs run on.
    straight = client.create_study_from_spec(
        StudySpec.from_json(
            shrunk_spec(
                name="cnn-straight",
                resource=resource,
                max_trials=1,
                asha_mode="stopping",
                enqueue=[GOOD],
            )
        )
    ).name
    output = run_worker(address, paused, tmp_path)
    run_worker(address, straight, tmp_path)
    assert "worker done: 3 assignments, 3 completed, 0 failed" in output

    trials = client.get_study(paused).trials(include_reports=True)
    assert client.get_study(paused).state == "finished"
    assert [t.config for t in trials] == [GOOD, SLOW]
    assert [[r.resource for r in t.reports] for t in trials] == [[1, 2], [1]]
    assert [t.state.value for t in trials] == ["completed", "paused"]
    # Every epoch the example trained was reported and stored, with the value it computed.
    for trial in trials:
        trained = metrics(tmp_path / paused / f"trial-{trial.number:05d}")
        assert [(e["epoch"], e["valid_loss"]) for e in trained] == [
            (r.resource, r.value) for r in trial.reports
        ]
    promoted = tmp_path / paused / "trial-00000"
    log = (promoted / "output.log").read_text()
    assert "resumed from epoch 1" in log
    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert f"trial 0: device {device} (CUDA_VISIBLE_DEVICES=0)" in log
    assert all(e["device"] == device for e in metrics(promoted))
    checkpoint = torch.load(promoted / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 2

    # The resumed epochs equal those of the uninterrupted run bit for bit: weights, optimizer
    # moments, shuffling order and dropout masks all continued from epoch 1. (Restarting
    # from scratch would repeat epoch 1's loss; resuming without the random states would
    # draw other batches and masks.)
    (uninterrupted,) = client.get_study(straight).trials(include_reports=True)
    assert [(r.resource, r.value) for r in uninterrupted.reports] == [
        (r.resource, r.value) for r in trials[0].reports
    ]
    reference = metrics(tmp_path / straight / "trial-00000")
    assert [e["train_loss"] for e in reference] == [e["train_loss"] for e in metrics(promoted)]
    losses = [r.value for r in trials[0].reports]
    assert losses[1] < losses[0] < trials[1].reports[0].value
