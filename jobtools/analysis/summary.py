"""Summaries of a job frame: per job type, and success and failure over time."""

from __future__ import annotations

from datetime import datetime, tzinfo

import numpy as np
import pandas as pd

from jobtools.analysis._engines import is_dask
from jobtools.schema import JobStatus, require
from jobtools.times import to_offset, to_utc, to_zone, zone_name

__all__ = ["RATE_COLUMNS", "SUMMARY_COLUMNS", "jobs_between", "rates_over_time", "summary_by_type"]

SUMMARY_COLUMNS: tuple[str, ...] = (
    "job_type",
    "count",
    "success",
    "fail",
    "running",
    "success_rate",
    "p50_s",
    "p90_s",
    "p99_s",
)
RATE_COLUMNS: tuple[str, ...] = (
    "started",
    "finished",
    "success",
    "fail",
    "success_rate",
    "failure_rate",
)
_QUANTILES = {"p50_s": 0.5, "p90_s": 0.9, "p99_s": 0.99}


def summary_by_type(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per job type: counts, success rate and duration percentiles, biggest type first.

    * `count`: all rows of the type; `success`, `fail`: finished jobs by outcome;
    * `running`: jobs not finished yet (INIT, RUNNING, PENDING_PAYMENT or an unknown status);
    * `success_rate`: success / (success + fail), NaN while none has finished;
    * `p50_s`, `p90_s`, `p99_s`: percentiles of the duration of successful jobs, in seconds
      (failures are left out: they often end early and would make a type look fast).

    Rows without a job type (e.g. job ids that could not be fetched) form a row of their own
    with a missing `job_type`, so the counts add up to the frame's length.

    A Dask frame gives the same result, its percentiles within 0.5 % (see `analysis._dask`).
    """
    require(frame, ("job_type", "status", "is_terminal", "duration"), "summary_by_type")
    if is_dask(frame):
        from jobtools.analysis import _dask

        return _dask.summary_by_type(frame)
    status = frame["status"]
    success = status.eq(JobStatus.SUCCESS).fillna(False).astype(bool)
    fail = status.eq(JobStatus.FAIL).fillna(False).astype(bool)
    seconds = frame["duration"].dt.total_seconds().where(success)
    parts = pd.DataFrame(
        {
            "job_type": frame["job_type"],
            "count": 1,
            "success": success.astype("int64"),
            "fail": fail.astype("int64"),
            "running": (status.notna() & ~frame["is_terminal"].astype(bool)).astype("int64"),
            "seconds": seconds,
        }
    )
    by_type = parts.groupby("job_type", dropna=False, sort=False)
    out = by_type[["count", "success", "fail", "running"]].sum()
    finished = out["success"] + out["fail"]
    out["success_rate"] = out["success"] / finished.where(finished > 0)
    if len(parts):
        levels = np.array(list(_QUANTILES.values()))
        quantiles = by_type["seconds"].quantile(levels).unstack()
        quantiles.columns = list(_QUANTILES)
        out = out.join(quantiles)
    else:
        out = out.assign(**{name: np.nan for name in _QUANTILES})
    out = out.reset_index().sort_values(["count", "job_type"], ascending=[False, True], key=by_name)
    return (
        out.loc[:, list(SUMMARY_COLUMNS)]
        .reset_index(drop=True)
        .astype(
            {
                "job_type": "str",
                **{c: "int64" for c in ("count", "success", "fail", "running")},
                **{c: "float64" for c in ("success_rate", *_QUANTILES)},
            }
        )
    )


def rates_over_time(
    frame: pd.DataFrame, period: str = "1D", *, tz: str | tzinfo | None = None
) -> pd.DataFrame:
    """Throughput and failure rate per period, indexed by the period's start (in `tz`).

    Columns (`RATE_COLUMNS`): `started` (jobs that began in the period), `finished` (jobs that
    ended in it, SUCCESS or FAIL), `success`, `fail`, and `success_rate` and `failure_rate`
    as shares of `finished` (NaN for a period where nothing finished). Periods with nothing
    in them are kept, as zeros, so a gap in the data shows as a gap.

    Args:
        period: a pandas frequency: "15min", "1h", "1D", "1W", "MS" (month start).
        tz: the zone the periods are cut in (default UTC): with "Asia/Shanghai", "1D"
            periods start at midnight in Beijing, and the index is in that zone.

    Raises:
        ValueError: `period` is not a frequency, or `tz` is not a time zone.

    A Dask frame gives the same result (see `analysis._dask`); with a `tz` other than UTC
    its four columns the rates need are computed into pandas first.
    """
    require(frame, ("status", "is_terminal", "begin_time", "end_time"), "rates_over_time")
    offset = to_offset(period)
    zone = to_zone(tz)
    if is_dask(frame):
        columns = ["status", "is_terminal", "begin_time", "end_time"]
        if zone_name(zone) != "UTC":
            # Local midnights (and their DST shifts) are cut by pandas on the columns needed.
            frame = frame[columns].compute()
        else:
            from jobtools.analysis import _dask

            return _dask.rates_over_time(frame, period)
    status = frame["status"]
    ended = frame["end_time"].notna() & frame["is_terminal"].astype(bool)
    finished = pd.DataFrame(
        {
            "success": status.eq(JobStatus.SUCCESS).fillna(False).astype("int64"),
            "fail": status.eq(JobStatus.FAIL).fillna(False).astype("int64"),
        }
    )[ended.to_numpy()]
    finished.index = pd.DatetimeIndex(frame["end_time"][ended.to_numpy()]).tz_convert(zone)
    began = frame["begin_time"].dropna()
    started = pd.Series(1, index=pd.DatetimeIndex(began).tz_convert(zone), dtype="int64")

    # Label and close every bin on the left: pandas' default for "W" and "MS" is the right edge.
    counts = finished.resample(offset, label="left", closed="left").sum()
    begun = started.resample(offset, label="left", closed="left").sum().rename("started")
    out = pd.concat([begun, counts], axis=1)
    out = out.fillna(0).astype("int64")
    out["finished"] = out["success"] + out["fail"]
    done = out["finished"].where(out["finished"] > 0)
    out["success_rate"] = out["success"] / done
    out["failure_rate"] = out["fail"] / done
    index = pd.DatetimeIndex(out.index, name="period_start")
    if index.tz is None:  # nothing in the frame: no times to take the zone from
        index = index.tz_localize(zone)
    out.index = index.as_unit("us")
    return out.loc[:, list(RATE_COLUMNS)]


def jobs_between(
    frame: pd.DataFrame,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    *,
    on: str = "begin_time",
    tz: str | tzinfo | None = None,
) -> pd.DataFrame:
    """The rows whose `on` time is at or after `since` and before `until`, as a new frame.

    Either bound may be None (open). Strings are any time `pd.Timestamp` reads; naive times
    are in `tz` (default UTC). Rows with no `on` time are left out when a bound is given.

    Raises:
        ValueError: a bound is not a time, or `since` is not before `until`.
    """
    times = frame[on]
    keep = pd.Series(True, index=frame.index)
    lower = None if since is None else to_utc(since, "since", tz=tz)
    upper = None if until is None else to_utc(until, "until", tz=tz)
    if lower is not None and upper is not None and not lower < upper:
        raise ValueError(f"since ({lower.isoformat()}) must be before until ({upper.isoformat()})")
    if lower is not None:
        keep &= (times >= lower).fillna(False).astype(bool)
    if upper is not None:
        keep &= (times < upper).fillna(False).astype(bool)
    return frame[keep.to_numpy()].copy()


def by_name(column: pd.Series) -> pd.Series:
    """A sort key ordering job types by name (a categorical sorts by its categories' order,
    which differs between a pandas frame and a Dask one), other columns as they are."""
    return column.astype("string") if column.name == "job_type" else column
