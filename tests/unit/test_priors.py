"""The prior model, the spec's priors, PriorBand's mixture and πBO, in memory."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from benchmarks.quality import markdown, prior_report
from hpo.algorithms import make_sampler
from hpo.errors import InvalidArgumentError
from hpo.local import LocalAssignment, LocalStudy
from hpo.priors.density import Component, Prior
from hpo.priors.proposals import Proposal
from hpo.priors.sources import Confidence
from hpo.priors.transfer import parameter_mismatch, same_parameters
from hpo.samplers import GPSampler, InlineModels
from hpo.samplers.model_input import MIN_RESULTS
from hpo.samplers.prior_band import (
    PRIOR_BETA,
    PRIOR_CHECK_PSEUDO_PAIRS,
    PriorBandSampler,
    acquisition_prior,
    earned_steer,
    explorer_weights,
    mixture_weights,
    pairs_won,
    prior_check,
    rung_by_rung_share,
    uniform_share,
)
from hpo.space import Categorical, Float, Int, Space
from hpo.spec import Resource, StudySpec
from hpo.vocabulary import Source
from tests.local_runs import run_one_worker

SPACE = Space(
    {
        "lr": Float(1e-5, 1e-1, log=True),
        "width": Int(8, 512, log=True),
        "act": Categorical(["relu", "tanh", "gelu"]),
    }
)
GOOD = {"lr": 3e-3, "width": 128, "act": "gelu"}


def spec(**overrides: object) -> StudySpec:
    fields: dict = {
        "name": "priors",
        "space": SPACE,
        "resource": Resource(1, 27, 3),
        "algorithm": "hyperband",
        "seed": 1,
    }
    fields.update(overrides)
    return StudySpec(**fields)


def point(config: dict, confidence: str = "medium", weight: float = 1.0) -> dict:
    return {"kind": "point", "config": config, "confidence": confidence, "weight": weight}


# ---------------------------------------------------------------- the prior model


def test_a_numeric_density_integrates_to_one_over_the_unit_cube() -> None:
    space = Space({"x": Float(0, 1), "y": Float(0, 1)})
    prior = Prior(space, [Component.around({"x": 0.1, "y": 0.9}, Confidence.HIGH, 1, "prior")])
    grid = np.linspace(0.0005, 0.9995, 1000)
    xs, ys = np.meshgrid(grid, grid)
    density = np.exp(prior.log_density(np.column_stack([xs.ravel(), ys.ravel()])))
    assert density.mean() == pytest.approx(1.0, rel=1e-2)


def test_samples_concentrate_around_the_centre_as_confidence_grows() -> None:
    centre = SPACE.to_unit(GOOD)
    spreads = {}
    for confidence in Confidence:
        prior = Prior(SPACE, [Component.around(GOOD, confidence, 1, "prior")])
        rng = np.random.default_rng(0)
        units = np.array([SPACE.to_unit(prior.sample(rng)[0]) for _ in range(400)])
        spreads[confidence] = np.abs(units[:, :2] - centre[:2]).mean()
        chosen = np.mean([u[2 + 2] == 1.0 for u in units])  # "gelu" is the third choice
        expected = 1 / 3 + (1 - 1 / 3) * {"low": 0.25, "medium": 0.5, "high": 0.8}[confidence]
        assert chosen == pytest.approx(expected, abs=0.07)
    assert spreads[Confidence.HIGH] < spreads[Confidence.MEDIUM] < spreads[Confidence.LOW]


def test_a_partial_point_leaves_the_other_parameters_uniform() -> None:
    prior = Prior(SPACE, [Component.around({"lr": 1e-3}, Confidence.HIGH, 1, "prior")])
    rng = np.random.default_rng(1)
    configs = [prior.sample(rng)[0] for _ in range(300)]
    assert all(1e-4 < config["lr"] < 1e-2 for config in configs)
    widths = SPACE["width"]
    units = np.array([widths.encode(config["width"])[0] for config in configs])
    assert 0.4 < units.mean() < 0.6 and units.std() > 0.25  # uniform on [0, 1] has std 0.29
    assert len({config["act"] for config in configs}) == 3


def test_the_mixture_density_is_highest_at_its_heaviest_component() -> None:
    far = {"lr": 1e-4, "width": 24, "act": "relu"}  # inside: no truncation at the edges
    prior = Prior(
        SPACE,
        [
            Component.around(GOOD, Confidence.MEDIUM, 3, "prior"),
            Component.around(far, Confidence.MEDIUM, 1, "llm"),
        ],
    )
    good, bad = prior.log_density(np.array([SPACE.to_unit(GOOD), SPACE.to_unit(far)]))
    assert good > bad
    rng = np.random.default_rng(2)
    sources = [prior.sample(rng)[1] for _ in range(400)]
    assert sources.count("prior") / len(sources) == pytest.approx(0.75, abs=0.07)


# ---------------------------------------------------------------- the spec


def test_priors_and_enqueued_configurations_round_trip_through_json() -> None:
    original = spec(
        priors=[point({"lr": 1e-3}, "high"), {"kind": "configs", "configs": [GOOD]}],
        enqueue=[GOOD],
    )
    again = StudySpec.from_json(original.to_json())
    assert again == original
    assert again.priors[0].confidence is Confidence.HIGH
    assert again.enqueue == (GOOD,)


def test_a_spec_without_priors_keeps_its_json_form() -> None:
    assert "priors" not in spec().to_json() and "enqueue" not in spec().to_json()


@pytest.mark.parametrize(
    ("priors", "enqueue", "field"),
    [
        ([point({"lr": 3.0})], [], "priors[0].config.lr"),
        ([point({"depth": 3})], [], "priors[0].config.depth"),
        ([{"kind": "guess"}], [], "priors[0].kind"),
        ([point(GOOD, "certain")], [], "priors[0].confidence"),
        ([point(GOOD, weight=-1)], [], "priors[0].weight"),
        ([{"kind": "configs", "configs": [{"lr": 1e-3}]}], [], "priors[0].configs[0].width"),
        ([{"kind": "llm", "model": "m"}], [], "priors[0].base_url"),
        ([{"kind": "llm", "base_url": "ftp://x", "model": "m"}], [], "priors[0].base_url"),
        ([{"kind": "transfer", "top_k": 0}], [], "priors[0].top_k"),
        ([], [{**GOOD, "act": "swish"}], "enqueue[0].act"),
    ],
)
def test_bad_priors_are_rejected_naming_the_field(priors: list, enqueue: list, field: str) -> None:
    with pytest.raises(InvalidArgumentError) as error:
        spec(priors=priors, enqueue=enqueue)
    assert error.value.field == field


# ---------------------------------------------------------------- sampling


def distance_to_good(config: dict) -> float:
    return float(np.linalg.norm(SPACE.to_unit(config) - SPACE.to_unit(GOOD)))


def test_enqueued_configurations_run_first_at_the_bottom_rung() -> None:
    second = {**GOOD, "act": "relu"}
    study = LocalStudy(spec(enqueue=[GOOD]))
    study.enqueue(second)
    first, then = study.suggest("a"), study.suggest("b")
    assert isinstance(first, LocalAssignment) and isinstance(then, LocalAssignment)
    assert (first.config, first.source) == (GOOD, "user")
    assert (then.config, then.source) == (second, "user")
    assert first.bracket == then.bracket == 0 and first.resource == then.resource == 1
    assert study.suggest("c").source == "random"  # type: ignore[union-attr]


def test_a_complete_point_prior_trains_first_straight_to_r_max() -> None:
    """Its configuration is the first trial, at r_max from nothing, and counts as one of the
    prior's draws; a partial point has nothing to run and queues nothing."""
    study = LocalStudy(spec(algorithm="gp-hyperband", enqueue=[GOOD], priors=[point(GOOD)]))
    enqueued, mode, then = study.suggest("a"), study.suggest("b"), study.suggest("c")
    assert isinstance(enqueued, LocalAssignment) and enqueued.source == Source.USER
    assert isinstance(mode, LocalAssignment) and isinstance(then, LocalAssignment)
    assert (mode.config, mode.source) == (GOOD, Source.PRIOR)
    assert (mode.resume_from, mode.resource) == (0.0, 27)
    assert then.source == Source.RANDOM and study.state.next_queued() is None
    partial = LocalStudy(spec(priors=[point({"lr": 3e-3})]))
    assert partial.state.proposals == []


