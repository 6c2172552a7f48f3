"""Leases: how long a worker holds a trial without a word, renewed by its heartbeats.

A worker that stops heartbeating loses its trial when the lease runs out: a paused trial is
released for promotion, a running one goes back to pending for another worker, or fails once
it has used up its retries (docs/reliability.md). The coordinator's sweeper
(:mod:`hpo.coordinator.leases`) calls :meth:`LeaseService.expire_leases`; a program that uses
the service in-process calls it itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hpo import engine
from hpo.decider import Deciding, StudyDecider
from hpo.errors import InvalidArgumentError, NotFoundError
from hpo.study_store import StoreTransaction, StudyStore
from hpo.trial_changes import WorkerSightings, check_id, finish, release
from hpo.vocabulary import DecisionKind, TrialState

MAX_HEARTBEAT_TRIALS = 1024


@dataclass(frozen=True)
class LeaseStatus:
    trial_id: int
    active: bool
    expires_at: datetime | None


class LeaseService:
    """Heartbeats, expired leases and the renewal of every lease at a coordinator's start."""

    def __init__(
        self,
        store: StudyStore,
        decider: StudyDecider,
        clock: Callable[[], datetime],
        sightings: WorkerSightings,
        *,
        lease: timedelta,
        max_retries: int,
    ) -> None:
        self.store = store
        self.decider = decider
        self.now = clock
        self.sightings = sightings
        self.lease = lease
        self.max_retries = max_retries

    def heartbeat(self, worker_id: str, trial_ids: Sequence[int]) -> list[LeaseStatus]:
        """Extend the leases of the trials ``worker_id`` holds; a trial it does not hold (any
        more) is answered inactive, and a trial that does not exist is NOT_FOUND, with nothing
        written. It needs no request id: setting a lease to now + lease is idempotent."""
        check_id("worker_id", worker_id, required=True)
        if len(trial_ids) > MAX_HEARTBEAT_TRIALS:
            raise InvalidArgumentError("trial_ids", f"at most {MAX_HEARTBEAT_TRIALS} per heartbeat")
        now = self.now()
        expires = now + self.lease
        with self.store.write() as store:
            held = store.renew_leases(worker_id, trial_ids, now, expires)
            # Raising rolls the renewals back: a refused heartbeat writes nothing.
            _check_trials_exist(store, trial_ids, held)
            self.sightings.record(store, worker_id, now, timedelta(0))
        return [
            LeaseStatus(trial_id, trial_id in held, expires if trial_id in held else None)
            for trial_id in trial_ids
        ]

    def expire_leases(self) -> int:
        """Settle every expired lease in the store; returns how many trials changed."""
        changed = 0
        for study_id in self.store.studies_with_expired_leases(self.now()):
            with self.decider.decide(study_id, self.now()) as tx:
                changed += self._expire_leases(tx)
        return changed

    def renew_held_leases(self) -> int:
        """Give every lease held in the store at least one full lease from now, and return how
        many were extended. A coordinator calls this as it starts: workers that waited out its
        downtime (buffering their reports) must not lose their trials for it."""
        with self.store.write() as store:
            return store.renew_held_leases(self.now() + self.lease)

    def next_lease_expiry(self) -> datetime | None:
        """When the earliest lease held now runs out (None when no trial is held)."""
        return self.store.next_lease_expiry()

    def _expire_leases(self, tx: Deciding) -> int:
        """A paused trial whose worker vanished is released for promotion; a running one goes
        back to pending for another worker, or fails once it has used up its retries."""
        expired = tx.store.expired_trials(tx.study_id, tx.now)
        for number in expired:
            trial = tx.trial(number)
            reason = f"lease of worker {trial.worker_id} expired"
            effect = engine.lease_lost(tx.state, number, trial.retries, self.max_retries)
            if isinstance(effect, engine.Released):
                release(tx, trial, reason)
            elif isinstance(effect, engine.Requeued):
                tx.write_trial(
                    trial.id,
                    state=TrialState.PENDING.value,
                    worker_id=None,
                    lease_expires_at=None,
                    retries=trial.retries + 1,
                )
                tx.effects.append(effect)
                tx.log(
                    DecisionKind.REQUEUE,
                    trial.id,
                    rung=tx.state.trials[number].target_rung,
                    reason=f"{reason}; retry {trial.retries} of {self.max_retries}",
                )
            else:
                reason = f"{reason}; it had been retried {self.max_retries} times"
                finish(tx, trial, effect, reason)
        return len(expired)


def _check_trials_exist(store: StoreTransaction, trial_ids: Sequence[int], held: set[int]) -> None:
    """Raise NOT_FOUND naming the first of ``trial_ids`` with no trial (those in ``held``
    were just renewed, so only the others are looked up: the usual heartbeat costs nothing)."""
    others = [trial_id for trial_id in trial_ids if trial_id not in held]
    if not others:
        return
    existing = store.existing_trials(others)
    for index, trial_id in enumerate(trial_ids):
        if trial_id not in held and trial_id not in existing:
            raise NotFoundError(f"trial_ids[{index}]: trial {trial_id} does not exist")
