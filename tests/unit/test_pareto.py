"""MO-ASHA's ranking: non-dominated sorting, crowding, feasibility, and the 2-D hypervolume."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hpo.pareto import (
    crowding_distances,
    hypervolume_2d,
    non_dominated_fronts,
    pareto_mask,
    rank_positions,
    rung_order,
    violation,
)

# Small integers make ties and dominations common; the floats cover the rest.
VALUES = st.integers(-3, 3).map(float) | st.floats(-1e3, 1e3, allow_nan=False)


@st.composite
def rungs(draw: st.DrawFn, m: int | None = None, feasible: bool = False) -> tuple:
    """A rung's results: signed objectives, violations (about half 0) and trial numbers."""
    n = draw(st.integers(0, 12))
    m = draw(st.integers(1, 3)) if m is None else m
    objectives = draw(hnp.arrays(float, (n, m), elements=VALUES))
    violations = np.zeros(n)
    if not feasible:
        violations = draw(hnp.arrays(float, n, elements=st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.0])))
    tiebreak = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 20)))
    return objectives, violations, tiebreak


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool((a <= b).all() and (a < b).any())


@settings(deadline=None)
@given(rungs())
def test_order_is_a_permutation(rung: tuple) -> None:
    order = rung_order(*rung)
    assert sorted(order.tolist()) == list(range(len(rung[0])))
    assert (order[rank_positions(order)] == np.arange(len(order))).all()


@settings(deadline=None)
@given(rungs())
def test_dominating_feasible_row_comes_first(rung: tuple) -> None:
    objectives, violations, _ = rung
    position = rank_positions(rung_order(*rung))
    feasible = np.flatnonzero(violations == 0)
    for a, b in itertools.permutations(feasible, 2):
        if dominates(objectives[a], objectives[b]):
            assert position[a] < position[b]


@settings(deadline=None)
@given(rungs())
def test_feasible_rows_come_before_infeasible_ones(rung: tuple) -> None:
    objectives, violations, tiebreak = rung
    order = rung_order(*rung)
    n_feasible = int((violations == 0).sum())
    assert (violations[order[:n_feasible]] == 0).all()
    assert (violations[order[n_feasible:]] > 0).all()
    # Infeasible rows: by violation, then by trial number.
    rest = order[n_feasible:]
    keys = list(zip(violations[rest], tiebreak[rest], strict=True))
    assert keys == sorted(keys)


@settings(deadline=None)
@given(rungs(m=1, feasible=True))
def test_one_objective_is_a_plain_sort(rung: tuple) -> None:
    objectives, violations, tiebreak = rung
    expected = np.lexsort((tiebreak, objectives[:, 0]))
    assert rung_order(objectives, violations, tiebreak).tolist() == expected.tolist()


@settings(deadline=None)
@given(rungs(), st.randoms(use_true_random=False))
def test_order_does_not_depend_on_row_order(rung: tuple, random: object) -> None:
    objectives, violations, _ = rung
    tiebreak = np.arange(len(objectives))  # distinct trial numbers
    shuffle = np.array(random.sample(range(len(objectives)), len(objectives)), dtype=np.int64)
    order = rung_order(objectives, violations, tiebreak)
    shuffled = rung_order(objectives[shuffle], violations[shuffle], tiebreak[shuffle])
    assert tiebreak[shuffle][shuffled].tolist() == tiebreak[order].tolist()


@settings(deadline=None)
@given(rungs(feasible=True))
def test_fronts_are_non_dominated_layers(rung: tuple) -> None:
    objectives = rung[0]
    fronts = non_dominated_fronts(objectives)
    assert (pareto_mask(objectives) == (fronts == 0)).all()
    for b, row in enumerate(objectives):
        # Nothing in the same or a later front dominates it...
        assert not any(dominates(objectives[a], row) for a in np.flatnonzero(fronts >= fronts[b]))
        # ...and something in the front just before does (for front 0's outsiders, a front-0 row).
        if fronts[b] > 0:
            assert any(
                dominates(objectives[a], row) for a in np.flatnonzero(fronts == fronts[b] - 1)
            )
    if len(objectives):
        assert set(fronts.tolist()) == set(range(fronts.max() + 1))


def brute_force_area(points: np.ndarray, reference: np.ndarray) -> int:
    """Unit cells of the integer grid covered by the union of the points' boxes."""
    low = int(min(points.min(initial=reference.min()), reference.min()))
    return sum(
        any(x <= i and y <= j for x, y in points)
        for i in range(low, int(reference[0]))
        for j in range(low, int(reference[1]))
    )


INT_POINTS = hnp.arrays(
    np.int64, st.tuples(st.integers(0, 8), st.just(2)), elements=st.integers(-4, 4)
)


@settings(deadline=None)
@given(INT_POINTS, hnp.arrays(np.int64, 2, elements=st.integers(-4, 4)))
def test_hypervolume_matches_the_rectangle_union(points: np.ndarray, reference: np.ndarray) -> None:
    assert hypervolume_2d(points, reference) == brute_force_area(points, reference)


