"""What a scheduler offers the service: the next job for a free worker, and a decision for
each report, as pure functions of the study's state (they never change it; the service
persists a decision first and applies it to its cached state after the commit).

:class:`hpo.schedulers.asha.Asha` is the one implementation; :mod:`hpo.algorithms` says which
algorithm uses which flavour of it. A new scheduler implements :class:`Scheduler` and gets
an entry there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from hpo.state import StudyState
from hpo.vocabulary import Action


@dataclass(frozen=True)
class NewTrial:
    bracket: int


@dataclass(frozen=True)
class Promote:
    number: int
    to_rung: int


@dataclass(frozen=True)
class Resume:
    """Hand trial ``number`` out again toward the rung it was training to when its worker's
    lease expired."""

    number: int
    to_rung: int


@dataclass(frozen=True)
class WaitForResults:
    """Nothing to hand out now; trials held by workers may still create promotions."""


@dataclass(frozen=True)
class StudyFinished:
    """The trial budget is spent and no trial is held by a worker or promotable."""


Job = NewTrial | Promote | Resume | WaitForResults | StudyFinished


@dataclass(frozen=True)
class ReportDecision:
    action: Action
    # The rung this report settled, or None when it fell between rungs.
    rung: int | None
    # With CONTINUE: the resource of the next decision.
    next_resource: float | None
    reason: str
    # Curve decisions at a rung: the value at r_max the trial's curve predicts (unsigned), and
    # its standard deviation; it ranks the trial there (docs/curves.md).
    predicted: float | None = None
    predicted_sd: float | None = None


class Scheduler(Protocol):
    """Multi-fidelity control of one study."""

    # The resource of each rung, lowest first; the last is r_max.
    levels: tuple[float, ...]
    top_rung: int

    def first_target_rung(self, bracket: int) -> int:
        """The rung a new trial of ``bracket`` trains toward."""
        ...

    def next_job(self, state: StudyState) -> Job:
        """What a free worker should do now."""
        ...

    def on_report(
        self,
        state: StudyState,
        number: int,
        resource: float,
        value: float,
        metrics: Mapping[str, float] | None = None,
    ) -> ReportDecision:
        """What trial ``number`` does after reaching ``resource`` with ``value`` (the primary
        objective) and ``metrics`` (all of the report's, for a vector study); raises
        InvalidArgumentError for a report the schedule cannot take."""
        ...
