"""The benchmark of several objectives, constraints and cost (``benchmarks/quality/multi``): its
problems have the properties they are there for, its hypervolume is right, and a tiny run of
hpo's random search and of Optuna's NSGA-II writes a result file that a rerun keeps.

Everything here takes seconds: the ``mlp-size`` curves are never trained (only its parameter
count, which needs no training, is checked).
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from botorch.test_functions.multi_fidelity import AugmentedBranin
from botorch.test_functions.synthetic import Hartmann
from botorch.utils.multi_objective.hypervolume import Hypervolume

from benchmarks.quality.multi.__main__ import main, parse_seeds
from benchmarks.quality.multi.hypervolume import REFERENCE, hypervolume_2d, normalise
from benchmarks.quality.multi.methods import METHODS, applies, declared_metrics, spec_json
from benchmarks.quality.multi.mlp_size import SPACE as MLP_SPACE
from benchmarks.quality.multi.mlp_size import parameter_count
from benchmarks.quality.multi.problems import PROBLEM_NAMES, get_problem
from benchmarks.quality.multi.runs import Cell, run_cell
from benchmarks.quality.multi.synthetic import (
    H3_OPTIMIZER,
    ConstrainedBranin,
    CostlyHartmann,
    ZdtR,
    band,
    branin,
    hartmann3,
)
from hpo.spec import Algorithm

# The hpo side of the contract (objectives, constraints, cost in the spec; reports of several
# metrics) lives in hpo.outcomes: without it, the hpo methods cannot run.
HPO_OUTCOMES = importlib.util.find_spec("hpo.outcomes") is not None
needs_outcomes = pytest.mark.skipif(not HPO_OUTCOMES, reason="hpo.outcomes is not there yet")


# --- hypervolume --------------------------------------------------------------------------------


def test_hypervolume_of_simple_sets() -> None:
    assert hypervolume_2d(np.empty((0, 2))) == 0.0
    assert hypervolume_2d(np.array([[0.1, 0.6]])) == pytest.approx(1.0 * 0.5)
    two = np.array([[0.1, 0.6], [0.5, 0.2]])
    assert hypervolume_2d(two) == pytest.approx(1.0 * 0.5 + 0.6 * 0.4)
    # A dominated point, a duplicate and points outside the reference box add nothing.
    more = np.vstack([two, [[0.6, 0.7], [0.5, 0.2], [1.2, 0.0], [0.0, 1.1]]])
    assert hypervolume_2d(more) == pytest.approx(hypervolume_2d(two))
    assert hypervolume_2d(more[::-1]) == pytest.approx(hypervolume_2d(two))


def test_hypervolume_matches_botorch() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        points = rng.uniform(-0.2, 1.3, size=(40, 2))
        # BoTorch maximises: negate both the points and the reference.
        theirs = Hypervolume(ref_point=-torch.tensor(REFERENCE, dtype=torch.float64)).compute(
            -torch.as_tensor(points[(points < REFERENCE).all(axis=1)])
        )
        assert hypervolume_2d(points) == pytest.approx(theirs, rel=1e-12)


def test_normalise_by_fixed_bounds_and_log_scale() -> None:
    points = np.array([[0.0, 10.0], [0.5, 100.0], [1.0, 1000.0]])
    scaled = normalise(points, [(0.0, 1.0), (10.0, 1000.0)], [False, True])
    assert scaled == pytest.approx(np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]))


# --- problems -----------------------------------------------------------------------------------


def test_zdt_true_front_has_the_known_hypervolume() -> None:
    problem = get_problem("zdt-r")
    assert isinstance(problem, ZdtR)
    zeros = {f"x{i}": 0.0 for i in range(1, 6)}
    front = [{"x0": float(x), **zeros} for x in np.linspace(0, 1, 2001)]
    truths = [problem.true_outcomes(config) for config in front]
    assert all(t["f2"] == pytest.approx(1 - math.sqrt(t["f1"])) for t in truths)
    assert problem.best_hypervolume == pytest.approx(1.21 - 1 / 30)
    assert problem.hypervolume(truths) == pytest.approx(problem.best_hypervolume, abs=1e-4)
    # Random configurations are far from the front, and inside the bounds.
    randoms = [problem.true_outcomes(c) for c in problem.random_configs(500)]
    assert problem.hypervolume(randoms) < problem.best_hypervolume - 0.05
    assert ((problem.normalised(randoms) >= 0) & (problem.normalised(randoms) <= 1)).all()


def test_zdt_low_resource_is_biased_and_every_value_deterministic() -> None:
    problem = get_problem("zdt-r")
    config = problem.random_configs(1, seed=5)[0]
    low, top = problem.outcomes(config, 1), problem.outcomes(config, 81)
    truth = problem.true_outcomes(config)
    assert low["f1"] == top["f1"] == truth["f1"]
    assert low["f2"] > top["f2"] + 0.5  # g inflated by up to 1.5x at low resource
    assert abs(top["f2"] - truth["f2"]) < 5 * problem.NOISE  # noisy, not biased, at r_max
    assert problem.outcomes(config, 3) == get_problem("zdt-r").outcomes(config, 3)
    with pytest.raises(ValueError):
        problem.outcomes(config, 100)


def test_constraint_removes_about_half_and_moves_the_optimum() -> None:
    problem = get_problem("constrained")
    assert isinstance(problem, ConstrainedBranin)
    sample = problem.random_configs(2000, seed=1)
    infeasible = np.mean([not problem.feasible(problem.true_outcomes(c)) for c in sample])
    assert 0.45 < infeasible < 0.55
    # All three of Branin's minima are cut away; the constrained optimum is worse, feasible.
    for x0, x1 in [(-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475)]:
        assert band(x0, x1) > 0
        assert branin(x0, x1) == pytest.approx(0.397887, abs=1e-5)
    assert problem.optimum == pytest.approx(2.3536, abs=1e-3)
    assert problem.reference > problem.optimum
    assert problem.normalized_regret(problem.optimum) == 0.0


def test_synthetic_functions_match_botorch() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform([-5, 0, 0], [10, 15, 1], size=(20, 3))
    theirs = AugmentedBranin().evaluate_true(torch.as_tensor(points)).numpy()
    assert branin(points[:, 0], points[:, 1], points[:, 2]) == pytest.approx(theirs)
    cube = rng.random((20, 3))
    theirs = Hartmann(dim=3).evaluate_true(torch.as_tensor(cube)).numpy()
    assert [hartmann3(x) for x in cube] == pytest.approx(theirs, abs=1e-6)
    assert hartmann3(np.array(H3_OPTIMIZER)) == pytest.approx(CostlyHartmann().optimum, abs=1e-5)


def test_cost_spans_more_than_ten_times_and_is_cumulative() -> None:
    problem = get_problem("cost")
    assert isinstance(problem, CostlyHartmann)
    configs = problem.random_configs(2000, seed=2)
    rates = np.array([problem.rate(c) for c in configs])
    assert rates.max() / rates.min() >= 10
    assert rates.mean() == pytest.approx(1.0, abs=0.05)  # a budget in r_max units
    config = configs[0]
    assert problem.outcomes(config, 9)["cost"] == pytest.approx(9 * problem.rate(config))
    assert problem.rate(dict(zip(problem.space, H3_OPTIMIZER, strict=True))) < 1


def test_mlp_size_counts_parameters() -> None:
    assert parameter_count({"hidden_units": 8, "layers": 1}) == 64 * 8 + 8 + 8 * 10 + 10
    assert parameter_count({"hidden_units": 32, "layers": 2}) == (
        64 * 32 + 32 + 32 * 32 + 32 + 32 * 10 + 10
    )
    assert set(MLP_SPACE) == {"hidden_units", "layers", "learning_rate_init", "alpha"}


def test_every_problem_declares_its_outcomes() -> None:
    for name in PROBLEM_NAMES:
        problem = get_problem(name)
        assert problem.resource.eta == 3
        if name in ("zdt-r", "mlp-size"):
            assert len(problem.objectives) == 2
        else:
            assert problem.objectives == ("value",)
    assert get_problem("constrained").metrics == ("value", "c1")
    assert get_problem("cost").metrics == ("value", "cost")


# --- methods and runs ---------------------------------------------------------------------------


def test_specs_declare_what_each_method_knows() -> None:
    constrained, cost = get_problem("constrained"), get_problem("cost")
    full = spec_json(constrained, Algorithm.GP_HYPERBAND, 0)
    assert full["constraints"] == [{"metric": "c1", "op": "<=", "bound": 0.0}]
    assert declared_metrics(full) == ("value", "c1")
    blind = spec_json(constrained, Algorithm.GP_HYPERBAND, 0, constraints=False)
    assert "constraints" not in blind and declared_metrics(blind) == ("value",)
    assert declared_metrics(spec_json(cost, Algorithm.ASHA, 0)) == ("value", "cost")
    zdt = spec_json(get_problem("zdt-r"), Algorithm.RANDOM, 0)
    assert [o["metric"] for o in zdt["objectives"]] == ["f1", "f2"]
    assert applies("gp-hyperband-no-constraint", constrained)
    assert not applies("gp-hyperband-no-constraint", cost)
    assert applies("gp-hyperband-no-cost", cost) and not applies(
        "gp-hyperband-no-cost", get_problem("zdt-r")
    )


def test_parse_seeds() -> None:
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("3") == [3]
    assert parse_seeds("0-1,7") == [0, 1, 7]


def _check_result(path: Path, method: str) -> dict:
    result = json.loads(path.read_text())
    assert result["cell"]["method"] == method
    metrics = result["metrics"]
    assert metrics["trials"] > 0 and metrics["r_max_results"] > 0
    volumes = [metrics["hypervolume"][key] for key in ("0.25", "0.5", "0.75", "1")]
    assert volumes == sorted(volumes)  # the front only grows
    assert 0 < volumes[-1] <= metrics["best_hypervolume"] + 1e-12
    return result


@pytest.mark.parametrize(
    "method",
    [pytest.param("random", marks=needs_outcomes), "optuna-nsga2"],
)
def test_tiny_run_writes_a_result_file(method: str, tmp_path: Path) -> None:
    cell = Cell("zdt-r", method, seed=0, workers=4, budget=8)
    run_cell(cell, tmp_path)
    path = tmp_path / "zdt-r" / method / "seed0.json"
    _check_result(path, method)


@needs_outcomes
def test_command_line_skips_stored_runs_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--problems", "zdt-r", "--methods", "random,optuna-nsga2", "--seeds", "0"]
    arguments += ["--budget", "4", "--processes", "1", "--results", str(tmp_path)]
    main(arguments)
    paths = sorted(tmp_path.glob("*/*/seed0.json"))
    assert [p.parent.name for p in paths] == ["optuna-nsga2", "random"]
    written = [p.stat().st_mtime_ns for p in paths]
    main(arguments)
    assert [p.stat().st_mtime_ns for p in paths] == written  # kept, not run again
    out = capsys.readouterr().out
    assert out.count("running 2 of 2 runs") == 1
    main(["report", "--results", str(tmp_path), "--markdown", str(tmp_path / "report.md")])
    report = (tmp_path / "report.md").read_text()
    assert "### zdt-r (budget 4 r_max, 4 workers)" in report
    assert "| random | 1 |" in report and "| optuna-nsga2 | 1 |" in report
    assert report.count("**") == 2  # the best at half the budget


def test_methods_are_registered() -> None:
    assert {"random", "asha", "gp-hyperband", "optuna-nsga2", "optuna-tpe"} <= set(METHODS)
