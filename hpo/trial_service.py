"""A trial's life on the coordinator: Suggest, Report, Complete and Fail (leases and
heartbeats: :mod:`hpo.lease_service`).

Each call checks its request, asks the pure scheduler for a decision on its study's turn
(:class:`hpo.decider.StudyDecider`), turns it into effects (:mod:`hpo.engine`) and writes them
through the store (:mod:`hpo.study_store`), all in one transaction that commits before the
answer leaves. :class:`hpo.service.StudyService` is the face the coordinator and programs call.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from hpo import engine
from hpo.algorithms import make_sampler, uses_model
from hpo.decider import Deciding, StudyDecider
from hpo.errors import (
    CallerGoneError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from hpo.leases import HEARTBEATS_PER_LEASE
from hpo.outcomes import RESOURCE_METRIC, WALL_TIME_METRIC, CostSource, outcome_of
from hpo.records import TrialRecord
from hpo.request_ids import DecisionScope, earlier_decision, earlier_report
from hpo.samplers import ModelSource
from hpo.schedulers import NewTrial, Promote, Resume, StudyFinished
from hpo.state import StudyState, TrialSnapshot
from hpo.study_store import NewReport, StudyStore
from hpo.study_store import NewTrial as NewTrialRow
from hpo.trial_changes import (
    WorkerSightings,
    check_id,
    clean_reason,
    finish,
    release,
    state_change,
)
from hpo.vocabulary import Action, DecisionKind, StudyStatus, TrialState

# Bookkeeping that need not cost a write on every call: a worker's last_seen
# is refreshed at most this often by Suggest (heartbeats always refresh it).
WORKER_SEEN_INTERVAL = timedelta(seconds=10)
# How often a suggestion re-checks, after a fit run outside its transaction, that no newer
# result made another fit due; past that, the transaction's sampler fits (rare: it takes
# results landing faster than fits end, from other coordinators).
FIT_RECHECKS = 3


@dataclass(frozen=True)
class Assignment:
    """Train ``trial`` from ``resume_from`` to ``resource``."""

    study_name: str
    trial: TrialRecord
    resource: float
    resume_from: float
    r_max: float
    heartbeat_seconds: float


@dataclass(frozen=True)
class Wait:
    retry_after_seconds: float


@dataclass(frozen=True)
class Finished:
    pass


@dataclass(frozen=True)
class ReportOutcome:
    should_continue: bool
    next_resource: float | None
    trial_state: TrialState
    reason: str


class TrialKeys:
    """Where each trial id belongs, (study id, number), for the calls that name only a trial
    id (Report, Complete, Fail). Trials never move, so an id is asked of the store once, or
    learnt as its trial is handed out, which saves every new trial's first report a read."""

    def __init__(self, store: StudyStore, size: int = 65536) -> None:
        self._store = store
        self._size = size
        self._keys: OrderedDict[int, tuple[int, int]] = OrderedDict()
        self._guard = threading.Lock()

    def __call__(self, trial_id: int) -> tuple[int, int]:
        with self._guard:
            key = self._keys.get(trial_id)
            if key is not None:
                self._keys.move_to_end(trial_id)
                return key
        key = self._store.trial_key(trial_id)
        if key is None:
            raise NotFoundError(f"trial {trial_id} does not exist")
        self.learn(trial_id, key)
        return key

    def learn(self, trial_id: int, key: tuple[int, int]) -> None:
        """Remember a committed trial's key (the least recently used goes past ``size``)."""
        with self._guard:
            self._keys[trial_id] = key
            self._keys.move_to_end(trial_id)
            if len(self._keys) > self._size:
                self._keys.popitem(last=False)


def _check_finite(field_name: str, value: float) -> float:
    if not math.isfinite(value):
        raise InvalidArgumentError(field_name, f"must be a finite number, got {value}")
    return value


