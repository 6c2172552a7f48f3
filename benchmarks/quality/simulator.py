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
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

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


class Stopwatch:
    """Wall-clock seconds spent inside the policy's calls, added up."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self, call: Callable[..., Any], *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return call(*args)
        finally:
            self.seconds += time.perf_counter() - started


class Driven(Protocol):
    """What :func:`run_workers` calls on a policy (its results may be of any type)."""

    def suggest(self, worker: int) -> Job | None: ...

    def report(self, job: Job, resource: float, result: Any) -> bool: ...

    def finish(self, job: Job) -> None: ...

    def finished(self) -> bool: ...


def run_workers(
    policy: Driven,
    levels: tuple[float, ...],
    workers: int,
    time_limit: float,
    *,
    arrival: Callable[[float, Job, float, float], float],
    on_suggest: Callable[[Job, float], None],
    on_result: Callable[[float, Job, float, float], Any],
) -> float:
    """The asynchronous worker loop both simulators share: free workers ask ``policy`` for work,
    each assignment trains from level to level and reports at each, until ``time_limit``.
    Returns the wall-clock seconds spent inside the policy.

    ``arrival(now, job, after, level)`` is when a worker training ``job`` from ``after``
    reaches ``level``; ``on_suggest(job, now)`` sees each assignment handed out;
    ``on_result(now, job, after, resource)`` makes the result the policy is told."""
    stopwatch = Stopwatch()
    clock = SimulatedClock()
    bind_clock = getattr(policy, "bind_clock", None)
    if bind_clock is not None:
        bind_clock(clock)
    # (time a worker reaches its next report, tie-breaker, worker, job, from, to resource)
    events: list[tuple[float, int, int, Job, float, float]] = []
    order = 0
    idle: list[int] = list(range(workers))
    now = 0.0

    def schedule(worker: int, job: Job, after: float) -> None:
        nonlocal order
        level = min([level for level in levels if level > after] + [job.target])
        order += 1
        heapq.heappush(events, (arrival(now, job, after, level), order, worker, job, after, level))

    while now < time_limit:
        for worker in list(idle):
            job = stopwatch(policy.suggest, worker)
            if job is None:
                continue
            idle.remove(worker)
            on_suggest(job, now)
            schedule(worker, job, job.start)
        if not events:
            if stopwatch(policy.finished):
                break
            raise RuntimeError("every worker waits and nothing runs: the policy is stuck")
        now, _, worker, job, after, resource = heapq.heappop(events)
        if now > time_limit:
            break
        clock.now = now
        keep_going = stopwatch(policy.report, job, resource, on_result(now, job, after, resource))
        if keep_going and resource < job.target:
            schedule(worker, job, resource)
        else:
            stopwatch(policy.finish, job)
            idle.append(worker)
    return stopwatch.seconds


def simulate(
    problem: Problem, policy: Policy, workers: int, time_limit: float, dense: bool = False
) -> Trajectory:
    """Run ``policy`` with ``workers`` workers until ``time_limit`` units of simulated time;
    workers report at the rung levels, and with ``dense`` also at every whole resource unit
    (each epoch, as a training loop does)."""
    trajectory = Trajectory()
    answers = [
        _Answer(problem, trajectory.answers["r_max"], r_max_only=True),
        _Answer(problem, trajectory.answers["any"], r_max_only=False),
    ]

    def on_suggest(job: Job, now: float) -> None:
        trajectory.suggestions += 1
        if job.start == 0:
            trajectory.trials += 1

    def on_result(now: float, job: Job, after: float, resource: float) -> float:
        value = problem.value(job.config, resource)
        for answer in answers:
            answer.observe(now, job.config, resource, value)
        if resource >= problem.resource.r_max:
            trajectory.r_max_results += 1
        return value

    levels = rung_levels(problem.resource)
    if dense:
        units = range(math.ceil(problem.resource.r_min), math.floor(problem.resource.r_max) + 1)
        levels = tuple(sorted({*levels, *map(float, units)}))
    trajectory.optimizer_seconds = run_workers(
        policy,
        levels,
        workers,
        time_limit,
        # One resource unit takes one time unit (written as before, for the same rounding).
        arrival=lambda now, job, after, level: now + level - after,
        on_suggest=on_suggest,
        on_result=on_result,
    )
    return trajectory
