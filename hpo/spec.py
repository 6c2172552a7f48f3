"""The study spec: what a user asks the coordinator to optimise, validated.

A :class:`StudySpec` is immutable and always valid: construction checks every
field and raises :class:`~hpo.errors.InvalidArgumentError` naming the field.
Its JSON form (``to_json``/``from_json``) is what the trial store keeps in
``studies.spec`` and what ``hpo study create --spec FILE`` reads.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hpo.errors import InvalidArgumentError
from hpo.outcomes import (
    MAX_CONSTRAINTS,
    MAX_METRICS,
    MAX_OBJECTIVES,
    Constraint,
    Cost,
    Objective,
)
from hpo.outcomes import (
    Direction as Direction,
)
from hpo.priors.sources import PriorSource, enqueued_from_json, priors_from_json
from hpo.space import Config, Float, Int, Space
from hpo.validation import (
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    MAX_RUNGS,
    MAX_SCALE_VARIABLES,
    MAX_SEED,
    MAX_TRIALS_LIMIT,
    bounded_int,
    check_count,
    check_study_name,
    check_text,
    describe,
    enum_member,
    is_finite_number,
    member,
)

log = logging.getLogger(__name__)


class Algorithm(str, enum.Enum):
    """How trials are scheduled and where new configurations come from; see docs/algorithms.md.
    What each is made of: :mod:`hpo.algorithms`."""

    RANDOM = "random"
    ASHA = "asha"
    HYPERBAND = "hyperband"
    GP_HYPERBAND = "gp-hyperband"


class BracketSplit(str, enum.Enum):
    """How asynchronous Hyperband picks a new trial's bracket."""

    HYPERBAND = "hyperband"
    LEARNED = "learned"


class AshaMode(str, enum.Enum):
    PROMOTION = "promotion"
    STOPPING = "stopping"


class DecisionBasis(str, enum.Enum):
    """What ranks a trial at a rung (docs/curves.md): its value there, or the value at r_max
    its learning curve so far predicts (:mod:`hpo.curves`)."""

    RUNG = "rung"
    CURVE = "curve"


@dataclass(frozen=True)
class Resource:
    """A trial's training budget; rungs at ``r_min * eta**k`` below ``r_max``, and ``r_max``."""

    r_min: float
    r_max: float
    eta: float = 3.0
    name: str = "resource"
    # The tops of a study whose r_max was raised (``hpo study extend``), lowest first: they stay
    # rungs, so results reached there keep their meaning.
    earlier_r_max: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for name in ("r_min", "r_max", "eta"):
            value = getattr(self, name)
            if not is_finite_number(value):
                raise InvalidArgumentError(
                    f"resource.{name}", f"must be a finite number, got {describe(value)}"
                )
        if self.r_min <= 0:
            raise InvalidArgumentError("resource.r_min", f"must be > 0, got {self.r_min}")
        if self.r_max < self.r_min:
            raise InvalidArgumentError(
                "resource.r_max", f"must be >= r_min ({self.r_min}), got {self.r_max}"
            )
        if self.eta <= 1:
            raise InvalidArgumentError("resource.eta", f"must be > 1, got {self.eta}")
        if math.log(self.r_max / self.r_min) / math.log(self.eta) > MAX_RUNGS - 1:
            raise InvalidArgumentError(
                "resource", f"r_max / r_min spans more than {MAX_RUNGS} rungs at eta={self.eta}"
            )
        check_text("resource.name", self.name, MAX_NAME_LENGTH, required=True)
        object.__setattr__(self, "r_min", float(self.r_min))
        object.__setattr__(self, "r_max", float(self.r_max))
        object.__setattr__(self, "eta", float(self.eta))
        if not isinstance(self.earlier_r_max, (list, tuple)):
            raise InvalidArgumentError("resource.earlier_r_max", "must be a list of numbers")
        earlier = tuple(self.earlier_r_max)
        check_count("resource.earlier_r_max", earlier, MAX_RUNGS)
        if not all(
            is_finite_number(level) and self.r_min <= level < self.r_max for level in earlier
        ):
            raise InvalidArgumentError(
                "resource.earlier_r_max",
                f"must be numbers in [r_min, r_max) = [{self.r_min:g}, {self.r_max:g})",
            )
        if list(earlier) != sorted(set(earlier)):
            raise InvalidArgumentError("resource.earlier_r_max", "must increase, lowest first")
        object.__setattr__(self, "earlier_r_max", tuple(float(level) for level in earlier))

    def extended(self, r_max: float) -> Resource:
        """This resource with its top raised to ``r_max``; the current top stays a rung."""
        if not is_finite_number(r_max) or not r_max > self.r_max:
            raise InvalidArgumentError(
                "r_max",
                f"must be above the current r_max ({self.r_max:g}), got {describe(r_max)}",
            )
        return dataclasses.replace(
            self, r_max=r_max, earlier_r_max=(*self.earlier_r_max, self.r_max)
        )

    def contains(self, resource: float) -> bool:
        """Whether ``resource`` lies in [r_min, r_max], with a relative tolerance for rounding."""
        tolerance = 1e-9 * self.r_max
        return self.r_min - tolerance <= resource <= self.r_max + tolerance


