"""Curves in the GP (docs/curves.md): a study that decides by curves fits its surrogate on the
values it observed at each rung, plus each extrapolated curve's prediction at r_max with the
prediction's variance as extra noise, so the model learns from curves still short of r_max and
trusts a confident forecast more than a vague one."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hpo.local import LocalAssignment, LocalStudy
from hpo.samplers.gp_fit import build_model, fit_and_propose, warped_variance
from hpo.samplers.model_input import FORECAST_SHARE, model_input, resource_coordinate
from hpo.schedulers.rungs import rung_levels
from hpo.space import Float, Space
from hpo.spec import DecisionBasis, Resource, StudySpec


def curve(config: dict, resource: float) -> float:
    """Curves falling as a power law toward a bowl with its minimum at (0.3, 0.6)."""
    final = (config["x"] - 0.3) ** 2 + (config["y"] - 0.6) ** 2
    return final + (0.5 + config["x"]) * resource**-0.8


def curve_study(decision: DecisionBasis, assignments: int) -> LocalStudy:
    """An ASHA study whose one worker reports every resource unit of every assignment."""
    spec = StudySpec(
        name="curves",
        space=Space({"x": Float(0, 1), "y": Float(0, 1)}),
        resource=Resource(1, 27, 3),
        algorithm="asha",
        decision=decision,
        seed=1,
        max_trials=0,
    )
    study = LocalStudy(spec)
    reported: dict[int, float] = {}
    for _ in range(assignments):
        job = study.suggest("w")
        assert isinstance(job, LocalAssignment)
        for resource in range(int(reported.get(job.number, 0)) + 1, int(job.resource) + 1):
            study.report(job.number, float(resource), curve(job.config, resource))
        reported[job.number] = job.resource
        study.complete(job.number)
    return study


def test_a_curve_studys_fit_sees_each_extrapolated_curve_at_r_max_with_its_variance() -> None:
    study = curve_study(DecisionBasis.CURVE, 120)
    state, levels = study.state, rung_levels(study.spec.resource)
    top = len(levels) - 1
    data = model_input(state, levels, n_candidates=1, seed=1)
    assert data.noise is not None and len(data.noise) == len(data.y)
    forecast = data.noise > 0
    expected = {
        number: (mean, sd)
        for number, rung, mean, sd in state.forecasts()
        if state.trials[number].rung < top and mean != state.observed(number, rung)
    }
    assert forecast.sum() == len(expected) > 0
    assert np.all(data.x[forecast, -1] == 1.0), "forecasts sit at r_max"
    for x, y, noise in zip(data.x[forecast], data.y[forecast], data.noise[forecast], strict=True):
        number = next(n for n in expected if np.allclose(state.unit(n), x[:-1]))
        assert (y, noise) == (expected[number][0], expected[number][1] ** 2)
    # Observed points carry their rung value, not the prediction that ranked them.
    observed = {
        (resource_coordinate(levels, rung), state.observed(result.number, rung))
        for rung, result in state.all_results()
    }
    assert set(zip(data.x[~forecast, -1], data.y[~forecast], strict=True)) <= observed
    # Forecasts count toward r_max when the acquisition's target is chosen.
    assert data.target_rung == top


def test_forecasts_take_at_most_their_share_of_a_capped_fit() -> None:
    data = model_input(
        curve_study(DecisionBasis.CURVE, 120).state,
        rung_levels(Resource(1, 27, 3)),
        n_candidates=1,
        seed=1,
        max_points=40,
    )
    assert data.noise is not None and len(data.y) == 40
    assert (data.noise > 0).sum() == int(40 * FORECAST_SHARE)


def test_a_rung_study_fits_on_observations_alone() -> None:
    data = model_input(
        curve_study(DecisionBasis.RUNG, 60).state,
        rung_levels(Resource(1, 27, 3)),
        n_candidates=1,
        seed=1,
    )
    assert data.noise is None


def test_a_curve_study_proposes_from_a_fit_with_forecasts() -> None:
    data = model_input(
        curve_study(DecisionBasis.CURVE, 120).state,
        rung_levels(Resource(1, 27, 3)),
        n_candidates=2,
        seed=1,
    )
    first = fit_and_propose(data, None)
    assert first.units.shape == (2, 2)
    assert "likelihood.second_noise_covar.raw_noise" in first.hyperparameters
    # The next fit starts from this one's hyperparameters (the shapes match).
    assert fit_and_propose(data, first.hyperparameters).units.shape == (2, 2)


def posterior_mean_at(forecast_variance: float) -> float:
    """The standardised-model mean at x = 0.5, r_max, of a GP (prior hyperparameters) that
    observed a line at a low resource and one forecast of 0 at (0.5, r_max)."""
    xs = np.linspace(0, 1, 9)
    x = np.vstack([np.column_stack([xs, np.zeros(9)]), [[0.5, 1.0]]])
    y = np.concatenate([1.0 + xs, [0.0]])
    noise = np.concatenate([np.zeros(9), [forecast_variance]])
    model = build_model(torch.as_tensor(x), torch.as_tensor(y).unsqueeze(-1), noise)
    model.eval()
    with torch.no_grad():
        return float(model.posterior(torch.tensor([[0.5, 1.0]], dtype=torch.double)).mean)


def test_a_vague_forecast_moves_the_model_less_than_a_confident_one() -> None:
    confident, vague = posterior_mean_at(1e-4), posterior_mean_at(4.0)
    assert abs(confident) < 0.1 < abs(vague)


values = st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=30)


@settings(max_examples=60, deadline=None)
@given(values, st.data())
def test_warped_variance_is_zero_for_observations_and_grows_with_the_variance(
    ys: list[float], data: st.DataObject
) -> None:
    y = np.array(ys)
    variance = np.array(data.draw(st.lists(st.floats(0, 1e4), min_size=len(ys), max_size=len(ys))))
    warped = warped_variance(y, variance)
    assert np.all(warped >= 0)
    assert np.all(warped[variance == 0] == 0)
    assert np.all(warped_variance(y, variance * 4) >= warped)
