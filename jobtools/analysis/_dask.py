"""The analysis functions on Dask frames: each partition summarised, the summaries combined.

`summary_by_type`, `rates_over_time` and `failure_groups` call these for a Dask DataFrame
and return the same pandas frame as for the pandas frame of the same data (`compare_failures`
needs nothing of its own: it counts through `failure_groups` and the ended jobs).
Counts, rates, shares, first and last times and examples are exact. Only duration percentiles
are estimated (exactness would need every duration of a type in one place): each partition
counts its durations into logarithmic buckets, and a percentile is read off the combined
counts. `time_quality` returns a lazy Dask frame of the flags, partition by partition.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dask.base
import dask.dataframe as dd
import numpy as np
import pandas as pd
from pandas.tseries.offsets import BaseOffset, Day, Tick

from jobtools.analysis import failures, quality, summary
from jobtools.analysis.summary import SUMMARY_COLUMNS
from jobtools.schema import JobStatus
from jobtools.times import to_offset, to_utc, to_zone

__all__ = [
    "RELATIVE_ERROR",
    "failure_groups",
    "rates_over_time",
    "summary_by_type",
    "time_quality",
]

# Durations are counted in buckets (g**(k-1), g**k] * _SMALLEST, g = (1 + e) / (1 - e), each
# standing for 2 g**k / (g + 1) * _SMALLEST: within RELATIVE_ERROR of every value in it.
RELATIVE_ERROR = 0.005
_GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
# Durations within this many seconds of zero share bucket 0, which stands for 0 s.
_SMALLEST = 1e-3
# The bucket of the rows that carry a type's counts rather than durations.
_COUNTS = np.iinfo(np.int64).min
_COUNT_COLUMNS = ("count", "success", "fail", "running")


# --- summary_by_type ------------------------------------------------------------------------


def summary_by_type(frame: dd.DataFrame) -> pd.DataFrame:
    """`summary.summary_by_type` of a Dask frame; counts exact, percentiles estimated.

    Each of `p50_s`, `p90_s` and `p99_s` is within 0.5 % (`RELATIVE_ERROR`) of the exact
    percentile (pandas' linear interpolation between the two nearest durations), plus 1 ms.
    """
    parts = frame[["job_type", "status", "is_terminal", "duration"]]
    meta = _summary_chunk(parts._meta)
    combined = parts.reduction(
        _summary_chunk, aggregate=_summary_combine, combine=_summary_combine, meta=meta
    )
    counts = combined.compute()
    return _summary_result(counts)


def _summary_chunk(part: pd.DataFrame) -> pd.DataFrame:
    """Per job type: the counts (bucket `_COUNTS`), and successful durations by bucket.

    Counted with NumPy on integer codes (a pandas group-by of a million rows costs seconds).
    """
    status = part["status"]
    success = status.eq(JobStatus.SUCCESS).fillna(False).to_numpy(dtype=bool)
    fail = status.eq(JobStatus.FAIL).fillna(False).to_numpy(dtype=bool)
    running = (status.notna() & ~part["is_terminal"].astype(bool)).to_numpy(dtype=bool)
    codes, types = pd.factorize(part["job_type"])
    # A missing job type is a type of its own (the last code), as pandas' dropna=False has it.
    names = np.append(np.asarray(types, dtype=object), np.nan)
    codes = np.where(codes < 0, len(types), codes)
    slots = len(names)
    count = np.bincount(codes, minlength=slots)
    present = np.flatnonzero(count)
    counts = pd.DataFrame(
        {
            "job_type": names[present],
            "bucket": _COUNTS,
            "count": count[present],
            "success": np.bincount(codes[success], minlength=slots)[present],
            "fail": np.bincount(codes[fail], minlength=slots)[present],
            "running": np.bincount(codes[running], minlength=slots)[present],
            "n": 0,
        }
    )
    seconds = part["duration"].dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan)
    timed = success & ~np.isnan(seconds)
    buckets = _buckets(seconds[timed])
    # (type, bucket) as one integer: buckets are within a few thousand of zero.
    span = 2 * int(np.abs(buckets).max(initial=0)) + 1
    pairs, n = np.unique(codes[timed] * span + (buckets + span // 2), return_counts=True)
    durations = pd.DataFrame(
        {
            "job_type": names[pairs // span],
            "bucket": pairs % span - span // 2,
            **{name: 0 for name in _COUNT_COLUMNS},
            "n": n,
        }
    )
    return pd.concat([counts, durations], ignore_index=True).astype(
        {"job_type": object, "bucket": np.int64, **{c: np.int64 for c in (*_COUNT_COLUMNS, "n")}}
    )


def _summary_combine(parts: pd.DataFrame) -> pd.DataFrame:
    grouped = parts.groupby(["job_type", "bucket"], dropna=False, sort=False)
    return grouped[[*_COUNT_COLUMNS, "n"]].sum().reset_index()


def _buckets(seconds: np.ndarray) -> np.ndarray:
    """Each duration's bucket: k > 0 for (g**(k-1), g**k] * _SMALLEST, -k for negatives, 0."""
    size = np.abs(seconds)
    with np.errstate(divide="ignore"):
        k = np.ceil(np.log(np.maximum(size, _SMALLEST) / _SMALLEST) / np.log(_GAMMA))
    k = np.where(size <= _SMALLEST, 0, np.maximum(k, 1)).astype(np.int64)
    return np.where(seconds < 0, -k, k)


def _bucket_values(buckets: np.ndarray) -> np.ndarray:
    """The value each bucket stands for."""
    k = np.abs(buckets).astype(np.float64)
    value = _SMALLEST * 2 * _GAMMA**k / (_GAMMA + 1)
    return np.where(buckets == 0, 0.0, np.sign(buckets) * value)


def _quantiles(buckets: np.ndarray, counts: np.ndarray) -> dict[str, float]:
    """pandas' linear-interpolation percentiles, read off bucket counts."""
    total = int(counts.sum())
    if total == 0:
        return {name: np.nan for name in summary._QUANTILES}
    order = np.argsort(buckets)
    values, cumulative = _bucket_values(buckets[order]), np.cumsum(counts[order])
    out = {}
    for name, q in summary._QUANTILES.items():
        position = (total - 1) * q
        low, high = int(np.floor(position)), int(np.ceil(position))
        # The value of the i-th smallest duration (from 0): the bucket where the count passes i.
        at_low = values[np.searchsorted(cumulative, low, side="right")]
        at_high = values[np.searchsorted(cumulative, high, side="right")]
        out[name] = float(at_low + (position - low) * (at_high - at_low))
    return out


def _summary_result(counts: pd.DataFrame) -> pd.DataFrame:
    """The summary frame from the combined counts, as `summary.summary_by_type` makes it."""
    is_count = counts["bucket"].eq(_COUNTS)
    out = counts[is_count].set_index("job_type")[list(_COUNT_COLUMNS)]
    finished = out["success"] + out["fail"]
    out["success_rate"] = out["success"] / finished.where(finished > 0)
    timed = counts[~is_count & counts["n"].gt(0)]
    rows = {}
    for job_type, group in timed.groupby("job_type", dropna=False, sort=False):
        rows[job_type] = _quantiles(group["bucket"].to_numpy(), group["n"].to_numpy())
    quantiles = pd.DataFrame.from_dict(rows, orient="index", columns=list(summary._QUANTILES))
    out = out.join(quantiles)
    out = out.rename_axis("job_type").reset_index()
    out = out.sort_values(["count", "job_type"], ascending=[False, True], key=summary.by_name)
    return (
        out.loc[:, list(SUMMARY_COLUMNS)]
        .reset_index(drop=True)
        .astype(
            {
                "job_type": "str",
                **{c: "int64" for c in _COUNT_COLUMNS},
                **{c: "float64" for c in ("success_rate", *summary._QUANTILES)},
            }
        )
    )


# --- rates_over_time ------------------------------------------------------------------------


def rates_over_time(frame: dd.DataFrame, period: str = "1D") -> pd.DataFrame:
    """`summary.rates_over_time` of a Dask frame, exactly: each partition's counts per period.

    A period that does not divide a day (`"7h"`, `"2D"`) is counted from the first day, as
    pandas does, which costs one more pass over the data to find that day first.
    """
    offset = to_offset(period)
    parts = frame[["status", "is_terminal", "begin_time", "end_time"]]
    origins: tuple[Any, Any] = (None, None)
    # Fixed periods are binned from the first day's midnight (pandas' "start_day"); others
    # (weeks, months) are anchored to the calendar, the same in every partition.
    if isinstance(offset, Tick | Day):
        if pd.Timedelta(days=1) % pd.Timedelta(offset.nanos, unit="ns") == pd.Timedelta(0):
            origins = ("epoch", "epoch")  # the same bins as from the first day's midnight
        else:
            ended = ~parts["end_time"].isna() & parts["is_terminal"].astype(bool)
            first_end, first_begin = dask.base.compute(
                parts["end_time"][ended].min(), parts["begin_time"].min()
            )
            origins = (_midnight(first_begin), _midnight(first_end))
    meta = _rates_chunk(parts._meta, offset, origins)
    combined = parts.reduction(
        _rates_chunk,
        aggregate=_rates_combine,
        combine=_rates_combine,
        meta=meta,
        chunk_kwargs={"offset": offset, "origins": origins},
    )
    counts = combined.compute()
    return _rates_result(counts, offset, origins)


def _midnight(moment: Any) -> Any:
    if pd.isna(moment):
        return "start_day"
    return pd.Timestamp(moment).tz_convert("UTC").tz_localize(None).normalize()


def _resample(values: pd.Series | pd.DataFrame, offset: BaseOffset, origin: Any) -> Any:
    """Sums per period, binned from `origin` (None: the calendar), labelled by their start.

    Binned in naive UTC, where pandas honours `origin` for days too (same bins: UTC has no
    daylight saving time).
    """
    extra = {} if origin is None else {"origin": origin}
    naive = values.set_axis(pd.DatetimeIndex(values.index).tz_convert(None))
    out = naive.resample(offset, label="left", closed="left", **extra).sum()
    return out.set_axis(pd.DatetimeIndex(out.index).tz_localize("UTC"))


def _rates_chunk(part: pd.DataFrame, offset: BaseOffset, origins: tuple[Any, Any]) -> pd.DataFrame:
    """Jobs begun, and finished by outcome, per period, as rows `(variable, period, value)`."""
    fixed = isinstance(offset, Tick | Day) and all(
        o == "epoch" or isinstance(o, pd.Timestamp) for o in origins
    )
    if fixed:
        return _rates_chunk_fixed(part, offset.nanos, origins)
    return _rates_chunk_calendar(part, offset, origins)


def _rates_chunk_fixed(part: pd.DataFrame, period: int, origins: tuple[Any, Any]) -> pd.DataFrame:
    """`_rates_chunk` for periods of a fixed length: each time's period by integer division.

    The periods are those pandas' resample makes (every period between a partition's first
    and last, zeros included), counted with NumPy.
    """
    status = part["status"]
    ended = (part["end_time"].notna() & part["is_terminal"].astype(bool)).to_numpy(dtype=bool)
    success = status.eq(JobStatus.SUCCESS).fillna(False).to_numpy(dtype=bool)[ended]
    fail = status.eq(JobStatus.FAIL).fillna(False).to_numpy(dtype=bool)[ended]
    begun = _nanoseconds(part["begin_time"])
    begun = begun[begun != _NAT]
    finished = _nanoseconds(part["end_time"])[ended]
    frames = [
        _periods(begun, period, origins[0], {"started": None}),
        _periods(finished, period, origins[1], {"success": success, "fail": fail}),
    ]
    return pd.concat(frames, ignore_index=True)


_NAT = np.iinfo(np.int64).min


def _nanoseconds(times: pd.Series) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(times).as_unit("ns").asi8)


