"""A study with two objectives, one outcome constraint and a cost, filled through a real
coordinator, for the tests of its front: the dashboard's API and page, and ``hpo study front``.

Its trials trade ``loss`` (minimised) against ``accuracy`` (maximised) along ``x``; the
constraint ``latency_ms <= 25`` holds for every result at epoch 1 and breaks at epoch 3 when
``y > 0.5``, so the top rung has feasible and infeasible results; ``gpu_hours`` grows with
the epochs trained. ASHA at epochs 1 and 3 promotes a third of the trials by non-dominated
sorting.
"""

from __future__ import annotations

from typing import Any

import hpo
from hpo.client import Client, Study
from hpo.spec import Resource, StudySpec

NAME = "pareto"
LATENCY_BOUND = 25.0
TRIALS = 24


def spec(name: str = NAME, bound: float = LATENCY_BOUND) -> StudySpec:
    """The study; a ``bound`` below 5 makes every result infeasible."""
    return StudySpec(
        name=name,
        space=hpo.Space({"x": hpo.Float(0.0, 1.0), "y": hpo.Float(0.0, 1.0)}),
        resource=Resource(1, 3, 3, name="epochs"),
        algorithm="asha",
        max_trials=TRIALS,
        seed=11,
        objectives=[
            {"metric": "loss", "direction": "minimize"},
            {"metric": "accuracy", "direction": "maximize"},
        ],
        metrics=["latency_ms"],
        constraints=[{"metric": "latency_ms", "op": "<=", "bound": bound}],
        cost={"metric": "gpu_hours"},
        description="two objectives, a latency constraint and a cost",
    )


def outcome(config: dict[str, Any], epoch: int) -> dict[str, float]:
    """Every metric of one report (rounded: the values compared are the values reported)."""
    x, y = config["x"], config["y"]
    return {
        "loss": round((x - 0.2) ** 2 + 0.5 / epoch + 0.05 * y, 6),
        "accuracy": round(1 - (x - 0.8) ** 2 - 0.3 / epoch, 6),
        "latency_ms": round(20 * y + 5 * epoch, 6),
        "gpu_hours": round(epoch * (0.1 + y), 6),
    }


def fill(client: Client, name: str = NAME, bound: float = LATENCY_BOUND) -> Study:
    """Create the study and run it to the end as one worker: one report per epoch until the
    coordinator says stop, then the next assignment."""
    study = client.create_study_from_spec(spec(name, bound))
    while (trial := study.suggest()) is not None:
        with trial:
            for epoch in range(int(trial.resume_from) + 1, int(trial.resource) + 1):
                if trial.report(epoch, outcome(trial.config, epoch)).should_stop:
                    break
    return study