def test_a_study_with_a_prior_samples_near_it_first() -> None:
    with_prior = run_one_worker(
        LocalStudy(spec(priors=[point(GOOD, "high")])), 12, distance_to_good
    )
    without = run_one_worker(LocalStudy(spec()), 12, distance_to_good)
    assert {job.source for job in with_prior} <= {"prior", "random"}
    assert sum(job.source == "prior" for job in with_prior) >= 6

    def numeric_distances(jobs: list[LocalAssignment]) -> list[float]:
        first = {job.number: job.config for job in jobs}  # promotions repeat a configuration
        centre = SPACE.to_unit(GOOD)[:2]
        return [float(np.linalg.norm(SPACE.to_unit(c)[:2] - centre)) for c in first.values()]

    assert np.median(numeric_distances(with_prior)) < 0.5 * np.median(numeric_distances(without))


def test_evidence_moves_the_mixture_from_a_bad_prior_to_the_incumbent() -> None:
    bad = {"lr": 1e-5, "width": 8, "act": "relu"}
    good_study = LocalStudy(spec(priors=[point(GOOD)]))
    bad_study = LocalStudy(spec(priors=[point(bad)]))
    before, incumbent = mixture_weights(bad_study.state, bad_study.state.prior)
    assert incumbent is None and before[Source.INCUMBENT] == 0 and before["prior"] == 0.75
    for study in (good_study, bad_study):  # the objective rewards being near GOOD
        run_one_worker(study, 30, distance_to_good)
    good_weights, _ = mixture_weights(good_study.state, good_study.state.prior)
    bad_weights, _ = mixture_weights(bad_study.state, bad_study.state.prior)
    assert bad_weights[Source.INCUMBENT] > 0.6
    assert good_weights["prior"] > bad_weights["prior"]


