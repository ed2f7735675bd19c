"""Tests for jobtools.times: both time formats, mixed columns, failures kept visible."""

from __future__ import annotations

import datetime as dt
import locale
import math

import pandas as pd
import pytest

from jobtools import parse_job_time, parse_job_times
from jobtools.ids import job_id_times
from jobtools.times import decide_legacy_zone, legacy_offset, read_job_times

UTC = "UTC"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The legacy format is read on its real clock, UTC+08:00 (the seed's id proves it).
        ("04-Jun-2015 18:11:06:586", "2015-06-04T10:11:06.586"),
        ("4-Jun-2015 18:11:06:586", "2015-06-04T10:11:06.586"),
        ("04-JUN-2015 18:11:06:586", "2015-06-04T10:11:06.586"),
        ("31-Dec-2015 23:59:59:999", "2015-12-31T15:59:59.999"),
        ("01-Jan-2016 07:00:00:000", "2015-12-31T23:00:00"),
        ("29-Feb-2016 08:00:00:000", "2016-02-29T00:00:00"),
        ("04-Jun-2015 18:11:06:5", "2015-06-04T10:11:06.005"),
        ("  04-Jun-2015 18:11:06:586 ", "2015-06-04T10:11:06.586"),
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
        ["04-Jun-2015 18:11:06:586", "2015-06-04T12:11:06.586+02:00", "", "nope"],
        index=[10, 11, 12, 13],
        name="begin_time",
    )
    parsed = parse_job_times(values)
    assert str(parsed.dtype) == "datetime64[us, UTC]"
    assert parsed.name == "begin_time"
    assert parsed.index.tolist() == [10, 11, 12, 13]
    assert parsed[10] == parsed[11] == pd.Timestamp("2015-06-04 10:11:06.586", tz=UTC)
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
                "2015-05-04 10:11:06.586", tz=UTC
            )
        finally:
            locale.setlocale(locale.LC_TIME, before)


SEED_ID, SEED_BEGIN = "ff8080814dbd65d7014dbe0d84db0013", "04-Jun-2015 18:11:06:586"


def test_seed_example_is_utc_plus_eight():
    """The seed's `04-Jun-2015 18:11:06:586` is 10:11:06.586Z, a millisecond before its id."""
    begin = parse_job_time(SEED_BEGIN)
    assert begin == pd.Timestamp("2015-06-04T10:11:06.586Z")
    assert (job_id_times([SEED_ID])[0] - begin) == pd.Timedelta(milliseconds=1)


@pytest.mark.parametrize(
    ("legacy_tz", "expected"),
    [
        ("UTC", "2015-06-04T18:11:06.586"),
        ("Z", "2015-06-04T18:11:06.586"),
        ("+08:00", "2015-06-04T10:11:06.586"),
        ("+0800", "2015-06-04T10:11:06.586"),
        ("UTC+8", "2015-06-04T10:11:06.586"),
        ("-05:30", "2015-06-04T23:41:06.586"),
        (dt.timedelta(hours=1), "2015-06-04T17:11:06.586"),
        (dt.timezone(dt.timedelta(hours=9)), "2015-06-04T09:11:06.586"),
        (2, "2015-06-04T16:11:06.586"),
    ],
)
def test_legacy_tz_override(legacy_tz, expected):
    """`legacy_tz=` reads legacy values in any fixed zone; ISO values keep their own zone."""
    parsed = parse_job_times([SEED_BEGIN, "2015-06-04T10:11:06.586Z"], legacy_tz=legacy_tz)
    assert parsed[0] == pd.Timestamp(expected, tz=UTC)
    assert parsed[1] == pd.Timestamp("2015-06-04T10:11:06.586", tz=UTC)


@pytest.mark.parametrize("bad", ["Asia/Shanghai", "+25:00", "soon", True, None])
def test_bad_legacy_tz_is_a_clear_error(bad):
    """A zone that is not a fixed offset is one ValueError naming it."""
    with pytest.raises(ValueError, match="legacy_tz"):
        legacy_offset(bad)


def _legacy_case(begins: list[str], ids: list[str], legacy_tz=None):
    parsed = read_job_times(begins)
    created = job_id_times(ids).dt.tz_localize(None).to_numpy("datetime64[us]")
    return decide_legacy_zone(parsed, created, legacy_tz)


# (begin_time, job_id) pairs: the seed, and the same job written on other clocks.
_SEED_UTC = ("04-Jun-2015 10:11:06:586", SEED_ID)
_SEED_CST = (SEED_BEGIN, SEED_ID)
_SEED_JST = ("04-Jun-2015 19:11:06:586", SEED_ID)
_NO_TIME = ("04-Jun-2015 10:11:06:586", "4010a32c-1d2c-4a2b-9b8e-6e3c5b0a1f00")


@pytest.mark.parametrize(
    ("pairs", "decided_by", "offset", "compared", "agreeing"),
    [
        ([_SEED_CST] * 3, "ids", "+08:00", 3, 3),
        ([_SEED_UTC] * 3, "ids", "+00:00", 3, 3),
        ([_SEED_JST] * 9 + [_SEED_CST], "ids", "+09:00", 10, 9),
        ([_SEED_JST] * 5 + [_SEED_UTC] * 5, "default", "+08:00", 10, 0),
        ([_NO_TIME] * 4, "default", "+08:00", 0, 0),
        ([], "default", "+08:00", 0, 0),
    ],
)
def test_legacy_zone_decided_by_ids(pairs, decided_by, offset, compared, agreeing):
    """The ids decide the legacy zone when 90 % agree on a whole hour; otherwise +08:00."""
    zone = _legacy_case([p[0] for p in pairs], [p[1] for p in pairs])
    assert (zone.decided_by, zone.label, zone.compared, zone.agreeing) == (
        decided_by,
        offset,
        compared,
        agreeing,
    )
    assert zone.as_attrs()["offset"] == offset


def test_legacy_zone_override_keeps_the_evidence():
    """`legacy_tz=` wins, and the record still says what the ids showed."""
    zone = _legacy_case([SEED_BEGIN] * 2, [SEED_ID] * 2, legacy_tz="UTC")
    assert zone.as_attrs() == {
        "offset": "+00:00",
        "decided_by": "override",
        "compared": 2,
        "agreeing": 0,
        "seen": {"+08:00": 2},
    }


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"])
@pytest.mark.parametrize(
    "neighbour", ["2024-01-01T00:00:00.123456789Z", "2024-13-01T00:00:00Z", "oops"]
)
def test_a_time_parses_the_same_whatever_its_neighbours(value, neighbour):
    """Years 0001 and 9999 parse beside nanoseconds, an impossible date or garbage."""
    alone = parse_job_times([value])[0]
    assert not pd.isna(alone)
    assert parse_job_times([value, neighbour])[0] == alone
