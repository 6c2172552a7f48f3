"""Exponential backoff with full jitter, for a worker that waits for its coordinator.

When a coordinator restarts, every worker notices at once; retrying on a fixed
period would have them all knock again in the same instant. Each delay is drawn
uniformly from ``[0, min(cap, base * 2**attempt)]`` ("full jitter"), which
spreads the retries of many workers while still backing off exponentially.
"""

from __future__ import annotations

import random

BASE_SECONDS = 0.25
CAP_SECONDS = 15.0


class Backoff:
    """The delays of one series of retries; ``reset`` after a success."""

    def __init__(
        self,
        base: float = BASE_SECONDS,
        cap: float = CAP_SECONDS,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < base <= cap:
            raise ValueError(f"need 0 < base <= cap, got base={base}, cap={cap}")
        self.base = base
        self.cap = cap
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """How long to wait before the next attempt."""
        ceiling = min(self.cap, self.base * 2.0**self.attempts)
        if ceiling < self.cap:  # past the cap the exponent stops growing (no float overflow)
            self.attempts += 1
        return self._rng.uniform(0.0, ceiling)

    def reset(self) -> None:
        self.attempts = 0
