"""The worker's backoff: exponential ceilings, full jitter below them, a cap, and reset."""

from __future__ import annotations

import random

import pytest

from hpo.workers.retry import Backoff


def test_delays_stay_under_doubling_ceilings_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=4.0, rng=random.Random(7))
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    delays = [backoff.next_delay() for _ in ceilings]
    assert all(0.0 <= delay <= ceiling for delay, ceiling in zip(delays, ceilings, strict=True))
    # Jitter: workers that failed together do not retry together.
    other = Backoff(base=0.5, cap=4.0, rng=random.Random(8))
    assert [other.next_delay() for _ in ceilings] != delays


def test_jitter_spreads_over_the_whole_interval() -> None:
    backoff = Backoff(base=1.0, cap=1.0, rng=random.Random(3))
    delays = [backoff.next_delay() for _ in range(2000)]
    assert min(delays) < 0.05 and max(delays) > 0.95
    assert 0.45 < sum(delays) / len(delays) < 0.55


def test_reset_starts_the_series_again() -> None:
    backoff = Backoff(base=0.25, cap=15.0, rng=random.Random(1))
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 0.25


@pytest.mark.parametrize(("base", "cap"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)])
def test_nonsense_settings_are_refused(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="base"):
        Backoff(base=base, cap=cap)
