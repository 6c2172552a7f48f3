"""The lease sweeper: settles expired leases as soon as they run out, without waiting for a call.

A worker that dies stops heartbeating; its trial must go back to the schedule
(``hpo.service.StudyService.expire_leases``) even when no other worker happens
to call Suggest. The sweeper sleeps until the earliest lease held in the store
runs out (checking at least every ``max_wait`` seconds for new ones), so a dead
worker's trial is requeued within moments of its lease's end. Several
coordinators on one store may all sweep: each study's decisions are serialised
in the database, and the second sweep of a lease finds nothing left to do.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from hpo.service import StudyService

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 1.0
# Wake a little after the expiry: a lease is expired only once the clock has passed it.
AFTER_EXPIRY_SECONDS = 0.01


class LeaseSweeper:
    """A daemon thread that calls ``service.expire_leases`` when a lease runs out, and tells
    ``on_expired`` how many trials it settled (the coordinator's metrics count them)."""

    def __init__(
        self,
        service: StudyService,
        max_wait: float = MAX_WAIT_SECONDS,
        on_expired: Callable[[int], None] = lambda trials: None,
    ) -> None:
        self.service = service
        self.max_wait = max_wait
        self.on_expired = on_expired
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hpo-lease-sweeper", daemon=True)

    def start(self) -> LeaseSweeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self._sweep())

    def _sweep(self) -> float:
        """Settle what has expired; return how long to sleep before the next look."""
        try:
            changed = self.service.expire_leases()
            if changed:
                log.info("settled %d trial(s) whose lease expired", changed)
                self.on_expired(changed)
            expiry = self.service.next_lease_expiry()
        except Exception:
            # The store may be briefly unreachable; the next look retries.
            log.exception("lease sweep failed")
            return self.max_wait
        if expiry is None:
            return self.max_wait
        until = (expiry - self.service.clock.now()).total_seconds() + AFTER_EXPIRY_SECONDS
        return min(self.max_wait, max(AFTER_EXPIRY_SECONDS, until))