@dataclass(frozen=True)
class StudySpec:
    name: str
    space: Space
    resource: Resource
    objective: Objective = field(default_factory=Objective)
    algorithm: Algorithm = Algorithm.GP_HYPERBAND
    asha_mode: AshaMode = AshaMode.PROMOTION
    max_trials: int = 0
    seed: int = 0
    description: str = ""
    bracket_split: BracketSplit = BracketSplit.LEARNED
    # Suggest waits for the model fit that is due, so that with one worker the sequence of
    # suggestions depends only on the seed and the results (docs/algorithms.md).
    deterministic: bool = False
    # What is believed before the study starts, and configurations to run first (docs/priors.md).
    priors: tuple[PriorSource, ...] = ()
    enqueue: tuple[Config, ...] = ()
    # Several objectives (the first is the primary one, also ``objective``), further metrics
    # every report carries, outcome constraints on them, and the cost metric
    # (docs/study-spec.md). Left empty, the study has the one ``objective``.
    objectives: tuple[Objective, ...] = ()
    metrics: tuple[str, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    cost: Cost | None = None
    # What ranks trials at a rung: the rung value, or the predicted value at r_max.
    decision: DecisionBasis = DecisionBasis.RUNG
    # Scale variables (docs/scaling.md): fixed for the study (``scale``, name -> value) or a
    # parameter's value per trial (``scale_parameters``), and the family of studies a scaling
    # law relates (empty: none).
    scale: Mapping[str, float] = field(default_factory=dict)
    scale_parameters: tuple[str, ...] = ()
    family: str = ""

    def __post_init__(self) -> None:
        check_study_name(self.name)
        self._check_outcomes()
        if not isinstance(self.space, Space):
            raise InvalidArgumentError("space", "must be a Space")
        object.__setattr__(self, "algorithm", enum_member(Algorithm, "algorithm", self.algorithm))
        object.__setattr__(self, "asha_mode", enum_member(AshaMode, "asha_mode", self.asha_mode))
        object.__setattr__(
            self, "bracket_split", enum_member(BracketSplit, "bracket_split", self.bracket_split)
        )
        object.__setattr__(self, "decision", enum_member(DecisionBasis, "decision", self.decision))
        if self.decision is DecisionBasis.CURVE and self.is_vector:
            raise InvalidArgumentError(
                "decision",
                "curve decisions rank by one objective: drop the further objectives and "
                "constraints, or use decision 'rung'",
            )
        if not isinstance(self.deterministic, bool):
            raise InvalidArgumentError(
                "deterministic", f"must be true or false, got {describe(self.deterministic)}"
            )
        self._check_scale()
        bounded_int("max_trials", self.max_trials, 0, MAX_TRIALS_LIMIT)
        bounded_int("seed", self.seed, 0, MAX_SEED)
        # Entries may be given as PriorSource or in their JSON form; either way they are
        # validated against the space here.
        priors = [p.to_json() if isinstance(p, PriorSource) else p for p in _listed(self.priors)]
        object.__setattr__(self, "priors", priors_from_json(self.space, priors))
        object.__setattr__(self, "enqueue", enqueued_from_json(self.space, _listed(self.enqueue)))
        check_text("description", self.description, MAX_DESCRIPTION_LENGTH)

    def _check_outcomes(self) -> None:
        """Validate and normalise objectives, metrics, constraints and cost: ``objectives``
        always lists every objective and ``objective`` is its first."""
        listed = _listed(self.objectives)
        if not isinstance(listed, list):
            raise InvalidArgumentError("objectives", "must be a list of objectives")
        check_count("objectives", listed, MAX_OBJECTIVES)
        objectives = tuple(
            _entry(f"objectives[{index}]", Objective, entry) for index, entry in enumerate(listed)
        )
        objective = _entry("objective", Objective, self.objective)
        if not objectives:
            objectives = (objective,)
        elif objective not in (Objective(), objectives[0]):
            raise InvalidArgumentError(
                "objective", "differs from objectives[0]; give objectives alone"
            )
        names = [entry.metric for entry in objectives]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise InvalidArgumentError(f"objectives[{index}].metric", f"{name!r} is repeated")
        metrics = _listed(self.metrics)
        if not isinstance(metrics, list):
            raise InvalidArgumentError("metrics", "must be a list of metric names")
        check_count("metrics", metrics, MAX_METRICS)
        for index, name in enumerate(metrics):
            field_name = f"metrics[{index}]"
            check_text(field_name, name, MAX_NAME_LENGTH, required=True)
            if name in names:
                raise InvalidArgumentError(field_name, f"{name!r} is declared already")
            names.append(name)
        cost = None if self.cost is None else _entry("cost", Cost, self.cost)
        if cost is not None and cost.metric in names[: len(objectives)]:
            raise InvalidArgumentError("cost.metric", f"{cost.metric!r} is an objective")
        if cost is not None and not cost.reported and cost.metric in names:
            raise InvalidArgumentError(
                "cost.source", f"its measured metric {cost.metric!r} is declared already"
            )
        declared = set(names) | ({cost.metric} if cost is not None else set())
        constraints = _listed(self.constraints)
        if not isinstance(constraints, list):
            raise InvalidArgumentError("constraints", "must be a list of constraints")
        check_count("constraints", constraints, MAX_CONSTRAINTS)
        checked = []
        for index, entry in enumerate(constraints):
            constraint = _entry(f"constraints[{index}]", Constraint, entry)
            if constraint.metric not in declared:
                raise InvalidArgumentError(
                    f"constraints[{index}].metric",
                    f"{constraint.metric!r} is not declared: list it in metrics",
                )
            checked.append(constraint)
        object.__setattr__(self, "objectives", objectives)
        object.__setattr__(self, "objective", objectives[0])
        object.__setattr__(self, "metrics", tuple(metrics))
        object.__setattr__(self, "constraints", tuple(checked))
        object.__setattr__(self, "cost", cost)

    def _check_scale(self) -> None:
        """Scale values are positive and finite (laws are fitted in their logarithms); a scale
        parameter is a numeric parameter of the space with a positive range."""
        scale = check_scale(self.scale)
        parameters = _listed(self.scale_parameters)
        if not isinstance(parameters, list):
            raise InvalidArgumentError("scale_parameters", "must be a list of parameter names")
        check_count("scale_parameters", parameters, MAX_SCALE_VARIABLES)
        for index, name in enumerate(parameters):
            where = f"scale_parameters[{index}]"
            parameter = self.space.get(name) if isinstance(name, str) else None
            if not isinstance(parameter, (Float, Int)) or parameter.low <= 0:
                raise InvalidArgumentError(
                    where, f"{describe(name)} is not a numeric parameter with a range above 0"
                )
            if name in scale or name in parameters[:index]:
                raise InvalidArgumentError(where, f"{name!r} is declared twice")
        if self.family:
            check_study_name(self.family, "family")
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "scale_parameters", tuple(parameters))

    def scale_of(self, config: Config) -> dict[str, float]:
        """The scale variables of a trial with ``config``: the study's, and its own."""
        return {
            **self.scale,
            **{name: float(config[name]) for name in self.scale_parameters},  # type: ignore[arg-type]
        }

    @property
    def reported_metrics(self) -> tuple[str, ...]:
        """The metrics every report names: objectives, declared metrics, a reported cost."""
        names = [objective.metric for objective in self.objectives] + list(self.metrics)
        if self.cost is not None and self.cost.reported and self.cost.metric not in names:
            names.append(self.cost.metric)
        return tuple(names)

    @property
    def is_vector(self) -> bool:
        """Whether results rank by more than one number: several objectives, or constraints."""
        return len(self.objectives) > 1 or bool(self.constraints)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "space": self.space.to_json(),
            # One objective keeps the form stored before several were possible.
            **(
                {"objective": self.objective.to_json()}
                if len(self.objectives) == 1
                else {"objectives": [objective.to_json() for objective in self.objectives]}
            ),
            **({"metrics": list(self.metrics)} if self.metrics else {}),
            **(
                {"constraints": [constraint.to_json() for constraint in self.constraints]}
                if self.constraints
                else {}
            ),
            **({"cost": self.cost.to_json()} if self.cost is not None else {}),
            "resource": {
                "name": self.resource.name,
                "r_min": self.resource.r_min,
                "r_max": self.resource.r_max,
                "eta": self.resource.eta,
                **(
                    {"earlier_r_max": list(self.resource.earlier_r_max)}
                    if self.resource.earlier_r_max
                    else {}
                ),
            },
            "algorithm": self.algorithm.value,
            "asha_mode": self.asha_mode.value,
            "bracket_split": self.bracket_split.value,
            "deterministic": self.deterministic,
            # Only when set, so stored specs of rung-decided studies keep their form.
            **({"decision": self.decision.value} if self.decision is DecisionBasis.CURVE else {}),
            **({"scale": dict(self.scale)} if self.scale else {}),
            **({"scale_parameters": list(self.scale_parameters)} if self.scale_parameters else {}),
            **({"family": self.family} if self.family else {}),
            "max_trials": self.max_trials,
            "seed": self.seed,
            # Only when set, so the stored specs of studies without priors keep their form.
            **({"priors": [prior.to_json() for prior in self.priors]} if self.priors else {}),
            **({"enqueue": [dict(config) for config in self.enqueue]} if self.enqueue else {}),
        }

    def extended(self, r_max: float) -> StudySpec:
        """This spec with the resource's top raised to ``r_max`` (iterative deepening)."""
        return dataclasses.replace(self, resource=self.resource.extended(r_max))

    def matches(self, other: StudySpec) -> bool:
        """Whether ``other`` asks for this study: equal, or equal before r_max was raised.

        A script that creates its study with ``exist_ok`` keeps working after
        ``hpo study extend``, and after the default ``bracket_split`` became ``learned``
        (December 2026): a study stored with ``hyperband``, the default before, matches a
        request for ``learned`` and keeps its own split."""
        if self.bracket_split is BracketSplit.HYPERBAND and other.bracket_split is (
            BracketSplit.LEARNED
        ):
            other = dataclasses.replace(other, bracket_split=BracketSplit.HYPERBAND)
        if self == other:
            return True
        tops = (*self.resource.earlier_r_max, self.resource.r_max)
        if other.resource.r_max not in tops:
            return False
        index = tops.index(other.resource.r_max)
        before = dataclasses.replace(self.resource, r_max=tops[index], earlier_r_max=tops[:index])
        return dataclasses.replace(self, resource=before) == other

    @classmethod
    def from_json(cls, data: object) -> StudySpec:
        if not isinstance(data, Mapping):
            raise InvalidArgumentError("spec", "must be an object")
        known = {
            "name", "description", "space", "objective", "resource", "algorithm",
            "asha_mode", "bracket_split", "deterministic", "max_trials", "seed",
            "priors", "enqueue", "objectives", "metrics", "constraints", "cost",
            "decision", "scale", "scale_parameters", "family",
        }  # fmt: skip
        unknown = sorted(map(str, set(data) - known))
        if unknown:
            raise InvalidArgumentError(member("", unknown[0]), "is not a field of a study spec")
        if "resource" not in data:
            raise InvalidArgumentError("resource", "is required (r_min, r_max, eta)")
        space = Space.from_json(data.get("space"))
        return cls(
            name=data.get("name", ""),
            description=data.get("description", ""),
            space=space,
            objective=Objective(
                **_sub_object("objective", data.get("objective", {}), {"metric", "direction"})
            ),
            objectives=_json_list("objectives", data.get("objectives", [])),
            metrics=_json_list("metrics", data.get("metrics", [])),
            constraints=_json_list("constraints", data.get("constraints", [])),
            cost=data.get("cost"),
            resource=Resource(
                **_sub_object(
                    "resource",
                    data["resource"],
                    {"name", "r_min", "r_max", "eta", "earlier_r_max"},
                    {"r_min", "r_max"},
                )
            ),
            algorithm=data.get("algorithm", Algorithm.GP_HYPERBAND.value),
            asha_mode=data.get("asha_mode", AshaMode.PROMOTION.value),
            bracket_split=data.get("bracket_split", BracketSplit.LEARNED.value),
            deterministic=data.get("deterministic", False),
            decision=data.get("decision", DecisionBasis.RUNG.value),
            scale=data.get("scale", {}),
            scale_parameters=_json_list("scale_parameters", data.get("scale_parameters", [])),
            family=data.get("family", ""),
            max_trials=data.get("max_trials", 0),
            seed=data.get("seed", 0),
            priors=data.get("priors", ()),
            enqueue=data.get("enqueue", ()),
        )