def test_llm_and_transfer_proposals_join_the_prior_with_their_provenance() -> None:
    entries = [
        {"kind": "llm", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
        {"kind": "transfer", "studies": ["earlier"]},
    ]
    proposals = [
        Proposal(0, 0, GOOD, "llm", run_first=True, prior_index=0),
        Proposal(1, 1, {**GOOD, "act": "tanh"}, "transfer", run_first=False, prior_index=1),
    ]
    study = LocalStudy(spec(priors=entries), proposals=proposals)
    assert {c.source for c in study.state.prior.components} == {"llm", "transfer"}
    first = study.suggest("w")
    assert (first.config, first.source) == (GOOD, "llm")  # type: ignore[union-attr]
    # The transfer configuration shapes the prior only; it is not queued.
    assert study.state.next_queued() is None


def test_a_prior_steers_the_model_only_as_far_as_it_has_won_its_pairs() -> None:
    study = LocalStudy(spec(priors=[point(GOOD)]))
    untested_prior, untested = acquisition_prior(study.state)
    # Nothing has tested the prior yet: its draws give it the benefit of the doubt, the
    # acquisition does not.
    assert untested == 0.0 and prior_check(study.state) == 0.5
    assert untested_prior is not None and untested_prior.components[-1].source == "random"
    jobs = run_one_worker(study, 12, distance_to_good)
    check = prior_check(study.state)
    _, early = acquisition_prior(study.state)
    observed = len({job.number for job in jobs})  # a promotion observes no new configuration
    assert check > 0.5 and early > 0
    # Before the incumbent speaks the prior's share against it is 1: beta / n times the
    # steer the prior earned.
    assert early <= PRIOR_BETA / observed * earned_steer(check) + 1e-12
    run_one_worker(study, 20, distance_to_good)
    assert 0 < acquisition_prior(study.state)[1] < early


@given(check=st.floats(0.0, 1.0))
def test_the_earned_steer_is_zero_at_even_odds_or_worse_and_grows_with_the_share_won(
    check: float,
) -> None:
    steer = earned_steer(check)
    assert 0.0 <= steer <= 1.0
    assert (steer == 0.0) == (check <= 0.5)
    assert earned_steer(min(1.0, check + 0.1)) >= steer


def test_a_contradicted_prior_weighs_less_in_the_acquisition() -> None:
    bad = {"lr": 1e-5, "width": 8, "act": "relu"}
    powers = {}
    for name, centre in (("good", GOOD), ("bad", bad)):
        study = LocalStudy(spec(priors=[point(centre)]))
        run_one_worker(study, 30, distance_to_good)
        powers[name] = acquisition_prior(study.state)[1]
    assert powers["good"] > 0
    assert powers["bad"] < 0.5 * powers["good"]


VALUES = st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=30)