class TrialService:
    """The calls of workers (and of programs that train trials themselves)."""

    def __init__(
        self,
        store: StudyStore,
        decider: StudyDecider,
        models: ModelSource,
        clock: Callable[[], datetime],
        *,
        lease_seconds: float,
        retry_after_seconds: float,
        warming_up: Callable[[Deciding], bool],
        sightings: WorkerSightings,
    ) -> None:
        self.store = store
        self.decider = decider
        self.models = models
        self.now = clock
        self.lease = timedelta(seconds=lease_seconds)
        self.retry_after_seconds = retry_after_seconds
        # Whether a study's LLM priors still wait for their answer (hpo.service starts them).
        self._warming_up = warming_up
        self.sightings = sightings
        self.trial_key = TrialKeys(store)

    @property
    def heartbeat_seconds(self) -> float:
        return self.lease.total_seconds() / HEARTBEATS_PER_LEASE

    # ------------------------------------------------------------ suggest

    def suggest(
        self,
        study_id: int,
        worker_id: str,
        request_id: str = "",
        caller_waiting: Callable[[], bool] = lambda: True,
    ) -> Assignment | Wait | Finished:
        """The next assignment for ``worker_id``. ``caller_waiting`` says whether the caller
        still waits for the answer (the gRPC context is active): once this call has its turn on
        the study, it decides nothing for a caller that gave up, so no assignment is committed
        that nobody would train."""
        check_id("worker_id", worker_id, required=True)
        check_id("request_id", request_id, required=False)
        for attempt in range(1, FIT_RECHECKS + 1):
            self._fit_outside_transactions(study_id)
            with self.decider.decide(study_id, self.now()) as tx:
                if attempt < FIT_RECHECKS and self._waits_for_fit(tx.state):
                    continue  # newer results made a fit due: run it outside, then decide
                if not caller_waiting():
                    raise CallerGoneError("the caller gave up before its turn on the study")
                answer = self._suggest(tx, worker_id, request_id)
            # Committed: the worker's reports will name this trial id.
            if isinstance(answer, Assignment):
                self.trial_key.learn(answer.trial.id, (study_id, answer.trial.number))
            return answer
        raise AssertionError("the last attempt always decides")

    def _suggest(
        self, tx: Deciding, worker_id: str, request_id: str
    ) -> Assignment | Wait | Finished:
        scope = DecisionScope(DecisionKind.ASSIGNMENTS, tx.study_id, worker_id=worker_id)
        earlier = earlier_decision(tx.store, request_id, scope)
        if earlier is not None and earlier.trial_id is not None:
            # A retry: the assignment its first call made.
            return self._assignment(tx, tx.trial(self.trial_key(earlier.trial_id)[1]))
        self.sightings.record(tx.store, worker_id, tx.now, WORKER_SEEN_INTERVAL)
        if tx.status in (StudyStatus.FINISHED, StudyStatus.STOPPED):
            return Finished()
        if self._warming_up(tx):
            return Wait(self.retry_after_seconds)
        job = tx.scheduler.next_job(tx.state)
        if isinstance(job, NewTrial):
            (trial, target_rung), kind = self._start_trial(tx, job, worker_id), DecisionKind.NEW
        elif isinstance(job, Promote | Resume):
            assigned = engine.reassignment(job, worker_id)
            (trial, target_rung), kind = self._reassign(tx, assigned), assigned.kind
        elif isinstance(job, StudyFinished):
            tx.status = StudyStatus.FINISHED
            tx.log(
                DecisionKind.FINISH, None, reason="trial budget spent; no trial held or promotable"
            )
            return Finished()
        else:
            return Wait(self.retry_after_seconds)
        tx.log(
            kind,
            trial.id,
            rung=target_rung,
            resource=trial.target_resource,
            worker_id=worker_id,
            request_id=request_id or None,
        )
        return self._assignment(tx, trial)

    def _waits_for_fit(self, state: StudyState) -> bool:
        return uses_model(state.spec) and self.models.waits_for_fit(state)

    def _fit_outside_transactions(self, study_id: int) -> None:
        """Run a fit that the next suggestion would wait for (a deterministic study's, or any
        with inline models), holding the study's lock but no store transaction: a fit in
        the write transaction locked the whole SQLite store for its duration (issue 15)."""
        cached = self.decider.cached(study_id)
        if cached is not None and not self._waits_for_fit(cached):
            # A hint read without the lock (no model, background fits, or no fit due): the
            # common case takes no lock twice. A fit that became due since is found below
            # or by the transaction's re-check.
            return
        with self.decider.turn(study_id):
            state = self.decider.state(study_id)
            if self._waits_for_fit(state):
                self.models.fit_due(state)

    def _start_trial(self, tx: Deciding, job: NewTrial, worker_id: str) -> tuple[TrialRecord, int]:
        """A new trial (and the rung it trains toward)."""
        sampler = make_sampler(tx.state.spec, self.models)
        started = engine.new_trial(tx.state, tx.scheduler, sampler, job, worker_id)
        trial = tx.store.insert_trial(
            NewTrialRow(
                study_id=tx.study_id,
                number=started.number,
                config=started.config,
                bracket=started.bracket,
                target_rung=started.target_rung,
                target_resource=tx.scheduler.levels[started.target_rung],
                source=started.source,
                worker_id=worker_id,
                lease_expires_at=tx.now + self.lease,
                created_at=tx.now,
            )
        )
        tx.changed = True
        if started.proposal is not None:
            tx.store.link_proposal(started.proposal.id, trial.id)
        tx.effects.append(started)
        return trial, started.target_rung

    def _reassign(self, tx: Deciding, assigned: engine.TrialAssigned) -> tuple[TrialRecord, int]:
        """Hand out a trial that exists already: promoted to its next rung, or resumed toward
        the rung it trained to when its previous worker's lease expired."""
        trial = tx.update(
            tx.trial(assigned.number),
            state=TrialState.RUNNING.value,
            target_rung=assigned.target_rung,
            target_resource=tx.scheduler.levels[assigned.target_rung],
            worker_id=assigned.worker_id,
            lease_expires_at=tx.now + self.lease,
        )
        tx.effects.append(assigned)
        return trial, assigned.target_rung

    def _assignment(self, tx: Deciding, trial: TrialRecord) -> Assignment:
        return Assignment(
            study_name=tx.study_name,
            trial=trial,
            resource=trial.target_resource,
            resume_from=trial.last_resource or 0.0,
            r_max=tx.state.spec.resource.r_max,
            heartbeat_seconds=self.heartbeat_seconds,
        )

    # ------------------------------------------------------------ report

    def report(
        self,
        trial_id: int,
        resource: float,
        value: float | None,
        request_id: str,
        worker_id: str,
        metrics: Mapping[str, float] | None = None,
    ) -> ReportOutcome:
        """Record a result: ``value`` (a study with one objective and no further metric) or
        ``metrics`` (every metric of the study, by name), checked before anything is written."""
        _check_finite("resource", resource)
        if value is not None:
            _check_finite("value", value)
        check_id("request_id", request_id, required=True)
        check_id("worker_id", worker_id, required=True)
        study_id, number = self.trial_key(trial_id)
        with self.decider.decide(study_id, self.now()) as tx:
            spec = tx.state.spec
            outcome = outcome_of(spec.objectives, spec.reported_metrics, value, metrics)
            value = outcome.value
            earlier = earlier_report(tx.store, request_id, trial_id, resource, value, worker_id)
            if earlier is not None:
                action = Action(earlier.action)
                return ReportOutcome(
                    should_continue=action is Action.CONTINUE,
                    next_resource=earlier.next_resource,
                    trial_state=tx.state.trials[number].state,
                    reason=f"duplicate of an accepted report ({action.value})",
                )
            snapshot = self._held_trial(tx, trial_id, number, worker_id)
            limits = tx.state.spec.resource
            if not limits.contains(resource):
                raise InvalidArgumentError(
                    "resource", f"{resource} is outside [{limits.r_min:g}, {limits.r_max:g}]"
                )
            if snapshot.last_resource is not None and resource <= snapshot.last_resource:
                raise FailedPreconditionError(
                    f"resource must grow: trial {number} "
                    f"already reported at {snapshot.last_resource:g}"
                )
            reported = dict(outcome.metrics)
            if spec.cost is not None and spec.cost.source is CostSource.WALL_TIME:
                reported[WALL_TIME_METRIC] = self._wall_time(tx, number)
            elif spec.cost is not None and spec.cost.source is CostSource.RESOURCE:
                reported[RESOURCE_METRIC] = resource
            decision = tx.scheduler.on_report(tx.state, number, resource, value, reported or None)
            if tx.status == StudyStatus.STOPPED and decision.action in (
                Action.CONTINUE,
                Action.PAUSE,
            ):
                decision = dataclasses.replace(
                    decision, action=Action.STOP, next_resource=None, reason="the study was stopped"
                )
            tx.store.insert_report(
                NewReport(
                    study_id=study_id,
                    trial_id=trial_id,
                    resource=resource,
                    value=value,
                    rung=decision.rung,
                    action=decision.action.value,
                    next_resource=decision.next_resource,
                    request_id=request_id,
                    worker_id=worker_id,
                    created_at=tx.now,
                    metrics=reported or None,
                    predicted=decision.predicted,
                    predicted_sd=decision.predicted_sd,
                )
            )
            changes: dict[str, object] = {
                "last_resource": resource,
                "last_value": value,
                "lease_expires_at": tx.now + self.lease,
            }
            if reported:
                changes["last_metrics"] = reported
            effects = engine.report_effects(decision, number, resource, value, reported or None)
            if decision.rung is not None:
                changes["rung"] = decision.rung
                tx.log(
                    decision.action.value,
                    trial_id,
                    rung=decision.rung,
                    resource=resource,
                    worker_id=worker_id,
                    reason=decision.reason,
                )
            tx.effects.append(effects[0])
            for effect in effects[1:]:
                changes.update(state_change(tx, effect))
            tx.write_trial(trial_id, **changes)
            return ReportOutcome(
                should_continue=decision.action is Action.CONTINUE,
                next_resource=decision.next_resource,
                trial_state=engine.state_after(tx.state, number, effects),
                reason=decision.reason,
            )

    @staticmethod
    def _wall_time(tx: Deciding, number: int) -> float:
        """Trial ``number``'s wall time so far, in seconds: what it had at its last report, plus
        the time since the trial row last changed (its assignment or its last report: leases
        are renewed without touching it)."""
        trial = tx.trial(number)
        since = max(0.0, (tx.now - trial.updated_at).total_seconds())
        return trial.last_metrics.get(WALL_TIME_METRIC, 0.0) + since

    # ------------------------------------------------------------ complete / fail

    def complete(self, trial_id: int, worker_id: str, request_id: str = "") -> TrialRecord:
        """The worker finished its assignment: a running trial becomes completed, a paused one
        is released for promotion, and a stopped or completed one stays as it is."""
        check_id("worker_id", worker_id, required=True)
        check_id("request_id", request_id, required=False)
        study_id, number = self.trial_key(trial_id)
        with self.decider.decide(study_id, self.now()) as tx:
            trial = tx.trial(number)
            scope = DecisionScope(
                frozenset({DecisionKind.COMPLETE, DecisionKind.RELEASE}),
                trial_id=trial_id,
                worker_id=worker_id,
            )
            if earlier_decision(tx.store, request_id, scope) is not None:
                return trial
            snapshot = tx.state.trials[number]
            if snapshot.state is TrialState.FAILED:
                raise FailedPreconditionError(f"trial {number} has failed; it cannot complete")
            if not snapshot.busy:
                return trial
            self._held_trial(tx, trial_id, number, worker_id, allow_paused=True)
            done = engine.assignment_done(tx.state, number)
            if isinstance(done, engine.StateChanged):
                return finish(tx, trial, done, None, worker_id, request_id)
            return release(tx, trial, "released by its worker", worker_id, request_id)

    def fail(self, trial_id: int, reason: str, worker_id: str, request_id: str = "") -> TrialRecord:
        """Mark a trial the worker holds as failed; failing a failed trial changes nothing."""
        check_id("worker_id", worker_id, required=True)
        check_id("request_id", request_id, required=False)
        study_id, number = self.trial_key(trial_id)
        with self.decider.decide(study_id, self.now()) as tx:
            trial = tx.trial(number)
            reason = clean_reason(reason, "failed")
            scope = DecisionScope(
                frozenset({DecisionKind.FAIL}),
                trial_id=trial_id,
                worker_id=worker_id,
                reason=reason,
            )
            replay = earlier_decision(tx.store, request_id, scope) is not None
            if replay or tx.state.trials[number].state is TrialState.FAILED:
                return trial
            self._held_trial(tx, trial_id, number, worker_id, allow_paused=True)
            failed = engine.StateChanged(number, TrialState.FAILED)
            return finish(tx, trial, failed, reason, worker_id, request_id)

    def _held_trial(
        self,
        tx: Deciding,
        trial_id: int,
        number: int,
        worker_id: str,
        allow_paused: bool = False,
    ) -> TrialSnapshot:
        """Trial ``number``, checked to be running (or paused and not yet released, with
        ``allow_paused``) and held by ``worker_id`` under a lease that has not expired: a
        worker that lost its lease writes nothing more. Callers require ``worker_id``, so no
        caller can skip this check by leaving it out."""
        snapshot = tx.state.trials[number]
        held = snapshot.state is TrialState.RUNNING or (allow_paused and snapshot.busy)
        if not held:
            raise FailedPreconditionError(
                f"trial {number} is {snapshot.state.value}; only a running trial accepts this"
            )
        if snapshot.worker_id != worker_id:
            raise FailedPreconditionError(
                f"trial {number} is held by worker {snapshot.worker_id!r}, not {worker_id!r}"
            )
        lease = tx.store.lease_of(trial_id)
        if lease is not None and lease < tx.now:
            raise FailedPreconditionError(
                f"trial {number}: the lease of worker {worker_id!r} expired at "
                f"{lease.isoformat(timespec='seconds')}; the trial goes to another worker"
            )
        return snapshot
