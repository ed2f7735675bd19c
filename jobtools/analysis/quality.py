"""Time quality checks: the job times that cannot be right, flagged as boolean columns."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from jobtools.schema import require
from jobtools.times import to_utc

__all__ = ["QUALITY_COLUMNS", "time_quality"]

QUALITY_COLUMNS: tuple[str, ...] = (
    "terminal_without_end",
    "end_before_begin",
    "unparsed_time",
    "begin_in_future",
)


def time_quality(
    frame: pd.DataFrame,
    *,
    now: datetime | str | None = None,
    tolerance: str | pd.Timedelta = "0s",
) -> pd.DataFrame:
    """Flag the rows whose times cannot be right, one boolean column per check.

    Columns (`QUALITY_COLUMNS`), on `frame`'s index:

    * `terminal_without_end`: SUCCESS or FAIL but no `end_time` was given at all;
    * `end_before_begin`: `end_time` earlier than `begin_time`;
    * `unparsed_time`: a begin or end time was present but could not be parsed (the raw text
      is in `frame.attrs["unparsed_times"]`, which `jobs_to_frame` fills);
    * `begin_in_future`: `begin_time` later than `now` plus `tolerance` (clock skew allowed).

    `time_quality(frame).any(axis=1)` selects every doubtful row; `.sum()` counts each check.

    Args:
        now: the present, for the future check (default: the current time); naive means UTC.
        tolerance: how far ahead of `now` a begin time may be, e.g. "5min".
    """
    require(frame, ("is_terminal", "begin_time", "end_time"), "time_quality")
    unparsed = _unparsed_rows(frame)
    end_unparsed = _unparsed_rows(frame, ("end_time",))
    begin, end = frame["begin_time"], frame["end_time"]
    present = pd.Timestamp.now(tz="UTC") if now is None else to_utc(now, "now")
    flags = pd.DataFrame(
        {
            # An end that was given but garbled is reported once, as unparsed.
            "terminal_without_end": frame["is_terminal"].astype(bool) & end.isna() & ~end_unparsed,
            "end_before_begin": (end < begin).fillna(False).astype(bool),
            "unparsed_time": unparsed,
            "begin_in_future": (begin > present + pd.Timedelta(tolerance))
            .fillna(False)
            .astype(bool),
        },
        index=frame.index,
    )
    return flags.loc[:, list(QUALITY_COLUMNS)]


def _unparsed_rows(
    frame: pd.DataFrame, columns: tuple[str, ...] = ("begin_time", "end_time")
) -> pd.Series:
    """True for rows listed in `attrs["unparsed_times"]` under one of `columns`."""
    recorded = frame.attrs.get("unparsed_times") or {}
    labels: set[object] = set()
    for column in columns:
        labels.update((recorded.get(column) or {}).keys())
    # Rows filtered away since the frame was built are simply not in the index any more.
    flags = np.asarray(frame.index.isin(list(labels)), dtype=bool)
    return pd.Series(flags, index=frame.index)
