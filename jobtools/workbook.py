"""The report as one Excel workbook: typed cells, local times, native charts (xlsxwriter).

Sheets: `jobs` (one row per job), `failure groups`, `summary by type`, `rates over time`,
`fetch errors`, `charts` and `notes`. Times are real Excel date cells in the report's zone:
Excel has no zone-aware times, so the zone is in every time column's header and in the
notes. Text is always written as text (never a formula or a link), durations as Excel
durations, shares as percentages; each table has a frozen header row, an autofilter and
fitted widths. The `charts` sheet has native Excel charts of the failure reasons and rates.
Given `findings`, a `findings` sheet comes first: its sentences, changes and drivers.

Printed (or exported to PDF), every sheet is landscape, one page wide, with its header row on
every page, and each chart on a page of its own.

More jobs than a sheet holds (1,048,575 under the header) go on several sheets (`jobs`,
`jobs 2`, ...), and the notes sheet says which rows are where. A text longer than a cell holds
(32,767 characters) is cut, ending in "…", and the notes sheet lists where.

The jobs are written fast and in bounded memory: xlsxwriter writes every sheet's header, formats,
filters and print settings, and the jobs' rows are made as XML by Arrow, a block of rows at a
time, and streamed into the sheet's part of the file (a million jobs in well under a minute,
where xlsxwriter cell by cell takes minutes and gigabytes).
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
    """Write the report's tables into one `.xlsx` at `path` (see the module docstring)."""
    import xlsxwriter

    errors = _fetch_errors(jobs)
    # No string ever becomes a formula, a number or a link: fail_reason is the service's text.
    options = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    partial = path.with_name(f".{path.name}.partial")
    book = xlsxwriter.Workbook(str(partial), options)
    cuts = _Cuts()
    streamed: dict[int, _Streamed] = {}
    try:
        formats = _Formats(book)
        zone_label = zone_name(zone)
        first = 1  # xlsxwriter numbers sheets from 1: the jobs sheets' files are streamed
        if findings is not None:
            _findings_sheet(book.add_worksheet("findings"), findings, formats, zone, zone_label)
            first += 1
        per_sheet = MAX_ROWS - 1
        starts = range(0, max(len(jobs), 1), per_sheet)
        names = ["jobs" if i == 0 else f"jobs {i + 1}" for i in range(len(starts))]
        for number, (name, start) in enumerate(zip(names, starts, strict=True)):
            sheet = book.add_worksheet(name)
            part = jobs.iloc[start : start + per_sheet]
            columns = [_column(str(c), v, formats, zone, zone_label) for c, v in part.items()]
            _write_header(sheet, columns, len(part), formats)
            for column, (_, values) in zip(columns, part.items(), strict=True):
                # xlsxwriter numbers a format when a cell first uses it; these cells come later.
                if column.format is not None:
                    column.format._get_xf_index()
                _with_xml_text(column, values)
            streamed[number + first] = _Streamed(name, columns, len(part))
            cuts.add(name, columns)
        tables = {
            "failure groups": groups,
            "summary by type": summary,
            "rates over time": rates,
            "fetch errors": errors,
        }
        for name, table in tables.items():
            columns = [_column(str(c), v, formats, zone, zone_label) for c, v in table.items()]
            _write_table(book.add_worksheet(name), columns, len(table), formats)
            cuts.add(name, columns)
        charts = book.add_worksheet("charts")
        _print_layout(charts)
        row = 1
        if len(groups):
            row = _failure_chart(book, charts, groups, row)
            # Each chart on a page of its own.
            charts.set_h_pagebreaks([row - 1])
        if len(rates):
            _rates_chart(book, charts, rates, zone_label, row)
        lines = [*_split_notes(names, len(jobs), per_sheet), *cuts.notes()]
        _write_notes(book.add_worksheet("notes"), notes, formats, zone_label, lines)
    finally:
        book.close()
    try:
        _stream_rows(partial, path, streamed)
    finally:
        partial.unlink(missing_ok=True)
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


@dataclass
class _Column:
    """One column's cells: numbers (NaN for blank), booleans, or text (null for blank)."""

    header: str
    kind: str  # "number", "bool" or "text"
    format: Any
    values: Any  # np.ndarray of float64 or bool, or pa.LargeStringArray
    cut: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    # Text as XML content, made when the column is streamed (a category's text escaped once).
    escaped: Any = None


@dataclass
class _Streamed:
    """A jobs sheet whose rows are streamed into the file after xlsxwriter wrote the rest."""

    name: str
    columns: list[_Column]
    rows: int