@given(prior_values=VALUES, uniform_values=VALUES)
def test_on_one_rung_the_prior_check_is_a_shrunk_share_of_pairs_won(
    prior_values: list[float], uniform_values: list[float]
) -> None:
    wins, pairs = pairs_won(np.array(prior_values), np.array(uniform_values))
    losses, same_pairs = pairs_won(np.array(uniform_values), np.array(prior_values))
    assert pairs == same_pairs == len(prior_values) * len(uniform_values)
    won, lost = rung_by_rung_share([(wins, pairs)]), rung_by_rung_share([(losses, pairs)])
    assert 0 < won < 1
    assert won + lost == pytest.approx(1.0)  # a tie is half a win for each side
    # The pseudo-pairs keep it within their pull of even odds.
    bound = 0.5 * PRIOR_CHECK_PSEUDO_PAIRS / (pairs + PRIOR_CHECK_PSEUDO_PAIRS)
    assert bound - 1e-12 <= won <= 1 - bound + 1e-12


@given(losses=st.integers(1, 40))
def test_a_prior_that_loses_every_pair_loses_trust_as_pairs_grow(losses: int) -> None:
    prior_values, uniform_values = np.ones(losses), np.zeros(1)
    fewer = rung_by_rung_share([pairs_won(prior_values[:-1], uniform_values)])
    assert rung_by_rung_share([pairs_won(prior_values, uniform_values)]) < min(fewer, 0.5)


RUNG_EVIDENCE = st.lists(
    st.tuples(st.integers(0, 50), st.integers(0, 50)).map(lambda t: (t[0], t[0] + t[1])),
    min_size=1,
    max_size=6,
)


@given(evidence=RUNG_EVIDENCE, lost=st.integers(1, 200))
def test_a_higher_rung_overrules_the_rungs_below(
    evidence: list[tuple[int, int]], lost: int
) -> None:
    below = rung_by_rung_share(evidence)
    assert 0 < below < 1
    # A rung without pairs passes the share below on.
    assert rung_by_rung_share([*evidence, (0, 0)]) == pytest.approx(below)
    # Pairs lost at a higher rung pull the share toward 0, whatever the rungs below said,
    # and the more of them the further.
    overruled = rung_by_rung_share([*evidence, (0, lost)])
    assert overruled < below
    assert overruled <= PRIOR_CHECK_PSEUDO_PAIRS / (lost + PRIOR_CHECK_PSEUDO_PAIRS)
    assert rung_by_rung_share([*evidence, (0, lost + 1)]) < overruled
    # Evidence at a rung counts for less the more rungs lie above it.
    first_wins, first_pairs = evidence[0]
    losing_first = [(0, first_pairs), *evidence[1:]]
    gap_low = rung_by_rung_share(evidence) - rung_by_rung_share(losing_first)
    assert gap_low >= -1e-12
    if first_wins:
        assert gap_low <= first_wins / (first_pairs + PRIOR_CHECK_PSEUDO_PAIRS) + 1e-12


