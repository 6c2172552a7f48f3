"""The dashboard's reads over the trial store: SQLAlchemy Core, aggregated in SQL.

A big study holds 10,000 trials and 100,000 reports, so nothing here loads a study's
reports into Python to count, rank or accumulate them: counts are ``GROUP BY``, best-so-far
curves are running ``MIN`` windows, resource increments are ``LAG`` windows, and the answers
are cut to what a page draws (``LIMIT``, downsampling in SQL) before they leave the
database. The one exception is the Pareto front, which ranks a study's settled results in
Python (:func:`settled_results`). Window functions need SQLite 3.25 or PostgreSQL. Each
function takes an open connection, so one route's queries read one snapshot.

Values are compared *signed* (``value * sign``, ``sign`` = -1 for a maximised metric), as
in :mod:`hpo.state`, so "best" is always the smallest. The indexes these queries rely on
are listed in docs/dashboard.md ("Performance").
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Row,
    Text,
    bindparam,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from hpo.priors.proposals import Proposal
from hpo.storage import tables
from hpo.storage.sql_store import load_proposals
from hpo.study_store import RungRow

studies = tables.Study.__table__
trials = tables.Trial.__table__
reports = tables.Report.__table__
exchanges = tables.LLMExchange.__table__

# What the study list and the study page show of a study row.
_STUDY = select(
    studies.c.id,
    studies.c.name,
    studies.c.spec,
    studies.c.state,
    studies.c.version,
    studies.c.created_at,
    studies.c.updated_at,
)

# The columns of a trial in the trial table and in exports.
TRIAL_COLUMNS = (
    trials.c.number,
    trials.c.state,
    trials.c.source,
    trials.c.bracket,
    trials.c.rung,
    trials.c.target_rung,
    trials.c.target_resource,
    trials.c.config,
    trials.c.worker_id,
    trials.c.last_resource,
    trials.c.last_value,
    trials.c.last_metrics,
    trials.c.retries,
    trials.c.fail_reason,
    trials.c.created_at,
    trials.c.updated_at,
)

# What a learning curve shows of its trial (no configuration: 300 curves need not parse 300).
CURVE_COLUMNS = (
    trials.c.number,
    trials.c.state,
    trials.c.source,
    trials.c.bracket,
    trials.c.rung,
    trials.c.target_rung,
    trials.c.last_resource,
)

# The trial table's sort keys (the API's names) and the columns they sort by.
SORT_COLUMNS = {
    "number": trials.c.number,
    "state": trials.c.state,
    "source": trials.c.source,
    "rung": trials.c.rung,
    "last_resource": trials.c.last_resource,
    "last_value": trials.c.last_value,
    "worker": trials.c.worker_id,
    "retries": trials.c.retries,
    "updated_at": trials.c.updated_at,
}
# LIKE's escape character for the trial table's free-text filter.
_ESCAPE = "/"


def _integers(values: Collection[int]) -> BindParameter[Any]:
    """A list of integers for ``IN``, written into the SQL rather than bound one by one:
    psycopg parses a statement with hundreds of placeholders in Python, which cost 0.18 s
    for the curves' 375 trial numbers."""
    return bindparam(
        "integers", [int(value) for value in sorted(values)], expanding=True, literal_execute=True
    )


# ---------------------------------------------------------------- studies


def studies_all(connection: Connection) -> Sequence[Row[Any]]:
    """Every study, oldest first."""
    return connection.execute(_STUDY.order_by(studies.c.id)).all()


def study_by_name(connection: Connection, name: str) -> Row[Any] | None:
    return connection.execute(_STUDY.where(studies.c.name == name)).one_or_none()


def study_by_id(connection: Connection, study_id: int) -> Row[Any] | None:
    return connection.execute(_STUDY.where(studies.c.id == study_id)).one_or_none()


def trial_counts(connection: Connection, study_id: int | None = None) -> dict[int, dict[str, int]]:
    """study id -> trial state -> number of trials, in one ``GROUP BY`` (every study, or
    only ``study_id``)."""
    query = select(trials.c.study_id, trials.c.state, func.count()).group_by(
        trials.c.study_id, trials.c.state
    )
    if study_id is not None:
        query = query.where(trials.c.study_id == study_id)
    counts: dict[int, dict[str, int]] = {}
    for study, state, count in connection.execute(query):
        counts.setdefault(study, {})[state] = count
    return counts


