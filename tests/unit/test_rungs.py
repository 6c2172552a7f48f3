"""Rung geometry against the Hyperband paper (Li et al., Table 1 / Algorithm 1)."""

from __future__ import annotations

import pytest

from hpo.schedulers.rungs import crossed_rung, hyperband_brackets, rung_levels, top_k
from hpo.spec import Resource


@pytest.mark.parametrize(
    ("resource", "levels"),
    [
        (Resource(1, 81, 3), (1, 3, 9, 27, 81)),
        (Resource(1, 100, 3), (1, 3, 9, 27, 81, 100)),
        (Resource(2, 32, 2), (2, 4, 8, 16, 32)),
        (Resource(0.1, 1, 3), (0.1, pytest.approx(0.3), pytest.approx(0.9), 1)),
        (Resource(5, 5, 3), (5,)),
    ],
)
def test_rung_levels(resource: Resource, levels: tuple) -> None:
    assert rung_levels(resource) == levels


def test_hyperband_bracket_table_for_r81_eta3() -> None:
    # Hyperband paper, R = 81, eta = 3: (n_i, r_i) per round of each bracket s.
    expected = {
        4: [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        3: [(34, 3), (11, 9), (3, 27), (1, 81)],
        2: [(15, 9), (5, 27), (1, 81)],
        1: [(8, 27), (2, 81)],
        0: [(5, 81)],
    }
    brackets = hyperband_brackets(Resource(1, 81, 3))
    assert [bracket.s for bracket in brackets] == [4, 3, 2, 1, 0]
    for bracket in brackets:
        assert list(zip(bracket.n, bracket.r, strict=True)) == expected[bracket.s]
        # ASHA's bracket (minimum early-stopping rate) starts at the same rung.
        assert bracket.r[0] == rung_levels(Resource(1, 81, 3))[bracket.asha_bracket]


def test_crossed_rung_tolerates_rounding() -> None:
    levels = (1.0, 3.0, 9.0)
    assert crossed_rung(levels, 0.5) == -1
    assert crossed_rung(levels, 3.0 - 1e-12) == 1
    assert crossed_rung(levels, 8.9) == 1
    assert crossed_rung(levels, 100) == 2


@pytest.mark.parametrize(
    ("n", "eta", "k"), [(2, 3, 0), (3, 3, 1), (81, 3, 27), (34, 3, 11), (9, 3.0, 3), (5, 2.5, 2)]
)
def test_top_k_is_the_floor_of_n_over_eta(n: int, eta: float, k: int) -> None:
    assert top_k(n, eta) == k
