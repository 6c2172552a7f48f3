"""The study snapshot that schedulers and samplers decide from.

Schedulers and samplers are pure: they read a :class:`StudyState` and return a
decision, and never do I/O. The service builds the state from the trial store
(``hpo.service``) or updates a cached copy after each committed decision; the
quality simulator builds it in memory. Either way the decision functions see
the same thing.

Values are kept *signed* (``value * objective.sign``) so every comparison is a
minimisation, and each rung keeps its results sorted for cheap top-k queries.
"""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass, field

from hpo.space import Config
from hpo.spec import StudySpec


class TrialState(str, enum.Enum):
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"


FINAL_STATES = frozenset({TrialState.COMPLETED, TrialState.STOPPED, TrialState.FAILED})


@dataclass
class TrialSnapshot:
    """What a decision needs to know about one trial."""

    number: int
    config: Config
    state: TrialState
    bracket: int = 0
    # Highest rung reached (-1 before the first) and the rung it trains toward.
    rung: int = -1
    target_rung: int = 0
    last_resource: float | None = None
    source: str = "random"
    # The worker holding the trial: while it runs, and after it pauses until the
    # worker releases it (its process may still be writing the checkpoint).
    worker_id: str | None = None

    @property
    def promotable(self) -> bool:
        """Paused at a rung and released by its worker."""
        return self.state is TrialState.PAUSED and self.worker_id is None

    @property
    def busy(self) -> bool:
        """Held by a worker: its results or its release may still create work."""
        return self.worker_id is not None and self.state in (TrialState.RUNNING, TrialState.PAUSED)


@dataclass(order=True, frozen=True)
class RungResult:
    """One trial's signed value at a rung; ordering ranks best first, earlier trials win ties."""

    signed_value: float
    number: int


@dataclass
class StudyState:
    spec: StudySpec
    trials: dict[int, TrialSnapshot] = field(default_factory=dict)
    # (bracket, rung) -> results sorted best first.
    rungs: dict[tuple[int, int], list[RungResult]] = field(default_factory=dict)

    @property
    def n_trials(self) -> int:
        return len(self.trials)

    @property
    def next_number(self) -> int:
        return max(self.trials, default=-1) + 1

    def rung_results(self, bracket: int, rung: int) -> list[RungResult]:
        return self.rungs.get((bracket, rung), [])

    def count(self, state: TrialState) -> int:
        return sum(1 for trial in self.trials.values() if trial.state is state)

    def any_busy(self) -> bool:
        return any(trial.busy for trial in self.trials.values())

    # Mutations, applied once a decision is durable (or while loading from the store).

    def add_trial(self, trial: TrialSnapshot) -> None:
        self.trials[trial.number] = trial

    def record_rung(self, number: int, rung: int, value: float) -> RungResult:
        """Record ``value`` (unsigned) as trial ``number``'s result at ``rung``."""
        trial = self.trials[number]
        result = RungResult(value * self.spec.objective.sign, number)
        bisect.insort(self.rungs.setdefault((trial.bracket, rung), []), result)
        trial.rung = max(trial.rung, rung)
        return result

    def rank(self, bracket: int, rung: int, result: RungResult) -> int:
        """0-based rank of a recorded ``result`` among the results at ``rung`` of ``bracket``."""
        return bisect.bisect_left(self.rung_results(bracket, rung), result)
