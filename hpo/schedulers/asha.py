"""Asynchronous successive halving (ASHA, Li et al. 2020), as pure decisions.

Two functions drive a study:

* :meth:`Asha.next_job` answers "a worker is free, what should it do?": promote
  a paused trial that sits in the top ``1/eta`` of its rung (highest rung
  first), otherwise start a new trial at the bottom rung, otherwise wait for
  running trials or declare the study finished.
* :meth:`Asha.on_report` answers "a trial reached resource r": continue, pause
  at a rung (promotion type), stop (stopping type) or complete at ``r_max``.

*Promotion type* (the paper's algorithm, the default) pauses every trial at
the rung it was sent to; the trial continues only when a later ``next_job``
finds it in the top ``floor(n/eta)`` of the ``n`` results of that rung, so no
worker ever waits and early trials are not promoted on thin evidence. A paused
trial is promotable once its worker has released it, so a checkpoint is never
resumed while it is still being written.
*Stopping type* lets a trial run on towards ``r_max`` and stops it at a rung
when it is not among the top ``max(1, floor(n/eta))`` results so far.

Neither function mutates the state: the service persists the decision first
and applies it to its cached state after the commit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hpo.schedulers.rungs import crossed_rung, rung_levels, top_k
from hpo.spec import Algorithm, AshaMode, StudySpec
from hpo.state import RungResult, StudyState


@dataclass(frozen=True)
class NewTrial:
    bracket: int


@dataclass(frozen=True)
class Promote:
    number: int
    to_rung: int


@dataclass(frozen=True)
class WaitForResults:
    """Nothing to hand out now; trials held by workers may still create promotions."""


@dataclass(frozen=True)
class StudyFinished:
    """The trial budget is spent and no trial is held by a worker or promotable."""


Job = NewTrial | Promote | WaitForResults | StudyFinished


class Action(str, enum.Enum):
    CONTINUE = "continue"
    PAUSE = "pause"
    STOP = "stop"
    COMPLETE = "complete"


@dataclass(frozen=True)
class ReportDecision:
    action: Action
    # The rung this report settled, or None when it fell between rungs.
    rung: int | None
    # With CONTINUE: the resource of the next decision.
    next_resource: float | None
    reason: str


class Asha:
    """ASHA over the brackets of a study (issue 2 starts every trial in bracket 0)."""

    def __init__(self, spec: StudySpec, single_rung: bool = False) -> None:
        self.spec = spec
        self.eta = spec.resource.eta
        self.mode = spec.asha_mode
        # Random search is ASHA with r_max as the only rung: nothing stops early.
        self.levels = (spec.resource.r_max,) if single_rung else rung_levels(spec.resource)
        self.top_rung = len(self.levels) - 1

    def first_target_rung(self, bracket: int) -> int:
        """Rung a new trial of ``bracket`` trains toward: its first rung (promotion) or the top."""
        return self.top_rung if self.mode is AshaMode.STOPPING else bracket

    # ------------------------------------------------------------ next job

    def next_job(self, state: StudyState) -> Job:
        if self.mode is AshaMode.PROMOTION:
            promotion = self._best_promotion(state)
            if promotion is not None:
                return promotion
        if not self.spec.max_trials or state.n_trials < self.spec.max_trials:
            return NewTrial(bracket=0)
        if state.any_busy():
            return WaitForResults()
        return StudyFinished()

    def _best_promotion(self, state: StudyState) -> Promote | None:
        """A released paused trial in the top 1/eta of its rung, from the highest rung down.

        The best promotable result of a rung is in the top ``floor(n/eta)`` or no
        promotable result there is, so one rank per rung decides.
        """
        for rung in range(self.top_rung - 1, -1, -1):
            for bracket in sorted(b for b, r in state.rungs if r == rung):
                candidate = state.best_promotable(bracket, rung)
                results = state.rung_results(bracket, rung)
                if candidate is not None and state.rank(bracket, rung, candidate) < top_k(
                    len(results), self.eta
                ):
                    return Promote(candidate.number, rung + 1)
        return None

    # ------------------------------------------------------------ reports

    def on_report(
        self, state: StudyState, number: int, resource: float, value: float
    ) -> ReportDecision:
        trial = state.trials[number]
        reached = min(crossed_rung(self.levels, resource), trial.target_rung)
        if reached <= trial.rung or reached < trial.bracket:
            next_rung = min(max(trial.rung + 1, trial.bracket), trial.target_rung)
            return ReportDecision(Action.CONTINUE, None, self.levels[next_rung], "between rungs")
        if reached == self.top_rung:
            return ReportDecision(
                Action.COMPLETE, reached, None, f"reached r_max ({self.levels[-1]:g})"
            )
        if reached == trial.target_rung and self.mode is AshaMode.PROMOTION:
            return ReportDecision(
                Action.PAUSE,
                reached,
                None,
                f"paused at rung {reached} ({self.levels[reached]:g}); "
                f"continues once it ranks in the top 1/{self.eta:g}",
            )
        results = state.rung_results(trial.bracket, reached)
        rank = state.rank(
            trial.bracket, reached, RungResult(value * self.spec.objective.sign, number)
        )
        keep = max(1, top_k(len(results) + 1, self.eta))
        summary = f"ranks {rank + 1} of {len(results) + 1} at rung {reached}"
        if rank < keep:
            return ReportDecision(
                Action.CONTINUE,
                reached,
                self.levels[reached + 1],
                f"{summary}; top {keep} continue",
            )
        return ReportDecision(
            Action.STOP, reached, None, f"{summary}; only the top {keep} continue"
        )


def make_scheduler(spec: StudySpec) -> Asha:
    """The scheduler a study's ``algorithm`` names."""
    return Asha(spec, single_rung=spec.algorithm is Algorithm.RANDOM)
