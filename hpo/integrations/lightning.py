"""PyTorch Lightning: report validation metrics to hpo each epoch and stop when told to.

    from hpo.integrations.lightning import HpoCallback, checkpoint_callback, resume_checkpoint

    trial = hpo.current_trial()
    trainer = pl.Trainer(
        max_epochs=int(trial.resource),
        callbacks=[HpoCallback(monitor="val_loss"), checkpoint_callback()],
    )
    trainer.fit(model, datamodule, ckpt_path=resume_checkpoint())

With several objectives (or other metrics) in the study, the callback reports each of the
study's metrics from the value logged under its name, or as ``metrics=`` maps them
(``HpoCallback(metrics={"loss": "val_loss", "latency_ms": "val_latency_ms"})``).

The resource is the number of epochs trained. ``max_epochs=int(trial.resource)`` ends the
assignment where the scheduler wants its next result; a stop decision before that (a trial
stopped at a rung by stopping-type ASHA, a stopped study) ends ``fit`` after the current
epoch. :func:`checkpoint_callback` keeps ``last.ckpt`` in the trial directory and
:func:`resume_checkpoint` hands it to the next assignment of the trial, so a paused trial
continues at the epoch and global step it reached, with its optimizer and scheduler state.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.trainer.states import TrainerFn

import hpo
from hpo.client import Decision
from hpo.trial_api import MetricSources, TrialContext, logged_report

LAST_CHECKPOINT = "last.ckpt"


class HpoCallback(Callback):
    """Reports ``trainer.callback_metrics[monitor]`` at the end of each validation run, with the
    number of epochs trained as the resource, and sets ``trainer.should_stop`` on a stop
    decision.

    A study with several metrics (objectives, declared metrics, a reported cost) takes them
    all in each report: ``metrics`` names them, each read from the value logged under its
    name, or maps each to the name it is logged under. By default they are the study's
    (``hpo.current_trial().metrics``), and ``monitor`` is used only when the study has one.

    It reports at ``on_validation_end``, after the epoch's logged values are aggregated into
    ``callback_metrics`` (the hook Lightning's own EarlyStopping uses). It skips the sanity
    check, whose metric comes from an untrained model, and ``trainer.validate()`` outside
    ``fit``, which trains nothing and so has no resource of its own. Validate once per
    epoch (``val_check_interval`` of 1.0, any ``check_val_every_n_epoch``): a second report at
    the same epoch would not grow the resource and would be refused.

    With several processes (DDP) only global rank 0 reports; the decision is broadcast so
    every rank stops at the same epoch.
    """

    def __init__(self, monitor: str = "val_loss", metrics: MetricSources | None = None) -> None:
        super().__init__()
        self.monitor = monitor
        self.metrics = metrics
        # The answer to the latest report (None before the first): after ``fit``, tells
        # whether training ended because hpo said stop.
        self.last_decision: Decision | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        stop = False
        if trainer.is_global_zero:
            try:
                value = logged_report(trainer.callback_metrics, self.monitor, self.metrics)
            except KeyError as error:
                raise KeyError(
                    f"HpoCallback: {error.args[0]}; log it in the LightningModule (self.log)"
                ) from None
            self.last_decision = hpo.report(trainer.current_epoch + 1, value)
            stop = self.last_decision.should_stop
        if trainer.strategy.broadcast(stop, src=0):
            trainer.should_stop = True


def _trial_dir(trial: TrialContext | None) -> Path:
    trial = trial or hpo.current_trial()
    if trial.trial_dir is None:
        raise RuntimeError("this trial has no trial directory to keep checkpoints in")
    return trial.trial_dir


def checkpoint_callback(trial: TrialContext | None = None) -> ModelCheckpoint:
    """A ModelCheckpoint that writes only ``last.ckpt`` in the trial directory, after every
    epoch (also the one a stop decision ends): the state the trial's next assignment resumes
    from (the directory is kept across assignments, see docs/worker.md)."""
    return ModelCheckpoint(dirpath=_trial_dir(trial), save_top_k=0, save_last=True)


def resume_checkpoint(trial: TrialContext | None = None) -> str | None:
    """The checkpoint to pass as ``Trainer.fit(ckpt_path=...)``: the trial directory's
    ``last.ckpt`` when the trial resumes (``HPO_RESUME_FROM`` > 0), else None (train from
    scratch).

    A resumed trial without that file raises instead of silently starting over: its earlier
    reports would then belong to another run than the ones it makes now."""
    trial = trial or hpo.current_trial()
    if trial.resume_from <= 0:
        return None
    path = _trial_dir(trial) / LAST_CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(
            f"trial {trial.number} resumes from {trial.resume_from:g} but {path} does not "
            "exist: add hpo.integrations.lightning.checkpoint_callback() to the Trainer"
        )
    return str(path)
