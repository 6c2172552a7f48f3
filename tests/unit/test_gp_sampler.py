"""The GP sampler on BoTorch, driven in memory through LocalStudy (real fits, no server)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
import torch
from scipy.stats import norm

from hpo.local import LocalAssignment, LocalStudy
from hpo.samplers import InlineModels
from hpo.samplers.gp import FitResult, ModelSlot, min_distance
from hpo.samplers.gp_fit import fit_and_propose, fit_chooser
from hpo.samplers.model_input import MIN_RESULTS, ModelInput, model_input
from hpo.schedulers.rungs import rung_levels
from hpo.space import Categorical, Float, Int, Space
from hpo.spec import Resource, StudySpec
from hpo.state import RungResult, StudyState
from tests.local_runs import model_expected, run_one_worker

OPTIMUM = {"x": 0.5, "y": -0.3}


def bowl(config: dict) -> float:
    """A smooth function with its minimum 0 at OPTIMUM."""
    return (config["x"] - OPTIMUM["x"]) ** 2 + (config["y"] - OPTIMUM["y"]) ** 2


def make_spec(**overrides: object) -> StudySpec:
    fields: dict = {
        "name": "gp",
        "space": Space({"x": Float(-2, 2), "y": Float(-2, 2)}),
        "resource": Resource(1, 1),
        "algorithm": "gp-hyperband",
        "seed": 4,
    }
    fields.update(overrides)
    return StudySpec(**fields)


def run_sequentially(study: LocalStudy, trials: int) -> list[LocalAssignment]:
    """One worker: suggest, report the bowl at the assigned resource, complete."""
    return run_one_worker(study, trials, bowl)


def test_the_gp_finds_a_near_optimum_of_a_smooth_function_in_few_trials() -> None:
    gp = run_sequentially(LocalStudy(make_spec()), 20)
    random = run_sequentially(LocalStudy(make_spec(algorithm="random")), 20)
    gp_best = min(bowl(job.config) for job in gp)
    random_best = min(bowl(job.config) for job in random)
    # The first MIN_RESULTS configurations are random; the model takes its portfolio share of
    # the new trials after them (every trial whose draw is under the least share, and none
    # above the most), and the fallback the rest.
    assert {job.source for job in gp[:MIN_RESULTS]} == {"random"}
    for job in gp[MIN_RESULTS + 1 :]:
        expected = model_expected(make_spec().seed, job.number)
        if expected is not None:
            assert job.source == ("model" if expected else "random")
    assert sum(job.source == "model" for job in gp) >= 8
    assert gp_best < 1e-2, gp_best
    assert gp_best < random_best / 5


def test_concurrent_suggestions_are_distinct_points() -> None:
    space = Space({"x": Float(-2, 2), "y": Float(-2, 2), "n": Int(1, 8), "c": Categorical("ab")})
    study = LocalStudy(make_spec(space=space))
    for job in run_sequentially(study, MIN_RESULTS):
        assert job.source == "random"
    # Eight workers ask at once: the pool's candidates were chosen with each other fantasised.
    jobs = [study.suggest(f"worker-{index}") for index in range(8)]
    assert all(isinstance(job, LocalAssignment) for job in jobs)
    model_jobs = [job for job in jobs if job.source == "model"]  # type: ignore[union-attr]
    assert len(model_jobs) >= 3
    units = np.array([space.to_unit(job.config) for job in model_jobs])
    distances = np.linalg.norm(units[:, None] - units[None, :], axis=-1)
    assert distances[np.triu_indices(len(model_jobs), 1)].min() >= min_distance(space.dims)


def test_a_failed_fit_falls_back_to_random_sampling_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = []

    def broken_fit(data, warm):  # noqa: ANN001, ANN202
        calls.append(data.n_results)
        raise np.linalg.LinAlgError("not positive definite")

    study = LocalStudy(make_spec(), InlineModels(fit=broken_fit))
    with caplog.at_level(logging.ERROR, logger="hpo.samplers.gp"):
        jobs = run_sequentially(study, MIN_RESULTS + 3)
    assert {job.source for job in jobs} == {"random"}
    assert "model fit failed" in caplog.text
    # One attempt per new result once there is enough data, never a retry on the same data.
    assert calls == list(range(MIN_RESULTS, MIN_RESULTS + 3))


def test_with_a_seed_one_worker_gets_the_same_suggestions_every_run() -> None:
    def configs() -> list[dict]:
        return [job.config for job in run_sequentially(LocalStudy(make_spec()), MIN_RESULTS + 4)]

    first, second = configs(), configs()
    assert first == second
    other = [job.config for job in run_sequentially(LocalStudy(make_spec(seed=5)), MIN_RESULTS + 4)]
    assert other != first


def test_the_fit_data_is_capped_keeping_the_target_rung_and_the_best_of_lower_rungs() -> None:
    spec = make_spec(resource=Resource(1, 9, 3), algorithm="asha", max_trials=0)
    study = LocalStudy(spec)
    for _ in range(600):
        job = study.suggest("w")
        assert isinstance(job, LocalAssignment)
        study.report(job.number, job.resource, bowl(job.config) + 1 / job.resource)
        study.complete(job.number)
    data = model_input(study.state, rung_levels(spec.resource), n_candidates=4, seed=1,
                       max_points=200)  # fmt: skip
    assert study.state.n_results > 200 and len(data.x) == len(data.y) == 200
    counts = np.bincount([rung for rung, _ in study.state.all_results()])
    assert data.target_rung == int(np.flatnonzero(counts >= 6)[-1])
    # Every result at the target rung and above is kept...
    at_or_above_target = data.x[:, -1] >= data.target - 1e-12
    assert at_or_above_target.sum() == counts[data.target_rung :].sum()
    # ...and so is the best result of the lowest rung.
    assert min(result.signed_value for result in study.state.rung_results(0, 0)) in data.y


def in_model_data(data: ModelInput, state: StudyState, result: RungResult) -> bool:
    """Whether ``result`` (configuration and value) is one of the points a fit sees."""
    same_point = np.all(np.isclose(data.x[:, :-1], state.unit(result.number)), axis=1)
    return bool(np.any(same_point & (data.y == result.signed_value)))


def test_a_long_single_rung_study_keeps_its_newest_and_best_results_in_the_fit_data() -> None:
    # One rung (r_min == r_max): every result is at the target rung, more than the cap holds.
    study = LocalStudy(make_spec(algorithm="random", max_trials=0))
    run_sequentially(study, 120)
    data = model_input(study.state, rung_levels(study.spec.resource), n_candidates=1, seed=1,
                       max_points=50)  # fmt: skip
    assert len(data.x) == len(data.y) == 50
    results = [result for _, result in study.state.all_results()]
    newest, best = results[-1], min(results)
    assert in_model_data(data, study.state, newest), "the fit must see what it proposed last"
    assert in_model_data(data, study.state, best)
    # The room is shared, not given to the oldest results in recording order.
    assert sum(in_model_data(data, study.state, result) for result in results[:50]) < 50


def test_each_fit_starts_from_the_previous_fits_hyperparameters() -> None:
    calls: list[tuple[dict[str, Any] | None, FitResult]] = []

    def recording_fit(data: ModelInput, warm: dict[str, Any] | None) -> FitResult:
        result = fit_and_propose(data, warm)
        calls.append((warm, result))
        return result

    study = LocalStudy(make_spec(), InlineModels(fit=recording_fit))
    run_sequentially(study, MIN_RESULTS + 2)
    assert len(calls) == 2, "one fit at MIN_RESULTS results, one after the next result"
    (first_warm, first), (second_warm, second) = calls
    assert first_warm is None, "the first fit starts from the priors"
    assert second_warm is first.hyperparameters
    # ...and the warm start fits the next model's parameters, so it is used, not discarded.
    assert {name: np.shape(value) for name, value in second.hyperparameters.items()} == {
        name: np.shape(value) for name, value in first.hyperparameters.items()
    }


def test_fantasising_a_point_takes_away_its_expected_improvement() -> None:
    study = LocalStudy(make_spec(algorithm="random", max_trials=0))
    run_sequentially(study, MIN_RESULTS + 2)
    data = model_input(study.state, rung_levels(study.spec.resource), n_candidates=1, seed=1)
    chooser = fit_chooser(data, None)
    side = np.linspace(0, 1, 41)
    grid = np.stack(np.meshgrid(side, side), axis=-1).reshape(-1, 2)

    def log_ei(units: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return chooser.acquisition()(torch.as_tensor(units).unsqueeze(1)).numpy()

    def std(units: np.ndarray) -> np.ndarray:
        at_target = np.column_stack([units, np.full(len(units), data.target)])
        with torch.no_grad():
            posterior = chooser.model.posterior(torch.as_tensor(at_target))
        return posterior.variance.sqrt().numpy().ravel()

    x = grid[[int(np.argmax(log_ei(grid)))]]  # where a worker would be sent
    before, std_before = log_ei(x)[0], std(x)[0]
    chooser.add_pending(x)
    after, std_after = log_ei(x)[0], std(x)[0]
    # The model is now nearly as sure about x as about an observed point...
    assert std_after < std_before / 3, (std_before, std_after)
    # ...and x's believed value is the incumbent at best, so all EI has left is that spread.
    assert after <= np.log(norm.pdf(0) * std_after) + 1e-6
    assert after < before - np.log(10), (before, after)


def test_a_fit_is_due_on_new_results_or_when_the_pool_ran_dry() -> None:
    study = LocalStudy(make_spec(algorithm="random", max_trials=0))
    slot = ModelSlot()
    run_sequentially(study, MIN_RESULTS - 1)
    assert not slot.due(study.state, 0.0), "too little data for a model"
    run_sequentially(study, 1)
    assert slot.due(study.state, 0.0)
    data = slot.request(study.state)
    assert not slot.due(study.state, 0.0), "the same data was already sent to a fit"
    slot.install(data, FitResult(np.full((2, 2), 0.5), {}, 0.1))
    run_sequentially(study, 1)
    assert slot.due(study.state, 0.0), "a new result"
    assert not slot.due(study.state, 0.5), "a new result, but less than half the data is new"
    slot.pool.units = slot.pool.units[:0]  # type: ignore[union-attr]
    assert slot.due(study.state, 0.5), "the pool ran dry and there is news"
    slot.request(study.state)
    assert not slot.due(study.state, 0.5)
    study.suggest("w")  # a trial starts: the running trials changed
    assert slot.due(study.state, 0.5), "the pool is dry and a new trial should be fantasised"
