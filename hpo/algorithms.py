"""What each algorithm is made of: its scheduler, its sampler, and whether it fits a model.

The one place to change when an algorithm is added (docs/architecture.md, "Adding an
algorithm"): a member of :class:`hpo.spec.Algorithm` and an entry in :data:`ALGORITHMS`.
The service, the in-memory study and the dashboard ask this module, never the enum, what an
algorithm does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hpo.samplers import GPSampler, ModelSource, PriorBandSampler, RandomSampler, Sampler
from hpo.samplers.model_input import MIN_RESULTS
from hpo.schedulers import Asha, Scheduler
from hpo.spec import Algorithm, StudySpec


@dataclass(frozen=True)
class AlgorithmParts:
    """How one algorithm schedules trials and where its new configurations come from."""

    scheduler: Callable[[StudySpec], Scheduler]
    # The sampler of new configurations, given the model fits' source and the fallback
    # sampler (what is drawn without a model: the prior's mixture, or uniform).
    sampler: Callable[[ModelSource, Sampler], Sampler]
    # Whether the sampler needs a GP fitted as results arrive (the service then fits it).
    uses_model: bool


def _without_model(models: ModelSource, fallback: Sampler) -> Sampler:
    return fallback


ALGORITHMS: dict[Algorithm, AlgorithmParts] = {
    # Every trial trains to r_max: nothing stops early.
    Algorithm.RANDOM: AlgorithmParts(
        lambda spec: Asha(spec, single_rung=True), _without_model, uses_model=False
    ),
    # New trials start at the bottom rung.
    Algorithm.ASHA: AlgorithmParts(lambda spec: Asha(spec), _without_model, uses_model=False),
    # Asynchronous Hyperband: new trials spread over the brackets.
    Algorithm.HYPERBAND: AlgorithmParts(
        lambda spec: Asha(spec, spread_over_brackets=True), _without_model, uses_model=False
    ),
    # The same schedule, new configurations from the GP's portfolio (hpo.samplers.gp).
    Algorithm.GP_HYPERBAND: AlgorithmParts(
        lambda spec: Asha(spec, spread_over_brackets=True), GPSampler, uses_model=True
    ),
}


def make_scheduler(spec: StudySpec) -> Scheduler:
    """The scheduler of ``spec``'s algorithm."""
    return ALGORITHMS[spec.algorithm].scheduler(spec)


def make_sampler(spec: StudySpec, models: ModelSource) -> Sampler:
    """The sampler of ``spec``'s algorithm. Without a model (and for the GP before it has
    data and for the trials its portfolio does not give it), a study with priors samples
    PriorBand's mixture, a study without samples uniformly. Beside a model the mixture draws
    uniformly instead of near the incumbent (the model is the exploiting part), and leaves the
    model's first fit a uniform design: its first MIN_RESULTS trials."""
    parts = ALGORITHMS[spec.algorithm]
    fallback: Sampler = RandomSampler()
    if spec.priors:
        fallback = PriorBandSampler(
            local_search=not parts.uses_model,
            uniform_start=MIN_RESULTS if parts.uses_model else 0,
        )
    return parts.sampler(models, fallback)


def uses_model(spec: StudySpec) -> bool:
    """Whether ``spec``'s algorithm needs model fits."""
    return ALGORITHMS[spec.algorithm].uses_model
