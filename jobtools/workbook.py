"""The report as one Excel workbook: typed cells, local times, native charts (xlsxwriter).

Sheets: `jobs` (one row per job), `failure groups`, `summary by type`, `rates over time`,
`fetch errors`, `charts` and `notes`. Times are real Excel date cells in the report's zone:
Excel has no zone-aware times, so the zone is in every time column's header and in the
notes. Text is always written as text (never a formula or a link), durations as Excel
durations, shares as percentages; each table has a frozen header row, an autofilter and
fitted widths. The `charts` sheet has native Excel charts of the failure reasons and rates.
Given `findings`, a `findings` sheet comes first: its sentences, changes and drivers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd

from jobtools.outcome import Outcome
from jobtools.times import zone_name

if TYPE_CHECKING:
    from jobtools.analysis.findings import Findings

__all__ = ["MAX_ROWS", "write_workbook"]

# Excel's rows per sheet, the header row included.
MAX_ROWS = 1_048_576
# Excel's characters per cell.
_MAX_TEXT = 32_767
# Columns shown as percentages (0..1 fractions) and as durations, wherever they appear.
_PERCENT = {"share", "success_rate", "failure_rate", "process_percent", "rate_before", "rate_after"}
_FETCH_ERROR_COLUMNS = (
    "job_id",
    "outcome",
    "http_status",
    "fetch_error_code",
    "fetch_error",
    "request_id",
    "observed_at",
)
_CHART_GROUPS = 10  # failure groups in the chart; the sheet has them all


def write_workbook(
    path: Path,
    *,
    jobs: pd.DataFrame,
    groups: pd.DataFrame,
    summary: pd.DataFrame,
    rates: pd.DataFrame,
    zone: tzinfo,
    notes: Mapping[str, Any],
    findings: Findings | None = None,
) -> Path:
    """Write the report's tables into one `.xlsx` at `path` (see the module docstring).

    Raises:
        ValueError: more jobs than an Excel sheet holds (the CSV has no such limit).
    """
    import xlsxwriter

    if len(jobs) >= MAX_ROWS:
        raise ValueError(
            f"{len(jobs):,} jobs do not fit in one Excel sheet ({MAX_ROWS - 1:,} rows); "
            "write the report without xlsx=True and use jobs.csv"
        )
    errors = _fetch_errors(jobs)
    # No string ever becomes a formula, a number or a link: fail_reason is the service's text.
    options = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    book = xlsxwriter.Workbook(str(path), options)
    try:
        formats = _Formats(book)
        zone_label = zone_name(zone)
        if findings is not None:
            _findings_sheet(book.add_worksheet("findings"), findings, formats, zone, zone_label)
        sheets = {
            "jobs": jobs,
            "failure groups": groups,
            "summary by type": summary,
            "rates over time": rates,
            "fetch errors": errors,
        }
        for name, table in sheets.items():
            sheet = book.add_worksheet(name)
            _write_table(sheet, table, formats, zone, zone_label)
            sheet.set_landscape()  # printed, or made a PDF
        charts = book.add_worksheet("charts")
        charts.set_landscape()
        row = 1
        if len(groups):
            row = _failure_chart(book, charts, groups, row)
        if len(rates):
            _rates_chart(book, charts, rates, zone_label, row)
        _write_notes(book.add_worksheet("notes"), notes, formats, zone_label)
    finally:
        book.close()
    return path


class _Formats:
    def __init__(self, book: Any) -> None:
        self.header = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        self.time = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss.000"})
        self.duration = book.add_format({"num_format": "[h]:mm:ss.000"})
        self.percent = book.add_format({"num_format": "0.0%"})
        self.seconds = book.add_format({"num_format": "#,##0.0"})
        self.integer = book.add_format({"num_format": "#,##0"})
        self.text = book.add_format({"text_wrap": False})
        self.wrap = book.add_format({"text_wrap": True, "valign": "top"})


def _write_table(
    sheet: Any, table: pd.DataFrame, formats: _Formats, zone: tzinfo, zone_name: str
) -> None:
    """One table: a header row, then column by column in the cell type its dtype asks for."""
    widths: list[int] = []
    for col, (label, values) in enumerate(table.items()):
        name = str(label)
        header, cells, cell_format, kind = _column(name, values, formats, zone, zone_name)
        sheet.write_string(0, col, header, formats.header)
        for row, value in enumerate(cells, start=1):
            if value is None:
                continue
            if kind == "text":
                sheet.write_string(row, col, value, cell_format)
            elif kind == "bool":
                sheet.write_boolean(row, col, value, cell_format)
            else:
                sheet.write_number(row, col, value, cell_format)
        widths.append(_width(header, cells, kind))
    for col, width in enumerate(widths):
        sheet.set_column(col, col, width)
    sheet.freeze_panes(1, 0)
    if len(table.columns):
        sheet.autofilter(0, 0, max(len(table), 1), len(table.columns) - 1)


def _column(
    name: str, values: pd.Series, formats: _Formats, zone: tzinfo, zone_name: str
) -> tuple[str, list[Any], Any, str]:
    """(header, cell values with None for blank, format, kind) of one column."""
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return f"{name} ({zone_name})", _excel_times(values, zone), formats.time, "number"
    if pd.api.types.is_timedelta64_dtype(dtype):
        days = values.dt.total_seconds() / 86_400
        return name, _numbers(days), formats.duration, "number"
    if pd.api.types.is_bool_dtype(dtype) and not values.isna().any():
        return name, [bool(v) for v in values.tolist()], None, "bool"
    if pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        if name in _PERCENT:
            return name, _numbers(values), formats.percent, "number"
        if name.endswith("_s"):
            return name, _numbers(values), formats.seconds, "number"
        if pd.api.types.is_integer_dtype(dtype):
            return name, _numbers(values), formats.integer, "number"
        return name, _numbers(values), None, "number"
    return name, _texts(values), formats.text, "text"


def _excel_times(values: pd.Series, zone: tzinfo) -> list[Any]:
    """Aware times as Excel serial days of the local wall time in `zone` (None for NaT)."""
    local = values.dt.tz_convert(zone).dt.tz_localize(None)
    # Excel's day 0 is 1899-12-30: its 1900 leap-year bug folded in, for dates after March 1900.
    days = (local - pd.Timestamp("1899-12-30")) / pd.Timedelta(days=1)
    return _numbers(days)


def _numbers(values: pd.Series) -> list[Any]:
    array = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    finite = np.isfinite(array)
    return [float(v) if ok else None for v, ok in zip(array.tolist(), finite.tolist(), strict=True)]


def _texts(values: pd.Series) -> list[Any]:
    out: list[Any] = []
    for value in values.astype(object).tolist():
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            out.append(None)
            continue
        if isinstance(value, dict | list):
            text = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        else:
            text = str(value)
        out.append(text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…")
    return out


def _width(header: str, cells: list[Any], kind: str) -> int:
    """A column width that fits the header and most values, between 8 and 60 characters."""
    if kind == "number":
        longest = 23 if "(" in header else 12  # a time, or a number
    elif kind == "bool":
        longest = 6
    else:
        sample = [c for c in cells[:2000] if c is not None]
        # Wide (CJK) characters take about two columns.
        longest = max((_display_width(c) for c in sample), default=0)
    return int(min(max(longest, len(header) + 2, 8), 60))


def _display_width(text: str) -> int:
    line = text.split("\n", 1)[0][:120]
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in line)


def _fetch_errors(jobs: pd.DataFrame) -> pd.DataFrame:
    """The jobs whose fetch did not succeed, with how it failed (empty if not fetched)."""
    columns = [c for c in _FETCH_ERROR_COLUMNS if c in jobs.columns]
    if "outcome" not in jobs.columns:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in ("job_id", "outcome")})
    failed = jobs["outcome"].notna() & jobs["outcome"].astype("str").ne(Outcome.OK)
    return jobs.loc[failed.to_numpy(), columns].reset_index(drop=True)


def _failure_chart(book: Any, sheet: Any, groups: pd.DataFrame, row: int) -> int:
    """A bar chart of the biggest failure groups (count) at `row`; returns the row below it."""
    n = min(len(groups), _CHART_GROUPS)
    names = list(groups.columns)
    label_col, count_col = names.index("template"), names.index("count")
    chart = book.add_chart({"type": "bar"})
    chart.add_series(
        {
            "name": "failed jobs",
            "categories": ["failure groups", 1, label_col, n, label_col],
            "values": ["failure groups", 1, count_col, n, count_col],
            "data_labels": {"value": True},
        }
    )
    chart.set_title({"name": f"Failure reasons (top {n} of {len(groups)} groups)"})
    chart.set_y_axis({"reverse": True})  # the biggest group on top
    chart.set_legend({"none": True})
    height = 80 + 28 * n
    chart.set_size({"width": 780, "height": height})
    sheet.insert_chart(row, 0, chart)
    return row + height // 20 + 2  # rows are 20 pixels high


def _rates_chart(book: Any, sheet: Any, rates: pd.DataFrame, zone_name: str, row: int) -> None:
    """Jobs finished per period (columns) and the failure rate (line, right axis)."""
    n = len(rates)
    names = list(rates.columns)
    x, finished, rate = (names.index(c) for c in ("period_start", "finished", "failure_rate"))
    columns = book.add_chart({"type": "column"})
    columns.add_series(
        {
            "name": "finished",
            "categories": ["rates over time", 1, x, n, x],
            "values": ["rates over time", 1, finished, n, finished],
        }
    )
    line = book.add_chart({"type": "line"})
    line.add_series(
        {
            "name": "failure rate",
            "categories": ["rates over time", 1, x, n, x],
            "values": ["rates over time", 1, rate, n, rate],
            "y2_axis": True,
            "marker": {"type": "circle"},
        }
    )
    columns.combine(line)
    columns.set_title({"name": "Jobs finished and failure rate per period"})
    # One category per period (a date axis would space weekly bars a day apart).
    columns.set_x_axis(
        {
            "text_axis": True,
            "name": f"period start ({zone_name})",
            "num_format": "yyyy-mm-dd hh:mm",
            "num_font": {"rotation": -45},
        }
    )
    columns.set_y_axis({"name": "jobs finished"})
    line.set_y2_axis({"name": "failure rate", "num_format": "0%"})
    columns.set_size({"width": 780, "height": 340})
    sheet.insert_chart(row, 0, columns)


def _findings_sheet(
    sheet: Any, found: Findings, formats: _Formats, zone: tzinfo, zone_label: str
) -> None:
    """The findings on top: the sentences (English, Chinese), then the changes and drivers."""
    sentences = [*found.text().split("\n"), "", *found.text(lang="zh").split("\n")]
    row = 0
    for line in sentences:
        sheet.write_string(row, 0, line[:_MAX_TEXT])
        row += 1
    for title, table in (("changes", found.changes), ("drivers", found.drivers)):
        row += 1
        sheet.write_string(row, 0, title, formats.header)
        row += 1
        for col, (label, values) in enumerate(table.items()):
            header, cells, fmt, kind = _column(str(label), values, formats, zone, zone_label)
            sheet.write_string(row, col, header, formats.header)
            for offset, value in enumerate(cells, start=1):
                if value is not None:
                    write = {"text": sheet.write_string, "bool": sheet.write_boolean}
                    write.get(kind, sheet.write_number)(row + offset, col, value, fmt)
            sheet.set_column(col, col, _width(header, cells, kind))
        row += len(table) + 1
    sheet.set_landscape()


def _write_notes(sheet: Any, notes: Mapping[str, Any], formats: _Formats, zone_name: str) -> None:
    """What a reader needs to read the workbook right: the zone first, then how it was made."""
    lines: list[tuple[str, str]] = [
        ("time zone", zone_name),
        (
            "times",
            f"Every time is a date cell in {zone_name} local time (Excel cells have no zone); "
            "the zone is also in each time column's header. The CSV files carry the offset.",
        ),
        ("durations", "Excel durations ([h]:mm:ss); *_s columns are seconds."),
        ("percentages", "share, success_rate, failure_rate and process_percent are shown as %."),
    ]
    for key, value in notes.items():
        text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
        lines.append((key, text))
    sheet.write_string(0, 0, "note", formats.header)
    sheet.write_string(0, 1, "value", formats.header)
    for row, (key, value) in enumerate(lines, start=1):
        sheet.write_string(row, 0, key)
        sheet.write_string(row, 1, value[:_MAX_TEXT], formats.wrap)
    sheet.set_column(0, 0, 22)
    sheet.set_column(1, 1, 100)
    sheet.set_landscape()
    sheet.freeze_panes(1, 0)
