"""Tests for jobtools.wait.schedule: backoff intervals and jitter, adaptive looks, choosing one.

How a schedule changes a whole wait (fewer requests with `Adaptive`) is tested in test_poll.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import jobtools
from jobtools.wait.schedule import Adaptive, Backoff, make_schedule

START = 1_780_000_000.0


class FixedRandom:
    """A random source that always draws `value`."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize(
    ("backoff", "draw", "polls", "expected"),
    [
        (
            Backoff(first=2, factor=2, cap=30, jitter=0),
            0.9,
            [1, 2, 3, 4, 5, 6, 50],
            [2, 4, 8, 16, 30, 30, 30],
        ),
        (Backoff(first=3, factor=1, cap=10, jitter="none"), 0.5, [1, 5], [3, 3]),
        (Backoff(first=2, factor=2, cap=30, jitter="partial"), 1.0, [1, 3], [1, 4]),
        (Backoff(first=2, factor=2, cap=30, jitter="full"), 0.25, [1, 3], [1.5, 6]),
        (Backoff(first=1, factor=10, cap=1e6, jitter=0), 0.0, [10_000], [1e6]),
    ],
)
def test_backoff_intervals(
    backoff: Backoff, draw: float, polls: list[int], expected: list[float]
) -> None:
    """Intervals grow by `factor` from `first` to `cap`; jitter takes off up to its share."""
    frame = pd.DataFrame()
    got = backoff.intervals(frame, np.arange(len(polls)), np.array(polls), 0.0, FixedRandom(draw))
    np.testing.assert_allclose(got, expected)


@pytest.mark.parametrize(
    "options",
    [
        {"first": 0},
        {"first": 10, "cap": 5},
        {"factor": 0.5},
        {"jitter": 1.5},
        {"jitter": "some"},
    ],
)
def test_backoff_rejects_bad_options(options: dict[str, Any]) -> None:
    """A backoff that could not work is refused when made, naming the problem."""
    with pytest.raises(ValueError, match="backoff|jitter"):
        Backoff(**options)


def _history(job_type: str, seconds: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"job_type": job_type, "duration": pd.to_timedelta(seconds, unit="s")})


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [
        (0.0, 300.0),  # median of 100..500 is 300: 300 s to go, at the cap
        (150.0, 200.0),  # of 200, 300, 400, 500 the median is 350: 200 s to go
        (390.0, 60.0),  # of 400 and 500 the median is 450: 60 s to go
        (499.0, 2.0),  # 1 s to go, clipped up to the floor
        (600.0, 4.0),  # longer than all seen: the fallback (first interval, no jitter)
    ],
)
def test_adaptive_looks_again_at_the_median_remaining_time(elapsed: float, expected: float) -> None:
    """A job of a known type is looked at again when half of the longer ones had ended."""
    schedule = Adaptive(
        fallback=Backoff(first=4, jitter=0),
        history=_history("export", [100, 200, 300, 400, 500]),
        cap=300,
    )
    now = START
    frame = jobtools.jobs_to_frame(
        [
            {
                "job_id": "j1",
                "job_type": "export",
                "status": "RUNNING",
                "begin_time": pd.Timestamp(now - elapsed, unit="s", tz="UTC").isoformat(),
                "end_time": "",
            }
        ]
    )
    got = schedule.intervals(frame, np.array([0]), np.array([1]), now, FixedRandom(0.5))
    assert got.tolist() == pytest.approx([expected])


def test_adaptive_falls_back_without_enough_durations() -> None:
    """A type with fewer durations than `min_samples`, or no begin_time, gets the fallback."""
    schedule = Adaptive(fallback=Backoff(first=4, jitter=0), history=_history("export", [100]))
    frame = jobtools.jobs_to_frame(
        [
            {"job_id": "j1", "job_type": "export", "status": "RUNNING",
             "begin_time": "2026-01-01T00:00:00Z"},
            {"job_id": "j2", "job_type": "import", "status": "INIT"},
        ]
    )  # fmt: skip
    got = schedule.intervals(frame, np.array([0, 1]), np.array([1, 1]), START, FixedRandom(0))
    assert got.tolist() == [4.0, 4.0]


@pytest.mark.parametrize("bad", ["often", 3, None])
def test_make_schedule(bad: Any) -> None:
    """Names pick a schedule; anything else that is not a schedule is refused."""
    if bad is None:
        assert isinstance(make_schedule(bad), Backoff)
        assert isinstance(make_schedule("adaptive"), Adaptive)
        return
    with pytest.raises(ValueError, match="schedule"):
        make_schedule(bad)
