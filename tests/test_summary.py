from __future__ import annotations

import pandas as pd
import pytest

from jobtools import jobs_to_frame
from jobtools.analysis.summary import (
    RATE_COLUMNS,
    SUMMARY_COLUMNS,
    jobs_between,
    rates_over_time,
    summary_by_type,
)


def job(job_id: str, job_type: str, status: str, begin: str, seconds: float | None) -> dict:
    """A job that began at `begin` and, when `seconds` is given, ended that much later."""
    end = "" if seconds is None else pd.Timestamp(begin) + pd.Timedelta(seconds=seconds)
    return {
        "job_id": job_id,
        "job_type": job_type,
        "status": status,
        "begin_time": begin,
        "end_time": end if isinstance(end, str) else end.isoformat(),
    }


def frame() -> pd.DataFrame:
    records = [
        job(f"s{i}", "export", "SUCCESS", "2024-11-01T10:00:00Z", 10.0 * (i + 1)) for i in range(10)
    ]
    records += [
        job("f1", "export", "FAIL", "2024-11-02T10:00:00Z", 1.0),
        job("f2", "import", "FAIL", "2024-11-02T11:00:00Z", 5.0),
        job("r1", "import", "RUNNING", "2024-11-03T10:00:00Z", None),
        job("i1", "import", "INIT", "2024-11-03T10:00:00Z", None),
    ]
    return jobs_to_frame(records)


def test_summary_by_type_counts_rates_and_percentiles() -> None:
    """Counts, success rate and percentiles of successful durations, biggest type first."""
    summary = summary_by_type(frame())
    assert tuple(summary.columns) == SUMMARY_COLUMNS
    assert summary["job_type"].tolist() == ["export", "import"]
    export = summary.iloc[0]
    assert (export["count"], export["success"], export["fail"], export["running"]) == (11, 10, 1, 0)
    assert export["success_rate"] == pytest.approx(10 / 11)
    # successes took 10, 20, ... 100 s; the 1 s failure is left out
    assert export["p50_s"] == pytest.approx(55.0)
    assert export["p90_s"] == pytest.approx(91.0)
    assert export["p99_s"] == pytest.approx(99.1)
    imp = summary.iloc[1]
    assert (imp["count"], imp["success"], imp["fail"], imp["running"]) == (3, 0, 1, 2)
    assert imp["success_rate"] == 0.0
    assert pd.isna(imp["p50_s"])


def test_summary_keeps_rows_without_a_type() -> None:
    """A row with no job type (e.g. not fetched) has its own row, so counts add up."""
    records = [
        job("a", "export", "SUCCESS", "2024-11-01T10:00:00Z", 1.0),
        {"job_id": "missing"},
    ]
    summary = summary_by_type(jobs_to_frame(records))
    assert summary["count"].sum() == 2
    lost = summary[summary["job_type"].isna()].iloc[0]
    assert (lost["count"], lost["running"], lost["success"]) == (1, 0, 0)
    assert pd.isna(lost["success_rate"])


def test_summary_of_nothing_is_empty_with_columns() -> None:
    """An empty frame gives an empty summary with the documented columns."""
    summary = summary_by_type(jobs_to_frame([]))
    assert summary.empty and tuple(summary.columns) == SUMMARY_COLUMNS


@pytest.mark.parametrize(
    ("period", "starts"),
    [
        ("1D", ["2024-11-01", "2024-11-02", "2024-11-03"]),
        ("12h", ["2024-11-01 00:00", "2024-11-01 12:00", "2024-11-02 00:00", "2024-11-02 12:00",
                 "2024-11-03 00:00"]),
        ("W", ["2024-10-27", "2024-11-03"]),  # "W" weeks begin on Sunday; 11-03 is one
    ],
)  # fmt: skip
def test_rates_over_time_bins_by_period_start(period: str, starts: list[str]) -> None:
    """Each bin is labelled by its start, in UTC, and empty bins are kept as zeros."""
    rates = rates_over_time(frame(), period)
    assert tuple(rates.columns) == RATE_COLUMNS
    assert rates.index.tolist() == [pd.Timestamp(s, tz="UTC") for s in starts]
    assert rates["started"].sum() == 14
    assert rates["finished"].sum() == 12


