"""An asynchronous multi-worker study on a simulated clock, for any optimizer.

``N`` workers ask an optimizer (a :class:`Policy`) for work, "train" by reading
the problem's learning curve, and report at the rung levels they cross;
training one resource unit costs one unit of simulated time, so the clock
measures compute exactly as a real cluster would and a run of thousands of
trials takes seconds. A worker told to wait asks again when the next worker
finishes. The run stops at the time limit.

The optimizer's *answer* at any moment is the same for every method: the
configuration with the best value at the highest resource any trial has
reached so far (what ``hpo study best`` returns), and its regret is that
configuration's true final value (at r_max) against the problem's optimum.
Wall-clock time spent inside the optimizer is measured separately.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from typing import Protocol

from benchmarks.quality.problems import Problem
from hpo.schedulers.rungs import rung_levels
from hpo.space import Config


@dataclass
class Job:
    """One assignment: train ``config`` from ``start`` to at most ``target``."""

    key: object
    config: Config
    start: float
    target: float


class Policy(Protocol):
    """An optimizer as the simulator drives it; ``None`` from ``suggest`` means "wait"."""

    def suggest(self, worker: int) -> Job | None: ...

    def report(self, job: Job, resource: float, value: float) -> bool:
        """Record a result; True to keep training this job."""
        ...

    def finish(self, job: Job) -> None:
        """The worker stopped training ``job`` (it reached its target or was told to stop)."""
        ...

    def finished(self) -> bool:
        """No work will ever come again (a trial budget is spent)."""
        ...


@dataclass
class Trajectory:
    """Normalised regret of the optimizer's answer over simulated time (a step function)."""

    times: list[float] = field(default_factory=list)
    regrets: list[float] = field(default_factory=list)
    suggestions: int = 0
    optimizer_seconds: float = 0.0
    trials: int = 0


class _Answer:
    """Tracks the best value at the highest resource reached, and its regret."""

    def __init__(self, problem: Problem, trajectory: Trajectory) -> None:
        self.problem = problem
        self.trajectory = trajectory
        self.resource = -1.0
        self.value = float("inf")

    def observe(self, moment: float, config: Config, resource: float, value: float) -> None:
        if resource > self.resource or (resource == self.resource and value < self.value):
            self.resource, self.value = resource, value
            regret = self.problem.normalized_regret(self.problem.final_value(config))
            self.trajectory.times.append(moment)
            self.trajectory.regrets.append(regret)


def simulate(problem: Problem, policy: Policy, workers: int, time_limit: float) -> Trajectory:
    """Run ``policy`` with ``workers`` workers until ``time_limit`` units of simulated time."""
    levels = rung_levels(problem.resource)
    trajectory = Trajectory()
    answer = _Answer(problem, trajectory)
    # (time a worker becomes free or reaches its next report, tie-breaker, worker, job, resource)
    events: list[tuple[float, int, int, Job | None, float]] = []
    order = 0
    idle: list[int] = list(range(workers))
    now = 0.0

    def timed(call, *args):  # noqa: ANN001, ANN202 - a thin stopwatch around policy calls
        started = time.perf_counter()
        try:
            return call(*args)
        finally:
            trajectory.optimizer_seconds += time.perf_counter() - started

    def next_level(job: Job, after: float) -> float:
        return min([level for level in levels if level > after] + [job.target])

    while now < time_limit:
        for worker in list(idle):
            job = timed(policy.suggest, worker)
            if job is None:
                continue
            idle.remove(worker)
            trajectory.suggestions += 1
            if job.start == 0:
                trajectory.trials += 1
            level = next_level(job, job.start)
            order += 1
            heapq.heappush(events, (now + level - job.start, order, worker, job, level))
        if not events:
            if timed(policy.finished):
                break
            raise RuntimeError("every worker waits and nothing runs: the policy is stuck")
        now, _, worker, job, resource = heapq.heappop(events)
        if now > time_limit:
            break
        assert job is not None
        value = problem.value(job.config, resource)
        answer.observe(now, job.config, resource, value)
        keep_going = timed(policy.report, job, resource, value)
        if keep_going and resource < job.target:
            level = next_level(job, resource)
            order += 1
            heapq.heappush(events, (now + level - resource, order, worker, job, level))
        else:
            timed(policy.finish, job)
            idle.append(worker)
    return trajectory
