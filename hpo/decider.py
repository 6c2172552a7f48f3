"""Turns on a study: one decision at a time, in one store transaction, from a cached state.

Every call that changes a study (:mod:`hpo.service`, :mod:`hpo.trial_service`) runs inside
:meth:`StudyDecider.decide`, which

1. waits for the study's turn in this process, bounded in calls and in time, so one blocked
   study cannot take every RPC thread (issue 15);
2. opens a store transaction and locks the study in it (``SELECT ... FOR UPDATE`` on
   PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers already), so coordinators
   sharing a store never hand out the same trial or promotion twice;
3. takes the study's :class:`~hpo.state.StudyState` from the cache if its ``version`` still
   matches the store's, else rebuilds it from the store;
4. lets the caller decide and write (a :class:`Deciding`), then bumps the version;
5. applies the decision's effects (:mod:`hpo.engine`) to the cached state once its writes
   are in the store's transaction, and leaves the study's turn;
6. waits until the writes are durable before the caller answers its client.

On SQLite the store commits the writes of concurrent calls together, one fsync for all
(:mod:`hpo.storage.group_commit`); the study's next call may join the same commit, so it
must decide from the cache with this call's effects. If that shared commit fails, the store
drops the cache of every study in it before any later call runs, and every call of the batch
fails: nothing was answered from it. On PostgreSQL each call commits on its own as its
block ends. The cache is an optimisation only: any error drops it, and a restarted
coordinator rebuilds the same state from the store.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from hpo import engine
from hpo.algorithms import make_scheduler, uses_model
from hpo.errors import BusyError, HpoError, NotFoundError, StoreUnavailableError
from hpo.records import TrialRecord
from hpo.samplers import ModelSource
from hpo.schedulers import Scheduler
from hpo.state import StudyState
from hpo.study_store import Decision, StoreTransaction, StudyStore, state_of
from hpo.vocabulary import StudyStatus, TrialState

# The trial columns a trial's record shows under the same name.
_RECORD_FIELDS = frozenset(shown.name for shown in dataclasses.fields(TrialRecord))
# Calls that may be in progress on one study at once (deciding or waiting for their turn) in
# one service; the coordinator sets it to three quarters of its RPC threads.
DEFAULT_MAX_CALLS_PER_STUDY = 12
# How long a call finding that many waits for one of them to end before it is refused.
ADMISSION_WAIT_SECONDS = 0.5
# How long a call waits for its study's turn before it is refused as busy. The database's own
# lock waits are bounded too (hpo.storage.engine).
STUDY_LOCK_TIMEOUT_SECONDS = 15.0


@dataclass
class Deciding:
    """One decision on one study, inside its store transaction."""

    store: StoreTransaction
    study_id: int
    study_name: str
    status: StudyStatus
    state: StudyState
    scheduler: Scheduler
    now: datetime
    changed: bool = False
    # The change is one the cached state cannot follow (a new spec): rebuild it from the store.
    reload: bool = False
    # What the decisions change in the study's state (hpo.engine): applied to the cached
    # state once the writes are in the store's transaction (see the module docstring).
    effects: list[engine.Effect] = field(default_factory=list)

    def log(self, kind: str, trial_id: int | None, **values: object) -> None:
        """Append to the ``decisions`` log."""
        self.store.log(Decision(self.study_id, kind, self.now, trial_id, **values))
        self.changed = True

    def trial(self, number: int) -> TrialRecord:
        return self.store.trial(self.study_id, number)

    def write_trial(self, trial_id: int, **columns: object) -> None:
        self.store.update_trial(trial_id, self.now, **columns)
        self.changed = True

    def update(self, trial: TrialRecord, **columns: object) -> TrialRecord:
        """Write ``columns`` to the trial and return its record as changed (without reading
        it back: one statement less on the hot path)."""
        self.write_trial(trial.id, **columns)
        return changed_record(trial, self.now, columns)


def changed_record(trial: TrialRecord, now: datetime, columns: dict[str, object]) -> TrialRecord:
    """``trial``'s record once ``columns`` (the store's column values) are written at ``now``;
    columns the record does not show (leases, target rung, finish time) are left out."""
    shown: dict[str, object] = {"updated_at": now}
    for name, value in columns.items():
        if name == "state":
            shown[name] = TrialState(value)
        elif name in ("worker_id", "fail_reason"):
            shown[name] = value or ""
        elif name in _RECORD_FIELDS:
            shown[name] = value
    return dataclasses.replace(trial, **shown)


class StudyDecider:
    """The studies' turns and cached states of one service."""

    def __init__(self, store: StudyStore, models: ModelSource, max_calls_per_study: int) -> None:
        self.store = store
        self.models = models
        self._states: dict[int, tuple[int, StudyState, Scheduler]] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        # Calls inside decide() per study (the one deciding and those waiting for it), bounded
        # so that one blocked study cannot take every RPC thread.
        self.max_calls_per_study = max_calls_per_study
        self._calls: dict[int, int] = {}
        self._admitting = 0  # calls waiting for admission, on any study
        self._calls_changed = threading.Condition(self._locks_guard)

    def cached(self, study_id: int) -> StudyState | None:
        """The study's cached state, read without its turn: a hint, which may be stale."""
        cached = self._states.get(study_id)
        return None if cached is None else cached[1]

    def state(self, study_id: int) -> StudyState:
        """The study's state, cached or read from the store; call it during the study's turn."""
        cached = self._states.get(study_id)
        if cached is None:
            with self.store.read() as transaction:
                study = transaction.study_by_id(study_id)
                if study is None:
                    raise NotFoundError(f"study {study_id} does not exist")
                version = study.version
                state = state_of(transaction.study_contents(study_id))
            cached = (version, state, make_scheduler(state.spec))
            self._states[study_id] = cached
        return cached[1]

    @contextmanager
    def decide(self, study_id: int, now: datetime) -> Iterator[Deciding]:
        written: StoreTransaction | None = None
        try:
            with self.store.write_coming(), self.turn(study_id):
                with self._deciding(study_id, now) as deciding:
                    yield deciding
                written = deciding.store
                if deciding.changed and not deciding.reload and uses_model(deciding.state.spec):
                    # In the study's turn: the fit process copies what it needs now.
                    self.models.observe(deciding.state)
        finally:
            # Outside the study's turn, so the study's next call can join the same commit; the
            # caller answers only once its writes are durable. Also when what followed the
            # writes failed: each member of a batch must ask for its commit (group commit).
            if written is not None:
                written.durable()

    @contextmanager
    def _deciding(self, study_id: int, now: datetime) -> Iterator[Deciding]:
        """The decision's write transaction, not waited for (:meth:`decide` waits once the
        study's turn is over); the cached state follows its writes."""
        try:
            with self.store.write(wait=False) as transaction:
                study = transaction.lock_study(study_id)
                state, scheduler = self._state(transaction, study_id, study.version)
                deciding = Deciding(
                    transaction,
                    study_id,
                    study.name,
                    study.status,
                    state,
                    scheduler,
                    now,
                )
                yield deciding
                version = study.version + deciding.changed
                if deciding.changed:
                    transaction.save_study(
                        study_id, deciding.now, version=version, status=deciding.status
                    )
                # The cache follows the writes now, before the commit they may share with
                # other calls' writes, so that the study's next call (in the same batch)
                # decides from them; if that commit fails, the store drops the cache
                # before any later call runs.
                transaction.on_failure(lambda: self._states.pop(study_id, None))
                if deciding.reload:
                    self._states.pop(study_id, None)
                else:
                    engine.apply(state, deciding.effects)
                    self._states[study_id] = (version, state, scheduler)
        except StoreUnavailableError:
            self._states.pop(study_id, None)  # read the study again once the store is back
            raise
        except HpoError:
            # Requests are validated before anything changes, and effects are applied
            # last: the cache is intact.
            raise
        except BaseException:
            # The transaction rolled back; what failed may have been the store under it,
            # or the commit after the cache took the effects: read the study again.
            self._states.pop(study_id, None)
            raise

    def _state(
        self, transaction: StoreTransaction, study_id: int, version: int
    ) -> tuple[StudyState, Scheduler]:
        cached = self._states.get(study_id)
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        state = state_of(transaction.study_contents(study_id))
        return state, make_scheduler(state.spec)

    @contextmanager
    def turn(self, study_id: int) -> Iterator[None]:
        """The study's lock, for a bounded number of calls and a bounded wait, so that one
        study whose row was locked from outside cannot take every RPC thread and starve
        every other call, as it did (issue 15). A call finding ``max_calls_per_study`` calls
        in progress on the study waits up to ADMISSION_WAIT_SECONDS for one to end (under
        a healthy load they end within milliseconds), and is then refused with UNAVAILABLE
        (clients retry with backoff); so is a call that waited STUDY_LOCK_TIMEOUT_SECONDS
        for its turn."""
        with self._calls_changed:
            self._admitting += 1
            try:
                admitted = self._calls_changed.wait_for(
                    lambda: self._calls.get(study_id, 0) < self.max_calls_per_study,
                    timeout=ADMISSION_WAIT_SECONDS,
                )
            finally:
                self._admitting -= 1
            if not admitted:
                self._calls_changed.notify_all()  # for wait_idle
                raise BusyError(
                    f"study {study_id} is busy: {self.max_calls_per_study} calls are in "
                    "progress on it; retry"
                )
            self._calls[study_id] = self._calls.get(study_id, 0) + 1
        try:
            lock = self._lock(study_id)
            if not lock.acquire(timeout=STUDY_LOCK_TIMEOUT_SECONDS):
                raise BusyError(
                    f"study {study_id}: no turn within {STUDY_LOCK_TIMEOUT_SECONDS:g} s; retry"
                )
            try:
                yield
            finally:
                lock.release()
        finally:
            with self._calls_changed:
                self._calls[study_id] -= 1
                self._calls_changed.notify_all()

    def _lock(self, study_id: int) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(study_id, threading.Lock())

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no call is in progress on any study; False if one still is after
        ``timeout`` seconds."""
        with self._calls_changed:
            return self._calls_changed.wait_for(
                lambda: not self._admitting and not any(self._calls.values()), timeout
            )
