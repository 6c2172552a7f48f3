"""The JSON documents of the dashboard's API, built from :mod:`hpo.dashboard.queries`.

Each function answers one route (docs/dashboard.md describes every field and how each
figure is computed). They take an open connection and already parsed arguments; the
routes (:mod:`hpo.dashboard.api`) parse and validate the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from hpo.algorithms import make_scheduler
from hpo.dashboard import queries
from hpo.dashboard.export import ExportFormat, ExportTable, render, report_row, trial_row
from hpo.dashboard.importance import MIN_RESULTS, parameter_importance
from hpo.errors import NotFoundError
from hpo.schedulers.rungs import RELATIVE_TOLERANCE
from hpo.space import Categorical, Float
from hpo.spec import AshaMode, StudySpec, check_study_name, listable_spec
from hpo.vocabulary import TrialState

Document = dict[str, Any]
# The params route's rung holds results of at least this many trials (or of all of them).
PARAMS_MIN_RESULTS = 10
# How many of the most recently changed trials the curves add to the leading ones.
RECENT_CURVES_SHARE = 4
# The importance forest is fitted on at most this many results (the best at its rung).
IMPORTANCE_RESULTS = 1000
# Trials a worker holds or will resume: sent towards their target rung.
_HEADING_ON = (TrialState.RUNNING.value, TrialState.PENDING.value)


@dataclass(frozen=True)
class StudyContext:
    """A study row with its parsed spec, and what every figure needs from it."""

    row: Row[Any]
    spec: StudySpec
    # The resource of each rung, as the study's scheduler numbers them.
    levels: tuple[float, ...]

    @classmethod
    def of(cls, row: Row[Any]) -> StudyContext:
        spec = StudySpec.from_json(row.spec)
        return cls(row, spec, make_scheduler(spec).levels)

    @property
    def id(self) -> int:
        return int(self.row.id)

    @property
    def sign(self) -> float:
        return self.spec.objective.sign

    @property
    def top_rung(self) -> int:
        return len(self.levels) - 1


def load_study(connection: Connection, name: str) -> StudyContext:
    row = queries.study_by_name(connection, check_study_name(name))
    if row is None:
        raise NotFoundError(f"study {name!r} does not exist")
    return StudyContext.of(row)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


# ---------------------------------------------------------------- studies


def _summary(
    connection: Connection, study: StudyContext, counts: dict[str, int], workers: int
) -> Document:
    spec = study.spec
    best = queries.best_result(connection, study.id, study.sign)
    return {
        "name": spec.name,
        "state": study.row.state,
        "direction": spec.objective.direction.value,
        "algorithm": spec.algorithm.value,
        "metric": spec.objective.metric,
        "resource": {
            "name": spec.resource.name,
            "r_min": spec.resource.r_min,
            "r_max": spec.resource.r_max,
            "eta": spec.resource.eta,
        },
        "created_at": iso(study.row.created_at),
        "last_activity": iso(queries.last_activity(connection, study.row)),
        "counts": {state.value: counts.get(state.value, 0) for state in TrialState},
        "n_trials": sum(counts.values()),
        "best": None
        if best is None
        else {"value": best.value, "resource": best.resource, "trial": best.number},
        "running_workers": workers,
    }


def study_list(connection: Connection) -> Document:
    counts = queries.trial_counts(connection)
    workers = queries.running_workers(connection)
    readable = (
        StudyContext(row, spec, make_scheduler(spec).levels)
        for row in queries.studies_all(connection)
        if (spec := listable_spec(row.name, row.spec)) is not None
    )
    return {
        "studies": [
            _summary(connection, study, counts.get(study.id, {}), workers.get(study.id, 0))
            for study in readable
        ]
    }


def study_detail(connection: Connection, study: StudyContext) -> Document:
    counts = queries.trial_counts(connection, study.id).get(study.id, {})
    workers = queries.running_workers(connection, study.id).get(study.id, 0)
    return {
        "study": _summary(connection, study, counts, workers)
        | {
            "spec": study.row.spec,
            "levels": list(study.levels),
            "version": study.row.version,
            "description": study.spec.description,
        }
    }


def version(connection: Connection, study: StudyContext) -> Document:
    return {
        "version": study.row.version,
        "last_activity": iso(queries.last_activity(connection, study.row)),
    }


# ---------------------------------------------------------------- trials


def _trial(row: Row[Any]) -> Document:
    return {
        "number": row.number,
        "state": row.state,
        "source": row.source,
        "bracket": row.bracket,
        "rung": row.rung,
        "config": row.config,
        "worker_id": row.worker_id,
        "target_resource": row.target_resource,
        "last_resource": row.last_resource,
        "last_value": row.last_value,
        "retries": row.retries,
        "fail_reason": row.fail_reason,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def trial_table(
    connection: Connection,
    study: StudyContext,
    where: queries.TrialFilter,
    sort: str,
    descending: bool,
    limit: int,
    offset: int,
) -> Document:
    total, rows = queries.trial_page(connection, study.id, where, sort, descending, limit, offset)
    return {"total": total, "trials": [_trial(row) for row in rows]}


# ---------------------------------------------------------------- figures


def history(connection: Connection, study: StudyContext, points: int) -> Document:
    rows = queries.improvements(connection, study.id, study.sign, points)
    cumulative = queries.cumulative_resource(connection, study.id, [row.id for row in rows])
    series: dict[int, Document] = {}
    for row in rows:
        entry = series.setdefault(
            row.rung, {"rung": row.rung, "resource": study.levels[row.rung], "points": []}
        )
        entry["points"].append(
            {
                "t": iso(row.created_at),
                "cumulative_resource": cumulative[row.id],
                "value": row.value,
                "trial": row.number,
            }
        )
    return {"series": [series[rung] for rung in sorted(series)]}


def _outcome(study: StudyContext, row: Row[Any]) -> str:
    """The trial's outcome on the learning-curve plot: ``promoted`` when it trained beyond the
    first rung of its bracket, else its state.

    A promotion-type trial went beyond when it was sent past that rung (its target rung);
    a stopping-type trial aims at the top from the start, so for it going beyond is
    reporting past that rung's resource."""
    first = min(row.bracket, study.top_rung)
    if study.spec.asha_mode is AshaMode.PROMOTION:
        beyond = row.target_rung > first
    else:
        beyond = row.rung > first or (
            row.last_resource is not None
            and row.last_resource > study.levels[first] * (1 + RELATIVE_TOLERANCE)
        )
    return "promoted" if beyond else str(row.state)


