"""Trials (and LLM exchanges) as the store has them, read-only: what the service answers with,
what travels on the wire, and what the client hands its users.

Frozen, and free of any storage or transport type, so that the service never hands out an
ORM row (a row could still be changed, or lazily load through a closed session) and the
light client can use the same record (docs/architecture.md). The store builds them
(:mod:`hpo.storage.records`), the wire code converts them (:mod:`hpo.wire`,
:mod:`hpo.coordinator.convert`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hpo.space import Config
from hpo.vocabulary import TrialState


@dataclass(frozen=True)
class ReportRecord:
    resource: float
    value: float
    # The rung the report settled, None between rungs.
    rung: int | None
    created_at: datetime
    # Every metric of the report; empty for a one-value report (``value`` is the objective).
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialRecord:
    """A trial as the store has it (read-only)."""

    id: int
    study: str
    number: int
    config: Config
    state: TrialState
    bracket: int
    rung: int
    target_resource: float
    last_resource: float | None
    last_value: float | None
    source: str
    # "" while no worker holds it.
    worker_id: str
    fail_reason: str
    # How many times the trial's worker lost its lease and another worker resumed it.
    retries: int
    created_at: datetime
    updated_at: datetime
    reports: tuple[ReportRecord, ...] = ()
    # The metrics of the latest report (empty for one-value reports).
    last_metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ExchangeRecord:
    """One stored question to an LLM and its answer, verbatim (``llm_exchanges``)."""

    id: int
    prior_index: int
    base_url: str
    model: str
    prompt_hash: str
    messages: tuple[dict[str, Any], ...]
    response_format: dict[str, Any] | None
    raw_answer: str
    # How many configurations of the answer were accepted and rejected.
    accepted: int
    rejected: int
    error: str
    # The exchange this one replayed (the same question asked before), if any.
    replayed_from: int | None
    created_at: datetime
