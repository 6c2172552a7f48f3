"""Driving a LocalStudy as one worker would, for the tests of samplers and priors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hpo.local import LocalAssignment, LocalStudy


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
