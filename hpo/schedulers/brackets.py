"""Which bracket a new trial of asynchronous Hyperband starts in.

Bracket ``b`` starts its trials at rung ``b`` (ASHA's minimum early-stopping
rate), so bracket 0 stops most aggressively and the last bracket trains every
trial to ``r_max``. Synchronous Hyperband gives each bracket about the same
budget by starting ``n_b`` configurations in it (its bracket table); drawing a
new trial's bracket with probability proportional to ``n_b`` gives the same
split to an asynchronous study, with no barrier between brackets.

The *learned* split (after Hyper-Tune, Li et al. 2022) scales bracket ``b``'s
share by how well results at rung ``b`` rank trials the way a higher rung
does (Kendall's tau between the two rungs over the trials that reached both).
When low rungs predict the top well, the split stays Hyperband's; when they
do not, early stopping there would discard good trials, and the new trials
move to brackets that start higher. A rung without enough evidence keeps its
Hyperband weight.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import kendalltau

from hpo.schedulers.rungs import hyperband_brackets
from hpo.spec import BracketSplit, StudySpec
from hpo.state import StudyState

# A rung's ranking is judged once this many trials reached both it and a higher rung.
MIN_PAIRS = 6
# The least weight a bracket keeps, so that evidence about its rung can still change.
MIN_WEIGHT = 0.05
# Bracket draws use their own random stream, apart from the configurations' streams.
_BRACKET_STREAM = 1


def hyperband_weights(spec: StudySpec) -> np.ndarray:
    """Hyperband's budget split: weight ``n_b`` for bracket ``b``, normalised."""
    sizes = {bracket.asha_bracket: bracket.n[0] for bracket in hyperband_brackets(spec.resource)}
    weights = np.array([sizes[b] for b in range(len(sizes))], dtype=float)
    return weights / weights.sum()


def rank_consistency(state: StudyState, rung: int, top_rung: int) -> float | None:
    """Kendall's tau between the results at ``rung`` and at the highest rung above it that
    shares at least MIN_PAIRS trials with it; None without enough evidence. Computed once per
    set of results (the state keeps it until the next result)."""
    return state.derived(
        ("rank_consistency", rung, top_rung), lambda: _rank_consistency(state, rung, top_rung)
    )


def _rank_consistency(state: StudyState, rung: int, top_rung: int) -> float | None:
    for higher in range(top_rung, rung, -1):
        pairs = [
            (low.signed_value, result.signed_value)
            for result in state.results_at(higher)
            if (low := state.result(result.number, rung)) is not None
        ]
        if len(pairs) >= MIN_PAIRS:
            low_values, high_values = np.array(pairs).T
            tau = kendalltau(low_values, high_values).statistic
            return None if np.isnan(tau) else float(tau)
    return None


def bracket_probabilities(spec: StudySpec, state: StudyState) -> np.ndarray:
    """Probability of each bracket for the next new trial."""
    weights = hyperband_weights(spec)
    if spec.bracket_split is BracketSplit.LEARNED:
        top_rung = len(weights) - 1
        for bracket in range(top_rung):
            tau = rank_consistency(state, bracket, top_rung)
            if tau is not None:
                weights[bracket] *= max(tau, MIN_WEIGHT)
    return weights / weights.sum()


def choose_bracket(spec: StudySpec, state: StudyState, number: int) -> int:
    """The bracket of new trial ``number``: a draw that depends only on the seed, the number
    and (with the learned split) the results so far."""
    probabilities = bracket_probabilities(spec, state)
    rng = np.random.default_rng([spec.seed, number, _BRACKET_STREAM])
    return int(rng.choice(len(probabilities), p=probabilities))