def test_rates_over_time_shares() -> None:
    """Success and failure rates are shares of the jobs finished in the period; NaN if none."""
    rates = rates_over_time(frame(), "1D")
    assert rates["success"].tolist() == [10, 0, 0]
    assert rates["fail"].tolist() == [0, 2, 0]
    assert rates["failure_rate"].iloc[1] == 1.0
    assert rates["success_rate"].iloc[0] == 1.0
    assert pd.isna(rates["failure_rate"].iloc[2])
    assert rates["started"].tolist() == [10, 2, 2]


def test_rates_reject_a_bad_period_and_handle_nothing() -> None:
    """A bad period is a ValueError naming it; an empty frame gives an empty result."""
    with pytest.raises(ValueError, match="not a period: 'fortnightly'"):
        rates_over_time(frame(), "fortnightly")
    empty = rates_over_time(jobs_to_frame([]), "1D")
    assert empty.empty and tuple(empty.columns) == RATE_COLUMNS


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        (None, None, 14),
        ("2024-11-02", None, 4),
        (None, "2024-11-02", 10),
        ("2024-11-02T10:30:00Z", "2024-11-03", 1),
        ("2024-11-02 19:00:00+08:00", "2024-11-03", 1),  # = 11:00 UTC: f2 only
    ],
)
def test_jobs_between_filters_on_begin_time(
    since: str | None, until: str | None, expected: int
) -> None:
    """Bounds are half-open [since, until), in any zone; naive means UTC."""
    assert len(jobs_between(frame(), since, until)) == expected


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("yesterday-ish", None, "since: not a time"),
        (None, "nope", "until: not a time"),
        ("2024-11-03", "2024-11-01", "must be before"),
    ],
)
def test_jobs_between_rejects_bad_bounds(
    since: str | None, until: str | None, message: str
) -> None:
    """A bound that is not a time, or an empty window, is a ValueError saying which."""
    with pytest.raises(ValueError, match=message):
        jobs_between(frame(), since, until)


def late_evening_jobs() -> pd.DataFrame:
    """Two jobs ending at 23:30 and 00:30 Beijing time (15:30 and 16:30 UTC, one UTC day)."""
    return jobs_to_frame(
        [
            job("a", "export", "SUCCESS", "2024-11-05T15:00:00Z", 1800.0),
            job("b", "export", "FAIL", "2024-11-05T16:00:00Z", 1800.0),
        ]
    )


@pytest.mark.parametrize(
    ("tz", "starts", "finished"),
    [
        (None, ["2024-11-05T00:00:00+00:00"], [2]),
        ("UTC", ["2024-11-05T00:00:00+00:00"], [2]),
        ("Asia/Shanghai", ["2024-11-05T00:00:00+08:00", "2024-11-06T00:00:00+08:00"], [1, 1]),
        ("America/New_York", ["2024-11-05T00:00:00-05:00"], [2]),
    ],
)
def test_rates_over_time_days_start_at_local_midnight(
    tz: str | None, starts: list[str], finished: list[int]
) -> None:
    """With tz=, daily periods start at that zone's midnight and the index is in that zone."""
    rates = rates_over_time(late_evening_jobs(), "1D", tz=tz)
    assert [t.isoformat() for t in rates.index] == starts
    assert rates["finished"].tolist() == finished
    assert str(rates.index.tz) == (tz or "UTC")


def test_a_day_across_a_daylight_saving_change_is_one_period() -> None:
    """The day clocks go back (25 hours in New York) is one daily period, not two."""
    records = [
        job("a", "export", "SUCCESS", "2024-11-03T04:30:00Z", 60.0),  # 00:30 EDT
        job("b", "export", "SUCCESS", "2024-11-04T04:00:00Z", 60.0),  # 23:00 EST
    ]
    rates = rates_over_time(jobs_to_frame(records), "1D", tz="America/New_York")
    assert rates["finished"].tolist() == [2]


