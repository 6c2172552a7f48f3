"""The study store in this process's memory: :class:`hpo.study_store.StudyStore` over
dictionaries, for unit tests and in-process studies that need no durability.

It keeps the SQL store's contract (``tests/storage/test_study_store_contract.py``): the same
records, the same unique keys (:class:`hpo.errors.ConflictError`), transactions that apply
wholly or not at all. Writers are serialised by one lock, as SQLite serialises them; a
transaction records how to undo each change and undoes them if it raises.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from hpo.errors import ConflictError, NotFoundError
from hpo.priors.llm import LLMExchange
from hpo.priors.proposals import Proposal
from hpo.records import ExchangeRecord, TrialRecord
from hpo.schedulers.rungs import RELATIVE_TOLERANCE
from hpo.space import Config
from hpo.spec import DecisionBasis, Direction, StudySpec
from hpo.storage.records import (
    exchange_record,
    proposal_record,
    study_row,
    trial_record,
    trial_snapshot,
)
from hpo.study_store import (
    BestReport,
    Decision,
    DecisionUse,
    LocalClock,
    LockedStudy,
    NewReport,
    NewTrial,
    ProposalUse,
    ReportUse,
    RungRow,
    StoredAnswer,
    StudyContents,
    StudyRow,
)
from hpo.vocabulary import DONE_STUDY_STATES, StudyStatus, TrialState

# A row (a SimpleNamespace): its columns as attributes, like the ORM rows that
# hpo.storage.records reads, so both stores build their records with the same functions.
Row = Any
_HELD = (TrialState.RUNNING.value, TrialState.PAUSED.value)
_UNIQUE_KEYS = (
    "study",
    "trial",
    "report",
    "decision_request",
    "report_request",
    "proposal_request",
)


@dataclass
class _Tables:
    """The rows, by id, as the SQL store's tables hold them."""

    studies: dict[int, Row] = field(default_factory=dict)
    trials: dict[int, Row] = field(default_factory=dict)
    reports: dict[int, Row] = field(default_factory=dict)
    decisions: dict[int, Row] = field(default_factory=dict)
    workers: dict[str, Row] = field(default_factory=dict)
    proposals: dict[int, Row] = field(default_factory=dict)
    exchanges: dict[int, Row] = field(default_factory=dict)
    # The SQL store's unique keys, as indexes: key -> row ("trial" is (study id, number),
    # "report" (trial id, resource), "*_request" a request id, "study" a name).
    keys: dict[str, dict[tuple[Any, ...], Row]] = field(
        default_factory=lambda: {name: {} for name in _UNIQUE_KEYS}
    )
    last_id: int = 0