def running_workers(connection: Connection, study_id: int | None = None) -> dict[int, int]:
    """study id -> distinct workers holding a running trial of it (every study, or only
    ``study_id``)."""
    query = (
        select(trials.c.study_id, func.count(trials.c.worker_id.distinct()))
        .where(trials.c.state == "running")
        .group_by(trials.c.study_id)
    )
    if study_id is not None:
        query = query.where(trials.c.study_id == study_id)
    return {study: count for study, count in connection.execute(query)}


def last_activity(connection: Connection, study: Row[Any]) -> datetime:
    """The latest of the study's own change, its trials' changes and its latest report.

    Two ``max`` lookups, each answered from an index (``ix_trials_study_id_updated_at``,
    ``ix_reports_study_id_created_at``) without reading the rows: the page polls this."""
    latest_trial = (
        select(func.max(trials.c.updated_at)).where(trials.c.study_id == study.id).scalar_subquery()
    )
    latest_report = (
        select(func.max(reports.c.created_at))
        .where(reports.c.study_id == study.id)
        .scalar_subquery()
    )
    row = connection.execute(select(latest_trial, latest_report)).one()
    return max(moment for moment in (study.updated_at, *row) if moment is not None)


def best_result(connection: Connection, study_id: int, sign: float) -> Row[Any] | None:
    """The best value at the highest rung that has results, earliest report first on ties:
    the coordinator's GetBest (``StudyService.best``). Columns: value, resource, number."""
    return connection.execute(
        select(reports.c.value, reports.c.resource, trials.c.number)
        .join(trials, trials.c.id == reports.c.trial_id)
        .where(reports.c.study_id == study_id, reports.c.rung.is_not(None))
        .order_by(reports.c.rung.desc(), (reports.c.value * sign).asc(), reports.c.id)
        .limit(1)
    ).one_or_none()


# ---------------------------------------------------------------- trials


@dataclass(frozen=True)
class TrialFilter:
    """The trial table's filters: states, sources (empty: all), and free text ``query``
    matched, case-insensitively, against the worker id and the configuration's JSON text."""

    states: Collection[str] = ()
    sources: Collection[str] = ()
    query: str = ""

    def conditions(self, study_id: int) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [trials.c.study_id == study_id]
        if self.states:
            conditions.append(trials.c.state.in_(sorted(self.states)))
        if self.sources:
            conditions.append(trials.c.source.in_(sorted(self.sources)))
        if self.query:
            escaped = (
                self.query.lower()
                .replace(_ESCAPE, _ESCAPE * 2)
                .replace("%", f"{_ESCAPE}%")
                .replace("_", f"{_ESCAPE}_")
            )
            pattern = f"%{escaped}%"
            conditions.append(
                or_(
                    func.lower(trials.c.worker_id).like(pattern, escape=_ESCAPE),
                    func.lower(cast(trials.c.config, Text)).like(pattern, escape=_ESCAPE),
                )
            )
        return conditions


def trial_page(
    connection: Connection,
    study_id: int,
    where: TrialFilter,
    sort: str,
    descending: bool,
    limit: int,
    offset: int,
) -> tuple[int, Sequence[Row[Any]]]:
    """How many trials match, and one page of them sorted by ``sort`` (a key of
    :data:`SORT_COLUMNS`; empty values last in both directions, then by number)."""
    conditions = where.conditions(study_id)
    total = connection.execute(select(func.count()).select_from(trials).where(*conditions))
    key = SORT_COLUMNS[sort]
    ordered = key.desc() if descending else key.asc()
    rows = connection.execute(
        select(*TRIAL_COLUMNS)
        .where(*conditions)
        .order_by(ordered.nulls_last(), trials.c.number)
        .limit(limit)
        .offset(offset)
    ).all()
    return int(total.scalar_one()), rows


def all_trials(connection: Connection, study_id: int) -> Sequence[Row[Any]]:
    """Every trial of the study in number order (the export)."""
    return connection.execute(
        select(*TRIAL_COLUMNS).where(trials.c.study_id == study_id).order_by(trials.c.number)
    ).all()


