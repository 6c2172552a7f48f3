"""The trainer callbacks of hpo.integrations train tiny models for real (CPU) in a real worker's
function mode against a real coordinator: every evaluation is reported and stored, a stop
decision ends training early, and a paused trial resumes from its checkpoint.

The stop scenario: in a stopping-type ASHA study (rungs at 1, 3 and 9 epochs), trial 0 is
reported by the test itself, worst of all at 1 epoch and unbeatable at 3. The trainer of
trial 1 is then told to continue at 1 epoch (first of two), to continue at 2 (between rungs)
and to stop at 3 (second of two, only the top one continues): it trains 3 of its 9 epochs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import pytorch_lightning as pl
import torch
import transformers
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import hpo
from hpo.client import Client
from hpo.integrations.lightning import HpoCallback, checkpoint_callback, resume_checkpoint
from hpo.integrations.transformers import HpoTrainerCallback
from hpo.integrations.transformers import resume_checkpoint as resume_trainer_checkpoint
from hpo.space import Float
from hpo.workers import Worker

SPACE = {"lr": Float(0.001, 0.01, log=True)}
# 256 points, 64 a batch: 4 optimizer steps an epoch.
POINTS, BATCH = 256, 64
STEPS_PER_EPOCH = POINTS // BATCH
# The BERT's data: 32 examples, 8 a batch.
STEPS_PER_BERT_EPOCH = 4


def stopping_study(client: Client, name: str, unit: int = 1) -> None:
    """The stop scenario's study, with its trial 0 reported and completed by the test; its
    resources in ``unit`` (e.g. 4 steps an epoch for a study of steps)."""
    client.create_study(
        name,
        SPACE,
        r_min=unit,
        r_max=9 * unit,
        eta=3,
        algorithm="asha",
        asha_mode="stopping",
        max_trials=2,
    )
    rival = client.get_study(name).suggest()
    assert rival is not None and rival.number == 0
    assert not rival.report(unit, 1e9).should_stop
    assert not rival.report(3 * unit, 1e-9).should_stop
    rival.complete()


def promotion_study(client: Client, name: str) -> None:
    """Rungs at 1 and 2 epochs, keep the top half: trials 0 and 1 pause at 1 epoch, then the
    better one is promoted and resumes to 2; then the study is finished."""
    client.create_study(name, SPACE, r_min=1, r_max=2, eta=2, algorithm="asha", max_trials=2)


def run_trials(
    client: Client, study: str, workdir: Path, train: Callable[[hpo.TrialContext], None], count: int
) -> None:
    """A real worker runs ``train`` in function mode for ``count`` assignments, all completed."""
    worker = Worker(client, study, workdir=workdir, max_assignments=count, echo=False)
    summary = worker.run_function(train)
    assert (summary.assignments, summary.completed, summary.failed) == (count, count, 0)


def stored(client: Client, study: str) -> dict[int, list[tuple[float, float]]]:
    trials = client.get_study(study).trials(include_reports=True)
    return {t.number: [(r.resource, r.value) for r in t.reports] for t in trials}


def states(client: Client, study: str) -> list[str]:
    return [t.state.value for t in client.get_study(study).trials()]


# ---------------------------------------------------------------- PyTorch Lightning


def regression_loaders() -> tuple[DataLoader, DataLoader]:
    """Fixed random points (the same in every fit) in a fixed order: no draw in training but
    the model's initialisation, so two fits from one seed match bit for bit."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(POINTS + 64, 4, generator=generator)
    targets = inputs.sin().sum(dim=1, keepdim=True)
    train = TensorDataset(inputs[:POINTS], targets[:POINTS])
    valid = TensorDataset(inputs[POINTS:], targets[POINTS:])
    return DataLoader(train, batch_size=BATCH), DataLoader(valid, batch_size=64)


class Regressor(pl.LightningModule):
    """A two-layer MLP fitting the mean squared error."""

    def __init__(self, lr: float) -> None:
        super().__init__()
        self.lr = lr
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))

    def training_step(self, batch: list[torch.Tensor], index: int) -> torch.Tensor:
        inputs, targets = batch
        return nn.functional.mse_loss(self.net(inputs), targets)

    def validation_step(self, batch: list[torch.Tensor], index: int) -> None:
        inputs, targets = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(inputs), targets))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)


class Recorder(pl.Callback):
    """What the trainer did: where ``fit`` started, and the metric of each validation."""

    def __init__(self) -> None:
        self.start: tuple[int, int] | None = None
        self.values: list[tuple[float, float]] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = (trainer.current_epoch, trainer.global_step)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            value = float(trainer.callback_metrics["val_loss"])
            self.values.append((trainer.current_epoch + 1, value))


