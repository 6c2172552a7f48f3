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

import heapq
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from benchmarks.quality.multi.problems import MultiProblem
from benchmarks.quality.simulator import Job, SimulatedClock
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
    levels = rung_levels(problem.resource)
    log = RunLog()
    trials: dict[Any, int] = {}  # a job's key (hpo's trial number, an Optuna trial) -> trial
    clock = SimulatedClock()
    bind_clock = getattr(policy, "bind_clock", None)
    if bind_clock is not None:
        bind_clock(clock)
    # (time the worker reaches its next report, tie-breaker, worker, job, from, to resource)
    events: list[tuple[float, int, int, Job, float, float]] = []
    order = 0
    idle: list[int] = list(range(workers))
    now = 0.0

    def timed(call: Callable[..., Any], *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return call(*args)
        finally:
            log.optimizer_seconds += time.perf_counter() - started

    def schedule(worker: int, job: Job, after: float) -> None:
        nonlocal order
        level = min([level for level in levels if level > after] + [job.target])
        order += 1
        duration = (level - after) * problem.rate(job.config)
        heapq.heappush(events, (now + duration, order, worker, job, after, level))

    while now < time_limit:
        for worker in list(idle):
            job = timed(policy.suggest, worker)
            if job is None:
                continue
            idle.remove(worker)
            log.suggestions += 1
            if job.key not in trials:
                trials[job.key] = len(log.configs)
                log.configs.append(dict(job.config))
                log.started.append(now)
            schedule(worker, job, job.start)
        if not events:
            if timed(policy.finished):
                break
            raise RuntimeError("every worker waits and nothing runs: the policy is stuck")
        now, _, worker, job, after, resource = heapq.heappop(events)
        if now > time_limit:
            break
        clock.now = now
        log.spent += (resource - after) * problem.rate(job.config)
        outcomes = problem.outcomes(job.config, resource)
        log.reports.append(Report(now, log.spent, trials[job.key], resource, outcomes))
        keep_going = timed(policy.report, job, resource, outcomes)
        if keep_going and resource < job.target:
            schedule(worker, job, resource)
        else:
            timed(policy.finish, job)
            idle.append(worker)
    return log
