"""What the GP surrogate is fitted on: a bounded, numeric snapshot of a study.

The surrogate models the study's rung results as a function of
(configuration, resource): a configuration is its unit-cube encoding
(:meth:`hpo.space.Space.to_unit`: log parameters in log space, one coordinate
per categorical choice), and the resource is one more coordinate,
``log(r / r_min) / log(r_max / r_min)`` in [0, 1]. Values are signed so that
lower is better.

A snapshot is plain numpy (no torch), built under the study's lock in a few
milliseconds and small enough to send to the model process. A study with several
objectives is fitted on a ParEGO scalarisation of them (Knowles 2006): each fit draws its
own weights, so successive fits aim at different parts of the Pareto front. Outcome
constraints and the cost metric travel as their own columns, for a GP each (docs/algorithms.md).
Its size is
capped, so the cost of a fit stays bounded however long the study runs: rungs
are taken highest first, each whole while it fits; the first rung that does
not fit (the target rung itself, in a long single-rung study) gives the room
left to its most informative results, and lower rungs get nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hpo.outcomes import constraint_slack, signed_objectives
from hpo.priors.density import Prior
from hpo.schedulers.brackets import rank_consistency
from hpo.space import Space
from hpo.state import StudyState

# The most results a fit sees: the GP's cost grows with the cube of this.
MAX_POINTS = 400
# A rung is a target for the acquisition once it has this many results.
MIN_TARGET_RESULTS = 6
# Results needed before the first fit; before that, configurations are sampled.
MIN_RESULTS = 6
# A rung below the target whose ranking agrees with a higher rung's less than this (Kendall's
# tau) is left out of the model.
MIN_RUNG_TAU = 0.2
# Within a capped rung, this share of the kept points are its best results, this share its
# newest (the model must see what its latest candidates gave), and the rest a seeded random
# share of the others (they keep the model's picture of the whole space).
BEST_SHARE = 0.5
NEWEST_SHARE = 0.25


@dataclass(frozen=True)
class ModelInput:
    """One fit's data: ``x`` (n, d+1) with the resource coordinate last, ``y`` (n,) signed."""

    space: Space
    x: np.ndarray
    y: np.ndarray
    # Resource coordinate at which new configurations are chosen, and its rung.
    target: float
    target_rung: int
    # Configurations held by workers now (unit cube, (p, d)): fantasised at the target.
    pending: np.ndarray
    # Candidates the fit should return, and the seed of its random choices.
    n_candidates: int
    seed: int
    # Results in the study when the snapshot was taken (the pool's freshness).
    n_results: int
    # The prior that weights the acquisition (πBO), if any, and the power of its density.
    prior: Prior | None = None
    prior_power: float = 0.0
    # Outcome constraints: (n, c) scaled slack of each result, feasible where <= 0.
    constraints: np.ndarray | None = None
    # The log of each result's cost, for cost-aware search.
    log_cost: np.ndarray | None = None


# A cost is floored here before its log is taken (a reported cost of 0 is "very cheap").
MIN_COST = 1e-9
# ParEGO's augmentation: a small weighted sum beside the Chebyshev maximum, so points that tie
# on the maximum still differ.
PAREGO_RHO = 0.05


def parego(objectives: np.ndarray, seed: int) -> np.ndarray:
    """Each row's augmented Chebyshev scalarisation (lower is better) under weights drawn
    uniformly from the simplex by ``seed``, over objectives normalised to [0, 1] by their
    observed range."""
    low, high = objectives.min(axis=0), objectives.max(axis=0)
    scaled = (objectives - low) / np.where(high > low, high - low, 1.0)
    weights = np.random.default_rng([seed, 7]).dirichlet(np.ones(objectives.shape[1]))
    weighted = scaled * weights
    return weighted.max(axis=1) + PAREGO_RHO * weighted.sum(axis=1)


def resource_coordinate(levels: tuple[float, ...], rung: int) -> float:
    """Where rung ``rung`` lies on the resource axis, in [0, 1] on a log scale."""
    if len(levels) == 1:
        return 1.0
    return math.log(levels[rung] / levels[0]) / math.log(levels[-1] / levels[0])


def target_rung(state: StudyState, top_rung: int) -> int:
    """The highest rung with enough results to aim the acquisition at (MOBSTER's rule)."""
    counts = np.zeros(top_rung + 1, dtype=int)
    for rung, _ in state.all_results():
        counts[rung] += 1
    enough = np.flatnonzero(counts >= MIN_TARGET_RESULTS)
    return int(enough[-1]) if enough.size else int(np.argmax(counts))