class _Cuts:
    """Where text was cut at Excel's limit, for the notes sheet."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str, np.ndarray]] = []

    def add(self, sheet: str, columns: list[_Column]) -> None:
        self.found += [(sheet, c.header, c.cut) for c in columns if len(c.cut)]

    def notes(self) -> list[tuple[str, str]]:
        out = []
        for sheet, header, rows in self.found:
            listed = ", ".join(f"{r + 2:,}" for r in rows[:20].tolist())
            more = f" and {len(rows) - 20:,} more" if len(rows) > 20 else ""
            out.append(
                (
                    f"cut text: {sheet}, {header}",
                    f"{len(rows):,} cells longer than Excel's {_MAX_TEXT:,} characters are cut, "
                    f"ending in …: rows {listed}{more}. The CSV files (and the frame) keep the "
                    "whole text.",
                )
            )
        return out


def _split_notes(names: list[str], jobs: int, per_sheet: int) -> list[tuple[str, str]]:
    if len(names) < 2:
        return []
    where = "; ".join(
        f"{name}: jobs {i * per_sheet + 1:,} to {min((i + 1) * per_sheet, jobs):,}"
        for i, name in enumerate(names)
    )
    text = (
        f"{jobs:,} jobs do not fit in one sheet (Excel holds {per_sheet:,} rows under the "
        f"header), so they are split over {len(names)} sheets, in order: {where}."
    )
    return [("jobs sheets", text)]


def _print_layout(sheet: Any) -> None:
    """Printed or made a PDF: landscape, one page wide, the header row on every page."""
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)


def _write_header(sheet: Any, columns: list[_Column], rows: int, formats: _Formats) -> None:
    """The header row, widths, frozen header, filter and print layout of a table."""
    for col, column in enumerate(columns):
        sheet.write_string(0, col, column.header, formats.header)
        sheet.set_column(col, col, _width(column))
    sheet.freeze_panes(1, 0)
    if columns:
        sheet.autofilter(0, 0, max(rows, 1), len(columns) - 1)
    _print_layout(sheet)
    sheet.repeat_rows(0)


def _write_table(sheet: Any, columns: list[_Column], rows: int, formats: _Formats) -> None:
    """A small table, cell by cell through xlsxwriter (the charts read its cells)."""
    _write_header(sheet, columns, rows, formats)
    for col, column in enumerate(columns):
        _write_cells(sheet, 1, col, column)


def _write_cells(sheet: Any, first: int, col: int, column: _Column) -> None:
    """One column's cells, from row `first` down, through xlsxwriter."""
    if column.kind == "text":
        for row, text in enumerate(column.values.to_pylist(), start=first):
            if text is not None:
                sheet.write_string(row, col, text, column.format)
    elif column.kind == "bool":
        for row, flag in enumerate(column.values.tolist(), start=first):
            sheet.write_boolean(row, col, flag, column.format)
    else:
        for row, number in enumerate(column.values.tolist(), start=first):
            if number == number:  # not NaN
                sheet.write_number(row, col, number, column.format)


def _column(
    name: str, values: pd.Series, formats: _Formats, zone: tzinfo, zone_name: str
) -> _Column:
    """One column's header, kind, format and cells, by its dtype."""
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return _Column(f"{name} ({zone_name})", "number", formats.time, _excel_times(values, zone))
    if pd.api.types.is_timedelta64_dtype(dtype):
        days = values.dt.total_seconds() / 86_400
        return _Column(name, "number", formats.duration, _numbers(days))
    if pd.api.types.is_bool_dtype(dtype) and not values.isna().any():
        return _Column(name, "bool", None, values.to_numpy(dtype=bool))
    if pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        if name in _PERCENT:
            number_format = formats.percent
        elif name.endswith("_s"):
            number_format = formats.seconds
        elif pd.api.types.is_integer_dtype(dtype):
            number_format = formats.integer
        else:
            number_format = None
        return _Column(name, "number", number_format, _numbers(values))
    text, cut = _texts(values)
    return _Column(name, "text", formats.text, text, cut)


def _with_xml_text(column: _Column, values: pd.Series) -> None:
    """Escape a text column for the sheet XML: a categorical column's categories only."""
    if column.kind != "text":
        return
    if isinstance(values.dtype, pd.CategoricalDtype) and not len(column.cut):
        categories = pa.array(values.cat.categories.astype("str").array)
        escaped = _escaped(categories.cast(pa.large_string()))
        codes = pa.array(values.cat.codes.to_numpy(), mask=values.cat.codes.to_numpy() < 0)
        column.escaped = escaped.take(codes)
    else:
        column.escaped = _escaped(column.values)


