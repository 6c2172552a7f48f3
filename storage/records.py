"""The store's rows as the domain's frozen records (:mod:`hpo.records`): what leaves the
storage layer, so no ORM row travels past the service."""

from __future__ import annotations

from collections.abc import Sequence

from hpo.records import ExchangeRecord, ReportRecord, TrialRecord
from hpo.storage import tables
from hpo.vocabulary import TrialState


def report_record(row: tables.Report) -> ReportRecord:
    return ReportRecord(
        resource=row.resource, value=row.value, rung=row.rung, created_at=row.created_at
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
