"""Summaries of a job frame: per job type, and success and failure over time."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Any

import numpy as np
import pandas as pd

from jobtools.analysis._engines import embedded_files, is_dask
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

    A Dask frame gives the same result, its percentiles within 0.5 % (see `analysis._dask`);
    exact when DuckDB answers for an archive on one machine (see `read_jobs_dask`).
    """
    require(frame, ("job_type", "status", "is_terminal", "duration"), "summary_by_type")
    if is_dask(frame):
        files = embedded_files(frame)
        if files is not None:
            from jobtools.analysis import _duckdb

            return _duckdb.summary_by_type(files)
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
    if len(parts):
        levels = np.array(list(_QUANTILES.values()))
        quantiles = by_type["seconds"].quantile(levels).unstack()
        quantiles.columns = list(_QUANTILES)
        out = out.join(quantiles)
    else:
        out = out.assign(**{name: np.nan for name in _QUANTILES})
    return _summary_table(out)


def _summary_table(out: pd.DataFrame) -> pd.DataFrame:
    """The summary from its counts and percentiles per job type (the index), every engine's."""
    finished = out["success"] + out["fail"]
    out = out.assign(success_rate=out["success"] / finished.where(finished > 0))
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
    frame: pd.DataFrame,
    period: str = "1D",
    *,
    by: str = "begin",
    groupby: str | None = None,
    tz: str | tzinfo | None = None,
) -> pd.DataFrame:
    """Throughput and failure rate per period, indexed by the period's start (in `tz`).

    Columns (`RATE_COLUMNS`): `started` (jobs that began in the period), `finished` (jobs of
    the period that ended, SUCCESS or FAIL), `success`, `fail`, and `success_rate` and
    `failure_rate` as shares of `finished` (NaN for a period where nothing finished). Periods
    with nothing in them are kept, as zeros, so a gap in the data shows as a gap.

    Which clock a finished job counts on is `by`:

    * `"begin"` (the default): in the period it *began* in. A failure rate then belongs to
      the jobs that started together, so a cause that starts failing jobs at 17:28 shows as a
      step at 17:28. The latest periods hold jobs still running, which have not finished yet.
    * `"end"`: in the period it ended in: throughput, what the service delivered when. Long
      jobs end hours after they began, so a sharp change reads as a slow rise.

    Args:
        period: a pandas frequency: "15min", "1h", "1D", "1W", "MS" (month start).
        by: `"begin"` or `"end"`, as above.
        groupby: None, or one row per period and value of `"job_type"`, any other column
            (`"region"`, `"image_id"`...), `"reason"` (the failure group of `failure_groups`)
            or `"error_code"`. The index is then `(period_start, groupby)`. For a reason or an
            error code, which only failures have, `fail` counts that reason, `finished` all
            the period's finished jobs and `failure_rate` is their ratio (the reasons' rates
            add up to the period's); `started`, `success` and `success_rate` are left out.
        tz: the zone the periods are cut in (default UTC): with "Asia/Shanghai", "1D"
            periods start at midnight in Beijing, and the index is in that zone.

    Raises:
        ValueError: `period` is not a frequency, `tz` is not a time zone, or `by` is neither
            "begin" nor "end".

    A Dask frame gives the same result. In UTC, without `groupby` or by a column (then for
    periods that divide a day), its counts are made per partition (see `analysis._dask`), or
    by DuckDB over an archive's files on one machine; otherwise the few columns the rates
    need (status, the two times, the grouping key) are computed into pandas first.
    """
    require(frame, ("status", "is_terminal", "begin_time", "end_time"), "rates_over_time")
    if by not in ("begin", "end"):
        raise ValueError(f'by must be "begin" or "end", got {by!r}')
    offset = to_offset(period)
    zone = to_zone(tz)
    if is_dask(frame):
        files = embedded_files(frame)
        if files is not None and zone_name(zone) == "UTC":
            if groupby is not None and groupby not in ("reason", *frame.columns):
                raise KeyError(f"groupby: the frame has no column {groupby!r}")
            from jobtools.analysis import _duckdb

            rates = _duckdb.rates_over_time(files, offset, by, groupby)
            if rates is not None:
                return rates
        if groupby not in (None, "reason", "error_code") and zone_name(zone) == "UTC":
            if groupby not in frame.columns:
                raise KeyError(f"groupby: the frame has no column {groupby!r}")
            from jobtools.analysis import _dask

            grouped = _dask.grouped_rates(frame, offset, by, groupby)
            if grouped is not None:
                return grouped
        if groupby is None and zone_name(zone) == "UTC":
            from jobtools.analysis import _dask

            counted = frame
            if by == "begin":
                # Counted per partition as by end time, with each ended job's end moved to
                # its begin: the same counts as pandas, and nothing computed into pandas.
                ended_at_begin = frame["begin_time"].where(~frame["end_time"].isna())
                counted = frame.assign(end_time=ended_at_begin)
            return _dask.rates_over_time(counted, period)
        # Local midnights (and their DST shifts) and groups are cut by pandas on the columns
        # needed; a reason is made per partition, so only its short key travels.
        frame = _needed_columns(frame, groupby)
    if groupby is None:
        return _rates(frame, offset, zone, by)
    return _grouped_rates(frame, offset, zone, by, groupby)


