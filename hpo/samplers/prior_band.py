"""Prior-guided sampling: a mixture of the prior, the incumbent's neighbourhood and uniform.

This is PriorBand's sampling policy (Mallik et al., "PriorBand: Practical
Hyperparameter Optimization in the Age of Deep Learning"), made asynchronous.
A new configuration is drawn uniformly with a fixed share ``1 / (1 + eta)``,
so a wrong prior can never take the whole search; the rest goes to the prior
until a rung has enough results to name an incumbent. From then on it is split
between the prior and a narrow neighbourhood of the incumbent by how well each
explains the best configurations seen so far: the mean log likelihood of the
top ``1/eta`` of the highest rung with enough results under the prior, against
the same under the incumbent's neighbourhood. A good prior keeps its share as
evidence arrives; a bad one loses it to the incumbent within a few rungs.

Each draw uses its own generator seeded by (study seed, trial number), as the
random sampler does, so a restarted coordinator proposes the same configurations.

Before there is an incumbent, and after, the prior is also checked against uniform
sampling directly (:func:`prior_check`): every pair of a configuration the prior proposed
and one drawn uniformly, both with a result at the same rung, is a test of the prior, and a
higher rung's pairs overrule a lower one's. The share of pairs the prior wins, shrunk
toward even odds, scales the prior's share down (the rest goes to uniform sampling) once it
falls below one half. A prior at the worst region
loses its share after a handful of results instead of after a rung fills: measured before
this check, such a prior cost 1.7-2.3x the time to a target on four of five problems
(issue 14).

The same evidence sets the prior's weight in the GP's acquisition
(:func:`acquisition_prior`, πBO), with one difference: the draws give a prior the benefit
of the doubt (they are how it gets tested), the model does not. The prior steers the model
only as far as it has won its pairs (:func:`earned_steer`): with a bad prior, steering the
first fits by a prior that nothing had tested yet pinned the model's first proposals to the
prior's corner, as many trials as the prior's own draws (issue 14's prior benchmark).

Beside a model, the first trials are also left to uniform draws (``uniform_start``): they are
the first fit's data, and a first fit on a bad prior's corner set the model on the wrong
basin for the rest of the study, however soon the draws turned away from the prior.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hpo.priors.density import Component, Prior
from hpo.samplers.model_input import MIN_TARGET_RESULTS
from hpo.samplers.random import RandomSampler
from hpo.space import Config
from hpo.state import StudyState
from hpo.vocabulary import Source

# The incumbent's neighbourhood: spread of numeric coordinates, extra share of its choices.
INCUMBENT_SPREAD = 0.1
INCUMBENT_CHOICE_STRENGTH = 0.6
# The stream of the per-trial generator reserved for this sampler.
_STREAM = 3
# Draws of a prior's components, as opposed to uniform ones and the incumbent's.
PRIOR_SOURCES = frozenset({Source.PRIOR, Source.LLM, Source.TRANSFER})
# Pseudo-pairs at even odds that the prior check starts from: one or two lost pairs must not
# silence a prior, a dozen must.
PRIOR_CHECK_PSEUDO_PAIRS = 4.0
# πBO's beta: the acquisition is weighted by prior_density ** (PRIOR_BETA / n), n the number
# of configurations observed, so the prior steers the first fits and fades as data arrive.
PRIOR_BETA = 10.0


def incumbent_evidence(state: StudyState) -> tuple[Config, np.ndarray] | None:
    """The incumbent (best result at the highest rung with enough results) and the unit-cube
    points of that rung's top ``1/eta``; None while no rung has enough results."""
    counts: dict[int, int] = {}
    for (_, rung), results in state.rungs.items():
        counts[rung] = counts.get(rung, 0) + len(results)
    ready = [rung for rung, count in counts.items() if count >= MIN_TARGET_RESULTS]
    if not ready:
        return None
    results = sorted(state.results_at(max(ready)))
    top = results[: max(2, math.ceil(len(results) / state.spec.resource.eta))]
    incumbent = state.trials[top[0].number].config
    return incumbent, np.array([state.unit(result.number) for result in top])


