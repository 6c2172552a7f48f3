"""The trial store as the study service sees it: what it reads and writes, not how.

:class:`hpo.service.StudyService` decides; a :class:`StudyStore` keeps what was decided. Two
implementations keep the same contract (``tests/storage/test_study_store_contract.py`` runs
one suite against each): :class:`hpo.storage.sql_store.SqlStudyStore` over SQLite or
PostgreSQL, and :class:`hpo.storage.memory.MemoryStudyStore`, dictionaries in this process,
for unit tests and programs that need no durability. So no SQL lives in the service, and a
cache or a batching writer has one place to go (docs/architecture.md, "The store
interface").

The store hands out frozen records (:mod:`hpo.records` and those below), never its own rows,
and raises the domain's errors (:class:`hpo.errors.StoreUnavailableError` when it cannot be
reached, :class:`hpo.errors.ConflictError` when a concurrent writer committed a unique key
first), never its driver's.

Writes happen inside :meth:`StudyStore.write`: every call of the :class:`StoreTransaction` it
yields commits together when the block ends, durably, or not at all when it raises. A
transaction that locks a study (:meth:`StoreTransaction.lock_study`) holds it until it ends,
so two coordinators sharing a store never decide on one study at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from hpo.priors.llm import LLMExchange
from hpo.priors.proposals import Proposal
from hpo.records import ExchangeRecord, TrialRecord
from hpo.space import Config
from hpo.spec import Direction, StudySpec
from hpo.state import StudyState, TrialSnapshot
from hpo.vocabulary import StudyStatus, TrialState


@dataclass(frozen=True)
class StudyRow:
    """A study's own fields. ``spec_json`` is the spec's JSON as stored: one an older or newer
    coordinator wrote may not parse here, and a listing skips it rather than failing."""

    id: int
    name: str
    status: StudyStatus
    version: int
    spec_json: dict[str, Any]
    direction: Direction
    created_at: datetime


@dataclass(frozen=True)
class LockedStudy:
    """What a decision needs of its study's own row, read as the row is locked (one cheap
    statement on every call: the spec is not read, the cached state has it)."""

    id: int
    name: str
    status: StudyStatus
    version: int


@dataclass(frozen=True)
class DecisionUse:
    """The decision an earlier request id logged (to recognise a retry)."""

    kind: str
    study_id: int
    trial_id: int | None
    worker_id: str | None
    resource: float | None
    reason: str | None


@dataclass(frozen=True)
class ReportUse:
    """The report an earlier request id stored, and what was answered to it."""

    trial_id: int
    resource: float
    value: float
    worker_id: str | None
    action: str
    next_resource: float | None


@dataclass(frozen=True)
class ProposalUse:
    """The proposal an earlier Enqueue with a request id queued."""

    id: int
    study_id: int
    config: Config


@dataclass(frozen=True)
class StoredAnswer:
    """A stored successful LLM exchange whose answer can be replayed."""

    id: int
    raw_answer: str
    response_format: dict[str, Any] | None


@dataclass(frozen=True)
class NewTrial:
    """The columns of a trial as it starts (running, held by ``worker_id``)."""

    study_id: int
    number: int
    config: Config
    bracket: int
    target_rung: int
    target_resource: float
    source: str
    worker_id: str
    lease_expires_at: datetime
    created_at: datetime

    def columns(self) -> dict[str, Any]:
        """Every column of the trial's row: these, and those of a trial that has reported
        nothing yet (both stores insert exactly this)."""
        return {
            **vars(self),
            "config": dict(self.config),
            "state": TrialState.RUNNING.value,
            "rung": -1,
            "last_resource": None,
            "last_value": None,
            "last_metrics": None,
            "retries": 0,
            "fail_reason": None,
            "updated_at": self.created_at,
            "finished_at": None,
        }


@dataclass(frozen=True)
class NewReport:
    """A report as it is stored, with the decision it got."""

    study_id: int
    trial_id: int
    resource: float
    value: float
    rung: int | None
    action: str
    next_resource: float | None
    request_id: str
    worker_id: str
    created_at: datetime
    # Every metric of the report (None for a one-value report).
    metrics: Mapping[str, float] | None = None
    # Curve decisions at a rung: the predicted value at r_max and its standard deviation.
    predicted: float | None = None
    predicted_sd: float | None = None


@dataclass(frozen=True)
class Decision:
    """One line of the ``decisions`` log."""

    study_id: int
    kind: str
    created_at: datetime
    trial_id: int | None = None
    rung: int | None = None
    resource: float | None = None
    worker_id: str | None = None
    reason: str | None = None
    request_id: str | None = None


class RungRow(NamedTuple):
    """A stored report that settled a rung."""

    number: int
    rung: int
    value: float
    # Every metric of the report; None for a one-value report.
    metrics: Mapping[str, float] | None
    # Curve decisions: the predicted value at r_max that ranked it (else None).
    predicted: float | None = None


@dataclass(frozen=True)
class StudyContents:
    """Everything a study's scheduling state is a function of, as stored."""

    spec: StudySpec
    # In number order.
    trials: list[TrialSnapshot]
    # Every report that settled a rung, in the order stored.
    rung_results: list[RungRow]
    proposals: list[Proposal]
    # The priors entries whose LLM has answered (an exchange is stored).
    llm_answered: frozenset[int]
    # Studies that decide by curves: (trial number, resource, value) of every report, in the
    # order stored (the curves predictions are made from); empty for other studies.
    curve_points: list[tuple[int, float, float]] = field(default_factory=list)