_RATE_TIMES = ["status", "is_terminal", "begin_time", "end_time"]


def _needed_columns(frame: Any, groupby: str | None) -> pd.DataFrame:
    """The columns the rates need, of a Dask frame, computed into pandas."""
    if groupby == "reason":
        from jobtools.analysis.failures import failure_keys

        keys = frame.map_partitions(failure_keys, meta=("group", "str"))
        parts = frame[_RATE_TIMES].assign(reason=keys)
    elif groupby is not None:
        if groupby not in frame.columns:
            raise KeyError(f"groupby: the frame has no column {groupby!r}")
        parts = frame[[*_RATE_TIMES, groupby]]
    else:
        parts = frame[_RATE_TIMES]
    computed: pd.DataFrame = parts.compute()
    return computed


def _rates(frame: pd.DataFrame, offset: Any, zone: tzinfo, by: str) -> pd.DataFrame:
    status = frame["status"]
    ended = frame["end_time"].notna() & frame["is_terminal"].astype(bool)
    clock = "begin_time" if by == "begin" else "end_time"
    ended &= frame[clock].notna()
    finished = pd.DataFrame(
        {
            "success": status.eq(JobStatus.SUCCESS).fillna(False).astype("int64"),
            "fail": status.eq(JobStatus.FAIL).fillna(False).astype("int64"),
        }
    )[ended.to_numpy()]
    finished.index = pd.DatetimeIndex(frame[clock][ended.to_numpy()]).tz_convert(zone)
    began = frame["begin_time"].dropna()
    started = pd.Series(1, index=pd.DatetimeIndex(began).tz_convert(zone), dtype="int64")

    # Label and close every bin on the left: pandas' default for "W" and "MS" is the right edge.
    counts = finished.resample(offset, label="left", closed="left").sum()
    begun = started.resample(offset, label="left", closed="left").sum().rename("started")
    out = pd.concat([begun, counts], axis=1)
    out = out.fillna(0).astype("int64")
    return _shares(out, zone)


def _shares(out: pd.DataFrame, zone: tzinfo) -> pd.DataFrame:
    out = out.reindex(columns=["started", "success", "fail"], fill_value=0)
    out["finished"] = out["success"] + out["fail"]
    done = out["finished"].where(out["finished"] > 0)
    out["success_rate"] = out["success"] / done
    out["failure_rate"] = out["fail"] / done
    index = pd.DatetimeIndex(out.index, name="period_start")
    if index.tz is None:  # nothing in the frame: no times to take the zone from
        index = index.tz_localize(zone)
    out.index = index.as_unit("us")
    return out.loc[:, list(RATE_COLUMNS)]


