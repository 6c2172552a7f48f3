"""The study service: what the coordinator's RPCs do, usable in-process too.

:class:`StudyService` is the one face callers use. It validates a request and then lets the
pieces with one job each do their part:

* :class:`hpo.decider.StudyDecider` gives each change its turn on the study and its
  transaction, and keeps the study's cached state;
* :class:`hpo.trial_service.TrialService` runs a trial's life (Suggest, Report, Complete,
  Fail), :class:`hpo.lease_service.LeaseService` its leases (Heartbeat, expiry);
* this module runs a study's (create, extend, stop, enqueue, LLM warm starts) and the reads;
* a :class:`hpo.study_store.StudyStore` keeps it all: SQL (:mod:`hpo.storage.sql_store`) or
  memory (:mod:`hpo.storage.memory`). No SQL lives here (docs/architecture.md).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hpo import engine
from hpo.algorithms import make_scheduler
from hpo.decider import DEFAULT_MAX_CALLS_PER_STUDY, Deciding, StudyDecider
from hpo.errors import (
    AlreadyExistsError,
    ConflictError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from hpo.lease_service import LeaseService, LeaseStatus
from hpo.leases import DEFAULT_LEASE_SECONDS, DEFAULT_MAX_RETRIES
from hpo.pareto_front import Front, pareto_front
from hpo.priors.endpoints import LLMEndpoints
from hpo.priors.llm import LLMExchange
from hpo.priors.proposals import Proposal, point_modes
from hpo.priors.scaling_prior import ScalingAnswer, fit_family, scaling_config
from hpo.priors.sources import PriorKind
from hpo.priors.transfer import transfer_configs
from hpo.priors.warm_start import Ask, WarmStarts
from hpo.records import ExchangeRecord, TrialRecord
from hpo.request_ids import REUSED, DecisionScope, earlier_decision, refuse_if_used_elsewhere
from hpo.samplers import InlineModels, ModelSource
from hpo.schedulers import reopened_by_extension
from hpo.spec import StudySpec, check_study_name, listable_spec
from hpo.storage.types import utcnow
from hpo.study_store import Decision, StoreTransaction, StudyRow, StudyStore
from hpo.trial_changes import WorkerSightings, check_id, clean_reason, state_change
from hpo.trial_service import Assignment, Finished, ReportOutcome, TrialService, Wait
from hpo.vocabulary import DecisionKind, Source, StudyStatus, TrialState

__all__ = [
    "Assignment",
    "Best",
    "Finished",
    "LeaseStatus",
    "PriorsInfo",
    "ReportOutcome",
    "StudyInfo",
    "StudyService",
    "TrialPage",
    "Wait",
]

DEFAULT_PAGE_SIZE = 1000
# Trial numbers are 32-bit integers in the store: a larger start_number overflowed the query
# on PostgreSQL (an INTERNAL error, issue 15).
MAX_TRIAL_NUMBER = 2**31 - 1
MAX_PAGE_SIZE = 10_000
log = logging.getLogger(__name__)


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
    def of(cls, row: StudyRow, spec: StudySpec, counts: dict[str, int]) -> StudyInfo:
        return cls(row.id, row.name, row.status, row.created_at, spec, counts)


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
class ParetoEntry:
    trial: TrialRecord
    # Every metric of the trial's result at ``resource``.
    metrics: Mapping[str, float]
    resource: float
    feasible: bool


@dataclass(frozen=True)
class ParetoAnswer:
    """A study's front: its non-dominated trials at ``rung`` (docs/study-spec.md)."""

    study_name: str
    rung: int
    entries: tuple[ParetoEntry, ...]


@dataclass(frozen=True)
class PriorsInfo:
    """A study's proposals and LLM exchanges, and whether a warm start is still asking."""

    study_name: str
    proposals: list[Proposal]
    exchanges: list[ExchangeRecord]
    warming_up: bool


