"""The JSON documents of the dashboard's API, built from :mod:`hpo.dashboard.queries`.

Each function answers one route (docs/dashboard.md describes every field and how each
figure is computed). They take an open connection and already parsed arguments; the
routes (:mod:`hpo.dashboard.api`) parse and validate the request.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Row
from sqlalchemy.orm import Session

from hpo.algorithms import make_scheduler
from hpo.dashboard import queries
from hpo.dashboard.export import ExportFormat, ExportTable, render, report_row, trial_row
from hpo.dashboard.importance import MIN_RESULTS, parameter_importance
from hpo.dashboard.metrics import (
    broken,
    default_axes,
    has_front,
    metric_choices,
    metric_names,
    violated,
)
from hpo.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from hpo.pareto_front import pareto_front
from hpo.priors.scaling_prior import fit_family
from hpo.schedulers.rungs import RELATIVE_TOLERANCE
from hpo.space import Categorical, Float
from hpo.spec import AshaMode, StudySpec, check_study_name, listable_spec
from hpo.storage.sql_store import SqlTransaction
from hpo.study_store import RungRow, StudyStore
from hpo.validation import describe
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
# The scaling laws' lines: samples along each scale variable, evenly spaced in its log.
SCALING_SAMPLES = 41


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


def _best(connection: Connection, study: StudyContext) -> Document | None:
    """The study's best result, as the coordinator's GetBest gives it: the best value at the
    highest rung with results; with several objectives or constraints, the front's member
    best in the primary objective (feasible if any result is)."""
    if not study.spec.is_vector:
        row = queries.best_result(connection, study.id, study.sign)
        if row is None:
            return None
        return {"value": row.value, "resource": row.resource, "trial": row.number}
    front = pareto_front(study.spec, queries.settled_results(connection, study.id))
    if front is None:
        return None
    member = front.best(study.spec)
    return {"value": member.value, "resource": study.levels[front.rung], "trial": member.number}


def _summary(
    connection: Connection, study: StudyContext, counts: dict[str, int], workers: int
) -> Document:
    spec = study.spec
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
        "best": _best(connection, study),
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
            # What the page shows beyond the one value (docs/dashboard.md): the metrics it
            # may plot (none for a study of one value), and whether it draws a Pareto front.
            "metrics": metric_choices(study.spec),
            "has_front": has_front(study.spec),
            # The family of studies whose scaling laws the page shows (null: none).
            "family": study.spec.family or None,
        }
    }


def version(connection: Connection, study: StudyContext) -> Document:
    return {
        "version": study.row.version,
        "last_activity": iso(queries.last_activity(connection, study.row)),
    }


# ---------------------------------------------------------------- trials


def _trial(spec: StudySpec, row: Row[Any]) -> Document:
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
        "last_metrics": row.last_metrics,
        # The constraints its last report breaks (the table marks it infeasible).
        "violated": violated(spec, row.last_metrics),
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
    return {"total": total, "trials": [_trial(study.spec, row) for row in rows]}


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


def check_metric(study: StudyContext, metric: str) -> None:
    """Refuse (a 400 naming the ``metric`` parameter) a metric the study's results lack."""
    names = metric_names(study.spec)
    if metric not in names:
        known = ", ".join(names) if names else "none: its results are one value"
        raise InvalidArgumentError(
            "metric", f"the study's metrics are {known}; got {describe(metric)}"
        )


