"""Two objectives and a constraint from Python: lower loss against lower latency, within a
memory budget; the study's answer is a Pareto front, printed at the end.

    hpo serve --db hpo.db &                   # in another terminal
    python examples/multi_objective.py 127.0.0.1:50051

The study is ``multi_objective.json`` (``hpo study create --spec`` takes it too): objectives
``loss`` and ``latency_ms``, both minimised, and ``memory_gb <= 40``. Every report names the
three metrics. The "training" is a toy in which a bigger network learns better but answers
more slowly and needs more memory, so no configuration is best at everything; replace
``train_one_epoch`` with yours.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import hpo

SPEC = Path(__file__).with_name("multi_objective.json")


def train_one_epoch(config: dict, epoch: int) -> dict[str, float]:
    """A toy network's metrics after ``epoch`` epochs: the loss falls with size and epochs
    and is lowest near a learning rate of 0.003; latency and memory grow with size."""
    size = config["depth"] * config["width"]
    return {
        "loss": 0.1 * (math.log10(config["lr"]) + 2.5) ** 2 + 4 / math.sqrt(size) + 1 / epoch,
        "latency_ms": 0.5 * config["depth"] * math.sqrt(config["width"]),
        "memory_gb": size / 100,
    }


def main(address: str) -> None:
    with hpo.Client(address) as client:
        spec = hpo.StudySpec.from_json(json.loads(SPEC.read_text()))
        study = client.create_study_from_spec(spec, exist_ok=True)
        while (trial := study.suggest()) is not None:
            with trial:
                for epoch in range(int(trial.resume_from) + 1, int(trial.resource) + 1):
                    if trial.report(epoch, train_one_epoch(trial.config, epoch)).should_stop:
                        break
        # Sorted by loss, the front reads as a trade-off: each trial is faster than the ones
        # above it and has a higher loss.
        front = sorted(study.pareto_front(), key=lambda entry: entry.metrics["loss"])
        print(f"Pareto front at {front[0].resource:g} epochs ({len(front)} trials):")
        for entry in front:
            metrics = ", ".join(f"{name} {value:.4g}" for name, value in entry.metrics.items())
            kind = "feasible" if entry.feasible else "infeasible"
            print(f"  trial {entry.trial.number}: {metrics} ({kind}) {entry.config}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else hpo.client.DEFAULT_ADDRESS)
