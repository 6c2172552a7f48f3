"""Ranking a rung's results by several objectives under constraints (MO-ASHA).

Multi-objective ASHA (Schmucker et al. 2021) promotes from a rung by non-dominated sorting
with NSGA-II's crowding distance as the tie-breaker, in place of ASHA's sort by one metric.
Constraints follow Deb's feasibility rules: every feasible result outranks every infeasible
one, and infeasible results rank by how far they miss.

Objectives come *signed*, so lower is better in every column: an ``(n, m)`` float array
without NaN (``±inf`` is fine). Constraint violation is an ``(n,)`` array of non-negative
floats, 0 meaning feasible. Everything here is numpy only, since it runs in the coordinator's
hot path (no torch import).
"""

from __future__ import annotations

import numpy as np


def _domination_matrix(objectives: np.ndarray) -> np.ndarray:
    """``d[a, b]``: row a dominates row b (a <= b everywhere and a < b somewhere).

    One column at a time, so memory stays at a few ``n x n`` boolean matrices whatever m is.
    """
    objectives = np.asarray(objectives, dtype=float)
    n = objectives.shape[0]
    no_worse = np.ones((n, n), dtype=bool)
    better = np.zeros((n, n), dtype=bool)
    for column in objectives.T:
        no_worse &= column[:, None] <= column[None, :]
        better |= column[:, None] < column[None, :]
    return no_worse & better


def non_dominated_fronts(objectives: np.ndarray) -> np.ndarray:
    """Front index of each row: 0 for the non-dominated rows, 1 once those are removed, ...

    Peels fronts by counting each row's dominators, so the total work after the domination
    matrix is O(n^2) however many fronts there are. Identical rows share a front.
    """
    dominates = _domination_matrix(objectives)
    dominators = dominates.sum(axis=0)
    fronts = np.full(dominates.shape[0], -1, dtype=np.int64)
    front = 0
    while (current := np.flatnonzero((dominators == 0) & (fronts < 0))).size:
        fronts[current] = front
        dominators -= dominates[current].sum(axis=0)
        front += 1
    return fronts


def pareto_mask(objectives: np.ndarray) -> np.ndarray:
    """Boolean mask of front 0: the rows that no other row dominates."""
    return ~_domination_matrix(objectives).any(axis=0)


def crowding_distances(objectives: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each row within the set given (larger = more isolated).

    Each objective is normalised by its range in the set, so scales do not matter; its two
    boundary rows get ``+inf`` so a front's extremes survive. A zero range contributes
    nothing, boundaries included: which of equal values is the "boundary" would be arbitrary,
    and one objective would no longer reduce to a plain sort. Repeats of an earlier row get 0
    and do not count as neighbours (as in pymoo): a later duplicate must not outrank the
    original, and a point must not look crowded only because it was evaluated twice.
    """
    objectives = np.asarray(objectives, dtype=float)
    n = objectives.shape[0]
    distances = np.zeros(n)
    by_row = np.lexsort(objectives.T[::-1])  # stable: the first of equal rows comes first
    repeat = np.zeros(n, dtype=bool)
    repeat[by_row[1:]] = (objectives[by_row[1:]] == objectives[by_row[:-1]]).all(axis=1)
    rows = np.flatnonzero(~repeat)
    for column in objectives[rows].T:
        order = rows[np.argsort(column, kind="stable")]
        values = np.sort(column, kind="stable")
        span = values[-1] - values[0] if rows.size else 0.0
        if not span > 0:  # zero range, or inf - inf
            continue
        distances[order[0]] = distances[order[-1]] = np.inf
        with np.errstate(invalid="ignore", over="ignore"):
            gaps = (values[2:] - values[:-2]) / span
        distances[order[1:-1]] += np.nan_to_num(gaps, nan=0.0, posinf=np.inf)
    return distances


def rung_order(objectives: np.ndarray, violations: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Row indices best first, the order in which a rung's results rank for promotion.

    Feasible rows first, by non-dominated front, then crowding distance descending (spread
    the promotions along the front), then ``tiebreak`` ascending (the trial number: earlier
    trials win exact ties); then infeasible rows by violation, then ``tiebreak``. The rows
    are first put in ``tiebreak`` order, so the result does not depend on how the caller
    ordered them (crowding keeps the first of equal rows: it goes to the earliest trial).
    With one objective and no violations this is a stable sort by value, then ``tiebreak``.
    """
    objectives = np.asarray(objectives, dtype=float)
    violations = np.asarray(violations, dtype=float)
    tiebreak = np.asarray(tiebreak)
    if objectives.ndim != 2 or np.isnan(objectives).any():
        raise ValueError("objectives must be an (n, m) array without NaN")
    if not (violations >= 0).all():
        raise ValueError("violations must be non-negative (and not NaN)")
    by_tiebreak = np.argsort(tiebreak, kind="stable")
    objectives, violations = objectives[by_tiebreak], violations[by_tiebreak]
    tiebreak = tiebreak[by_tiebreak]
    feasible = np.flatnonzero(violations == 0)
    infeasible = np.flatnonzero(violations > 0)
    fronts = non_dominated_fronts(objectives[feasible])
    crowding = np.zeros(feasible.size)
    for front in np.unique(fronts):
        members = np.flatnonzero(fronts == front)
        crowding[members] = crowding_distances(objectives[feasible[members]])
    feasible = feasible[np.lexsort((tiebreak[feasible], -crowding, fronts))]
    infeasible = infeasible[np.lexsort((tiebreak[infeasible], violations[infeasible]))]
    return by_tiebreak[np.concatenate([feasible, infeasible])]


def rank_positions(order: np.ndarray) -> np.ndarray:
    """Inverse permutation of ``order``: the position of each row in the ranking."""
    order = np.asarray(order)
    positions = np.empty(order.size, dtype=np.int64)
    positions[order] = np.arange(order.size)
    return positions


def violation(values: np.ndarray, bounds: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Total constraint violation of each row of ``values`` (n, c); 0 means feasible.

    ``upper[j]`` means ``metric_j <= bounds[j]``, else ``metric_j >= bounds[j]``. Each excess
    is divided by ``max(|bound|, 1)`` so that constraints on different scales (a latency in
    ms, a memory in GiB) add up comparably, without blowing up for bounds near 0. A NaN
    metric gives a NaN violation, which ``rung_order`` rejects: the caller decides its fate.
    """
    values = np.asarray(values, dtype=float)
    bounds = np.asarray(bounds, dtype=float)
    upper = np.asarray(upper, dtype=bool)
    with np.errstate(over="ignore"):
        excess = np.where(upper, values - bounds, bounds - values)
    scaled = np.maximum(excess, 0.0) / np.maximum(np.abs(bounds), 1.0)
    return scaled.sum(axis=1)


def hypervolume_2d(points: np.ndarray, reference: np.ndarray) -> float:
    """Exact area dominated by 2-column ``points`` (minimisation) and bounded by ``reference``.

    Points not strictly better than the reference in both columns add nothing and are
    dropped. A sweep in the first column: each point adds the strip between its second
    coordinate and the best one seen so far. O(n log n).
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    reference = np.asarray(reference, dtype=float)
    points = points[(points < reference).all(axis=1)]
    points = points[np.lexsort((points[:, 1], points[:, 0]))]
    volume, best = 0.0, reference[1]
    for x, y in points:
        if y < best:
            volume += (reference[0] - x) * (best - y)
            best = y
    return float(volume)
