"""Scaling priors: a configuration for a new scale, from the laws fitted over a family's studies.

The store finds the family's studies and their full-resource results
(:meth:`hpo.study_store.StoreTransaction.family_studies`,
:meth:`~hpo.study_store.StoreTransaction.full_resource_results`); :mod:`hpo.scaling` fits
how each hyperparameter's optimum moves with the scale variables and proposes one at a new
scale. A scaling prior runs inside the transaction that creates the study, like a transfer
prior, so a study is stored with its proposal or not at all; the proposal runs first and is
the prior's mode. ``FitScaling`` (``hpo scaling fit`` / ``propose``) answers the same laws
(docs/scaling.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hpo.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from hpo.scaling import Observation, ScalingError, ScalingFit, fit_scaling
from hpo.scaling import Proposal as ScaledProposal
from hpo.space import Config, Space
from hpo.spec import StudySpec, check_scale
from hpo.study_store import StoreTransaction, StudyStore
from hpo.validation import check_study_name


@dataclass(frozen=True)
class ScalingAnswer:
    """A family's laws, and their proposal at a scale when one was asked for."""

    family: str
    fit: ScalingFit
    proposal: ScaledProposal | None


def family_observations(
    store: StoreTransaction, family: str, space: Space, exclude_study_id: int | None = None
) -> list[Observation]:
    """Every full-resource result of ``family``'s studies whose space holds ``space``'s
    parameters, with its scale (the study's and, for scale parameters, the trial's own) and its
    value signed so lower is better."""
    observations: list[Observation] = []
    for study in store.family_studies(family, exclude_study_id):
        spec = StudySpec.from_json(study.spec_json)
        if not set(space) <= set(spec.space):
            continue
        sign = spec.objective.sign
        for config, value in store.full_resource_results(study):
            observations.append(
                Observation(spec.scale_of(config), config, value * sign, study=study.name)
            )
    return observations


def tuned_space(spec: StudySpec) -> Space:
    """The parameters a law is fitted for: the space less its scale parameters (a trial's
    size is where it sits, not a hyperparameter to extrapolate)."""
    return Space({name: p for name, p in spec.space.items() if name not in spec.scale_parameters})


def propose(fit: ScalingFit, family: str, scale: Mapping[str, float]) -> ScaledProposal:
    """``fit``'s proposal at ``scale``, which must give every variable the family varies."""
    missing = sorted(set(fit.variables) - set(scale))
    if missing:
        raise InvalidArgumentError(
            "scale", f"family {family!r} varies {', '.join(missing)}: give its value"
        )
    return fit.propose(scale)


def scaling_config(
    store: StoreTransaction, spec: StudySpec, family: str, study_id: int, where: str
) -> Config:
    """The configuration ``family``'s laws propose at ``spec``'s scale, or an invalid argument
    (raised before anything is written) when they cannot propose one."""
    if not spec.scale:
        raise InvalidArgumentError(
            "scale", "a scaling prior proposes at the study's scale: give scale variables"
        )
    if spec.scale_parameters:
        raise InvalidArgumentError(
            "scale_parameters",
            "a scaling prior proposes one configuration at the study's fixed scale: "
            "give the scale in scale, not as parameters",
        )
    observations = family_observations(store, family, spec.space, study_id)
    try:
        fit = fit_scaling(spec.space, observations)
    except ScalingError as error:
        raise InvalidArgumentError(where, f"family {family!r}: {error}") from None
    return spec.space.validate(propose(fit, family, spec.scale).config)


def fit_family(
    store: StudyStore, family: str, scale: Mapping[str, float] | None = None
) -> ScalingAnswer:
    """``family``'s laws over the parameters of its latest study, and their proposal at
    ``scale`` if given: NOT_FOUND without studies, FAILED_PRECONDITION with too few scale
    points."""
    check_study_name(family, "family")
    wanted = check_scale(scale or {})
    with store.read() as transaction:
        studies = transaction.family_studies(family, None)
        if not studies:
            raise NotFoundError(f"family {family!r} has no studies")
        space = tuned_space(StudySpec.from_json(studies[-1].spec_json))
        observations = family_observations(transaction, family, space)
    try:
        fit = fit_scaling(space, observations)
    except ScalingError as error:
        raise FailedPreconditionError(f"family {family!r}: {error}") from None
    return ScalingAnswer(family, fit, propose(fit, family, wanted) if wanted else None)
