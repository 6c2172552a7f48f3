"""Learning-curve extrapolation (hpo.curves): accuracy on curves with a known limit, the
fallbacks, and the properties the coordinator's decisions rely on (finite, deterministic,
equivariant, monotone probabilities)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpo.curves import CurvePrediction, predict_at

EPOCHS = np.arange(1, 28, dtype=float)


def pow3(r: np.ndarray | float) -> np.ndarray | float:
    return 0.1 + 0.8 * np.power(r, -0.7)


def exponential(r: np.ndarray | float) -> np.ndarray | float:
    return 0.2 + 0.5 * np.exp(-np.asarray(r) / 5.0)


def covers(prediction: CurvePrediction, truth: float) -> bool:
    return prediction.quantile(0.1) <= truth <= prediction.quantile(0.9)


@pytest.mark.parametrize("curve", [pow3, exponential])
@pytest.mark.parametrize("noise", [0.0, 0.003])
def test_a_curve_of_a_known_family_is_extrapolated_to_its_value(curve, noise) -> None:
    values = curve(EPOCHS) + noise * np.random.default_rng(0).standard_normal(len(EPOCHS))
    truth = float(curve(81.0))
    prediction = predict_at(EPOCHS, values, 81.0)
    assert prediction.method == "ensemble"
    assert prediction.points == 27
    # Much closer than the last value, which is what a rung ranks by.
    assert abs(prediction.mean - truth) < 0.15 * abs(values[-1] - truth) + 2 * noise
    assert covers(prediction, truth)


def test_a_short_curve_is_uncertain_but_covers_its_limit() -> None:
    r = np.arange(1, 10, dtype=float)
    prediction = predict_at(r, pow3(r), 81.0)
    assert covers(prediction, float(pow3(81.0)))
    assert abs(prediction.mean - pow3(81.0)) < 0.01


def test_a_spike_barely_moves_the_prediction() -> None:
    clean = predict_at(EPOCHS, pow3(EPOCHS), 81.0)
    spiked = pow3(EPOCHS)
    spiked[15] += 0.3  # one diverging step that recovers
    assert abs(predict_at(EPOCHS, spiked, 81.0).mean - clean.mean) < 0.01


def test_a_rising_curve_is_predicted_to_keep_rising() -> None:
    values = 0.3 + 0.5 / EPOCHS + 0.01 * EPOCHS  # overfits from epoch 7 on
    assert predict_at(EPOCHS, values, 81.0).mean > values[-1]


def test_a_constant_curve_predicts_the_constant_with_a_small_sd() -> None:
    prediction = predict_at(EPOCHS, np.full(len(EPOCHS), 0.37), 81.0)
    assert prediction.method == "constant"
    assert prediction.mean == 0.37
    assert 0.0 < prediction.sd < 1e-6


@pytest.mark.parametrize("values", [[0.9], [0.9, 0.7], [0.5, 0.5]])
def test_fewer_than_three_points_fall_back_to_the_last_value(values) -> None:
    prediction = predict_at([1.0, 3.0][: len(values)], values, 81.0)
    assert prediction.method == "last-value"
    assert prediction.mean == values[-1]
    assert prediction.points == len(values)
    assert 0.0 < prediction.sd < math.inf


def test_the_fallback_ranks_as_the_last_values_do() -> None:
    lasts = [0.8, 0.3, 0.55, -0.2]
    means = [predict_at([1.0, 3.0], [1.0, last], 27.0).mean for last in lasts]
    assert np.argsort(means).tolist() == np.argsort(lasts).tolist()


def test_the_target_at_the_last_resource_is_the_observed_value() -> None:
    prediction = predict_at(EPOCHS, pow3(EPOCHS), 27.0)
    assert prediction.method == "observed"
    assert prediction.mean == pow3(27.0)
    assert 0.0 < prediction.sd < 1e-6


@pytest.mark.parametrize(
    ("resources", "values", "target"),
    [
        ([], [], 3.0),
        ([1.0, 2.0], [0.5], 3.0),
        ([1.0, 1.0, 2.0], [0.5, 0.4, 0.3], 3.0),
        ([0.0, 1.0, 2.0], [0.5, 0.4, 0.3], 3.0),
        ([1.0, 2.0, 3.0], [0.5, math.nan, 0.3], 9.0),
        ([1.0, 2.0, 3.0], [0.5, 0.4, 0.3], 2.0),
        ([1.0, 2.0, 3.0], [0.5, 0.4, 0.3], math.inf),
    ],
)
def test_input_that_is_not_a_curve_is_refused(resources, values, target) -> None:
    with pytest.raises(ValueError):
        predict_at(resources, values, target)


def test_a_plain_prediction_is_a_normal() -> None:
    prediction = CurvePrediction(1.0, 2.0, 5, "ensemble")
    assert prediction.below == prediction.above == 2.0
    assert prediction.quantile(0.5) == 1.0
    assert prediction.quantile(0.9) == pytest.approx(1.0 + 2.0 * 1.2815515655446004)
    assert prediction.probability_below(1.0) == 0.5
    assert prediction.quantile(0.0) == -math.inf and prediction.quantile(1.0) == math.inf


# --- properties ---------------------------------------------------------------------------------

finite_values = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def curves(draw, values=finite_values, min_points: int = 1) -> tuple[list, list, float]:
    """Positive, strictly increasing resources, values and a target at or beyond the last."""
    n = draw(st.integers(min_points, 30))
    steps = draw(st.lists(st.floats(1e-3, 1e3), min_size=n, max_size=n))
    resources = np.cumsum(steps).tolist()
    ys = draw(st.lists(values, min_size=n, max_size=n))
    target = resources[-1] * draw(st.sampled_from([1.0, 1.5, 3.0, 27.0, 1e3]))
    return resources, ys, target


@settings(max_examples=300)
@given(curves())
def test_any_finite_curve_gets_a_finite_prediction(curve) -> None:
    prediction = predict_at(*curve)
    assert math.isfinite(prediction.mean)
    for scale in (prediction.sd, prediction.below, prediction.above):
        assert 0.0 < scale < math.inf


@settings(max_examples=100)
@given(curves())
def test_predictions_are_deterministic(curve) -> None:
    first, second = predict_at(*curve), predict_at(*curve)
    assert first == second  # bitwise: dataclass equality of the floats


@settings(max_examples=150)
@given(
    curves(values=st.floats(-10.0, 10.0), min_points=3),
    st.floats(1e-3, 1e3),
    st.floats(-100.0, 100.0),
)
def test_predictions_follow_an_increasing_affine_map_of_the_values(curve, k, b) -> None:
    resources, values, target = curve
    if np.ptp(values) < 1e-3 or target == resources[-1]:
        return  # flat or observed: an sd relative to the values' magnitude, not their range
    plain = predict_at(resources, values, target)
    mapped = predict_at(resources, [k * v + b for v in values], target)
    # Equal in exact arithmetic; in floating point up to rounding, which a fit that matches its
    # points exactly (as many points as parameters, or a flat end that many shapes match) can
    # amplify. A hundredth of the predictive sd is far below anything a decision could notice.
    tolerance = 1e-2 * k * plain.sd
    assert mapped.mean == pytest.approx(k * plain.mean + b, abs=tolerance)
    assert mapped.sd == pytest.approx(k * plain.sd, abs=tolerance)


@settings(max_examples=150)
@given(curves(), st.lists(finite_values, min_size=2, max_size=6))
def test_probability_below_is_a_monotone_probability(curve, thresholds) -> None:
    prediction = predict_at(*curve)
    probabilities = [prediction.probability_below(t) for t in sorted(thresholds)]
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert probabilities == sorted(probabilities)


@settings(max_examples=100)
@given(curves(values=st.floats(-10.0, 10.0), min_points=3), st.floats(0.01, 0.99))
def test_probability_below_inverts_quantile(curve, q) -> None:
    prediction = predict_at(*curve)
    assert prediction.probability_below(prediction.quantile(q)) == pytest.approx(q, abs=1e-6)