def lightning_trainer(max_epochs: int, callbacks: list[pl.Callback], root: Path) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=max_epochs,
        callbacks=callbacks,
        default_root_dir=root,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=any(isinstance(c, pl.callbacks.ModelCheckpoint) for c in callbacks),
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def test_lightning_callback_reports_each_epoch_and_stops_the_trainer(
    client: Client, tmp_path: Path
) -> None:
    stopping_study(client, "lightning-stop")
    seen: dict[str, Any] = {}

    def train(trial: hpo.TrialContext) -> None:
        assert trial.trial_dir is not None
        torch.manual_seed(trial.number)
        callback, recorder = HpoCallback(monitor="val_loss"), Recorder()
        trainer = lightning_trainer(int(trial.resource), [callback, recorder], trial.trial_dir)
        trainer.fit(Regressor(float(trial.config["lr"])), *regression_loaders())
        seen.update(
            max_epochs=trainer.max_epochs,
            epochs=trainer.current_epoch,
            values=recorder.values,
            decision=callback.last_decision,
        )

    run_trials(client, "lightning-stop", tmp_path, train, count=1)
    reports = stored(client, "lightning-stop")[1]
    assert [resource for resource, _ in reports] == [1, 2, 3]
    assert reports == seen["values"]  # each validation's metric, as the trainer logged it
    assert (seen["epochs"], seen["max_epochs"]) == (3, 9)
    decision = seen["decision"]
    assert isinstance(decision, hpo.Decision) and decision.should_stop
    assert states(client, "lightning-stop") == ["completed", "stopped"]


@dataclass
class Fit:
    number: int
    resume_from: float
    start: tuple[int, int] | None
    end_step: int
    reported: list[float]
    weights: dict[str, torch.Tensor] = field(repr=False)


def test_lightning_resumes_a_promoted_trial_from_its_checkpoint(
    client: Client, tmp_path: Path
) -> None:
    promotion_study(client, "lightning-resume")
    fits: list[Fit] = []

    def train(trial: hpo.TrialContext) -> None:
        assert trial.trial_dir is not None
        torch.manual_seed(trial.number)
        recorder = Recorder()
        callbacks = [HpoCallback(), checkpoint_callback(), recorder]
        trainer = lightning_trainer(int(trial.resource), callbacks, trial.trial_dir)
        model = Regressor(float(trial.config["lr"]))
        trainer.fit(model, *regression_loaders(), ckpt_path=resume_checkpoint())
        fits.append(
            Fit(
                number=trial.number,
                resume_from=trial.resume_from,
                start=recorder.start,
                end_step=trainer.global_step,
                reported=[resource for resource, _ in recorder.values],
                weights=copy.deepcopy(model.state_dict()),
            )
        )

    run_trials(client, "lightning-resume", tmp_path, train, count=3)
    assert [(f.number, f.resume_from) for f in fits[:2]] == [(0, 0), (1, 0)]
    resumed = fits[2]
    assert resumed.resume_from == 1
    # The second fit started where the first one's last.ckpt left off (epoch index 1, after
    # one epoch of steps) and trained one more epoch, reporting only it.
    assert resumed.start == (1, STEPS_PER_EPOCH)
    assert (resumed.end_step, resumed.reported) == (2 * STEPS_PER_EPOCH, [2])
    other = 1 - resumed.number
    reports = stored(client, "lightning-resume")
    assert [r for r, _ in reports[resumed.number]] == [1, 2]
    assert [r for r, _ in reports[other]] == [1]
    assert reports[resumed.number][0][1] < reports[other][0][1]  # promoted: the better one
    # The same weights as two epochs in one fit: the optimizer's state was restored too.
    torch.manual_seed(resumed.number)
    lr = float(client.get_study("lightning-resume").trials()[resumed.number].config["lr"])
    uninterrupted = Regressor(lr)
    lightning_trainer(2, [], tmp_path / "uninterrupted").fit(uninterrupted, *regression_loaders())
    expected = uninterrupted.state_dict()
    assert expected.keys() == resumed.weights.keys()
    assert all(torch.equal(expected[name], resumed.weights[name]) for name in expected)


# ---------------------------------------------------------------- Hugging Face transformers


def tiny_bert(seed: int) -> transformers.BertForSequenceClassification:
    """A BERT of one layer and 16 dimensions, built from a config (nothing is downloaded)."""
    transformers.set_seed(seed)
    config = transformers.BertConfig(
        vocab_size=32,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=2,
    )
    return transformers.BertForSequenceClassification(config)