def _grouped_rates(
    frame: pd.DataFrame, offset: Any, zone: tzinfo, by: str, groupby: str
) -> pd.DataFrame:
    """`_rates` per value of `groupby`, on the periods of the whole frame."""
    whole = _rates(frame, offset, zone, by)
    periods = whole.index
    if groupby in ("reason", "error_code"):
        if groupby == "reason":
            from jobtools.analysis.failures import failure_keys

            keys = frame["reason"] if "reason" in frame.columns else failure_keys(frame)
        else:
            keys = frame["error_code"].astype("str")
        clock = "begin_time" if by == "begin" else "end_time"
        failed = (
            frame["status"].eq(JobStatus.FAIL).fillna(False).to_numpy(dtype=bool)
            & frame[clock].notna().to_numpy()
            & keys.notna().to_numpy()
        )
        times = pd.DatetimeIndex(frame[clock][failed]).tz_convert(zone)
        fails = pd.Series(1, index=times, dtype="int64")
        per = {
            key: part.resample(offset, label="left", closed="left").sum()
            for key, part in fails.groupby(keys[failed].to_numpy(), sort=True)
        }
        rows = []
        for key, counts in per.items():
            counts = counts.reindex(periods, fill_value=0)
            part = pd.DataFrame(
                {"finished": whole["finished"].to_numpy(), "fail": counts.to_numpy()},
                index=periods,
            )
            part[groupby] = str(key)
            rows.append(part)
        columns = ["finished", "fail", "failure_rate"]
        if not rows:
            empty = pd.DataFrame({c: pd.Series([], dtype="float64") for c in columns})
            names = ["period_start", groupby]
            return empty.set_index(pd.MultiIndex.from_arrays([[], []], names=names))
        out = pd.concat(rows).set_index(groupby, append=True).sort_index(kind="stable")
        out["failure_rate"] = out["fail"] / out["finished"].where(out["finished"] > 0)
        return out.loc[:, columns].astype({"finished": "int64", "fail": "int64"})
    if groupby not in frame.columns:
        raise KeyError(f"groupby: the frame has no column {groupby!r}")
    values = frame[groupby].astype("str").fillna("(none)")
    groups = frame.groupby(values.to_numpy(), sort=True)
    each = ((key, _rates(part, offset, zone, by)) for key, part in groups)
    return stacked_rates(each, whole, zone, groupby)


def stacked_rates(
    per: Iterable[tuple[Any, pd.DataFrame]], whole: pd.DataFrame, zone: tzinfo, groupby: str
) -> pd.DataFrame:
    """Each group's rates (`(value, rates)`) on the periods of `whole`'s (none counted as 0),
    their shares worked out again, stacked under a `groupby` index level."""
    parts = []
    for key, rates in per:
        table = rates[["started", "success", "fail"]].reindex(whole.index, fill_value=0)
        shared = _shares(table, zone)
        shared[groupby] = str(key)
        parts.append(shared)
    if not parts:
        empty = whole.iloc[:0].copy()
        empty[groupby] = pd.Series([], dtype="str")
        return empty.set_index(groupby, append=True)
    return pd.concat(parts).set_index(groupby, append=True).sort_index(kind="stable")


def jobs_between(
    frame: pd.DataFrame,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    *,
    clock: str = "begin",
    on: str | None = None,
    tz: str | tzinfo | None = None,
) -> pd.DataFrame:
    """The rows that began (`clock="begin"`) or ended (`"end"`) at or after `since` and before
    `until`, as a new frame.

    Begin time is the default, as everywhere a window is chosen (`rates_over_time`,
    `failure_groups`' `first_begun`, `compare_failures(at=)`, `findings`): a window holds the
    jobs that *started* in it, so splitting at a reason's `first_begun` puts all its
    failures after the split. Either bound may be None (open). Strings are any time
    `pd.Timestamp` reads; naive times are in `tz` (default UTC). Rows with no time on that
    clock are left out when a bound is given. `on` names any other time column instead
    (`"created_at"`, `"observed_at"`).

    Raises:
        ValueError: a bound is not a time, `since` is not before `until`, or `clock` is
            neither "begin" nor "end".
    """
    if clock not in ("begin", "end"):
        raise ValueError(f'clock must be "begin" or "end", got {clock!r}')
    times = frame[on or f"{clock}_time"]
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
