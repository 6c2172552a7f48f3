"""The study snapshot that schedulers and samplers decide from.

Schedulers and samplers are pure: they read a :class:`StudyState` and return a
decision, and never do I/O. The service builds the state from the trial store
(``hpo.service``) or updates a cached copy after each decision; the quality
simulator builds it in memory. Either way the decision functions see the same
thing.

Values are kept *signed* (``value * objective.sign``) so every comparison is a
minimisation. Each rung keeps its results sorted, per bracket and pooled over
brackets (results at one rung are at the same resource, so they compare across
brackets), and the trials that could be promoted from it (paused there and
released by their worker) in a second sorted list, so finding the best
promotion costs a bisection per rung however large the study grows. Change
trials only through the methods below, which keep those indexes right.

A *vector* study (several objectives, or constraints: :attr:`StudySpec.is_vector`) ranks a
rung by non-dominated sorting with crowding and feasibility (MO-ASHA,
:func:`hpo.pareto.rung_order`): one new result can move every other one, so its
rungs are re-ranked lazily, on the first read after a change, and a result's ``signed_value``
there is its position in the rung's order. The metrics themselves stay readable
(:meth:`StudyState.metrics`) for the samplers.

A study that decides by *curves* (docs/curves.md) keeps two keys per rung result, its value
and the value at r_max its curve predicted there, and ranks each rung by one of them
(:mod:`hpo.rung_basis`); a result's ``signed_value`` is the key its rung ranks by. A result
at a higher rung can change which key that is, and the rung is then rebuilt on its next read.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpo.outcomes import signed_objectives, violations
from hpo.pareto import rung_order
from hpo.priors.density import Prior
from hpo.priors.proposals import Proposal, study_prior
from hpo.priors.sources import PriorKind
from hpo.rung_basis import RungBasis, rung_basis
from hpo.space import Config
from hpo.spec import DecisionBasis, StudySpec
from hpo.vocabulary import Source, TrialState


@dataclass
class TrialSnapshot:
    """What a decision needs to know about one trial (read it; change it through StudyState)."""

    number: int
    config: Config
    state: TrialState
    bracket: int = 0
    # Highest rung reached (-1 before the first) and the rung it trains toward.
    rung: int = -1
    target_rung: int = 0
    last_resource: float | None = None
    source: str = Source.RANDOM
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
    # (bracket, rung) -> results, best first.
    rungs: dict[tuple[int, int], list[RungResult]] = field(default_factory=dict)
    # rung -> results of every bracket there, best first.
    _pooled: dict[int, list[RungResult]] = field(default_factory=dict)
    # rung -> results of the promotable trials paused there (any bracket), best first.
    _promotable: dict[int, list[RungResult]] = field(default_factory=dict)
    # number -> where the trial sits in _promotable, if it does.
    _promotable_at: dict[int, tuple[int, RungResult]] = field(default_factory=dict)
    # (number, rung) -> the trial's result at that rung.
    _results: dict[tuple[int, int], RungResult] = field(default_factory=dict)
    # Numbers of the trials held by a worker.
    _busy: set[int] = field(default_factory=set)
    # Numbers of the trials waiting to be resumed after their worker's lease expired.
    _pending: set[int] = field(default_factory=set)
    # number -> the trial's configuration in the unit cube, for the surrogate.
    _units: dict[int, np.ndarray] = field(default_factory=dict)
    _next_number: int = 0
    # Numbers of the trials with at least one rung result.
    _observed: set[int] = field(default_factory=set)
    # The study's proposals (hpo.priors.proposals), and the prior they and the spec make.
    proposals: list[Proposal] = field(default_factory=list)
    prior: Prior | None = None
    # Indexes of the spec's LLM priors whose exchange is stored (answered, replayed or failed).
    llm_answered: frozenset[int] = frozenset()
    # Figures derived from the results (rank correlations between rungs), kept until the next.
    _derived: dict[Hashable, Any] = field(default_factory=dict)
    # (number, rung) -> the metrics of the trial's report there, for reports that had several.
    _metrics: dict[tuple[int, int], Mapping[str, float]] = field(default_factory=dict)
    # Vector studies: rung -> trial numbers with a result there, and the rungs to re-rank.
    _members: dict[int, list[int]] = field(default_factory=dict)
    _stale: set[int] = field(default_factory=set)
    # Studies that decide by curves: number -> the trial's reports as (resource, signed value);
    # rung -> number -> the signed value there, and the signed prediction made there.
    _curves: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    _values: dict[int, dict[int, float]] = field(default_factory=dict)
    _predicted: dict[int, dict[int, float]] = field(default_factory=dict)
    # rung -> whether its indexes were last built ranking by predictions.
    _ranked_by_curve: dict[int, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.prior = study_prior(self.spec, self.proposals)

    @property
    def n_trials(self) -> int:
        return len(self.trials)

    @property
    def next_number(self) -> int:
        return self._next_number

    def rung_results(self, bracket: int, rung: int) -> list[RungResult]:
        self._settle(rung)
        return self.rungs.get((bracket, rung), [])

    def results_at(self, rung: int) -> list[RungResult]:
        """The results at ``rung`` in every bracket, best first."""
        self._settle(rung)
        return self._pooled.get(rung, [])

    def result(self, number: int, rung: int) -> RungResult | None:
        """Trial ``number``'s result at ``rung``, if it reached it."""
        self._settle(rung)
        return self._results.get((number, rung))

    def all_results(self) -> Iterator[tuple[int, RungResult]]:
        """Every rung result as ``(rung, result)``, in the order they were recorded."""
        for rung in {*self._stale, *self._ranked_by_curve}:
            self._settle(rung)
        for (_, rung), result in self._results.items():
            yield rung, result

    def curve(self, number: int) -> list[tuple[float, float]]:
        """Trial ``number``'s reports so far as (resource, signed value), lowest resource
        first; kept only for studies that decide by curves (docs/curves.md)."""
        return self._curves.get(number, [])

    def metrics(self, number: int, rung: int) -> Mapping[str, float] | None:
        """The metrics of trial ``number``'s report at ``rung``, if it carried several."""
        return self._metrics.get((number, rung))

    def rank_new(
        self, rung: int, number: int, value: float, metrics: Mapping[str, float] | None
    ) -> int:
        """The 0-based rank a result not recorded yet would take at ``rung``."""
        if not self.spec.is_vector:
            return self.rank(rung, RungResult(value * self.spec.objective.sign, number))
        members = [*self._members.get(rung, []), number]
        outcomes = [*(self._metrics[(member, rung)] for member in members[:-1]), metrics or {}]
        order = self._order(outcomes, members)
        return int(np.flatnonzero(order == len(members) - 1)[0])

    @property
    def n_results(self) -> int:
        return len(self._results)

    def unit(self, number: int) -> np.ndarray:
        """Trial ``number``'s configuration in the unit cube (encoded once, then cached)."""
        unit = self._units.get(number)
        if unit is None:
            unit = self._units[number] = self.spec.space.to_unit(self.trials[number].config)
        return unit

    def busy_trials(self) -> list[TrialSnapshot]:
        """Trials held by a worker: running, or paused and not yet released."""
        return [self.trials[number] for number in sorted(self._busy)]

    def best_promotable(self, rung: int) -> RungResult | None:
        """The best result at ``rung`` (any bracket) whose trial could be promoted now."""
        self._settle(rung)
        candidates = self._promotable.get(rung)
        return candidates[0] if candidates else None

    def rank(self, rung: int, result: RungResult) -> int:
        """0-based rank of ``result`` among the results at ``rung`` of every bracket."""
        return bisect.bisect_left(self.results_at(rung), result)

    def any_busy(self) -> bool:
        return bool(self._busy)

    def first_pending(self) -> int | None:
        """The lowest-numbered trial waiting to be resumed after a lost lease, if any."""
        return min(self._pending, default=None)

    @property
    def llm_pending(self) -> bool:
        """Whether an LLM prior of the spec has no stored exchange yet."""
        return any(
            source.kind is PriorKind.LLM and index not in self.llm_answered
            for index, source in enumerate(self.spec.priors)
        )

    def next_queued(self) -> Proposal | None:
        """The first proposal still waiting to run first, if any."""
        return next((proposal for proposal in self.proposals if proposal.queued), None)

    @property
    def n_observed_trials(self) -> int:
        """Trials with at least one rung result (πBO's count of observations)."""
        return len(self._observed)

    def derived(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()``, a figure that depends only on the results, computed once per set of
        results: decisions ask for the same rank correlations on every suggestion."""
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    # ------------------------------------------------------------ changes

    def set_proposals(self, proposals: list[Proposal]) -> None:
        """Replace the proposals (new ones arrived) and rebuild the prior from them."""
        self.proposals = sorted(proposals, key=lambda proposal: proposal.position)
        self.prior = study_prior(self.spec, self.proposals)

    def add_trial(self, trial: TrialSnapshot) -> None:
        self.trials[trial.number] = trial
        self._next_number = max(self._next_number, trial.number + 1)
        self._reindex(trial)

    def record_point(self, number: int, resource: float, value: float) -> None:
        """Add a report (``value`` unsigned) to trial ``number``'s curve, if the study decides
        by curves. A trial resumed from an earlier checkpoint reports again from there: the
        points it trains again replace the old ones."""
        if self.spec.decision is not DecisionBasis.CURVE:
            return
        points = self._curves.setdefault(number, [])
        while points and points[-1][0] >= resource:
            points.pop()
        points.append((resource, value * self.spec.objective.sign))

    def record_rung(
        self,
        number: int,
        rung: int,
        value: float,
        metrics: Mapping[str, float] | None = None,
        predicted: float | None = None,
    ) -> None:
        """Record ``value`` (unsigned; the primary objective) and the report's ``metrics`` as
        trial ``number``'s result at ``rung``. In a study that decides by curves,
        ``predicted`` (the value at r_max its curve predicted then) ranks it instead."""
        trial = self.trials[number]
        self._observed.add(number)
        self._derived.clear()
        if metrics:
            self._metrics[(number, rung)] = metrics
        if self.spec.is_vector:
            # Ranked on the next read of the rung (_settle); until then it sorts last.
            self._members.setdefault(rung, []).append(number)
            self._stale.add(rung)
            result = RungResult(math.inf, number)
        else:
            if self.spec.decision is DecisionBasis.CURVE:
                value = self._curve_key(number, rung, value, predicted)
            result = RungResult(value * self.spec.objective.sign, number)
            bisect.insort(self.rungs.setdefault((trial.bracket, rung), []), result)
            bisect.insort(self._pooled.setdefault(rung, []), result)
        self._results[(number, rung)] = result
        trial.rung = max(trial.rung, rung)
        self._reindex(trial)

    def _curve_key(self, number: int, rung: int, value: float, predicted: float | None) -> float:
        """Keep both keys of a curve study's result at ``rung``; return the one the rung ranks
        by now (unsigned). A rung whose basis later flips is rebuilt on its next read."""
        sign = self.spec.objective.sign
        guess = value if predicted is None else predicted
        self._values.setdefault(rung, {})[number] = value * sign
        self._predicted.setdefault(rung, {})[number] = guess * sign
        self._members.setdefault(rung, []).append(number)
        by_curve = self._ranked_by_curve.setdefault(rung, self.basis(rung).by_curve)
        return guess if by_curve else value

    def basis(self, rung: int) -> RungBasis:
        """Which key ranks ``rung`` of a study that decides by curves, and why."""
        return self.derived(
            ("basis", rung),
            lambda: rung_basis(rung, self._top_rung(), self._values, self._predicted.get(rung, {})),
        )

    def _top_rung(self) -> int:
        """The rung of r_max."""
        # Imported here: hpo.schedulers imports this module.
        from hpo.schedulers.rungs import rung_levels

        return len(rung_levels(self.spec.resource)) - 1

    def _order(self, outcomes: list[Mapping[str, float]], numbers: list[int]) -> np.ndarray:
        """The MO-ASHA order of results with ``outcomes`` (metrics) of trials ``numbers``."""
        spec = self.spec
        objectives = np.array([signed_objectives(spec.objectives, m) for m in outcomes])
        return rung_order(objectives, violations(spec.constraints, outcomes), np.array(numbers))

    def _ranked(self, rung: int) -> list[RungResult]:
        """``rung``'s results, best first: a vector study's by MO-ASHA (each signed value its
        position), a curve study's by the key its basis picks (each signed value that key)."""
        members = self._members[rung]
        if self.spec.decision is DecisionBasis.CURVE:
            by_curve = self._ranked_by_curve[rung] = self.basis(rung).by_curve
            keys = self._predicted[rung] if by_curve else self._values[rung]
            ordered = sorted(members, key=lambda number: (keys[number], number))
            return [RungResult(keys[number], number) for number in ordered]
        order = self._order([self._metrics[(number, rung)] for number in members], members)
        return [RungResult(float(position), members[index]) for position, index in enumerate(order)]

    def _settle(self, rung: int) -> None:
        """Re-rank a lazily ranked study's ``rung`` after new results there (or, in a curve
        study, after results elsewhere changed the key it ranks by), and rebuild the rung's
        indexes."""
        if (
            rung in self._ranked_by_curve
            and self.basis(rung).by_curve != self._ranked_by_curve[rung]
        ):
            self._stale.add(rung)
        if rung not in self._stale:
            return
        self._stale.discard(rung)
        pooled = self._ranked(rung)
        self._pooled[rung] = pooled
        for key in [key for key in self.rungs if key[1] == rung]:
            del self.rungs[key]
        promotable = []
        for result in pooled:
            self._results[(result.number, rung)] = result
            trial = self.trials[result.number]
            self.rungs.setdefault((trial.bracket, rung), []).append(result)
            if trial.promotable and trial.rung == rung:
                promotable.append(result)
                self._promotable_at[result.number] = (rung, result)
        self._promotable[rung] = promotable

    def set_state(self, number: int, state: TrialState) -> None:
        trial = self.trials[number]
        trial.state = state
        self._reindex(trial)

    def assign(self, number: int, worker_id: str, target_rung: int) -> None:
        """Trial ``number`` runs again, on ``worker_id``, toward ``target_rung``."""
        trial = self.trials[number]
        trial.state, trial.worker_id, trial.target_rung = TrialState.RUNNING, worker_id, target_rung
        self._reindex(trial)

    def requeue(self, number: int) -> None:
        """Trial ``number`` lost its worker's lease: it waits for another worker."""
        trial = self.trials[number]
        trial.state, trial.worker_id = TrialState.PENDING, None
        self._reindex(trial)

    def release(self, number: int) -> None:
        """The worker lets go of paused trial ``number``; from now on it can be promoted."""
        trial = self.trials[number]
        trial.worker_id = None
        self._reindex(trial)

    def _reindex(self, trial: TrialSnapshot) -> None:
        if trial.busy:
            self._busy.add(trial.number)
        else:
            self._busy.discard(trial.number)
        if trial.state is TrialState.PENDING:
            self._pending.add(trial.number)
        else:
            self._pending.discard(trial.number)
        # A stale rung's promotable list is rebuilt whole when it is next read (_settle).
        previous = self._promotable_at.pop(trial.number, None)
        if previous is not None and previous[0] not in self._stale:
            key, result = previous
            candidates = self._promotable[key]
            del candidates[bisect.bisect_left(candidates, result)]
        result = self._results.get((trial.number, trial.rung))
        if trial.promotable and result is not None and trial.rung not in self._stale:
            bisect.insort(self._promotable.setdefault(trial.rung, []), result)
            self._promotable_at[trial.number] = (trial.rung, result)
