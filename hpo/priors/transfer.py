"""Transfer priors: the best configurations of earlier studies, moved into a new study's space.

The store finds the studies and ranks their trials (:meth:`hpo.study_store.StoreTransaction.
transfer_studies`, :meth:`~hpo.study_store.StoreTransaction.best_configs`); this module decides
which studies fit and how their configurations move. It runs inside the transaction that
creates the study, so a study is stored with its transfer proposals or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hpo.errors import InvalidArgumentError
from hpo.priors.sources import PriorSource
from hpo.space import Categorical, Config, Int, Parameter, Space
from hpo.spec import StudySpec
from hpo.study_store import StoreTransaction, StudyRow


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
    store: StoreTransaction,
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
        chosen = _named_studies(store, spec.space, source.studies, exclude_study_id, where)
    else:
        chosen = [
            study
            for study in store.transfer_studies((), exclude_study_id)
            if same_parameters(spec.space, StudySpec.from_json(study.spec_json).space)
        ]
    configs: list[Config] = []
    for study in chosen:
        for config in store.best_configs(study, source.top_k):
            moved = _into_space(spec.space, config)
            if moved is not None and moved not in configs:
                configs.append(moved)
    return configs


def _named_studies(
    store: StoreTransaction,
    space: Space,
    names: Sequence[str],
    exclude_study_id: int | None,
    where: str,
) -> list[StudyRow]:
    by_name = {study.name: study for study in store.transfer_studies(names, exclude_study_id)}
    for index, name in enumerate(names):
        field, study = f"{where}[{index}]", by_name.get(name)
        if study is None:
            raise InvalidArgumentError(field, f"study {name!r} does not exist in this store")
        mismatch = parameter_mismatch(space, StudySpec.from_json(study.spec_json).space)
        if mismatch is not None:
            raise InvalidArgumentError(field, f"study {name!r} has {mismatch}")
    return [by_name[name] for name in names]


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
