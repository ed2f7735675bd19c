"""Tests for jobtools.times: both time formats, mixed columns, failures kept visible."""

from __future__ import annotations

import locale
import math

import pandas as pd
import pytest

from jobtools import parse_job_time, parse_job_times

UTC = "UTC"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("04-Jun-2015 18:11:06:586", "2015-06-04T18:11:06.586"),
        ("4-Jun-2015 18:11:06:586", "2015-06-04T18:11:06.586"),
        ("04-JUN-2015 18:11:06:586", "2015-06-04T18:11:06.586"),
        ("31-Dec-2015 23:59:59:999", "2015-12-31T23:59:59.999"),
        ("29-Feb-2016 00:00:00:000", "2016-02-29T00:00:00"),
        ("04-Jun-2015 18:11:06:5", "2015-06-04T18:11:06.005"),
        ("  04-Jun-2015 18:11:06:586 ", "2015-06-04T18:11:06.586"),
        ("2024-11-06T06:19:43.195Z", "2024-11-06T06:19:43.195"),
        ("2016-04-25T20:04:34Z", "2016-04-25T20:04:34"),
        ("2016-04-25T20:04:34+0800", "2016-04-25T12:04:34"),
        ("2016-04-25T20:04:34+08:00", "2016-04-25T12:04:34"),
        ("2016-04-25T20:04:34.5-01:30", "2016-04-25T21:34:34.5"),
        ("2016-04-25T20:04:34", "2016-04-25T20:04:34"),
        ("2016-04-25 20:04:34.123456", "2016-04-25T20:04:34.123456"),
    ],
)
def test_good_times_parse_to_utc(text, expected):
    """Every documented format becomes the same instant in UTC."""
    assert parse_job_time(text) == pd.Timestamp(expected, tz=UTC)
    assert parse_job_time(text, strict=True) == pd.Timestamp(expected, tz=UTC)


@pytest.mark.parametrize("empty", ["", "   ", None, math.nan, pd.NaT])
def test_empty_values_are_nat_not_errors(empty):
    """Not started or not ended ("" or null) is NaT, even in strict mode."""
    assert parse_job_time(empty, strict=True) is pd.NaT
    assert parse_job_times([empty]).attrs["unparsed"] == {}


@pytest.mark.parametrize(
    "bad",
    [
        "32-Jun-2015 10:00:00:000",
        "04-Foo-2015 10:00:00:000",
        "30-Feb-2015 10:00:00:000",
        "04-Jun-2015 25:00:00:000",
        "04-Jun-2015 18:11:06.586",
        "04-Juni-2015 18:11:06:586",
        "2015-13-01T00:00:00Z",
        "2015",
        "2015-06-04",
        "garbage",
        1433441466,
        14.5,
        {"time": "2015-06-04T00:00:00Z"},
        ["2015-06-04T00:00:00Z"],
    ],
)
def test_bad_values_are_nat_and_kept(bad):
    """A malformed value is NaT in the vectorised path, with the raw value kept."""
    parsed = parse_job_times(pd.Series(["2015-06-04T00:00:00Z", bad], dtype=object))
    assert parsed.iloc[0] == pd.Timestamp("2015-06-04", tz=UTC)
    assert parsed.isna().tolist() == [False, True]
    assert parsed.attrs["unparsed"] == {1: bad}
    assert parse_job_time(bad) is pd.NaT


@pytest.mark.parametrize("bad", ["32-Jun-2015 10:00:00:000", "garbage", 7, {"a": 1}])
def test_strict_mode_names_the_value(bad):
    """Strict scalar parsing raises a ValueError that quotes the offending value."""
    with pytest.raises(ValueError, match="not a job time") as info:
        parse_job_time(bad, strict=True)
    assert repr(bad) in str(info.value)


def test_mixed_column_keeps_index_name_and_dtype():
    """Legacy, ISO, empty and bad values in one column; the index and name survive."""
    values = pd.Series(
        ["04-Jun-2015 18:11:06:586", "2015-06-04T20:11:06.586+02:00", "", "nope"],
        index=[10, 11, 12, 13],
        name="begin_time",
    )
    parsed = parse_job_times(values)
    assert str(parsed.dtype) == "datetime64[us, UTC]"
    assert parsed.name == "begin_time"
    assert parsed.index.tolist() == [10, 11, 12, 13]
    assert parsed[10] == parsed[11] == pd.Timestamp("2015-06-04 18:11:06.586", tz=UTC)
    assert parsed.attrs["unparsed"] == {13: "nope"}


@pytest.mark.parametrize("container", [list, tuple, pd.Series, pd.Index])
def test_accepts_sequences(container):
    """Lists, tuples, Series and Index all work, and an empty input gives an empty column."""
    assert str(parse_job_times(container([])).dtype) == "datetime64[us, UTC]"
    parsed = parse_job_times(container(["2016-04-25T20:04:34Z"]))
    assert parsed.tolist() == [pd.Timestamp("2016-04-25T20:04:34", tz=UTC)]


def test_month_names_do_not_follow_the_locale():
    """English month names parse under a non-English LC_TIME, when the machine has one."""
    before = locale.setlocale(locale.LC_TIME)
    for name in ("de_DE.UTF-8", "fr_FR.UTF-8", "zh_CN.UTF-8", "C.UTF-8"):
        try:
            locale.setlocale(locale.LC_TIME, name)
        except locale.Error:
            continue
        try:
            assert parse_job_time("04-May-2015 18:11:06:586") == pd.Timestamp(
                "2015-05-04 18:11:06.586", tz=UTC
            )
        finally:
            locale.setlocale(locale.LC_TIME, before)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"])
@pytest.mark.parametrize(
    "neighbour", ["2024-01-01T00:00:00.123456789Z", "2024-13-01T00:00:00Z", "oops"]
)
def test_a_time_parses_the_same_whatever_its_neighbours(value, neighbour):
    """Years 0001 and 9999 parse beside nanoseconds, an impossible date or garbage."""
    alone = parse_job_times([value])[0]
    assert not pd.isna(alone)
    assert parse_job_times([value, neighbour])[0] == alone
