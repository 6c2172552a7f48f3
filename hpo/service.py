"""Study logic: validate a request, let the scheduler decide, persist the decision atomically.

Every method that changes a study runs one write transaction that

1. locks the study row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
   ``BEGIN IMMEDIATE`` already serialises writers), so coordinators sharing a
   store never hand out the same trial or promotion twice;
2. takes the study's :class:`~hpo.state.StudyState` from an in-memory cache if
   its ``version`` still matches the row, else rebuilds it from the rows;
3. asks the pure scheduler/sampler for a decision;
4. writes the decision (trial rows, report rows, the ``decisions`` log) and
   bumps the version, and commits before the caller answers the client.

The cache is an optimisation only: any error drops it, and a restarted
coordinator rebuilds the same state from the database.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.orm import Session

from hpo import engine
from hpo.algorithms import make_sampler, make_scheduler, uses_model
from hpo.errors import (
    AlreadyExistsError,
    BusyError,
    CallerGoneError,
    ConflictError,
    FailedPreconditionError,
    HpoError,
    InvalidArgumentError,
    NotFoundError,
    StoreUnavailableError,
)
from hpo.leases import DEFAULT_LEASE_SECONDS, DEFAULT_MAX_RETRIES, HEARTBEATS_PER_LEASE
from hpo.priors import store as prior_store
from hpo.priors.endpoints import LLMEndpoints
from hpo.priors.llm import LLMExchange
from hpo.priors.proposals import Proposal
from hpo.priors.sources import PriorKind
from hpo.priors.warm_start import Ask, WarmStarts
from hpo.records import ExchangeRecord, TrialRecord
from hpo.request_ids import (
    REUSED,
    DecisionScope,
    earlier_decision,
    earlier_report,
    refuse_if_used_elsewhere,
)
from hpo.samplers import InlineModels, ModelSource
from hpo.schedulers import (
    NewTrial,
    Promote,
    ReportDecision,
    Resume,
    Scheduler,
    StudyFinished,
    reopened_by_extension,
)
from hpo.spec import Direction, StudySpec, check_study_name, listable_spec
from hpo.state import StudyState, TrialSnapshot
from hpo.storage import Store, queries, tables
from hpo.storage.clock import StoreClock
from hpo.storage.records import exchange_record, trial_record
from hpo.storage.types import utcnow
from hpo.validation import check_text
from hpo.vocabulary import (
    Action,
    DecisionKind,
    Source,
    StudyStatus,
    TrialState,
)

MAX_ID_LENGTH = 128
MAX_REASON_LENGTH = 10_000
MAX_HEARTBEAT_TRIALS = 1024
DEFAULT_PAGE_SIZE = 1000
# Trial numbers are 32-bit integers in the store: a larger start_number overflowed the query
# on PostgreSQL (an INTERNAL error, issue 15).
MAX_TRIAL_NUMBER = 2**31 - 1
MAX_PAGE_SIZE = 10_000
# Bookkeeping that need not cost a write on every call: a worker's last_seen
# is refreshed at most this often by Suggest (heartbeats always refresh it).
WORKER_SEEN_INTERVAL = timedelta(seconds=10)
log = logging.getLogger(__name__)


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class StudyInfo:
    """A study as the store has it, with its trials counted by state."""

    id: int
    name: str
    status: StudyStatus
    created_at: datetime
    spec: StudySpec
    counts: dict[str, int]

    @classmethod
    def of(cls, row: tables.Study, spec: StudySpec, counts: dict[str, int]) -> StudyInfo:
        return cls(row.id, row.name, StudyStatus(row.state), row.created_at, spec, counts)


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


@dataclass(frozen=True)
class TrialPage:
    study_name: str
    # With their reports when asked for.
    trials: list[TrialRecord]
    more: bool
    next_start_number: int


@dataclass(frozen=True)
class Best:
    study_name: str
    trial: TrialRecord
    value: float
    resource: float


@dataclass(frozen=True)
class LeaseStatus:
    trial_id: int
    active: bool
    expires_at: datetime | None


@dataclass(frozen=True)
class PriorsInfo:
    """A study's proposals and LLM exchanges, and whether a warm start is still asking."""

    study_name: str
    proposals: list[Proposal]
    exchanges: list[ExchangeRecord]
    warming_up: bool


@dataclass
class _Transaction:
    """One decision transaction on one study. Hot paths use Core statements:
    the ORM's unit of work costs several milliseconds per call here."""

    session: Session
    connection: Connection
    study_id: int
    study_name: str
    status: StudyStatus
    state: StudyState
    scheduler: Scheduler
    now: datetime
    changed: bool = False
    # The change is one the cached state cannot follow (a new spec): rebuild it from the rows.
    reload: bool = False
    # What the decisions change in the study's state (hpo.engine): applied to the cached
    # state once the transaction committed, never before.
    effects: list[engine.Effect] = field(default_factory=list)

    def log(self, kind: str, trial_id: int | None, **values: object) -> None:
        """Append to the ``decisions`` log."""
        self.connection.execute(
            queries.INSERT_DECISION,
            {
                "study_id": self.study_id,
                "trial_id": trial_id,
                "kind": kind,
                "created_at": self.now,
                **values,
            },
        )
        self.changed = True

    def trial(self, number: int) -> tables.Trial:
        """Trial ``number`` as a detached object, to answer with and to change with ``update``."""
        row = self.connection.execute(
            queries.TRIAL_BY_NUMBER, {"study_id": self.study_id, "number": number}
        ).one()
        return tables.Trial(**row._asdict())

    def write_trial(self, trial_id: int, **values: object) -> None:
        self.connection.execute(
            queries.UPDATE_TRIAL, {"trial_pk": trial_id, "updated_at": self.now, **values}
        )
        self.changed = True

    def update(self, trial: tables.Trial, **values: object) -> None:
        """Write ``values`` to the trial's row and mirror them on the detached object."""
        self.write_trial(trial.id, **values)
        for name, value in values.items():
            setattr(trial, name, value)
        trial.updated_at = self.now