def test_a_prior_that_wins_only_where_low_rungs_mislead_loses_its_share() -> None:
    """Low rungs that rank in reverse make a prior at the worst region look best early; read
    through their rank consistency, its early wins are losses at the top rung."""
    bad = {"lr": 1e-5, "width": 8, "act": "relu"}
    study = LocalStudy(spec(priors=[point(bad)]))
    top = study.spec.resource.r_max
    for _ in range(80):
        job = study.suggest("w")
        assert isinstance(job, LocalAssignment)
        distance = distance_to_good(job.config)
        study.report(job.number, job.resource, distance if job.resource >= top else -distance)
        study.complete(job.number)
    weights, _ = mixture_weights(study.state, study.state.prior)
    assert prior_check(study.state) < 0.4
    # Without evidence the prior has the whole non-uniform share (0.75); it keeps under half.
    assert weights["prior"] < 0.5 * (1 - uniform_share(study.state))


def test_a_prior_at_the_worst_region_loses_its_share_to_uniform_draws_early() -> None:
    """A point prior far from the optimum, contradicted by its first results, gives its share
    to uniform sampling before any rung has enough results to name an incumbent; a good
    prior keeps its share."""
    shares = {}
    for name, centre in (("bad", {"lr": 1e-5, "width": 8, "act": "relu"}), ("good", GOOD)):
        study = LocalStudy(spec(priors=[point(centre)]))
        run_one_worker(study, 14, distance_to_good)
        weights, incumbent = mixture_weights(study.state, study.state.prior)
        assert incumbent is None  # the check acts before the incumbent's evidence can
        shares[name] = (prior_check(study.state), weights["prior"], weights[Source.RANDOM])
    bad_check, bad_prior, bad_uniform = shares["bad"]
    assert bad_check < 0.25 and bad_prior < 0.3 and bad_uniform > 0.7
    good_check, good_prior, good_uniform = shares["good"]
    assert good_check > 0.5 and good_prior == pytest.approx(0.75) and good_uniform == 0.25


def test_mixing_in_the_uniform_bounds_the_penalty_of_a_confident_prior() -> None:
    prior = Prior(SPACE, [Component.around(GOOD, Confidence.HIGH, 1, "prior")])
    far = np.array([SPACE.to_unit({"lr": 1e-5, "width": 8, "act": "relu"})])
    assert prior.log_density(far)[0] < -50
    # The uniform part: its share, times 1/3 for the categorical choice.
    assert prior.with_uniform(0.25).log_density(far)[0] >= np.log(0.25 / 3) - 1e-9


# ---------------------------------------------------------------- transfer


def test_same_parameters_ignores_order_ranges_and_choices_but_not_names_or_types() -> None:
    reordered = Space(
        {
            "act": Categorical(["relu", "swish"]),
            "lr": Float(1e-4, 1.0),
            "width": Int(1, 64),
        }
    )
    assert same_parameters(SPACE, reordered) and same_parameters(reordered, SPACE)
    assert not same_parameters(SPACE, Space({**SPACE, "width": Float(8, 512)}))
    assert not same_parameters(SPACE, Space({**SPACE, "depth": Int(1, 4)}))
    assert not same_parameters(SPACE, Space({"lr": SPACE["lr"], "act": SPACE["act"]}))


def test_a_parameter_mismatch_says_what_the_earlier_space_has() -> None:
    wider = Space({**SPACE, "depth": Int(1, 4)})
    assert parameter_mismatch(SPACE, wider) is None  # extra parameters are left behind
    assert parameter_mismatch(wider, SPACE) == "no parameter 'depth'"
    assert (
        parameter_mismatch(SPACE, Space({**SPACE, "act": Float(0, 1)}))
        == "parameter 'act' as float, not categorical"
    )


# ---------------------------------------------------------------- the benchmark report


def benchmark_run(problem: str, method: str, *held: tuple[float, float]) -> dict:
    """A run of the quality benchmark: the regret its r_max answer held from each moment
    (budget 10)."""
    steps = {"times": [moment for moment, _ in held], "regrets": [regret for _, regret in held]}
    return {
        "cell": {"problem": problem, "method": method},
        "time_limit": 10.0,
        "answers": {"r_max": steps},
    }