def prior_check(state: StudyState) -> float:
    """The probability that a configuration the prior proposed beats one drawn uniformly at
    the top rung: per rung, the pairs of such configurations with results there, read from
    the lowest rung up, each rung's share shrunk toward the one below it
    (:func:`rung_by_rung_share`); 1/2 without any pair."""
    evidence = []
    for rung in sorted({rung for _, rung in state.rungs}):
        prior_values, uniform_values = [], []
        for result in state.results_at(rung):
            source = state.trials[result.number].source
            if source in PRIOR_SOURCES:
                prior_values.append(result.signed_value)
            elif source == Source.RANDOM:
                uniform_values.append(result.signed_value)
        evidence.append(pairs_won(np.array(prior_values), np.array(uniform_values)))
    return rung_by_rung_share(evidence)


def rung_by_rung_share(evidence: Sequence[tuple[float, float]]) -> float:
    """The share of pairs won at the highest rung, from each rung's (wins, pairs), lowest rung
    first: the lowest rung's share is shrunk toward 1/2, and each higher one's toward the
    share below it, by PRIOR_CHECK_PSEUDO_PAIRS. A rung without pairs passes the share below
    on, so early in a study low rungs speak; once higher rungs have pairs, they overrule them.
    Pooled over rungs instead, where low fidelities mislead (MF-Hartmann's biased rungs) a
    prior at the worst region won its many early pairs and stayed trusted for the whole run,
    however it lost at ``r_max`` (issue 14)."""
    share = 0.5
    for wins, pairs in evidence:
        share = (wins + share * PRIOR_CHECK_PSEUDO_PAIRS) / (pairs + PRIOR_CHECK_PSEUDO_PAIRS)
    return share


def pairs_won(prior_values: np.ndarray, uniform_values: np.ndarray) -> tuple[float, int]:
    """How many (prior, uniform) pairs the prior wins (a lower signed value; a tie is half a
    win), and how many pairs there are."""
    ordered = np.sort(uniform_values)
    above = np.searchsorted(ordered, prior_values, side="right")
    ties = above - np.searchsorted(ordered, prior_values, side="left")
    wins = float((len(ordered) - above).sum() + 0.5 * ties.sum())
    return wins, len(prior_values) * len(ordered)


def sampling_trust(check: float) -> float:
    """The factor on the prior's share of the draws, from :func:`prior_check`: 1 while the
    prior wins at least half of its pairs against uniform draws (an untested prior gets the
    benefit of the doubt: its draws are how it is tested), falling to 0 as it loses them all."""
    return min(1.0, 2.0 * check)


def earned_steer(check: float) -> float:
    """The factor on the prior's weight in the acquisition, from :func:`prior_check`: 0
    without evidence (even odds) or against it, rising to 1 as the prior wins all its pairs."""
    return max(0.0, 2.0 * check - 1.0)


def mixture_weights(state: StudyState, prior: Prior) -> tuple[dict[str, float], Config | None]:
    """The shares of the prior, the incumbent's neighbourhood and uniform sampling for the
    next draw, and the incumbent (None before there is one)."""
    weights, incumbent, _ = _mixture(state, prior, prior_check(state))
    return weights, incumbent


def _mixture(
    state: StudyState, prior: Prior, check: float
) -> tuple[dict[str, float], Config | None, float]:
    """The mixture's weights for a prior check of ``check``, the incumbent, and the prior's
    share against the incumbent's."""
    uniform = uniform_share(state)
    checked = sampling_trust(check)
    rest = 1.0 - uniform
    evidence = incumbent_evidence(state)
    if evidence is None:
        prior_share, incumbent = 1.0, None
    else:
        incumbent, top = evidence
        prior_score = float(prior.log_density(top).mean())
        incumbent_score = float(neighbourhood(prior, incumbent).log_density(top).mean())
        prior_share = 1.0 / (1.0 + math.exp(min(incumbent_score - prior_score, 700.0)))
    weights = {
        "prior": rest * prior_share * checked,
        Source.INCUMBENT: rest * (1.0 - prior_share),
        Source.RANDOM: uniform + rest * prior_share * (1.0 - checked),
    }
    return weights, incumbent, prior_share


