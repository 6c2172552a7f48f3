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

The same evidence scales the prior's weight in the GP's acquisition
(:func:`acquisition_prior`, πBO): a prior the results contradict stops steering
the model as it stops steering the draws.
"""

from __future__ import annotations

import math

import numpy as np

from hpo.priors.model import Component, Prior
from hpo.samplers.model_input import MIN_TARGET_RESULTS
from hpo.space import Config
from hpo.state import StudyState

INCUMBENT = "incumbent"
UNIFORM = "random"
# The incumbent's neighbourhood: spread of numeric coordinates, extra share of its choices.
INCUMBENT_SPREAD = 0.1
INCUMBENT_CHOICE_STRENGTH = 0.6
# The stream of the per-trial generator reserved for this sampler.
_STREAM = 3
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


def mixture_weights(state: StudyState, prior: Prior) -> tuple[dict[str, float], Config | None]:
    """The shares of the prior, the incumbent's neighbourhood and uniform sampling for the
    next draw, and the incumbent (None before there is one)."""
    uniform = uniform_share(state)
    evidence = incumbent_evidence(state)
    if evidence is None:
        return {"prior": 1.0 - uniform, INCUMBENT: 0.0, UNIFORM: uniform}, None
    incumbent, top = evidence
    prior_score = float(prior.log_density(top).mean())
    incumbent_score = float(neighbourhood(prior, incumbent).log_density(top).mean())
    prior_share = 1.0 / (1.0 + math.exp(min(incumbent_score - prior_score, 700.0)))
    rest = 1.0 - uniform
    return {
        "prior": rest * prior_share,
        INCUMBENT: rest * (1.0 - prior_share),
        UNIFORM: uniform,
    }, incumbent


def uniform_share(state: StudyState) -> float:
    """The share of new configurations drawn uniformly whatever the prior says."""
    return 1.0 / (1.0 + state.spec.resource.eta)


def acquisition_prior(state: StudyState) -> tuple[Prior | None, float]:
    """The prior that weights the GP's acquisition (πBO) and the power of its density:
    PRIOR_BETA / n, times the share of the prior against the incumbent in the mixture.

    The density is that of the sampling mixture's prior and uniform parts together, so it
    is at least the uniform share everywhere: a confident prior in many dimensions would
    otherwise penalise the rest of the space by hundreds of nats, and pin the model to a
    wrong region for hundreds of trials."""
    prior = state.prior
    if prior is None:
        return None, 0.0
    weights, _ = mixture_weights(state, prior)
    trust = weights["prior"] / (weights["prior"] + weights[INCUMBENT])
    power = PRIOR_BETA / max(1, state.n_observed_trials) * trust
    return prior.with_uniform(uniform_share(state)), power


def neighbourhood(prior: Prior, incumbent: Config) -> Prior:
    """A narrow distribution around the incumbent, over the prior's space."""
    return Prior(
        prior.space,
        [Component(incumbent, INCUMBENT_SPREAD, INCUMBENT_CHOICE_STRENGTH, 1.0, INCUMBENT)],
    )


class PriorBandSampler:
    """New configurations from the study's prior mixture (see the module docstring)."""

    def propose(self, state: StudyState, number: int) -> tuple[Config, str]:
        prior = state.prior
        rng = np.random.default_rng([state.spec.seed, number, _STREAM])
        if prior is None:
            return state.spec.space.sample(rng), UNIFORM
        weights, incumbent = mixture_weights(state, prior)
        names = list(weights)
        choice = names[int(rng.choice(len(names), p=list(weights.values())))]
        if choice == UNIFORM or (choice == INCUMBENT and incumbent is None):
            return state.spec.space.sample(rng), UNIFORM
        if choice == INCUMBENT:
            return neighbourhood(prior, incumbent).sample(rng)
        return prior.sample(rng)