def table_cells(line: str) -> list[str]:
    """The cells of a row of a rich table, or [] for a line that is not one."""
    return [cell.strip() for cell in line.split("│")[1:-1]]


def test_the_prior_report_judges_each_problem_and_counts_the_passes() -> None:
    baseline = ((2.0, 0.5), (5.0, 0.1))  # the target: regret 0.1, reached at half the budget
    results = [
        benchmark_run("p1", prior_report.BASELINE, *baseline),
        benchmark_run("p1", prior_report.GOOD, (1.0, 0.05)),  # 5x faster
        benchmark_run("p1", prior_report.NEAR, (6.0, 0.1)),  # 1.2x slower, not judged
        benchmark_run("p1", prior_report.BAD, (6.0, 0.1)),  # 1.2x slower
        benchmark_run("p2", prior_report.BASELINE, *baseline),
        benchmark_run("p2", prior_report.GOOD, (4.0, 0.1)),  # 1.25x faster
        benchmark_run("p2", prior_report.BAD, (3.0, 0.5)),  # never: the whole budget, 2x slower
    ]
    summary = prior_report.summarise_priors(results, ["p1", "p2"])
    assert [summary[p]["good_pass"] for p in ("p1", "p2")] == [True, False]
    assert [summary[p]["bad_pass"] for p in ("p1", "p2")] == [True, False]
    assert summary["good_pass_count"] == summary["bad_pass_count"] == {"passed": 1, "problems": 2}
    assert summary["geomean_speedup_good"] == pytest.approx(np.sqrt(5.0 * 1.25))
    assert summary["p1"]["speedup_near"] == pytest.approx(1 / 1.2)
    assert "speedup_near" not in summary["p2"] and "near_pass" not in summary["p1"]
    json.dumps(summary)  # the benchmark writes it with --json
    output = io.StringIO()
    prior_report.print_priors(summary, Console(file=output, width=200))
    printed = output.getvalue()
    rows = {cells[0]: cells for cells in map(table_cells, printed.splitlines()) if cells}
    verdicts = [rows[problem][column] for problem in ("p1", "p2") for column in (7, 10)]
    assert verdicts == ["PASS", "PASS", "FAIL", "FAIL"]
    assert [rows[problem][8] for problem in ("p1", "p2")] == ["0.83", "nan"]
    assert "at least 2x faster on 1 of 2 problems" in printed
    assert "at most 1.3x slower on 1 of 2 problems" in printed
    assert "geometric mean over problems" in printed
    tables = markdown.priors(summary)
    p2_row = "| p2 | 0.1000 | 0.500 (1/1) | 0.400 (1/1) | - | 1.000 (0/1) | 1.25x | - | 2.00x | - |"
    assert p2_row in tables
    assert f"a good prior {np.sqrt(5.0 * 1.25):.2f}x faster" in tables


@given(
    reached=st.lists(st.one_of(st.none(), st.floats(0.5, 10.0)), min_size=4, max_size=12),
    treated=st.integers(1, 12),
)
def test_the_placebo_splits_the_runs_without_a_prior(
    reached: list[float | None], treated: int
) -> None:
    """Each no-prior run either reaches regret 0.1 at some moment or never gets below 0.5."""
    baseline = [
        benchmark_run("p", prior_report.BASELINE, (0.0, 0.5), *([] if at is None else [(at, 0.1)]))
        for at in reached
    ]
    rate = prior_report.placebo_failure_rate(baseline, treated)
    if len(baseline) <= prior_report.PLACEBO_MIN_BASELINE:
        assert rate is None
        return
    assert rate is not None and 0.0 <= rate <= 1.0
    if len(set(reached)) == 1:  # runs that all do the same: no split can look slower
        assert rate == 0.0