def check_scale(scale: object, field: str = "scale") -> dict[str, float]:
    """Scale variables by name, each a finite number > 0 (laws are fitted in logarithms);
    ``field`` names the request field that holds them."""
    if not isinstance(scale, Mapping):
        raise InvalidArgumentError(field, "must be an object of scale variables")
    check_count(field, scale, MAX_SCALE_VARIABLES)
    checked: dict[str, float] = {}
    for name, value in scale.items():
        where = member(field, name)
        check_text(where, name, MAX_NAME_LENGTH, required=True)
        if not is_finite_number(value) or value <= 0:
            raise InvalidArgumentError(where, f"must be a number > 0, got {describe(value)}")
        checked[name] = float(value)
    return checked


def listable_spec(name: str, stored: object) -> StudySpec | None:
    """A stored spec for a listing of many studies, or ``None`` (logged) if it cannot be read.

    Listings skip such a study instead of failing: one study written by an older version that
    stored a value it could not read back (jsonb, issue 15) must not hide every other study.
    Reads of that study itself still raise, with the field that is wrong."""
    try:
        return StudySpec.from_json(stored)
    except InvalidArgumentError as error:
        log.error(
            "study %r is left out of the listing: its stored spec is unreadable (%s)", name, error
        )
        return None


def _listed(entries: object) -> object:
    """A tuple as a list (the validators want lists; anything else they reject by name)."""
    return list(entries) if isinstance(entries, tuple) else entries


