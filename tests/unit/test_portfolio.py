"""The self-checking portfolio (hpo.samplers.portfolio), the rung filter of the model's data
and the learned bracket weights: pure functions, tested with properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpo.local import LocalAssignment, LocalStudy
from hpo.samplers.gp import ModelSlot
from hpo.samplers.gp_fit import check_predictions, fit_and_propose
from hpo.samplers.model_input import misleading_rungs, model_input
from hpo.samplers.portfolio import (
    MAX_MODEL_SHARE,
    MIN_CHECK_PAIRS,
    MIN_MODEL_SHARE,
    PRIOR_TAU,
    ModelCheck,
    kendall_check,
    model_share,
    portfolio_draw,
    trust,
    uses_model,
)
from hpo.schedulers.brackets import MIN_WEIGHT, bracket_probabilities, hyperband_weights
from hpo.schedulers.rungs import rung_levels
from hpo.space import Float, Space
from hpo.spec import Resource, StudySpec

taus = st.floats(-1, 1)
pairs = st.integers(MIN_CHECK_PAIRS, 500)
values = st.lists(
    st.floats(-1e6, 1e6, allow_nan=False), min_size=MIN_CHECK_PAIRS, max_size=40, unique=True
)


# ----------------------------------------------------------------- the online check


@given(values)
def test_a_check_of_perfect_predictions_is_one_and_of_reversed_ones_minus_one(
    observed: list[float],
) -> None:
    # Predicted scores are "higher is better"; observed values "lower is better".
    perfect = kendall_check([-value for value in observed], observed)
    reversed_ = kendall_check(observed, observed)
    assert perfect is not None and perfect.tau == pytest.approx(1.0)
    assert reversed_ is not None and reversed_.tau == pytest.approx(-1.0)
    assert perfect.pairs == len(observed)


@given(values, st.floats(0.1, 10), st.floats(-100, 100))
def test_a_check_only_sees_order(observed: list[float], scale: float, shift: float) -> None:
    rng = np.random.default_rng(len(observed))
    predicted = rng.normal(size=len(observed))
    check = kendall_check(predicted, observed)
    moved = kendall_check(predicted * scale + shift, [2.0 * v for v in observed])
    assert check is not None and moved is not None
    assert moved.tau == pytest.approx(check.tau)


def test_a_check_needs_enough_results_that_vary() -> None:
    assert kendall_check([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) is None
    assert kendall_check([1.0] * 6, list(range(6))) is None
    with pytest.raises(ValueError, match="length"):
        kendall_check([1.0] * 5, [1.0] * 6)


# ----------------------------------------------------------------- trust and shares


@given(taus, pairs)
def test_trust_lies_between_the_check_and_the_prior_belief(tau: float, n: int) -> None:
    value = trust(ModelCheck(tau, n))
    assert min(tau, PRIOR_TAU) - 1e-12 <= value <= max(tau, PRIOR_TAU) + 1e-12


@given(taus, taus, pairs)
def test_trust_grows_with_the_checks_tau(low: float, high: float, n: int) -> None:
    low, high = sorted((low, high))
    assert trust(ModelCheck(low, n)) <= trust(ModelCheck(high, n)) + 1e-12


@given(taus, pairs, pairs)
def test_more_evidence_moves_trust_further_from_the_prior(tau: float, few: int, many: int) -> None:
    few, many = sorted((few, many))
    assert (
        abs(trust(ModelCheck(tau, many)) - PRIOR_TAU)
        >= abs(trust(ModelCheck(tau, few)) - PRIOR_TAU) - 1e-12
    )


def test_no_check_is_the_prior_belief() -> None:
    assert trust(None) == PRIOR_TAU


@given(taus, taus)
def test_the_models_share_is_bounded_and_grows_with_trust(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert MIN_MODEL_SHARE <= model_share(low) <= model_share(high) <= MAX_MODEL_SHARE


def test_a_model_that_ranks_backwards_keeps_only_the_floor_and_a_good_one_the_ceiling() -> None:
    assert model_share(trust(ModelCheck(-0.5, 200))) == MIN_MODEL_SHARE
    assert model_share(trust(ModelCheck(0.9, 200))) == MAX_MODEL_SHARE
    assert MIN_MODEL_SHARE < model_share(trust(None)) < MAX_MODEL_SHARE


@given(st.integers(0, 2**32 - 1), st.floats(0, 1), st.floats(0, 1))
def test_a_trial_given_to_the_model_at_a_share_is_given_at_every_larger_share(
    seed: int, a: float, b: float
) -> None:
    low, high = sorted((a, b))
    for number in range(20):
        assert not uses_model(low, seed, number) or uses_model(high, seed, number)


@pytest.mark.parametrize("share", [MIN_MODEL_SHARE, 0.5, MAX_MODEL_SHARE])
def test_the_share_of_trials_given_to_the_model_is_the_share(share: float) -> None:
    draws = np.array([portfolio_draw(11, number) for number in range(4000)])
    frequency = float(np.mean(draws < share))
    assert abs(frequency - share) < 4 * np.sqrt(share * (1 - share) / len(draws))


# ----------------------------------------------------------------- the rung filter and weights


def make_spec(**overrides: object) -> StudySpec:
    fields: dict = {
        "name": "p",
        "space": Space({"x": Float(0, 1), "y": Float(0, 1)}),
        "resource": Resource(1, 9, 3),
        "algorithm": "asha",
        "seed": 5,
    }
    fields.update(overrides)
    return StudySpec(**fields)


def run(study: LocalStudy, objective, trials: int) -> None:  # noqa: ANN001
    """One worker: ``objective(config, resource)`` at every assignment."""
    for _ in range(trials):
        job = study.suggest("w")
        assert isinstance(job, LocalAssignment)
        study.report(job.number, job.resource, objective(job.config, job.resource))
        study.complete(job.number)


def smooth(config: dict, resource: float) -> float:
    return (config["x"] - 0.3) ** 2 + (config["y"] - 0.6) ** 2 + 1 / resource


def reversed_low(config: dict, resource: float) -> float:
    """Rung 0 ranks configurations backwards; rungs 1 and 2 agree with each other."""
    value = (config["x"] - 0.3) ** 2 + (config["y"] - 0.6) ** 2
    return -value if resource < 3 else value + 1 / resource


def test_rungs_that_rank_like_higher_ones_feed_the_model_and_reversed_ones_do_not() -> None:
    consistent = LocalStudy(make_spec())
    run(consistent, smooth, 150)
    reversed_study = LocalStudy(make_spec())
    run(reversed_study, reversed_low, 150)
    levels = rung_levels(make_spec().resource)
    assert misleading_rungs(consistent.state, 2) == set()
    assert misleading_rungs(reversed_study.state, 2) == {0}
    data = model_input(reversed_study.state, levels, n_candidates=2, seed=0)
    assert data.target_rung == 2 and not np.isclose(data.x[:, -1], 0.0).any()
    kept = model_input(consistent.state, levels, n_candidates=2, seed=0)
    assert np.isclose(kept.x[:, -1], 0.0).any()


@given(st.lists(st.floats(-1, 1), min_size=4, max_size=4))
@settings(max_examples=50)
def test_learned_bracket_weights_follow_rank_consistency(tau_by_rung: list[float]) -> None:
    """The learned split, from the rank consistency of each rung: a distribution, each bracket
    at least MIN_WEIGHT of its Hyperband weight (relative), and Hyperband's split when every
    rung ranks perfectly."""
    from hpo.schedulers import brackets

    spec = make_spec(algorithm="hyperband", resource=Resource(1, 81, 3), bracket_split="learned")
    state = LocalStudy(spec).state
    original = brackets.rank_consistency
    brackets.rank_consistency = lambda _state, rung, _top: tau_by_rung[rung]
    try:
        learned = bracket_probabilities(spec, state)
        brackets.rank_consistency = lambda _state, rung, _top: 1.0
        perfect = bracket_probabilities(spec, state)
    finally:
        brackets.rank_consistency = original
    weights = hyperband_weights(spec)
    assert learned.sum() == pytest.approx(1.0) and (learned > 0).all()
    assert perfect == pytest.approx(weights)
    scaled = weights * np.append(np.maximum(tau_by_rung, MIN_WEIGHT), 1.0)
    assert learned == pytest.approx(scaled / scaled.sum())


# ----------------------------------------------------------------- the check inside a fit


def test_the_fits_check_trusts_a_model_of_a_smooth_function_and_not_one_fed_reversed_rungs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real BoTorch check: a GP that learned a smooth function ranks its newest results
    well; a GP whose data's low rung ranks backwards (the rung filter off, so the model sees
    that rung, as a joint model without the filter would) ranks them worse."""
    monkeypatch.setattr("hpo.samplers.model_input.misleading_rungs", lambda state, target: set())
    checks = {}
    for name, objective in (("smooth", smooth), ("reversed", reversed_low)):
        study = LocalStudy(make_spec(resource=Resource(1, 3, 3)))
        run(study, objective, 120)
        slot = ModelSlot()
        data = slot.request(study.state)
        warm = fit_and_propose(data, None).hyperparameters
        checks[name] = check_predictions(data, warm)
    assert checks["smooth"] is not None and checks["reversed"] is not None
    assert checks["smooth"].tau > 0.5
    assert checks["smooth"].tau > checks["reversed"].tau
    assert check_predictions(data, None) is None  # no previous model: nothing to check