def test_the_placebo_shows_how_often_a_harmless_prior_fails_where_runs_spread() -> None:
    steady = [benchmark_run("p", prior_report.BASELINE, (0.0, 0.5), (5.0, 0.1))] * 10
    spread = [
        benchmark_run("p", prior_report.BASELINE, (0.0, 0.5), *([(2.0, 0.1)] if i % 2 else []))
        for i in range(10)
    ]
    assert prior_report.placebo_failure_rate(steady, 5) == 0.0
    rate = prior_report.placebo_failure_rate(spread, 5)
    # Half the runs reach the target at 0.2 of the budget and half never do: a split that
    # gives the 'prior' more of the runs that never get there looks slower.
    assert rate is not None and 0.2 < rate < 0.8
    summary = prior_report.summarise_priors(
        [*spread, benchmark_run("p", prior_report.BAD, (0.0, 0.5), (2.0, 0.1))], ["p"]
    )
    assert summary["p"]["placebo_failure_rate"] == prior_report.placebo_failure_rate(spread, 1)
    assert "placebo" in markdown.priors(summary).splitlines()[0]


@given(st.lists(st.floats(0, 1), min_size=3, max_size=3).filter(lambda w: sum(w) > 0))
def test_beside_a_model_the_incumbents_share_goes_to_uniform_draws(raw: list[float]) -> None:
    total = sum(raw)
    weights = {
        "prior": raw[0] / total,
        Source.INCUMBENT: raw[1] / total,
        Source.RANDOM: raw[2] / total,
    }
    explorer = explorer_weights(weights)
    assert explorer["prior"] == weights["prior"]
    assert explorer[Source.INCUMBENT] == 0.0
    assert explorer[Source.RANDOM] == pytest.approx(
        weights[Source.RANDOM] + weights[Source.INCUMBENT]
    )
    assert sum(explorer.values()) == pytest.approx(1.0)


def test_only_a_study_without_a_model_draws_near_the_incumbent() -> None:
    for algorithm, local_search in (("hyperband", True), ("gp-hyperband", False)):
        sampler = make_sampler(spec(algorithm=algorithm, priors=[point(GOOD)]), InlineModels())
        fallback = sampler.fallback if isinstance(sampler, GPSampler) else sampler
        assert isinstance(fallback, PriorBandSampler)
        assert fallback.local_search is local_search
    # A prior far from the good region: once a rung names an incumbent, the mixture gives the
    # incumbent most of its non-uniform share. From that state, PriorBand's own sampler draws
    # near the incumbent; the GP's fallback draws uniformly instead.
    study = LocalStudy(spec(priors=[point({"lr": 1e-5, "width": 8, "act": "relu"})]))
    run_one_worker(study, 40, distance_to_good)
    weights, incumbent = mixture_weights(study.state, study.state.prior)
    assert incumbent is not None and weights[Source.INCUMBENT] > 0.5
    numbers = range(study.state.next_number, study.state.next_number + 200)
    for local_search in (True, False):
        sampler = PriorBandSampler(local_search=local_search)
        sources = {sampler.propose(study.state, number)[1] for number in numbers}
        assert Source.RANDOM in sources
        assert (Source.INCUMBENT in sources) is local_search


def test_beside_a_model_the_first_trials_are_those_of_a_study_without_a_prior() -> None:
    """The model's first fit sees the same uniform design with a prior as without one, and
    the prior's draws start after it; without a model the prior is drawn from the start."""

    def sources_and_configs(algorithm: str, priors: list, numbers: range) -> list:
        sampler = make_sampler(spec(algorithm=algorithm, priors=priors), InlineModels())
        state = LocalStudy(spec(algorithm=algorithm, priors=priors)).state
        return [sampler.propose(state, number) for number in numbers]

    design = range(MIN_RESULTS)
    with_prior = sources_and_configs("gp-hyperband", [point(GOOD)], design)
    assert with_prior == sources_and_configs("gp-hyperband", [], design)
    later = sources_and_configs("gp-hyperband", [point(GOOD)], range(MIN_RESULTS, 60))
    assert Source.PRIOR in {source for _, source in later}
    without_model = sources_and_configs("hyperband", [point(GOOD)], design)
    assert Source.PRIOR in {source for _, source in without_model}