def curves(connection: Connection, study: StudyContext, limit: int) -> Document:
    chosen: dict[int, Row[Any]] = {}
    for row in queries.leading_trials(connection, study.id, study.sign, limit):
        chosen[row.number] = row
    for row in queries.recent_trials(connection, study.id, max(1, limit // RECENT_CURVES_SHARE)):
        chosen.setdefault(row.number, row)
    points = queries.curve_points(connection, study.id, chosen)
    return {
        "curves": [
            {
                "number": row.number,
                "state": row.state,
                "source": row.source,
                "outcome": _outcome(study, row),
                "points": [list(point) for point in points[number]],
            }
            for number, row in chosen.items()
        ]
    }


def rungs(connection: Connection, study: StudyContext) -> Document:
    top = study.top_rung
    groups = queries.trial_groups(connection, study.id)
    brackets = sorted({0, *(group.bracket for group in groups)})
    keys = [(bracket, rung) for bracket in brackets for rung in range(min(bracket, top), top + 1)]
    reached = dict.fromkeys(keys, 0)
    promoted = dict.fromkeys(keys, 0)
    heading = dict.fromkeys(keys, 0)
    for group in groups:
        first = min(group.bracket, top)
        highest = min(group.rung, top)
        for rung in range(first, highest + 1):
            reached[group.bracket, rung] += group.n
            if rung < highest or (group.state in _HEADING_ON and group.target_rung > rung):
                promoted[group.bracket, rung] += group.n
        if group.state == TrialState.RUNNING.value:
            towards = min(max(group.rung + 1, first), group.target_rung, top)
            heading[group.bracket, towards] += group.n
    thresholds = queries.thresholds(
        connection,
        study.id,
        study.sign,
        study.spec.resource.eta,
        stopping=study.spec.asha_mode is AshaMode.STOPPING,
    )
    return {
        "rungs": [
            {
                "bracket": bracket,
                "rung": rung,
                "resource": study.levels[rung],
                "reached": reached[bracket, rung],
                "promoted": promoted[bracket, rung],
                "running_towards": heading[bracket, rung],
                # Nothing goes on from the top rung.
                "threshold": thresholds.get((bracket, rung)) if rung < top else None,
            }
            for bracket, rung in keys
        ]
    }


def _parameter(name: str, parameter: Any) -> Document:
    if isinstance(parameter, Categorical):
        kind, low, high, log, choices = "categorical", None, None, None, list(parameter.choices)
    else:
        kind = "float" if isinstance(parameter, Float) else "int"
        low, high, log, choices = parameter.low, parameter.high, parameter.log, None
    return {"name": name, "type": kind, "low": low, "high": high, "log": log, "choices": choices}


def chosen_rung(connection: Connection, study: StudyContext) -> int | None:
    """The rung whose results the parameter plots and the importance use: the highest rung
    with results of at least ``min(10, n)`` trials (``n``: trials with any result); when
    no rung has that many (a few trials spread over brackets), the rung with the most."""
    per_rung = queries.results_per_rung(connection, study.id)
    if not per_rung:
        return None
    needed = min(PARAMS_MIN_RESULTS, queries.observed_trials(connection, study.id))
    enough = [rung for rung, count in per_rung.items() if count >= needed]
    if enough:
        return max(enough)
    return max(per_rung, key=lambda rung: (per_rung[rung], rung))


def parameters(connection: Connection, study: StudyContext, limit: int) -> Document:
    rung = chosen_rung(connection, study)
    rows = (
        [] if rung is None else queries.rung_results(connection, study.id, rung, study.sign, limit)
    )
    return {
        "parameters": [_parameter(name, parameter) for name, parameter in study.spec.space.items()],
        "rung": rung,
        "trials": [
            {"number": row.number, "config": row.config, "value": row.value} for row in rows
        ],
    }


def importance(connection: Connection, study: StudyContext) -> Document:
    rung = chosen_rung(connection, study)
    rows = (
        []
        if rung is None
        else queries.rung_results(connection, study.id, rung, study.sign, IMPORTANCE_RESULTS)
    )
    shares: list[tuple[str, float]] = []
    if len(rows) < MIN_RESULTS:
        reason = (
            f"too few results: {len(rows)} trials have a result at the same rung, "
            f"importance needs {MIN_RESULTS}"
        )
    else:
        shares = parameter_importance(
            study.spec.space, [row.config for row in rows], [row.value for row in rows]
        )
        reason = f"no parameter splits the {len(rows)} results at rung {rung}: too few or too alike"
    if not shares:
        return {"rung": None, "n_trials": len(rows), "importance": [], "reason": reason}
    return {
        "rung": rung,
        "n_trials": len(rows),
        "importance": [{"name": name, "importance": share} for name, share in shares],
    }


def priors(connection: Connection, study: StudyContext) -> Document:
    return {
        "proposals": [
            {
                "position": proposal.position,
                "source": proposal.source,
                "config": proposal.config,
                "run_first": proposal.run_first,
                "trial_number": proposal.trial_number,
            }
            for proposal in queries.proposals(connection, study.id)
        ],
        "exchanges": [
            {
                "id": row.id,
                "model": row.model,
                "base_url": row.base_url,
                "prompt_hash": row.prompt_hash,
                "messages": row.messages,
                "raw_answer": row.raw_answer,
                "accepted": row.accepted,
                "rejected": row.rejected,
                "error": row.error,
                "replayed_from": row.replayed_from,
                "created_at": iso(row.created_at),
            }
            for row in queries.llm_exchanges(connection, study.id)
        ],
    }


def export(
    connection: Connection,
    study: StudyContext,
    table: ExportTable,
    export_format: ExportFormat,
) -> str:
    if table is ExportTable.TRIALS:
        rows = [trial_row(row) for row in queries.all_trials(connection, study.id)]
    else:
        rows = [report_row(row.trial, row) for row in queries.all_reports(connection, study.id)]
    return render(table, rows, export_format, list(study.spec.space))
