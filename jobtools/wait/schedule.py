"""When to look at a job again: the schedules a wait (`jobtools.wait.poll`) uses after each round.

A schedule turns the jobs just polled into seconds until each is looked at again. `Backoff`
(the default) grows a fixed interval per job and jitters it; `Adaptive` looks again when jobs
of the same type usually end, from durations already seen, and falls back to a `Backoff`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from jobtools.times import epoch_seconds
from jobtools.wait.options import BACKOFF_CAP, BACKOFF_FIRST

__all__ = ["Adaptive", "Backoff", "Schedule", "make_schedule"]


class Schedule(Protocol):
    """Decides, after a round, how many seconds until each polled job is looked at again."""

    def intervals(
        self,
        frame: pd.DataFrame,
        rows: np.ndarray,
        polls: np.ndarray,
        now: float,
        rng: random.Random,
    ) -> np.ndarray:
        """Seconds until the next look for `frame.iloc[rows]`, polled `polls` times so far."""
        ...


_JITTER = {"none": 0.0, "partial": 0.5, "equal": 0.5, "full": 1.0}


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with jitter: `first`, `first*factor`, ... up to `cap`.

    `jitter` is the share of each interval drawn at random: 0 or "none" for fixed
    intervals, 0.5 or "partial" (the default: between half and all of it), 1 or "full"
    (anywhere from 0 to all of it). One draw per round, so jobs polled together stay together
    and their requests go out as one batch.
    """

    first: float = BACKOFF_FIRST
    factor: float = 2.0
    cap: float = BACKOFF_CAP
    jitter: float | str = "partial"

    def __post_init__(self) -> None:
        if not (self.first > 0 and self.cap >= self.first and self.factor >= 1):
            raise ValueError(
                f"backoff needs first > 0, cap >= first and factor >= 1, "
                f"got first={self.first}, cap={self.cap}, factor={self.factor}"
            )
        share = _JITTER.get(self.jitter) if isinstance(self.jitter, str) else self.jitter
        if share is None or not 0 <= share <= 1:
            raise ValueError(
                f"jitter must be 0..1 or one of {sorted(_JITTER)}, got {self.jitter!r}"
            )

    @property
    def jitter_share(self) -> float:
        return float(_JITTER[self.jitter] if isinstance(self.jitter, str) else self.jitter)

    def base(self, polls: np.ndarray) -> np.ndarray:
        """The interval before jitter after `polls` looks (the first look counts as 1)."""
        steps = np.maximum(np.asarray(polls, dtype="int64") - 1, 0)
        if self.factor > 1:
            # Clip the exponent: beyond the cap it changes nothing and could overflow.
            top = math.ceil(math.log(self.cap / self.first) / math.log(self.factor)) + 1
            steps = np.minimum(steps, top)
        interval: np.ndarray = np.minimum(self.cap, self.first * self.factor ** steps.astype(float))
        return interval

    def intervals(
        self,
        frame: pd.DataFrame,
        rows: np.ndarray,
        polls: np.ndarray,
        now: float,
        rng: random.Random,
    ) -> np.ndarray:
        return self.base(polls) * (1.0 - self.jitter_share * rng.random())


@dataclass(frozen=True)
class Adaptive:
    """Look again when a job is likely to have ended, judged by durations already seen.

    For a running job of type T, `elapsed` seconds after its `begin_time`, the next look is
    after the `quantile` (default: the median) of the remaining times `d - elapsed` of the
    jobs of type T that ran longer than `elapsed`, clipped to `floor`..`cap`. Durations come
    from the jobs of this wait that already ended, plus `history` (any frame with `job_type`
    and `duration`, e.g. last week's jobs). A job type with fewer than `min_samples`
    durations, a job with no begin_time, or one that already ran longer than all of them,
    falls back to `fallback`.
    """

    fallback: Backoff = field(default_factory=Backoff)
    history: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    quantile: float = 0.5
    min_samples: int = 5
    floor: float = 2.0
    cap: float = 300.0

    def __post_init__(self) -> None:
        if not (0 <= self.quantile <= 1 and 0 < self.floor <= self.cap and self.min_samples >= 1):
            raise ValueError(
                "adaptive needs 0 <= quantile <= 1, 0 < floor <= cap, min_samples >= 1"
            )

    def durations(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Sorted durations in seconds per job type, from `frame` and `history`."""
        parts = [frame] if self.history is None else [frame, self.history]
        seen = pd.concat(
            [p.loc[p["duration"].notna(), ["job_type", "duration"]] for p in parts],
            ignore_index=True,
        )
        seconds = seen["duration"].dt.total_seconds()
        return {
            str(kind): np.sort(group.to_numpy("float64"))
            for kind, group in seconds.groupby(seen["job_type"].to_numpy(), sort=False)
        }

    def intervals(
        self,
        frame: pd.DataFrame,
        rows: np.ndarray,
        polls: np.ndarray,
        now: float,
        rng: random.Random,
    ) -> np.ndarray:
        out = self.fallback.intervals(frame, rows, polls, now, rng)
        durations = self.durations(frame)
        subset = frame.iloc[rows]
        begin = subset["begin_time"]
        elapsed = now - epoch_seconds(begin)
        kinds = subset["job_type"].to_numpy(dtype=object)
        for kind, seen in durations.items():
            if len(seen) < self.min_samples:
                continue
            mine = np.flatnonzero((kinds == kind) & ~np.isnan(elapsed))
            if not len(mine):
                continue
            remaining = _conditional_quantile(seen, elapsed[mine], self.quantile)
            known = ~np.isnan(remaining)
            out[mine[known]] = np.clip(remaining[known], self.floor, self.cap)
        return out


def _conditional_quantile(
    sorted_durations: np.ndarray, elapsed: np.ndarray, q: float
) -> np.ndarray:
    """The q-quantile of `d - e` over the durations d > e, per elapsed e; NaN if none."""
    n = len(sorted_durations)
    start = np.searchsorted(sorted_durations, elapsed, side="right")
    longer = n - start
    position = start + q * np.maximum(longer - 1, 0)
    low = np.clip(np.floor(position).astype("int64"), 0, n - 1)
    high = np.clip(low + 1, 0, n - 1)
    share = position - np.floor(position)
    value = sorted_durations[low] + (sorted_durations[high] - sorted_durations[low]) * share
    return np.where(longer > 0, value - elapsed, np.nan)


def make_schedule(schedule: Schedule | str | None) -> Schedule:
    """A schedule from an object, "backoff" (the default) or "adaptive"."""
    if schedule is None or schedule == "backoff":
        return Backoff()
    if schedule == "adaptive":
        return Adaptive()
    if isinstance(schedule, str) or not hasattr(schedule, "intervals"):
        raise ValueError(f"schedule must be 'backoff', 'adaptive' or a Schedule, got {schedule!r}")
    return schedule