class MemoryTransaction:
    """One transaction over the tables (:class:`hpo.study_store.StoreTransaction`)."""

    def __init__(self, tables: _Tables) -> None:
        self.tables = tables
        self._undo: list[Callable[[], None]] = []

    def durable(self) -> None:
        """Nothing to wait for: the store lives and dies with the process."""

    def on_failure(self, callback: Callable[[], None]) -> None:
        """Never called: a transaction's writes stand once its block ended."""

    def rollback(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()

    # ---------------------------------------------------------------- changes, undoable

    def _insert(
        self,
        table: dict[Any, Row],
        columns: dict[str, Any],
        keys: dict[str, tuple[Any, ...]] | None = None,
    ) -> Row:
        """A new row; ConflictError if one of its unique ``keys`` (index name -> key, a key
        holding None is not indexed, as SQL's NULL) is taken."""
        indexed = {
            name: key for name, key in (keys or {}).items() if all(v is not None for v in key)
        }
        for name, key in indexed.items():
            if key in self.tables.keys[name]:
                raise ConflictError(f"a concurrent write committed first: {name} {key} exists")
        row = SimpleNamespace(**columns)
        if "id" not in columns:
            self.tables.last_id += 1
            row.id = self.tables.last_id
        table[row.id] = row
        for name, key in indexed.items():
            self.tables.keys[name][key] = row

        def undo() -> None:
            table.pop(row.id)
            for name, key in indexed.items():
                self.tables.keys[name].pop(key)

        self._undo.append(undo)
        return row

    def _change(self, row: Row, values: dict[str, object]) -> None:
        before = {name: getattr(row, name) for name in values}
        vars(row).update(values)
        self._undo.append(lambda: vars(row).update(before))

    # ---------------------------------------------------------------- studies

    def lock_study(self, study_id: int) -> LockedStudy:
        # One writer at a time holds every study (the store's lock): nothing more to take.
        row = self.tables.studies.get(study_id)
        if row is None:
            raise NotFoundError(f"study {study_id} does not exist")
        return LockedStudy(row.id, row.name, StudyStatus(row.state), row.version)

    def study_by_id(self, study_id: int) -> StudyRow | None:
        row = self.tables.studies.get(study_id)
        return None if row is None else study_row(row)

    def study_by_name(self, name: str) -> StudyRow | None:
        row = self.tables.keys["study"].get((name,))
        return None if row is None else study_row(row)

    def insert_study(self, spec: StudySpec, now: datetime) -> StudyRow:
        row = self._insert(
            self.tables.studies,
            {
                "name": spec.name,
                "spec": spec.to_json(),
                "direction": spec.objective.direction.value,
                "state": StudyStatus.RUNNING.value,
                "version": 0,
                "created_at": now,
                "updated_at": now,
            },
            {"study": (spec.name,)},
        )
        return study_row(row)

    def save_study(
        self,
        study_id: int,
        now: datetime,
        *,
        version: int | None = None,
        status: StudyStatus | None = None,
        spec: StudySpec | None = None,
    ) -> None:
        values: dict[str, object] = {"updated_at": now}
        if version is not None:
            values["version"] = version
        if status is not None:
            values["state"] = status.value
        if spec is not None:
            values["spec"] = spec.to_json()
        self._change(self.tables.studies[study_id], values)

    def study_contents(self, study_id: int) -> StudyContents:
        study = self.tables.studies[study_id]
        rows = sorted(
            (row for row in self.tables.trials.values() if row.study_id == study_id),
            key=lambda row: row.number,
        )
        numbers = {row.id: row.number for row in rows}
        trials = [trial_snapshot(row) for row in rows]
        reports = [
            report
            for report in self.tables.reports.values()  # in id order: dicts keep insertion
            if report.study_id == study_id
        ]
        rung_results = [
            RungRow(
                numbers[report.trial_id],
                report.rung,
                report.value,
                report.metrics,
                report.predicted,
            )
            for report in reports
            if report.rung is not None
        ]
        spec = StudySpec.from_json(study.spec)
        curve_points = (
            [(numbers[report.trial_id], report.resource, report.value) for report in reports]
            if spec.decision is DecisionBasis.CURVE
            else []
        )
        answered = frozenset(
            row.prior_index for row in self.tables.exchanges.values() if row.study_id == study_id
        )
        return StudyContents(
            spec, trials, rung_results, self.proposals(study_id), answered, curve_points
        )

    # ---------------------------------------------------------------- trials

    def _trial_row(self, study_id: int, number: int) -> Row:
        row = self.tables.keys["trial"].get((study_id, number))
        if row is None:
            raise NotFoundError(f"trial {number} of study {study_id} does not exist")
        return row

    def trial(self, study_id: int, number: int) -> TrialRecord:
        row = self._trial_row(study_id, number)
        return trial_record(row, self.tables.studies[study_id].name)

    def insert_trial(self, trial: NewTrial) -> TrialRecord:
        row = self._insert(
            self.tables.trials, trial.columns(), {"trial": (trial.study_id, trial.number)}
        )
        return trial_record(row, self.tables.studies[trial.study_id].name)

    def update_trial(self, trial_id: int, now: datetime, **columns: object) -> None:
        self._change(self.tables.trials[trial_id], {**columns, "updated_at": now})

    def lease_of(self, trial_id: int) -> datetime | None:
        lease: datetime | None = self.tables.trials[trial_id].lease_expires_at
        return lease

    def expired_trials(self, study_id: int, now: datetime) -> list[int]:
        return [
            row.number
            for row in self.tables.trials.values()
            if row.study_id == study_id
            and row.state in _HELD
            and row.lease_expires_at is not None
            and row.lease_expires_at < now
        ]

    def renew_leases(
        self, worker_id: str, trial_ids: Sequence[int], now: datetime, until: datetime
    ) -> set[int]:
        renewed: set[int] = set()
        for trial_id in set(trial_ids):
            row = self.tables.trials.get(trial_id)
            if (
                row is not None
                and row.worker_id == worker_id
                and row.state in _HELD
                and row.lease_expires_at is not None
                and row.lease_expires_at >= now
            ):
                self._change(row, {"lease_expires_at": until})
                renewed.add(trial_id)
        return renewed

    def existing_trials(self, trial_ids: Sequence[int]) -> set[int]:
        return {trial_id for trial_id in trial_ids if trial_id in self.tables.trials}

    def renew_held_leases(self, until: datetime) -> int:
        held = [
            row
            for row in self.tables.trials.values()
            if row.lease_expires_at is not None and row.lease_expires_at < until
        ]
        for row in held:
            self._change(row, {"lease_expires_at": until})
        return len(held)

    def insert_report(self, report: NewReport) -> None:
        keys = {
            "report": (report.trial_id, report.resource),
            "report_request": (report.request_id,),
        }
        self._insert(self.tables.reports, vars(report), keys)

    def log(self, decision: Decision) -> None:
        keys = {"decision_request": (decision.request_id,)}
        self._insert(self.tables.decisions, vars(decision), keys)

    def touch_worker(self, worker_id: str, now: datetime) -> None:
        row = self.tables.workers.get(worker_id)
        if row is None:
            self._insert(
                self.tables.workers, {"id": worker_id, "first_seen_at": now, "last_seen_at": now}
            )
        else:
            self._change(row, {"last_seen_at": now})

    # ---------------------------------------------------------------- request ids

    def request_id_uses(self, request_id: str) -> set[str]:
        return {
            use
            for use in ("decision", "report", "proposal")
            if (request_id,) in self.tables.keys[f"{use}_request"]
        }

    def _by_request(self, use: str, request_id: str) -> Row | None:
        return self.tables.keys[f"{use}_request"].get((request_id,))

    def decision_by_request(self, request_id: str) -> DecisionUse | None:
        row = self._by_request("decision", request_id)
        if row is None:
            return None
        names = ("kind", "study_id", "trial_id", "worker_id", "resource", "reason")
        return DecisionUse(**{name: getattr(row, name) for name in names})

    def report_by_request(self, request_id: str) -> ReportUse | None:
        row = self._by_request("report", request_id)
        if row is None:
            return None
        names = ("trial_id", "resource", "value", "worker_id", "action", "next_resource")
        return ReportUse(**{name: getattr(row, name) for name in names})

    def proposal_by_request(self, request_id: str) -> ProposalUse | None:
        row = self._by_request("proposal", request_id)
        return None if row is None else ProposalUse(row.id, row.study_id, row.config)

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
        positions = [
            row.position for row in self.tables.proposals.values() if row.study_id == study_id
        ]
        first = max(positions, default=-1) + 1
        added = []
        for offset, config in enumerate(configs):
            row = self._insert(
                self.tables.proposals,
                {
                    "study_id": study_id,
                    "position": first + offset,
                    "config": dict(config),
                    "source": source,
                    "run_first": run_first,
                    "prior_index": prior_index,
                    "trial_id": None,
                    "exchange_id": exchange_id,
                    "request_id": request_id,
                    "created_at": now,
                },
                {"proposal_request": (request_id,)},
            )
            added.append(proposal_record(row))
        return added

    def link_proposal(self, proposal_id: int, trial_id: int) -> None:
        self._change(self.tables.proposals[proposal_id], {"trial_id": trial_id})

    def add_exchange(
        self,
        study_id: int,
        prior_index: int,
        exchange: LLMExchange,
        replayed_from: int | None,
        now: datetime,
    ) -> int:
        row = self._insert(
            self.tables.exchanges,
            {
                "study_id": study_id,
                "prior_index": prior_index,
                "base_url": exchange.base_url,
                "model": exchange.model,
                "prompt_hash": exchange.prompt_hash,
                "messages": list(exchange.messages),
                "response_format": exchange.response_format,
                "raw_answer": exchange.raw_answer,
                "accepted": list(exchange.accepted),
                "rejected": list(exchange.rejected),
                "error": exchange.error,
                "seconds": exchange.seconds,
                "replayed_from": replayed_from,
                "created_at": now,
            },
        )
        return int(row.id)

    def transfer_studies(
        self, names: Sequence[str], exclude_study_id: int | None
    ) -> list[StudyRow]:
        done = {state.value for state in DONE_STUDY_STATES}
        completed = {
            row.study_id
            for row in self.tables.trials.values()
            if row.state == TrialState.COMPLETED.value
        }
        return [
            study_row(row)
            for study_id, row in sorted(self.tables.studies.items())
            if study_id != exclude_study_id
            and (row.name in names if names else row.state in done and study_id in completed)
        ]

    def best_configs(self, study: StudyRow, top_k: int) -> list[Config]:
        sign = -1.0 if study.direction is Direction.MAXIMIZE else 1.0
        trials = [
            row
            for row in self.tables.trials.values()
            if row.study_id == study.id
            and row.last_value is not None
            and row.rung >= 0
            and row.state != TrialState.FAILED.value
        ]
        trials.sort(key=lambda row: (-row.rung, sign * row.last_value, row.number))
        return [dict(row.config) for row in trials[:top_k]]

    def family_studies(self, family: str, exclude_study_id: int | None) -> list[StudyRow]:
        return [
            study_row(row)
            for study_id, row in sorted(self.tables.studies.items())
            if study_id != exclude_study_id and row.spec.get("family") == family
        ]

    def full_resource_results(self, study: StudyRow) -> list[tuple[Config, float]]:
        r_max = float(study.spec_json["resource"]["r_max"])
        trials = sorted(
            (
                row
                for row in self.tables.trials.values()
                if row.study_id == study.id
                and row.last_value is not None
                and row.last_resource is not None
                and row.last_resource >= r_max * (1 - RELATIVE_TOLERANCE)
                and row.state != TrialState.FAILED.value
            ),
            key=lambda row: row.number,
        )
        return [(dict(row.config), row.last_value) for row in trials]

    # ---------------------------------------------------------------- reads of the store

    def proposals(self, study_id: int) -> list[Proposal]:
        numbers = {row.id: row.number for row in self.tables.trials.values()}
        rows = sorted(
            (row for row in self.tables.proposals.values() if row.study_id == study_id),
            key=lambda row: row.position,
        )
        return [proposal_record(row, numbers.get(row.trial_id)) for row in rows]


class MemoryStudyStore:
    """:class:`hpo.study_store.StudyStore` in this process's memory (gone when it exits)."""

    def __init__(self) -> None:
        self._tables = _Tables()
        self._lock = threading.RLock()

    @contextmanager
    def write(self, wait: bool = True) -> Iterator[MemoryTransaction]:
        with self._lock:
            transaction = MemoryTransaction(self._tables)
            try:
                yield transaction
            except BaseException:
                transaction.rollback()
                raise

    def write_coming(self) -> AbstractContextManager[None]:
        return nullcontext()  # every write commits at once

    @contextmanager
    def read(self) -> Iterator[MemoryTransaction]:
        with self._lock:
            transaction = MemoryTransaction(self._tables)
            try:
                yield transaction
            finally:
                transaction.rollback()  # a read changes nothing

    def clock(self, local: Callable[[], datetime]) -> LocalClock:
        return LocalClock(local)  # one process, one clock

    # ---------------------------------------------------------------- reads

    def _counts(self, study_id: int | None = None) -> dict[int, dict[str, int]]:
        counts: dict[int, dict[str, int]] = {}
        for row in self._tables.trials.values():
            if study_id is None or row.study_id == study_id:
                by_state = counts.setdefault(row.study_id, {})
                by_state[row.state] = by_state.get(row.state, 0) + 1
        return counts

    def list_studies(self) -> list[tuple[StudyRow, dict[str, int]]]:
        with self._lock:
            counts = self._counts()
            return [
                (study_row(row), counts.get(study_id, {}))
                for study_id, row in sorted(self._tables.studies.items())
            ]

    def counts(self, study_id: int) -> dict[str, int]:
        with self._lock:
            return self._counts(study_id).get(study_id, {})

    def trial_key(self, trial_id: int) -> tuple[int, int] | None:
        with self._lock:
            row = self._tables.trials.get(trial_id)
            return None if row is None else (row.study_id, row.number)

    def trials_page(
        self,
        study: StudyRow,
        states: Sequence[TrialState],
        start_number: int,
        limit: int,
        include_reports: bool,
    ) -> tuple[list[TrialRecord], bool]:
        wanted = {state.value for state in states}
        with self._lock:
            rows = sorted(
                (
                    row
                    for row in self._tables.trials.values()
                    if row.study_id == study.id
                    and row.number >= start_number
                    and (not wanted or row.state in wanted)
                ),
                key=lambda row: row.number,
            )
            page = rows[:limit]
            reports: dict[int, list[Row]] = {}
            if include_reports:
                ids = {row.id for row in page}
                for report in self._tables.reports.values():
                    if report.trial_id in ids:
                        reports.setdefault(report.trial_id, []).append(report)
            records = [
                trial_record(
                    row,
                    study.name,
                    sorted(reports.get(row.id, ()), key=lambda report: report.resource),
                )
                for row in page
            ]
            return records, len(rows) > limit

    def best(self, study: StudyRow) -> BestReport | None:
        sign = -1.0 if study.direction is Direction.MAXIMIZE else 1.0
        with self._lock:
            settled = [
                report
                for report in self._tables.reports.values()
                if report.study_id == study.id and report.rung is not None
            ]
            if not settled:
                return None
            report = min(
                settled,
                key=lambda report: (-report.rung, sign * report.value, report.id),
            )
            trial = trial_record(self._tables.trials[report.trial_id], study.name)
            return BestReport(trial, report.value, report.resource)

    def proposals(self, study_id: int) -> list[Proposal]:
        with self.read() as transaction:
            return transaction.proposals(study_id)

    def exchanges(self, study_id: int) -> list[ExchangeRecord]:
        with self._lock:
            return [
                exchange_record(row)
                for row in self._tables.exchanges.values()
                if row.study_id == study_id
            ]

    def earlier_answer(self, prompt_hash: str) -> StoredAnswer | None:
        with self._lock:
            for row in self._tables.exchanges.values():
                if (
                    row.prompt_hash == prompt_hash
                    and row.error is None
                    and row.replayed_from is None
                    and row.raw_answer is not None
                ):
                    return StoredAnswer(row.id, row.raw_answer, row.response_format)
            return None

    def studies_with_expired_leases(self, now: datetime) -> list[int]:
        with self._lock:
            return sorted(
                {
                    row.study_id
                    for row in self._tables.trials.values()
                    if row.lease_expires_at is not None and row.lease_expires_at < now
                }
            )

    def next_lease_expiry(self) -> datetime | None:
        with self._lock:
            leases = [
                row.lease_expires_at
                for row in self._tables.trials.values()
                if row.lease_expires_at is not None
            ]
            return min(leases, default=None)

    def close(self) -> None:
        """Nothing to release."""
