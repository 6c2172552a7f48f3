"""Where new configurations come from."""

from dataclasses import dataclass

from hpo.priors.proposals import Proposal
from hpo.samplers.base import Sampler
from hpo.samplers.gp import GPSampler, InlineModels, ModelSource
from hpo.samplers.prior_band import PriorBandSampler
from hpo.samplers.random import RandomSampler
from hpo.space import Config
from hpo.state import StudyState


@dataclass(frozen=True)
class NewConfiguration:
    """A new trial's configuration, its provenance, its bracket, and the proposal it runs,
    if it does."""

    config: Config
    source: str
    bracket: int
    proposal: Proposal | None = None


def next_configuration(
    state: StudyState, sampler: Sampler, number: int, bracket: int
) -> NewConfiguration:
    """Queued proposals (enqueued by a user, proposed by an LLM) first, in order, in bracket
    0 (the bottom rung) whatever ``bracket`` the scheduler drew; then ``sampler`` (the
    study's, :func:`hpo.algorithms.make_sampler`). The caller marks a proposal as run."""
    proposal = state.next_queued()
    if proposal is not None:
        return NewConfiguration(dict(proposal.config), proposal.source, 0, proposal)
    config, source = sampler.propose(state, number)
    return NewConfiguration(config, source, bracket)


__all__ = [
    "GPSampler",
    "InlineModels",
    "ModelSource",
    "NewConfiguration",
    "PriorBandSampler",
    "RandomSampler",
    "Sampler",
    "next_configuration",
]
