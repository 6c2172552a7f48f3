"""The JSON API under ``/api/``: routes, their parameters, their answers.

The pages use it and so can scripts; docs/dashboard.md is its reference. Every route
reads one snapshot of the store (one connection, one read transaction, never
committed). Errors are JSON: ``400 {"error", "field"}`` for a bad query parameter
(:mod:`hpo.dashboard.parsing`), ``404 {"error"}`` for an unknown study, ``401`` without a
valid token (:mod:`hpo.dashboard.auth`), ``503`` when the store does not answer.

Endpoints are plain functions: Starlette runs them in its thread pool, so the database
calls never block the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hpo.dashboard import views
from hpo.dashboard.cache import VersionCache
from hpo.dashboard.export import MEDIA_TYPES, ExportFormat, ExportTable, filename
from hpo.dashboard.parsing import Parameters
from hpo.dashboard.queries import SORT_COLUMNS, TrialFilter
from hpo.vocabulary import Source, TrialState

TRIAL_STATES = tuple(state.value for state in TrialState)
# Where a trial's configuration can come from (docs/storage.md, trials.source).
TRIAL_SOURCES = Source.ALL
ORDERS = ("asc", "desc")
NO_STORE = {"Cache-Control": "no-store"}
# PostgreSQL's memory for one sort of a request (the default, 4MB, spills 100,000 reports).
WORK_MEM = "32MB"


def json_response(document: Any, status_code: int = 200) -> JSONResponse:
    """An API answer; never cached by the browser, since the study changes under it."""
    return JSONResponse(document, status_code=status_code, headers=NO_STORE)


def _encoded(document: Any) -> bytes:
    """A document as a JSON response body, exactly as :class:`JSONResponse` encodes it."""
    return JSONResponse(None).render(document)


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for the dashboard's reads (its transaction is never committed)."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # The history's windows sort a big study's reports: in memory, not on disk.
            connection.exec_driver_sql(f"SET LOCAL work_mem = '{WORK_MEM}'")
        yield connection


@contextmanager
def _connection(request: Request) -> Iterator[Connection]:
    with reading(request.app.state.engine) as connection:
        yield connection


@contextmanager
def _study(request: Request) -> Iterator[tuple[Connection, views.StudyContext]]:
    """The study the path names (404 when it does not exist), and the connection it was
    read on."""
    with _connection(request) as connection:
        yield connection, views.load_study(connection, request.path_params["name"])


# The figures' default sizes, which are what the study page shows (it sends no sizes), so
# that the figures the dashboard prepares when it starts (hpo.dashboard.warmup) are the ones
# the page will ask for.
HISTORY_POINTS = 500  # best-so-far steps per rung
CURVES = 300  # learning curves: the leading trials, and the latest
PARAM_TRIALS = 1000  # trials in the parallel coordinates and the scatter plots

# The cached figures of a study, by name: (connection, study, *arguments) -> document.
FIGURES: dict[str, Callable[..., views.Document]] = {
    "history": views.history,
    "curves": views.curves,
    "rungs": views.rungs,
    "pareto": views.pareto,
    "params": views.parameters,
    "importance": views.importance,
}


# The most a page may ask a figure to lag its study (the ``stale`` parameter), in seconds.
MAX_STALE_SECONDS = 600
# A figure that computed faster than this is computed again rather than answered stale.
SLOW_FIGURE_SECONDS = 0.05


def figure_body(
    cache: VersionCache,
    connection: Connection,
    study: views.StudyContext,
    name: str,
    *arguments: object,
    stale: float = 0,
    refresh: Callable[[int], None] | None = None,
) -> bytes:
    """A figure of the study as a JSON body, with the study ``version`` it shows, computed
    and encoded once per version and arguments (:mod:`hpo.dashboard.cache`): the page
    redraws only when the version changed, and every page open on the study shares the
    answer (hundreds of KB for the curves of a big study, whose encoding alone would cost
    more than the cache lookup).

    With ``stale`` > 0 and ``refresh``, a figure not computed yet for this version is
    answered with the newest one computed within ``stale`` seconds, if that one took at
    least ``SLOW_FIGURE_SECONDS`` to compute, and ``refresh`` is asked to compute the
    study's current figures in the background: a big running study's figures take a second
    to compute after every report, which a page that shows them a moment late need not wait
    for; a small study's take milliseconds and are always current."""
    slot = (study.id, name, *arguments)
    version = study.row.version
    if stale > 0 and refresh is not None and (slot, version) not in cache:
        newest = cache.newest(slot, stale, SLOW_FIGURE_SECONDS)
        if newest is not None:
            refresh(study.id)
            return newest  # type: ignore[no-any-return]
    return cache.get_version(
        slot,
        version,
        lambda: _encoded({"version": version, **FIGURES[name](connection, study, *arguments)}),
    )


