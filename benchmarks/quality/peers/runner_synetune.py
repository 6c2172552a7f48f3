"""Syne Tune's asynchronous multi-fidelity schedulers behind the peer protocol (see protocol.py).

Runs with the interpreter of the Syne Tune environment; imports only the standard
library, Syne Tune and the sibling protocol module. The schedulers are driven
exactly as Syne Tune's own ``Tuner`` drives them, without its backend:

* ``suggest(trial_id)`` with the next free trial id; a new trial is registered with
  ``on_trial_add``; a resume suggestion (``spawn_new_trial_id`` False) names the paused
  trial in ``checkpoint_trial_id`` and may replace its config (the promotion scheduler
  writes the next milestone into the max-resource attribute);
* every report goes to ``on_trial_result``; PAUSE and STOP end the job and call
  ``on_trial_remove``; a job that ran to its end on CONTINUE is ``on_trial_complete``.

All four run as promotion-type (pause and resume) asynchronous Hyperband with grace
period ``r_min``, reduction factor ``eta``, ``max_t = r_max``, the max resource also in
the config (``max_resource_attr``, Syne Tune's recommended set-up for promotion, which
makes a job stop at its next milestone), mode ``min`` and the run's seed. ASHA, MOBSTER
and BOHB keep Syne Tune's default of one bracket; Hyper-Tune, whose defining feature is
its model-based choice among brackets, gets every bracket (one per rung level).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version
from typing import Any

from protocol import (
    CATEGORICAL,
    FLOAT,
    INT,
    choice_labels,
    claim_stdout,
    integer_levels,
    rung_levels,
    serve,
    wire_config,
)

claim_stdout()  # Syne Tune prints notes about missing extras on import

from syne_tune.backend.trial_status import Trial  # noqa: E402
from syne_tune.config_space import choice, lograndint, loguniform, randint, uniform  # noqa: E402
from syne_tune.optimizer.baselines import ASHA, BOHB, MOBSTER, HyperTune  # noqa: E402
from syne_tune.optimizer.scheduler import SchedulerDecision  # noqa: E402

SCHEDULERS = {"st-asha": ASHA, "st-mobster": MOBSTER, "st-hypertune": HyperTune, "st-bohb": BOHB}
METRIC = "value"
RESOURCE_ATTR = "resource"
MAX_RESOURCE_ATTR = "_st_max_resource"


@dataclass
class _Job:
    trial_id: int
    last_result: dict[str, Any] | None = None
    decision: str = SchedulerDecision.CONTINUE


class SyneTuneOptimizer:
    library = "syne-tune"
    version = version("syne_tune")

    def __init__(self, request: dict[str, Any]) -> None:
        logging.getLogger("syne_tune").setLevel(logging.WARNING)
        method = request["method"]
        if method not in SCHEDULERS:
            raise ValueError(f"unknown Syne Tune method {method!r}; known: {sorted(SCHEDULERS)}")
        r_min, r_max, eta = integer_levels(request["resource"])
        self.space = request["space"]
        config_space: dict[str, Any] = {}
        self.labels: dict[str, list[str]] = {}
        for parameter in self.space:
            name, kind = parameter["name"], parameter["kind"]
            if kind == FLOAT:
                make = loguniform if parameter["log"] else uniform
                config_space[name] = make(parameter["low"], parameter["high"])
            elif kind == INT:
                make = lograndint if parameter["log"] else randint
                config_space[name] = make(parameter["low"], parameter["high"])
            else:
                assert kind == CATEGORICAL, kind
                self.labels[name] = choice_labels(parameter["choices"])
                config_space[name] = choice(self.labels[name])
        if MAX_RESOURCE_ATTR in config_space:
            raise ValueError(f"the space may not have a parameter called {MAX_RESOURCE_ATTR}")
        config_space[MAX_RESOURCE_ATTR] = r_max
        options: dict[str, Any] = {
            "metric": METRIC,
            "mode": "min",
            "resource_attr": RESOURCE_ATTR,
            "max_resource_attr": MAX_RESOURCE_ATTR,
            "max_t": r_max,
            "grace_period": r_min,
            "reduction_factor": eta,
            "type": "promotion",
            "random_seed": int(request["seed"]),
        }
        if method == "st-hypertune":
            options["brackets"] = len(rung_levels(request["resource"]))  # one per rung level
        self.scheduler = SCHEDULERS[method](config_space, **options)
        self.trials: dict[int, Trial] = {}
        self.checkpoint: dict[int, int] = {}  # trial id -> resource its checkpoint is at
        self.jobs: dict[str, _Job] = {}
        self.running: set[str] = set()

    def suggest(self, worker: int) -> tuple[dict[str, Any] | None, bool]:
        trial_id = len(self.trials)  # as the Tuner's backend numbers new trials
        suggestion = self.scheduler.suggest(trial_id=trial_id)
        if suggestion is None:
            return None, not self.running
        if suggestion.spawn_new_trial_id:
            if suggestion.checkpoint_trial_id is not None:
                raise RuntimeError("a new trial warm-started from a checkpoint is not supported")
            trial = Trial(trial_id=trial_id, config=dict(suggestion.config), creation_time=_now())
            self.trials[trial_id] = trial
            self.checkpoint[trial_id] = 0
            self.scheduler.on_trial_add(trial=trial)
        else:
            trial_id = int(suggestion.checkpoint_trial_id)
            trial = self.trials[trial_id]
            if suggestion.config is not None:
                trial.config = dict(suggestion.config)
        job_id = str(len(self.jobs))
        self.jobs[job_id] = _Job(trial_id)
        self.running.add(job_id)
        job = {
            "id": job_id,
            "config": wire_config(self.space, self.labels, trial.config),
            "start": self.checkpoint[trial_id],
            "target": int(trial.config[MAX_RESOURCE_ATTR]),
        }
        return job, False

    def report(self, job_id: str, resource: float, value: float) -> bool:
        job = self.jobs[job_id]
        trial = self.trials[job.trial_id]
        level = round(resource)
        result = {METRIC: float(value), RESOURCE_ATTR: level}
        self.checkpoint[job.trial_id] = level
        job.last_result = result
        job.decision = self.scheduler.on_trial_result(trial=trial, result=result)
        if job.decision == SchedulerDecision.CONTINUE:
            return True
        # The Tuner removes a paused or stopped trial from the scheduler's running set.
        self.scheduler.on_trial_remove(trial=trial)
        return False

    def finish(self, job_id: str) -> None:
        job = self.jobs[job_id]
        self.running.discard(job_id)
        if job.decision == SchedulerDecision.CONTINUE and job.last_result is not None:
            # The trial ended by itself, as a Tuner's backend reports it "completed".
            self.scheduler.on_trial_complete(self.trials[job.trial_id], job.last_result)


def _now() -> datetime:
    return datetime.now()


if __name__ == "__main__":
    serve(SyneTuneOptimizer)
