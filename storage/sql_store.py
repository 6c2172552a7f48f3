"""The study store over SQL (SQLite or PostgreSQL): :class:`hpo.study_store.StudyStore` in
SQLAlchemy.

Every statement the study service runs lives here. The hot paths (a Suggest, a Report, a
Complete) use the prebuilt statements of :mod:`hpo.storage.queries`, run on the driver's
cursor: building a statement or going through the ORM's unit of work cost several
milliseconds a call, and Core's per-statement execution most of what was left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from hpo.errors import NotFoundError
from hpo.priors.llm import LLMExchange
from hpo.priors.proposals import Proposal
from hpo.records import ExchangeRecord, TrialRecord
from hpo.schedulers.rungs import RELATIVE_TOLERANCE
from hpo.space import Config
from hpo.spec import DecisionBasis, Direction, StudySpec
from hpo.state import TrialSnapshot
from hpo.storage import queries, tables
from hpo.storage.clock import StoreClock
from hpo.storage.engine import is_sqlite
from hpo.storage.group_commit import GroupCommit, Member
from hpo.storage.records import (
    exchange_record,
    proposal_record,
    study_row,
    trial_record,
    trial_snapshot,
)
from hpo.storage.store import Store, domain_errors
from hpo.study_store import (
    BestReport,
    Decision,
    DecisionUse,
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

_HELD = [TrialState.RUNNING.value, TrialState.PAUSED.value]


def load_proposals(session: Session, study_id: int) -> list[Proposal]:
    rows = session.execute(
        select(tables.PriorProposal, tables.Trial.number)
        .outerjoin(tables.Trial, tables.Trial.id == tables.PriorProposal.trial_id)
        .where(tables.PriorProposal.study_id == study_id)
        .order_by(tables.PriorProposal.position)
    )
    return [proposal_record(row, number) for row, number in rows]


class SqlTransaction:
    """One SQL transaction (:class:`hpo.study_store.StoreTransaction`) on ``connection``;
    ``member`` is its place in a SQLite group commit, None when it commits on its own
    (PostgreSQL, reads).

    The hot statements run on the connection. The others (creating a study, proposals, LLM
    exchanges, transfers) use the ORM: a write transaction makes its session on first use, in
    a savepoint of its own, so a call that needs none pays for none (the session's begin and
    commit were about a seventh of a coordinator's time under load, issue 16), and a failed
    flush rolls back that savepoint only, never the batch it shares. A read passes its own
    ``session``.
    """

    def __init__(
        self, connection: Connection, member: Member | None = None, session: Session | None = None
    ) -> None:
        self.connection = connection
        self._member = member
        self._session = session
        self._own_session: Session | None = None
        self._names: dict[int, str] = {}

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = self._own_session = Session(
                bind=self.connection,
                join_transaction_mode="create_savepoint",
                expire_on_commit=False,
            )
        return self._session

    @contextmanager
    def scope(self) -> Iterator[SqlTransaction]:
        """The transaction for a block: the session it made (if any) is flushed and its
        savepoint released when the block ends cleanly, rolled back when it raises."""
        try:
            yield self
        except BaseException:
            if self._own_session is not None:
                self._own_session.close()
            raise
        if self._own_session is not None:
            with self._own_session:
                self._own_session.commit()

    def durable(self) -> None:
        if self._member is not None:
            with domain_errors():
                self._member.wait()

    def on_failure(self, callback: Callable[[], None]) -> None:
        if self._member is not None:
            self._member.on_failure.append(callback)

    # ---------------------------------------------------------------- studies

    def lock_study(self, study_id: int) -> LockedStudy:
        # FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises writers already.
        row = queries.LOCK_STUDY.first(self.connection, {"study_id": study_id})
        if row is None:
            raise NotFoundError(f"study {study_id} does not exist")
        self._names[study_id] = row.name
        return LockedStudy(row.id, row.name, StudyStatus(row.state), row.version)

    def study_by_id(self, study_id: int) -> StudyRow | None:
        row = self.session.get(tables.Study, study_id, populate_existing=True)
        return None if row is None else self._known(row)

    def study_by_name(self, name: str) -> StudyRow | None:
        row = self.session.scalar(select(tables.Study).where(tables.Study.name == name))
        return None if row is None else self._known(row)

    def _known(self, row: tables.Study) -> StudyRow:
        self._names[row.id] = row.name
        return study_row(row)

    def insert_study(self, spec: StudySpec, now: datetime) -> StudyRow:
        row = tables.Study(
            name=spec.name,
            spec=spec.to_json(),
            direction=spec.objective.direction.value,
            state=StudyStatus.RUNNING.value,
            version=0,
            created_at=now,
            updated_at=now,
        )
        self.session.add(row)
        self.session.flush()
        return self._known(row)

    def save_study(
        self,
        study_id: int,
        now: datetime,
        *,
        version: int | None = None,
        status: StudyStatus | None = None,
        spec: StudySpec | None = None,
    ) -> None:
        values: dict[str, object] = {"study_pk": study_id, "updated_at": now}
        if version is not None:
            values["version"] = version
        if status is not None:
            values["state"] = status.value
        if spec is not None:
            values["spec"] = spec.to_json()
        queries.UPDATE_STUDY.run(self.connection, values)

    def study_contents(self, study_id: int) -> StudyContents:
        spec = self.session.execute(
            select(tables.Study.spec).where(tables.Study.id == study_id)
        ).scalar_one()
        numbers: dict[int, int] = {}
        trials: list[TrialSnapshot] = []
        for trial in self.session.scalars(
            select(tables.Trial)
            .where(tables.Trial.study_id == study_id)
            .order_by(tables.Trial.number)
        ):
            numbers[trial.id] = trial.number
            trials.append(trial_snapshot(trial))
        rung_results = [
            RungRow(numbers[trial_id], rung, value, metrics, predicted)
            for trial_id, rung, value, metrics, predicted in self.session.execute(
                select(
                    tables.Report.trial_id,
                    tables.Report.rung,
                    tables.Report.value,
                    tables.Report.metrics,
                    tables.Report.predicted,
                )
                .where(tables.Report.study_id == study_id, tables.Report.rung.is_not(None))
                .order_by(tables.Report.id)
            )
        ]
        study_spec = StudySpec.from_json(spec)
        curve_points = []
        if study_spec.decision is DecisionBasis.CURVE:
            curve_points = [
                (numbers[trial_id], resource, value)
                for trial_id, resource, value in self.session.execute(
                    select(tables.Report.trial_id, tables.Report.resource, tables.Report.value)
                    .where(tables.Report.study_id == study_id)
                    .order_by(tables.Report.id)
                )
            ]
        answered = frozenset(
            self.session.scalars(
                select(tables.LLMExchange.prior_index).where(
                    tables.LLMExchange.study_id == study_id
                )
            )
        )
        return StudyContents(
            study_spec,
            trials,
            rung_results,
            load_proposals(self.session, study_id),
            answered,
            curve_points,
        )

    # ---------------------------------------------------------------- trials

    def trial(self, study_id: int, number: int) -> TrialRecord:
        row = queries.TRIAL_BY_NUMBER.first(
            self.connection, {"study_id": study_id, "number": number}
        )
        if row is None:
            raise NotFoundError(f"study {study_id} has no trial {number}")
        return trial_record(row, self._name(study_id))

    def _name(self, study_id: int) -> str:
        """The study's name (records carry it), read once per transaction."""
        if study_id not in self._names:
            study = self.study_by_id(study_id)
            if study is None:
                raise NotFoundError(f"study {study_id} does not exist")
        return self._names[study_id]

    def insert_trial(self, trial: NewTrial) -> TrialRecord:
        values = trial.columns()
        (trial_id,) = queries.INSERT_TRIAL.rows(self.connection, values)[0]
        # The columns as a plain namespace: an ORM row costs its instrumentation per column.
        row: Any = SimpleNamespace(id=trial_id, **values)
        return trial_record(row, self._name(trial.study_id))

    def update_trial(self, trial_id: int, now: datetime, **columns: object) -> None:
        queries.UPDATE_TRIAL.run(
            self.connection, {"trial_pk": trial_id, "updated_at": now, **columns}
        )

    def lease_of(self, trial_id: int) -> datetime | None:
        row = queries.LEASE_OF_TRIAL.first(self.connection, {"trial_pk": trial_id})
        if row is None:
            raise NotFoundError(f"trial {trial_id} does not exist")
        lease: datetime | None = row.lease_expires_at
        return lease

    def expired_trials(self, study_id: int, now: datetime) -> list[int]:
        rows = queries.EXPIRED_TRIALS.rows(self.connection, {"study_id": study_id, "now": now})
        return [row.number for row in rows]

    def renew_leases(
        self, worker_id: str, trial_ids: Sequence[int], now: datetime, until: datetime
    ) -> set[int]:
        if not trial_ids:
            return set()
        return set(
            self.connection.scalars(
                update(tables.Trial)
                .where(
                    tables.Trial.id.in_(trial_ids),
                    tables.Trial.worker_id == worker_id,
                    tables.Trial.state.in_(_HELD),
                    tables.Trial.lease_expires_at >= now,
                )
                .values(lease_expires_at=until)
                .returning(tables.Trial.id)
            ).all()
        )

    def existing_trials(self, trial_ids: Sequence[int]) -> set[int]:
        if not trial_ids:
            return set()
        return set(
            self.connection.scalars(select(tables.Trial.id).where(tables.Trial.id.in_(trial_ids)))
        )

    def renew_held_leases(self, until: datetime) -> int:
        result = self.connection.execute(
            update(tables.Trial)
            .where(
                tables.Trial.lease_expires_at.is_not(None),
                tables.Trial.lease_expires_at < until,
            )
            .values(lease_expires_at=until)
        )
        return int(result.rowcount)

    def insert_report(self, report: NewReport) -> None:
        queries.INSERT_REPORT.run(self.connection, vars(report))

    def log(self, decision: Decision) -> None:
        queries.INSERT_DECISION.run(self.connection, vars(decision))

    def touch_worker(self, worker_id: str, now: datetime) -> None:
        queries.touch_worker(self.connection, worker_id, now)

    # ---------------------------------------------------------------- request ids

    def request_id_uses(self, request_id: str) -> set[str]:
        rows = queries.REQUEST_ID_USES.rows(self.connection, {"request_id": request_id})
        return {row.use for row in rows}

    def decision_by_request(self, request_id: str) -> DecisionUse | None:
        row = queries.DECISION_BY_REQUEST.first(self.connection, {"request_id": request_id})
        return None if row is None else DecisionUse(**row._asdict())

    def report_by_request(self, request_id: str) -> ReportUse | None:
        row = queries.REPORT_BY_REQUEST.first(self.connection, {"request_id": request_id})
        return None if row is None else ReportUse(**row._asdict())

    def proposal_by_request(self, request_id: str) -> ProposalUse | None:
        row = self.session.scalar(
            select(tables.PriorProposal).where(tables.PriorProposal.request_id == request_id)
        )
        return None if row is None else ProposalUse(row.id, row.study_id, dict(row.config))

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
        if not configs:
            return []
        last = self.session.scalar(
            select(func.max(tables.PriorProposal.position)).where(
                tables.PriorProposal.study_id == study_id
            )
        )
        rows = [
            tables.PriorProposal(
                study_id=study_id,
                position=(-1 if last is None else last) + 1 + offset,
                config=dict(config),
                source=source,
                run_first=run_first,
                prior_index=prior_index,
                exchange_id=exchange_id,
                request_id=request_id,
                created_at=now,
            )
            for offset, config in enumerate(configs)
        ]
        self.session.add_all(rows)
        self.session.flush()
        return [proposal_record(row) for row in rows]

    def link_proposal(self, proposal_id: int, trial_id: int) -> None:
        self.connection.execute(
            update(tables.PriorProposal)
            .where(tables.PriorProposal.id == proposal_id)
            .values(trial_id=trial_id)
        )

    def add_exchange(
        self,
        study_id: int,
        prior_index: int,
        exchange: LLMExchange,
        replayed_from: int | None,
        now: datetime,
    ) -> int:
        row = tables.LLMExchange(
            study_id=study_id,
            prior_index=prior_index,
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
            created_at=now,
        )
        self.session.add(row)
        self.session.flush()
        return row.id

    def transfer_studies(
        self, names: Sequence[str], exclude_study_id: int | None
    ) -> list[StudyRow]:
        if names:
            query = select(tables.Study).where(tables.Study.name.in_(names))
        else:
            completed = (
                select(tables.Trial.id)
                .where(
                    tables.Trial.study_id == tables.Study.id,
                    tables.Trial.state == TrialState.COMPLETED.value,
                )
                .exists()
            )
            query = select(tables.Study).where(
                tables.Study.state.in_([state.value for state in DONE_STUDY_STATES]), completed
            )
        rows = self.session.scalars(query.order_by(tables.Study.id)).all()
        return [study_row(row) for row in rows if row.id != exclude_study_id]

    def best_configs(self, study: StudyRow, top_k: int) -> list[Config]:
        trials = self.session.scalars(
            select(tables.Trial).where(
                tables.Trial.study_id == study.id,
                tables.Trial.last_value.is_not(None),
                tables.Trial.rung >= 0,
                tables.Trial.state != TrialState.FAILED.value,
            )
        ).all()
        sign = -1.0 if study.direction is Direction.MAXIMIZE else 1.0
        ranked = sorted(
            trials, key=lambda trial: (-trial.rung, sign * trial.last_value, trial.number)
        )
        return [dict(trial.config) for trial in ranked[:top_k]]

    def family_studies(self, family: str, exclude_study_id: int | None) -> list[StudyRow]:
        # The family lives in the spec's JSON: a store holds tens to hundreds of studies, so
        # they are read and filtered here rather than by each database's JSON operators.
        rows = self.session.scalars(select(tables.Study).order_by(tables.Study.id)).all()
        return [
            study_row(row)
            for row in rows
            if row.id != exclude_study_id and row.spec.get("family") == family
        ]

    def full_resource_results(self, study: StudyRow) -> list[tuple[Config, float]]:
        r_max = float(study.spec_json["resource"]["r_max"])
        trials = self.session.scalars(
            select(tables.Trial)
            .where(
                tables.Trial.study_id == study.id,
                tables.Trial.last_value.is_not(None),
                tables.Trial.last_resource >= r_max * (1 - RELATIVE_TOLERANCE),
                tables.Trial.state != TrialState.FAILED.value,
            )
            .order_by(tables.Trial.number)
        ).all()
        return [(dict(trial.config), trial.last_value) for trial in trials]


class SqlStudyStore:
    """:class:`hpo.study_store.StudyStore` over one database (:class:`hpo.storage.Store`)."""

    def __init__(self, db: str | Engine | Store) -> None:
        self.sql = db if isinstance(db, Store) else Store(db)
        # SQLite's writers share transactions and fsyncs (hpo.storage.group_commit).
        self._group = GroupCommit(self.sql.new_write_connection) if is_sqlite(self.engine) else None

    @property
    def engine(self) -> Engine:
        return self.sql.engine

    @property
    def url(self) -> str:
        return self.sql.url

    @contextmanager
    def write(self, wait: bool = True) -> Iterator[SqlTransaction]:
        if self._group is None:
            with (
                self.sql.write_connection() as connection,
                SqlTransaction(connection).scope() as transaction,
            ):
                yield transaction
            return
        with (
            domain_errors(),
            self._group.transaction() as (connection, member),
            SqlTransaction(connection, member).scope() as transaction,
        ):
            yield transaction
        if wait:
            transaction.durable()

    def write_coming(self) -> AbstractContextManager[None]:
        return nullcontext() if self._group is None else self._group.coming()

    @contextmanager
    def read(self) -> Iterator[SqlTransaction]:
        with self.sql.read() as session:
            yield SqlTransaction(session.connection(), session=session)

    def clock(self, local: Callable[[], datetime]) -> StoreClock:
        return StoreClock(self.sql.engine, local)

    # ---------------------------------------------------------------- reads

    def list_studies(self) -> list[tuple[StudyRow, dict[str, int]]]:
        with self.sql.read() as session:
            studies = session.scalars(select(tables.Study).order_by(tables.Study.id)).all()
            counts: dict[int, dict[str, int]] = {}
            rows = session.execute(
                select(tables.Trial.study_id, tables.Trial.state, func.count()).group_by(
                    tables.Trial.study_id, tables.Trial.state
                )
            )
            for study_id, state, count in rows:
                counts.setdefault(study_id, {})[state] = count
            return [(study_row(study), counts.get(study.id, {})) for study in studies]

    def counts(self, study_id: int) -> dict[str, int]:
        with self.sql.read() as session:
            rows = session.execute(
                select(tables.Trial.state, func.count())
                .where(tables.Trial.study_id == study_id)
                .group_by(tables.Trial.state)
            )
            return {state: count for state, count in rows}

    def trial_key(self, trial_id: int) -> tuple[int, int] | None:
        with self.sql.read() as session:
            row = session.execute(
                select(tables.Trial.study_id, tables.Trial.number).where(
                    tables.Trial.id == trial_id
                )
            ).one_or_none()
        return None if row is None else (row.study_id, row.number)

    def trials_page(
        self,
        study: StudyRow,
        states: Sequence[TrialState],
        start_number: int,
        limit: int,
        include_reports: bool,
    ) -> tuple[list[TrialRecord], bool]:
        with self.sql.read() as session:
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
            records = [trial_record(row, study.name, reports.get(row.id, ())) for row in trials]
            return records, more

    def best(self, study: StudyRow) -> BestReport | None:
        with self.sql.read() as session:
            by_value = (
                tables.Report.value.asc()
                if study.direction is Direction.MINIMIZE
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
            return BestReport(trial, report.value, report.resource)

    def proposals(self, study_id: int) -> list[Proposal]:
        with self.sql.read() as session:
            return load_proposals(session, study_id)

    def exchanges(self, study_id: int) -> list[ExchangeRecord]:
        with self.sql.read() as session:
            rows = session.scalars(
                select(tables.LLMExchange)
                .where(tables.LLMExchange.study_id == study_id)
                .order_by(tables.LLMExchange.id)
            ).all()
            return [exchange_record(row) for row in rows]

    def earlier_answer(self, prompt_hash: str) -> StoredAnswer | None:
        with self.sql.read() as session:
            row = session.scalars(
                select(tables.LLMExchange)
                .where(
                    tables.LLMExchange.prompt_hash == prompt_hash,
                    tables.LLMExchange.error.is_(None),
                    tables.LLMExchange.replayed_from.is_(None),
                    tables.LLMExchange.raw_answer.is_not(None),
                )
                .order_by(tables.LLMExchange.id)
                .limit(1)
            ).first()
            if row is None or row.raw_answer is None:
                return None
            return StoredAnswer(row.id, row.raw_answer, row.response_format)

    def studies_with_expired_leases(self, now: datetime) -> list[int]:
        with self.sql.read() as session:
            return list(
                session.scalars(
                    select(tables.Trial.study_id)
                    .where(tables.Trial.lease_expires_at < now)
                    .distinct()
                ).all()
            )

    def next_lease_expiry(self) -> datetime | None:
        with self.sql.read() as session:
            expiry: datetime | None = session.scalar(
                select(func.min(tables.Trial.lease_expires_at))
            )
            return expiry

    def close(self) -> None:
        if self._group is not None:
            self._group.close()
        self.sql.dispose()