def _periods(
    times: np.ndarray, period: int, origin: Any, counted: dict[str, np.ndarray | None]
) -> pd.DataFrame:
    """Rows `(variable, period, value)` for every period from the first to the last time."""
    columns = ["variable", "period", "value"]
    if not len(times):
        return pd.DataFrame({c: [] for c in columns}).astype({"value": "int64"})
    start = 0 if origin == "epoch" else pd.Timestamp(origin).as_unit("ns").value
    index = (times - start) // period
    first = int(index.min())
    slot = index - first
    slots = int(slot.max()) + 1
    starts = pd.DatetimeIndex(start + (first + np.arange(slots)) * period, tz="UTC")
    parts = []
    for variable, mask in counted.items():
        chosen = slot if mask is None else slot[mask]
        value = np.bincount(chosen, minlength=slots).astype(np.int64)
        parts.append(pd.DataFrame({"variable": variable, "period": starts, "value": value}))
    return pd.concat(parts, ignore_index=True)


def _rates_chunk_calendar(
    part: pd.DataFrame, offset: BaseOffset, origins: tuple[Any, Any]
) -> pd.DataFrame:
    """`_rates_chunk` for calendar periods (weeks, months): binned by pandas' resample."""
    status = part["status"]
    ended = (part["end_time"].notna() & part["is_terminal"].astype(bool)).to_numpy()
    finished = pd.DataFrame(
        {
            "success": status.eq(JobStatus.SUCCESS).fillna(False).astype("int64"),
            "fail": status.eq(JobStatus.FAIL).fillna(False).astype("int64"),
        }
    )[ended]
    finished.index = pd.DatetimeIndex(part["end_time"][ended])
    began = part["begin_time"].dropna()
    started = pd.Series(1, index=pd.DatetimeIndex(began), dtype="int64")
    begun = _resample(started, offset, origins[0]).rename("started").to_frame()
    counts = _resample(finished, offset, origins[1])
    rows = pd.concat([begun.melt(ignore_index=False), counts.melt(ignore_index=False)]).rename_axis(
        "period"
    )
    return _rates_combine(rows.reset_index().astype({"value": "int64"}))


