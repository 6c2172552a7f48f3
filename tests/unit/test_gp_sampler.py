"""The GP sampler on BoTorch, driven in memory through LocalStudy (real fits, no server)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from hpo.local import LocalAssignment, LocalStudy
from hpo.samplers import InlineModels
from hpo.samplers.gp import FitResult, ModelSlot, min_distance
from hpo.samplers.model_input import MIN_RESULTS, model_input
from hpo.schedulers.rungs import rung_levels
from hpo.space import Categorical, Float, Int, Space
from hpo.spec import Resource, StudySpec
from tests.local_runs import run_one_worker

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
    # The first MIN_RESULTS configurations are random; the model takes over after them.
    assert {job.source for job in gp[:MIN_RESULTS]} == {"random"}
    assert {job.source for job in gp[MIN_RESULTS + 1 :]} == {"model"}
    assert gp_best < 1e-2, gp_best
    assert gp_best < random_best / 5


def test_concurrent_suggestions_are_distinct_points() -> None:
    space = Space({"x": Float(-2, 2), "y": Float(-2, 2), "n": Int(1, 8), "c": Categorical("ab")})
    study = LocalStudy(make_spec(space=space))
    for job in run_sequentially(study, MIN_RESULTS):
        assert job.source == "random"
    # Eight workers ask at once: the pool's candidates were chosen with each other fantasised.
    jobs = [study.suggest(f"worker-{index}") for index in range(8)]
    assert all(isinstance(job, LocalAssignment) and job.source == "model" for job in jobs)
    units = np.array([space.to_unit(job.config) for job in jobs])  # type: ignore[union-attr]
    distances = np.linalg.norm(units[:, None] - units[None, :], axis=-1)
    assert distances[np.triu_indices(len(jobs), 1)].min() >= min_distance(space.dims)


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