@settings(deadline=None)
@given(
    hnp.arrays(float, st.tuples(st.integers(0, 8), st.just(2)), elements=VALUES),
    hnp.arrays(float, 2, elements=VALUES),
    hnp.arrays(float, 2, elements=VALUES),
)
def test_hypervolume_is_monotone(
    points: np.ndarray, extra: np.ndarray, reference: np.ndarray
) -> None:
    before = hypervolume_2d(points, reference)
    after = hypervolume_2d(np.vstack([points, extra]), reference)
    assert after >= before * (1 - 1e-12) >= 0


@settings(deadline=None)
@given(st.data())
def test_violation_is_zero_exactly_when_constraints_hold(data: st.DataObject) -> None:
    n, c = data.draw(st.integers(0, 6)), data.draw(st.integers(0, 4))
    floats = st.integers(-3, 3).map(float) | st.floats(allow_nan=False, allow_infinity=False)
    values = data.draw(hnp.arrays(float, (n, c), elements=floats))
    bounds = data.draw(hnp.arrays(float, c, elements=floats))
    upper = data.draw(hnp.arrays(bool, c))
    holds = np.where(upper, values <= bounds, values >= bounds).all(axis=1)
    total = violation(values, bounds, upper)
    assert total.shape == (n,)
    assert ((total == 0) == holds).all()
    assert (total >= 0).all()


def test_known_front_and_order() -> None:
    objectives = np.array(
        [
            [1.0, 5.0],  # 0: front 0, boundary
            [2.0, 4.0],  # 1: front 0, interior, more crowded than 2
            [3.0, 2.0],  # 2: front 0, interior
            [5.0, 1.0],  # 3: front 0, boundary
            [3.0, 4.5],  # 4: front 1 (dominated by 1 and 2)
            [6.0, 6.0],  # 5: front 2 (dominated by 4)
            [2.0, 4.0],  # 6: a repeat of 1, a later trial
            [0.0, 0.0],  # 7: dominates everything, but infeasible
        ]
    )
    assert non_dominated_fronts(objectives[:7]).tolist() == [0, 0, 0, 0, 1, 2, 0]
    assert pareto_mask(objectives).tolist() == [False] * 7 + [True]
    crowding = crowding_distances(objectives[[0, 1, 2, 3]])
    assert crowding[[0, 3]].tolist() == [np.inf, np.inf]
    assert crowding[1] == pytest.approx(2 / 4 + 3 / 4)
    assert crowding[2] == pytest.approx(3 / 4 + 3 / 4)
    violations = np.array([0, 0, 0, 0, 0, 0, 0, 0.5])
    order = rung_order(objectives, violations, np.arange(8))
    # Front 0 by crowding: the boundaries 0 and 3 (inf), 2 (1.5), 1 (1.25), then 6, a repeat
    # of 1 (0); then fronts 1 and 2, then the infeasible row.
    assert order.tolist() == [0, 3, 2, 1, 6, 4, 5, 7]
    # Only the first of equal rows counts: here 6, so 1 is the repeat.
    assert crowding_distances(objectives[[6, 0, 1, 2, 3]]).tolist()[:3] == [1.25, np.inf, 0.0]
    assert rank_positions(order)[7] == 7


def test_crowding_edge_cases() -> None:
    assert crowding_distances(np.empty((0, 2))).tolist() == []
    assert crowding_distances(np.array([[1.0, 2.0]])).tolist() == [0.0]
    assert crowding_distances(np.array([[1.0], [1.0], [1.0]])).tolist() == [0.0, 0.0, 0.0]
    assert crowding_distances(np.array([[0.0], [1.0], [np.inf]])).tolist() == [np.inf, 0, np.inf]


def test_violation_scaling() -> None:
    values = np.array([[120.0, 0.5, 3.0], [80.0, 0.2, 5.0]])
    bounds = np.array([100.0, 0.3, 4.0])
    upper = np.array([True, True, False])
    # Row 0: 20 / 100 + 0.2 / 1 + 1 / 4. Row 1: feasible.
    assert violation(values, bounds, upper) == pytest.approx([0.65, 0.0])
    assert violation(np.empty((3, 0)), np.empty(0), np.empty(0, bool)).tolist() == [0, 0, 0]


def test_hypervolume_example_and_nan_rejected() -> None:
    points = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [2.5, 2.5], [5.0, 0.0]])
    # Staircase under (4, 4): 3 * 1 + 2 * 1 + 1 * 1; (2.5, 2.5) is dominated, (5, 0) outside.
    assert hypervolume_2d(points, np.array([4.0, 4.0])) == 6.0
    assert hypervolume_2d(np.empty((0, 2)), np.array([0.0, 0.0])) == 0.0
    with pytest.raises(ValueError):
        rung_order(np.array([[np.nan]]), np.zeros(1), np.zeros(1))