def _rates_combine(parts: pd.DataFrame) -> pd.DataFrame:
    summed = parts.groupby(["variable", "period"], sort=False)["value"].sum()
    return summed.reset_index()


def _rates_result(
    counts: pd.DataFrame, offset: BaseOffset, origins: tuple[Any, Any]
) -> pd.DataFrame:
    """The rates frame from the combined counts, as `summary.rates_over_time` makes it."""
    periods = pd.DatetimeIndex(pd.to_datetime(counts["period"], utc=True)).as_unit("us")
    counts = counts.drop(columns="period").set_axis(periods).rename_axis("period")
    started = counts[counts["variable"].eq("started")]
    began = started.groupby(level="period")["value"].sum().astype("int64")
    ended = counts[counts["variable"].isin(["success", "fail"])]
    finished = ended.pivot_table(
        index="period", columns="variable", values="value", aggfunc="sum", fill_value=0
    ).reindex(columns=["success", "fail"], fill_value=0)
    finished.columns.name = None
    finished.index = pd.DatetimeIndex(finished.index, tz="UTC").as_unit("us")
    began.index = pd.DatetimeIndex(began.index, tz="UTC").as_unit("us")
    # Resampled again, each on its own range as pandas does: that fills the gaps with zeros.
    begun = _resample(began, offset, origins[0]).rename("started")
    out = pd.concat([begun, _resample(finished.astype("int64"), offset, origins[1])], axis=1)
    out = out.fillna(0).astype("int64")
    out["finished"] = out["success"] + out["fail"]
    done = out["finished"].where(out["finished"] > 0)
    out["success_rate"] = out["success"] / done
    out["failure_rate"] = out["fail"] / done
    out.index = pd.DatetimeIndex(out.index, tz="UTC", name="period_start").as_unit("us")
    rates: pd.DataFrame = out.loc[:, list(summary.RATE_COLUMNS)]
    return rates


