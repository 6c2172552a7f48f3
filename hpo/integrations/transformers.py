"""Hugging Face ``transformers.Trainer``: report each evaluation to hpo and stop when told to.

    from hpo.integrations.transformers import HpoTrainerCallback, resume_checkpoint

    trial = hpo.current_trial()
    args = TrainingArguments(
        output_dir=str(trial.trial_dir),
        num_train_epochs=trial.resource,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        learning_rate=trial.config["learning_rate"],
    )
    trainer = Trainer(model, args, train_dataset=..., eval_dataset=...,
                      callbacks=[HpoTrainerCallback(metric="eval_loss")])
    trainer.train(resume_from_checkpoint=resume_checkpoint())

With several objectives (or other metrics) in the study, the callback reports each of the
study's metrics from the evaluation's value of that name with the Trainer's ``eval_`` prefix
(study metric ``latency_ms``: ``eval_latency_ms``), or as ``metrics=`` maps them
(``HpoTrainerCallback(metrics={"loss": "eval_loss", "latency_ms": "eval_latency"})``).

The resource is the epoch count (``TrainerState.epoch``, fractional when evaluating every N
steps), so studies of Trainer runs and of plain PyTorch loops read alike; pass
``resource="step"`` for the optimizer step count instead (then set ``max_steps`` to
``trial.resource``). Saving at every evaluation keeps a checkpoint of the epoch a pause
decision ends, and :func:`resume_checkpoint` gives the trial's next assignment the newest one:
the Trainer restores the model, optimizer, scheduler, step and RNG states from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch.distributed
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

import hpo
from hpo.client import Decision
from hpo.trial_api import MetricSources, TrialContext, logged_report

# What the Trainer puts before the name of every metric an evaluation returns.
EVAL_PREFIX = "eval_"


class HpoTrainerCallback(TrainerCallback):
    """Reports ``metrics[metric]`` of every evaluation during ``train`` (``on_evaluate``) and
    sets ``control.should_training_stop`` on a stop decision.

    A study with several metrics (objectives, declared metrics, a reported cost) takes them
    all in each report: ``metrics`` names them, each read from the evaluation's value of
    that name, or maps each to the key it has there. By default they are the study's
    (``hpo.current_trial().metrics``), each read under its name with the ``eval_`` prefix
    the Trainer gives evaluation metrics (kept once when the name has it already), and
    ``metric`` is used only when the study has one.

    Evaluations outside ``train`` (a final ``trainer.evaluate()``) are not reported: they
    train nothing, so they have no resource of their own, and a second report at the same
    resource would be refused. With several processes only the main one reports; the decision
    is broadcast so every process stops at the same step.
    """

    def __init__(
        self,
        metric: str = "eval_loss",
        resource: Literal["epoch", "step"] = "epoch",
        metrics: MetricSources | None = None,
    ) -> None:
        if resource not in ("epoch", "step"):
            raise ValueError(f"resource must be 'epoch' or 'step', not {resource!r}")
        self.metric = metric
        self.metrics = metrics
        self.resource = resource
        # The answer to the latest report (None before the first): after ``train``, tells
        # whether training ended because hpo said stop.
        self.last_decision: Decision | None = None
        self._training = False

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        self._training = True

    def on_train_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        self._training = False

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if not self._training:
            return
        stop = False
        if state.is_world_process_zero:
            try:
                value = logged_report(metrics or {}, self.metric, self.metrics, EVAL_PREFIX)
            except KeyError as error:
                raise KeyError(
                    f"HpoTrainerCallback: {error.args[0]}; return it from compute_metrics"
                ) from None
            resource = state.epoch if self.resource == "epoch" else state.global_step
            assert resource is not None, "the Trainer sets the epoch from its first step on"
            self.last_decision = hpo.report(float(resource), value)
            stop = self.last_decision.should_stop
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            shared = [stop]
            torch.distributed.broadcast_object_list(shared, src=0)
            stop = shared[0]
        if stop:
            control.should_training_stop = True


def resume_checkpoint(
    output_dir: str | Path | None = None, trial: TrialContext | None = None
) -> str | None:
    """The checkpoint to pass as ``Trainer.train(resume_from_checkpoint=...)``: the newest
    ``checkpoint-<step>`` directory in ``output_dir`` (default: the trial directory) when the
    trial resumes (``HPO_RESUME_FROM`` > 0), else None (train from scratch).

    A resumed trial without a checkpoint raises instead of silently starting over: its
    earlier reports would then belong to another run than the ones it makes now."""
    trial = trial or hpo.current_trial()
    if trial.resume_from <= 0:
        return None
    if output_dir is None:
        if trial.trial_dir is None:
            raise RuntimeError("this trial has no trial directory: pass output_dir")
        output_dir = trial.trial_dir
    last = get_last_checkpoint(str(output_dir))
    if last is None:
        raise FileNotFoundError(
            f"trial {trial.number} resumes from {trial.resume_from:g} but {output_dir} holds "
            "no checkpoint-<step> directory: save at every evaluation (save_strategy)"
        )
    return last
