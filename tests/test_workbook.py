"""The report workbook: jobs split over sheets, cut text noted, print layout, exact cells."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from jobtools import jobs_to_frame, write_report
from jobtools.report import XLSX_FILE
from jobtools.sample import generate_jobs

openpyxl = pytest.importorskip("openpyxl")

NOW = "2024-11-06T12:00:00Z"
TABLES = ("failure groups", "summary by type", "rates over time", "fetch errors")


def book_of(frame: pd.DataFrame, folder: Path) -> Any:
    out = write_report(frame, folder, xlsx=True, csv=False, plot=False, now=NOW)
    return openpyxl.load_workbook(out / XLSX_FILE)


def notes_of(book: Any) -> dict[str, str]:
    return {row[0]: row[1] for row in book["notes"].iter_rows(min_row=2, values_only=True)}


def test_jobs_past_a_sheets_rows_go_on_several_sheets_and_the_notes_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With sheets of 5 rows (Excel's 1,048,575 made small), 12 jobs fill jobs, jobs 2 and
    jobs 3 in order, each with its header, and the notes say which jobs are where."""
    import jobtools.workbook

    monkeypatch.setattr(jobtools.workbook, "MAX_ROWS", 6)
    frame = jobs_to_frame(generate_jobs(12, seed=4))
    book = book_of(frame, tmp_path / "r")
    assert book.sheetnames[:4] == ["findings", "jobs", "jobs 2", "jobs 3"]
    ids = []
    for name in ("jobs", "jobs 2", "jobs 3"):
        rows = list(book[name].iter_rows(values_only=True))
        assert rows[0][0] == "job_id"
        ids += [row[0] for row in rows[1:]]
    assert ids == frame["job_id"].tolist()
    note = notes_of(book)["jobs sheets"]
    assert "12 jobs" in note and "jobs 3: jobs 11 to 12" in note


def test_text_cut_at_excels_limit_is_marked_in_the_notes(tmp_path: Path) -> None:
    """A 40,000-character reason is cut to 32,767 characters ending in …, and the notes
    name the sheet, the column and the row."""
    records = generate_jobs(5, seed=2)
    records[2].update(status="FAIL", error_code="IMG.0001", fail_reason="x" * 40_000)
    book = book_of(jobs_to_frame(records), tmp_path / "r")
    sheet = book["jobs"]
    header = [cell.value for cell in sheet[1]]
    cell = sheet.cell(row=4, column=header.index("fail_reason") + 1).value
    assert len(cell) == 32_767 and cell.endswith("…")
    note = notes_of(book)["cut text: jobs, fail_reason"]
    assert "rows 4" in note and "whole text" in note


def test_every_sheet_prints_landscape_one_page_wide_with_its_header_on_each_page(
    tmp_path: Path,
) -> None:
    """Printed, each table is landscape, fit to one page wide, its header row repeated; each
    chart is on a page of its own."""
    book = book_of(jobs_to_frame(generate_jobs(200, seed=6)), tmp_path / "r")
    for name in ("jobs", *TABLES, "charts", "notes"):
        sheet = book[name]
        assert sheet.page_setup.orientation == "landscape", name
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, name
        assert sheet.page_setup.fitToWidth in (1, None), name  # 1 is the default
        assert sheet.page_setup.fitToHeight == 0, name
    for name in ("jobs", *TABLES, "notes"):
        assert book[name].print_title_rows == "$1:$1", name
    assert len(book["charts"].row_breaks.brk) == 1


def test_cells_read_back_exactly_text_and_numbers(tmp_path: Path) -> None:
    """Markup characters, spaces at the ends, formula-like and Chinese text come back as
    written; numbers are exact; blanks stay blank."""
    records = generate_jobs(4, seed=8)
    texts = ["a & b < c > d", "  spaced  ", '=HYPERLINK("http://x","y")', "镜像 $x$ 失败"]
    for record, text in zip(records, texts, strict=True):
        record.update(status="FAIL", error_code="IMG.0001", fail_reason=text)
    frame = jobs_to_frame(records)
    frame["process_percent"] = [0.1, 1 / 3, None, 2.5e-7]
    book = book_of(frame, tmp_path / "r")
    sheet = book["jobs"]
    header = [cell.value for cell in sheet[1]]
    rows = [dict(zip(header, row, strict=True)) for row in sheet.iter_rows(2, values_only=True)]
    assert [row["fail_reason"] for row in rows] == texts
    assert [row["process_percent"] for row in rows] == [0.1, 1 / 3, None, 2.5e-7]
    assert [row["job_id"] for row in rows] == frame["job_id"].tolist()
    assert all(isinstance(row["is_terminal"], bool) for row in rows)
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_characters_xml_cannot_hold_do_not_break_the_file(tmp_path: Path) -> None:
    """A control character in a reason is written as Excel writes it; the file opens."""
    records = generate_jobs(2, seed=9)
    records[0].update(status="FAIL", error_code="IMG.0001", fail_reason="bell\x07 and _x0041_")
    book = book_of(jobs_to_frame(records), tmp_path / "r")
    header = [cell.value for cell in book["jobs"][1]]
    value = book["jobs"].cell(row=2, column=header.index("fail_reason") + 1).value
    assert value.startswith("bell") and value.endswith("_")
