"""SMAC3's multi-fidelity facade (random forest + Hyperband intensifier) behind the peer
protocol (see protocol.py), asked and told.

Runs with the interpreter of the SMAC environment; imports only the standard library,
SMAC (and its ConfigSpace) and the sibling protocol and configspace_build modules.

Each ``ask`` gives a (config, budget) trial: a job trains it from 0 to that budget
(SMAC does not resume) and is told when it reaches it. With several workers SMAC is
asked again before earlier trials are told: its intensifier yields the trials of its
current successive-halving stages that are neither running nor done and, when none is
left, opens a new batch of configurations in the next bracket, so it never has to wait;
should its config generator ever run dry (``StopIteration``) the worker waits, and
with nothing running the run is finished.

The budget is not a trial limit here (the simulator's clock is), so ``n_trials`` is set
far above any run's: it only caps SMAC's random initial design at a quarter of it, which
stays at SMAC's default of 10 configurations per hyperparameter. Everything SMAC writes
goes to a temporary directory.
"""

from __future__ import annotations

import logging
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

from protocol import claim_stdout, finite, serve, wire_config

claim_stdout()

from configspace_build import build_configspace  # noqa: E402
from smac import MultiFidelityFacade, Scenario  # noqa: E402
from smac.runhistory.dataclasses import TrialInfo, TrialValue  # noqa: E402

N_TRIALS = 10**7


class SmacOptimizer:
    library = "smac"
    version = version("smac")

    def __init__(self, request: dict[str, Any]) -> None:
        if request["method"] != "smac-mf":
            raise ValueError(f"unknown SMAC method {request['method']!r}; known: smac-mf")
        seed = int(request["seed"])
        resource = request["resource"]
        eta = float(resource["eta"])
        if eta != int(eta):
            raise ValueError(f"SMAC's Hyperband needs a whole eta, got {eta}")
        self.space = request["space"]
        configspace, self.labels = build_configspace(self.space, seed)
        self._directory = tempfile.TemporaryDirectory(prefix="smac-")
        scenario = Scenario(
            configspace,
            name="run",
            output_directory=Path(self._directory.name),
            deterministic=True,
            n_trials=N_TRIALS,
            min_budget=float(resource["r_min"]),
            max_budget=float(resource["r_max"]),
            seed=seed,
            n_workers=int(request.get("workers") or 1),
        )
        self.smac = MultiFidelityFacade(
            scenario,
            intensifier=MultiFidelityFacade.get_intensifier(scenario, eta=int(eta)),
            overwrite=True,
            logging_level=logging.ERROR,
        )
        self.jobs: dict[str, TrialInfo] = {}
        self.last: dict[str, float] = {}
        self.running: set[str] = set()
        self.exhausted = False

    def suggest(self, worker: int) -> tuple[dict[str, Any] | None, bool]:
        if self.exhausted:
            return None, not self.running
        try:
            info = self.smac.ask()
        except StopIteration:
            self.exhausted = True
            return None, not self.running
        job_id = str(len(self.jobs))
        self.jobs[job_id] = info
        self.running.add(job_id)
        job = {
            "id": job_id,
            "config": wire_config(self.space, self.labels, info.config),
            "start": 0,
            "target": info.budget,
        }
        return job, False

    def report(self, job_id: str, resource: float, value: float) -> bool:
        self.last[job_id] = value
        return resource < self.jobs[job_id].budget

    def finish(self, job_id: str) -> None:
        self.running.discard(job_id)
        info = self.jobs[job_id]
        value = TrialValue(cost=finite(self.last.pop(job_id)), time=float(info.budget))
        self.smac.tell(info, value, save=False)


if __name__ == "__main__":
    serve(SmacOptimizer)