def test_jobs_between_reads_naive_bounds_in_the_zone() -> None:
    """A naive bound is local time in tz=: 2024-11-06 in Beijing is 16:00 UTC the day before."""
    kept = jobs_between(late_evening_jobs(), since="2024-11-06", tz="Asia/Shanghai")
    assert kept["job_id"].tolist() == ["b"]
    with pytest.raises(ValueError, match="not a time zone"):
        jobs_between(late_evening_jobs(), since="2024-11-06", tz="Nowhere/Land")


def test_rates_in_a_zone_are_the_same_from_a_dask_frame() -> None:
    """A Dask frame's local-midnight periods are pandas' (its four columns cut in pandas)."""
    dd = pytest.importorskip("dask.dataframe")
    frame = late_evening_jobs()
    lazy = dd.from_pandas(frame, npartitions=2)
    expected = rates_over_time(frame, "1D", tz="Asia/Shanghai")
    pd.testing.assert_frame_equal(rates_over_time(lazy, "1D", tz="Asia/Shanghai"), expected)


def long_jobs() -> pd.DataFrame:
    """Two failures that began on 11-01 and ended on 11-03, and a success within 11-02."""
    return jobs_to_frame(
        [
            job("a", "export", "FAIL", "2024-11-01T23:00:00Z", 2 * 86400.0),
            job("b", "import", "FAIL", "2024-11-01T23:30:00Z", 2 * 86400.0),
            job("c", "import", "SUCCESS", "2024-11-02T10:00:00Z", 60.0),
        ]
    )


def test_rates_count_a_job_when_it_began_unless_by_end() -> None:
    """by="begin" (the default) counts a finished job when it began; "end", when it ended."""
    begin = rates_over_time(long_jobs(), "1D")
    assert begin["fail"].tolist() == [2, 0] and begin["success"].tolist() == [0, 1]
    end = rates_over_time(long_jobs(), "1D", by="end")
    assert end.index[-1] == pd.Timestamp("2024-11-03", tz="UTC")
    assert end["fail"].tolist() == [0, 0, 2]
    with pytest.raises(ValueError, match="by must be"):
        rates_over_time(long_jobs(), "1D", by="middle")


def test_rates_by_group_share_the_periods_and_add_up() -> None:
    """groupby gives (period, value) rows on the whole frame's periods; reasons add up."""
    by_type = rates_over_time(frame(), "1D", groupby="job_type")
    assert by_type.index.names == ["period_start", "job_type"]
    assert tuple(by_type.columns) == RATE_COLUMNS
    assert len(by_type) == 3 * 2  # three days, two types, zeros kept
    summed = by_type["fail"].groupby(level="period_start").sum()
    assert summed.tolist() == rates_over_time(frame(), "1D")["fail"].tolist()
    by_code = rates_over_time(frame(), "1D", groupby="error_code")
    assert tuple(by_code.columns) == ("finished", "fail", "failure_rate")
    with pytest.raises(KeyError, match="no column 'region'"):
        rates_over_time(frame(), "1D", groupby="region")


def test_jobs_between_says_which_clock_it_cuts_on() -> None:
    """clock="begin" (the default) keeps the jobs that began in the window; "end", that ended."""
    began = jobs_between(long_jobs(), "2024-11-02", "2024-11-03")
    ended = jobs_between(long_jobs(), "2024-11-02", "2024-11-03", clock="end")
    assert began["job_id"].tolist() == ["c"] and ended["job_id"].tolist() == ["c"]
    assert jobs_between(long_jobs(), "2024-11-03", clock="end")["job_id"].tolist() == ["a", "b"]
    with pytest.raises(ValueError, match="clock must be"):
        jobs_between(long_jobs(), clock="now")
