"""Answers cached per study version: the expensive figures are computed once per change.

A study's ``version`` is bumped by every transaction that changes a decision (every report,
promotion, new trial, lease that lapsed...), and the figures (history, curves, rungs,
parameters, importance) are functions of what those transactions wrote, so an answer keyed
by the study's id and version never goes stale. A finished study's figures are computed once
per dashboard process; a running one's once per change, however many pages are open: the
pages of a running study all ask for its new figures within the same 2 s poll, so requests
for an entry being computed wait for that computation instead of starting their own.

A running study's figures are also remembered per *slot* (the key without the version), so
that a page may be answered at once with the latest figure computed for an older version
while the current one is computed (:func:`hpo.dashboard.api.figure_body`, ``stale``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

# Entries kept: a few figures of a few dozen studies.
DEFAULT_SIZE = 256

T = TypeVar("T")


class VersionCache:
    """The last answers per key (a study id and its version, and the request's arguments),
    least recently used dropped first. A study's ``version`` changes with every decision,
    so an entry can never be stale.

    ``get`` is single-flight per key: the first caller of a missing key computes it, and
    callers of the same key meanwhile wait for that result (or its exception, which is not
    cached: the next caller computes again). Different keys are computed in parallel; the
    lock is never held while computing."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        self._computing: dict[Hashable, Future[Any]] = {}
        self._newest: dict[Hashable, _Computed] = {}
        self._lock = threading.Lock()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]  # type: ignore[return-value]
            flight = self._computing.get(key)
            leader = flight is None
            if flight is None:
                flight = self._computing[key] = Future()
        if not leader:
            return flight.result()  # type: ignore[no-any-return]
        try:
            value = compute()
        except BaseException as error:
            with self._lock:
                del self._computing[key]
            flight.set_exception(error)
            raise
        with self._lock:
            del self._computing[key]
            self._entries[key] = value
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        flight.set_result(value)
        return value

    def get_version(self, slot: Hashable, version: int, compute: Callable[[], T]) -> T:
        """``get((slot, version), compute)``; when this call computed it, remembers it as
        the newest version of ``slot`` (if it is) and how long it took, for :meth:`newest`."""
        took: list[float] = []

        def timed() -> T:
            started = time.perf_counter()
            value = compute()
            took.append(time.perf_counter() - started)
            return value

        value = self.get((slot, version), timed)
        if took:
            with self._lock:
                known = self._newest.get(slot)
                if known is None or version > known.version:
                    self._newest[slot] = _Computed(version, time.monotonic(), took[0])
        return value

    def newest(self, slot: Hashable, max_age: float, slower_than: float) -> Any | None:
        """The entry of the newest version of ``slot`` that :meth:`get_version` computed,
        if that was at most ``max_age`` seconds ago, took at least ``slower_than`` seconds
        (a fast figure is better computed again), and is still kept; else None."""
        with self._lock:
            newest = self._newest.get(slot)
            if (
                newest is None
                or time.monotonic() - newest.finished > max_age
                or newest.seconds < slower_than
            ):
                return None
            return self._entries.get((slot, newest.version))


@dataclass(frozen=True)
class _Computed:
    """The newest version computed for a slot: when it finished, and how long it took."""

    version: int
    finished: float
    seconds: float
