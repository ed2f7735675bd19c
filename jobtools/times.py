"""Job times: the legacy `04-Jun-2015 18:11:06:586` and ISO 8601 strings, as UTC timestamps.

The service has written its times two ways over the years, sometimes within one data set:

* legacy IMS, Java's `dd-MMM-yyyy HH:mm:ss:SSS` (a colon before the milliseconds, English
  month abbreviations whatever the machine's locale; pandas cannot infer it);
* ISO 8601 with `Z`, a numeric offset (`+0800`, `+08:00`) or none (documented as UTC),
  with or without a fraction of a second.

`parse_job_times` converts a whole column with a few vectorised Arrow calls: a regex match
splits it into the legacy group and the ISO group, the legacy group is rewritten as ISO (month
names by a fixed English table, never `%b`, which follows the locale), and each group is cast
to timestamps at once; pandas' `to_datetime(errors="coerce")` takes over for a group that holds
an impossible date, so that only that value becomes NaT.

The legacy format carries no zone. The document calls it UTC, but its clock is UTC+08:00: the
seed's own example, `04-Jun-2015 18:11:06:586`, is eight hours ahead of the creation time in
its job id, to the millisecond (reference, "The legacy time format is UTC+08:00"). So legacy
times are read as +08:00 by default; `legacy_tz=` says otherwise, and a frame decides per data
set from its ids (`decide_legacy_zone`), recording the decision in `frame.attrs["legacy_tz"]`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.tseries.offsets import BaseOffset

__all__ = [
    "DEFAULT_LEGACY_TZ",
    "LegacyTz",
    "LegacyZone",
    "ParsedTimes",
    "TIME_DTYPE",
    "decide_legacy_zone",
    "epoch_seconds",
    "format_job_time",
    "format_offset",
    "iso_text",
    "legacy_offset",
    "parse_job_time",
    "parse_job_times",
    "read_job_times",
    "to_offset",
    "to_utc",
    "to_zone",
    "whole_hour_offsets",
    "zone_name",
]

TIME_DTYPE = "datetime64[us, UTC]"
# The zone of the legacy format unless the ids or the caller say otherwise.
DEFAULT_LEGACY_TZ = "+08:00"
LegacyTz = str | dt.timedelta | dt.tzinfo | int | float

# dd-Mon-yyyy HH:mm:ss:SSS. Java's SSS is a count of milliseconds, so "7" means 007.
_LEGACY_ANCHORED = r"^\d{1,2}-[A-Za-z]{3}-\d{4} \d\d:\d\d:\d\d:\d{1,3}$"
_LEGACY_STRICT = r"^\d\d-[a-z]{3}-\d{4} \d\d:\d\d:\d\d:\d{3}$"
# What the slow path accepts: a date and a time are both required, then an optional zone.
_ISO_ANCHORED = r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:Z|[+-]\d\d(?::?\d\d)?)$"
# English month names from a table, never `%b`, which follows the machine's locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NAMES = pa.array([month.lower() for month in _MONTHS])
_MONTH_NUMBERS = pa.array([f"{number:02d}" for number in range(1, 13)])


def parse_job_times(values: Iterable[Any], *, legacy_tz: LegacyTz = DEFAULT_LEGACY_TZ) -> pd.Series:
    """Parse a column of job times into a `datetime64[us, UTC]` Series, never raising.

    Empty strings, None and NaN become NaT. So does anything malformed (a day 32, an unknown
    month, `garbage`, a number, a dict), but those are not lost: the returned Series carries
    them in `result.attrs["unparsed"]`, a dict from index label to the raw value.

    Args:
        values: a Series (its index and name are kept) or any sequence of strings or odd values.
        legacy_tz: the zone of legacy-format values (`"+08:00"`, `"UTC"`, a timedelta, a
            fixed tzinfo or a number of hours); ISO values carry their own.

    >>> s = parse_job_times(["04-Jun-2015 18:11:06:586", "2024-11-06T14:19:43+08:00", "", "oops"])
    >>> s.dt.strftime("%Y-%m-%d %H:%M:%S.%f").tolist()
    ['2015-06-04 10:11:06.586000', '2024-11-06 06:19:43.000000', nan, nan]
    >>> str(s.dtype), s.attrs["unparsed"]
    ('datetime64[us, UTC]', {3: 'oops'})
    """
    return read_job_times(values).to_utc(legacy_offset(legacy_tz))


_UTC_MICROS = pd.DatetimeTZDtype("us", "UTC")


@dataclasses.dataclass(frozen=True, eq=False)
class ParsedTimes:
    """Times read but not yet placed in a zone: legacy values stay wall-clock times.

    `wall` is UTC for ISO values and the legacy values' clock reading (as if it were UTC);
    `legacy` marks the legacy rows; `unparsed` maps index labels to raw values that failed.
    """

    wall: np.ndarray
    legacy: np.ndarray
    unparsed: dict[Any, Any]
    index: pd.Index
    name: Any = None

    def to_utc(self, offset: dt.timedelta) -> pd.Series:
        """UTC times, the legacy values read as `offset` ahead of UTC."""
        out = self.wall.astype("datetime64[us]", copy=False)
        if offset and self.legacy.any():
            moved = out - np.timedelta64(offset // dt.timedelta(microseconds=1), "us")
            out = np.where(self.legacy, moved, out)  # one pass: no masked gather and scatter
        # Typed as UTC as it is made (10x faster than `.dt.tz_localize("UTC")` afterwards).
        result = pd.Series(out, index=self.index, name=self.name, dtype=_UTC_MICROS)
        result.attrs["unparsed"] = self.unparsed
        return result


def read_job_times(values: Iterable[Any]) -> ParsedTimes:
    """Read a column of job times with a few vectorised Arrow calls (see `parse_job_times`)."""
    raw = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    # Non-strings become their text, which neither format matches (a dict, a number), while
    # Timestamp and datetime objects print as ISO 8601 and so still parse.
    text = raw if raw.dtype == "str" else raw.astype("str")
    array = pc.utf8_trim_whitespace(_arrow_strings(text))
    out = np.full(len(array), np.datetime64("NaT"), dtype="datetime64[us]")

    legacy = pc.fill_null(pc.match_substring_regex(array, _LEGACY_ANCHORED), False)
    # ISO needs at least YYYY-MM-DDTHH:MM (16 characters): a bare "2015" is not a job time.
    iso = pc.and_(pc.invert(legacy), pc.greater_equal(pc.fill_null(pc.utf8_length(array), 0), 16))
    for mask, as_iso in ((legacy, _legacy_as_iso), (iso, _iso_with_zone)):
        if pc.any(mask).as_py():
            rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
            out[rows] = _to_utc(pc.filter(array, mask), as_iso)

    present = pc.fill_null(pc.not_equal(array, ""), False).to_numpy(zero_copy_only=False)
    failed = np.isnat(out) & present
    unparsed = raw[failed].to_dict() if failed.any() else {}
    legacy_rows = np.asarray(legacy.to_numpy(zero_copy_only=False), dtype=bool) & ~np.isnat(out)
    return ParsedTimes(out, legacy_rows, unparsed, raw.index, raw.name)


_OFFSET_TEXT = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d\d))?$", re.IGNORECASE)


def legacy_offset(value: LegacyTz) -> dt.timedelta:
    """How far ahead of UTC a fixed zone is: `"+08:00"`, `"+0800"`, `"UTC+8"`, `"UTC"`, a
    timedelta, a fixed tzinfo or a number of hours.

    >>> legacy_offset("+08:00"), legacy_offset("UTC")
    (datetime.timedelta(seconds=28800), datetime.timedelta(0))
    """
    if isinstance(value, dt.timedelta):
        offset = value
    elif isinstance(value, dt.tzinfo):
        found = value.utcoffset(None)
        if found is None:
            raise ValueError(f"legacy_tz must be a fixed offset, got the zone {value!r}")
        offset = found
    elif isinstance(value, int | float) and not isinstance(value, bool):
        offset = dt.timedelta(hours=value)
    elif isinstance(value, str) and value.strip().upper() in ("UTC", "Z", "GMT"):
        offset = dt.timedelta(0)
    elif isinstance(value, str) and (match := _OFFSET_TEXT.match(value.strip())):
        sign = -1 if match.group(1) == "-" else 1
        offset = sign * dt.timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))
    else:
        raise ValueError(f"legacy_tz must be an offset such as '+08:00' or 'UTC', got {value!r}")
    if abs(offset) > dt.timedelta(hours=14):
        raise ValueError(f"legacy_tz is more than 14 hours off UTC: {value!r}")
    return offset


def format_offset(offset: dt.timedelta) -> str:
    """`+08:00` for eight hours ahead of UTC, `-03:30` for three and a half behind."""
    minutes = round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# --- the legacy zone, decided by the ids ------------------------------------------------------

# A legacy time and its id's creation time differ by a few milliseconds plus the zone's whole
# hours; more than this off a whole hour is no evidence for a zone.
OFFSET_TOLERANCE = dt.timedelta(minutes=1)
# The share of comparable rows that must agree on one offset for the ids to decide.
AGREEMENT = 0.9


@dataclasses.dataclass(frozen=True)
class LegacyZone:
    """The zone a frame's legacy times were read in, and why.

    `decided_by` is `ids` (the rows' ids agree on `offset`), `override` (`legacy_tz=`) or
    `default` (+08:00: no legacy time had an id to compare with, or the ids disagreed).
    `compared` legacy begin times had an id time; `agreeing` of them matched `offset`;
    `seen` counts every whole-hour offset found.
    """

    offset: dt.timedelta
    decided_by: str
    compared: int = 0
    agreeing: int = 0
    seen: tuple[tuple[str, int], ...] = ()

    @property
    def label(self) -> str:
        return format_offset(self.offset)

    def as_attrs(self) -> dict[str, Any]:
        """A plain dict for `frame.attrs["legacy_tz"]`."""
        return {
            "offset": self.label,
            "decided_by": self.decided_by,
            "compared": self.compared,
            "agreeing": self.agreeing,
            "seen": dict(self.seen),
        }


def whole_hour_offsets(times: np.ndarray, created: np.ndarray) -> np.ndarray:
    """`times - created` in whole hours where it is within a minute of one, else NaN.

    Both are `datetime64[us]` arrays (naive UTC, or a legacy wall clock); NaT gives NaN.
    """
    diff = (times - created).astype("timedelta64[us]").astype("float64")
    diff[np.isnat(times) | np.isnat(created)] = np.nan
    hour = 3600e6
    hours = np.round(diff / hour)
    near = np.abs(diff - hours * hour) <= OFFSET_TOLERANCE / dt.timedelta(microseconds=1)
    return np.where(near & (np.abs(hours) <= 14), hours, np.nan)


def decide_legacy_zone(
    begin: ParsedTimes, created: np.ndarray, legacy_tz: LegacyTz | None = None
) -> LegacyZone:
    """The zone of a data set's legacy times: `legacy_tz` when given, else what the ids say.

    The ids decide when the legacy begin times that have an id time agree (90 % or more) on
    one whole-hour offset from it; otherwise +08:00, the default.
    """
    hours = whole_hour_offsets(begin.wall[begin.legacy], created[begin.legacy])
    compared = int(np.count_nonzero(~np.isnat(created[begin.legacy])))
    values, counts = np.unique(hours[~np.isnan(hours)], return_counts=True)
    seen = tuple(
        (format_offset(dt.timedelta(hours=float(v))), int(c))
        for v, c in sorted(zip(values, counts, strict=True), key=lambda vc: -vc[1])
    )
    if legacy_tz is not None:
        offset = legacy_offset(legacy_tz)
        agreeing = dict(seen).get(format_offset(offset), 0)
        return LegacyZone(offset, "override", compared, agreeing, seen)
    if compared and len(counts) and counts.max() >= AGREEMENT * compared:
        best = dt.timedelta(hours=float(values[counts.argmax()]))
        return LegacyZone(best, "ids", compared, int(counts.max()), seen)
    default = legacy_offset(DEFAULT_LEGACY_TZ)
    agreeing = dict(seen).get(DEFAULT_LEGACY_TZ, 0)
    return LegacyZone(default, "default", compared, agreeing, seen)


def _arrow_strings(text: pd.Series) -> pa.Array | pa.ChunkedArray:
    return pa.array(text.array)  # no copy for Arrow-backed `str` columns


def _to_utc(strings: pa.Array, as_iso: Callable[[pa.Array], pa.Array]) -> np.ndarray:
    """Strings of one format -> UTC datetime64[us]; the ones that are no valid time -> NaT."""
    iso = as_iso(strings)
    for attempt in (0, 1):
        try:
            # The fast path: Arrow casts a whole column at once, but all or nothing.
            parsed = pc.cast(iso, pa.timestamp("us", tz="UTC"))
            times: np.ndarray = parsed.to_numpy(zero_copy_only=False).astype("datetime64[us]")
            return times
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if attempt:
                break
            # Microseconds are what the frame holds: a longer fraction is cut, so that no
            # value sends the column down a nanosecond path where 0001 and 9999 do not fit.
            iso = pc.replace_substring_regex(iso, r"(\.\d{6})\d+", r"\1")
    # Some value is not a time (32-Jun, trailing garbage): pandas coerces just those to NaT.
    # A `datetime64[us]` result also keeps nanosecond fractions from overflowing the range.
    valid = pc.fill_null(pc.match_substring_regex(iso, _ISO_ANCHORED), False)
    objects = pd.Series(pc.if_else(valid, iso, None).to_numpy(zero_copy_only=False), dtype=object)
    parsed = pd.to_datetime(objects, format="ISO8601", errors="coerce", utc=True)
    return parsed.dt.tz_localize(None).to_numpy("datetime64[us]")


def _legacy_as_iso(legacy: pa.Array) -> pa.Array:
    """`04-Jun-2015 18:11:06:586` -> `2015-06-04T18:11:06.586Z`, months by a fixed table."""
    text = pc.utf8_lower(legacy)
    if not pc.all(pc.match_substring_regex(text, _LEGACY_STRICT)).as_py():
        # Rare short fields: a one-digit day; Java's SSS counts milliseconds, so ":5" is 5 ms.
        text = pc.replace_substring_regex(text, r"^(\d)-", r"0\1-")
        text = pc.replace_substring_regex(text, r":(\d)$", r":00\1")
        text = pc.replace_substring_regex(text, r":(\d\d)$", r":0\1")

    # Now every value is `dd-mon-yyyy HH:MM:SS:SSS`: cut it at fixed places, map the month.
    def cut(start: int, stop: int) -> pa.Array:
        return pc.utf8_slice_codeunits(text, start, stop)

    def lit(value: str) -> pa.Scalar:
        return pa.scalar(value, text.type)

    month = pc.take(_MONTH_NUMBERS, pc.index_in(cut(3, 6), value_set=_MONTH_NAMES)).cast(text.type)
    parts = [cut(7, 11), lit("-"), month, lit("-"), cut(0, 2), lit("T"), cut(12, 20)]
    return pc.binary_join_element_wise(*parts, lit("."), cut(21, 24), lit("Z"), lit(""))


def _iso_with_zone(iso: pa.Array) -> pa.Array:
    """ISO strings without a zone are UTC (the API documents its times as UTC): add `Z`."""
    if pc.all(pc.ends_with(iso, "Z")).as_py():
        return iso  # the common case, checked cheaply
    return pc.replace_substring_regex(iso, r"([T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?)$", r"\1Z")


def parse_job_time(
    value: Any, *, strict: bool = False, legacy_tz: LegacyTz = DEFAULT_LEGACY_TZ
) -> pd.Timestamp | Any:
    """Parse one job time into a UTC `pd.Timestamp`; `""`, None and NaN give `NaT`.

    A malformed value gives NaT too, or with `strict=True` a ValueError naming it. A legacy
    value is read in `legacy_tz` (+08:00 by default).

    >>> parse_job_time("04-Jun-2015 18:11:06:586")
    Timestamp('2015-06-04 10:11:06.586000+0000', tz='UTC')
    >>> parse_job_time("2016-04-25T20:04:34+0800")
    Timestamp('2016-04-25 12:04:34+0000', tz='UTC')
    >>> parse_job_time("")
    NaT
    >>> parse_job_time("32-Jun-2015 10:00:00:000", strict=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: not a job time: '32-Jun-2015 10:00:00:000' (expected ISO 8601 or ...)
    """
    parsed = parse_job_times(pd.Series([value], dtype=object), legacy_tz=legacy_tz)
    if strict and parsed.attrs["unparsed"]:
        raise ValueError(
            f"not a job time: {value!r} (expected ISO 8601 or dd-Mon-yyyy HH:mm:ss:SSS)"
        )
    return parsed.iloc[0]


def epoch_seconds(times: pd.Series) -> np.ndarray:
    """Seconds since 1970-01-01 UTC of tz-aware times, as float64 (NaN for NaT)."""
    return (times - _EPOCH).dt.total_seconds().to_numpy("float64", na_value=np.nan)


_EPOCH = pd.Timestamp(0, tz="UTC")


def iso_text(values: pd.Series) -> pd.Series:
    """UTC times as ISO 8601 text with `Z`: milliseconds, or microseconds where a value has them.

    >>> iso_text(pd.Series(pd.to_datetime(["2015-06-04T10:11:06.586Z", None], utc=True))).tolist()
    ['2015-06-04T10:11:06.586Z', nan]
    """
    utc = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
    micros = utc.astype("int64") % 1000 != 0
    text = np.where(
        micros, np.datetime_as_string(utc, unit="us"), np.datetime_as_string(utc, unit="ms")
    )
    text = np.char.add(text.astype(str), "Z").astype(object)
    text[np.isnat(utc)] = None
    return pd.Series(text, index=values.index, dtype="str")


def to_utc(
    moment: dt.datetime | str, name: str = "time", *, tz: str | dt.tzinfo | None = None
) -> pd.Timestamp:
    """A moment as a UTC `pd.Timestamp`; naive times and strings without a zone are in `tz`.

    `tz` defaults to UTC: `to_utc("2024-11-02", tz="Asia/Shanghai")` is 2024-11-01 16:00 UTC.

    Raises:
        ValueError: `moment` is not a time (the message starts with `name`), or `tz` is not
            a zone.
    """
    try:
        stamp = pd.Timestamp(moment)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: not a time: {moment!r}") from exc
    if pd.isna(stamp):
        raise ValueError(f"{name}: not a time: {moment!r}")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(to_zone(tz))
    return stamp.tz_convert("UTC")


def to_zone(tz: str | dt.tzinfo | None) -> dt.tzinfo:
    """A time zone from its IANA name ("Asia/Shanghai") or a tzinfo; None is UTC.

    Raises:
        ValueError: not a time zone this machine knows.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if tz is None or (isinstance(tz, str) and tz.upper() == "UTC"):
        return dt.UTC
    if isinstance(tz, dt.tzinfo):
        return tz
    try:
        return ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"not a time zone: {tz!r} (try 'UTC' or 'Asia/Shanghai')") from exc


def zone_name(tz: str | dt.tzinfo | None) -> str:
    """A zone's IANA name ("Asia/Shanghai"), "UTC", or what `str` says of a fixed offset."""
    zone = to_zone(tz)
    key = getattr(zone, "key", None)
    if key:
        return str(key)
    return "UTC" if zone is dt.UTC or str(zone) == "UTC" else str(zone)


def to_offset(period: str) -> BaseOffset:
    """A pandas frequency ("1h", "1D", "1W") as an offset; ValueError naming it if it is none."""
    try:
        return pd.tseries.frequencies.to_offset(period)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a period: {period!r} (try '1h', '1D', '1W')") from exc


def format_job_time(moment: dt.datetime | float, *, legacy: bool = False) -> str:
    """A time as the service writes it: ISO 8601 with milliseconds and `Z`, or the legacy form.

    `moment` is a UTC datetime or epoch seconds (rounded to the millisecond). The legacy
    form is written on the service's UTC+08:00 clock (see the module docstring).

    >>> format_job_time(1433412666.586, legacy=True)
    '04-Jun-2015 18:11:06:586'
    >>> format_job_time(1433412666.586)
    '2015-06-04T10:11:06.586Z'
    """
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.fromtimestamp(round(moment, 3), dt.UTC)
    if legacy:
        moment += legacy_offset(DEFAULT_LEGACY_TZ)
    millis = moment.microsecond // 1000
    if legacy:
        month = _MONTHS[moment.month - 1]
        return f"{moment.day:02d}-{month}-{moment.year} {moment:%H:%M:%S}:{millis:03d}"
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"
