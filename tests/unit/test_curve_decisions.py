"""Curve decisions (docs/curves.md): with ``decision: curve`` a rung ranks trials by the value at
r_max their curves predict, the prediction is stored with the report and named in the reason,
and stopping-type studies stop a trial only when its curve all but rules it out."""

from __future__ import annotations

import dataclasses

import pytest

from hpo import engine
from hpo.errors import InvalidArgumentError
from hpo.rung_basis import MIN_PAIRS
from hpo.schedulers import Asha, Promote
from hpo.schedulers.curve_rule import STOP_PROBABILITY
from hpo.space import Float, Space
from hpo.spec import AshaMode, DecisionBasis, Resource, StudySpec
from hpo.state import StudyState
from hpo.vocabulary import Action, Source

# A curve that has flattened (best at rung 1), one still falling steeply (worse at rung 1,
# heading lower), and a poor flat one; reported at every resource unit up to rung 1 (r = 3).
FLAT = (0.50, 0.49, 0.48)
STEEP = (1.00, 0.75, 0.60)
POOR = (0.95, 0.94, 0.93)
# r_max's rung: rungs at r = 1, 3, 9 and r_max = 27.
TOP = 3


def spec(
    decision: DecisionBasis, mode: AshaMode = AshaMode.PROMOTION, **fields: object
) -> StudySpec:
    return StudySpec(
        name="curves",
        space=Space({"x": Float(0, 1)}),
        resource=Resource(r_min=1, r_max=27, eta=3),
        algorithm="asha",
        asha_mode=mode,
        decision=decision,
        **fields,  # type: ignore[arg-type]
    )


def trusted(study: StudySpec) -> StudyState:
    """A curve study whose predictions at rung 1 have earned the rung (hpo.rung_basis):
    MIN_PAIRS trials (numbered from 100) reached r_max in the order their predictions at rung 1
    gave, the reverse of their rung-1 values. Their predictions rank below every curve the
    tests report."""
    state = StudyState(study)
    for index in range(MIN_PAIRS):
        number = 100 + index
        engine.apply(state, [engine.TrialStarted(number, {"x": 0.5}, 1, TOP, Source.RANDOM, "w")])
        state.record_rung(number, 1, value=-float(index), predicted=10.0 + index)
        state.record_rung(number, TOP, value=10.0 + index)
    return state


def run_to_rung_one(
    study: StudySpec, curves: list[tuple[float, ...]], state: StudyState | None = None
) -> tuple[StudyState, Asha, list]:
    """Trials of bracket 1 (they start at rung 1, r = 3), each reporting its curve at r = 1, 2, 3
    and then released by its worker, in ``state`` (a fresh one by default); returns the state,
    the scheduler and the last decisions."""
    state, scheduler = state or StudyState(study), Asha(study)
    decisions = []
    for number, curve in enumerate(curves):
        target = scheduler.first_target_rung(1)
        started = engine.TrialStarted(number, {"x": 0.5}, 1, target, Source.RANDOM, "w")
        engine.apply(state, [started])
        for resource, value in enumerate(curve, start=1):
            decision = scheduler.on_report(state, number, float(resource), value)
            engine.apply(state, engine.report_effects(decision, number, float(resource), value))
        decisions.append(decision)
        if decision.action is Action.PAUSE:
            engine.apply(state, [engine.assignment_done(state, number)])
    return state, scheduler, decisions


def test_a_rung_promotes_the_best_rung_value_by_default() -> None:
    state, scheduler, _ = run_to_rung_one(spec(DecisionBasis.RUNG), [FLAT, STEEP, POOR])
    assert scheduler.next_job(state) == Promote(0, 2)


def test_curve_decisions_promote_the_trial_whose_curve_heads_lowest() -> None:
    study = spec(DecisionBasis.CURVE)
    state, scheduler, decisions = run_to_rung_one(study, [FLAT, STEEP, POOR], trusted(study))
    assert scheduler.next_job(state) == Promote(1, 2)
    flat, steep = decisions[0], decisions[1]
    assert flat.action is Action.PAUSE and flat.rung == 1
    assert steep.predicted is not None and flat.predicted is not None
    assert steep.predicted < flat.predicted < FLAT[-1]
    assert steep.predicted_sd is not None and steep.predicted_sd > 0
    assert f"its curve predicts {steep.predicted:.6g}" in steep.reason
    assert "from 3 reports" in steep.reason