_TRIAL_COLUMNS = tuple(tables.Trial.__table__.columns)
_NEVER = datetime.min.replace(tzinfo=timezone.utc)
# Calls that may be in progress on one study at once (deciding or waiting for their turn) in
# one service; the coordinator sets it to three quarters of its RPC threads.
DEFAULT_MAX_CALLS_PER_STUDY = 12
# How long a call finding that many waits for one of them to end before it is refused.
ADMISSION_WAIT_SECONDS = 0.5
# How long a call waits for its study's turn before it is refused as busy. The database's own
# lock waits are bounded too (hpo.storage.engine).
STUDY_LOCK_TIMEOUT_SECONDS = 15.0
# How often a suggestion re-checks, after a fit run outside its transaction, that no newer
# result made another fit due; past that, the transaction's sampler fits (rare: it takes
# results landing faster than fits end, from other coordinators).
FIT_RECHECKS = 3


# ---------------------------------------------------------------- validation


def _check_id(field_name: str, value: str, required: bool) -> str:
    return check_text(field_name, value, MAX_ID_LENGTH, required=required)


def _clean_reason(reason: str, default: str) -> str:
    """A free-text reason as the store can keep it: cut to length, NUL replaced."""
    return reason[:MAX_REASON_LENGTH].replace("\x00", "\ufffd") or default


def _check_finite(field_name: str, value: float) -> float:
    if not math.isfinite(value):
        raise InvalidArgumentError(field_name, f"must be a finite number, got {value}")
    return value


