"""One clock for every coordinator of a store: the database's.

Leases are deadlines written by one coordinator and judged by another (a worker's Suggest may
go to one, its Report to the next). With each coordinator on its own wall clock, one 45 s
ahead refused a live worker's report 6 s after its assignment (issue 15). On PostgreSQL the
coordinators therefore keep time by the database server: each measures how far its own clock
is from the server's and corrects by that offset. SQLite is a file on one machine, so every
coordinator of it shares that machine's clock already.

The offset is measured when the clock is made and again every REMEASURE_SECONDS (clocks
drift slowly), not on every read: a call costs no extra round trip, and a clock that tests
move forward moves the corrected time with it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

REMEASURE_SECONDS = 600.0


class StoreClock:
    """``now()``: the local ``clock`` corrected to the database server's time."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self.local = clock
        self._offset = timedelta(0)
        self._measured_at = -float("inf")
        self._guard = threading.Lock()

    @property
    def offset(self) -> timedelta:
        """The database's time minus the local clock's (zero on SQLite)."""
        if time.monotonic() - self._measured_at > REMEASURE_SECONDS:
            self._measure()
        return self._offset

    def now(self) -> datetime:
        return self.local() + self.offset

    def _measure(self) -> None:
        with self._guard:
            if time.monotonic() - self._measured_at <= REMEASURE_SECONDS:
                return
            if self._engine.dialect.name == "postgresql":
                with self._engine.connect() as connection:
                    before = self.local()
                    server = connection.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
                    after = self.local()
                # The server read its clock between our two readings: take the midpoint.
                self._offset = server - (before + (after - before) / 2)
            self._measured_at = time.monotonic()