def _figure(request: Request, parameters: Parameters, name: str, *arguments: object) -> Response:
    """A figure route's answer; ``parameters`` also take ``stale`` (see :func:`figure_body`)."""
    stale = parameters.integer("stale", 0, 0, MAX_STALE_SECONDS)
    with _study(request) as (connection, found):
        body = figure_body(
            request.app.state.cache,
            connection,
            found,
            name,
            *arguments,
            stale=stale,
            refresh=request.app.state.preparer.refresh,
        )
        return Response(body, media_type="application/json", headers=NO_STORE)


def studies(request: Request) -> Response:
    Parameters(request.query_params, ())
    with _connection(request) as connection:
        return json_response(views.study_list(connection))


def study(request: Request) -> Response:
    Parameters(request.query_params, ())
    with _study(request) as (connection, found):
        return json_response(views.study_detail(connection, found))


def version(request: Request) -> Response:
    Parameters(request.query_params, ())
    with _study(request) as (connection, found):
        return json_response(views.version(connection, found))


def trials(request: Request) -> Response:
    parameters = Parameters(
        request.query_params, ("state", "source", "q", "sort", "order", "limit", "offset")
    )
    where = TrialFilter(
        states=parameters.choices("state", TRIAL_STATES),
        sources=parameters.choices("source", TRIAL_SOURCES),
        query=parameters.text("q"),
    )
    sort = parameters.choice("sort", "number", tuple(SORT_COLUMNS))
    descending = parameters.choice("order", "asc", ORDERS) == "desc"
    limit = parameters.integer("limit", 100, 1, 1000)
    offset = parameters.integer("offset", 0, 0)
    with _study(request) as (connection, found):
        return json_response(
            views.trial_table(connection, found, where, sort, descending, limit, offset)
        )


def history(request: Request) -> Response:
    parameters = Parameters(request.query_params, ("points", "stale"))
    points = parameters.integer("points", HISTORY_POINTS, 10, 5000)
    return _figure(request, parameters, "history", points)


def curves(request: Request) -> Response:
    parameters = Parameters(request.query_params, ("limit", "metric", "stale"))
    limit = parameters.integer("limit", CURVES, 1, 1000)
    metric = parameters.text("metric")
    # Without a metric, the figure's key is the one the warm-up prepares.
    arguments = (limit, metric) if metric else (limit,)
    return _figure(request, parameters, "curves", *arguments)


def rungs(request: Request) -> Response:
    return _figure(request, Parameters(request.query_params, ("stale",)), "rungs")


def pareto(request: Request) -> Response:
    return _figure(request, Parameters(request.query_params, ("stale",)), "pareto")


def params(request: Request) -> Response:
    parameters = Parameters(request.query_params, ("limit", "stale"))
    limit = parameters.integer("limit", PARAM_TRIALS, 10, 5000)
    return _figure(request, parameters, "params", limit)


def importance(request: Request) -> Response:
    return _figure(request, Parameters(request.query_params, ("stale",)), "importance")


def priors(request: Request) -> Response:
    Parameters(request.query_params, ())
    with _study(request) as (connection, found):
        return json_response(views.priors(connection, found))


def scaling(request: Request) -> Response:
    """The family's scaling laws (docs/dashboard.md): not a cached figure, since they change
    with the other studies of the family, which this study's version does not follow."""
    Parameters(request.query_params, ())
    with _study(request) as (connection, found):
        return json_response(views.scaling(connection, found))


def export(request: Request) -> Response:
    parameters = Parameters(request.query_params, ("format", "table"))
    export_format = ExportFormat(
        parameters.choice("format", "csv", [kind.value for kind in ExportFormat])
    )
    table = ExportTable(parameters.choice("table", "trials", [kind.value for kind in ExportTable]))
    with _study(request) as (connection, found):
        text = views.export(connection, found, table, export_format)
    name = filename(found.spec.name, table, export_format)
    return Response(
        text,
        media_type=MEDIA_TYPES[export_format],
        headers={"Content-Disposition": f'attachment; filename="{name}"', **NO_STORE},
    )


routes = [
    Route("/studies", studies),
    Route("/studies/{name}", study),
    Route("/studies/{name}/version", version),
    Route("/studies/{name}/trials", trials),
    Route("/studies/{name}/history", history),
    Route("/studies/{name}/curves", curves),
    Route("/studies/{name}/rungs", rungs),
    Route("/studies/{name}/pareto", pareto),
    Route("/studies/{name}/params", params),
    Route("/studies/{name}/importance", importance),
    Route("/studies/{name}/priors", priors),
    Route("/studies/{name}/scaling", scaling),
    Route("/studies/{name}/export", export),
]
