"""Driving a LocalStudy as one worker would, for the tests of samplers and priors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hpo.local import LocalAssignment, LocalStudy
from hpo.samplers.portfolio import MAX_MODEL_SHARE, MIN_MODEL_SHARE, portfolio_draw


def run_one_worker(
    study: LocalStudy, trials: int, objective: Callable[[dict[str, Any]], float]
) -> list[LocalAssignment]:
    """``trials`` assignments in turn: suggest, report ``objective`` at the assigned resource,
    complete. Promotions count as assignments (they repeat a trial number)."""
    jobs = []
    for _ in range(trials):
        job = study.suggest("w")
        assert isinstance(job, LocalAssignment)
        study.report(job.number, job.resource, objective(job.config))
        study.complete(job.number)
        jobs.append(job)
    return jobs


def model_expected(seed: int, number: int) -> bool | None:
    """Whether the portfolio gives new trial ``number`` to the model whatever the model's trust:
    True under the least share, False above the most, None in between (it depends on trust)."""
    draw = portfolio_draw(seed, number)
    if draw < MIN_MODEL_SHARE:
        return True
    if draw >= MAX_MODEL_SHARE:
        return False
    return None


def seed_giving_model(number: int) -> int:
    """The first seed whose portfolio gives new trial ``number`` to the model at any trust."""
    return next(seed for seed in range(1000) if model_expected(seed, number))
