"""Asynchronous successive halving (ASHA, Li et al. 2020) and asynchronous Hyperband, as pure
decisions.

Two functions drive a study:

* :meth:`Asha.next_job` answers "a worker is free, what should it do?": resume a
  trial whose worker's lease expired, otherwise promote
  a paused trial that sits in the top ``1/eta`` of its rung (highest rung
  first), otherwise start a new trial (at the bottom rung, or, for the
  Hyperband algorithms, in a bracket drawn by :mod:`hpo.schedulers.brackets`),
  otherwise wait for running trials or declare the study finished.
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

Bracket ``b`` is ASHA started at rung ``b``. Results are ranked against every
result at the same rung, whatever its bracket: they are values at the same
resource, so they compare, and a rung pooled over brackets fills ``eta`` times
faster than each bracket's share of it. Ranking within each bracket instead
starved the top rungs: every bracket needed ``eta`` results of its own at a
rung before it promoted anything there, so a budget ran out before good
configurations reached ``r_max``. A study whose ``r_max`` was raised reopens the
trials completed at the old top as paused ones, so in both modes they are
promoted by the same rule.

Neither function mutates the state: the service persists the decision first
and applies it to its cached state after the commit.
"""

from __future__ import annotations

from collections.abc import Mapping

from hpo.errors import InvalidArgumentError
from hpo.schedulers.base import (
    Job,
    NewTrial,
    Promote,
    ReportDecision,
    Resume,
    StudyFinished,
    WaitForResults,
)
from hpo.schedulers.brackets import choose_bracket
from hpo.schedulers.curve_rule import (
    ENSEMBLE,
    STOP_PROBABILITY,
    Forecast,
    chance_to_stay,
    forecast,
)
from hpo.schedulers.rungs import (
    RELATIVE_TOLERANCE,
    crossed_rung,
    rung_levels,
    top_k,
    top_levels,
)
from hpo.spec import AshaMode, DecisionBasis, StudySpec
from hpo.state import StudyState
from hpo.vocabulary import Action, TrialState


