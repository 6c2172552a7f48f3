"""Which bracket a new trial of asynchronous Hyperband starts in.

Bracket ``b`` starts its trials at rung ``b`` (ASHA's minimum early-stopping
rate), so bracket 0 stops most aggressively and the last bracket trains every
trial to ``r_max``. Synchronous Hyperband gives each bracket about the same
budget by starting ``n_b`` configurations in it (its bracket table); drawing a
new trial's bracket with probability proportional to ``n_b`` gives the same
split to an asynchronous study, with no barrier between brackets.

The *learned* split (after Hyper-Tune, Li et al. 2022) scales bracket ``b``'s
share by how well results at rung ``b`` rank trials the way the top rung does
(Kendall's tau over the trials that reached both; until enough reached the top,
the tau with a middle rung, bounded by that rung's own consistency with the top).
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
    """How well results at ``rung`` rank trials the way ``top_rung`` does, as Kendall's tau;
    None without enough evidence. Computed once per set of results (the state keeps it until
    the next result).

    The direct comparison needs MIN_PAIRS trials with results at both rungs, which for a low
    rung and ``r_max`` come late in a study. Until then the rung is compared with the highest
    rung it shares MIN_PAIRS trials with, and that rung's own consistency with the top bounds
    the answer (:func:`weakest_link`): where rankings turn over between two middle rungs, two
    low rungs agree with each other and both mislead about ``r_max`` (issue 14's
    ``rank-reversal``), and only the link above them shows it."""
    return state.derived(
        ("rank_consistency", rung, top_rung), lambda: _rank_consistency(state, rung, top_rung)
    )


def _rank_consistency(state: StudyState, rung: int, top_rung: int) -> float | None:
    for higher in range(top_rung, rung, -1):
        tau = pairwise_tau(state, rung, higher)
        if tau is not None:
            above = None if higher == top_rung else rank_consistency(state, higher, top_rung)
            return weakest_link(tau, above)
    return None


def pairwise_tau(state: StudyState, rung: int, higher: int) -> float | None:
    """Kendall's tau between the results at ``rung`` and at ``higher`` of the trials that have
    both; None with fewer than MIN_PAIRS such trials or no variation to rank."""
    pairs = [
        (low.signed_value, result.signed_value)
        for result in state.results_at(higher)
        if (low := state.result(result.number, rung)) is not None
    ]
    if len(pairs) < MIN_PAIRS:
        return None
    low_values, high_values = np.array(pairs).T
    tau = kendalltau(low_values, high_values).statistic
    return None if np.isnan(tau) else float(tau)


def weakest_link(tau: float, above: float | None) -> float:
    """A rung's consistency with the top, from its tau with a middle rung and that rung's own
    consistency with the top (None: not known yet). Rankings do not compose exactly, so this
    takes the conservative bound: a chain of comparisons predicts the top no better than its
    weakest link."""
    return tau if above is None else min(tau, above)


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