def test_between_rungs_nothing_is_predicted() -> None:
    _, _, decisions = run_to_rung_one(spec(DecisionBasis.CURVE), [(0.5, 0.4)])
    assert decisions[0].action is Action.CONTINUE and decisions[0].rung is None
    assert decisions[0].predicted is None


def test_the_stored_prediction_ranks_a_rebuilt_state_as_the_first() -> None:
    """A restarted coordinator rebuilds the rung from the stored predictions, without fitting."""
    study = spec(DecisionBasis.CURVE)
    state, scheduler, decisions = run_to_rung_one(study, [FLAT, STEEP, POOR], trusted(study))
    rebuilt = trusted(study)
    for trial in state.trials.values():
        if trial.number not in rebuilt.trials:
            rebuilt.add_trial(dataclasses.replace(trial))
    for number, decision in enumerate(decisions):
        value = (FLAT, STEEP, POOR)[number][-1]
        rebuilt.record_rung(number, 1, value, None, decision.predicted)
    assert [r.number for r in rebuilt.results_at(1)] == [r.number for r in state.results_at(1)]
    assert scheduler.next_job(rebuilt) == Promote(1, 2)


def test_stopping_type_stops_only_a_curve_that_cannot_catch_up() -> None:
    hopeless = (3.0, 2.99, 2.98)
    study = spec(DecisionBasis.CURVE, AshaMode.STOPPING)
    _, _, decisions = run_to_rung_one(study, [FLAT, FLAT, FLAT, STEEP, hopeless], trusted(study))
    steep, last = decisions[3], decisions[4]
    assert steep.action is Action.CONTINUE and steep.rung == 1
    assert last.action is Action.STOP
    assert f"< {STOP_PROBABILITY:g}" in last.reason and "P(beats the top 3)" in last.reason


def test_curve_decisions_need_a_single_objective() -> None:
    with pytest.raises(InvalidArgumentError, match="^decision: curve decisions rank by one"):
        spec(DecisionBasis.CURVE, objectives=[{"metric": "a"}, {"metric": "b"}])
    with pytest.raises(InvalidArgumentError, match="^decision: must be one of"):
        spec("sideways")  # type: ignore[arg-type]


def test_the_decision_travels_in_the_spec_json_only_when_set() -> None:
    assert "decision" not in spec(DecisionBasis.RUNG).to_json()
    curved = spec(DecisionBasis.CURVE)
    assert curved.to_json()["decision"] == "curve"
    assert StudySpec.from_json(curved.to_json()) == curved


def test_a_resumed_trial_replaces_the_points_it_trains_again() -> None:
    state = StudyState(spec(DecisionBasis.CURVE))
    engine.apply(state, [engine.TrialStarted(0, {"x": 0.5}, 0, 0, Source.RANDOM, "w")])
    for resource, value in ((1, 0.9), (2, 0.8), (3, 0.7), (2, 0.75), (3, 0.65)):
        state.record_point(0, resource, value)
    assert state.curve(0) == [(1, 0.9), (2, 0.75), (3, 0.65)]


def test_a_rung_ranks_by_values_until_enough_of_its_trials_reached_r_max() -> None:
    """hpo.rung_basis: the predictions at rung 0 rank the trials as their values at r_max will,
    but the rung ranks by its values, as ASHA's, until MIN_PAIRS of them have got there."""
    state = StudyState(spec(DecisionBasis.CURVE))
    n = MIN_PAIRS + 2
    for number in range(n):
        engine.apply(state, [engine.TrialStarted(number, {"x": 0.5}, 0, 0, Source.RANDOM, "w")])
        state.record_rung(number, 0, value=float(number), predicted=float(n - number))
    for number in range(n - 1, n - MIN_PAIRS, -1):
        state.record_rung(number, TOP, value=float(n - number))
    assert not state.basis(0).by_curve
    assert [r.number for r in state.results_at(0)] == list(range(n))
    assert f"{MIN_PAIRS - 1} of its trials reached r_max" in state.basis(0).describe()
    state.record_rung(n - MIN_PAIRS, TOP, value=float(MIN_PAIRS))
    assert state.basis(0).by_curve
    assert [r.number for r in state.results_at(0)] == list(range(n))[::-1]
    assert (
        f"rung 0 ranks by predicted values: at r_max, over {MIN_PAIRS} trials, predictions "
        "rank with rho 1.00, rung values -1.00" in state.basis(0).describe()
    )