def _excel_times(values: pd.Series, zone: tzinfo) -> np.ndarray:
    """Aware times as Excel serial days of the local wall time in `zone` (NaN for NaT)."""
    local = values.dt.tz_convert(zone).dt.tz_localize(None)
    # Excel's day 0 is 1899-12-30: its 1900 leap-year bug folded in, for dates after March 1900.
    days = (local - pd.Timestamp("1899-12-30")) / pd.Timedelta(days=1)
    return _numbers(days)


def _numbers(values: pd.Series) -> np.ndarray:
    """Float64 cells; NaN (and infinities, which Excel cannot hold) are blank."""
    array = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    return np.where(np.isfinite(array), array, np.nan)


def _texts(values: pd.Series) -> tuple[pa.Array, np.ndarray]:
    """Text cells (null for blank), cut at Excel's limit, and the positions that were cut."""
    if values.dtype == object:
        out: list[Any] = []
        for value in values.tolist():
            if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
                out.append(None)
            elif isinstance(value, dict | list):
                dumped = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)
                out.append(dumped.decode())
            else:
                out.append(str(value))
        text = pa.array(out, type=pa.large_string())
    else:
        text = pa.array(values.astype("str").array).cast(pa.large_string())
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    long = pc.greater(pc.utf8_length(text), _MAX_TEXT).fill_null(False)
    cut = np.flatnonzero(long.to_numpy(zero_copy_only=False))
    if len(cut):
        cut_text = pc.utf8_slice_codeunits(text.filter(long), 0, _MAX_TEXT - 1)
        short = pc.binary_join_element_wise(cut_text, _large("…"), _large(""))
        text = pc.replace_with_mask(text, long, short)
    return text, cut


def _width(column: _Column) -> int:
    """A column width that fits the header and most values, between 8 and 60 characters."""
    if column.kind == "number":
        longest = 23 if "(" in column.header else 12  # a time, or a number
    elif column.kind == "bool":
        longest = 6
    else:
        sample = [c for c in column.values[:2000].to_pylist() if c is not None]
        # Wide (CJK) characters take about two columns.
        longest = max((_display_width(c) for c in sample), default=0)
    return int(min(max(longest, len(column.header) + 2, 8), 60))


def _display_width(text: str) -> int:
    line = text.split("\n", 1)[0][:120]
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in line)


# --- the jobs' rows as sheet XML ------------------------------------------------------------

# Rows made at once: a block's XML is tens of MB, whatever the number of jobs.
_BLOCK = 32_768
# Characters XML 1.0 cannot hold, written as Excel writes them (`_x001F_`); a literal
# `_x001F_` in text is kept literal by escaping its underscore (`_x005F_x001F_`).
_UNWRITABLE = re.compile(r"_x[0-9A-Fa-f]{4}_|[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_UNWRITABLE_RE2 = r"_x[0-9A-Fa-f]{4}_|[\x00-\x08\x0b\x0c\x0e-\x1f\x{fffe}\x{ffff}]"


def _stream_rows(source: Path, target: Path, streamed: Mapping[int, _Streamed]) -> None:
    """Copy the workbook xlsxwriter wrote, streaming the jobs' rows into their sheets."""
    sheets = {f"xl/worksheets/sheet{n}.xml": s for n, s in streamed.items()}
    partial = target.with_name(f".{target.name}.rows")
    # Level 1: the XML compresses almost as well, several times faster.
    options: dict[str, Any] = {"compression": zipfile.ZIP_DEFLATED, "compresslevel": 1}
    try:
        with zipfile.ZipFile(source) as old, zipfile.ZipFile(partial, "w", **options) as new:
            for info in old.infolist():
                data = old.read(info.filename)
                sheet = sheets.get(info.filename)
                if sheet is None:
                    new.writestr(info.filename, data)
                    continue
                head, tail = data.decode().split("</sheetData>", 1)
                last = f"{_letters(max(len(sheet.columns), 1) - 1)}{sheet.rows + 1}"
                head = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last}"/>', head)
                # Zip64 only where the part may pass 4 GB (some readers dislike it elsewhere).
                with new.open(info.filename, "w", force_zip64=_may_be_huge(sheet)) as out:
                    out.write(head.encode())
                    # The next block is made while this one is compressed (both let go of the GIL).
                    for block in _prefetched(_row_blocks(sheet.columns, sheet.rows)):
                        out.write(block)
                    out.write(("</sheetData>" + tail).encode())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _prefetched(blocks: Iterator[memoryview]) -> Iterator[memoryview]:
    """`blocks`, each made on another thread while the one before is used."""
    with ThreadPoolExecutor(1) as pool:
        coming = pool.submit(next, blocks, None)
        while (block := coming.result()) is not None:
            coming = pool.submit(next, blocks, None)
            yield block