def curves(
    connection: Connection, study: StudyContext, limit: int, metric: str | None = None
) -> Document:
    """The leading and the latest trials' reports, of the primary objective's value or, with
    ``metric``, of that metric (the trials are the same either way)."""
    if metric is not None:
        check_metric(study, metric)
    chosen: dict[int, Row[Any]] = {}
    for row in queries.leading_trials(connection, study.id, study.sign, limit):
        chosen[row.number] = row
    for row in queries.recent_trials(connection, study.id, max(1, limit // RECENT_CURVES_SHARE)):
        chosen.setdefault(row.number, row)
    points = queries.curve_points(connection, study.id, chosen, metric)
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
    # A study with several objectives or constraints ranks a rung by non-dominated sorting:
    # no single value is its threshold.
    thresholds = (
        {}
        if study.spec.is_vector
        else queries.thresholds(
            connection,
            study.id,
            study.sign,
            study.spec.resource.eta,
            stopping=study.spec.asha_mode is AshaMode.STOPPING,
        )
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


def pareto(connection: Connection, study: StudyContext) -> Document:
    """The Pareto plot and the constraint counts: every result at the front's rung (the
    coordinator's GetParetoFront, :func:`hpo.pareto_front.pareto_front`), each marked on the
    front or not and feasible or not, and per constraint how many results break it."""
    spec = study.spec
    results = queries.settled_results(connection, study.id)
    front = pareto_front(spec, results)
    rung = None if front is None else front.rung
    metrics = [_result_metrics(spec, row) for row in results]
    breaks = [set(broken(spec, values)) for values in metrics]
    at_rung = [index for index, row in enumerate(results) if row.rung == rung]
    members = set() if front is None else {member.number for member in front.members}
    return {
        "rung": rung,
        "resource": None if rung is None else study.levels[rung],
        "axes": default_axes(spec),
        "feasible": front is not None and all(member.feasible for member in front.members),
        "front": [] if front is None else [member.number for member in front.members],
        "points": [
            {
                "number": results[index].number,
                "metrics": metrics[index],
                "feasible": not breaks[index],
                "front": results[index].number in members,
            }
            for index in at_rung
        ],
        "n_results": len(results),
        "n_at_rung": len(at_rung),
        "constraints": [
            constraint.to_json()
            | {
                "violated": sum(position in found for found in breaks),
                "violated_at_rung": sum(position in breaks[index] for index in at_rung),
            }
            for position, constraint in enumerate(spec.constraints)
        ],
    }


def _result_metrics(spec: StudySpec, row: RungRow) -> dict[str, float]:
    """A settled result's metrics; a one-value report's is its primary objective's value (as
    :func:`hpo.pareto_front.pareto_front` reads it)."""
    return dict(row.metrics or {spec.objective.metric: row.value})


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


class _SnapshotStore:
    """The one read :func:`hpo.priors.scaling_prior.fit_family` makes, on the route's own
    connection and snapshot (a :class:`~hpo.storage.sql_store.SqlStudyStore` of its own would
    open other connections and, on SQLite, start a committer thread)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    @contextmanager
    def read(self) -> Iterator[SqlTransaction]:
        with Session(bind=self.connection) as session:
            yield SqlTransaction(self.connection, session=session)


def scaling(source: Engine | Connection, study: StudyContext) -> Document:
    """The scaling laws of the study's family (:func:`hpo.priors.scaling_prior.fit_family`,
    what ``FitScaling`` answers) and what the page draws of them: per law and scale variable,
    the law's line (``estimate``) and prediction interval (``lower``, ``upper``) along that
    variable over the scale points' range extended to the study's scale, the other variables
    held at the study's scale (each it lacks at the largest scale point's); the study's scale
    and the laws' proposal there, when its scale gives every variable. ``{"family": null}``
    for a study of no family; ``{"family", "error"}`` when the family cannot be fitted yet."""
    family = study.spec.family
    if not family:
        return {"family": None}
    if isinstance(source, Engine):
        with source.connect() as connection:
            return scaling(connection, study)
    try:
        fit = fit_family(cast("StudyStore", _SnapshotStore(source)), family).fit
    except (NotFoundError, FailedPreconditionError) as error:
        return {"family": family, "error": str(error)}
    scale = dict(study.spec.scale)
    largest = max(fit.points, key=lambda p: sum(math.log(p.scale[v]) for v in fit.variables))
    held = {name: scale.get(name, largest.scale[name]) for name in fit.variables}
    proposal = fit.propose(scale) if set(fit.variables) <= set(scale) else None

    def finite(value: float) -> float | None:
        return value if math.isfinite(value) else None

    lines: dict[str, dict[str, list[Document]]] = {}
    for parameter, law in fit.laws.items():
        lines[parameter] = {}
        for variable in fit.variables:
            sizes = [point.scale[variable] for point in fit.points]
            low, high = min(sizes + [held[variable]]), max(sizes + [held[variable]])
            steps = SCALING_SAMPLES - 1 if high > low else 0
            samples = []
            for step in range(steps + 1):
                x = low * (high / low) ** (step / steps) if steps else low
                estimate, lower, upper = law.predict({**held, variable: x})
                samples.append(
                    {
                        "x": x,
                        "estimate": finite(estimate),
                        "lower": finite(lower),
                        "upper": finite(upper),
                    }
                )
            lines[parameter][variable] = samples
    return {
        "family": family,
        "fit": fit.to_json(),
        "scale": scale,
        "held": held,
        "proposal": None if proposal is None else proposal.to_json(),
        "lines": lines,
    }


def export(
    connection: Connection,
    study: StudyContext,
    table: ExportTable,
    export_format: ExportFormat,
) -> str:
    metrics = metric_names(study.spec)
    if table is ExportTable.TRIALS:
        rows = [trial_row(row, metrics) for row in queries.all_trials(connection, study.id)]
    else:
        rows = [
            report_row(row.trial, row, metrics) for row in queries.all_reports(connection, study.id)
        ]
    return render(table, rows, export_format, list(study.spec.space), metrics)
