"""The answer a study gives: its best trials at the highest rung that has results, as a Pareto
set for several objectives, feasible ones only when any is feasible, within a cost budget.

Pure: it reads a study's settled results (``StudyContents.rung_results``) and its spec, so the
coordinator's ``GetParetoFront`` and ``GetBest`` (with several objectives, constraints or a
cost budget) and the dashboard agree on one definition (docs/study-spec.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hpo.errors import InvalidArgumentError
from hpo.outcomes import signed_objectives
from hpo.outcomes import violations as total_violations
from hpo.pareto import non_dominated_fronts, rung_order
from hpo.spec import StudySpec
from hpo.study_store import RungRow
from hpo.validation import is_finite_number

# (trial number, rung, primary value, metrics or None), as the store lists settled reports.


@dataclass(frozen=True)
class FrontMember:
    number: int
    # The primary objective's value, and every metric of the result.
    value: float
    metrics: Mapping[str, float]
    feasible: bool


@dataclass(frozen=True)
class Front:
    """The non-dominated results at ``rung``, in the rung's ranking order (MO-ASHA)."""

    rung: int
    members: tuple[FrontMember, ...]

    def best(self, spec: StudySpec) -> FrontMember:
        """The member best in the primary objective (earliest trial on ties)."""
        sign = spec.objective.sign
        return min(self.members, key=lambda member: (sign * member.value, member.number))


def check_budget(spec: StudySpec, max_cost: float | None) -> None:
    """A cost budget needs a cost metric, and is a finite number."""
    if max_cost is None:
        return
    if spec.cost is None:
        raise InvalidArgumentError("max_cost", "the study has no cost metric (spec.cost)")
    if not is_finite_number(max_cost):
        raise InvalidArgumentError("max_cost", f"must be a finite number, got {max_cost}")


def pareto_front(
    spec: StudySpec, rung_results: Sequence[RungRow], max_cost: float | None = None
) -> Front | None:
    """The study's front, or None before any result (within ``max_cost``, if given).

    The rung is the highest with a feasible result, or, with none feasible anywhere, the
    highest with results; the members are the feasible non-dominated results there, or the
    least infeasible ones."""
    check_budget(spec, max_cost)
    # A one-value report stores no metrics, or only a measured cost: its value is the primary.
    members = [
        FrontMember(
            row.number, row.value, {spec.objective.metric: row.value, **(row.metrics or {})}, True
        )
        for row in rung_results
    ]
    rungs = [row.rung for row in rung_results]
    if max_cost is not None and spec.cost is not None:
        metric = spec.cost.metric
        kept = [i for i, member in enumerate(members) if member.metrics[metric] <= max_cost]
        members, rungs = [members[i] for i in kept], [rungs[i] for i in kept]
    if not members:
        return None
    violations = total_violations(spec.constraints, [member.metrics for member in members])
    feasible = violations == 0
    candidates = np.flatnonzero(feasible) if feasible.any() else np.arange(len(members))
    top = max(rungs[i] for i in candidates)
    at_top = [i for i in candidates if rungs[i] == top]
    objectives = np.array([signed_objectives(spec.objectives, members[i].metrics) for i in at_top])
    if feasible.any():
        chosen = np.flatnonzero(non_dominated_fronts(objectives) == 0)
    else:
        least = violations[at_top].min()
        chosen = np.flatnonzero(violations[at_top] == least)
    rows = [at_top[i] for i in chosen]
    order = rung_order(
        objectives[chosen], violations[rows], np.array([members[i].number for i in rows])
    )
    return Front(
        top,
        tuple(
            FrontMember(
                members[rows[i]].number,
                members[rows[i]].value,
                members[rows[i]].metrics,
                bool(feasible[rows[i]]),
            )
            for i in order
        ),
    )
