"""Figures prepared in the background: when the dashboard starts, and after a study changed.

A big study's figures take about a second to compute (window functions over 100,000
reports, the importance forest; more the first time, when statements are compiled and
libraries loaded); afterwards they come from the per-version cache
(:mod:`hpo.dashboard.cache`). One background thread spares the pages that wait:

- at start it computes every cached figure of the most recently active studies, with the
  sizes the study page asks for, so whoever opens the dashboard first does not wait for it;
- afterwards it computes a study's figures for its current version when a page was answered
  with older ones (the study page accepts figures up to a minute old: ``stale`` in
  :func:`hpo.dashboard.api.figure_body`), so that the page's next poll finds them ready; a
  quarter of a second after it was asked, so as not to slow down the rest of that page's
  requests.

Requests are served meanwhile; one that asks for a figure being computed here waits for it
(the cache computes each entry once). A failure is logged: the pages compute on demand
instead.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from sqlalchemy import Connection, Engine, Row

from hpo.dashboard import queries, views
from hpo.dashboard.api import CURVES, HISTORY_POINTS, PARAM_TRIALS, figure_body, reading
from hpo.dashboard.cache import VersionCache
from hpo.dashboard.metrics import has_front

log = logging.getLogger(__name__)

# Studies prepared at start, most recently active first.
DEFAULT_STUDIES = 4
# How long a refresh waits before it reads the study: the page that asked is still sending
# its other requests, which this thread's computation would slow down (the process runs one
# thread of Python at a time), and the reports that arrive meanwhile join the same refresh.
REFRESH_DELAY_SECONDS = 0.25

# Each figure of the study page, with the arguments the page's requests carry.
PAGE_FIGURES: tuple[tuple[object, ...], ...] = (
    ("history", HISTORY_POINTS),
    ("curves", CURVES),
    ("rungs",),
    ("params", PARAM_TRIALS),
    ("importance",),
)
# The figures only the page of a study with a Pareto front asks for.
FRONT_FIGURES: tuple[tuple[object, ...], ...] = (("pareto",),)


def page_figures(study: views.StudyContext) -> tuple[tuple[object, ...], ...]:
    """The figures the study's page asks for, with the arguments of its requests."""
    return PAGE_FIGURES + (FRONT_FIGURES if has_front(study.spec) else ())


class Preparer:
    """Prepares the figures of the ``studies`` most recently active studies at start (none
    when ``studies`` is 0; ``done`` is set when that is over), then those of each study
    :meth:`refresh` names, in a daemon thread."""

    def __init__(self, engine: Engine, cache: VersionCache, studies: int = DEFAULT_STUDIES):
        self.engine = engine
        self.cache = cache
        self.studies = studies
        self.done = threading.Event()
        self._stopping = threading.Event()
        self._queue: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._queued: set[int] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="hpo-dashboard-figures", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish after the figure being computed (the app closes the store next)."""
        self._stopping.set()
        self._queue.put(None)
        if self._thread.ident is not None:  # started
            self._thread.join()

    def refresh(self, study_id: int) -> None:
        """Compute the study's figures for its current version, unless that is queued."""
        with self._lock:
            if study_id in self._queued:
                return
            self._queued.add(study_id)
        self._queue.put(study_id)

    def _run(self) -> None:
        try:
            if self.studies > 0:
                with reading(self.engine) as connection:
                    for row in self._recent(connection):
                        self._prepare(connection, row)
        except Exception:  # preparing is an optimisation: never a reason to fail
            log.exception("could not prepare the studies' figures; they are computed on demand")
        finally:
            self.done.set()
        while (study_id := self._queue.get()) is not None:
            if self._stopping.wait(REFRESH_DELAY_SECONDS):
                return
            with self._lock:
                self._queued.discard(study_id)
            try:
                with reading(self.engine) as connection:
                    row = queries.study_by_id(connection, study_id)
                    if row is not None:
                        self._prepare(connection, row)
            except Exception:
                log.exception("could not prepare the figures of study %d", study_id)

    def _prepare(self, connection: Connection, row: Row[Any]) -> None:
        study = views.StudyContext.of(row)
        for name, *arguments in page_figures(study):
            if self._stopping.is_set():
                return
            figure_body(self.cache, connection, study, str(name), *arguments)
        log.info("prepared the figures of study %r at version %d", study.spec.name, row.version)

    def _recent(self, connection: Connection) -> list[Row[Any]]:
        rows = queries.studies_all(connection)
        recent = sorted(rows, key=lambda row: queries.last_activity(connection, row), reverse=True)
        return recent[: self.studies]
