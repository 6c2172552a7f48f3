"""A study's proposals, and the prior they and the spec make together.

Proposals are configurations the prior holds, kept in ``prior_proposals``:
the ones a user enqueued and the ones an LLM proposed run first, in order,
at the bottom rung; a complete point prior's configuration and a scaling law's run first
too, straight to r_max (:func:`point_modes`); the LLM's, the transfer's and the scaling
law's configurations are modes of the study's prior, next to the spec's points and
configuration lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hpo.priors.density import Component, Prior, config_components
from hpo.priors.sources import PriorKind
from hpo.space import Config
from hpo.spec import StudySpec
from hpo.vocabulary import Source


@dataclass
class Proposal:
    """One row of ``prior_proposals`` (``trial_number`` is set once a trial ran it)."""

    id: int
    position: int
    config: Config
    source: str
    run_first: bool
    prior_index: int | None = None
    trial_number: int | None = None

    @property
    def queued(self) -> bool:
        return self.run_first and self.trial_number is None


# Where the configurations of a kind of prior that stores proposals come from.
_PROVENANCE = {
    PriorKind.LLM: Source.LLM,
    PriorKind.TRANSFER: Source.TRANSFER,
    PriorKind.SCALING: Source.SCALING,
}


def point_modes(spec: StudySpec) -> list[tuple[int, Config]]:
    """The index and configuration of every ``point`` prior that names each parameter.

    Such a configuration is what the user would train anyway (a paper's or a team's
    setting), so it runs first, straight to r_max, as PriorBand's implementation in NePS
    evaluates the prior's default at the target fidelity. Its full-resource result tests the
    prior at once where low fidelities mislead, and gives a good prior a deployable answer
    in the study's first trial; a wrong one costs one full training (docs/priors.md). A
    partial point has no configuration to run: it is only the centre of a density."""
    return [
        (index, dict(source.config))
        for index, source in enumerate(spec.priors)
        if source.kind is PriorKind.POINT and set(source.config) == set(spec.space)
    ]


def study_prior(spec: StudySpec, proposals: Sequence[Proposal]) -> Prior | None:
    """The mixture of every ``priors`` entry of ``spec`` that has configurations yet (an LLM
    entry before its answer, or a transfer that found nothing, adds nothing); None if empty."""
    components: list[Component] = []
    for index, source in enumerate(spec.priors):
        if source.kind is PriorKind.POINT:
            components.append(
                Component.around(source.config, source.confidence, source.weight, Source.PRIOR)
            )
            continue
        if source.kind is PriorKind.CONFIGS:
            configs, provenance = list(source.configs), Source.PRIOR
        else:
            configs = [p.config for p in proposals if p.prior_index == index]
            provenance = _PROVENANCE[source.kind]
        if configs:
            components.extend(
                config_components(configs, source.confidence, source.weight, provenance)
            )
    return Prior(spec.space, components) if components else None
