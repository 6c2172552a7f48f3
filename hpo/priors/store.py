"""The priors' rows in the trial store: proposals, LLM exchanges, transfer from earlier studies.

Functions over a SQLAlchemy session, called by :class:`hpo.service.StudyService`
inside its transactions (so a proposal is written with the study or the
decision it belongs to, or not at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hpo.errors import InvalidArgumentError
from hpo.priors.proposals import Proposal
from hpo.priors.sources import PriorSource
from hpo.space import Categorical, Config, Int, Parameter, Space
from hpo.spec import Direction, StudySpec
from hpo.storage import tables
from hpo.vocabulary import DONE_STUDY_STATES, TrialState


def load_proposals(session: Session, study_id: int) -> list[Proposal]:
    """The study's proposals in order, with the number of the trial that ran each."""
    rows = session.execute(
        select(tables.PriorProposal, tables.Trial.number)
        .outerjoin(tables.Trial, tables.Trial.id == tables.PriorProposal.trial_id)
        .where(tables.PriorProposal.study_id == study_id)
        .order_by(tables.PriorProposal.position)
    )
    return [
        Proposal(
            id=row.id,
            position=row.position,
            config=row.config,
            source=row.source,
            run_first=row.run_first,
            prior_index=row.prior_index,
            trial_number=number,
        )
        for row, number in rows
    ]


def add_proposals(
    session: Session,
    study_id: int,
    configs: Sequence[Config],
    *,
    source: str,
    run_first: bool,
    now: datetime,
    prior_index: int | None = None,
    exchange_id: int | None = None,
    request_id: str | None = None,
) -> list[tables.PriorProposal]:
    """Append ``configs`` to the study's proposals, after the last position."""
    if not configs:
        return []
    last = session.scalar(
        select(func.max(tables.PriorProposal.position)).where(
            tables.PriorProposal.study_id == study_id
        )
    )
    rows = [
        tables.PriorProposal(
            study_id=study_id,
            position=(-1 if last is None else last) + 1 + offset,
            config=dict(config),
            source=source,
            run_first=run_first,
            prior_index=prior_index,
            exchange_id=exchange_id,
            request_id=request_id,
            created_at=now,
        )
        for offset, config in enumerate(configs)
    ]
    session.add_all(rows)
    session.flush()
    return rows


def proposal_by_request(session: Session, request_id: str) -> tables.PriorProposal | None:
    if not request_id:
        return None
    return session.scalar(
        select(tables.PriorProposal).where(tables.PriorProposal.request_id == request_id)
    )


# ---------------------------------------------------------------- transfer


def same_parameters(space: Space, other: Space) -> bool:
    """Whether two spaces name the same parameters, in any order, with the same types (float,
    int or categorical; ranges, scales and choices may differ)."""
    return set(space) == set(other) and parameter_mismatch(space, other) is None


def parameter_mismatch(space: Space, other: Space) -> str | None:
    """Why ``other``'s configurations cannot be moved into ``space``, as what ``other`` has: no
    parameter of ``space``'s, or one of them with another type; None if they can be moved
    (extra parameters of ``other`` are left behind)."""
    for name, parameter in space.items():
        if name not in other:
            return f"no parameter {name!r}"
        theirs, ours = _type_name(other[name]), _type_name(parameter)
        if theirs != ours:
            return f"parameter {name!r} as {theirs}, not {ours}"
    return None


def _type_name(parameter: Parameter) -> str:
    return str(parameter.to_json()["type"])


def transfer_configs(
    session: Session,
    spec: StudySpec,
    source: PriorSource,
    exclude_study_id: int | None,
    where: str = "priors.studies",
) -> list[Config]:
    """The best ``top_k`` configurations of each source study, moved into ``spec``'s space
    (numeric values clipped to its ranges; configurations with a choice it lacks dropped).

    Named studies must exist and have every parameter of ``spec`` with the same type, or
    ``where[i]`` is an invalid argument (raised before anything is written). Without names,
    the studies taken are the done ones (finished or stopped: either keeps its trials as they
    last were) with at least one completed trial and the same parameters
    (:func:`same_parameters`).

    A configuration's quality is its value at the highest rung it reached: trials that
    went further rank first, then by value, as the study's own "best" does."""
    if source.studies:
        chosen = _named_studies(session, spec.space, source.studies, exclude_study_id, where)
    else:
        chosen = _done_studies_like(session, spec.space, exclude_study_id)
    configs: list[Config] = []
    for study in chosen:
        for config in _best_configs(session, study, source.top_k):
            moved = _into_space(spec.space, config)
            if moved is not None and moved not in configs:
                configs.append(moved)
    return configs


def _named_studies(
    session: Session,
    space: Space,
    names: Sequence[str],
    exclude_study_id: int | None,
    where: str,
) -> list[tables.Study]:
    rows = session.scalars(select(tables.Study).where(tables.Study.name.in_(names))).all()
    by_name = {study.name: study for study in rows if study.id != exclude_study_id}
    for index, name in enumerate(names):
        field, study = f"{where}[{index}]", by_name.get(name)
        if study is None:
            raise InvalidArgumentError(field, f"study {name!r} does not exist in this store")
        mismatch = parameter_mismatch(space, StudySpec.from_json(study.spec).space)
        if mismatch is not None:
            raise InvalidArgumentError(field, f"study {name!r} has {mismatch}")
    return [by_name[name] for name in names]


def _done_studies_like(
    session: Session, space: Space, exclude_study_id: int | None
) -> list[tables.Study]:
    completed = (
        select(tables.Trial.id)
        .where(
            tables.Trial.study_id == tables.Study.id,
            tables.Trial.state == TrialState.COMPLETED.value,
        )
        .exists()
    )
    studies = session.scalars(
        select(tables.Study)
        .where(tables.Study.state.in_([state.value for state in DONE_STUDY_STATES]), completed)
        .order_by(tables.Study.id)
    ).all()
    return [
        study
        for study in studies
        if study.id != exclude_study_id
        and same_parameters(space, StudySpec.from_json(study.spec).space)
    ]


def _best_configs(session: Session, study: tables.Study, top_k: int) -> list[dict[str, Any]]:
    trials = session.scalars(
        select(tables.Trial).where(
            tables.Trial.study_id == study.id,
            tables.Trial.last_value.is_not(None),
            tables.Trial.rung >= 0,
            tables.Trial.state != "failed",
        )
    ).all()
    sign = -1.0 if study.direction == Direction.MAXIMIZE.value else 1.0
    ranked = sorted(trials, key=lambda trial: (-trial.rung, sign * trial.last_value, trial.number))
    return [trial.config for trial in ranked[:top_k]]


def _into_space(space: Space, config: dict[str, Any]) -> Config | None:
    moved: Config = {}
    for name, parameter in space.items():
        if name not in config:
            return None
        value = config[name]
        if isinstance(parameter, Categorical):
            if value not in parameter.choices:
                return None
            moved[name] = value
        else:
            clipped = min(max(float(value), parameter.low), parameter.high)
            moved[name] = round(clipped) if isinstance(parameter, Int) else clipped
    return space.validate(moved)
