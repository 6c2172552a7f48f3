"""An asynchronous multi-worker study of a multi-outcome problem, on a clock that charges cost.

As :mod:`benchmarks.quality.simulator` (``N`` workers ask a policy for work, train to the rung
levels they cross and report there, a worker told to wait asks again when the next one
finishes, the run stops at the time limit), with two differences:

* a report carries every metric of the problem (objectives, constraint metrics, cost), not one
  value;
* training a configuration from resource ``a`` to ``b`` takes ``(b - a) * problem.rate(config)``
  of simulated time, and that is also what it costs: on the cost problem a cheap configuration
  finishes sooner, so a method that favours cheap ones gets more results per budget.

Rather than tracking an answer while it runs, the simulator keeps a log of every trial's start
and every report (:class:`RunLog`); each kind of problem is scored from it afterwards
(:mod:`benchmarks.quality.multi.metrics`). Wall-clock time spent inside the policy is measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from benchmarks.quality.multi.problems import MultiProblem
from benchmarks.quality.simulator import Job, run_workers
from hpo.schedulers.rungs import rung_levels
from hpo.space import Config


class MultiPolicy(Protocol):
    """An optimizer as the simulator drives it; ``None`` from ``suggest`` means "wait"."""

    def suggest(self, worker: int) -> Job | None: ...

    def report(self, job: Job, resource: float, outcomes: Mapping[str, float]) -> bool:
        """Record a result (every metric of the problem); True to keep training this job."""
        ...

    def finish(self, job: Job) -> None: ...

    def finished(self) -> bool: ...


@dataclass(frozen=True)
class Report:
    """One result: when it came (simulated time, and cost spent by then), of which trial."""

    time: float
    spent: float
    trial: int
    resource: float
    outcomes: dict[str, float]


@dataclass
class RunLog:
    """Every trial (numbered in order of their first assignment) and every report of a run."""

    configs: list[Config] = field(default_factory=list)
    started: list[float] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    suggestions: int = 0
    optimizer_seconds: float = 0.0
    # Cost charged for the training that reached a report (idle workers cost nothing).
    spent: float = 0.0


def simulate(problem: MultiProblem, policy: MultiPolicy, workers: int, time_limit: float) -> RunLog:
    """Run ``policy`` with ``workers`` workers until ``time_limit`` units of simulated time."""
    log = RunLog()
    trials: dict[Any, int] = {}  # a job's key (hpo's trial number, an Optuna trial) -> trial

    def on_suggest(job: Job, now: float) -> None:
        log.suggestions += 1
        if job.key not in trials:
            trials[job.key] = len(log.configs)
            log.configs.append(dict(job.config))
            log.started.append(now)

    def on_result(now: float, job: Job, after: float, resource: float) -> dict[str, float]:
        log.spent += (resource - after) * problem.rate(job.config)
        outcomes = problem.outcomes(job.config, resource)
        log.reports.append(Report(now, log.spent, trials[job.key], resource, outcomes))
        return outcomes

    log.optimizer_seconds = run_workers(
        policy,
        rung_levels(problem.resource),
        workers,
        time_limit,
        arrival=lambda now, job, after, level: now + (level - after) * problem.rate(job.config),
        on_suggest=on_suggest,
        on_result=on_result,
    )
    return log