def all_reports(connection: Connection, study_id: int) -> Sequence[Row[Any]]:
    """Every report of the study as (trial number, resource, value, rung, created_at,
    metrics), by trial number and resource (the export)."""
    return connection.execute(
        select(
            trials.c.number.label("trial"),
            reports.c.resource,
            reports.c.value,
            reports.c.rung,
            reports.c.created_at,
            reports.c.metrics,
        )
        .join(trials, trials.c.id == reports.c.trial_id)
        .where(reports.c.study_id == study_id)
        .order_by(trials.c.number, reports.c.resource)
    ).all()


# ---------------------------------------------------------------- best so far


def improvements(
    connection: Connection, study_id: int, sign: float, points: int
) -> Sequence[Row[Any]]:
    """Per rung, the results that improved the best value of that rung, at most ``points``
    per rung, in report order. Columns: rung, id, created_at, value, number.

    Report ids give the order of events. A running ``MIN`` per rung, compared with its
    ``LAG``, keeps the improvements; when a rung has more than ``points`` of them,
    ``points`` evenly spaced ones are kept, the first and the last among them. Only the
    reports that settled a rung take part, through ``ix_reports_study_id_rung``.
    """
    signed = reports.c.value * sign
    results = (
        select(
            reports.c.id,
            reports.c.rung,
            signed.label("signed"),
            func.min(signed)
            .over(partition_by=reports.c.rung, order_by=reports.c.id, rows=(None, 0))
            .label("best"),
        )
        .where(reports.c.study_id == study_id, reports.c.rung.is_not(None))
        .subquery("results")
    )
    previous = select(
        results,
        func.lag(results.c.best)
        .over(partition_by=results.c.rung, order_by=results.c.id)
        .label("previous"),
    ).subquery("previous")
    kept = (
        select(
            previous.c.id,
            previous.c.rung,
            func.row_number()
            .over(partition_by=previous.c.rung, order_by=previous.c.id)
            .label("position"),
            func.count().over(partition_by=previous.c.rung).label("n"),
        )
        .where(
            previous.c.signed == previous.c.best,
            or_(previous.c.previous.is_(None), previous.c.best < previous.c.previous),
        )
        .subquery("kept")
    )

    # More than ``points``: slot = floor((position - 1) * (points - 1) / (n - 1)) spreads the
    # improvements evenly over ``points`` slots (the first in slot 0, the last in the last
    # slot), and the first improvement of each slot is kept. Integer division in both
    # databases; NULLIF spares PostgreSQL a division by zero in the branch a single
    # improvement never needs.
    def slot(position: ColumnElement[int]) -> ColumnElement[int]:
        return ((position - 1) * literal(points - 1)) // func.nullif(kept.c.n - 1, 0)

    return connection.execute(
        select(kept.c.rung, kept.c.id, reports.c.created_at, reports.c.value, trials.c.number)
        .join(reports, reports.c.id == kept.c.id)
        .join(trials, trials.c.id == reports.c.trial_id)
        .where(
            or_(
                kept.c.n <= points,
                kept.c.position == 1,
                slot(kept.c.position) > slot(kept.c.position - 1),
            )
        )
        .order_by(kept.c.rung, kept.c.id)
    ).all()


def cumulative_resource(
    connection: Connection, study_id: int, report_ids: Collection[int]
) -> dict[int, float]:
    """report id -> the resource all the study's trials had consumed when it arrived.

    A trial consumed its ``resource`` minus that of its previous report at each report (a
    resumed trial continues from its last report), so the running ``SUM`` of these
    increments over the reports in id order is the total consumed. The windows see every
    report of the study; only the asked ids come back.
    """
    if not report_ids:
        return {}
    consumed = reports.c.resource - func.coalesce(
        func.lag(reports.c.resource).over(
            partition_by=reports.c.trial_id, order_by=reports.c.resource
        ),
        0.0,
    )
    # Through the study's trials: each trial's reports then come in (trial, resource) order,
    # straight from the unique index on those columns, without a sort or a table lookup.
    increments = (
        select(reports.c.id, consumed.label("consumed"))
        .where(reports.c.trial_id.in_(select(trials.c.id).where(trials.c.study_id == study_id)))
        .subquery("increments")
    )
    totals = select(
        increments.c.id,
        func.sum(increments.c.consumed)
        .over(order_by=increments.c.id, rows=(None, 0))
        .label("cumulative"),
    ).subquery("totals")
    rows = connection.execute(
        select(totals.c.id, totals.c.cumulative).where(totals.c.id.in_(_integers(report_ids)))
    )
    return {report_id: float(cumulative) for report_id, cumulative in rows}


