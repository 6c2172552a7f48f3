"""Figures prepared when the dashboard starts, so that the first page opened is fast too.

A big study's figures take about a second to compute the first time (window functions over
100,000 reports, the importance forest, statements compiled and libraries loaded on first
use); afterwards they come from the per-version cache (:mod:`hpo.dashboard.cache`). Without
this, whoever opens the dashboard first after it started waits for all of that. So a
background thread computes, at start, every cached figure of the most recently active
studies, with the sizes the study page asks for. Requests are served meanwhile; one that
asks for a figure being prepared waits for it (the cache computes each entry once). A study
that changes afterwards gets new figures on demand, as before.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Connection, Engine, Row

from hpo.dashboard import queries, views
from hpo.dashboard.api import CURVES, HISTORY_POINTS, PARAM_TRIALS, figure_body, reading
from hpo.dashboard.cache import VersionCache

log = logging.getLogger(__name__)

# Studies prepared at start, most recently active first.
DEFAULT_STUDIES = 4

# Each figure of the study page, with the arguments the page's requests carry.
PAGE_FIGURES: tuple[tuple[object, ...], ...] = (
    ("history", HISTORY_POINTS),
    ("curves", CURVES),
    ("rungs",),
    ("params", PARAM_TRIALS),
    ("importance",),
)


class WarmUp:
    """Prepares the figures of the ``studies`` most recently active studies in a daemon
    thread (none when ``studies`` is 0); ``done`` is set when it finished (or gave up: a
    failure is logged, the pages compute on demand instead)."""

    def __init__(self, engine: Engine, cache: VersionCache, studies: int = DEFAULT_STUDIES):
        self.engine = engine
        self.cache = cache
        self.studies = studies
        self.done = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hpo-dashboard-warmup", daemon=True)

    def start(self) -> None:
        if self.studies > 0:
            self._thread.start()

    def stop(self) -> None:
        """Finish after the figure being computed (the app closes the store next)."""
        self._stopping.set()
        if self._thread.ident is not None:  # started
            self._thread.join()

    def _run(self) -> None:
        try:
            with reading(self.engine) as connection:
                for row in self._recent(connection):
                    study = views.StudyContext.of(row)
                    for name, *arguments in PAGE_FIGURES:
                        if self._stopping.is_set():
                            return
                        figure_body(self.cache, connection, study, str(name), *arguments)
                    log.info("prepared the figures of study %r", study.spec.name)
        except Exception:  # a warm-up is an optimisation: never a reason to fail
            log.exception("could not prepare the studies' figures; they are computed on demand")
        finally:
            self.done.set()

    def _recent(self, connection: Connection) -> list[Row[Any]]:
        rows = queries.studies_all(connection)
        recent = sorted(rows, key=lambda row: queries.last_activity(connection, row), reverse=True)
        return recent[: self.studies]
