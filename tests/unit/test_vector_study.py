"""Studies with several objectives or constraints, decided in memory: MO-ASHA's ranking of
each rung, promotions by it, the state rebuilt from the store's rows, and the GP's fits with
constraint and cost models (docs/algorithms.md, "Several objectives")."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hpo.local import LocalAssignment, LocalStudy
from hpo.pareto import rung_order, violation
from hpo.pareto_front import pareto_front
from hpo.samplers import InlineModels
from hpo.space import Float, Space
from hpo.spec import Resource, StudySpec
from hpo.state import StudyState
from hpo.study_store import RungRow, StudyContents, state_of
from hpo.vocabulary import TrialState

OBJECTIVES = [{"metric": "loss"}, {"metric": "acc", "direction": "maximize"}]
CONSTRAINED = {
    "metrics": ["memory"],
    "constraints": [{"metric": "memory", "op": "<=", "bound": 0.5}],
}


def make_spec(algorithm: str = "asha", **fields: Any) -> StudySpec:
    return StudySpec(
        name="vector",
        space=Space({"x": Float(0, 1), "y": Float(0, 1)}),
        resource=Resource(1, 27, 3),
        algorithm=algorithm,
        objectives=OBJECTIVES,
        seed=3,
        **fields,
    )


def outcome(config: dict[str, Any], resource: float) -> dict[str, float]:
    """Two conflicting objectives that improve with resource; memory grows with y."""
    x, y = config["x"], config["y"]
    scale = 1 + 1 / resource
    return {"loss": x * scale, "acc": 1 - (1 - x) ** 2 * y / scale, "memory": y, "cost": 1 + 9 * y}


def expected_order(state: StudyState, rung: int) -> list[int]:
    spec = state.spec
    members = sorted(result.number for result in state.results_at(rung))
    metrics = [state.metrics(number, rung) for number in members]
    objectives = np.array([[m["loss"], -m["acc"]] for m in metrics])  # type: ignore[index]
    values = np.array([[m[c.metric] for c in spec.constraints] for m in metrics])  # type: ignore[index]
    bounds = np.array([c.bound for c in spec.constraints])
    upper = np.array([c.upper for c in spec.constraints], dtype=bool)
    violations = violation(values.reshape(len(members), -1), bounds, upper)
    return [members[i] for i in rung_order(objectives, violations, np.array(members))]


def dominates(a: dict[str, float], b: dict[str, float]) -> bool:
    pairs = [(a["loss"], b["loss"]), (-a["acc"], -b["acc"])]
    return all(p <= q for p, q in pairs) and any(p < q for p, q in pairs)


def run(study: LocalStudy, steps: int, check_promotions: bool = False) -> None:
    """One worker: train each assignment rung by rung, checking each promotion against the
    promotable results it was chosen from."""
    for _ in range(steps):
        candidates = {
            rung: [
                r.number
                for r in study.state.results_at(rung)
                if study.state.trials[r.number].promotable
                and study.state.trials[r.number].rung == rung
            ]
            for rung in range(study.scheduler.top_rung)
        }
        job = study.suggest("w")
        if not isinstance(job, LocalAssignment):
            return
        if check_promotions and job.resume_from > 0:
            rung = study.state.trials[job.number].rung
            chosen = study.state.metrics(job.number, rung)
            for other in candidates[rung]:
                theirs = study.state.metrics(other, rung)
                assert not dominates(theirs, chosen), (other, job.number, rung)  # type: ignore[arg-type]
        for level in study.scheduler.levels:
            if job.resume_from < level <= job.resource:
                values = outcome(job.config, level)
                named = {name: values[name] for name in study.spec.reported_metrics}
                decision = study.report(job.number, level, named)
                if decision.action.value != "continue":
                    break
        study.complete(job.number)


@pytest.mark.parametrize("fields", [{}, CONSTRAINED])
def test_each_rung_ranks_by_non_dominated_sorting_and_a_dominated_trial_is_not_promoted_first(
    fields: dict[str, Any],
) -> None:
    study = LocalStudy(make_spec(**fields))
    run(study, 120, check_promotions=True)
    promoted = [n for n, trial in study.state.trials.items() if trial.rung >= 1]
    assert promoted, "the budget promoted nothing"
    for rung in range(study.scheduler.top_rung):
        ranked = [result.number for result in study.state.results_at(rung)]
        assert ranked == expected_order(study.state, rung)


def test_infeasible_results_rank_after_every_feasible_one() -> None:
    study = LocalStudy(make_spec(**CONSTRAINED))
    run(study, 60)
    ranked = study.state.results_at(0)
    feasible = [study.state.metrics(r.number, 0)["memory"] <= 0.5 for r in ranked]  # type: ignore[index]
    assert any(feasible) and not all(feasible)
    assert feasible == sorted(feasible, reverse=True)


def test_the_state_rebuilt_from_stored_rows_ranks_as_the_live_one() -> None:
    study = LocalStudy(make_spec(**CONSTRAINED))
    run(study, 60)
    state = study.state
    rows = [
        RungRow(number, rung, state.metrics(number, rung)["loss"], state.metrics(number, rung))  # type: ignore[index]
        for rung, result in state.all_results()
        for number in [result.number]
    ]
    rebuilt = state_of(
        StudyContents(
            state.spec, [state.trials[n] for n in sorted(state.trials)], rows, [], frozenset()
        )
    )
    for rung in range(study.scheduler.top_rung + 1):
        assert rebuilt.results_at(rung) == state.results_at(rung)
        assert rebuilt.best_promotable(rung) == state.best_promotable(rung)


def test_a_new_results_rank_is_where_recording_it_puts_it() -> None:
    """Stopping-type ASHA judges a report by the rank it would take (rank_new) before it is
    recorded; that rank must be where recording puts it."""
    study = LocalStudy(make_spec(asha_mode="stopping", **CONSTRAINED))
    run(study, 30)
    state = study.state
    assert any(trial.state.value == "stopped" for trial in state.trials.values())
    rng = np.random.default_rng(0)
    for _ in range(20):
        config = {"x": float(rng.random()), "y": float(rng.random())}
        metrics = {k: v for k, v in outcome(config, 1).items() if k != "cost"}
        job = study.suggest("w")
        assert isinstance(job, LocalAssignment)
        rank = state.rank_new(0, job.number, metrics["loss"], metrics)
        state.record_rung(job.number, 0, metrics["loss"], metrics)
        assert [r.number for r in state.results_at(0)].index(job.number) == rank
        state.set_state(job.number, TrialState.STOPPED)
        state.release(job.number)


def test_the_front_is_feasible_and_mutually_non_dominated() -> None:
    study = LocalStudy(make_spec(**CONSTRAINED))
    run(study, 120)
    state = study.state
    rows = [
        RungRow(r.number, rung, 0.0, state.metrics(r.number, rung))
        for rung, r in state.all_results()
    ]
    front = pareto_front(state.spec, rows)
    assert front is not None and front.members
    assert all(member.feasible for member in front.members)
    for a in front.members:
        assert not any(dominates(dict(b.metrics), dict(a.metrics)) for b in front.members)


def test_the_gp_fits_constraint_and_cost_models_and_proposes_from_them() -> None:
    spec = make_spec("gp-hyperband", cost={"metric": "cost"}, **CONSTRAINED)
    study = LocalStudy(spec, InlineModels(refit_fraction=0.3))
    run(study, 25)
    sources = [trial.source for trial in study.state.trials.values()]
    assert "model" in sources
    slot = study.models.slots[spec.name]  # type: ignore[attr-defined]
    assert slot.fits > 0 and slot.failed_at < 0
