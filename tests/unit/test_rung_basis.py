"""The self-check of curve decisions (hpo.rung_basis): a rung ranks by its values, as ASHA's,
until its trials that reached r_max show that the predictions ranked them at least as well."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import spearmanr

from hpo.rung_basis import MIN_PAIRS, rung_basis, spearman

finite = st.floats(-1e6, 1e6, allow_nan=False)


@given(st.lists(st.tuples(finite, finite), min_size=3, max_size=40, unique_by=lambda p: p[0]))
def test_spearman_is_scipys_without_ties(pairs: list[tuple[float, float]]) -> None:
    a, b = np.array(pairs).T
    if len(set(b)) < len(b) or np.ptp(b) == 0:
        return
    assert abs(spearman(a, b) - spearmanr(a, b)[0]) < 1e-9


TOP = 3  # r_max's rung


def rungs(n: int, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    """The values at r_max of ``n`` trials, ``truth``."""
    truth = rng.normal(size=n)
    return {TOP: dict(enumerate(truth))}, truth


def test_without_enough_trials_at_r_max_the_values_rank() -> None:
    rng = np.random.default_rng(0)
    values, truth = rungs(MIN_PAIRS - 1, rng)
    values[0] = dict(enumerate(-truth))  # rung values rank r_max perfectly wrong...
    predictions = dict(enumerate(truth))  # ...and the predictions perfectly right
    basis = rung_basis(0, TOP, values, predictions)
    assert not basis.by_curve and basis.pairs == MIN_PAIRS - 1 and basis.curve_rho is None
    assert f"{MIN_PAIRS - 1} of its trials reached r_max" in basis.describe()


@given(st.integers(0, 2**32 - 1), st.integers(MIN_PAIRS, 40))
def test_the_key_that_ranked_r_max_better_wins(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    values, truth = rungs(n, rng)
    good, bad = truth + 0.1 * rng.normal(size=n), rng.normal(size=n)
    values[0] = dict(enumerate(bad))
    assert rung_basis(0, TOP, values, dict(enumerate(good))).by_curve == (
        spearman(good, truth) >= spearman(bad, truth)
    )
    values[0] = dict(enumerate(good))
    basis = rung_basis(0, TOP, values, dict(enumerate(bad)))
    assert basis.by_curve == (spearman(bad, truth) >= spearman(good, truth))
    assert basis.pairs == n and basis.rung_rho == spearman(good, truth)


def test_an_intermediate_rung_is_no_reference() -> None:
    """Results at rung 2 do not show what the curves do after it: only r_max judges."""
    rng = np.random.default_rng(1)
    n = MIN_PAIRS + 4
    truth = rng.normal(size=n)
    values = {0: dict(enumerate(-truth)), 2: dict(enumerate(truth))}
    basis = rung_basis(0, TOP, values, dict(enumerate(truth)))
    assert not basis.by_curve and basis.pairs == 0


def test_r_max_itself_ranks_by_values() -> None:
    values, truth = rungs(MIN_PAIRS + 1, np.random.default_rng(2))
    assert not rung_basis(TOP, TOP, values, dict(enumerate(truth))).by_curve
