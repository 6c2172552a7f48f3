"""Where new configurations come from."""

from dataclasses import dataclass

from hpo.priors.proposals import Proposal
from hpo.samplers.base import Sampler
from hpo.samplers.gp import GPSampler, InlineModels, ModelSource
from hpo.samplers.prior_band import PriorBandSampler
from hpo.samplers.random import RandomSampler
from hpo.space import Config
from hpo.state import StudyState
from hpo.vocabulary import Source

# Queued proposals that train straight to r_max: a scaling law's and a point prior's.
_TO_R_MAX = frozenset({Source.SCALING, Source.PRIOR})


@dataclass(frozen=True)
class NewConfiguration:
    """A new trial's configuration, its provenance, its bracket, and the proposal it runs,
    if it does."""

    config: Config
    source: str
    bracket: int
    proposal: Proposal | None = None


def next_configuration(
    state: StudyState, sampler: Sampler, number: int, bracket: int, top_bracket: int
) -> NewConfiguration:
    """Queued proposals (enqueued by a user, proposed by an LLM or by scaling laws) first, in
    order, whatever ``bracket`` the scheduler drew; then ``sampler`` (the study's,
    :func:`hpo.algorithms.make_sampler`). The caller marks a proposal as run.

    A queued proposal starts at the bottom rung (bracket 0) and climbs like any trial, except
    a scaling law's and a complete point prior's: each is the model a user would train to the
    end anyway (the family's best guess at this scale, the user's own setting), so it trains
    straight to r_max (``top_bracket``) and anchors the rungs with a full-resource result
    from the first trial (docs/scaling.md, docs/priors.md)."""
    proposal = state.next_queued()
    if proposal is not None:
        start = top_bracket if proposal.source in _TO_R_MAX else 0
        return NewConfiguration(dict(proposal.config), proposal.source, start, proposal)
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
