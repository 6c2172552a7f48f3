"""Scaling laws (hpo/scaling): a synthetic family whose optima follow known power laws,
optimal lr = 0.02 (N / 1e7)^-0.35 and optimal batch = 64 (D / 1e8)^0.4, with weight decay
flat and gelu better than relu, observed through a noisy quadratic bowl at random
configurations of each scale point."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpo.scaling import Observation, ParameterLaw, ScalingError, ScalingFit, fit_scaling
from hpo.space import Categorical, Float, Int, Space

SPACE = Space(
    {
        "lr": Float(1e-5, 1.0, log=True),
        "batch": Int(4, 4096, log=True),
        "wd": Float(0.0, 0.2),
        "act": Categorical(["relu", "gelu"]),
    }
)
LR_EXPONENT, BATCH_EXPONENT = -0.35, 0.4
# (n_params, n_tokens): bigger models get more tokens, but not in a fixed ratio.
POINTS = ((1e6, 3e7), (1e6, 1e9), (1e7, 1e8), (1e7, 3e9), (1e8, 3e8), (1e8, 1e10))
TARGET = {"n_params": 1e9, "n_tokens": 3e10}


def best_lr(n_params: float) -> float:
    return 0.02 * (n_params / 1e7) ** LR_EXPONENT


def best_batch(n_tokens: float) -> float:
    return 64 * (n_tokens / 1e8) ** BATCH_EXPONENT


def family(
    seed: int,
    per_point: int = 40,
    noise: float = 0.1,
    points: Sequence[tuple[float, float]] = POINTS,
) -> list[Observation]:
    rng = np.random.default_rng(seed)
    observations = []
    for n_params, n_tokens in points:
        for _ in range(per_point):
            config = SPACE.sample(rng)
            value = (
                0.1 * math.log(config["lr"] / best_lr(n_params)) ** 2
                + 0.05 * math.log(config["batch"] / best_batch(n_tokens)) ** 2
                + (0.05 if config["act"] == "relu" else 0.0)
                + rng.normal(0.0, noise)
            )
            scale = {"n_params": n_params, "n_tokens": n_tokens}
            observations.append(Observation(scale, config, value, f"n{n_params:g}"))
    return observations


@cache
def fitted(seed: int) -> ScalingFit:
    return fit_scaling(SPACE, family(seed))


def covers(fit: ScalingFit, parameter: str, variable: str, truth: float) -> bool:
    """Whether the law of ``parameter`` uses ``variable`` and its interval holds ``truth``."""
    intervals = fit.laws[parameter].intervals
    return variable in intervals and intervals[variable][0] <= truth <= intervals[variable][1]


# Seeds 1 and 4 are left out: seed 1's lr interval (-0.347, -0.316) misses -0.35 and seed 4's
# batch interval (0.354, 0.396) misses 0.4, misses a 0.9 level allows (the coverage test below
# counts them).
@pytest.mark.parametrize("seed", [0, 2, 3, 5])
def test_the_known_exponents_lie_inside_their_intervals(seed: int) -> None:
    fit = fitted(seed)
    lr, batch = fit.laws["lr"], fit.laws["batch"]
    assert lr.log and batch.log and not fit.laws["wd"].log
    assert covers(fit, "lr", "n_params", LR_EXPONENT)
    assert covers(fit, "batch", "n_tokens", BATCH_EXPONENT)
    assert lr.exponents["n_params"] == pytest.approx(LR_EXPONENT, abs=0.05)
    assert batch.exponents["n_tokens"] == pytest.approx(BATCH_EXPONENT, abs=0.15)
    assert lr.level == 0.9 and lr.dof == len(POINTS) - 1 - len(lr.variables)


def test_the_intervals_cover_at_about_their_level() -> None:
    # Over 200 seeds (docs/scaling.md) 0.84 (lr) and 0.87 (batch) at level 0.9, a little
    # under it because variables are selected; these 40 seeds give 0.825 and 0.925. Honest
    # but not vacuous: coverage is not 1, and the lr interval is narrow enough to be useful.
    seeds = range(40)
    fits = [fit_scaling(SPACE, family(seed, per_point=30)) for seed in seeds]
    lr = np.mean([covers(fit, "lr", "n_params", LR_EXPONENT) for fit in fits])
    batch = np.mean([covers(fit, "batch", "n_tokens", BATCH_EXPONENT) for fit in fits])
    assert 0.7 <= lr < 1.0 and 0.7 <= batch < 1.0, (lr, batch)
    widths = [np.diff(fit.laws["lr"].intervals["n_params"])[0] for fit in fits]
    assert np.median(widths) < 0.15


def test_the_point_optima_beat_the_best_result() -> None:
    observations = family(0)
    estimated, best_result = [], []
    for point in fitted(0).points:
        here = [o for o in observations if o.scale == point.scale]
        truth = best_lr(point.scale["n_params"])
        assert point.count == 40 and point.best_value == min(o.value for o in here)
        assert point.studies == (f"n{point.scale['n_params']:g}",)
        assert point.methods["lr"] == "quadratic"
        assert point.spread["lr"] is not None and 0 < point.spread["lr"] < 0.5
        assert SPACE.validate(point.optimum) == point.optimum
        estimated.append(abs(math.log(point.estimates["lr"] / truth)))
        best_result.append(abs(math.log(min(here, key=lambda o: o.value).config["lr"] / truth)))
    assert max(estimated) < 0.25
    assert np.mean(estimated) < np.mean(best_result)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_extrapolating_a_hundredfold_lands_near_the_optimum(seed: int) -> None:
    proposal = fitted(seed).propose(TARGET)
    truth = {"lr": best_lr(TARGET["n_params"]), "batch": best_batch(TARGET["n_tokens"])}
    tolerance = {"lr": 0.2, "batch": 0.5}  # natural-log units: x1.22 and x1.65
    for name, optimum in truth.items():
        assert abs(math.log(proposal.estimates[name] / optimum)) < tolerance[name]
        lower, upper = proposal.intervals[name]
        assert lower <= optimum <= upper
    assert proposal.config["act"] == "gelu"
    assert isinstance(proposal.config["batch"], int)
    assert proposal.config["batch"] == round(proposal.estimates["batch"])
    assert proposal.clipped == ()
    assert proposal.extrapolation == pytest.approx({"n_params": 1.0, "n_tokens": math.log10(3)})
    assert proposal.level == 0.9


def test_an_exact_family_selects_the_true_variables() -> None:
    # Without noise the bowl is exactly quadratic, so every point's optimum is exact and the
    # leave-one-out error of the true law is zero: no other variable can improve on it.
    fit = fit_scaling(SPACE, family(0, noise=0.0))
    assert fit.laws["lr"].variables == ("n_params",)
    assert fit.laws["batch"].variables == ("n_tokens",)
    assert fit.laws["lr"].exponents["n_params"] == pytest.approx(LR_EXPONENT, abs=1e-6)
    assert fit.laws["batch"].exponents["n_tokens"] == pytest.approx(BATCH_EXPONENT, abs=1e-6)
    assert math.exp(fit.laws["lr"].intercept) * 1e7**LR_EXPONENT == pytest.approx(0.02)


def test_without_selection_a_law_uses_every_variable_the_points_allow() -> None:
    fit = fit_scaling(SPACE, family(0), select_variables=False)
    assert all(law.variables == ("n_params", "n_tokens") for law in fit.laws.values())
    few = fit_scaling(SPACE, family(0, points=POINTS[:3]), select_variables=False)
    assert all(len(law.variables) <= 1 for law in few.laws.values())


def test_a_law_keeps_a_residual_degree_of_freedom() -> None:
    fit = fit_scaling(SPACE, family(1, points=POINTS[1:4]))
    for law in fit.laws.values():
        assert len(law.variables) <= 1 and law.dof >= 1 and law.points == 3


def test_a_law_predicts_with_its_interval_and_stays_finite() -> None:
    law = fitted(0).laws["batch"]
    estimate, lower, upper = law.predict(TARGET)
    assert lower < estimate < upper
    assert estimate == pytest.approx(math.exp(law.intercept) * 3e10 ** law.exponents["n_tokens"])
    steep = ParameterLaw(
        "x",
        True,
        0.0,
        {"n": 5.0},
        {"n": (4.0, 6.0)},
        ("n",),
        0.1,
        ((1.0, 0.0), (0.0, 0.01)),
        dof=3,
        level=0.9,
        loo_rmse=0.1,
        points=5,
    )
    assert steep.predict({"n": 1e300}) == pytest.approx((sys.float_info.max,) * 3)
    with pytest.raises(ScalingError, match="lacks 'n'"):
        steep.predict({})
    with pytest.raises(ScalingError, match="n must be a number > 0"):
        steep.predict({"n": -1.0})


def test_two_points_give_constant_laws() -> None:
    fit = fit_scaling(SPACE, family(0, points=((1e6, 1e8), (1e8, 1e9))))
    assert all(law.variables == () and law.dof == 1 for law in fit.laws.values())
    assert any("only 2 scale points" in note for note in fit.notes)
    estimate, lower, upper = fit.laws["lr"].predict({"n_params": 1e9, "n_tokens": 1e9})
    assert lower < estimate < upper


def test_one_result_per_scale_still_fits() -> None:
    observations = [
        family(seed, per_point=1, points=[point])[0] for seed, point in enumerate(POINTS)
    ]
    fit = fit_scaling(SPACE, observations)
    for point, observation in zip(fit.points, observations, strict=True):
        assert point.count == 1 and point.optimum == observation.config
        assert point.spread == {"lr": None, "batch": None, "wd": None}
        assert point.methods == {
            "lr": "constant",
            "batch": "constant",
            "wd": "constant",
            "act": "top-k",
        }
    assert SPACE.validate(fit.propose(TARGET).config) == fit.propose(TARGET).config


def test_too_few_scales_is_an_error() -> None:
    one_scale = family(0, per_point=10, points=POINTS[:1])
    with pytest.raises(ScalingError, match="share one scale .*2 or more distinct scales"):
        fit_scaling(SPACE, one_scale)
    with pytest.raises(ScalingError, match="2 or more distinct scales"):
        fit_scaling(SPACE, [])
    diverged = family(0, per_point=5, points=POINTS[:2])
    diverged = [*diverged[:5], *(Observation(o.scale, o.config, math.inf) for o in diverged[5:])]
    with pytest.raises(ScalingError, match="share one scale"):
        fit_scaling(SPACE, diverged)
    assert issubclass(ScalingError, ValueError)


def test_inconsistent_observations_are_errors() -> None:
    observations = family(0, per_point=5, points=POINTS[:3])
    lacking = Observation({"n_params": 1e6}, observations[0].config, 1.0, "odd")
    with pytest.raises(ScalingError, match="study 'odd' lacks scale variable 'n_tokens'"):
        fit_scaling(SPACE, [*observations, lacking])
    zero = Observation({"n_params": 0, "n_tokens": 1e8}, observations[0].config, 1.0)
    with pytest.raises(ScalingError, match="n_params must be a number > 0, got 0"):
        fit_scaling(SPACE, [*observations, zero])
    partial = {k: v for k, v in observations[0].config.items() if k != "lr"}
    with pytest.raises(ScalingError, match="lacks parameter 'lr'"):
        fit_scaling(SPACE, [*observations, Observation(observations[0].scale, partial, 1.0)])
    unknown = {**observations[0].config, "act": "tanh"}
    with pytest.raises(ScalingError, match="act"):
        fit_scaling(SPACE, [*observations, Observation(observations[0].scale, unknown, 1.0)])
    with pytest.raises(ScalingError, match="level"):
        fit_scaling(SPACE, observations, level=1.0)
    with pytest.raises(ScalingError, match="'n_tokens' is missing"):
        fitted(0).propose({"n_params": 1e9})


def flipped(points: Sequence[tuple[float, float]]) -> list[Observation]:
    """The family with relu better than gelu at ``points``."""
    return [
        Observation(o.scale, o.config, o.value + (0.2 if o.config["act"] == "gelu" else 0.0))
        if tuple(o.scale.values()) in points
        else o
        for o in family(0)
    ]


def test_a_categorical_takes_the_choice_optimal_at_most_points() -> None:
    assert [p.optimum["act"] for p in fitted(0).points] == ["gelu"] * 6
    assert all(p.methods["act"] == "quadratic" for p in fitted(0).points)
    fit = fit_scaling(SPACE, flipped(POINTS[2:]))
    assert [p.optimum["act"] for p in fit.points] == ["gelu"] * 2 + ["relu"] * 4
    assert fit.choices == {"act": "relu"}
    assert fit.propose(TARGET).config["act"] == "relu"
    # The largest point alone does not decide...
    assert fit_scaling(SPACE, flipped(POINTS[4:])).choices == {"act": "gelu"}
    # ...but breaks a tie.
    assert fit_scaling(SPACE, flipped(POINTS[3:])).choices == {"act": "relu"}


def test_proposals_are_clipped_and_rounded_into_the_space() -> None:
    fit = fitted(0)
    huge = fit.propose({"n_params": 1e30, "n_tokens": 1e30})
    assert {"lr", "batch"} <= set(huge.clipped)
    assert huge.config["lr"] == 1e-5 and huge.config["batch"] == 4096
    assert huge.estimates["lr"] < 1e-5 and huge.estimates["batch"] > 4096
    narrow = Space({"layers": Int(1, 8), "lr": Float(1e-5, 1.0, log=True)})
    rng = np.random.default_rng(0)
    observations = [
        Observation(
            {"n_params": n},
            config,
            (config["layers"] - 2 * math.log10(n) + 9) ** 2
            + math.log(config["lr"] / best_lr(n)) ** 2,
        )
        for n in (1e6, 1e7, 1e8)
        for config in (narrow.sample(rng) for _ in range(40))
    ]
    fit = fit_scaling(narrow, observations)
    assert not fit.laws["layers"].log  # a range of less than a decade is fitted as it is
    for n_params in (1e5, 1e7, 1e9, 1e12):
        proposal = fit.propose({"n_params": n_params})
        assert isinstance(proposal.config["layers"], int)
        assert narrow.validate(proposal.config) == proposal.config
    assert fit.propose({"n_params": 1e12}).config["layers"] == 8
    assert "layers" in fit.propose({"n_params": 1e12}).clipped


def test_collinear_variables_do_not_crash() -> None:
    # Tokens always 20 times the parameters: only one of them can be used.
    points = [(n, 20 * n) for n in (1e6, 3e6, 1e7, 3e7, 1e8)]
    fit = fit_scaling(SPACE, family(0, points=points))
    assert set(fit.dropped) == {"n_tokens"} and "collinear" in fit.dropped["n_tokens"]
    assert any("n_tokens is not used" in note for note in fit.notes)
    assert all(set(law.variables) <= {"n_params"} for law in fit.laws.values())
    # The batch law on n_params carries the tokens' exponent (D = 20 N).
    assert fit.laws["batch"].exponents["n_params"] == pytest.approx(BATCH_EXPONENT, abs=0.15)
    assert fit.laws["lr"].exponents["n_params"] == pytest.approx(LR_EXPONENT, abs=0.05)


def test_a_constant_variable_is_not_used() -> None:
    observations = [
        Observation({**o.scale, "n_layers": 12}, o.config, o.value) for o in family(0, per_point=30)
    ]
    fit = fit_scaling(SPACE, observations)
    assert fit.variables == ("n_layers", "n_params", "n_tokens")
    assert fit.dropped["n_layers"].startswith("constant: every scale point has n_layers=12")
    assert all("n_layers" not in law.variables for law in fit.laws.values())
    assert fit.propose({**TARGET, "n_layers": 48}).extrapolation["n_layers"] == pytest.approx(
        math.log10(4)
    )


def test_the_json_form_round_trips() -> None:
    fit = fitted(0)
    text = json.dumps(fit.to_json(), allow_nan=False)
    again = ScalingFit.from_json(json.loads(text))
    assert again == fit
    assert ScalingFit.from_json(json.loads(text), SPACE) == fit
    assert again.propose(TARGET) == fit.propose(TARGET)
    data = json.loads(text)
    assert data["format"] == "hpo.scaling/1" and data["level"] == 0.9
    assert set(data["laws"]) == {"lr", "batch", "wd"} and data["choices"] == {"act": "gelu"}
    assert set(data["laws"]["lr"]) >= {"intercept", "exponents", "intervals", "covariance"}
    json.dumps(fit.propose(TARGET).to_json(), allow_nan=False)
    with pytest.raises(ScalingError, match="not a scaling fit"):
        ScalingFit.from_json({"laws": {}})
    with pytest.raises(ScalingError, match="malformed"):
        ScalingFit.from_json({**data, "laws": {"lr": {"log": True}}})


SMALL = family(7, per_point=12, points=POINTS[:4])


@settings(max_examples=8, deadline=None)
@given(st.permutations(SMALL))
def test_the_fit_does_not_depend_on_the_order_of_the_results(
    observations: list[Observation],
) -> None:
    assert fit_scaling(SPACE, observations).to_json() == fit_scaling(SPACE, SMALL).to_json()


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0.0, 40.0),
    st.floats(0.0, 40.0),
    st.sampled_from([0, 1]),
    st.sampled_from([0.5, 0.9, 0.99]),
)
def test_proposals_are_always_valid_configurations(
    log10_params: float, log10_tokens: float, seed: int, level: float
) -> None:
    fit = fitted(seed) if level == 0.9 else _at_level(seed, level)
    proposal = fit.propose({"n_params": 10**log10_params, "n_tokens": 10**log10_tokens})
    assert SPACE.validate(proposal.config) == proposal.config
    for name, (lower, upper) in proposal.intervals.items():
        assert lower <= proposal.estimates[name] <= upper
    estimates, config = proposal.estimates, proposal.config
    for name in ("lr", "wd"):
        assert (name in proposal.clipped) == (config[name] != estimates[name])
    assert ("batch" in proposal.clipped) == (not 4 <= estimates["batch"] <= 4096)


@cache
def _at_level(seed: int, level: float) -> ScalingFit:
    return fit_scaling(SPACE, family(seed), level=level)
