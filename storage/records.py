"""The store's rows as the domain's frozen records (:mod:`hpo.records`, :mod:`hpo.study_store`):
what leaves the storage layer, so no row travels past it. The SQL store passes its ORM rows
(and on its hot path named tuples of the same columns), the memory store rows with the same
attributes."""

from __future__ import annotations

from collections.abc import Sequence

from hpo.priors.proposals import Proposal
from hpo.records import ExchangeRecord, ReportRecord, TrialRecord
from hpo.spec import Direction
from hpo.state import TrialSnapshot
from hpo.storage import tables
from hpo.study_store import StudyRow
from hpo.vocabulary import StudyStatus, TrialState


def report_record(row: tables.Report) -> ReportRecord:
    return ReportRecord(
        resource=row.resource,
        value=row.value,
        rung=row.rung,
        created_at=row.created_at,
        metrics=dict(row.metrics or {}),
    )


def trial_record(
    row: tables.Trial, study: str, reports: Sequence[tables.Report] = ()
) -> TrialRecord:
    """Trial ``row`` of study ``study``, with ``reports`` (its report rows, in order)."""
    return TrialRecord(
        id=row.id,
        study=study,
        number=row.number,
        config=dict(row.config),
        state=TrialState(row.state),
        bracket=row.bracket,
        rung=row.rung,
        target_resource=row.target_resource,
        last_resource=row.last_resource,
        last_value=row.last_value,
        source=row.source,
        worker_id=row.worker_id or "",
        fail_reason=row.fail_reason or "",
        retries=row.retries or 0,
        created_at=row.created_at,
        updated_at=row.updated_at,
        reports=tuple(report_record(report) for report in reports),
        last_metrics=dict(row.last_metrics or {}),
    )


def trial_snapshot(row: tables.Trial) -> TrialSnapshot:
    """What decisions read of trial ``row`` (:mod:`hpo.state`)."""
    return TrialSnapshot(
        number=row.number,
        config=dict(row.config),
        state=TrialState(row.state),
        bracket=row.bracket,
        rung=row.rung,
        target_rung=row.target_rung,
        last_resource=row.last_resource,
        source=row.source,
        worker_id=row.worker_id,
    )


def exchange_record(row: tables.LLMExchange) -> ExchangeRecord:
    return ExchangeRecord(
        id=row.id,
        prior_index=row.prior_index,
        base_url=row.base_url,
        model=row.model,
        prompt_hash=row.prompt_hash,
        messages=tuple(row.messages),
        response_format=row.response_format,
        raw_answer=row.raw_answer or "",
        accepted=len(row.accepted),
        rejected=len(row.rejected),
        error=row.error or "",
        replayed_from=row.replayed_from,
        created_at=row.created_at,
    )


def study_row(row: tables.Study) -> StudyRow:
    return StudyRow(
        id=row.id,
        name=row.name,
        status=StudyStatus(row.state),
        version=row.version,
        spec_json=row.spec,
        direction=Direction(row.direction),
        created_at=row.created_at,
    )


def proposal_record(row: tables.PriorProposal, trial_number: int | None = None) -> Proposal:
    return Proposal(
        id=row.id,
        position=row.position,
        config=dict(row.config),
        source=row.source,
        run_first=row.run_first,
        prior_index=row.prior_index,
        trial_number=trial_number,
    )
