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
from hpo.priors.sources import PriorSource, enqueued_from_json, priors_from_json
from hpo.space import Config, Space
from hpo.validation import (
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    MAX_RUNGS,
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


class Direction(str, enum.Enum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


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


@dataclass(frozen=True)
class Objective:
    metric: str = "value"
    direction: Direction = Direction.MINIMIZE

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "direction", enum_member(Direction, "objective.direction", self.direction)
        )
        check_text("objective.metric", self.metric, MAX_NAME_LENGTH, required=True)

    @property
    def sign(self) -> float:
        """Multiply a value by this to turn the objective into a minimisation."""
        return 1.0 if self.direction is Direction.MINIMIZE else -1.0


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

    def __post_init__(self) -> None:
        check_study_name(self.name)
        if not isinstance(self.space, Space):
            raise InvalidArgumentError("space", "must be a Space")
        object.__setattr__(self, "algorithm", enum_member(Algorithm, "algorithm", self.algorithm))
        object.__setattr__(self, "asha_mode", enum_member(AshaMode, "asha_mode", self.asha_mode))
        object.__setattr__(
            self, "bracket_split", enum_member(BracketSplit, "bracket_split", self.bracket_split)
        )
        if not isinstance(self.deterministic, bool):
            raise InvalidArgumentError(
                "deterministic", f"must be true or false, got {describe(self.deterministic)}"
            )
        bounded_int("max_trials", self.max_trials, 0, MAX_TRIALS_LIMIT)
        bounded_int("seed", self.seed, 0, MAX_SEED)
        # Entries may be given as PriorSource or in their JSON form; either way they are
        # validated against the space here.
        priors = [p.to_json() if isinstance(p, PriorSource) else p for p in _listed(self.priors)]
        object.__setattr__(self, "priors", priors_from_json(self.space, priors))
        object.__setattr__(self, "enqueue", enqueued_from_json(self.space, _listed(self.enqueue)))
        check_text("description", self.description, MAX_DESCRIPTION_LENGTH)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "space": self.space.to_json(),
            "objective": {
                "metric": self.objective.metric,
                "direction": self.objective.direction.value,
            },
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
            "priors", "enqueue",
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
            max_trials=data.get("max_trials", 0),
            seed=data.get("seed", 0),
            priors=data.get("priors", ()),
            enqueue=data.get("enqueue", ()),
        )


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
