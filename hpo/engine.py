"""What a decision changes in a study, as data, and the one place a study's state takes it.

A scheduler decides (:mod:`hpo.schedulers`): hand out a new trial, promote or resume one,
settle a report. The functions here turn a decision into its *effects*: a trial started,
assigned again, a result recorded, a trial's state changed, a paused trial released, a
trial requeued after a lost lease, a proposal queued. They are pure: they read the state
and return effects, and :func:`apply` is the only code that changes a
:class:`hpo.state.StudyState` for them.

The service (:mod:`hpo.service`) persists each effect in its decision transaction and
applies them to its cached state only after that transaction committed, so a failed
transaction leaves the cache as the store is. The in-memory study (:mod:`hpo.local`) applies
them at once. Both take the same decisions through the same functions, so the two cannot
drift apart (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hpo.priors.proposals import Proposal
from hpo.samplers import Sampler, next_configuration
from hpo.schedulers import (
    NewTrial,
    Promote,
    ReportDecision,
    Resume,
    Scheduler,
)
from hpo.space import Config
from hpo.state import StudyState, TrialSnapshot
from hpo.vocabulary import FINAL_STATES, STATE_AFTER, DecisionKind, TrialState


@dataclass(frozen=True)
class TrialStarted:
    """A new trial, handed to ``worker_id``; ``proposal`` is the queued proposal it runs."""

    number: int
    config: Config
    bracket: int
    target_rung: int
    source: str
    worker_id: str
    proposal: Proposal | None = None


@dataclass(frozen=True)
class TrialAssigned:
    """An existing trial handed out again: promoted, or resumed after a lost lease."""

    number: int
    worker_id: str
    target_rung: int
    kind: str  # DecisionKind.PROMOTE or DecisionKind.RESUME


@dataclass(frozen=True)
class ResultRecorded:
    """A report: the trial trained to ``resource``; at a rung (``rung`` not None) its
    ``value`` ranks it there."""

    number: int
    resource: float
    value: float
    rung: int | None
    # Every metric of the report (None for a one-value report).
    metrics: Mapping[str, float] | None = None
    # Curve decisions at a rung: the predicted value at r_max that ranks it there.
    predicted: float | None = None


@dataclass(frozen=True)
class StateChanged:
    """The trial moves to ``state`` (paused, stopped, completed or failed)."""

    number: int
    state: TrialState

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True)
class Released:
    """The worker of a paused trial lets go of it: from now on it can be promoted."""

    number: int


@dataclass(frozen=True)
class Requeued:
    """The trial's worker lost its lease: the trial waits for another worker."""

    number: int


@dataclass(frozen=True)
class ProposalQueued:
    """A configuration queued to run before any other new one."""

    proposal: Proposal


Effect = (
    TrialStarted
    | TrialAssigned
    | ResultRecorded
    | StateChanged
    | Released
    | Requeued
    | ProposalQueued
)


# ---------------------------------------------------------------- decisions to effects


def new_trial(
    state: StudyState, scheduler: Scheduler, sampler: Sampler, job: NewTrial, worker_id: str
) -> TrialStarted:
    """The new trial ``job`` asks for: a queued proposal first, else ``sampler``'s choice."""
    number = state.next_number
    new = next_configuration(state, sampler, number, job.bracket, scheduler.top_rung)
    return TrialStarted(
        number=number,
        config=new.config,
        bracket=new.bracket,
        target_rung=scheduler.first_target_rung(new.bracket),
        source=new.source,
        worker_id=worker_id,
        proposal=new.proposal,
    )


def reassignment(job: Promote | Resume, worker_id: str) -> TrialAssigned:
    """A promoted or resumed trial, handed to ``worker_id``."""
    kind = DecisionKind.PROMOTE if isinstance(job, Promote) else DecisionKind.RESUME
    return TrialAssigned(job.number, worker_id, job.to_rung, kind)


