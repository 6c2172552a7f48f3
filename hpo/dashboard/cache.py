"""Answers cached per study version: the expensive figures are computed once per change.

A study's ``version`` is bumped by every transaction that changes a decision (every report,
promotion, new trial, lease that lapsed...), and the figures (history, curves, rungs,
parameters, importance) are functions of what those transactions wrote, so an answer keyed
by the study's id and version never goes stale. A finished study's figures are computed once
per dashboard process; a running one's once per change, however many pages are open.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

# Entries kept: a few figures of a few dozen studies.
DEFAULT_SIZE = 256

T = TypeVar("T")


class VersionCache:
    """The last answers per key (a study id and its version, and the request's arguments),
    least recently used dropped first. A study's ``version`` changes with every decision,
    so an entry can never be stale; two requests computing the same entry at once both
    compute it, which costs time, not correctness."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
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
        value = compute()
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value
