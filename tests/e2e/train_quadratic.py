"""Training script of the end-to-end tests: a synthetic learning curve, one report per unit.

It logs every report it made and the decision it got to ``reports.jsonl`` in its
trial directory, so a test can compare what the workers reported with what the
store holds.
"""

from __future__ import annotations

import json
import os

import hpo


def main() -> None:
    trial = hpo.current_trial()
    assert trial.trial_dir is not None
    x = float(trial.config["x"])
    resource = int(trial.resume_from)
    with (trial.trial_dir / "reports.jsonl").open("a") as log:
        while True:
            resource += 1
            value = (x - 1.0) ** 2 + 2.0 / resource + 0.01 * int(trial.config["units"]).bit_length()
            decision = hpo.report(resource, value)
            entry = {
                "number": trial.number,
                "resource": resource,
                "value": value,
                "stop": decision.should_stop,
                "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
            }
            log.write(json.dumps(entry) + "\n")
            log.flush()
            if decision.should_stop:
                return


if __name__ == "__main__":
    main()
