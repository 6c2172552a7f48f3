"""An asynchronous multi-worker study on a simulated clock, for any optimizer.

``N`` workers ask an optimizer (a :class:`Policy`) for work, "train" by reading
the problem's learning curve, and report at the rung levels they cross;
training one resource unit costs one unit of simulated time, so the clock
measures compute exactly as a real cluster would and a run of thousands of
trials takes seconds. A worker told to wait asks again when the next worker
finishes. The run stops at the time limit.

The optimizer's *answers* at any moment are the same for every method, and
two are tracked:

* ``r_max``: the configuration with the best value observed at ``r_max``, the
  model a user can deploy as it is (none before the first ``r_max`` result);
* ``any``: the configuration with the best value observed at any resource
  (what was *found*, whether or not it was trained to the end).

An answer's regret is its configuration's true value at ``r_max`` (noise-free
where the problem is noisy) against the problem's optimum. Wall-clock time
spent inside the optimizer is measured separately. A policy that needs the
simulated time (hpo's background fits, :mod:`benchmarks.quality.clocked_models`)
offers ``bind_clock(clock)``; the simulator keeps ``clock.now`` current.
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
class Steps:
    """Normalised regret of one answer over simulated time (a step function)."""

    times: list[float] = field(default_factory=list)
    regrets: list[float] = field(default_factory=list)


@dataclass
class Trajectory:
    """The answers' regret over simulated time, and what the run cost."""

    answers: dict[str, Steps] = field(default_factory=lambda: {"r_max": Steps(), "any": Steps()})
    suggestions: int = 0
    optimizer_seconds: float = 0.0
    trials: int = 0
    # Results reported at r_max: full-resource models the run produced.
    r_max_results: int = 0


class _Answer:
    """Tracks the best observed value among results that ``counts``, and its regret."""

    def __init__(self, problem: Problem, steps: Steps, r_max_only: bool) -> None:
        self.problem = problem
        self.steps = steps
        self.r_max_only = r_max_only
        self.value = float("inf")

    def observe(self, moment: float, config: Config, resource: float, value: float) -> None:
        if self.r_max_only and resource < self.problem.resource.r_max:
            return
        if value < self.value:
            self.value = value
            self.steps.times.append(moment)
            self.steps.regrets.append(
                self.problem.normalized_regret(self.problem.final_value(config))
            )


@dataclass
class SimulatedClock:
    """The simulated time, in resource units."""

    now: float = 0.0


def simulate(problem: Problem, policy: Policy, workers: int, time_limit: float) -> Trajectory:
    """Run ``policy`` with ``workers`` workers until ``time_limit`` units of simulated time."""
    levels = rung_levels(problem.resource)
    trajectory = Trajectory()
    answers = [
        _Answer(problem, trajectory.answers["r_max"], r_max_only=True),
        _Answer(problem, trajectory.answers["any"], r_max_only=False),
    ]
    clock = SimulatedClock()
    bind_clock = getattr(policy, "bind_clock", None)
    if bind_clock is not None:
        bind_clock(clock)
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
        clock.now = now
        assert job is not None
        value = problem.value(job.config, resource)
        for answer in answers:
            answer.observe(now, job.config, resource, value)
        if resource >= problem.resource.r_max:
            trajectory.r_max_results += 1
        keep_going = timed(policy.report, job, resource, value)
        if keep_going and resource < job.target:
            level = next_level(job, resource)
            order += 1
            heapq.heappush(events, (now + level - resource, order, worker, job, level))
        else:
            timed(policy.finish, job)
            idle.append(worker)
    return trajectory