def token_examples(count: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """Sequences of 8 random tokens, labelled by whether token 5 occurs in them."""
    generator = torch.Generator().manual_seed(seed)
    examples = []
    for _ in range(count):
        tokens = torch.randint(0, 32, (8,), generator=generator)
        label = torch.tensor(int(bool((tokens == 5).any())))
        examples.append(
            {
                "input_ids": tokens,
                "attention_mask": torch.ones(8, dtype=torch.long),
                "labels": label,
            }
        )
    return examples


def hf_trainer(
    trial: hpo.TrialContext, callback: HpoTrainerCallback, save: bool
) -> transformers.Trainer:
    """8 examples a batch, 32 to train on (4 steps an epoch), 16 to evaluate after every
    epoch; up to the trial's resource in the callback's unit (epochs or steps)."""
    assert trial.trial_dir is not None
    if callback.resource == "epoch":
        length = {"num_train_epochs": trial.resource, "eval_strategy": "epoch"}
    else:
        length = {"max_steps": int(trial.resource), "eval_strategy": "steps", "eval_steps": 4}
    arguments = transformers.TrainingArguments(
        output_dir=str(trial.trial_dir),
        **length,
        learning_rate=float(trial.config["lr"]),
        per_device_train_batch_size=8,
        per_device_eval_batch_size=16,
        save_strategy="epoch" if save else "no",
        save_total_limit=1,
        logging_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=trial.number,
    )
    return transformers.Trainer(
        model=tiny_bert(trial.number),
        args=arguments,
        train_dataset=token_examples(32, seed=1),
        eval_dataset=token_examples(16, seed=2),
        callbacks=[callback],
    )


def evaluations(trainer: transformers.Trainer) -> list[tuple[float, float]]:
    """(epoch, eval_loss) of each evaluation in the trainer's history."""
    history = trainer.state.log_history
    return [(entry["epoch"], entry["eval_loss"]) for entry in history if "eval_loss" in entry]


@pytest.mark.parametrize(("resource", "unit"), [("epoch", 1), ("step", STEPS_PER_BERT_EPOCH)])
def test_transformers_callback_reports_each_evaluation_and_stops_training(
    client: Client, tmp_path: Path, resource: Literal["epoch", "step"], unit: int
) -> None:
    stopping_study(client, "transformers-stop", unit)
    seen: dict[str, Any] = {}

    def train(trial: hpo.TrialContext) -> None:
        callback = HpoTrainerCallback(metric="eval_loss", resource=resource)
        trainer = hf_trainer(trial, callback, save=False)
        trainer.train()
        # Evaluating after train reports nothing: it would repeat the last resource.
        trainer.evaluate()
        seen.update(
            epoch=trainer.state.epoch,
            step=trainer.state.global_step,
            evaluations=evaluations(trainer),
            decision=callback.last_decision,
        )

    run_trials(client, "transformers-stop", tmp_path, train, count=1)
    reports = stored(client, "transformers-stop")[1]
    assert [value for _, value in reports] == [value for _, value in seen["evaluations"]][:3]
    assert [r for r, _ in reports] == [unit, 2 * unit, 3 * unit]
    # Stopped after 3 of its 9 epochs; evaluating after train reported nothing.
    assert (seen["epoch"], seen["step"], len(seen["evaluations"])) == (
        3.0,
        3 * STEPS_PER_BERT_EPOCH,
        4,
    )
    decision = seen["decision"]
    assert isinstance(decision, hpo.Decision) and decision.should_stop
    assert states(client, "transformers-stop") == ["completed", "stopped"]


def test_transformers_resumes_a_promoted_trial_from_its_checkpoint(
    client: Client, tmp_path: Path
) -> None:
    promotion_study(client, "transformers-resume")
    starts: list[tuple[int, float, int, float]] = []

    class StartRecorder(transformers.TrainerCallback):
        def on_train_begin(
            self,
            args: transformers.TrainingArguments,
            state: transformers.TrainerState,
            control: transformers.TrainerControl,
            **kwargs: object,
        ) -> None:
            trial = hpo.current_trial()
            starts.append((trial.number, trial.resume_from, state.global_step, state.epoch or 0))

    def train(trial: hpo.TrialContext) -> None:
        trainer = hf_trainer(trial, HpoTrainerCallback(), save=True)
        trainer.add_callback(StartRecorder())
        trainer.train(resume_from_checkpoint=resume_trainer_checkpoint())

    run_trials(client, "transformers-resume", tmp_path, train, count=3)
    (number, resume_from, step, epoch) = starts[2]
    assert [start[:2] for start in starts[:2]] == [(0, 0), (1, 0)]
    # The promoted trial's Trainer loaded the checkpoint of its first epoch (4 steps).
    assert (resume_from, step, epoch) == (1, STEPS_PER_BERT_EPOCH, 1.0)
    reports = stored(client, "transformers-resume")
    assert [r for r, _ in reports[number]] == [1, 2]
    assert [r for r, _ in reports[1 - number]] == [1]
    assert (tmp_path / "transformers-resume" / f"trial-{number:05d}" / "checkpoint-8").is_dir()
