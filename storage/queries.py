"""Prebuilt statements for the coordinator's hot paths.

Building a SQLAlchemy statement costs more than running it on SQLite: a
Suggest built its statements afresh spent ~5 ms in construction and ORM
bookkeeping against ~0.5 ms in the database. These statements are built once
over the tables, take bound parameters, are compiled once per dialect and run
on the driver's cursor (:mod:`hpo.storage.prepared`). UPDATE statements take
their SET clause from the parameters they are given.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, literal, or_, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite

from hpo.storage import tables
from hpo.storage.prepared import Prepared

studies = tables.Study.__table__
trials = tables.Trial.__table__
reports = tables.Report.__table__
decisions = tables.Decision.__table__
workers = tables.Worker.__table__
proposals = tables.PriorProposal.__table__

# Locks the study row for the rest of the transaction on PostgreSQL (SQLite
# serialises writers with BEGIN IMMEDIATE and ignores FOR UPDATE).
LOCK_STUDY = Prepared(
    select(studies.c.id, studies.c.name, studies.c.state, studies.c.version)
    .where(studies.c.id == bindparam("study_id"))
    .with_for_update()
)
UPDATE_STUDY = Prepared(update(studies).where(studies.c.id == bindparam("study_pk")))

TRIAL_BY_NUMBER = Prepared(
    select(trials).where(
        trials.c.study_id == bindparam("study_id"), trials.c.number == bindparam("number")
    )
)
INSERT_TRIAL = Prepared(insert(trials).returning(trials.c.id))
UPDATE_TRIAL = Prepared(update(trials).where(trials.c.id == bindparam("trial_pk")))
EXPIRED_TRIALS = Prepared(
    select(trials.c.number).where(
        trials.c.study_id == bindparam("study_id"),
        # Not IN (...): an IN list is an expanding parameter, rendered per call.
        or_(trials.c.state == "running", trials.c.state == "paused"),
        trials.c.lease_expires_at < bindparam("now"),
    )
)
LEASE_OF_TRIAL = Prepared(
    select(trials.c.lease_expires_at).where(trials.c.id == bindparam("trial_pk"))
)

REPORT_BY_REQUEST = Prepared(
    select(
        reports.c.trial_id,
        reports.c.resource,
        reports.c.value,
        reports.c.worker_id,
        reports.c.action,
        reports.c.next_resource,
    ).where(reports.c.request_id == bindparam("request_id"))
)
INSERT_REPORT = Prepared(insert(reports))

DECISION_BY_REQUEST = Prepared(
    select(
        decisions.c.kind,
        decisions.c.study_id,
        decisions.c.trial_id,
        decisions.c.worker_id,
        decisions.c.resource,
        decisions.c.reason,
    ).where(decisions.c.request_id == bindparam("request_id"))
)
# Which tables hold a request id: a request id names one request, whatever its table.
REQUEST_ID_USES = Prepared(
    union_all(
        select(literal("decision").label("use")).where(
            decisions.c.request_id == bindparam("request_id")
        ),
        select(literal("report")).where(reports.c.request_id == bindparam("request_id")),
        select(literal("proposal")).where(proposals.c.request_id == bindparam("request_id")),
    )
)
INSERT_DECISION = Prepared(insert(decisions))

_TOUCH_WORKER = {
    name: Prepared(
        dialect.insert(workers)
        .values(
            id=bindparam("worker_id"),
            first_seen_at=bindparam("now", type_=workers.c.first_seen_at.type),
            last_seen_at=bindparam("now", type_=workers.c.last_seen_at.type),
        )
        .on_conflict_do_update(index_elements=["id"], set_={"last_seen_at": bindparam("now")})
    )
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}


def touch_worker(connection: Connection, worker_id: str, now: datetime) -> None:
    """Record that ``worker_id`` was seen now, in one upsert statement."""
    _TOUCH_WORKER[connection.dialect.name].run(connection, {"worker_id": worker_id, "now": now})
