"""The quality benchmark's newer problems: determinism, the resource contract, regret's anchors and
the property each problem is there for (misleading low fidelities, rank reversal, crossing
curves, ties on a small validation set).

The live-trained tasks prepare their optimum and reference from a small sample here (in a
temporary cache), so the module runs in seconds.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kendalltau

from benchmarks.quality import live_tasks, rank_consistency
from benchmarks.quality.determinism import config_key, hash_normal, hash_seed
from benchmarks.quality.methods import NEAR_OFFSET, near
from benchmarks.quality.problems import (
    CURVE_NAMES,
    LIVE_NAMES,
    MF_HARTMANN_NAMES,
    PROBLEM_NAMES,
    Problem,
    get_problem,
)
from hpo.space import Categorical, Float

SYNTHETIC = (*MF_HARTMANN_NAMES, *CURVE_NAMES)
NEWER = (*SYNTHETIC, *LIVE_NAMES)
# How many random configurations a live task's preparation trains in these tests (the network
# is the slowest to train).
SMALL = {"samples": 12, "refinements": 1}
SMALLER = {"samples": 12, "refinements": 0}


def small(name: str) -> dict[str, int]:
    return SMALLER if name == "mlp-digits-err" else SMALL


@pytest.fixture(scope="module")
def live_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("live-cache")


def build(name: str, cache: Path) -> Problem:
    if name in LIVE_NAMES:
        return live_tasks.make(name, cache_dir=cache, **small(name))
    return get_problem(name)


@pytest.fixture(scope="module")
def problems(live_cache: Path) -> dict[str, Problem]:
    return {name: build(name, live_cache) for name in NEWER}


def levels(problem: Problem) -> list[float]:
    resource = problem.resource
    count = round(np.log(resource.r_max / resource.r_min) / np.log(resource.eta))
    return [resource.r_min * resource.eta**k for k in range(count + 1)]


def sample(problem: Problem, count: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [problem.space.sample(rng) for _ in range(count)]


def test_the_suite_has_ten_problems_with_a_resource() -> None:
    assert len(PROBLEM_NAMES) >= 10
    assert len(set(PROBLEM_NAMES)) == len(PROBLEM_NAMES)
    for name in NEWER:
        resource = get_problem(name).resource  # nothing is trained or prepared
        assert (resource.r_min, resource.eta) == (1, 3), name
        assert resource.r_max in (27, 81), name


def test_sgd_10d_has_ten_parameters_several_categorical() -> None:
    space = get_problem("sgd-10d").space
    assert len(space) >= 10
    assert sum(isinstance(p, Categorical) for p in space.values()) >= 3


def test_hashed_noise_is_deterministic_and_standard() -> None:
    config = {"a": 0.1 + 0.2, "b": 3, "c": "x"}
    assert config_key(config, "abc") == config_key({"a": 0.3, "b": 3.0, "c": "x"}, "abc")
    assert hash_normal("p", 1, 27) == hash_normal("p", 1, 27.0)
    assert hash_seed("p", 1) == hash_seed("p", 1) != hash_seed("p", 2)
    draws = np.array([hash_normal("noise", i) for i in range(4000)])
    assert abs(draws.mean()) < 0.06 and abs(draws.std() - 1) < 0.05


@pytest.mark.parametrize("name", NEWER)
def test_values_are_deterministic(name: str, problems: dict[str, Problem], live_cache: Path):
    problem = problems[name]
    configs = sample(problem, 3, seed=11)
    rungs = levels(problem)
    first = [[problem.value(c, r) for r in rungs] for c in configs]
    again = [[problem.value(c, r) for r in rungs] for c in configs]
    # A fresh instance, asked from the top rung down and in another order, agrees.
    fresh = build(name, live_cache)
    backwards = [[fresh.value(c, r) for r in reversed(rungs)][::-1] for c in reversed(configs)]
    assert first == again == backwards[::-1]
    assert [problem.final_value(c) for c in configs] == [fresh.final_value(c) for c in configs]
    assert np.all(np.isfinite(first))


def noise(problem: Problem, configs: list[dict], resource: float) -> float:
    """The spread of the noise at ``resource``: the difference between each configuration and a
    copy nudged by a relative 1e-9 (a new noise draw, the same mean), over sqrt(2)."""
    name = next(k for k, p in problem.space.items() if isinstance(p, Float))
    differences = [
        problem.value(c, resource) - problem.value({**c, name: c[name] * (1 + 1e-9)}, resource)
        for c in configs
    ]
    return float(np.std(differences) / np.sqrt(2))


@pytest.mark.parametrize("name", SYNTHETIC)
def test_final_value_is_noise_free(name: str, problems: dict[str, Problem]) -> None:
    """The optimizer observes noise at every resource, r_max included; the final value has none."""
    problem = problems[name]
    configs = sample(problem, 200, seed=3)
    r_min, r_max = problem.resource.r_min, problem.resource.r_max
    finals = np.array([problem.final_value(c) for c in configs])
    at_top = np.array([problem.value(c, r_max) for c in configs])
    assert np.all(at_top != finals)
    assert np.std(at_top - finals) == pytest.approx(noise(problem, configs, r_max), rel=0.3)
    assert 0 < noise(problem, configs, r_max) < 0.1
    if name in MF_HARTMANN_NAMES:  # the noise grows as the fidelity falls
        assert noise(problem, configs, r_min) > 2 * noise(problem, configs, r_max)


@pytest.mark.parametrize("name", LIVE_NAMES)
def test_live_final_value_is_the_test_error(name: str, problems: dict[str, Problem]) -> None:
    problem = problems[name]
    assert isinstance(problem, live_tasks.LiveTask)
    test_size = len(problem.splits(problem.best_and_worst()[0]).test_y)
    valid_size = len(problem.splits(problem.best_and_worst()[0]).valid_y)
    assert 60 <= valid_size <= 150 < test_size
    config = sample(problem, 1)[0]  # of the preparation's sample: trained already
    final = problem.final_value(config)
    assert 0 <= final <= 1
    assert abs(final * test_size - round(final * test_size)) < 1e-9


@pytest.mark.parametrize("name", NEWER)
def test_resource_outside_the_range_is_rejected(name: str, problems: dict[str, Problem]):
    problem = problems[name]
    config = sample(problem, 1)[0]
    for resource in (0.0, problem.resource.r_min / 2, problem.resource.r_max + 1):
        with pytest.raises(ValueError):
            problem.value(config, resource)
    problem.value(config, problem.resource.r_min)
    problem.value(config, problem.resource.r_max)


@pytest.mark.parametrize("name", NEWER)
def test_regret_anchors(name: str, problems: dict[str, Problem]) -> None:
    """Regret 0 at the optimum (reached by the best configuration), 1 at the reference, and the
    worst configuration is worse than the reference."""
    problem = problems[name]
    best, worst = problem.best_and_worst()
    assert problem.space.validate(best) == best and problem.space.validate(worst) == worst
    assert problem.normalized_regret(problem.optimum) == 0
    assert problem.normalized_regret(problem.reference) == pytest.approx(1)
    assert problem.reference > problem.optimum
    assert problem.normalized_regret(problem.final_value(best)) == pytest.approx(0, abs=1e-9)
    assert problem.normalized_regret(problem.final_value(worst)) > 1
    finals = problem.final_values()
    assert problem.reference == pytest.approx(np.median(finals))
    assert finals.min() >= problem.optimum - 1e-9


@pytest.mark.parametrize("name", SYNTHETIC)
def test_the_near_prior_is_off_the_best_configuration_in_every_float(
    name: str, problems: dict[str, Problem]
) -> None:
    """The near prior's centre moves each float's unit coordinate by NEAR_OFFSET and keeps
    every other parameter; it is valid and worse than the best configuration."""
    problem = problems[name]
    best, _ = problem.best_and_worst()
    centre = near(problem, best)
    assert problem.space.validate(centre) == centre
    for key, parameter in problem.space.items():
        if isinstance(parameter, Float):
            shift = problem.space.to_unit({**best, key: centre[key]}) - problem.space.to_unit(best)
            assert np.abs(shift).max() == pytest.approx(NEAR_OFFSET)
        elif isinstance(parameter, Categorical):
            assert centre[key] == best[key]
    assert problem.normalized_regret(problem.final_value(centre)) > 0.01


def kendall(problem: Problem, configs: list[dict], resource: float) -> float:
    values = [problem.value(c, resource) for c in configs]
    return float(kendalltau(values, [problem.final_value(c) for c in configs])[0])


@pytest.mark.parametrize("name", ["mfh3-bad", "mfh6-bad"])
def test_mf_hartmann_low_fidelity_misleads(name: str, problems: dict[str, Problem]) -> None:
    problem = problems[name]
    configs = sample(problem, 300, seed=7)
    low = kendall(problem, configs, 1)
    high = kendall(problem, configs, 27)
    assert low < 0.2
    assert high > low + 0.3
    good = problems["mfh6-good"]
    assert kendall(good, sample(good, 300, seed=7), 1) > 0.5


def test_rank_reversal_turns_the_ranking_over(problems: dict[str, Problem]) -> None:
    problem = problems["rank-reversal"]
    configs = sample(problem, 300, seed=8)
    assert kendall(problem, configs, 1) < -0.3
    assert kendall(problem, configs, 3) < 0
    assert kendall(problem, configs, 81) > 0.8


def test_lc_crossing_curves_cross(problems: dict[str, Problem]) -> None:
    problem = problems["lc-crossing"]
    configs = sample(problem, 200, seed=9)
    early = np.array([problem.value(c, 1) for c in configs])
    late = np.array([problem.final_value(c) for c in configs])
    crossings = sum(
        1
        for i, j in itertools.combinations(range(len(configs)), 2)
        if (early[i] - early[j]) > 0.05 and (late[j] - late[i]) > 0.05
    )
    assert crossings > 100
    # The best final configuration decays its learning rate; adam starts fastest.
    best, _ = problem.best_and_worst()
    assert best["schedule"] != "constant"
    fast = {"optimizer": "adam", "schedule": "constant", "learning_rate": 3e-3}
    slow = {"optimizer": "momentum", "schedule": "cosine", "learning_rate": 3e-3}
    common = {"warmup_epochs": 0, "weight_decay": 5e-4, "batch_size": 128}
    fast, slow = {**common, **fast}, {**common, **slow}
    assert problem.value(fast, 3) < problem.value(slow, 3) - 0.05
    assert problem.final_value(fast) > problem.final_value(slow) + 0.01


@pytest.mark.parametrize("name", LIVE_NAMES)
def test_live_tasks_have_ties(name: str, problems: dict[str, Problem]) -> None:
    """Validation errors move in steps of one example, so configurations tie at some rung."""
    problem = problems[name]
    assert isinstance(problem, live_tasks.LiveTask)
    configs = sample(problem, small(name)["samples"])  # the preparation's sample: trained already
    size = len(problem.splits(configs[0]).valid_y)
    tied = []
    for resource in levels(problem):
        values = [problem.value(c, resource) for c in configs]
        assert all(abs(v * size - round(v * size)) < 1e-9 for v in values)
        tied.append(len(set(values)) < len(values))
    assert any(tied)


def test_live_task_resumes_as_it_restarts(live_cache: Path) -> None:
    """A model evicted from the cache and trained again from scratch gives the same curve."""
    problem = live_tasks.make("sgd-10d", cache_dir=live_cache, models_kept=1, **SMALL)
    configs = sample(problem, 3, seed=12)
    for config in configs:
        problem.value(config, 3)  # each evicts the previous one's model
    resumed = [problem.value(c, 9) for c in configs]
    fresh = live_tasks.make("sgd-10d", cache_dir=live_cache, **SMALL)
    assert resumed == [fresh.value(c, 9) for c in configs]


def test_rank_consistency_tells_a_faithful_problem_from_a_reversed_one() -> None:
    """The diagnosis behind the quality docs: Hartmann-6's rungs rank like r_max, the
    rank-reversal problem's first rung ranks against it."""
    faithful = rank_consistency.consistency(get_problem("hartmann6"), samples=60)
    reversed_ = rank_consistency.consistency(get_problem("rank-reversal"), samples=60)
    assert all(everyone > 0.9 for _, everyone, _ in faithful)
    assert reversed_[0][1] < 0 < reversed_[-1][1]