def misleading_rungs(state: StudyState, target: int) -> set[int]:
    """Rungs below ``target`` whose results rank trials unlike the top rung does (Kendall's
    tau under MIN_RUNG_TAU, :func:`hpo.schedulers.brackets.rank_consistency`): the model does
    not learn from them. A joint kernel over (configuration, resource) assumes every rung
    ranks configurations alike; fed biased or rank-reversed low rungs, it confidently proposes
    what looks good early. A rung without enough evidence yet is kept."""
    top = max((rung for rung, _ in state.all_results()), default=0)
    misleading = set()
    for rung in range(target):
        tau = rank_consistency(state, rung, top)
        if tau is not None and tau < MIN_RUNG_TAU:
            misleading.add(rung)
    return misleading


def _most_informative(
    members: np.ndarray, values: np.ndarray, room: int, rng: np.random.Generator
) -> np.ndarray:
    """``room`` of a rung's ``members`` (indices in recording order, more than ``room``): its
    best results, then its newest among the others, then a random share of the rest."""
    ranked = members[np.argsort(values[members], kind="stable")]
    n_best = int(room * BEST_SHARE)
    best, others = ranked[:n_best], np.sort(ranked[n_best:])
    n_newest = int(room * NEWEST_SHARE)
    newest, older = others[len(others) - n_newest :], others[: len(others) - n_newest]
    rest = rng.choice(older, size=room - n_best - n_newest, replace=False)
    return np.concatenate([best, newest, rest])


def _select(
    rungs: np.ndarray, values: np.ndarray, limit: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices of at most ``limit`` results, highest rung first: each rung whole while it fits,
    the first that does not fit its most informative results in the room left. (A rung above
    the target holds fewer than MIN_TARGET_RESULTS, so the target rung gets most of the room.)"""
    keep: list[np.ndarray] = []
    room = limit
    for rung in sorted(set(rungs.tolist()), reverse=True):
        if room <= 0:
            break
        members = np.flatnonzero(rungs == rung)
        chosen = members if members.size <= room else _most_informative(members, values, room, rng)
        keep.append(chosen)
        room -= chosen.size
    return np.sort(np.concatenate(keep)) if keep else np.empty(0, dtype=int)


def model_input(
    state: StudyState,
    levels: tuple[float, ...],
    *,
    n_candidates: int,
    seed: int,
    max_points: int = MAX_POINTS,
    prior: Prior | None = None,
    prior_power: float = 0.0,
) -> ModelInput:
    """The snapshot of ``state`` a fit needs (call under the study's lock)."""
    spec = state.spec
    space = spec.space
    coordinates = [resource_coordinate(levels, rung) for rung in range(len(levels))]
    rungs = np.empty(state.n_results, dtype=int)
    values = np.empty(state.n_results)
    units = np.empty((state.n_results, space.dims))
    reported: list[Mapping[str, float]] = []
    for index, (rung, result) in enumerate(state.all_results()):
        rungs[index], values[index] = rung, result.signed_value
        units[index] = state.unit(result.number)
        if spec.is_vector or spec.cost is not None:
            reported.append(state.metrics(result.number, rung) or {})
    if len(spec.objectives) > 1:
        values = parego(np.array([signed_objectives(spec.objectives, m) for m in reported]), seed)
    elif spec.constraints:
        values = np.array([m[spec.objective.metric] * spec.objective.sign for m in reported])
    target = target_rung(state, len(levels) - 1)
    misleading = misleading_rungs(state, target)
    rng = np.random.default_rng([state.spec.seed, state.n_results])
    kept = np.flatnonzero(~np.isin(rungs, list(misleading)))
    chosen = kept[_select(rungs[kept], values[kept], max_points, rng)]
    x = np.column_stack([units[chosen], np.take(coordinates, rungs[chosen])])
    busy = state.busy_trials()
    pending = (
        np.array([state.unit(trial.number) for trial in busy])
        if busy
        else np.empty((0, space.dims))
    )
    constraints = log_cost = None
    if spec.constraints:
        constraints = np.array([constraint_slack(spec.constraints, m) for m in reported])[chosen]
    if spec.cost is not None:
        costs = np.array([m.get(spec.cost.metric, 0.0) for m in reported])
        log_cost = np.log(np.maximum(costs, MIN_COST))[chosen]
    return ModelInput(
        space=space,
        x=x,
        y=values[chosen],
        constraints=constraints,
        log_cost=log_cost,
        target=coordinates[target],
        target_rung=target,
        pending=pending,
        n_candidates=n_candidates,
        seed=seed,
        n_results=state.n_results,
        prior=prior,
        prior_power=prior_power,
    )