def _json_list(name: str, data: object) -> list[Any]:
    if not isinstance(data, list):
        raise InvalidArgumentError(name, "must be a list")
    return data


def _entry(name: str, kind: type[Any], entry: object) -> Any:
    """``entry`` as a ``kind`` (given as one, or as its JSON fields), with any error's field
    named from ``name`` (``constraints[2].bound``)."""
    if isinstance(entry, kind):
        return entry
    if not isinstance(entry, Mapping):
        raise InvalidArgumentError(name, "must be an object")
    fields = dataclasses.fields(kind)
    required = {
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    try:
        return kind(**_sub_object(name, entry, {f.name for f in fields}, required))
    except InvalidArgumentError as error:
        suffix = error.field.partition(".")[2]
        raise InvalidArgumentError(
            f"{name}.{suffix}" if suffix else name, str(error).partition(": ")[2]
        ) from None


def _sub_object(
    name: str, data: object, keys: set[str], required: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidArgumentError(name, "must be an object")
    unknown = sorted(map(str, set(data) - keys))
    if unknown:
        raise InvalidArgumentError(member(name, unknown[0]), "is not a known field")
    missing = sorted(required - set(data))
    if missing:
        raise InvalidArgumentError(f"{name}.{missing[0]}", "is required")
    return dict(data)
