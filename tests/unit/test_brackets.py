"""Asynchronous Hyperband's bracket choice: Hyperband's budget split, and the learned split."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpo.local import LocalAssignment, LocalStudy
from hpo.schedulers.brackets import (
    MIN_WEIGHT,
    bracket_probabilities,
    choose_bracket,
    hyperband_weights,
    pairwise_tau,
    rank_consistency,
    weakest_link,
)
from hpo.space import Float, Space
from hpo.spec import Resource, StudySpec
from hpo.state import StudyState, TrialSnapshot
from hpo.vocabulary import TrialState


def make_spec(**overrides: object) -> StudySpec:
    fields: dict = {
        "name": "hb",
        "space": Space({"x": Float(0, 1)}),
        "resource": Resource(1, 81, 3),
        "algorithm": "hyperband",
        "seed": 3,
    }
    fields.update(overrides)
    return StudySpec(**fields)


def test_the_split_follows_hyperbands_bracket_table_for_r81_eta3() -> None:
    # Hyperband (Li et al.), R = 81, eta = 3: n = 81, 34, 15, 8, 5 configurations for brackets
    # starting at rungs 0..4, each bracket spending about the same budget.
    assert hyperband_weights(make_spec()) == pytest.approx(np.array([81, 34, 15, 8, 5]) / 143)


def test_brackets_are_drawn_with_those_probabilities_and_reproducibly() -> None:
    spec = make_spec()
    study = LocalStudy(spec)
    draws = np.array([choose_bracket(spec, study.state, number) for number in range(4000)])
    frequencies = np.bincount(draws, minlength=5) / len(draws)
    expected = hyperband_weights(spec)
    # Four standard errors of a binomial proportion.
    assert np.all(np.abs(frequencies - expected) < 4 * np.sqrt(expected * (1 - expected) / 4000))
    assert [choose_bracket(spec, study.state, n) for n in range(50)] == list(draws[:50])


def test_new_trials_start_at_their_brackets_first_rung() -> None:
    study = LocalStudy(make_spec(max_trials=60))
    jobs = [study.suggest(f"w{index}") for index in range(60)]
    assert all(isinstance(job, LocalAssignment) for job in jobs)
    levels = (1, 3, 9, 27, 81)
    for job in jobs:
        assert isinstance(job, LocalAssignment)
        assert job.resource == levels[job.bracket] and job.resume_from == 0
    assert len({job.bracket for job in jobs if isinstance(job, LocalAssignment)}) >= 3


def run_with_top_values(study: LocalStudy, low_value, trials: int) -> None:  # noqa: ANN001
    """Run trials of bracket 0 (and promotions) where the value at rung 0 is ``low_value(x)``
    and at higher rungs is x itself."""
    for _ in range(trials):
        job = study.suggest("w")
        if not isinstance(job, LocalAssignment):
            return
        x = float(job.config["x"])
        value = low_value(x) if job.resource == 1 else x
        study.report(job.number, job.resource, value)
        study.complete(job.number)


@pytest.mark.parametrize(
    ("low_value", "expected"),
    [(lambda x: x, 1.0), (lambda x: -x, -1.0)],
    ids=["consistent", "reversed"],
)
def test_rank_consistency_is_kendalls_tau_between_a_rung_and_a_higher_one(
    low_value, expected: float
) -> None:
    study = LocalStudy(make_spec(algorithm="asha", resource=Resource(1, 9, 3)))
    run_with_top_values(study, low_value, 200)
    assert rank_consistency(study.state, 0, 2) == pytest.approx(expected)


def test_the_learned_split_moves_trials_away_from_rungs_that_rank_badly() -> None:
    spec = make_spec(algorithm="asha", resource=Resource(1, 9, 3), bracket_split="learned")
    study = LocalStudy(spec)
    assert bracket_probabilities(spec, study.state) == pytest.approx(hyperband_weights(spec))
    run_with_top_values(study, lambda x: -x, 200)  # rung 0 ranks trials backwards
    learned = bracket_probabilities(spec, study.state)
    weights = hyperband_weights(spec)
    assert learned[0] == pytest.approx(
        weights[0] * MIN_WEIGHT / (weights[0] * MIN_WEIGHT + weights[1:].sum())
    )
    assert learned[1:].sum() > weights[1:].sum()


@given(st.floats(-1, 1), st.one_of(st.none(), st.floats(-1, 1)))
def test_a_chain_of_comparisons_is_as_consistent_as_its_weakest_link(
    tau: float, above: float | None
) -> None:
    bound = weakest_link(tau, above)
    assert bound <= tau and (above is None or bound <= above)
    assert bound in (tau, above)
    assert weakest_link(tau, None) == tau


def state_with(values_by_trial: dict[int, dict[int, float]]) -> StudyState:
    """A study state of a 3-rung study (1, 3, 9) holding exactly these rung results."""
    state = StudyState(make_spec(resource=Resource(1, 9, 3)))
    for number, values in values_by_trial.items():
        state.add_trial(TrialSnapshot(number, {"x": 0.5}, TrialState.PAUSED))
        for rung, value in values.items():
            state.record_rung(number, rung, value)
    return state


def test_two_low_rungs_that_agree_are_judged_by_how_the_upper_one_ranks_the_top() -> None:
    # Rung 0 and rung 1 rank trials 0-7 alike; rung 1 ranks trials 10-17 backwards from rung 2;
    # no trial has results at both rung 0 and rung 2. Compared only with rung 1, rung 0 would
    # look faithful (tau 1); it predicts r_max no better than rung 1 does (tau -1).
    trials = {number: {0: float(number), 1: float(number)} for number in range(8)}
    trials |= {10 + i: {1: float(i), 2: float(-i)} for i in range(8)}
    state = state_with(trials)
    assert pairwise_tau(state, 0, 1) == pytest.approx(1.0)
    assert pairwise_tau(state, 0, 2) is None
    assert rank_consistency(state, 1, 2) == pytest.approx(-1.0)
    assert rank_consistency(state, 0, 2) == pytest.approx(-1.0)


def test_a_direct_comparison_with_the_top_is_taken_as_it_is() -> None:
    # Rung 0 has enough trials in common with rung 2 itself: the middle rung is not asked.
    trials = {
        number: {0: float(number), 1: float(-number), 2: float(number)} for number in range(8)
    }
    state = state_with(trials)
    assert rank_consistency(state, 1, 2) == pytest.approx(-1.0)
    assert rank_consistency(state, 0, 2) == pytest.approx(1.0)


def test_without_enough_trials_in_common_a_rung_is_not_judged() -> None:
    trials = {number: {0: float(number), 1: float(number)} for number in range(5)}
    assert rank_consistency(state_with(trials), 0, 1) is None
