"""Training script with several metrics: loss and latency trade off through ``units``, and
memory grows with it (``units <= 160`` keeps ``memory_gb <= 40``).

It trains from the trial's resume point up to its assigned resource and reports each unit
in the form its argument names: ``pipe`` (``hpo.report`` with a mapping, the default),
``text`` (``@hpo report resource=1 loss=...`` on stdout) or ``json`` (``@hpo report {...}``).
Every report it made goes to ``reports.jsonl`` in the trial directory, with the answer where
it gets one, so a test can compare what was reported with what the store holds.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping

import hpo


def metrics_at(config: Mapping[str, object], resource: int) -> dict[str, float]:
    """The synthetic learning curve: more units lower the loss but cost latency and memory."""
    x, units = float(config["x"]), int(config["units"])  # type: ignore[arg-type]
    return {
        "loss": (x - 1.0) ** 2 + 2.0 / resource + 8.0 / units,
        "latency_ms": 0.5 * units,
        "memory_gb": units / 4.0,
    }


def report(mode: str, resource: int, metrics: dict[str, float]) -> bool | None:
    """Report in ``mode``; whether to stop, or None where the command cannot hear it."""
    if mode == "pipe":
        return hpo.report(resource, metrics).should_stop
    if mode == "text":
        fields = " ".join(f"{name}={value!r}" for name, value in metrics.items())
        print(f"@hpo report resource={resource} {fields}", flush=True)
    else:
        print("@hpo report " + json.dumps({"resource": resource, **metrics}), flush=True)
    return None


def main(mode: str) -> None:
    trial = hpo.current_trial()
    assert trial.trial_dir is not None
    with (trial.trial_dir / "reports.jsonl").open("a") as log:
        for resource in range(int(trial.resume_from) + 1, int(trial.resource) + 1):
            metrics = metrics_at(trial.config, resource)
            stop = report(mode, resource, metrics)
            entry = {"number": trial.number, "resource": resource, "metrics": metrics}
            log.write(json.dumps({**entry, "stop": stop, "known": list(trial.metrics)}) + "\n")
            log.flush()
            if stop:
                return


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "pipe")
