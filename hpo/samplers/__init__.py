"""Where new configurations come from."""

from dataclasses import dataclass

from hpo.priors.proposals import Proposal
from hpo.samplers.base import Sampler
from hpo.samplers.gp import GPSampler, InlineModels, ModelSource
from hpo.samplers.prior_band import PriorBandSampler
from hpo.samplers.random import RandomSampler
from hpo.space import Config
from hpo.spec import StudySpec
from hpo.state import StudyState


def make_sampler(spec: StudySpec, models: ModelSource) -> Sampler:
    """The sampler a study's algorithm names: the GP sampler for gp-hyperband, sampling
    without a model for the others. Without a model (and for the GP before it has data),
    a study with priors samples PriorBand's mixture, a study without samples uniformly."""
    fallback: Sampler = PriorBandSampler() if spec.priors else RandomSampler()
    if spec.algorithm.uses_model:
        return GPSampler(models, fallback)
    return fallback


@dataclass(frozen=True)
class NewConfiguration:
    """A new trial's configuration, its provenance, its bracket, and the proposal it runs,
    if it does."""

    config: Config
    source: str
    bracket: int
    proposal: Proposal | None = None


def next_configuration(
    state: StudyState, models: ModelSource, number: int, bracket: int
) -> NewConfiguration:
    """Queued proposals (enqueued by a user, proposed by an LLM) first, in order, in bracket
    0 (the bottom rung) whatever ``bracket`` the scheduler drew; then the study's sampler.
    The caller marks a proposal as run."""
    proposal = state.next_queued()
    if proposal is not None:
        return NewConfiguration(dict(proposal.config), proposal.source, 0, proposal)
    config, source = make_sampler(state.spec, models).propose(state, number)
    return NewConfiguration(config, source, bracket)


__all__ = [
    "GPSampler",
    "InlineModels",
    "ModelSource",
    "NewConfiguration",
    "PriorBandSampler",
    "RandomSampler",
    "Sampler",
    "make_sampler",
    "next_configuration",
]