def grouped_rates(
    frame: dd.DataFrame, offset: BaseOffset, by: str, groupby: str
) -> pd.DataFrame | None:
    """`summary.rates_over_time` in UTC by a column of a Dask frame, counted per partition.

    Periods of a fixed length that divide a day only (None otherwise: the caller computes the
    columns into pandas). Each partition counts its jobs per (period begun, period counted
    in, value), as DuckDB does over an archive, and `rates_of_pairs` finishes both alike.
    """
    if not isinstance(offset, Tick | Day) or (
        pd.Timedelta(days=1) % pd.Timedelta(offset.nanos, unit="ns") != pd.Timedelta(0)
    ):
        return None
    parts = frame[list(dict.fromkeys(["status", "is_terminal", "begin_time", "end_time", groupby]))]
    options: dict[str, Any] = {"period": offset.nanos, "by": by, "groupby": groupby}
    pairs = parts.reduction(
        _pairs_chunk,
        aggregate=_pairs_combine,
        combine=_pairs_combine,
        meta=_pairs_chunk(parts._meta, **options),
        chunk_kwargs=options,
    ).compute()
    return rates_of_pairs(pairs, offset, groupby)


def _pairs_chunk(part: pd.DataFrame, period: int, by: str, groupby: str) -> pd.DataFrame:
    """The partition's jobs per (period begun, period counted in, value of `groupby`)."""
    clock = "begin_time" if by == "begin" else "end_time"
    ended = (
        part["end_time"].notna() & part["is_terminal"].astype(bool) & part[clock].notna()
    ).to_numpy(dtype=bool)
    status = part["status"]
    begun = _nanoseconds(part["begin_time"])
    counted = _nanoseconds(part[clock])
    slots = pd.DataFrame(
        {
            # Period numbers since the epoch (floored); NaN where there is none.
            "begun": np.where(begun == _NAT, np.nan, begun // period),
            "counted": np.where(ended, counted // period, np.nan),
            "key": part[groupby].astype("str").fillna("(none)").to_numpy(dtype=object),
            "n": 1,
            "success": status.eq(JobStatus.SUCCESS).fillna(False).to_numpy(dtype=np.int64),
            "fail": status.eq(JobStatus.FAIL).fillna(False).to_numpy(dtype=np.int64),
        }
    )
    return _pairs_combine(slots)


def _pairs_combine(parts: pd.DataFrame) -> pd.DataFrame:
    grouped = parts.groupby(["begun", "counted", "key"], dropna=False, sort=False)
    summed = grouped[["n", "success", "fail"]].sum().reset_index()
    return summed.astype({"n": "int64", "success": "int64", "fail": "int64", "key": object})


def rates_of_pairs(pairs: pd.DataFrame, offset: BaseOffset, groupby: str | None) -> pd.DataFrame:
    """The rates frame of jobs counted per (period begun, period counted in[, key]).

    `pairs` has the period numbers since the epoch `begun` and `counted` (NaN for none), the
    jobs `n` and the `success` and `fail` among those counted, and `key` with `groupby`.
    Finished as `summary.rates_over_time` finishes pandas' counts: each key's rates on the
    whole frame's periods.
    """
    period = offset.nanos // 1_000
    if groupby is None:
        return _rates_of(pairs, offset, period)
    whole = _rates_of(pairs, offset, period)
    per = (
        (value, _rates_of(part, offset, period)) for value, part in pairs.groupby("key", sort=True)
    )
    return summary.stacked_rates(per, whole, to_zone(None), groupby)


def _rates_of(pairs: pd.DataFrame, offset: BaseOffset, period: int) -> pd.DataFrame:
    begun = pairs.dropna(subset=["begun"]).groupby("begun")["n"].sum()
    counted = pairs.dropna(subset=["counted"]).groupby("counted")[["success", "fail"]].sum()
    rows = [_variable("started", begun, period)]
    rows += [_variable(name, counted[name], period) for name in ("success", "fail")]
    return _rates_result(pd.concat(rows, ignore_index=True), offset, ("epoch", "epoch"))


def _variable(name: str, counts: pd.Series, period: int) -> pd.DataFrame:
    slots = counts.index.to_numpy(dtype=np.int64)
    starts = pd.to_datetime(slots * period, unit="us", utc=True)
    return pd.DataFrame(
        {"variable": name, "period": starts, "value": counts.to_numpy(dtype=np.int64)}
    )


# --- time_quality ---------------------------------------------------------------------------


def time_quality(
    frame: dd.DataFrame,
    *,
    now: datetime | str | None = None,
    tolerance: str | pd.Timedelta = "0s",
) -> dd.DataFrame:
    """`quality.time_quality` partition by partition, as a lazy Dask frame of the flags.

    `now` is fixed once, when this is called, so every partition checks against the same time.
    """
    present = pd.Timestamp.now(tz="UTC") if now is None else to_utc(now, "now")
    meta = quality.time_quality(frame._meta, now=present, tolerance=tolerance)
    flags: dd.DataFrame = frame.map_partitions(
        quality.time_quality, now=present, tolerance=tolerance, meta=meta
    )
    return flags


# --- failure_groups ------------------------------------------------------------------------


def failure_groups(frame: dd.DataFrame, *, examples: int = 3) -> pd.DataFrame:
    """`failures.failure_groups` of a Dask frame, exactly: templates made per partition."""
    columns = [
        c
        for c in ("status", "fail_reason", "entity_error", "error_code", "entity_error_code")
        if c in frame.columns
    ]
    parts = frame[[*columns, "end_time", "begin_time", "job_type", "job_id"]]
    meta = _failure_chunk(parts._meta, examples)
    combined = parts.reduction(
        _failure_chunk,
        aggregate=_failure_combine,
        combine=_failure_combine,
        meta=meta,
        chunk_kwargs={"examples": examples},
        aggregate_kwargs={"examples": examples},
        combine_kwargs={"examples": examples},
    )
    groups = combined.compute()
    if not len(groups):
        return failures._empty_groups()
    groups["share"] = groups["count"] / groups["count"].sum()
    groups["job_types"] = [", ".join(sorted(t)) if t else np.nan for t in groups["job_types"]]
    groups["example_job_ids"] = [
        ", ".join(job_id for _, job_id in e) if e else np.nan for e in groups["examples"]
    ]
    groups = groups.sort_values(
        ["count", "error_code", "template"], ascending=[False, True, True], na_position="last"
    )
    return failures._typed_groups(groups.reset_index(drop=True))


_GROUP_COLUMNS = (
    *("group", "error_code", "template", "count"),
    *("first_begun", "last_begun", "first_ended", "last_ended"),
    *("job_types", "examples"),
)


def _failure_chunk(part: pd.DataFrame, examples: int) -> pd.DataFrame:
    """One row per failure group of the partition; job types as sets, examples as lists."""
    fails = failures._failures(part)
    if fails.empty:
        return _empty_partial()
    groups = failures._group_counts(fails)
    types = fails[["group", "job_type"]].dropna().groupby("group")["job_type"].agg(frozenset)
    groups["job_types"] = types.reindex(groups.index)
    groups["examples"] = _latest(fails, examples).reindex(groups.index)
    return _typed_partial(groups.reset_index())


def _latest(fails: pd.DataFrame, examples: int) -> pd.Series:
    """Per group, the latest `examples` `(seen, job_id)` pairs, as `failure_groups` picks them."""
    latest = failures._latest(fails, examples)
    pairs = pd.Series(list(zip(latest["seen"], latest["job_id"], strict=True)), index=latest.index)
    return pairs.groupby(latest["group"].astype("str"), sort=False).agg(list)


def _failure_combine(parts: pd.DataFrame, examples: int) -> pd.DataFrame:
    if not len(parts):
        return _empty_partial()
    by_group = parts.groupby("group", sort=False)
    groups = by_group.agg(
        error_code=("error_code", "first"),
        template=("template", "first"),
        count=("count", "sum"),
        first_begun=("first_begun", "min"),
        last_begun=("last_begun", "max"),
        first_ended=("first_ended", "min"),
        last_ended=("last_ended", "max"),
    )
    groups["job_types"] = by_group["job_types"].agg(_union)
    merged = {group: _merge_latest(lists, examples) for group, lists in by_group["examples"]}
    groups["examples"] = pd.Series(merged, dtype=object).reindex(groups.index)
    return _typed_partial(groups.reset_index())


def _union(sets: pd.Series) -> frozenset[str]:
    found: frozenset[str] = frozenset()
    for each in sets:
        if isinstance(each, frozenset):
            found |= each
    return found


def _merge_latest(lists: pd.Series, examples: int) -> list[tuple[Any, str]]:
    pairs = [pair for each in lists if isinstance(each, list) for pair in each]
    if not pairs:
        return []
    candidates = pd.DataFrame(pairs, columns=["seen", "job_id"])
    candidates["seen"] = pd.to_datetime(candidates["seen"], utc=True)
    latest = candidates.sort_values(["seen", "job_id"], ascending=False, na_position="last")
    return list(latest.head(examples).itertuples(index=False, name=None))


def _typed_partial(groups: pd.DataFrame) -> pd.DataFrame:
    out = groups.loc[:, list(_GROUP_COLUMNS)]
    return out.astype(
        {
            "group": "str",
            "error_code": "str",
            "template": "str",
            "count": "int64",
            **dict.fromkeys(_GROUP_COLUMNS[4:8], failures._TIME_DTYPE),
            "job_types": object,
            "examples": object,
        }
    )


def _empty_partial() -> pd.DataFrame:
    return _typed_partial(pd.DataFrame({c: [] for c in _GROUP_COLUMNS}))
