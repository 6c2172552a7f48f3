"""How a run is scored, from its log: one function per kind of problem.

* two objectives: the hypervolume of the true (noise-free) objective values of every
  configuration trained to ``r_max`` so far, normalised by the problem's fixed bounds, against
  the reference point (1.1, 1.1), at each checkpoint of the time limit;
* a constraint: the normalised regret of the answer (the best observed value at ``r_max``
  among results that met the constraint, scored by its true value; 1.0, the median random
  feasible configuration, before there is one), its true value, and the share of proposals
  (new configurations) that violate the constraint in each quarter of the run;
* a cost: the same answer's regret against the cost spent, at each checkpoint of the cost
  budget, and the mean cost rate of the configurations proposed in each quarter.

Checkpoints are fractions of the budget; keys are their text (``"0.25"``), as JSON wants.
"""

from __future__ import annotations

import bisect

import numpy as np

from benchmarks.quality.multi.problems import MultiProblem, ParetoProblem, ScalarProblem
from benchmarks.quality.multi.simulator import RunLog

CHECKPOINTS = (0.25, 0.5, 0.75, 1.0)
QUARTERS = 4


def score(problem: MultiProblem, log: RunLog, time_limit: float, cost_budget: float) -> dict:
    """The metrics of one run, for its result file."""
    counts = {
        "trials": len(log.configs),
        "r_max_results": sum(r.resource >= problem.resource.r_max for r in log.reports),
        "reports": len(log.reports),
        "suggestions": log.suggestions,
        "spent": log.spent,
    }
    if isinstance(problem, ParetoProblem):
        return {**counts, **pareto(problem, log, time_limit)}
    assert isinstance(problem, ScalarProblem)
    if problem.cost_metric is not None:
        return {**counts, **cost(problem, log, cost_budget)}
    return {**counts, **constrained(problem, log, time_limit)}


def pareto(problem: ParetoProblem, log: RunLog, time_limit: float) -> dict:
    finished = [
        (report.time, report.trial)
        for report in log.reports
        if report.resource >= problem.resource.r_max
    ]
    truths = {trial: problem.true_outcomes(log.configs[trial]) for _, trial in finished}
    hypervolume = {
        f"{fraction:g}": problem.hypervolume(
            [truths[trial] for moment, trial in finished if moment <= fraction * time_limit]
        )
        for fraction in CHECKPOINTS
    }
    return {"hypervolume": hypervolume, "best_hypervolume": problem.best_hypervolume}


def _answers(problem: ScalarProblem, log: RunLog, axis: str) -> tuple[list[float], list[float]]:
    """When (on ``axis``: ``time`` or ``spent``) the answer changed, and its true value then."""
    moments: list[float] = []
    values: list[float] = []
    best = float("inf")
    for report in log.reports:
        observed = report.outcomes
        if report.resource < problem.resource.r_max or not problem.feasible(observed):
            continue
        if observed["value"] < best:
            best = observed["value"]
            moments.append(getattr(report, axis))
            values.append(problem.true_outcomes(log.configs[report.trial])["value"])
    return moments, values


def _held(problem: ScalarProblem, answers: tuple[list[float], list[float]], horizon: float) -> dict:
    """Normalised regret and true value of the answer held at each checkpoint."""
    moments, values = answers
    regret: dict[str, float] = {}
    value: dict[str, float | None] = {}
    for fraction in CHECKPOINTS:
        held = bisect.bisect_right(moments, fraction * horizon)
        key = f"{fraction:g}"
        value[key] = values[held - 1] if held else None
        regret[key] = problem.normalized_regret(values[held - 1]) if held else 1.0
    return {"regret": regret, "value": value}


def _quarters(started: list[float], horizon: float) -> list[int]:
    """The quarter of the run each trial started in."""
    return [min(int(QUARTERS * moment / horizon), QUARTERS - 1) for moment in started]


def constrained(problem: ScalarProblem, log: RunLog, time_limit: float) -> dict:
    infeasible = [not problem.feasible(problem.true_outcomes(c)) for c in log.configs]
    quarters = _quarters(log.started, time_limit)
    share: list[float | None] = []
    for quarter in range(QUARTERS):
        flags = [flag for flag, q in zip(infeasible, quarters, strict=True) if q == quarter]
        share.append(float(np.mean(flags)) if flags else None)
    return {
        **_held(problem, _answers(problem, log, "time"), time_limit),
        "infeasible_share": share,
        "infeasible_overall": float(np.mean(infeasible)) if infeasible else None,
        "optimum": problem.optimum,
    }


def cost(problem: ScalarProblem, log: RunLog, cost_budget: float) -> dict:
    """Regret against the cost spent; where proposals sat on the cost axis, per quarter of the
    run (by the cost spent when they started)."""
    rates = [problem.rate(config) for config in log.configs]
    spent_at_start = [0.0] * len(log.configs)
    spent = 0.0
    reports = iter(log.reports)
    pending = next(reports, None)
    for trial, moment in enumerate(log.started):  # cost spent by each trial's start
        while pending is not None and pending.time <= moment:
            spent, pending = pending.spent, next(reports, None)
        spent_at_start[trial] = spent
    quarters = _quarters(spent_at_start, cost_budget)
    mean_rate: list[float | None] = []
    for quarter in range(QUARTERS):
        chosen = [rate for rate, q in zip(rates, quarters, strict=True) if q == quarter]
        mean_rate.append(float(np.mean(chosen)) if chosen else None)
    return {
        **_held(problem, _answers(problem, log, "spent"), cost_budget),
        "mean_rate": mean_rate,
        "optimum": problem.optimum,
    }
