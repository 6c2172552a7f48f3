"""Training code of the fault-injection tests: a synthetic learning curve that takes a little
time per unit of resource, so that trials are running when a test kills something.

Every report it makes is logged to ``made.jsonl`` in the trial directory before it is sent,
and with the answer it got to ``reports.jsonl`` after; ``buffered`` says the worker could
not reach the coordinator and answered on its behalf, so a test can tell acknowledged
reports from buffered ones. It runs as a command
(``main``) or in the worker's process (``train``, with ``--function``).
"""

from __future__ import annotations

import json
import os
import time

import hpo
from hpo.trial_api import TrialContext

# Seconds of "training" per unit of resource (the workload, not a synchronisation).
STEP_SECONDS = float(os.environ.get("HPO_TEST_STEP_SECONDS", "0.05"))


def train(trial: TrialContext) -> None:
    assert trial.trial_dir is not None
    x = float(trial.config["x"])
    resource = int(trial.resume_from)
    with (trial.trial_dir / "reports.jsonl").open("a") as log:
        while True:
            time.sleep(STEP_SECONDS)
            resource += 1
            value = (x - 1.0) ** 2 + 2.0 / resource
            # Logged before it is sent too: the process may be killed before the answer comes.
            with (trial.trial_dir / "made.jsonl").open("a") as made:
                made.write(json.dumps({"number": trial.number, "resource": resource}) + "\n")
            decision = hpo.report(resource, value)
            entry = {
                "number": trial.number,
                "resource": resource,
                "value": value,
                "stop": decision.should_stop,
                "buffered": decision.buffered,
            }
            log.write(json.dumps(entry) + "\n")
            log.flush()
            if decision.should_stop:
                return


def main() -> None:
    trial = hpo.current_trial()
    assert trial.trial_dir is not None
    # A test that simulates a dead machine kills this process along with its worker.
    (trial.trial_dir / "pid").write_text(str(os.getpid()))
    train(trial)


if __name__ == "__main__":
    main()