class StudyService:
    """The study operations behind the gRPC API, usable in-process too."""

    def __init__(
        self,
        store: StudyStore,
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
        # Who fits the GP studies' surrogates: the coordinator passes its background process;
        # in-process use defaults to fitting inline, in the calling thread.
        self.models = models if models is not None else InlineModels()
        # Leases are judged by this clock, corrected to the store's time so that every
        # coordinator of a store judges them alike; tests pass a clock they can move forward.
        self.clock = store.clock(clock)
        self.decider = StudyDecider(store, self.models, max_calls_per_study)
        sightings = WorkerSightings()
        self.trials = TrialService(
            store,
            self.decider,
            self.models,
            self.clock.now,
            lease_seconds=lease_seconds,
            retry_after_seconds=retry_after_seconds,
            warming_up=self._warming_up,
            sightings=sightings,
        )
        self.leases = LeaseService(
            store,
            self.decider,
            self.clock.now,
            sightings,
            lease=timedelta(seconds=lease_seconds),
            max_retries=max_retries,
        )
        # Studies are never renamed, so where a name belongs is asked of the store once.
        self._study_id = functools.lru_cache(maxsize=4096)(self._load_study_id)
        # LLM warm starts run in the background; ask_llm is replaceable for tests with a
        # recorded answer (the real client is hpo.priors.llm.ask). The operator's rule says
        # which endpoints they may call and which keys they may send (none by default).
        self.llm_endpoints = llm_endpoints or LLMEndpoints()
        self.warm_starts = WarmStarts(store, self._store_exchange, ask_llm, self.llm_endpoints)

    @property
    def heartbeat_seconds(self) -> float:
        return self.trials.heartbeat_seconds

    # ------------------------------------------------------------ studies

    def create_study(
        self, spec: StudySpec, exist_ok: bool = False, request_id: str = ""
    ) -> StudyInfo:
        """Create a study; with ``exist_ok``, an existing study with the same spec is returned.
        A retried call (same ``request_id``) returns the study its first call created."""
        check_id("request_id", request_id, required=False)
        self.llm_endpoints.check_priors(spec.priors)
        try:
            with self.store.write() as store:
                earlier = earlier_decision(
                    store, request_id, DecisionScope(frozenset({DecisionKind.CREATE}))
                )
                if earlier is not None:
                    created = store.study_by_id(earlier.study_id)
                    if created is None or created.name != spec.name:
                        raise InvalidArgumentError("request_id", REUSED)
                    if not StudySpec.from_json(created.spec_json).matches(spec):
                        raise InvalidArgumentError("request_id", REUSED)
                    return self.get_study(spec.name)
                existing = store.study_by_name(spec.name)
                if existing is None:
                    info = self._insert_study(store, spec, request_id)
            if existing is None:
                self.warm_starts.start(info.id, spec, frozenset())
                return info
        except ConflictError:
            # Another coordinator created it between our read and our insert.
            with self.store.read() as store:
                existing = store.study_by_name(spec.name)
            if existing is None:
                raise
        if exist_ok and StudySpec.from_json(existing.spec_json).matches(spec):
            return self.get_study(spec.name)
        detail = "with a different spec" if exist_ok else "(pass exist_ok to reuse it)"
        raise AlreadyExistsError(f"study {spec.name!r} already exists {detail}")

    def _insert_study(self, store: StoreTransaction, spec: StudySpec, request_id: str) -> StudyInfo:
        now = self.clock.now()
        study = store.insert_study(spec, now)
        store.log(Decision(study.id, DecisionKind.CREATE, now, request_id=request_id or None))
        self._insert_priors(store, study.id, spec, now)
        return StudyInfo.of(study, spec, {})

    @staticmethod
    def _insert_priors(
        store: StoreTransaction, study_id: int, spec: StudySpec, now: datetime
    ) -> None:
        """The spec's enqueued configurations, then in the order of the spec's priors each
        transfer prior's configurations, each scaling prior's proposal and each complete
        point prior's configuration (these two run first, to r_max)."""
        store.add_proposals(study_id, spec.enqueue, source=Source.USER, run_first=True, now=now)
        modes = dict(point_modes(spec))
        for index, source in enumerate(spec.priors):
            if index in modes:
                configs, provenance, run_first = [modes[index]], Source.PRIOR, True
            elif source.kind is PriorKind.TRANSFER:
                configs = transfer_configs(
                    store, spec, source, study_id, f"priors[{index}].studies"
                )
                provenance, run_first = Source.TRANSFER, False
            elif source.kind is PriorKind.SCALING:
                where = f"priors[{index}].family"
                configs = [scaling_config(store, spec, source.family, study_id, where)]
                provenance, run_first = Source.SCALING, True
            else:
                continue
            log.info(
                "study %s: %s prior %d found %d configurations",
                spec.name,
                source.kind.value,
                index,
                len(configs),
            )
            store.add_proposals(
                study_id,
                configs,
                source=provenance,
                run_first=run_first,
                prior_index=index,
                now=now,
            )

    def get_study(self, name: str) -> StudyInfo:
        study = self._study(name, "name")
        return StudyInfo.of(
            study, StudySpec.from_json(study.spec_json), self.store.counts(study.id)
        )

    def list_studies(self) -> list[StudyInfo]:
        """Every study whose spec this coordinator can read (one it cannot is skipped and
        logged, so one bad study never breaks the listing of the others)."""
        return [
            StudyInfo.of(study, spec, counts)
            for study, counts in self.store.list_studies()
            if (spec := listable_spec(study.name, study.spec_json)) is not None
        ]

    def extend_study(self, name: str, r_max: float, request_id: str = "") -> StudyInfo:
        """Raise the study's r_max: trials that completed at the old top pause there, released,
        and the promotion rule continues the best of them; a finished study runs again."""
        check_id("request_id", request_id, required=False)
        with self._decide(self._study_id(check_study_name(name, "study"))) as tx:
            scope = DecisionScope(
                frozenset({DecisionKind.EXTEND}), tx.study_id, resource=float(r_max)
            )
            if earlier_decision(tx.store, request_id, scope) is None:
                _refuse_stopped(tx)
                self._extend(tx, r_max, request_id)
        return self.get_study(name)

    def stop_study(self, name: str, reason: str = "", request_id: str = "") -> StudyInfo:
        """Stop handing out work for good: suggest answers finished, running trials are told to
        stop at their next report, and trials waiting for a worker are stopped now."""
        check_id("request_id", request_id, required=False)
        with self._decide(self._study_id(check_study_name(name, "study"))) as tx:
            reason = clean_reason(reason, "stopped by an admin")
            scope = DecisionScope(frozenset({DecisionKind.STOP_STUDY}), tx.study_id, reason=reason)
            earlier = earlier_decision(tx.store, request_id, scope)
            if earlier is None and tx.status != StudyStatus.STOPPED:
                for stopped in engine.study_stopped(tx.state):
                    trial = tx.trial(stopped.number)
                    tx.write_trial(trial.id, **state_change(tx, stopped))
                tx.status = StudyStatus.STOPPED
                tx.log(DecisionKind.STOP_STUDY, None, reason=reason, request_id=request_id or None)
        return self.get_study(name)

    def _extend(self, tx: Deciding, r_max: float, request_id: str) -> None:
        old = tx.state.spec
        spec = old.extended(r_max)
        tx.store.save_study(tx.study_id, tx.now, spec=spec)
        reason = f"r_max raised from {old.resource.r_max:g} to {spec.resource.r_max:g}"
        # The study's state is read again after this commit (tx.reload): no effect to apply.
        for number in reopened_by_extension(tx.state, tx.scheduler.top_rung):
            trial = tx.trial(number)
            tx.write_trial(
                trial.id,
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
        check_id("request_id", request_id, required=False)
        with self._decide(self._study_id(check_study_name(study_name, "study"))) as tx:
            valid = tx.state.spec.space.validate(config)
            earlier = tx.store.proposal_by_request(request_id) if request_id else None
            if earlier is not None:
                if earlier.study_id != tx.study_id or earlier.config != valid:
                    raise InvalidArgumentError("request_id", REUSED)
                return next(p for p in tx.state.proposals if p.id == earlier.id)
            refuse_if_used_elsewhere(tx.store, request_id)
            _refuse_stopped(tx)
            (proposal,) = tx.store.add_proposals(
                tx.study_id,
                [valid],
                source=Source.USER,
                run_first=True,
                now=tx.now,
                request_id=request_id or None,
            )
            tx.effects.append(engine.ProposalQueued(proposal))
            tx.log(DecisionKind.ENQUEUE, None, reason=f"proposal {proposal.position}")
            tx.status = StudyStatus.RUNNING
            return proposal

    def priors(self, study_name: str) -> PriorsInfo:
        study = self._study(study_name)
        return PriorsInfo(
            study.name,
            self.store.proposals(study.id),
            self.store.exchanges(study.id),
            self.warm_starts.running(study.id),
        )

    def _warming_up(self, tx: Deciding) -> bool:
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
            exchange_id = tx.store.add_exchange(study_id, index, exchange, replayed_from, tx.now)
            tx.store.add_proposals(
                study_id,
                exchange.accepted,
                source=Source.LLM,
                run_first=True,
                prior_index=index,
                exchange_id=exchange_id,
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
        return self.decider.wait_idle(timeout)

    # ------------------------------------------------------------ trials and leases

    def suggest(
        self,
        study_name: str,
        worker_id: str,
        request_id: str = "",
        caller_waiting: Callable[[], bool] = lambda: True,
    ) -> Assignment | Wait | Finished:
        """The next assignment for ``worker_id`` (:meth:`TrialService.suggest`)."""
        study_id = self._study_id(check_study_name(study_name, "study"))
        return self.trials.suggest(study_id, worker_id, request_id, caller_waiting)

    def report(
        self,
        trial_id: int,
        resource: float,
        value: float | None,
        request_id: str,
        worker_id: str,
        metrics: Mapping[str, float] | None = None,
    ) -> ReportOutcome:
        return self.trials.report(trial_id, resource, value, request_id, worker_id, metrics)

    def complete(self, trial_id: int, worker_id: str, request_id: str = "") -> TrialRecord:
        return self.trials.complete(trial_id, worker_id, request_id)

    def fail(self, trial_id: int, reason: str, worker_id: str, request_id: str = "") -> TrialRecord:
        return self.trials.fail(trial_id, reason, worker_id, request_id)

    def heartbeat(self, worker_id: str, trial_ids: Sequence[int]) -> list[LeaseStatus]:
        return self.leases.heartbeat(worker_id, trial_ids)

    def expire_leases(self) -> int:
        return self.leases.expire_leases()

    def renew_held_leases(self) -> int:
        return self.leases.renew_held_leases()

    def next_lease_expiry(self) -> datetime | None:
        return self.leases.next_lease_expiry()

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
        study = self._study(study_name)
        trials, more = self.store.trials_page(
            study, states, start_number, limit or DEFAULT_PAGE_SIZE, include_reports
        )
        return TrialPage(study.name, trials, more, trials[-1].number + 1 if more else 0)

    def best(self, study_name: str, max_cost: float | None = None) -> Best | None:
        """Best value at the highest rung that has results (rungs are comparable across trials).
        With several objectives or constraints: the front's member best in the primary
        objective, feasible if any is; with ``max_cost``: among results that cost at most it."""
        study = self._study(study_name)
        if max_cost is None and not StudySpec.from_json(study.spec_json).is_vector:
            best = self.store.best(study)
            return None if best is None else Best(study.name, best.trial, best.value, best.resource)
        spec, front, trials = self._front(study, max_cost)
        if front is None:
            return None
        member = front.best(spec)
        resource = make_scheduler(spec).levels[front.rung]
        return Best(study.name, trials[member.number], member.value, resource)

    def fit_scaling(self, family: str, scale: Mapping[str, float] | None = None) -> ScalingAnswer:
        """The scaling laws of ``family``'s studies, and their proposal at ``scale``."""
        return fit_family(self.store, family, scale)

    def pareto_front(self, study_name: str, max_cost: float | None = None) -> ParetoAnswer:
        """The study's non-dominated trials at the highest rung with a feasible result (within
        ``max_cost``, for a study with a cost metric); empty before any result."""
        study = self._study(study_name)
        spec, front, trials = self._front(study, max_cost)
        if front is None:
            return ParetoAnswer(study.name, -1, ())
        resource = make_scheduler(spec).levels[front.rung]
        entries = tuple(
            ParetoEntry(trials[member.number], member.metrics, resource, member.feasible)
            for member in front.members
        )
        return ParetoAnswer(study.name, front.rung, entries)

    def _front(
        self, study: StudyRow, max_cost: float | None
    ) -> tuple[StudySpec, Front | None, dict[int, TrialRecord]]:
        """``study``'s spec, front (:func:`hpo.pareto_front.pareto_front`) and its members'
        trials, read in one transaction."""
        with self.store.read() as store:
            contents = store.study_contents(study.id)
            front = pareto_front(contents.spec, contents.rung_results, max_cost)
            members = front.members if front is not None else ()
            trials = {member.number: store.trial(study.id, member.number) for member in members}
        return contents.spec, front, trials

    # ------------------------------------------------------------ plumbing

    def _decide(self, study_id: int) -> AbstractContextManager[Deciding]:
        return self.decider.decide(study_id, self.clock.now())

    def _study(self, name: str, field: str = "study") -> StudyRow:
        """The study ``name``; ``field`` names the request field that holds it."""
        with self.store.read() as store:
            study = store.study_by_name(check_study_name(name, field))
        if study is None:
            raise NotFoundError(f"study {name!r} does not exist")
        return study

    def _load_study_id(self, name: str) -> int:
        return self._study(name).id


def _refuse_stopped(tx: Deciding) -> None:
    if tx.status == StudyStatus.STOPPED:
        raise FailedPreconditionError(f"study {tx.study_name!r} was stopped; it takes no changes")