# ---------------------------------------------------------------- learning curves


def leading_trials(
    connection: Connection, study_id: int, sign: float, limit: int
) -> Sequence[Row[Any]]:
    """The ``limit`` trials with the best results at the highest rungs: ranked by the rung
    they reached, then by their value there (as GetBest ranks). Read from the top rung
    down through ``ix_reports_study_id_rung``, so it stops once it has ``limit``."""
    return connection.execute(
        select(*CURVE_COLUMNS)
        .select_from(reports)
        .join(trials, trials.c.id == reports.c.trial_id)
        .where(
            reports.c.study_id == study_id,
            reports.c.rung.is_not(None),
            reports.c.rung == trials.c.rung,
        )
        .order_by(reports.c.rung.desc(), (reports.c.value * sign).asc(), trials.c.number)
        .limit(limit)
    ).all()


def recent_trials(connection: Connection, study_id: int, limit: int) -> Sequence[Row[Any]]:
    """The ``limit`` trials that changed last (``ix_trials_study_id_updated_at``)."""
    return connection.execute(
        select(*CURVE_COLUMNS)
        .where(trials.c.study_id == study_id)
        .order_by(trials.c.updated_at.desc(), trials.c.number.desc())
        .limit(limit)
    ).all()


def curve_points(
    connection: Connection, study_id: int, numbers: Collection[int], metric: str | None = None
) -> dict[int, list[tuple[float, float]]]:
    """trial number -> its reports as (resource, value), by resource; with ``metric``, that
    metric of each report (from ``reports.metrics``) instead of the primary objective's
    ``value``. The metric is picked in Python: a JSON path in SQL cannot name every metric
    (SQLite's breaks on a name with a quote). A report without the metric has no point."""
    points: dict[int, list[tuple[float, float]]] = {number: [] for number in numbers}
    if not numbers:
        return points
    rows = connection.execute(
        select(
            trials.c.number,
            reports.c.resource,
            reports.c.value if metric is None else reports.c.metrics,
        )
        .join(reports, reports.c.trial_id == trials.c.id)
        .where(trials.c.study_id == study_id, trials.c.number.in_(_integers(numbers)))
        .order_by(trials.c.number, reports.c.resource)
    ).all()
    for number, resource, shown in rows:
        value = shown if metric is None else (shown or {}).get(metric)
        if value is not None:
            points[number].append((resource, value))
    return points


# ---------------------------------------------------------------- rungs


def trial_groups(connection: Connection, study_id: int) -> Sequence[Row[Any]]:
    """Trials grouped by (bracket, rung, target_rung, state), with their count: everything
    the rung view counts, in a handful of rows whatever the study's size."""
    return connection.execute(
        select(
            trials.c.bracket,
            trials.c.rung,
            trials.c.target_rung,
            trials.c.state,
            func.count().label("n"),
        )
        .where(trials.c.study_id == study_id)
        .group_by(trials.c.bracket, trials.c.rung, trials.c.target_rung, trials.c.state)
    ).all()


