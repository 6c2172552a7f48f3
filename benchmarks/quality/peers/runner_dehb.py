"""DEHB (differential evolution + Hyperband) behind the peer protocol (see protocol.py),
asked and told.

Runs with the interpreter of the DEHB environment; imports only the standard library,
DEHB (and its ConfigSpace) and the sibling protocol and configspace_build modules.

Each ``ask`` gives a (config, fidelity) job on the Hyperband fidelities ``r_min`` ..
``r_max`` spaced by ``eta``: a job trains from 0 to that fidelity (DEHB does not resume)
and is told its value there, with the fidelity as its cost. DEHB is asked again before
earlier jobs are told: a bracket whose next rung waits for results lets DEHB open a new
bracket, so it never has to wait. DEHB is made with ``n_workers=1`` because that number
only sizes the Dask cluster that its own ``run`` loop would start; asked and told it
needs none. Its log file and saved state go to a temporary directory, and it saves only
at the end of a ``run`` (never, here).
"""

from __future__ import annotations

import tempfile
from importlib.metadata import version
from typing import Any

from protocol import claim_stdout, finite, serve, wire_config

claim_stdout()  # DEHB's logger writes to sys.stdout as it is when DEHB is made

from configspace_build import build_configspace  # noqa: E402
from dehb import DEHB  # noqa: E402


class DehbOptimizer:
    library = "dehb"
    version = version("dehb")

    def __init__(self, request: dict[str, Any]) -> None:
        if request["method"] != "dehb":
            raise ValueError(f"unknown DEHB method {request['method']!r}; known: dehb")
        seed = int(request["seed"])
        resource = request["resource"]
        self.space = request["space"]
        configspace, self.labels = build_configspace(self.space, seed)
        self._directory = tempfile.TemporaryDirectory(prefix="dehb-")
        self.dehb = DEHB(
            cs=configspace,
            min_fidelity=float(resource["r_min"]),
            max_fidelity=float(resource["r_max"]),
            eta=float(resource["eta"]),
            n_workers=1,
            seed=seed,
            output_path=self._directory.name,
            save_freq="end",
            log_level="WARNING",
        )
        self.jobs: dict[str, dict[str, Any]] = {}
        self.last: dict[str, float] = {}
        self.asked = 0

    def suggest(self, worker: int) -> tuple[dict[str, Any] | None, bool]:
        info = self.dehb.ask()
        job_id = str(self.asked)
        self.asked += 1
        self.jobs[job_id] = info
        target = float(info["fidelity"])
        job = {
            "id": job_id,
            "config": wire_config(self.space, self.labels, info["config"]),
            "start": 0,
            "target": target,
        }
        return job, False

    def report(self, job_id: str, resource: float, value: float) -> bool:
        self.last[job_id] = value
        return resource < float(self.jobs[job_id]["fidelity"])

    def finish(self, job_id: str) -> None:
        info = self.jobs.pop(job_id)
        cost = float(info["fidelity"])
        self.dehb.tell(info, {"fitness": finite(self.last.pop(job_id)), "cost": cost})


if __name__ == "__main__":
    serve(DehbOptimizer)