def uniform_share(state: StudyState) -> float:
    """The share of new configurations drawn uniformly whatever the prior says."""
    return 1.0 / (1.0 + state.spec.resource.eta)


def acquisition_prior(state: StudyState) -> tuple[Prior | None, float]:
    """The prior that weights the GP's acquisition (πBO) and the power of its density:
    PRIOR_BETA / n, times the share of the prior against the incumbent in the mixture and
    the steer the prior has earned against uniform draws (:func:`earned_steer`).

    The density is that of the sampling mixture's prior and uniform parts together, so it
    is at least the uniform share everywhere: a confident prior in many dimensions would
    otherwise penalise the rest of the space by hundreds of nats, and pin the model to a
    wrong region for hundreds of trials."""
    prior = state.prior
    if prior is None:
        return None, 0.0
    check = prior_check(state)
    _, _, prior_share = _mixture(state, prior, check)
    power = PRIOR_BETA / max(1, state.n_observed_trials) * prior_share * earned_steer(check)
    return prior.with_uniform(uniform_share(state)), power


def neighbourhood(prior: Prior, incumbent: Config) -> Prior:
    """A narrow distribution around the incumbent, over the prior's space."""
    return Prior(
        prior.space,
        [Component(incumbent, INCUMBENT_SPREAD, INCUMBENT_CHOICE_STRENGTH, 1.0, Source.INCUMBENT)],
    )


def explorer_weights(weights: dict[str, float]) -> dict[str, float]:
    """The mixture's weights with the incumbent's share given to uniform draws.

    Beside a model the mixture is the model-free part of the search, and a model already
    exploits near the best results: drawing near the incumbent as well left a study with a
    bad prior about a quarter of the uniform draws of a study without one once the prior had
    lost its share (3-11 of 64-143 trials against 16-42 of 81-263, issue 14's prior
    benchmark). Whether this shortens a bad prior's time to a target is not measured apart
    from other changes yet (docs/benchmarks.md, Priors)."""
    explorer = dict(weights)  # same keys, in the same order: the draw's choices stay put
    explorer[Source.RANDOM] += explorer[Source.INCUMBENT]
    explorer[Source.INCUMBENT] = 0.0
    return explorer


class PriorBandSampler:
    """New configurations from the study's prior mixture (see the module docstring).

    ``local_search`` draws near the incumbent (PriorBand's exploitation) with the mixture's
    incumbent share; without it, as the fallback of a model that exploits by itself, that
    share goes to uniform draws (:func:`explorer_weights`).

    Trials numbered below ``uniform_start`` are drawn uniformly, exactly as a study without a
    prior draws them, and the prior's share starts after them. Beside a model these are its
    first fit's data: when the prior took most of them, a bad prior's corner was all the
    first fit saw, and the model went on exploiting the best of one or two uniform draws
    (docs/benchmarks.md, Priors)."""

    def __init__(self, local_search: bool = True, uniform_start: int = 0) -> None:
        self.local_search = local_search
        self.uniform_start = uniform_start

    def propose(self, state: StudyState, number: int) -> tuple[Config, str]:
        prior = state.prior
        if number < self.uniform_start:
            return RandomSampler().propose(state, number)
        rng = np.random.default_rng([state.spec.seed, number, _STREAM])
        if prior is None:
            return state.spec.space.sample(rng), Source.RANDOM
        weights, incumbent = mixture_weights(state, prior)
        if not self.local_search:
            weights = explorer_weights(weights)
        names = list(weights)
        choice = names[int(rng.choice(len(names), p=list(weights.values())))]
        if choice == Source.RANDOM or (choice == Source.INCUMBENT and incumbent is None):
            return state.spec.space.sample(rng), Source.RANDOM
        if choice == Source.INCUMBENT:
            return neighbourhood(prior, incumbent).sample(rng)
        return prior.sample(rng)