class StudyService:
    """The study operations behind the gRPC API, usable in-process too."""

    def __init__(
        self,
        store: Store,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        retry_after_seconds: float = 0.5,
        clock: Callable[[], datetime] = utcnow,
        models: ModelSource | None = None,
        ask_llm: Ask | None = None,
        llm_endpoints: LLMEndpoints | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_calls_per_study: int = DEFAULT_MAX_CALLS_PER_STUDY,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.store = store
        self.max_retries = max_retries
        # Who fits the GP studies' surrogates: the coordinator passes its background process;
        # in-process use defaults to fitting inline, in the calling thread.
        self.models = models if models is not None else InlineModels()
        # Leases are judged by this clock, corrected to the database server's time so that every
        # coordinator of a store judges them alike; tests pass a clock they can move forward.
        self.clock = StoreClock(store.engine, clock)
        self.lease = timedelta(seconds=lease_seconds)
        self.retry_after_seconds = retry_after_seconds
        self._states: dict[int, tuple[int, StudyState, Scheduler]] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        # Calls inside _decide per study (the one deciding and those waiting for it), bounded
        # so that one blocked study cannot take every RPC thread.
        self.max_calls_per_study = max_calls_per_study
        self._calls: dict[int, int] = {}
        self._admitting = 0  # calls waiting for admission, on any study
        self._calls_changed = threading.Condition(self._locks_guard)
        # Studies are never renamed and trials never move, so these lookups are cacheable.
        self._study_id = functools.lru_cache(maxsize=4096)(self._load_study_id)
        self._trial_key = functools.lru_cache(maxsize=65536)(self._load_trial_key)
        self._worker_seen: dict[str, datetime] = {}
        # LLM warm starts run in the background; ask_llm is replaceable for tests with a
        # recorded answer (the real client is hpo.priors.llm.ask). The operator's rule says
        # which endpoints they may call and which keys they may send (none by default).
        self.llm_endpoints = llm_endpoints or LLMEndpoints()
        self.warm_starts = WarmStarts(store, self._store_exchange, ask_llm, self.llm_endpoints)

    @property
    def heartbeat_seconds(self) -> float:
        return self.lease.total_seconds() / HEARTBEATS_PER_LEASE

    # ------------------------------------------------------------ studies

    def create_study(
        self, spec: StudySpec, exist_ok: bool = False, request_id: str = ""
    ) -> StudyInfo:
        """Create a study; with ``exist_ok``, an existing study with the same spec is returned.
        A retried call (same ``request_id``) returns the study its first call created."""
        _check_id("request_id", request_id, required=False)
        self.llm_endpoints.check_priors(spec.priors)
        try:
            with self.store.write() as session:
                earlier = earlier_decision(
                    session.connection(),
                    request_id,
                    DecisionScope(frozenset({DecisionKind.CREATE})),
                )
                if earlier is not None:
                    created = session.get(tables.Study, earlier.study_id)
                    if created is None or created.name != spec.name:
                        raise InvalidArgumentError("request_id", REUSED)
                    if not StudySpec.from_json(created.spec).matches(spec):
                        raise InvalidArgumentError("request_id", REUSED)
                    return self.get_study(spec.name)
                existing = session.scalar(
                    select(tables.Study).where(tables.Study.name == spec.name)
                )
                if existing is None:
                    info = self._insert_study(session, spec, request_id)
            if existing is None:
                self.warm_starts.start(info.id, spec, frozenset())
                return info
        except ConflictError:
            # Another coordinator created it between our read and our insert.
            with self.store.read() as session:
                existing = session.scalar(
                    select(tables.Study).where(tables.Study.name == spec.name)
                )
            if existing is None:
                raise
        if exist_ok and StudySpec.from_json(existing.spec).matches(spec):
            return self.get_study(spec.name)
        detail = "with a different spec" if exist_ok else "(pass exist_ok to reuse it)"
        raise AlreadyExistsError(f"study {spec.name!r} already exists {detail}")

    def _insert_study(self, session: Session, spec: StudySpec, request_id: str) -> StudyInfo:
        now = self.clock.now()
        study = tables.Study(
            name=spec.name,
            spec=spec.to_json(),
            direction=spec.objective.direction.value,
            state="running",
            version=0,
            created_at=now,
            updated_at=now,
        )
        session.add(study)
        session.flush()
        session.connection().execute(
            queries.INSERT_DECISION,
            {
                "study_id": study.id,
                "kind": DecisionKind.CREATE,
                "request_id": request_id or None,
                "created_at": now,
            },
        )
        self._insert_priors(session, study.id, spec, now)
        return StudyInfo.of(study, spec, {})

    @staticmethod
    def _insert_priors(session: Session, study_id: int, spec: StudySpec, now: datetime) -> None:
        """The spec's enqueued configurations, then each transfer prior's configurations."""
        prior_store.add_proposals(
            session, study_id, spec.enqueue, source=Source.USER, run_first=True, now=now
        )
        for index, source in enumerate(spec.priors):
            if source.kind is not PriorKind.TRANSFER:
                continue
            configs = prior_store.transfer_configs(
                session, spec, source, study_id, f"priors[{index}].studies"
            )
            log.info(
                "study %s: transfer prior %d found %d configurations",
                spec.name,
                index,
                len(configs),
            )
            prior_store.add_proposals(
                session,
                study_id,
                configs,
                source=Source.TRANSFER,
                run_first=False,
                prior_index=index,
                now=now,
            )

    def get_study(self, name: str) -> StudyInfo:
        with self.store.read() as session:
            study = self._study_row(session, name)
            spec = StudySpec.from_json(study.spec)
            return StudyInfo.of(study, spec, self._counts(session, study.id))

    def list_studies(self) -> list[StudyInfo]:
        with self.store.read() as session:
            studies = session.scalars(select(tables.Study).order_by(tables.Study.id)).all()
            counts: dict[int, dict[str, int]] = {}
            rows = session.execute(
                select(tables.Trial.study_id, tables.Trial.state, func.count()).group_by(
                    tables.Trial.study_id, tables.Trial.state
                )
            )
            for study_id, state, count in rows:
                counts.setdefault(study_id, {})[state] = count
            specs = {study.id: listable_spec(study.name, study.spec) for study in studies}
            return [
                StudyInfo.of(study, spec, counts.get(study.id, {}))
                for study in studies
                if (spec := specs[study.id]) is not None
            ]

    def extend_study(self, name: str, r_max: float, request_id: str = "") -> StudyInfo:
        """Raise the study's r_max: trials that completed at the old top pause there, released,
        and the promotion rule continues the best of them; a finished study runs again."""
        _check_id("request_id", request_id, required=False)
        with self._decide(self._study_id(check_study_name(name))) as tx:
            scope = DecisionScope(
                frozenset({DecisionKind.EXTEND}), tx.study_id, resource=float(r_max)
            )
            if earlier_decision(tx.connection, request_id, scope) is None:
                _refuse_stopped(tx)
                self._extend(tx, r_max, request_id)
        return self.get_study(name)

    def stop_study(self, name: str, reason: str = "", request_id: str = "") -> StudyInfo:
        """Stop handing out work for good: suggest answers finished, running trials are told to
        stop at their next report, and trials waiting for a worker are stopped now."""
        _check_id("request_id", request_id, required=False)
        with self._decide(self._study_id(check_study_name(name))) as tx:
            reason = _clean_reason(reason, "stopped by an admin")
            scope = DecisionScope(frozenset({DecisionKind.STOP_STUDY}), tx.study_id, reason=reason)
            earlier = earlier_decision(tx.connection, request_id, scope)
            if earlier is None and tx.status != StudyStatus.STOPPED:
                for stopped in engine.study_stopped(tx.state):
                    trial = tx.trial(stopped.number)
                    tx.update(trial, **self._change_state(tx, stopped))
                tx.status = StudyStatus.STOPPED
                tx.log(DecisionKind.STOP_STUDY, None, reason=reason, request_id=request_id or None)
        return self.get_study(name)

    def _extend(self, tx: _Transaction, r_max: float, request_id: str) -> None:
        old = tx.state.spec
        spec = old.extended(r_max)
        tx.connection.execute(
            queries.UPDATE_STUDY, {"study_pk": tx.study_id, "spec": spec.to_json()}
        )
        reason = f"r_max raised from {old.resource.r_max:g} to {spec.resource.r_max:g}"
        # The study's state is read again after this commit (tx.reload): no effect to apply.
        for number in reopened_by_extension(tx.state, tx.scheduler.top_rung):
            trial = tx.trial(number)
            tx.update(
                trial,
                state=TrialState.PAUSED.value,
                worker_id=None,
                lease_expires_at=None,
                finished_at=None,
            )
            tx.log(DecisionKind.REOPEN, trial.id, rung=trial.rung, reason=reason)
        tx.log(
            DecisionKind.EXTEND,
            None,
            resource=spec.resource.r_max,
            reason=reason,
            request_id=request_id or None,
        )
        tx.status = StudyStatus.RUNNING
        tx.reload = True

    # ------------------------------------------------------------ priors

    def enqueue(self, study_name: str, config: dict[str, Any], request_id: str = "") -> Proposal:
        """Queue ``config`` to run before any other new configuration, at the bottom rung.
        A retried call (same ``request_id``) returns the proposal its first call queued."""
        _check_id("request_id", request_id, required=False)
        with self._decide(self._study_id(check_study_name(study_name))) as tx:
            valid = tx.state.spec.space.validate(config)
            earlier = prior_store.proposal_by_request(tx.session, request_id)
            if earlier is not None:
                if earlier.study_id != tx.study_id or earlier.config != valid:
                    raise InvalidArgumentError("request_id", REUSED)
                return next(p for p in tx.state.proposals if p.id == earlier.id)
            refuse_if_used_elsewhere(tx.connection, request_id)
            _refuse_stopped(tx)
            (row,) = prior_store.add_proposals(
                tx.session,
                tx.study_id,
                [valid],
                source=Source.USER,
                run_first=True,
                now=tx.now,
                request_id=request_id or None,
            )
            proposal = Proposal(row.id, row.position, valid, Source.USER, run_first=True)
            tx.effects.append(engine.ProposalQueued(proposal))
            tx.log(DecisionKind.ENQUEUE, None, reason=f"proposal {row.position}")
            tx.status = StudyStatus.RUNNING
            return proposal

    def priors(self, study_name: str) -> PriorsInfo:
        with self.store.read() as session:
            study = self._study_row(session, study_name)
            exchanges = session.scalars(
                select(tables.LLMExchange)
                .where(tables.LLMExchange.study_id == study.id)
                .order_by(tables.LLMExchange.id)
            ).all()
            return PriorsInfo(
                study.name,
                prior_store.load_proposals(session, study.id),
                [exchange_record(row) for row in exchanges],
                self.warm_starts.running(study.id),
            )

    def _warming_up(self, tx: _Transaction) -> bool:
        """Whether the study's LLM priors still wait for their answer; starts the warm start
        if nothing asks yet (a coordinator restarted before the answer came)."""
        if not tx.state.llm_pending:
            return False
        self.warm_starts.start(tx.study_id, tx.state.spec, tx.state.llm_answered)
        return True

    def _store_exchange(
        self, study_id: int, index: int, exchange: LLMExchange, replayed_from: int | None
    ) -> None:
        """The exchange and its accepted configurations (queued to run first), in one commit."""
        with self._decide(study_id) as tx:
            row = tables.LLMExchange(
                study_id=study_id,
                prior_index=index,
                base_url=exchange.base_url,
                model=exchange.model,
                prompt_hash=exchange.prompt_hash,
                messages=exchange.messages,
                response_format=exchange.response_format,
                raw_answer=exchange.raw_answer,
                accepted=exchange.accepted,
                rejected=exchange.rejected,
                error=exchange.error,
                seconds=exchange.seconds,
                replayed_from=replayed_from,
                created_at=tx.now,
            )
            tx.session.add(row)
            tx.session.flush()
            prior_store.add_proposals(
                tx.session,
                study_id,
                exchange.accepted,
                source=Source.LLM,
                run_first=True,
                prior_index=index,
                exchange_id=row.id,
                now=tx.now,
            )
            tx.log(
                DecisionKind.WARM_START,
                None,
                reason=f"LLM prior {index}: {len(exchange.accepted)} proposals",
            )
            tx.reload = True

    def close(self) -> None:
        """Stop asking LLMs (the coordinator's shutdown); answers in flight are dropped."""
        self.warm_starts.close()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no call is in progress on any study; False if one still is after
        ``timeout`` seconds. gRPC's own shutdown does not wait for a handler whose caller's
        deadline passed, so the coordinator waits here before it closes the store."""
        with self._calls_changed:
            return self._calls_changed.wait_for(
                lambda: not self._admitting and not any(self._calls.values()), timeout
            )

    # ------------------------------------------------------------ suggest

    def suggest(
        self,
        study_name: str,
        worker_id: str,
        request_id: str = "",
        caller_waiting: Callable[[], bool] = lambda: True,
    ) -> Assignment | Wait | Finished:
        """The next assignment for ``worker_id``. ``caller_waiting`` says whether the caller
        still waits for the answer (the gRPC context is active): once this call has its turn on
        the study, it decides nothing for a caller that gave up, so no assignment is committed
        that nobody would train."""
        _check_id("worker_id", worker_id, required=True)
        _check_id("request_id", request_id, required=False)
        study_id = self._study_id(check_study_name(study_name))
        for attempt in range(1, FIT_RECHECKS + 1):
            self._fit_outside_transactions(study_id)
            with self._decide(study_id) as tx:
                if attempt < FIT_RECHECKS and self._waits_for_fit(tx.state):
                    continue  # newer results made a fit due: run it outside, then decide
                if not caller_waiting():
                    raise CallerGoneError("the caller gave up before its turn on the study")
                return self._suggest(tx, worker_id, request_id)
        raise AssertionError("the last attempt always decides")

    def _suggest(
        self, tx: _Transaction, worker_id: str, request_id: str
    ) -> Assignment | Wait | Finished:
        scope = DecisionScope(DecisionKind.ASSIGNMENTS, tx.study_id, worker_id=worker_id)
        earlier = earlier_decision(tx.connection, request_id, scope)
        if earlier is not None:  # a retry: the assignment its first call made
            return self._assignment(tx, tx.trial(self._trial_key(earlier.trial_id)[1]))
        self._touch_worker(tx.connection, worker_id, tx.now, WORKER_SEEN_INTERVAL)
        if tx.status in (StudyStatus.FINISHED, StudyStatus.STOPPED):
            return Finished()
        if self._warming_up(tx):
            return Wait(self.retry_after_seconds)
        job = tx.scheduler.next_job(tx.state)
        if isinstance(job, NewTrial):
            trial, kind = self._start_trial(tx, job, worker_id), DecisionKind.NEW
        elif isinstance(job, Promote | Resume):
            assigned = engine.reassignment(job, worker_id)
            trial, kind = self._reassign(tx, assigned), assigned.kind
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
            rung=trial.target_rung,
            resource=trial.target_resource,
            worker_id=worker_id,
            request_id=request_id or None,
        )
        return self._assignment(tx, trial)

    def _waits_for_fit(self, state: StudyState) -> bool:
        return uses_model(state.spec) and self.models.waits_for_fit(state)

    def _fit_outside_transactions(self, study_id: int) -> None:
        """Run a fit that the next suggestion would wait for (a deterministic study's, or any
        with inline models), holding the study's lock but no database transaction: a fit in
        the write transaction locked the whole SQLite store for its duration (issue 15)."""
        cached = self._states.get(study_id)
        if cached is not None and not self._waits_for_fit(cached[1]):
            # A hint read without the lock (no model, background fits, or no fit due): the
            # common case takes no lock twice. A fit that became due since is found below
            # or by the transaction's re-check.
            return
        with self._study_turn(study_id):
            cached = self._states.get(study_id)
            if cached is None:
                with self.store.read() as session:
                    version = session.execute(
                        select(tables.Study.version).where(tables.Study.id == study_id)
                    ).scalar_one()
                    state, scheduler = self._state(session, study_id, version)
                self._states[study_id] = (version, state, scheduler)
            else:
                state = cached[1]
            if self._waits_for_fit(state):
                self.models.fit_due(state)

    def _start_trial(self, tx: _Transaction, job: NewTrial, worker_id: str) -> tables.Trial:
        sampler = make_sampler(tx.state.spec, self.models)
        started = engine.new_trial(tx.state, tx.scheduler, sampler, job, worker_id)
        trial = tables.Trial(
            study_id=tx.study_id,
            number=started.number,
            config=started.config,
            state=TrialState.RUNNING.value,
            bracket=started.bracket,
            rung=-1,
            target_rung=started.target_rung,
            target_resource=tx.scheduler.levels[started.target_rung],
            last_resource=None,
            last_value=None,
            source=started.source,
            worker_id=worker_id,
            lease_expires_at=tx.now + self.lease,
            retries=0,
            fail_reason=None,
            created_at=tx.now,
            updated_at=tx.now,
            finished_at=None,
        )
        values = {column.name: getattr(trial, column.name) for column in _TRIAL_COLUMNS[1:]}
        trial.id = tx.connection.execute(queries.INSERT_TRIAL, values).scalar_one()
        tx.changed = True
        if started.proposal is not None:
            tx.connection.execute(
                update(tables.PriorProposal)
                .where(tables.PriorProposal.id == started.proposal.id)
                .values(trial_id=trial.id)
            )
        tx.effects.append(started)
        return trial

    def _reassign(self, tx: _Transaction, assigned: engine.TrialAssigned) -> tables.Trial:
        """Hand out a trial that exists already: promoted to its next rung, or resumed toward
        the rung it trained to when its previous worker's lease expired."""
        trial = tx.trial(assigned.number)
        tx.update(
            trial,
            state=TrialState.RUNNING.value,
            target_rung=assigned.target_rung,
            target_resource=tx.scheduler.levels[assigned.target_rung],
            worker_id=assigned.worker_id,
            lease_expires_at=tx.now + self.lease,
        )
        tx.effects.append(assigned)
        return trial

    def _assignment(self, tx: _Transaction, trial: tables.Trial) -> Assignment:
        return Assignment(
            study_name=tx.study_name,
            trial=trial_record(trial, tx.study_name),
            resource=trial.target_resource,
            resume_from=trial.last_resource or 0.0,
            r_max=tx.state.spec.resource.r_max,
            heartbeat_seconds=self.heartbeat_seconds,
        )

    def expire_leases(self) -> int:
        """Settle every expired lease in the store; returns how many trials changed. The
        coordinator's sweeper (hpo.coordinator.leases) is what calls it; a program that uses
        the service in-process calls it itself."""
        now = self.clock.now()
        with self.store.read() as session:
            study_ids = session.scalars(
                select(tables.Trial.study_id).where(tables.Trial.lease_expires_at < now).distinct()
            ).all()
        changed = 0
        for study_id in study_ids:
            with self._decide(study_id) as tx:
                changed += self._expire_leases(tx)
        return changed

    def renew_held_leases(self) -> int:
        """Give every lease held in the store at least one full lease from now, and return how
        many were extended. A coordinator calls this as it starts: workers that waited out its
        downtime (buffering their reports) must not lose their trials for it."""
        now = self.clock.now()
        with self.store.write() as session:
            result = session.execute(
                update(tables.Trial)
                .where(
                    tables.Trial.lease_expires_at.is_not(None),
                    tables.Trial.lease_expires_at < now + self.lease,
                )
                .values(lease_expires_at=now + self.lease)
            )
        return int(result.rowcount)

    def next_lease_expiry(self) -> datetime | None:
        """When the earliest lease held now runs out (None when no trial is held)."""
        with self.store.read() as session:
            return session.scalar(select(func.min(tables.Trial.lease_expires_at)))

    def _expire_leases(self, tx: _Transaction) -> int:
        """A paused trial whose worker vanished is released for promotion; a running one goes
        back to pending for another worker, or fails once it has used up its retries."""
        expired = list(
            tx.connection.execute(
                queries.EXPIRED_TRIALS, {"study_id": tx.study_id, "now": tx.now}
            ).scalars()
        )
        for number in expired:
            trial = tx.trial(number)
            reason = f"lease of worker {trial.worker_id} expired"
            effect = engine.lease_lost(tx.state, number, trial.retries, self.max_retries)
            if isinstance(effect, engine.Released):
                self._release(tx, trial, reason)
            elif isinstance(effect, engine.Requeued):
                tx.update(
                    trial,
                    state=TrialState.PENDING.value,
                    worker_id=None,
                    lease_expires_at=None,
                    retries=trial.retries + 1,
                )
                tx.effects.append(effect)
                tx.log(
                    DecisionKind.REQUEUE,
                    trial.id,
                    rung=trial.target_rung,
                    reason=f"{reason}; retry {trial.retries} of {self.max_retries}",
                )
            else:
                reason = f"{reason}; it had been retried {self.max_retries} times"
                self._finish(tx, trial, effect, reason)
        return len(expired)

    # ------------------------------------------------------------ report

    def report(
        self, trial_id: int, resource: float, value: float, request_id: str, worker_id: str
    ) -> ReportOutcome:
        _check_finite("resource", resource)
        _check_finite("value", value)
        _check_id("request_id", request_id, required=True)
        _check_id("worker_id", worker_id, required=True)
        study_id, number = self._trial_key(trial_id)
        with self._decide(study_id) as tx:
            earlier = earlier_report(
                tx.connection, request_id, trial_id, resource, value, worker_id
            )
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
            decision = tx.scheduler.on_report(tx.state, number, resource, value)
            if tx.status == StudyStatus.STOPPED and decision.action in (
                Action.CONTINUE,
                Action.PAUSE,
            ):
                decision = ReportDecision(Action.STOP, decision.rung, None, "the study was stopped")
            tx.connection.execute(
                queries.INSERT_REPORT,
                {
                    "study_id": study_id,
                    "trial_id": trial_id,
                    "resource": resource,
                    "value": value,
                    "rung": decision.rung,
                    "action": decision.action.value,
                    "next_resource": decision.next_resource,
                    "request_id": request_id,
                    "worker_id": worker_id,
                    "created_at": tx.now,
                },
            )
            changes: dict[str, object] = {
                "last_resource": resource,
                "last_value": value,
                "lease_expires_at": tx.now + self.lease,
            }
            effects = engine.report_effects(decision, number, resource, value)
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
                changes.update(self._change_state(tx, effect))
            tx.write_trial(trial_id, **changes)
            return ReportOutcome(
                should_continue=decision.action is Action.CONTINUE,
                next_resource=decision.next_resource,
                trial_state=engine.state_after(tx.state, number, effects),
                reason=decision.reason,
            )

    # ------------------------------------------------------------ complete / fail

    def complete(self, trial_id: int, worker_id: str, request_id: str = "") -> TrialRecord:
        """The worker finished its assignment: a running trial becomes completed, a paused one
        is released for promotion, and a stopped or completed one stays as it is."""
        _check_id("worker_id", worker_id, required=True)
        _check_id("request_id", request_id, required=False)
        study_id, number = self._trial_key(trial_id)
        with self._decide(study_id) as tx:
            trial = tx.trial(number)
            scope = DecisionScope(
                frozenset({DecisionKind.COMPLETE, DecisionKind.RELEASE}),
                trial_id=trial_id,
                worker_id=worker_id,
            )
            if earlier_decision(tx.connection, request_id, scope) is not None:
                return trial_record(trial, tx.study_name)
            snapshot = tx.state.trials[number]
            if snapshot.state is TrialState.FAILED:
                raise FailedPreconditionError(f"trial {number} has failed; it cannot complete")
            if snapshot.busy:
                self._held_trial(tx, trial_id, number, worker_id, allow_paused=True)
                done = engine.assignment_done(tx.state, number)
                if isinstance(done, engine.StateChanged):
                    self._finish(tx, trial, done, None, worker_id, request_id)
                else:
                    self._release(tx, trial, "released by its worker", worker_id, request_id)
            return trial_record(trial, tx.study_name)

    def fail(self, trial_id: int, reason: str, worker_id: str, request_id: str = "") -> TrialRecord:
        """Mark a trial the worker holds as failed; failing a failed trial changes nothing."""
        _check_id("worker_id", worker_id, required=True)
        _check_id("request_id", request_id, required=False)
        study_id, number = self._trial_key(trial_id)
        with self._decide(study_id) as tx:
            trial = tx.trial(number)
            reason = _clean_reason(reason, "failed")
            scope = DecisionScope(
                frozenset({DecisionKind.FAIL}),
                trial_id=trial_id,
                worker_id=worker_id,
                reason=reason,
            )
            replay = earlier_decision(tx.connection, request_id, scope) is not None
            if replay or tx.state.trials[number].state is TrialState.FAILED:
                return trial_record(trial, tx.study_name)
            self._held_trial(tx, trial_id, number, worker_id, allow_paused=True)
            failed = engine.StateChanged(number, TrialState.FAILED)
            self._finish(tx, trial, failed, reason, worker_id, request_id)
            return trial_record(trial, tx.study_name)

    def _held_trial(
        self,
        tx: _Transaction,
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
        lease = tx.connection.execute(queries.LEASE_OF_TRIAL, {"trial_pk": trial_id}).scalar_one()
        if lease is not None and lease < tx.now:
            raise FailedPreconditionError(
                f"trial {number}: the lease of worker {worker_id!r} expired at "
                f"{lease.isoformat(timespec='seconds')}; the trial goes to another worker"
            )
        return snapshot

    def _release(
        self,
        tx: _Transaction,
        trial: tables.Trial,
        reason: str,
        worker_id: str | None = None,
        request_id: str = "",
    ) -> None:
        """A paused trial's worker lets go of it: from now on it can be promoted."""
        tx.update(trial, worker_id=None, lease_expires_at=None)
        tx.effects.append(engine.Released(trial.number))
        tx.log(
            DecisionKind.RELEASE,
            trial.id,
            rung=trial.rung,
            worker_id=worker_id or None,
            reason=reason,
            request_id=request_id or None,
        )

    def _finish(
        self,
        tx: _Transaction,
        trial: tables.Trial,
        finished: engine.StateChanged,
        reason: str | None,
        worker_id: str | None = None,
        request_id: str = "",
    ) -> None:
        """Trial ``trial`` completes or fails (``finished``), logged with ``reason``."""
        changes = self._change_state(tx, finished)
        failed = finished.state is TrialState.FAILED
        changes["fail_reason"] = reason if failed else None
        tx.update(trial, **changes)
        tx.log(
            DecisionKind.FAIL if failed else DecisionKind.COMPLETE,
            trial.id,
            worker_id=worker_id or None,
            reason=reason,
            request_id=request_id or None,
        )

    @staticmethod
    def _change_state(tx: _Transaction, change: engine.StateChanged) -> dict[str, object]:
        """The row changes of ``change``, which the cached state takes after the commit. A
        paused trial keeps its worker and lease until the worker releases it."""
        tx.effects.append(change)
        changes: dict[str, object] = {"state": change.state.value}
        if change.final:
            changes.update(finished_at=tx.now, lease_expires_at=None)
        return changes

    # ------------------------------------------------------------ heartbeat

    def heartbeat(self, worker_id: str, trial_ids: Sequence[int]) -> list[LeaseStatus]:
        """Extend the leases of the trials ``worker_id`` holds; a trial it does not hold (any
        more) is answered inactive, and a trial that does not exist is NOT_FOUND, with nothing
        written. It needs no request id: setting a lease to now + lease is idempotent."""
        _check_id("worker_id", worker_id, required=True)
        if len(trial_ids) > MAX_HEARTBEAT_TRIALS:
            raise InvalidArgumentError("trial_ids", f"at most {MAX_HEARTBEAT_TRIALS} per heartbeat")
        now = self.clock.now()
        expires = now + self.lease
        with self.store.write() as session:
            held: set[int] = set()
            if trial_ids:
                held = set(
                    session.scalars(
                        update(tables.Trial)
                        .where(
                            tables.Trial.id.in_(trial_ids),
                            tables.Trial.worker_id == worker_id,
                            tables.Trial.state.in_(
                                [TrialState.RUNNING.value, TrialState.PAUSED.value]
                            ),
                            tables.Trial.lease_expires_at >= now,
                        )
                        .values(lease_expires_at=expires)
                        .returning(tables.Trial.id),
                    ).all()
                )
                # Raising rolls the renewals back: a refused heartbeat writes nothing.
                _check_trials_exist(session, trial_ids, held)
            self._touch_worker(session.connection(), worker_id, now, timedelta(0))
        return [
            LeaseStatus(trial_id, trial_id in held, expires if trial_id in held else None)
            for trial_id in trial_ids
        ]

    def _touch_worker(
        self, connection: Connection, worker_id: str, now: datetime, interval: timedelta
    ) -> None:
        """Record that ``worker_id`` was seen, unless this process did so within ``interval``."""
        if now - self._worker_seen.get(worker_id, _NEVER) >= interval:
            queries.touch_worker(connection, worker_id, now)
            self._worker_seen[worker_id] = now

    # ------------------------------------------------------------ queries

    def list_trials(
        self,
        study_name: str,
        states: Sequence[TrialState] = (),
        include_reports: bool = False,
        start_number: int = 0,
        limit: int = 0,
    ) -> TrialPage:
        if not 0 <= start_number <= MAX_TRIAL_NUMBER:
            raise InvalidArgumentError(
                "start_number", f"must be in [0, {MAX_TRIAL_NUMBER}], got {start_number}"
            )
        if not 0 <= limit <= MAX_PAGE_SIZE:
            raise InvalidArgumentError("limit", f"must be in [0, {MAX_PAGE_SIZE}], got {limit}")
        limit = limit or DEFAULT_PAGE_SIZE
        with self.store.read() as session:
            study = self._study_row(session, study_name)
            query = (
                select(tables.Trial)
                .where(tables.Trial.study_id == study.id, tables.Trial.number >= start_number)
                .order_by(tables.Trial.number)
                .limit(limit + 1)
            )
            if states:
                query = query.where(tables.Trial.state.in_([state.value for state in states]))
            trials = list(session.scalars(query).all())
            more = len(trials) > limit
            trials = trials[:limit]
            reports: dict[int, list[tables.Report]] = {}
            if include_reports and trials:
                rows = session.scalars(
                    select(tables.Report)
                    .where(tables.Report.trial_id.in_([trial.id for trial in trials]))
                    .order_by(tables.Report.trial_id, tables.Report.resource)
                )
                for report in rows:
                    reports.setdefault(report.trial_id, []).append(report)
            next_start = trials[-1].number + 1 if more else 0
            records = [trial_record(row, study.name, reports.get(row.id, ())) for row in trials]
            return TrialPage(study.name, records, more, next_start)

    def best(self, study_name: str) -> Best | None:
        """Best value at the highest rung that has results (rungs are comparable across trials)."""
        with self.store.read() as session:
            study = self._study_row(session, study_name)
            by_value = (
                tables.Report.value.asc()
                if study.direction == Direction.MINIMIZE.value
                else tables.Report.value.desc()
            )
            report = session.scalar(
                select(tables.Report)
                .where(tables.Report.study_id == study.id, tables.Report.rung.is_not(None))
                .order_by(tables.Report.rung.desc(), by_value, tables.Report.id)
                .limit(1)
            )
            if report is None:
                return None
            trial = trial_record(session.get_one(tables.Trial, report.trial_id), study.name)
            return Best(study.name, trial, report.value, report.resource)

    # ------------------------------------------------------------ plumbing

    @contextmanager
    def _decide(self, study_id: int) -> Iterator[_Transaction]:
        with self._study_turn(study_id):
            try:
                with self.store.write() as session:
                    connection = session.connection()
                    study = connection.execute(queries.LOCK_STUDY, {"study_id": study_id}).one()
                    state, scheduler = self._state(session, study_id, study.version)
                    tx = _Transaction(
                        session,
                        connection,
                        study_id,
                        study.name,
                        StudyStatus(study.state),
                        state,
                        scheduler,
                        self.clock.now(),
                    )
                    yield tx
                    version = study.version + tx.changed
                    if tx.changed:
                        connection.execute(
                            queries.UPDATE_STUDY,
                            {
                                "study_pk": study_id,
                                "version": version,
                                "state": tx.status.value,
                                "updated_at": tx.now,
                            },
                        )
            except StoreUnavailableError:
                self._states.pop(study_id, None)  # read the study again once the store is back
                raise
            except HpoError:
                # Requests are validated before anything changes; the cache is intact.
                raise
            except BaseException:
                # The transaction rolled back and no effect was applied, so the cache is intact
                # too; but what failed may have been the store under it: read it again.
                self._states.pop(study_id, None)
                raise
            if tx.reload:
                self._states.pop(study_id, None)
                return
            engine.apply(state, tx.effects)  # committed: the cache follows the store
            self._states[study_id] = (version, state, scheduler)
            if tx.changed and uses_model(state.spec):
                # After the commit: a fit sees only data that is in the store.
                self.models.observe(state)

    @contextmanager
    def _study_turn(self, study_id: int) -> Iterator[None]:
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

    def _state(self, session: Session, study_id: int, version: int) -> tuple[StudyState, Scheduler]:
        cached = self._states.get(study_id)
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        state = load_state(session, study_id)
        return state, make_scheduler(state.spec)

    def _study_row(self, session: Session, name: str) -> tables.Study:
        study = session.scalar(
            select(tables.Study).where(tables.Study.name == check_study_name(name))
        )
        if study is None:
            raise NotFoundError(f"study {name!r} does not exist")
        return study

    def _load_study_id(self, name: str) -> int:
        with self.store.read() as session:
            return self._study_row(session, name).id

    def _load_trial_key(self, trial_id: int) -> tuple[int, int]:
        with self.store.read() as session:
            row = session.execute(
                select(tables.Trial.study_id, tables.Trial.number).where(
                    tables.Trial.id == trial_id
                )
            ).one_or_none()
        if row is None:
            raise NotFoundError(f"trial {trial_id} does not exist")
        return row.study_id, row.number

    @staticmethod
    def _counts(session: Session, study_id: int) -> dict[str, int]:
        rows = session.execute(
            select(tables.Trial.state, func.count())
            .where(tables.Trial.study_id == study_id)
            .group_by(tables.Trial.state)
        )
        return {state: count for state, count in rows}


def _check_trials_exist(session: Session, trial_ids: Sequence[int], held: set[int]) -> None:
    """Raise NOT_FOUND naming the first of ``trial_ids`` with no trial row (those in ``held``
    were just renewed, so only the others are looked up: the usual heartbeat costs nothing)."""
    others = set(trial_ids) - held
    if not others:
        return
    existing = set(session.scalars(select(tables.Trial.id).where(tables.Trial.id.in_(others))))
    for index, trial_id in enumerate(trial_ids):
        if trial_id not in held and trial_id not in existing:
            raise NotFoundError(f"trial_ids[{index}]: trial {trial_id} does not exist")


def _refuse_stopped(tx: _Transaction) -> None:
    if tx.status == StudyStatus.STOPPED:
        raise FailedPreconditionError(f"study {tx.study_name!r} was stopped; it takes no changes")


def load_state(session: Session, study_id: int) -> StudyState:
    """Rebuild a study's scheduling state from its rows (the coordinator is a function of them)."""
    spec = session.execute(
        select(tables.Study.spec).where(tables.Study.id == study_id)
    ).scalar_one()
    state = StudyState(StudySpec.from_json(spec))
    numbers: dict[int, int] = {}
    for trial in session.scalars(
        select(tables.Trial).where(tables.Trial.study_id == study_id).order_by(tables.Trial.number)
    ):
        numbers[trial.id] = trial.number
        state.add_trial(
            TrialSnapshot(
                number=trial.number,
                config=trial.config,
                state=TrialState(trial.state),
                bracket=trial.bracket,
                rung=trial.rung,
                target_rung=trial.target_rung,
                last_resource=trial.last_resource,
                source=trial.source,
                worker_id=trial.worker_id,
            )
        )
    rung_reports = session.execute(
        select(tables.Report.trial_id, tables.Report.rung, tables.Report.value)
        .where(tables.Report.study_id == study_id, tables.Report.rung.is_not(None))
        .order_by(tables.Report.id)
    )
    for trial_id, rung, value in rung_reports:
        state.record_rung(numbers[trial_id], rung, value)
    state.set_proposals(prior_store.load_proposals(session, study_id))
    state.llm_answered = frozenset(
        session.scalars(
            select(tables.LLMExchange.prior_index).where(tables.LLMExchange.study_id == study_id)
        )
    )
    return state