class Asha:
    """ASHA inside each bracket of a study; new trials start in bracket 0 unless
    ``spread_over_brackets`` (asynchronous Hyperband) draws their bracket. Random search is
    ``single_rung``: r_max (and r_max's earlier values) as the only rungs, so nothing stops
    early. Which algorithm uses which: :mod:`hpo.algorithms`."""

    def __init__(
        self, spec: StudySpec, single_rung: bool = False, spread_over_brackets: bool = False
    ) -> None:
        self.spec = spec
        self.spread_over_brackets = spread_over_brackets
        self.eta = spec.resource.eta
        self.mode = spec.asha_mode
        self.levels = top_levels(spec.resource) if single_rung else rung_levels(spec.resource)
        self.top_rung = len(self.levels) - 1

    def first_target_rung(self, bracket: int) -> int:
        """Rung a new trial of ``bracket`` trains toward: its first rung (promotion) or the top."""
        return self.top_rung if self.mode is AshaMode.STOPPING else bracket

    # ------------------------------------------------------------ next job

    def next_job(self, state: StudyState) -> Job:
        # Work a dead worker left unfinished comes first: the schedule already counts on it.
        pending = state.first_pending()
        if pending is not None:
            return Resume(pending, state.trials[pending].target_rung)
        promotion = self._best_promotion(state)
        if promotion is not None:
            return promotion
        if not self.spec.max_trials or state.n_trials < self.spec.max_trials:
            if not self.spread_over_brackets:
                return NewTrial(bracket=0)
            return NewTrial(choose_bracket(self.spec, state, state.next_number))
        if state.any_busy():
            return WaitForResults()
        return StudyFinished()

    def _best_promotion(self, state: StudyState) -> Promote | None:
        """A released paused trial in the top 1/eta of its rung, from the highest rung down.
        (Stopping-type studies have paused trials only after their r_max was raised.)

        The best promotable result of a rung is in the top ``floor(n/eta)`` of the rung's
        ``n`` results (all brackets) or no promotable result there is, so one rank per rung
        decides.
        """
        for rung in range(self.top_rung - 1, -1, -1):
            candidate = state.best_promotable(rung)
            if candidate is not None and state.rank(rung, candidate) < top_k(
                len(state.results_at(rung)), self.eta
            ):
                # A stopping-type trial runs on toward r_max, judged at each rung.
                to_rung = self.top_rung if self.mode is AshaMode.STOPPING else rung + 1
                return Promote(candidate.number, to_rung)
        return None

    # ------------------------------------------------------------ reports

    def on_report(
        self,
        state: StudyState,
        number: int,
        resource: float,
        value: float,
        metrics: Mapping[str, float] | None = None,
    ) -> ReportDecision:
        trial = state.trials[number]
        assigned = self.levels[trial.target_rung]
        if resource > assigned * (1 + RELATIVE_TOLERANCE):
            # Settling it at the assigned rung ranked a 9-epoch value among 1-epoch ones and
            # promoted it to a rung below what it had trained (issue 15): refused instead.
            raise InvalidArgumentError(
                "resource",
                f"{resource:g} is past the resource trial {number} was assigned "
                f"({assigned:g}); report at most that, then complete",
            )
        reached = min(crossed_rung(self.levels, resource), trial.target_rung)
        if reached <= trial.rung or reached < trial.bracket:
            next_rung = min(max(trial.rung + 1, trial.bracket), trial.target_rung)
            return ReportDecision(Action.CONTINUE, None, self.levels[next_rung], "between rungs")
        if reached == self.top_rung:
            return ReportDecision(
                Action.COMPLETE, reached, None, f"reached r_max ({self.levels[-1]:g})"
            )
        ahead = None
        if self.spec.decision is DecisionBasis.CURVE:
            ahead = forecast(state, number, resource, value)
        if reached == trial.target_rung and self.mode is AshaMode.PROMOTION:
            return self._pause(reached, ahead)
        by_curve = ahead is not None and state.basis(reached).by_curve
        if by_curve and ahead.prediction.method == ENSEMBLE:
            return self._stop_by_curve(state, reached, ahead)
        results = state.results_at(reached)
        # A rung that ranks by predictions ranks a curve too short to extrapolate by its
        # prediction all the same: the last value (hpo.curves' fallbacks).
        key = ahead.predicted if by_curve else value
        rank = state.rank_new(reached, number, key, metrics)
        keep = max(1, top_k(len(results) + 1, self.eta))
        summary = f"ranks {rank + 1} of {len(results) + 1} at rung {reached}"
        if ahead is not None:
            summary = f"{summary} ({state.basis(reached).describe()})"
        if rank < keep:
            return self._settled(Action.CONTINUE, reached, f"{summary}; top {keep} continue", ahead)
        return self._settled(
            Action.STOP, reached, f"{summary}; only the top {keep} continue", ahead
        )

    def _settled(
        self, action: Action, rung: int, reason: str, ahead: Forecast | None
    ) -> ReportDecision:
        """A report that settled ``rung``, with the prediction it carries in a curve study; a
        trial that continues is told the next rung's resource."""
        next_resource = self.levels[rung + 1] if action is Action.CONTINUE else None
        return ReportDecision(action, rung, next_resource, reason, *_predicted(ahead))

    def _pause(self, rung: int, ahead: Forecast | None) -> ReportDecision:
        """A promotion-type trial pauses at the rung it was sent to; a curve study's reason
        carries the prediction that will rank it (docs/curves.md)."""
        said = "" if ahead is None else f"{ahead.describe(self.levels[-1])}; "
        reason = (
            f"paused at rung {rung} ({self.levels[rung]:g}); {said}"
            f"continues once it ranks in the top 1/{self.eta:g}"
        )
        return self._settled(Action.PAUSE, rung, reason, ahead)

    def _stop_by_curve(self, state: StudyState, rung: int, ahead: Forecast) -> ReportDecision:
        """A stopping-type trial at a rung that ranks by predictions
        (:mod:`hpo.schedulers.curve_rule`): it goes on unless its curve all but rules it out."""
        keep = max(1, top_k(len(state.results_at(rung)) + 1, self.eta))
        chance = chance_to_stay(state, rung, keep, ahead)
        said = f"rung {rung}: {ahead.describe(self.levels[-1])}"
        if chance is None:
            return self._settled(Action.CONTINUE, rung, said, ahead)
        odds = f"P(beats the top {keep}) = {chance:.2f}"
        if chance >= STOP_PROBABILITY:
            return self._settled(Action.CONTINUE, rung, f"{said}; {odds}", ahead)
        return self._settled(Action.STOP, rung, f"{said}; {odds} < {STOP_PROBABILITY:g}", ahead)


def _predicted(forecast: Forecast | None) -> tuple[float | None, float | None]:
    """The report's stored prediction: value at r_max and its standard deviation."""
    if forecast is None:
        return None, None
    return forecast.predicted, forecast.prediction.sd


def reopened_by_extension(state: StudyState, old_top_rung: int) -> list[int]:
    """Trials that reached the old r_max, in number order: when r_max is raised they pause
    there, released, so the promotion rule continues the best of them (iterative deepening
    Hyperband, Brandt et al.). Trials a worker completed before r_max stay completed."""
    return [
        number
        for number, trial in sorted(state.trials.items())
        if trial.state is TrialState.COMPLETED and trial.rung == old_top_rung
    ]