def thresholds(
    connection: Connection, study_id: int, sign: float, eta: float, stopping: bool
) -> dict[tuple[int, int], float]:
    """(bracket, rung) -> the value a result there must beat to go on, where there is one.

    Results are ranked within their bracket and rung as the scheduler ranks them (signed
    value, then trial number). Promotion type: the ``k = floor(n/eta)``-th best of the ``n``
    results (a paused trial within the top k is promoted). Stopping type: the
    ``k = max(1, floor((n+1)/eta))``-th best (a new result that beats it ranks within the
    top k of the n+1 and continues). The rank and the count are window functions, and the
    k-th row is picked in SQL: ``k = floor(m/eta)`` is the one position with
    ``k * eta <= m < (k + 1) * eta``.
    """
    group = (trials.c.bracket, reports.c.rung)
    ranked = (
        select(
            trials.c.bracket,
            reports.c.rung,
            reports.c.value,
            func.row_number()
            .over(partition_by=group, order_by=((reports.c.value * sign).asc(), trials.c.number))
            .label("position"),
            func.count().over(partition_by=group).label("n"),
        )
        .join(trials, trials.c.id == reports.c.trial_id)
        .where(reports.c.study_id == study_id, reports.c.rung.is_not(None))
        .subquery("ranked")
    )
    # The tolerance of hpo.schedulers.rungs.top_k, so that 9 results at eta 3 keep 3.
    counted = ranked.c.n + (1 if stopping else 0) + eta * 1e-9
    kth = (ranked.c.position * eta <= counted) & ((ranked.c.position + 1) * eta > counted)
    if stopping:
        kth = kth | ((ranked.c.position == 1) & (counted < eta))
    rows = connection.execute(select(ranked.c.bracket, ranked.c.rung, ranked.c.value).where(kth))
    return {(bracket, rung): value for bracket, rung, value in rows}


# ---------------------------------------------------------------- parameters


def results_per_rung(connection: Connection, study_id: int) -> dict[int, int]:
    """rung -> number of results there, all brackets together (``ix_reports_study_id_rung``)."""
    rows = connection.execute(
        select(reports.c.rung, func.count())
        .where(reports.c.study_id == study_id, reports.c.rung.is_not(None))
        .group_by(reports.c.rung)
    )
    return {rung: count for rung, count in rows}


def observed_trials(connection: Connection, study_id: int) -> int:
    """How many trials have a result at some rung."""
    return int(
        connection.execute(
            select(func.count()).where(trials.c.study_id == study_id, trials.c.rung >= 0)
        ).scalar_one()
    )


def rung_results(
    connection: Connection, study_id: int, rung: int, sign: float, limit: int
) -> Sequence[Row[Any]]:
    """The best ``limit`` results at ``rung`` (all brackets) as (number, config, value)."""
    return connection.execute(
        select(trials.c.number, trials.c.config, reports.c.value)
        .join(trials, trials.c.id == reports.c.trial_id)
        .where(reports.c.study_id == study_id, reports.c.rung == rung)
        .order_by((reports.c.value * sign).asc(), trials.c.number)
        .limit(limit)
    ).all()


def settled_results(connection: Connection, study_id: int) -> list[RungRow]:
    """Every result that settled a rung as (trial number, rung, value, metrics), in report
    order: what :func:`hpo.pareto_front.pareto_front` ranks, read as the coordinator reads it
    for GetParetoFront (``ix_reports_study_id_rung``). Unlike the figures above, these come
    into Python whole: a non-dominated sort is no SQL, and the front must be the
    coordinator's own."""
    rows = connection.execute(
        select(trials.c.number, reports.c.rung, reports.c.value, reports.c.metrics)
        .join(trials, trials.c.id == reports.c.trial_id)
        .where(reports.c.study_id == study_id, reports.c.rung.is_not(None))
        .order_by(reports.c.id)
    )
    return [RungRow(number, rung, value, metrics) for number, rung, value, metrics in rows]


# ---------------------------------------------------------------- priors


def proposals(connection: Connection, study_id: int) -> list[Proposal]:
    """The study's proposals in order, with the trial that ran each (the coordinator's own
    query, on this connection)."""
    with Session(bind=connection) as session:
        return load_proposals(session, study_id)


def llm_exchanges(connection: Connection, study_id: int) -> Sequence[Row[Any]]:
    return connection.execute(
        select(
            exchanges.c.id,
            exchanges.c.model,
            exchanges.c.base_url,
            exchanges.c.prompt_hash,
            exchanges.c.messages,
            exchanges.c.raw_answer,
            exchanges.c.accepted,
            exchanges.c.rejected,
            exchanges.c.error,
            exchanges.c.replayed_from,
            exchanges.c.created_at,
        )
        .where(exchanges.c.study_id == study_id)
        .order_by(exchanges.c.id)
    ).all()
