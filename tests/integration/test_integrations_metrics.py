"""The trainer callbacks report every metric of a study with several, in a real worker's
function mode against a real coordinator: what the trainer logged is what the store holds.

The study (stopping-type ASHA, rungs at 1, 2 and 4 epochs, one trial) lets its only trial
run to r_max, so each callback reports four epochs. Its models are the tiny ones of
test_integrations.py, with a made-up latency and memory logged beside the loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
import transformers
from torch import nn

import hpo
from hpo.client import Client
from hpo.integrations.lightning import HpoCallback
from hpo.integrations.transformers import HpoTrainerCallback
from hpo.space import Float
from tests.integration.test_integrations import (
    Regressor,
    hf_trainer,
    lightning_trainer,
    regression_loaders,
    run_trials,
)

EPOCHS = 4
# Made-up but fixed, so the test knows what each report must carry.
LATENCY_MS, MEMORY_GB = 12.5, 30.0


def several_metrics_study(client: Client, name: str) -> None:
    client.create_study(
        name,
        {"lr": Float(0.001, 0.01, log=True)},
        r_min=1,
        r_max=EPOCHS,
        eta=2,
        algorithm="asha",
        asha_mode="stopping",
        max_trials=1,
        objectives=[
            {"metric": "loss", "direction": "minimize"},
            {"metric": "latency_ms", "direction": "minimize"},
        ],
        metrics=["memory_gb"],
        constraints=[{"metric": "memory_gb", "op": "<=", "bound": 40}],
    )


def stored_metrics(client: Client, study: str) -> list[tuple[float, dict[str, float]]]:
    (trial,) = client.get_study(study).trials(include_reports=True)
    return [(report.resource, dict(report.metrics)) for report in trial.reports]


class CostlyRegressor(Regressor):
    """The regressor, logging its validation loss as ``val_loss`` and a latency and a memory
    under the names the test maps to the study's."""

    def validation_step(self, batch: list[torch.Tensor], index: int) -> None:
        inputs, targets = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(inputs), targets))
        self.log("val_latency", LATENCY_MS)
        self.log("memory_gb", MEMORY_GB)


class LossRecorder(pl.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.losses.append(float(trainer.callback_metrics["val_loss"]))


def test_lightning_callback_reports_the_mapped_metrics(client: Client, tmp_path: Path) -> None:
    several_metrics_study(client, "lightning-metrics")
    recorder = LossRecorder()

    def train(trial: hpo.TrialContext) -> None:
        assert trial.trial_dir is not None
        torch.manual_seed(trial.number)
        sources = {"loss": "val_loss", "latency_ms": "val_latency", "memory_gb": "memory_gb"}
        callbacks = [HpoCallback(metrics=sources), recorder]
        trainer = lightning_trainer(int(trial.resource), callbacks, trial.trial_dir)
        trainer.fit(CostlyRegressor(float(trial.config["lr"])), *regression_loaders())

    run_trials(client, "lightning-metrics", tmp_path, train, count=1)
    assert stored_metrics(client, "lightning-metrics") == [
        (epoch + 1.0, {"loss": loss, "latency_ms": LATENCY_MS, "memory_gb": MEMORY_GB})
        for epoch, loss in enumerate(recorder.losses)
    ]
    assert len(recorder.losses) == EPOCHS


def test_lightning_callback_names_a_study_metric_that_was_not_logged(
    client: Client, tmp_path: Path
) -> None:
    several_metrics_study(client, "lightning-unlogged")
    raised: list[str] = []

    def train(trial: hpo.TrialContext) -> None:
        assert trial.trial_dir is not None
        # By default the study's metrics, each under its own name: "loss" is logged as
        # val_loss and latency_ms as val_latency, so the first one missing is named.
        trainer = lightning_trainer(int(trial.resource), [HpoCallback()], trial.trial_dir)
        with pytest.raises(KeyError) as error:
            trainer.fit(CostlyRegressor(float(trial.config["lr"])), *regression_loaders())
        raised.append(str(error.value))

    run_trials(client, "lightning-unlogged", tmp_path, train, count=1)
    (message,) = raised
    assert "HpoCallback: 'loss' is not among the trainer's metrics" in message
    assert "memory_gb, val_latency, val_loss" in message and "self.log" in message
    assert stored_metrics(client, "lightning-unlogged") == []


def costs(prediction: transformers.EvalPrediction) -> dict[str, float]:
    """compute_metrics: the Trainer names them eval_latency_ms and eval_memory_gb."""
    return {"latency_ms": LATENCY_MS, "memory_gb": MEMORY_GB}


def test_transformers_callback_reports_the_studys_metrics_by_default(
    client: Client, tmp_path: Path
) -> None:
    several_metrics_study(client, "transformers-metrics")
    seen: dict[str, Any] = {}

    def train(trial: hpo.TrialContext) -> None:
        trainer = hf_trainer(trial, HpoTrainerCallback(), save=False)
        trainer.compute_metrics = costs
        trainer.train()
        seen["history"] = trainer.state.log_history

    run_trials(client, "transformers-metrics", tmp_path, train, count=1)
    evaluations = [entry for entry in seen["history"] if "eval_loss" in entry]
    assert len(evaluations) == EPOCHS
    assert stored_metrics(client, "transformers-metrics") == [
        (
            entry["epoch"],
            {
                "loss": entry["eval_loss"],
                "latency_ms": entry["eval_latency_ms"],
                "memory_gb": entry["eval_memory_gb"],
            },
        )
        for entry in evaluations
    ]
