"""Tables for reading in a notebook: a pandas Styler over a summary or failure frame.

    jobtools.style_table(jobtools.summary_by_type(frame))
    jobtools.style_table(jobtools.failure_groups(frame)[["error_code", "template", "count"]])

The frame itself stays raw data (rates as 0-1 floats, durations in seconds); only its display
changes. Columns are recognised by name and dtype:

* shares and rates (`share*`, `*_rate`): percentages, e.g. "46.3%";
* seconds (`*_s`) and timedeltas: durations, e.g. "5h 30m", with the header without `_s`;
* UTC times: "2024-11-06 11:58 UTC";
* counts: thousands separated;
* text (templates, reasons, types, ids): left-aligned and whole, wrapped rather than cut
  (long unbroken text breaks anywhere; beyond 500 characters it is cut, the whole value on
  hover); Chinese text is marked `lang="zh"` so that the browser draws it with a CJK font.

Any text shows literally: cells, index, column names and caption are escaped (a column name
from a CSV header is data too), control characters are written out (`\\u202e`), and the
table has the class `mathjax_ignore`, so a `$` is never typeset as mathematics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jinja2  # noqa: F401  (pandas' Styler renders with it: the notebook extra)
import numpy as np
import pandas as pd

from jobtools.views import _html

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

__all__ = ["style_table"]


def style_table(frame: pd.DataFrame, *, max_rows: int = 50) -> Styler:
    """`frame` (its first `max_rows` rows) as a Styler that reads well; the frame is unchanged.

    Args:
        frame: e.g. from `summary_by_type`, `failure_groups`, `compare_failures`,
            `rates_over_time`, or any job frame's columns.
        max_rows: rows shown; the caption says how many there are in all.
    """
    shown = frame.head(max_rows)
    formats: dict[Any, Callable[[object], str] | str | None] = {}
    text_columns: list[Any] = []
    labels: list[str] = []
    for column in shown.columns:
        kind = _kind(str(column), shown[column])
        formats[column] = _FORMATS[kind]
        if kind == "text":
            text_columns.append(column)
        name = str(column)
        name = name[:-2] if kind == "seconds" and name.endswith("_s") else name
        # relabel_index takes HTML as it stands (escaped here) and as a format string.
        labels.append(_html.text(name, _MAX_HEADER).replace("{", "{{").replace("}", "}}"))
    styler = shown.style.format(formats, na_rep="").relabel_index(labels, axis=1)
    if isinstance(shown.index, pd.DatetimeIndex):
        styler = styler.format_index(_time, axis=0)  # rates_over_time's period starts
    elif not isinstance(shown.index, pd.RangeIndex):
        styler = styler.format_index(_text, axis=0)
    else:
        styler = styler.hide(axis="index")
    styler = styler.set_table_attributes(f'class="{_html.LITERAL}"')
    # Per column, by cell id: a `td` rule of the table would outrank these (and JupyterLab's
    # own stylesheet right-aligns every cell).
    styler = styler.set_table_styles(
        [
            {"selector": "th", "props": f"text-align: left; {_html.WRAP.replace(';', '; ')};"},
            {"selector": "", "props": "max-width: 100%;"},
        ]
    )
    numbers: list[Any] = [c for c in shown.columns if c not in text_columns]
    if numbers:
        styler = styler.set_properties(
            subset=numbers, **{"text-align": "right", "vertical-align": "top"}
        )
    if text_columns:
        styler = styler.set_properties(
            subset=text_columns,
            **{
                "text-align": "left",
                "white-space": "pre-wrap",
                "vertical-align": "top",
                "overflow-wrap": "break-word",
            },
        )
    prose: list[Any] = [c for c in text_columns if str(c) in _PROSE]
    if prose:
        styler = styler.set_properties(subset=prose, **{"min-width": "24em"})
    if len(frame) > len(shown):
        styler = styler.set_caption(f"first {len(shown):,} of {len(frame):,} rows")
    return styler


# Columns of sentences: wide enough to read a template or a reason in a few lines.
_PROSE = frozenset({"template", "fail_reason", "entity_error", "fetch_error", "message"})
_MAX_TEXT = 500  # characters of a cell shown; the whole value on hover
_MAX_HEADER = 60  # characters of a column name shown; the whole name on hover


def _text(value: object) -> str:
    shown = _html.text(value, _MAX_TEXT)
    # A long value keeps its column to a readable width, so the other columns keep theirs.
    return f"<div style='max-width:40em'>{shown}</div>" if len(str(value)) > 80 else shown


def _kind(name: str, values: pd.Series) -> str:
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        return "time"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "timedelta"
    if pd.api.types.is_bool_dtype(dtype):
        return "text"
    if pd.api.types.is_numeric_dtype(dtype):
        shares = ("share", "rate_")  # share_before, rate_after (compare_failures)
        if name.startswith(shares) or name.endswith("_rate") or name.endswith("_share"):
            return "change" if name.endswith("_change") else "share"
        if name.endswith("_change"):
            return "change"
        if name.endswith("_s"):
            return "seconds"
        return "count" if pd.api.types.is_integer_dtype(dtype) else "number"
    return "text"


def _share(value: Any) -> str:
    return "" if _html.is_missing(value) else _html.percent(float(value), 1)


def _change(value: Any) -> str:
    """A change of share, in percentage points with a sign: "+4.2 pp"."""
    return "" if _html.is_missing(value) else f"{100 * float(value):+.1f} pp"


def _seconds(value: Any) -> str:
    return "" if _html.is_missing(value) else _html.duration(float(value))


def _timedelta(value: Any) -> str:
    return "" if _html.is_missing(value) else _html.duration(value.total_seconds())


def _time(value: Any) -> str:
    if _html.is_missing(value):
        return ""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_convert("UTC") if stamp.tzinfo is not None else stamp
    return stamp.strftime("%Y-%m-%d %H:%M UTC" if stamp.tzinfo is not None else "%Y-%m-%d %H:%M")


def _count(value: Any) -> str:
    return "" if _html.is_missing(value) else f"{int(value):,}"


def _number(value: Any) -> str:
    if _html.is_missing(value):
        return ""
    number = float(value)
    return f"{number:,.0f}" if abs(number) >= 100 or number == np.floor(number) else f"{number:.3g}"


_FORMATS: dict[str, Callable[[object], str]] = {
    "share": _share,
    "change": _change,
    "seconds": _seconds,
    "timedelta": _timedelta,
    "time": _time,
    "count": _count,
    "number": _number,
    "text": _text,
}
