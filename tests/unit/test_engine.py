"""The engine: decisions turned into effects, and effects applied to a study's state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpo import engine
from hpo.algorithms import make_sampler
from hpo.local import LocalAssignment, LocalStudy
from hpo.schedulers import NewTrial, Promote, ReportDecision, Resume
from hpo.space import Float, Space
from hpo.spec import Resource, StudySpec
from hpo.state import StudyState
from hpo.vocabulary import Action, DecisionKind, TrialState

SPEC = StudySpec(
    name="engine", space=Space({"x": Float(0, 1)}), resource=Resource(1, 9, 3), algorithm="asha"
)


def started(state: StudyState, number: int, worker: str = "w") -> None:
    engine.apply(state, [engine.TrialStarted(number, {"x": 0.5}, 0, 0, "random", worker)])


@pytest.mark.parametrize(
    ("action", "after"),
    [
        (Action.CONTINUE, TrialState.RUNNING),
        (Action.PAUSE, TrialState.PAUSED),
        (Action.STOP, TrialState.STOPPED),
        (Action.COMPLETE, TrialState.COMPLETED),
    ],
)
def test_a_report_records_its_result_and_leaves_the_trial_in_its_actions_state(
    action: Action, after: TrialState
) -> None:
    state = StudyState(SPEC)
    started(state, 0)
    rung = None if action is Action.CONTINUE else 0
    effects = engine.report_effects(ReportDecision(action, rung, None, ""), 0, 1.0, 0.25)
    # What the service answers before the commit is what the state holds after it.
    predicted = engine.state_after(state, 0, effects)
    engine.apply(state, effects)
    trial = state.trials[0]
    assert trial.state is after is predicted
    assert trial.last_resource == 1.0
    assert (state.result(0, 0) is not None) is (rung is not None)


def test_the_worker_finishing_completes_a_running_trial_and_releases_a_paused_one() -> None:
    state = StudyState(SPEC)
    for number in range(3):
        started(state, number)
    engine.apply(state, [engine.StateChanged(1, TrialState.PAUSED)])
    engine.apply(state, [engine.StateChanged(2, TrialState.PAUSED), engine.Released(2)])
    assert engine.assignment_done(state, 0) == engine.StateChanged(0, TrialState.COMPLETED)
    assert engine.assignment_done(state, 1) == engine.Released(1)
    assert engine.assignment_done(state, 2) is None  # released already: nothing to do


@given(retries=st.integers(0, 5), max_retries=st.integers(0, 5), paused=st.booleans())
def test_a_lost_lease_releases_requeues_or_fails(
    retries: int, max_retries: int, paused: bool
) -> None:
    state = StudyState(SPEC)
    started(state, 0)
    if paused:
        engine.apply(state, [engine.StateChanged(0, TrialState.PAUSED)])
    effect = engine.lease_lost(state, 0, retries, max_retries)
    if paused:
        assert effect == engine.Released(0)
    elif retries < max_retries:
        assert effect == engine.Requeued(0)
    else:
        assert effect == engine.StateChanged(0, TrialState.FAILED)
    predicted = engine.state_after(state, 0, [effect])
    engine.apply(state, [effect])
    assert state.trials[0].state is predicted
    assert not state.trials[0].busy  # nobody holds it any more


def test_reassignment_names_the_kind_of_job() -> None:
    assert engine.reassignment(Promote(3, 2), "w").kind == DecisionKind.PROMOTE
    assert engine.reassignment(Resume(3, 1), "w") == engine.TrialAssigned(
        3, "w", 1, DecisionKind.RESUME
    )


def test_stopping_a_study_stops_only_the_trials_waiting_for_a_worker() -> None:
    state = StudyState(SPEC)
    for number in range(3):
        started(state, number)
    engine.apply(state, [engine.Requeued(1)])
    assert engine.study_stopped(state) == [engine.StateChanged(1, TrialState.STOPPED)]


def test_a_new_trial_runs_the_first_queued_proposal_and_marks_it_run_when_applied() -> None:
    study = LocalStudy(SPEC)
    study.enqueue({"x": 0.125})
    job = study.scheduler.next_job(study.state)
    assert isinstance(job, NewTrial)
    sampler = make_sampler(SPEC, study.models)
    effect = engine.new_trial(study.state, study.scheduler, sampler, job, "w")
    assert (effect.config, effect.source) == ({"x": 0.125}, "user")
    assert effect.proposal is not None and effect.proposal.queued  # nothing applied yet
    engine.apply(study.state, [effect])
    assert not effect.proposal.queued and effect.proposal.trial_number == effect.number
    assert study.state.next_queued() is None


def test_the_local_study_is_the_engine_applied_at_once() -> None:
    """A short study through LocalStudy: every answer is consistent with the state after."""
    study = LocalStudy(SPEC)
    for _ in range(12):
        job = study.suggest("w")
        assert isinstance(job, LocalAssignment)
        assert study.state.trials[job.number].state is TrialState.RUNNING
        decision = study.report(job.number, job.resource, job.config["x"])
        study.complete(job.number)
        if decision.action is Action.PAUSE:
            assert study.state.trials[job.number].promotable
        else:
            assert study.state.trials[job.number].state is TrialState.COMPLETED