def _may_be_huge(sheet: _Streamed) -> bool:
    """Whether a sheet's XML may pass 4 GB: its text, and about 60 bytes a cell besides."""
    text = sum(
        int(pc.sum(pc.binary_length(c.values)).as_py() or 0)
        for c in sheet.columns
        if c.kind == "text"
    )
    return 1.3 * text + 60 * sheet.rows * len(sheet.columns) > 3.5 * 2**30


def _letters(col: int) -> str:
    """The column letters of a 0-based column: 0 -> A, 26 -> AA."""
    letters = ""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _large(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _row_blocks(columns: list[_Column], rows: int) -> Iterator[memoryview]:
    """The sheet's rows under the header as XML, `_BLOCK` rows at a time."""
    nothing = _large("")
    for start in range(0, rows, _BLOCK):
        stop = min(start + _BLOCK, rows)
        numbers = pa.array(np.arange(start + 2, stop + 2)).cast(pa.large_string())
        cells = [
            _cell_xml(column, _letters(col), numbers, start, stop)
            for col, column in enumerate(columns)
        ]
        xml = pc.binary_join_element_wise(
            _large('<row r="'), numbers, _large('">'), *cells, _large("</row>"), nothing,
            null_handling="skip",
        )  # fmt: skip
        yield _bytes_of(xml)


def _cell_xml(column: _Column, letters: str, numbers: pa.Array, start: int, stop: int) -> pa.Array:
    """One column's cells of rows `start:stop` as `<c>` elements (null for a blank cell)."""
    style = "" if column.format is None else f' s="{column.format._get_xf_index()}"'
    if column.kind == "text":
        value = column.escaped.slice(start, stop - start)
        opening, closing = f'{style} t="inlineStr"><is><t xml:space="preserve">', "</t></is></c>"
    elif column.kind == "bool":
        value = pa.array(np.where(column.values[start:stop], "1", "0")).cast(pa.large_string())
        opening, closing = f'{style} t="b"><v>', "</v></c>"
    else:
        # NaN becomes null, a blank cell; Arrow writes the shortest text that reads back equal.
        value = pa.array(column.values[start:stop], from_pandas=True).cast(pa.large_string())
        opening, closing = f"{style}><v>", "</v></c>"
    return pc.binary_join_element_wise(
        _large(f'<c r="{letters}'), numbers, _large('"' + opening), value, _large(closing),
        _large(""),
    )  # fmt: skip


def _escaped(text: pa.Array) -> pa.Array:
    """Text as XML element content, with what XML cannot hold written as Excel does."""
    for raw, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        # Replaced only where present: an unchanged column is not copied (a million ids).
        if pc.any(pc.match_substring(text, raw)).as_py():
            text = pc.replace_substring(text, raw, entity)
    odd = pc.match_substring_regex(text, _UNWRITABLE_RE2).fill_null(False)
    if pc.any(odd).as_py():
        fixed = [_UNWRITABLE.sub(_excel_escape, t) for t in text.filter(odd).to_pylist()]
        text = pc.replace_with_mask(text, odd, pa.array(fixed, type=pa.large_string()))
    return text


def _excel_escape(match: re.Match[str]) -> str:
    found = match.group()
    return "_x005F" + found if found.startswith("_x") else f"_x{ord(found):04X}_"


def _bytes_of(text: pa.Array) -> memoryview:
    """The concatenated bytes of a string array without nulls (its data buffer, not copied)."""
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64)
    first, last = offsets[text.offset], offsets[text.offset + len(text)]
    return memoryview(text.buffers()[2])[first:last]


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
        columns = [_column(str(c), v, formats, zone, zone_label) for c, v in table.items()]
        for col, column in enumerate(columns):
            sheet.write_string(row, col, column.header, formats.header)
            sheet.set_column(col, col, _width(column))
            _write_cells(sheet, row + 1, col, column)
        row += len(table) + 1
    _print_layout(sheet)


def _write_notes(
    sheet: Any,
    notes: Mapping[str, Any],
    formats: _Formats,
    zone_name: str,
    found: list[tuple[str, str]],
) -> None:
    """What a reader needs to read the workbook right: the zone first, then how it was made.

    `found`: what the writing itself found (jobs split over sheets, text cut), listed last.
    """
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
    lines += found
    sheet.write_string(0, 0, "note", formats.header)
    sheet.write_string(0, 1, "value", formats.header)
    for row, (key, value) in enumerate(lines, start=1):
        sheet.write_string(row, 0, key)
        text = value if len(value) <= _MAX_TEXT else value[: _MAX_TEXT - 1] + "…"
        sheet.write_string(row, 1, text, formats.wrap)
    sheet.set_column(0, 0, 22)
    sheet.set_column(1, 1, 100)
    _print_layout(sheet)
    sheet.repeat_rows(0)
    sheet.freeze_panes(1, 0)