def state_of(contents: StudyContents) -> StudyState:
    """Rebuild a study's scheduling state from its stored contents: the coordinator is a
    function of the store, so a restarted one decides as the one before it would have."""
    state = StudyState(contents.spec)
    for trial in contents.trials:
        state.add_trial(trial)
    for number, resource, value in contents.curve_points:
        state.record_point(number, resource, value)
    for row in contents.rung_results:
        state.record_rung(row.number, row.rung, row.value, row.metrics, row.predicted)
    state.set_proposals(contents.proposals)
    state.llm_answered = contents.llm_answered
    return state


@dataclass(frozen=True)
class BestReport:
    trial: TrialRecord
    value: float
    resource: float


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class LocalClock:
    """A clock that needs no correction (one process, or one machine's file)."""

    local: Callable[[], datetime]

    def now(self) -> datetime:
        return self.local()


class StoreTransaction(Protocol):
    """The writes (and the reads they depend on) of one transaction."""

    def durable(self) -> None:
        """Return once this transaction's writes are durable (at once if they already are);
        raise if they were lost (StoreUnavailableError). See :meth:`StudyStore.write`."""

    def on_failure(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` if the writes are lost after the block ended (a shared commit
        failed), before the store runs any later transaction."""

    # ---------------------------------------------------------------- studies
    def lock_study(self, study_id: int) -> LockedStudy:
        """The study, locked against other transactions until this one ends."""

    def study_by_id(self, study_id: int) -> StudyRow | None: ...

    def study_by_name(self, name: str) -> StudyRow | None: ...

    def insert_study(self, spec: StudySpec, now: datetime) -> StudyRow:
        """A new running study at version 0; ConflictError if the name is taken."""

    def save_study(
        self,
        study_id: int,
        now: datetime,
        *,
        version: int | None = None,
        status: StudyStatus | None = None,
        spec: StudySpec | None = None,
    ) -> None:
        """Change the given fields of the study (and its ``updated_at``)."""

    def study_contents(self, study_id: int) -> StudyContents:
        """What the study's scheduling state is rebuilt from (:func:`state_of`)."""

    # ---------------------------------------------------------------- trials
    def trial(self, study_id: int, number: int) -> TrialRecord: ...

    def insert_trial(self, trial: NewTrial) -> TrialRecord: ...

    def update_trial(self, trial_id: int, now: datetime, **columns: object) -> None:
        """Change the named columns of the trial (and its ``updated_at``)."""

    def lease_of(self, trial_id: int) -> datetime | None: ...

    def expired_trials(self, study_id: int, now: datetime) -> list[int]:
        """Numbers of the study's running or paused trials whose lease ran out before ``now``."""

    def renew_leases(
        self, worker_id: str, trial_ids: Sequence[int], now: datetime, until: datetime
    ) -> set[int]:
        """Extend to ``until`` the unexpired leases ``worker_id`` holds among ``trial_ids``
        (running or paused trials); returns the ids renewed."""

    def existing_trials(self, trial_ids: Sequence[int]) -> set[int]: ...

    def renew_held_leases(self, until: datetime) -> int:
        """Extend every held lease that ends before ``until`` to ``until``; returns how many."""

    def insert_report(self, report: NewReport) -> None: ...

    def log(self, decision: Decision) -> None: ...

    def touch_worker(self, worker_id: str, now: datetime) -> None:
        """Record that the worker was seen (first and last seen)."""

    # ---------------------------------------------------------------- request ids
    def request_id_uses(self, request_id: str) -> set[str]:
        """Which of "decision", "report" and "proposal" hold ``request_id``."""

    def decision_by_request(self, request_id: str) -> DecisionUse | None: ...

    def report_by_request(self, request_id: str) -> ReportUse | None: ...

    def proposal_by_request(self, request_id: str) -> ProposalUse | None: ...

    # ---------------------------------------------------------------- priors
    def add_proposals(
        self,
        study_id: int,
        configs: Sequence[Config],
        *,
        source: str,
        run_first: bool,
        now: datetime,
        prior_index: int | None = None,
        exchange_id: int | None = None,
        request_id: str | None = None,
    ) -> list[Proposal]:
        """Append ``configs`` to the study's proposals, after the last position."""

    def link_proposal(self, proposal_id: int, trial_id: int) -> None:
        """Record the trial that ran the proposal."""

    def add_exchange(
        self,
        study_id: int,
        prior_index: int,
        exchange: LLMExchange,
        replayed_from: int | None,
        now: datetime,
    ) -> int:
        """Store an LLM exchange verbatim; returns its id."""

    def transfer_studies(
        self, names: Sequence[str], exclude_study_id: int | None
    ) -> list[StudyRow]:
        """The named studies that exist (any order), or without names every finished or
        stopped study with a completed trial, in id order; never ``exclude_study_id``."""

    def best_configs(self, study: StudyRow, top_k: int) -> list[Config]:
        """The study's ``top_k`` best configurations that reached a rung and did not fail:
        highest rung first, then best last value, then lowest number."""

    def family_studies(self, family: str, exclude_study_id: int | None) -> list[StudyRow]:
        """The studies whose spec names ``family`` (any status), in id order; never
        ``exclude_study_id``."""

    def full_resource_results(self, study: StudyRow) -> list[tuple[Config, float]]:
        """(configuration, value) of the study's trials that reported at its r_max and did not
        fail, in number order: what a scaling law learns optima from."""


class StudyStore(Protocol):
    """A trial store: transactions that write, and reads that each see one committed moment."""

    def write(self, wait: bool = True) -> AbstractContextManager[StoreTransaction]:
        """A transaction that commits durably when the block ends, or rolls back.

        A store may commit several transactions together (SQLite's group commit). With
        ``wait`` the block's end waits until the writes are durable; without it the block
        ends once the writes are in the store's pending commit, visible to every later
        transaction, and the caller must call :meth:`StoreTransaction.durable` before it
        tells anyone they happened."""

    def write_coming(self) -> AbstractContextManager[None]:
        """Say that the caller will open a write transaction within the block (it waits for its
        turn on a study): a store that shares commits between transactions waits for it
        rather than commit without it."""

    def read(self) -> AbstractContextManager[StoreTransaction]:
        """A transaction for reads only (it may be refused writes)."""

    def clock(self, local: Callable[[], datetime]) -> Clock:
        """``local`` corrected to the store's clock: leases are written by one coordinator and
        judged by another, so all of them keep the store's time (hpo.storage.clock)."""

    # ---------------------------------------------------------------- reads
    def list_studies(self) -> list[tuple[StudyRow, dict[str, int]]]:
        """Every study in id order with its trials counted by state."""

    def counts(self, study_id: int) -> dict[str, int]: ...

    def trial_key(self, trial_id: int) -> tuple[int, int] | None:
        """(study id, trial number) of a trial id, None if there is none."""

    def trials_page(
        self,
        study: StudyRow,
        states: Sequence[TrialState],
        start_number: int,
        limit: int,
        include_reports: bool,
    ) -> tuple[list[TrialRecord], bool]:
        """Up to ``limit`` trials numbered from ``start_number`` on, and whether more follow."""

    def best(self, study: StudyRow) -> BestReport | None:
        """The best value at the highest rung that has results (earliest report on ties)."""

    def proposals(self, study_id: int) -> list[Proposal]: ...

    def exchanges(self, study_id: int) -> list[ExchangeRecord]: ...

    def earlier_answer(self, prompt_hash: str) -> StoredAnswer | None:
        """The first successful asked (not replayed) exchange with this replay key."""

    def studies_with_expired_leases(self, now: datetime) -> list[int]: ...

    def next_lease_expiry(self) -> datetime | None: ...

    def close(self) -> None: ...
