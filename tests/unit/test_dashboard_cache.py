"""The dashboard's per-version cache is single-flight: one computation per key, however many
requests ask for it at once (hpo.dashboard.cache).

Real threads, synchronised by events only. To know that a second caller arrived while the
first one's computation is blocked, the key tells when a given thread looks it up: the cache
hashes the key under its lock, in the critical section where it finds the computation in
progress, so once that thread has hashed the key the first caller cannot finish before the
second has joined the wait.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hpo.dashboard.cache import VersionCache

WAIT = 10  # seconds: a bound on every wait, so that a broken cache fails instead of hanging


class WatchedKey:
    """A key equal to any other with the same name; hashing it in a thread named in
    ``watched`` sets that thread's event."""

    def __init__(self, name: str, *watched: str) -> None:
        self.name = name
        self.looked_up_by = {thread: threading.Event() for thread in watched}

    def __hash__(self) -> int:
        event = self.looked_up_by.get(threading.current_thread().name)
        if event is not None:
            event.set()
        return hash(self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WatchedKey) and other.name == self.name


class BlockedCompute:
    """A computation that records its callers, says it started, and waits for ``release``;
    then returns ``result`` or raises it."""

    def __init__(self, result: object) -> None:
        self.result = result
        self.callers: list[str] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> object:
        self.callers.append(threading.current_thread().name)
        self.started.set()
        assert self.release.wait(WAIT)
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


def ask_concurrently(
    cache: VersionCache, key: WatchedKey, compute: BlockedCompute
) -> dict[str, Any]:
    """``first`` asks and blocks in ``compute``; ``second`` asks the same key; then the
    computation is released. Returns each thread's value or exception."""
    outcomes: dict[str, Any] = {}

    def ask() -> None:
        try:
            outcomes[threading.current_thread().name] = cache.get(key, compute)
        except Exception as error:
            outcomes[threading.current_thread().name] = error

    first = threading.Thread(target=ask, name="first")
    first.start()
    assert compute.started.wait(WAIT)
    second = threading.Thread(target=ask, name="second")
    second.start()
    assert key.looked_up_by["second"].wait(WAIT)
    compute.release.set()
    for thread in (first, second):
        thread.join(WAIT)
        assert not thread.is_alive()
    return outcomes


def test_concurrent_callers_of_one_key_share_one_computation() -> None:
    cache = VersionCache()
    key = WatchedKey("study-1@v7", "second")
    figure = {"series": [1, 2, 3]}
    compute = BlockedCompute(figure)

    outcomes = ask_concurrently(cache, key, compute)

    assert compute.callers == ["first"]
    assert outcomes["first"] is figure and outcomes["second"] is figure
    assert key in cache and len(cache) == 1


def test_an_exception_reaches_every_waiter_and_is_not_cached() -> None:
    cache = VersionCache()
    key = WatchedKey("study-1@v7", "second")
    error = RuntimeError("the store went away")
    compute = BlockedCompute(error)

    outcomes = ask_concurrently(cache, key, compute)

    assert compute.callers == ["first"]
    assert outcomes == {"first": error, "second": error}
    assert key not in cache and len(cache) == 0
    # The next caller computes again, and that answer is kept.
    assert cache.get(key, lambda: "recomputed") == "recomputed"
    assert cache.get(key, lambda: pytest.fail("computed twice")) == "recomputed"


def test_different_keys_are_computed_in_parallel() -> None:
    cache = VersionCache()
    slow = BlockedCompute("slow")
    blocked = threading.Thread(target=cache.get, args=("study-1@v7", slow), name="slow")
    blocked.start()
    assert slow.started.wait(WAIT)

    answered: list[object] = []
    done = threading.Event()

    def other() -> None:
        answered.append(cache.get("study-2@v3", lambda: 2))
        done.set()

    threading.Thread(target=other, name="other").start()
    assert done.wait(WAIT), "a computation of another key blocked this one"
    assert answered == [2]
    assert "study-2@v3" in cache and "study-1@v7" not in cache

    slow.release.set()
    blocked.join(WAIT)
    assert cache.get("study-1@v7", lambda: pytest.fail("computed twice")) == "slow"


def test_the_least_recently_used_entry_is_dropped_first() -> None:
    cache = VersionCache(size=2)
    cache.get("a", lambda: 1)
    cache.get("b", lambda: 2)
    cache.get("a", lambda: pytest.fail("a is cached"))  # a is now the most recent
    cache.get("c", lambda: 3)
    assert "a" in cache and "c" in cache and "b" not in cache


class FakeClock:
    """Stands for the cache module's ``time``: ``now`` moves only when a test moves it, and
    each computation's duration is what the test says it took."""

    def __init__(self) -> None:
        self.now = 0.0
        self.took = 0.0
        self._reads = 0

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        # Each computation reads it twice: when it starts (0) and when it ends (``took``).
        self._reads += 1
        return 0.0 if self._reads % 2 else self.took


def test_newest_is_the_latest_version_computed_if_recent_and_slow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr("hpo.dashboard.cache.time", clock)
    cache = VersionCache()
    slot = ("study-1", "history")
    assert cache.newest(slot, max_age=60, slower_than=0.05) is None

    clock.took = 0.5
    cache.get_version(slot, 7, lambda: "v7")
    clock.now = 10.0
    assert cache.newest(slot, max_age=60, slower_than=0.05) == "v7"
    assert cache.newest(slot, max_age=5, slower_than=0.05) is None  # computed 10 s ago
    assert cache.newest(slot, max_age=60, slower_than=1.0) is None  # fast enough to redo

    # An older version computed later does not replace the newest; a newer one does.
    cache.get_version(slot, 6, lambda: "v6")
    assert cache.newest(slot, max_age=60, slower_than=0.05) == "v7"
    clock.took = 0.01
    cache.get_version(slot, 8, lambda: "v8")
    assert cache.newest(slot, max_age=60, slower_than=0.05) is None  # v8 was fast
    assert cache.newest(slot, max_age=60, slower_than=0.0) == "v8"
    # A cache hit is not a computation: it changes neither the version nor its age.
    clock.now = 100.0
    assert cache.get_version(slot, 8, lambda: pytest.fail("v8 is cached")) == "v8"
    assert cache.newest(slot, max_age=60, slower_than=0.0) is None


def test_newest_is_none_once_its_entry_is_dropped() -> None:
    cache = VersionCache(size=1)
    cache.get_version(("a",), 1, lambda: "a1")
    assert cache.newest(("a",), max_age=60, slower_than=0.0) == "a1"
    cache.get("other", lambda: "pushes a1 out")
    assert cache.newest(("a",), max_age=60, slower_than=0.0) is None
