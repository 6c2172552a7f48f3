"""The dashboard's web app: two pages, their static files, and the JSON API, over one store.

``/`` (the study list) and ``/studies/{name}`` (a study) are HTML shells from
``hpo/dashboard/static/``; their scripts draw everything from ``/api/``
(:mod:`hpo.dashboard.api`). The charting library they draw with (Chart.js) ships in
``static/vendor/``, so the pages need no network beyond the dashboard itself.

The app only reads: every request runs in a read transaction that is never committed,
PostgreSQL connections are opened read-only, and a SQLite store the app opens itself
is opened with ``PRAGMA query_only``. It does not migrate the store either: it refuses a
store without hpo's tables, and warns when the store lacks migrations (indexes the
dashboard's queries use) that ``hpo db upgrade`` would add.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hpo.dashboard import api
from hpo.dashboard.auth import API_PREFIX, ReaderTokens
from hpo.dashboard.cache import VersionCache
from hpo.dashboard.warmup import DEFAULT_STUDIES, Preparer
from hpo.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    StoreUnavailableError,
)
from hpo.storage import STORE_UNAVAILABLE, Store, create_engine, is_sqlite
from hpo.storage.migrate import current_revision, head_revision
from hpo.token_checks import DEFAULT_CACHE_SECONDS, TokenChecker, resolve_anonymous
from hpo.tokens import TokenService

STATIC = Path(__file__).resolve().parent / "static"


log = logging.getLogger(__name__)


def create_app(
    db: str | Store,
    anonymous: bool | None = None,
    *,
    host: str = "127.0.0.1",
    token_cache_seconds: float = DEFAULT_CACHE_SECONDS,
    warm_up_studies: int = DEFAULT_STUDIES,
) -> Starlette:
    """The dashboard over ``db`` (a SQLAlchemy URL, a SQLite path, or an open store, which
    the caller keeps and closes).

    ``anonymous`` lets API requests without a token in, as the coordinator does: ``None``
    means "when ``host``, the address the app will be served on, is loopback", and ``True``
    on any other address is a ValueError. ``token_cache_seconds`` bounds how long a token
    revoked in the store keeps working here. ``warm_up_studies``: how many of the most
    recently active studies get their figures prepared when the app starts
    (:mod:`hpo.dashboard.warmup`; 0: none)."""
    anonymous = resolve_anonymous(host, anonymous)
    store = db if isinstance(db, Store) else Store(_read_only_engine(db))
    _check_schema(store)
    engine = store.engine
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(postgresql_readonly=True)
    checker = TokenChecker(
        TokenService(store), anonymous=anonymous, cache_seconds=token_cache_seconds
    )

    cache = VersionCache()
    preparer = Preparer(engine, cache, warm_up_studies)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        preparer.start()
        yield
        preparer.stop()
        if store is not db:
            store.dispose()

    app = Starlette(
        routes=[
            Route("/", _page("index.html")),
            Route("/studies/{name}", _page("study.html")),
            Mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static"),
            Mount(API_PREFIX.rstrip("/"), routes=api.routes),
        ],
        middleware=[Middleware(ReaderTokens, checker=checker)],
        exception_handlers={
            InvalidArgumentError: _bad_parameter,
            NotFoundError: _not_found,
            StoreUnavailableError: _unavailable,
            # The dashboard's own queries run on the engine, under the store's session layer.
            **{error: _unavailable for error in STORE_UNAVAILABLE},
            HTTPException: _http_error,
        },
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.store_url = store.url
    app.state.cache = cache
    app.state.preparer = preparer
    return app


def _read_only_engine(db: str) -> Engine:
    engine = create_engine(db)
    if is_sqlite(engine):
        path = engine.url.database
        if path and not Path(path).exists():
            # Connecting would create an empty file where the user meant an existing store.
            raise FailedPreconditionError(f"{path} does not exist: point --db at a trial store")

        @event.listens_for(engine, "connect")
        def _query_only(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA query_only = ON")
            cursor.close()

    return engine


def _check_schema(store: Store) -> None:
    revision = current_revision(store.engine)
    if revision is None:
        raise FailedPreconditionError(
            f"{store.url} holds no hpo tables: point --db at a coordinator's store "
            "(or create one with `hpo db upgrade --db URL`)"
        )
    if revision != head_revision():
        log.warning(
            "%s is at schema %s, not %s: run `hpo db upgrade` for the dashboard's indexes",
            store.url,
            revision,
            head_revision(),
        )


def _page(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        return FileResponse(STATIC / name, media_type="text/html")

    return page


async def _bad_parameter(request: Request, error: Exception) -> Response:
    assert isinstance(error, InvalidArgumentError)
    return api.json_response({"error": str(error), "field": error.field}, status_code=400)


async def _not_found(request: Request, error: Exception) -> Response:
    return api.json_response({"error": str(error)}, status_code=404)


async def _unavailable(request: Request, error: Exception) -> Response:
    log.error("the trial store is unavailable: %s", error)
    return api.json_response({"error": "the trial store is unavailable; retry"}, status_code=503)


async def _http_error(request: Request, error: Exception) -> Response:
    """Routing errors (no such route, wrong method) in JSON under /api/, as text elsewhere."""
    assert isinstance(error, HTTPException)
    if request.url.path.startswith(API_PREFIX):
        return api.json_response(
            {"error": f"{error.detail}: {request.method} {request.url.path}"},
            status_code=error.status_code,
        )
    return PlainTextResponse(error.detail, status_code=error.status_code, headers=error.headers)
