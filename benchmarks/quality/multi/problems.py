"""What a problem of this benchmark is: outcomes a worker reports, the truth they are scored
on, and what training costs.

Each problem reports several named metrics at every resource level: its objectives (all
minimised), the metrics of its outcome constraints (``metric <= bound``) and, for a
cost-aware problem, the cumulative cost of training so far. What a worker *sees* at a
resource may be biased and noisy; runs are scored on the noise-free values at ``r_max``
(``true_outcomes``), as the suite scores regret. ``rate`` is the simulated time one resource
unit of a configuration takes (1 except on the cost problem), so a cheap configuration is also
a quick one and a method that favours cheap configurations gets more evaluations per budget.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

import numpy as np

from benchmarks.quality.multi.hypervolume import hypervolume_2d, normalise
from hpo.space import Config, ParamValue, Space
from hpo.spec import Resource

# Random configurations whose median true value is a scalar problem's normalised regret 1.
REFERENCE_SAMPLES = 10_000


class MultiProblem(ABC):
    """A problem with named outcomes; subclasses are :class:`ParetoProblem` (several
    objectives) and :class:`ScalarProblem` (one objective, with a constraint or a cost)."""

    name: str
    space: Space
    resource: Resource
    objectives: tuple[str, ...]
    # (metric, bound): a result is feasible when metric <= bound.
    constraints: tuple[tuple[str, float], ...] = ()
    cost_metric: str | None = None

    @abstractmethod
    def outcomes(self, config: Mapping[str, ParamValue], resource: float) -> dict[str, float]:
        """Every metric a worker reports after training ``config`` to ``resource``
        (deterministic: noise is a hash of the configuration and the resource)."""

    @abstractmethod
    def true_outcomes(self, config: Mapping[str, ParamValue]) -> dict[str, float]:
        """The noise-free metrics of ``config`` trained to ``r_max``: what runs are scored on."""

    def rate(self, config: Mapping[str, ParamValue]) -> float:
        """Simulated time (and cost) of one resource unit of ``config``."""
        return 1.0

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric a report carries: objectives, constraint metrics, then the cost."""
        names = [*self.objectives, *(metric for metric, _ in self.constraints)]
        if self.cost_metric is not None:
            names.append(self.cost_metric)
        return tuple(dict.fromkeys(names))

    def feasible(self, outcomes: Mapping[str, float]) -> bool:
        return all(outcomes[metric] <= bound for metric, bound in self.constraints)

    def check_resource(self, resource: float) -> None:
        if not self.resource.contains(resource):
            raise ValueError(f"{self.name}: resource {resource} is outside the resource range")

    def random_configs(self, count: int, seed: int = 0) -> list[Config]:
        rng = np.random.default_rng(seed)
        return [self.space.sample(rng) for _ in range(count)]


class ParetoProblem(MultiProblem):
    """Two objectives, scored by the hypervolume of the true values of the configurations
    trained to ``r_max``, normalised by fixed ``bounds`` (log scale where ``log_scale``)."""

    bounds: tuple[tuple[float, float], ...]
    log_scale: tuple[bool, ...] = (False, False)

    def normalised(self, outcomes: list[Mapping[str, float]]) -> np.ndarray:
        points = np.array([[values[m] for m in self.objectives] for values in outcomes])
        return normalise(points, self.bounds, self.log_scale)

    def hypervolume(self, outcomes: list[Mapping[str, float]]) -> float:
        return hypervolume_2d(self.normalised(outcomes)) if outcomes else 0.0

    @property
    @abstractmethod
    def best_hypervolume(self) -> float:
        """The true front's hypervolume (or the best known): how far from the end a run is."""


class ScalarProblem(MultiProblem):
    """One objective, ``value``; regret is normalised as the suite's, 0 at the (feasible)
    optimum and 1 at the median true value of random (feasible) configurations."""

    objectives = ("value",)

    @property
    @abstractmethod
    def optimum(self) -> float:
        """The best true value of a feasible configuration."""

    @cached_property
    def reference(self) -> float:
        values = [
            outcomes["value"]
            for outcomes in map(self.true_outcomes, self.random_configs(REFERENCE_SAMPLES))
            if self.feasible(outcomes)
        ]
        return float(np.median(values))

    def normalized_regret(self, value: float) -> float:
        return (value - self.optimum) / (self.reference - self.optimum)


PROBLEM_NAMES = ("zdt-r", "mlp-size", "constrained", "cost")


def get_problem(name: str, cache_dir: Path | None = None) -> MultiProblem:
    """The problem called ``name``; ``mlp-size`` keeps its curves in ``cache_dir``."""
    # Imported when asked for: those modules import this one.
    from benchmarks.quality.multi import synthetic

    if name == "zdt-r":
        return synthetic.ZdtR()
    if name == "constrained":
        return synthetic.ConstrainedBranin()
    if name == "cost":
        return synthetic.CostlyHartmann()
    if name == "mlp-size":
        from benchmarks.quality.multi.mlp_size import MlpSize

        return MlpSize(cache_dir)
    raise ValueError(f"unknown problem {name!r}; the problems are {', '.join(PROBLEM_NAMES)}")
