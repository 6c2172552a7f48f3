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
from hpo.space import Categorical, Config, Int, Space
from hpo.spec import Direction, StudySpec
from hpo.storage import models


def load_proposals(session: Session, study_id: int) -> list[Proposal]:
    """The study's proposals in order, with the number of the trial that ran each."""
    rows = session.execute(
        select(models.PriorProposal, models.Trial.number)
        .outerjoin(models.Trial, models.Trial.id == models.PriorProposal.trial_id)
        .where(models.PriorProposal.study_id == study_id)
        .order_by(models.PriorProposal.position)
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
) -> list[models.PriorProposal]:
    """Append ``configs`` to the study's proposals, after the last position."""
    if not configs:
        return []
    last = session.scalar(
        select(func.max(models.PriorProposal.position)).where(
            models.PriorProposal.study_id == study_id
        )
    )
    rows = [
        models.PriorProposal(
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


def proposal_by_request(session: Session, request_id: str) -> models.PriorProposal | None:
    if not request_id:
        return None
    return session.scalar(
        select(models.PriorProposal).where(models.PriorProposal.request_id == request_id)
    )


# ---------------------------------------------------------------- transfer


def same_parameters(space: Space, other: Space) -> bool:
    """Whether two spaces name the same parameters with the same types (ranges may differ)."""
    return list(space) == list(other) and all(
        type(space[name]) is type(other[name]) for name in space
    )


def transfer_configs(
    session: Session,
    spec: StudySpec,
    source: PriorSource,
    exclude_study_id: int | None,
    where: str = "priors.studies",
) -> list[Config]:
    """The best ``top_k`` configurations of each source study, moved into ``spec``'s space
    (numeric values clipped to its ranges; configurations with a choice it lacks dropped).

    A configuration's quality is its value at the highest rung it reached: trials that
    went further rank first, then by value, as the study's own "best" does."""
    studies = session.scalars(select(models.Study).order_by(models.Study.id)).all()
    by_name = {study.name: study for study in studies if study.id != exclude_study_id}
    if source.studies:
        missing = [name for name in source.studies if name not in by_name]
        if missing:
            raise InvalidArgumentError(where, f"study {missing[0]!r} does not exist in this store")
        chosen = [by_name[name] for name in source.studies]
    else:
        chosen = [
            study
            for study in by_name.values()
            if same_parameters(spec.space, StudySpec.from_json(study.spec).space)
        ]
    configs: list[Config] = []
    for study in chosen:
        for config in _best_configs(session, study, source.top_k):
            moved = _into_space(spec.space, config)
            if moved is not None and moved not in configs:
                configs.append(moved)
    return configs


def _best_configs(session: Session, study: models.Study, top_k: int) -> list[dict[str, Any]]:
    trials = session.scalars(
        select(models.Trial).where(
            models.Trial.study_id == study.id,
            models.Trial.last_value.is_not(None),
            models.Trial.rung >= 0,
            models.Trial.state != "failed",
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
