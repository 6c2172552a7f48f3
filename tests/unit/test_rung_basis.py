"""The self-check of curve decisions (hpo.rung_basis): a rung ranks by predictions unless the
study's own trials show that its values ranked the higher rung better."""

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


def rungs(n: int, rng: np.random.Generator) -> tuple[dict, dict, np.ndarray]:
    """Rung 0 and rung 2 values of ``n`` trials whose rung-2 value is ``truth``."""
    truth = rng.normal(size=n)
    return {2: dict(enumerate(truth))}, {}, truth


def test_without_enough_pairs_the_prediction_ranks() -> None:
    rng = np.random.default_rng(0)
    values, _, truth = rungs(MIN_PAIRS - 1, rng)
    values[0] = dict(enumerate(-truth))  # rung values rank the higher rung perfectly wrong...
    predictions = dict(enumerate(truth))  # ...and the predictions perfectly right
    basis = rung_basis(0, values, predictions)
    assert basis.by_curve and basis.reference is None
    assert "fewer than" in basis.describe()


@given(st.integers(0, 2**32 - 1), st.integers(MIN_PAIRS, 40))
def test_the_key_that_ranked_the_higher_rung_better_wins(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    values, _, truth = rungs(n, rng)
    good, bad = truth + 0.1 * rng.normal(size=n), rng.normal(size=n)
    values[0] = dict(enumerate(bad))
    assert rung_basis(0, values, dict(enumerate(good))).by_curve == (
        spearman(good, truth) >= spearman(bad, truth)
    )
    values[0] = dict(enumerate(good))
    basis = rung_basis(0, values, dict(enumerate(bad)))
    assert basis.by_curve == (spearman(bad, truth) >= spearman(good, truth))
    assert basis.reference == 2 and basis.pairs == n


def test_the_highest_rung_with_enough_pairs_is_the_reference() -> None:
    rng = np.random.default_rng(1)
    n = MIN_PAIRS + 4
    values = {
        0: dict(enumerate(rng.normal(size=n))),
        1: dict(enumerate(rng.normal(size=n))),
        3: dict(enumerate(rng.normal(size=MIN_PAIRS - 1))),  # too few: not the reference
    }
    basis = rung_basis(0, values, dict(enumerate(rng.normal(size=n))))
    assert basis.reference == 1 and basis.pairs == n
