"""Time quality checks: the job times that cannot be right, flagged as boolean columns."""

from __future__ import annotations

import datetime as dt
from datetime import datetime

import numpy as np
import pandas as pd

from jobtools.analysis._engines import is_dask
from jobtools.ids import job_id_times
from jobtools.schema import require
from jobtools.times import format_offset, to_utc, whole_hour_offsets

__all__ = [
    "ID_TIME_TOLERANCE",
    "QUALITY_COLUMNS",
    "begin_vs_id",
    "time_quality",
]

QUALITY_COLUMNS: tuple[str, ...] = (
    "terminal_without_end",
    "end_before_begin",
    "unparsed_time",
    "begin_in_future",
    "begin_off_id",
)
# A job's id is made within milliseconds of its begin_time (every public example): further
# apart than this, one of them is wrong (a mislabelled zone, a hand-edited example).
ID_TIME_TOLERANCE = pd.Timedelta(minutes=1)


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
    * `begin_in_future`: `begin_time` later than `now` plus `tolerance` (clock skew allowed);
    * `begin_off_id`: `begin_time` more than a minute from `created_at`, the time in the job
      id. `begin_vs_id(frame)` says by how much, and names the whole-hour offset when there
      is one (`+08:00`: a UTC+08:00 clock written as UTC); the result's
      `attrs["begin_off_id"]` counts the rows by that offset.

    `time_quality(frame).any(axis=1)` selects every doubtful row; `.sum()` counts each check.

    Args:
        now: the present, for the future check (default: the current time); naive means UTC.
        tolerance: how far ahead of `now` a begin time may be, e.g. "5min".

    A Dask frame gives a lazy Dask frame of the same flags (see `analysis._dask`).
    """
    require(frame, ("is_terminal", "begin_time", "end_time"), "time_quality")
    if is_dask(frame):
        from jobtools.analysis import _dask

        # A Dask frame in, a Dask frame out: the annotations speak of pandas only.
        return _dask.time_quality(frame, now=now, tolerance=tolerance)  # type: ignore[return-value]
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
    against_id = begin_vs_id(frame)
    off = against_id["off"].to_numpy(bool)
    flags["begin_off_id"] = off
    flags = flags.loc[:, list(QUALITY_COLUMNS)]
    named = against_id.loc[off, "whole_hours"].fillna("not whole hours")
    flags.attrs["begin_off_id"] = {str(k): int(v) for k, v in named.value_counts().items()}
    return flags


def begin_vs_id(frame: pd.DataFrame) -> pd.DataFrame:
    """`begin_time` against the creation time in the job id, row by row.

    Columns: `created_at` (from the frame, or read from `job_id`), `difference`
    (`begin_time - created_at`), `off` (more than a minute apart) and `whole_hours` (the
    offset as `+08:00` when the difference is a whole number of hours give or take a
    minute, else missing): a zone error shows as a whole-hour offset, a wrong date as none.
    """
    created = frame["created_at"] if "created_at" in frame else job_id_times(frame["job_id"])
    difference = frame["begin_time"] - created
    off = (difference.abs() > ID_TIME_TOLERANCE).fillna(False).astype(bool)
    begin = frame["begin_time"].dt.tz_localize(None).to_numpy("datetime64[us]")
    hours = whole_hour_offsets(begin, created.dt.tz_localize(None).to_numpy("datetime64[us]"))
    labels = [
        format_offset(dt.timedelta(hours=float(h))) if h == h and h != 0 else None for h in hours
    ]
    return pd.DataFrame(
        {
            "created_at": created.to_numpy(),
            "difference": difference.to_numpy(),
            "off": off.to_numpy(),
            "whole_hours": pd.array(labels, dtype="str"),
        },
        index=frame.index,
    )


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
