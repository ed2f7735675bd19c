"""A clock for tests and notebooks that moves only when told."""

from __future__ import annotations

import time


class ManualClock:
    """A clock that moves only when told: `clock()` reads it, `clock.advance(s)` moves it.

    It starts at the real time by default, so that signatures made with the real time are
    within the gateway's 15 minutes.
    """

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock forward and return the new time."""
        self.now += seconds
        return self.now

    def __repr__(self) -> str:
        return f"ManualClock({self.now!r})"
