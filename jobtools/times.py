"""Job times: the legacy `04-Jun-2015 18:11:06:586` and ISO 8601 strings, as UTC timestamps.

The service has written its times two ways over the years, sometimes within one data set:

* legacy IMS, Java's `dd-MMM-yyyy HH:mm:ss:SSS` (a colon before the milliseconds, English
  month abbreviations whatever the machine's locale; pandas cannot infer it);
* ISO 8601 with `Z`, a numeric offset (`+0800`, `+08:00`) or none (documented as UTC),
  with or without a fraction of a second.

`parse_job_times` converts a whole column with a few vectorised calls: one regex match splits
it into the legacy group and the ISO group, and each group goes through one `pd.to_datetime`.
The month names are mapped by a fixed English table, never by `%b`, which follows the locale.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

TIME_DTYPE = "datetime64[us, UTC]"

# dd-Mon-yyyy HH:mm:ss:SSS. Java's SSS is a count of milliseconds, so "7" means 007.
_LEGACY = r"(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}):(\d{1,3})"
# A date and a time are both required: a bare "2015" or a number must not become a date.
_ISO = (
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)
_MONTHS = {
    name: f"{number:02d}"
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}


def parse_job_times(values: Iterable[Any]) -> pd.Series:
    """Parse a column of job times into a `datetime64[us, UTC]` Series, never raising.

    Empty strings, None and NaN become NaT. So does anything malformed (a day 32, an unknown
    month, `garbage`, a number, a dict), but those are not lost: the returned Series carries
    them in `result.attrs["unparsed"]`, a dict from index label to the raw value.

    Args:
        values: a Series (its index is kept) or any sequence of strings or odd values.

    >>> s = parse_job_times(["04-Jun-2015 18:11:06:586", "2024-11-06T14:19:43+08:00", "", "oops"])
    >>> s.dt.strftime("%Y-%m-%d %H:%M:%S.%f").tolist()
    ['2015-06-04 18:11:06.586000', '2024-11-06 06:19:43.000000', nan, nan]
    >>> str(s.dtype), s.attrs["unparsed"]
    ('datetime64[us, UTC]', {3: 'oops'})
    """
    raw = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    # Non-strings become their text, which neither pattern matches (a dict, a number), while
    # Timestamp and datetime objects print as ISO 8601 and so still parse.
    text = raw.astype("str").str.strip()
    result = pd.Series(pd.NaT, index=raw.index, dtype=TIME_DTYPE, name=raw.name)

    legacy = text.str.fullmatch(_LEGACY).fillna(False).astype(bool)
    if legacy.any():
        result[legacy] = _parse_legacy(text[legacy])
    iso = ~legacy & text.str.fullmatch(_ISO).fillna(False).astype(bool)
    if iso.any():
        parsed = pd.to_datetime(text[iso], format="ISO8601", errors="coerce", utc=True)
        result[iso] = parsed.astype(TIME_DTYPE)

    failed = result.isna() & text.notna() & (text != "")
    result.attrs["unparsed"] = raw[failed].to_dict()
    return result


def _parse_legacy(text: pd.Series) -> pd.Series:
    """Rewrite legacy strings as ISO with a fixed month table, then parse them in one call."""
    parts = text.str.extract(_LEGACY)
    month = parts[1].str.lower().map(_MONTHS)
    iso = (
        parts[2]
        + "-"
        + month
        + "-"
        + parts[0].str.zfill(2)
        + "T"
        + parts[3]
        + ":"
        + parts[4]
        + ":"
        + parts[5]
        + "."
        + parts[6].str.zfill(3)
    )
    # An unknown month leaves NaN here; an impossible date (32-Jun) is coerced to NaT.
    parsed = pd.to_datetime(iso, format="%Y-%m-%dT%H:%M:%S.%f", errors="coerce", utc=True)
    return parsed.astype(TIME_DTYPE)


def parse_job_time(value: Any, *, strict: bool = False) -> pd.Timestamp | Any:
    """Parse one job time into a UTC `pd.Timestamp`; `""`, None and NaN give `NaT`.

    A malformed value gives NaT too, or with `strict=True` a ValueError naming it.

    >>> parse_job_time("04-Jun-2015 18:11:06:586")
    Timestamp('2015-06-04 18:11:06.586000+0000', tz='UTC')
    >>> parse_job_time("2016-04-25T20:04:34+0800")
    Timestamp('2016-04-25 12:04:34+0000', tz='UTC')
    >>> parse_job_time("")
    NaT
    >>> parse_job_time("32-Jun-2015 10:00:00:000", strict=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: not a job time: '32-Jun-2015 10:00:00:000' (expected ISO 8601 or ...)
    """
    parsed = parse_job_times(pd.Series([value], dtype=object))
    if strict and parsed.attrs["unparsed"]:
        raise ValueError(
            f"not a job time: {value!r} (expected ISO 8601 or dd-Mon-yyyy HH:mm:ss:SSS)"
        )
    return parsed.iloc[0]
