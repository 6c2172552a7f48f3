"""The tables of the trial store.

Plain tables meant to be read by people as much as by hpo (see docs/storage.md):
``studies`` (one row per study, its spec as JSON), ``trials`` (one row per
configuration, its state and where it stands in the rungs), ``reports`` (every
intermediate result, with the decision it got), ``decisions`` (the scheduler's
log: new trials, promotions, pauses, stops...), ``workers``, and the priors'
``prior_proposals`` (configurations queued or believed good) and
``llm_exchanges`` (every question to an LLM and its answer), and ``tokens`` (who may call
the coordinator, by the SHA-256 of their bearer secret).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hpo.storage.types import Id, Json, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    spec: Mapped[dict[str, Any]] = mapped_column(Json)
    # Copied out of the spec so that SQL over the store needs no JSON functions.
    direction: Mapped[str] = mapped_column(String(16))
    # running | finished | stopped
    state: Mapped[str] = mapped_column(String(16), default="running")
    # Bumped by every transaction that changes a scheduling decision; a
    # coordinator's cached state is valid while the version matches.
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Trial(Base):
    __tablename__ = "trials"
    __table_args__ = (
        UniqueConstraint("study_id", "number"),
        Index("ix_trials_study_id_state", "study_id", "state"),
        Index("ix_trials_lease_expires_at", "lease_expires_at"),
        # The dashboard: a study's latest change, its most recently changed trials.
        Index("ix_trials_study_id_updated_at", "study_id", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict[str, Any]] = mapped_column(Json)
    # running | paused | pending | completed | stopped | failed
    state: Mapped[str] = mapped_column(String(16))
    bracket: Mapped[int] = mapped_column(Integer, default=0)
    # Highest rung reached (-1 before the first) and the rung it trains toward.
    rung: Mapped[int] = mapped_column(Integer, default=-1)
    target_rung: Mapped[int] = mapped_column(Integer)
    target_resource: Mapped[float] = mapped_column(Float)
    last_resource: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Every metric of the latest report: NULL for one-value reports (docs/study-spec.md).
    last_metrics: Mapped[dict[str, float] | None] = mapped_column(Json, nullable=True)
    # Provenance of the configuration: random, model, prior, llm, transfer, user.
    source: Mapped[str] = mapped_column(String(16))
    # The worker that holds (or last held) the trial; NULL once a paused trial
    # is released by its worker, which makes it promotable.
    worker_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # How many times the lease expired and the trial went back to pending for another worker.
    retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    fail_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("trial_id", "resource"),
        Index("ix_reports_study_id_rung", "study_id", "rung"),
        # The dashboard: a study's latest report.
        Index("ix_reports_study_id_created_at", "study_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    resource: Mapped[float] = mapped_column(Float)
    # The primary (first) objective's value.
    value: Mapped[float] = mapped_column(Float)
    # Every metric of the report, by name: NULL for a one-value report.
    metrics: Mapped[dict[str, float] | None] = mapped_column(Json, nullable=True)
    # The rung this report settled, NULL between rungs.
    rung: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Curve decisions: the value at r_max the trial's curve predicted at this rung, and its
    # standard deviation (what ranked it there); NULL for rung decisions and between rungs.
    predicted: Mapped[float | None] = mapped_column(Float, nullable=True)
    predicted_sd: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The answer it got: continue | pause | stop | complete; a retried report gets it again.
    action: Mapped[str] = mapped_column(String(16))
    next_resource: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Idempotency key chosen by the client: a retried report is stored once.
    request_id: Mapped[str] = mapped_column(String(128), unique=True)
    worker_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Decision(Base):
    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_study_id_id", "study_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    trial_id: Mapped[int | None] = mapped_column(
        ForeignKey("trials.id", ondelete="CASCADE"), nullable=True
    )
    # create | new | promote | continue | pause | stop | complete | release | fail | finish |
    # extend | reopen | enqueue | warm-start
    kind: Mapped[str] = mapped_column(String(16))
    rung: Mapped[int | None] = mapped_column(Integer, nullable=True)
    resource: Mapped[float | None] = mapped_column(Float, nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # Suggest's idempotency key: a retried Suggest gets the same assignment.
    request_id: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Worker(Base):
    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PriorProposal(Base):
    """A configuration a prior holds: queued to run first (``run_first``: enqueued by a user,
    proposed by an LLM), or only a mode of the prior's mixture (transfer)."""

    __tablename__ = "prior_proposals"
    __table_args__ = (
        UniqueConstraint("study_id", "position"),
        UniqueConstraint("request_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    # Order in the study: queued proposals run in this order.
    position: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict[str, Any]] = mapped_column(Json)
    # user | llm | transfer
    source: Mapped[str] = mapped_column(String(16))
    run_first: Mapped[bool] = mapped_column(Boolean)
    # The spec's priors entry (its index) that produced it; NULL for an enqueued configuration.
    prior_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The trial that ran it (NULL while queued, or when it only shapes the prior).
    trial_id: Mapped[int | None] = mapped_column(
        ForeignKey("trials.id", ondelete="SET NULL"), nullable=True
    )
    exchange_id: Mapped[int | None] = mapped_column(
        ForeignKey("llm_exchanges.id", ondelete="SET NULL"), nullable=True
    )
    # Enqueue's idempotency key.
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LLMExchange(Base):
    """One question to an LLM endpoint and its answer, verbatim: the study can be audited
    and re-created from it without calling the model again."""

    __tablename__ = "llm_exchanges"
    __table_args__ = (
        Index("ix_llm_exchanges_prompt_hash", "prompt_hash"),
        # The dashboard (priors) and GetPriors: a study's exchanges in order.
        Index("ix_llm_exchanges_study_id_id", "study_id", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    # The spec's priors entry (its index) that asked.
    prior_index: Mapped[int] = mapped_column(Integer)
    base_url: Mapped[str] = mapped_column(String(512))
    model: Mapped[str] = mapped_column(String(512))
    # sha256 of the model, the messages and the answer schema: the replay key.
    prompt_hash: Mapped[str] = mapped_column(String(64))
    messages: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    response_format: Mapped[dict[str, Any] | None] = mapped_column(Json, nullable=True)
    raw_answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    accepted: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    rejected: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    seconds: Mapped[float] = mapped_column(Float)
    # The exchange whose answer this one reuses (same prompt), when it did not call the model.
    replayed_from: Mapped[int | None] = mapped_column(
        ForeignKey("llm_exchanges.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Token(Base):
    """A bearer token: the coordinator keeps the SHA-256 of its secret, never the secret."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    # reader | worker | admin
    role: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # CreateToken's idempotency key.
    request_id: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # None: it never expires. From this moment on the token is refused.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