def report_effects(
    decision: ReportDecision,
    number: int,
    resource: float,
    value: float,
    metrics: Mapping[str, float] | None = None,
) -> list[Effect]:
    """A settled report: its result, and the state it leaves the trial in (a trial told to
    continue stays running)."""
    effects: list[Effect] = [
        ResultRecorded(number, resource, value, decision.rung, metrics, decision.predicted)
    ]
    next_state = STATE_AFTER.get(decision.action)
    if next_state is not None:
        effects.append(StateChanged(number, next_state))
    return effects


def state_after(state: StudyState, number: int, effects: Iterable[Effect]) -> TrialState:
    """Trial ``number``'s state once ``effects`` are applied."""
    current = state.trials[number].state
    for effect in effects:
        if isinstance(effect, StateChanged) and effect.number == number:
            current = effect.state
        elif isinstance(effect, TrialAssigned) and effect.number == number:
            current = TrialState.RUNNING
        elif isinstance(effect, Requeued) and effect.number == number:
            current = TrialState.PENDING
    return current


def assignment_done(state: StudyState, number: int) -> StateChanged | Released | None:
    """The worker finished its assignment: a running trial completes, a paused one it still
    holds is released for promotion, and anything else stays as it is."""
    trial = state.trials[number]
    if trial.state is TrialState.RUNNING:
        return StateChanged(number, TrialState.COMPLETED)
    if trial.busy:
        return Released(number)
    return None


def lease_lost(state: StudyState, number: int, retries: int, max_retries: int) -> Effect:
    """Trial ``number``'s worker lost its lease (``retries`` earlier losses): a paused trial
    is released for promotion, a running one waits for another worker, or fails once it has
    used up ``max_retries``."""
    if state.trials[number].state is TrialState.PAUSED:
        return Released(number)
    if retries < max_retries:
        return Requeued(number)
    return StateChanged(number, TrialState.FAILED)


def reopened(numbers: Iterable[int]) -> list[Effect]:
    """r_max was raised: the trials ``numbers`` completed at the old top
    (:func:`hpo.schedulers.reopened_by_extension`) pause there, released, so the promotion
    rule continues the best of them."""
    effects: list[Effect] = []
    for number in numbers:
        effects += [StateChanged(number, TrialState.PAUSED), Released(number)]
    return effects


def study_stopped(state: StudyState) -> list[StateChanged]:
    """An admin stopped the study: trials waiting for a worker stop now (running ones are
    told to stop at their next report)."""
    return [
        StateChanged(number, TrialState.STOPPED)
        for number, trial in sorted(state.trials.items())
        if trial.state is TrialState.PENDING
    ]


# ---------------------------------------------------------------- effects to state


def apply(state: StudyState, effects: Iterable[Effect]) -> None:
    """Change ``state`` by ``effects``, in order: the only place a decision changes it."""
    for effect in effects:
        _apply(state, effect)


def _apply(state: StudyState, effect: Effect) -> None:
    if isinstance(effect, TrialStarted):
        if effect.proposal is not None:
            effect.proposal.trial_number = effect.number
        state.add_trial(
            TrialSnapshot(
                number=effect.number,
                config=effect.config,
                state=TrialState.RUNNING,
                bracket=effect.bracket,
                target_rung=effect.target_rung,
                source=effect.source,
                worker_id=effect.worker_id,
            )
        )
    elif isinstance(effect, TrialAssigned):
        state.assign(effect.number, effect.worker_id, effect.target_rung)
    elif isinstance(effect, ResultRecorded):
        state.trials[effect.number].last_resource = effect.resource
        state.record_point(effect.number, effect.resource, effect.value)
        if effect.rung is not None:
            state.record_rung(
                effect.number, effect.rung, effect.value, effect.metrics, effect.predicted
            )
    elif isinstance(effect, StateChanged):
        state.set_state(effect.number, effect.state)
    elif isinstance(effect, Released):
        state.release(effect.number)
    elif isinstance(effect, Requeued):
        state.requeue(effect.number)
    else:
        state.set_proposals([*state.proposals, effect.proposal])
