from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from jobtools import __version__, failure_groups, jobs_to_frame
from jobtools.analysis.failures import FAILURE_GROUP_COLUMNS
from jobtools.analysis.summary import RATE_COLUMNS, SUMMARY_COLUMNS
from jobtools.io import read_jobs
from jobtools.report import FINDINGS_FILE, FINDINGS_PLOT, REPORT_FILES, XLSX_FILE, write_report
from jobtools.sample import generate_jobs
from jobtools.schema import OUTCOMES, categorical
from jobtools.simulator import SCENARIOS, ManualClock, Simulator

NOW = "2024-11-06T12:00:00Z"
BOM = b"\xef\xbb\xbf"
CSV_FILES = ("jobs.csv", "failures.csv", "summary.csv", "rates.csv")
# Text that Excel would run as a formula, and the same text once neutralised.
RISKY = {
    '=HYPERLINK("http://x","y")': "'=HYPERLINK",
    "+1+cmd|' /C calc'!A0": "'+1+cmd",
    "-2+3": "'-2+3",
    "@SUM(A1)": "'@SUM(A1)",
    "\tTAB": "'\tTAB",
    "\rCR": "'\rCR",
}


def failing(job_id: str, reason: str) -> dict:
    return {
        "job_id": job_id,
        "job_type": "imsImportImageJob",
        "status": "FAIL",
        "begin_time": "2024-11-05T10:00:00Z",
        "end_time": "2024-11-05T10:01:00Z",
        "error_code": "IMG.0106",
        "fail_reason": reason,
    }


@pytest.fixture(scope="module")
def jobs() -> pd.DataFrame:
    return jobs_to_frame(generate_jobs(300, seed=3))


def write(frame: pd.DataFrame, folder: Path, **options: object) -> Path:
    """write_report with the fixed clock these tests use."""
    return write_report(frame, folder, now=NOW, **options)


@pytest.mark.slow  # 1-2 s on a quiet machine: left out of make test-fast
def test_report_writes_every_file(tmp_path: Path, jobs: pd.DataFrame) -> None:
    """All report files are written: CSV tables, PNG plots and the manifest."""
    out = write(jobs, tmp_path / "report")
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)
    for name in REPORT_FILES:
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_jobs_csv_reads_back_to_an_equal_frame(tmp_path: Path, jobs: pd.DataFrame) -> None:
    """read_jobs gives back the frame that was reported, dtypes included."""
    out = write(jobs, tmp_path / "report", plot=False)
    pd.testing.assert_frame_equal(read_jobs(out / "jobs.csv"), jobs, check_like=False)


def test_tables_have_stable_columns_iso_times_and_seconds(
    tmp_path: Path, jobs: pd.DataFrame
) -> None:
    """Columns come in the documented order; times are ISO 8601 UTC; durations seconds."""
    out = write(jobs, tmp_path / "report", plot=False, period="1W")
    failures = pd.read_csv(out / "failures.csv", dtype=str)
    summary = pd.read_csv(out / "summary.csv")
    rates = pd.read_csv(out / "rates.csv", dtype={"period_start": str})
    assert tuple(failures.columns) == FAILURE_GROUP_COLUMNS
    assert tuple(summary.columns) == SUMMARY_COLUMNS
    assert tuple(rates.columns) == ("period_start", *RATE_COLUMNS)
    iso_utc = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(\d{3})?Z$"  # as in jobs.csv
    for times in (failures["first_begun"], failures["last_ended"], rates["period_start"]):
        assert times.str.match(iso_utc).all(), times.head().tolist()
    assert summary["p50_s"].dtype == "float64"
    assert summary["count"].sum() == len(jobs)


@pytest.mark.slow  # 1-2 s on a quiet machine: left out of make test-fast
def test_manifest_says_how_the_report_was_made(tmp_path: Path, jobs: pd.DataFrame) -> None:
    """The manifest records inputs, filters, window, version, counts and files."""
    out = write(
        jobs,
        tmp_path / "report",
        inputs=["data/sample_jobs.jsonl"],
        filters={"since": pd.Timestamp("2024-10-01", tz="UTC")},
    )
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["created_at"] == "2024-11-06T12:00:00.000Z"
    assert manifest["jobtools_version"] == __version__
    assert manifest["inputs"] == ["data/sample_jobs.jsonl"]
    assert manifest["filters"] == {"since": "2024-10-01T00:00:00.000Z"}
    assert manifest["time_window"]["first_begin"].startswith("2024-10")
    assert manifest["rows"]["jobs.csv"] == len(jobs)
    assert manifest["rows"]["failures.csv"] == len(failure_groups(jobs))
    assert sum(manifest["status_counts"].values()) == len(jobs)
    assert set(manifest["time_quality"]) >= {"terminal_without_end", "begin_in_future"}
    assert manifest["fetch_errors"] is None  # not a fetched frame
    assert sorted(manifest["files"]) == sorted(REPORT_FILES)
    assert manifest["period"] == "1D" and manifest["excel"] is False


def test_manifest_lists_fetch_errors(tmp_path: Path) -> None:
    """For a fetched frame, failed fetches are counted by outcome and listed."""
    frame = jobs_to_frame([failing("a", "x"), {"job_id": "b"}, {"job_id": "c"}])
    frame["outcome"] = categorical(["ok", "not_found", "throttled"], OUTCOMES)
    frame["http_status"] = pd.array([200, 404, 429], dtype="Int64")
    frame["fetch_error_code"] = pd.Series([None, "IMG.0023", "APIGW.0308"], dtype="str")
    frame["fetch_error"] = pd.Series([None, "no such job", "slow down"], dtype="str")
    out = write(frame, tmp_path / "report", plot=False)
    errors = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["fetch_errors"]
    assert errors["count"] == 2
    assert errors["by_outcome"] == {"not_found": 1, "throttled": 1}
    assert errors["jobs"][0] == {
        "job_id": "b",
        "outcome": "not_found",
        "http_status": 404,
        "fetch_error_code": "IMG.0023",
        "fetch_error": "no such job",
    }


def test_excel_writes_a_bom_and_neutralises_formulas(tmp_path: Path) -> None:
    """excel=True: every CSV starts with a BOM, and formula-like text gets a leading quote."""
    records = [failing(f"j{i}", text) for i, text in enumerate(RISKY)]
    records.append(failing("zh", "导出镜像到桶 a-1 失败：没有写权限"))
    records.append(failing("fine", "a=b is fine"))
    out = write(jobs_to_frame(records), tmp_path / "report", excel=True, plot=False)
    for name in CSV_FILES:
        assert (out / name).read_bytes().startswith(BOM), name
    data = (out / "jobs.csv").read_bytes()
    for raw, safe in RISKY.items():
        assert safe.encode() in data
        assert f'"{raw}'.encode() not in data
    assert "导出镜像到桶 a-1 失败".encode() in data
    assert b'"a=b is fine"' in data
    assert b"'a=b" not in data
    # The templates in failures.csv come from the same text, and are neutralised too.
    assert b'\'=HYPERLINK(""<str>""' in (out / "failures.csv").read_bytes()


def test_without_excel_text_is_written_as_it_came(tmp_path: Path) -> None:
    """excel=False: no BOM and no quotes added, so the CSV reads back exactly."""
    frame = jobs_to_frame([failing("j", "=1+1")])
    out = write(frame, tmp_path / "report", plot=False)
    data = (out / "jobs.csv").read_bytes()
    assert not data.startswith(BOM)
    assert b'"=1+1"' in data
    assert read_jobs(out / "jobs.csv")["fail_reason"].tolist() == ["=1+1"]


def test_a_non_empty_folder_is_refused_without_overwrite(tmp_path: Path) -> None:
    """An existing report is not overwritten unless asked; other files survive an overwrite."""
    frame = jobs_to_frame([failing("j", "x")])
    out = tmp_path / "report"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty.*overwrite=True"):
        write(frame, out, plot=False)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    write(frame, out, plot=False, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "jobs.csv").exists()


def test_an_empty_existing_folder_is_fine_and_a_file_is_not(tmp_path: Path) -> None:
    """An empty folder is used as it is; a path that is a file is refused."""
    frame = jobs_to_frame([failing("j", "x")])
    (tmp_path / "empty").mkdir()
    write(frame, tmp_path / "empty", plot=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        write(frame, tmp_path / "file", plot=False)


def test_a_bad_period_writes_nothing(tmp_path: Path) -> None:
    """Errors found while computing leave no half-written folder behind."""
    with pytest.raises(ValueError, match="not a period"):
        write(jobs_to_frame([failing("j", "x")]), tmp_path / "report", period="often")
    assert not (tmp_path / "report").exists()


def test_an_empty_frame_gives_an_empty_report(tmp_path: Path) -> None:
    """No jobs still give every file, with headers and empty plots."""
    out = write(jobs_to_frame([]), tmp_path / "report")
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)
    assert pd.read_csv(out / "failures.csv").empty
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["rows"]["jobs.csv"] == 0
    assert manifest["time_window"]["first_begin"] is None


# --- the workbook and the report's time zone ------------------------------------------


def chinese_failures() -> pd.DataFrame:
    """Jobs with Chinese and formula-like reasons, ending on both sides of Beijing midnight."""
    records = [
        failing("a" * 32, "镜像文件格式不支持，请检查后重试"),
        failing("b" * 32, '=HYPERLINK("http://x","y")'),
        {**failing("c" * 32, "x"), "status": "SUCCESS", "error_code": None, "fail_reason": None},
    ]
    # 15:30 UTC is 23:30 in Beijing, 16:30 UTC is 00:30 the next day there (rates count a
    # job in the period it began in).
    records[0].update(begin_time="2024-11-05T15:29:00Z", end_time="2024-11-05T15:30:00Z")
    records[1].update(begin_time="2024-11-05T16:29:00Z", end_time="2024-11-05T16:30:00Z")
    return jobs_to_frame(records)


@pytest.fixture(scope="module")
def workbook(tmp_path_factory: pytest.TempPathFactory, jobs: pd.DataFrame) -> Any:
    """The report workbook of the generated jobs plus the Chinese ones, in Beijing time."""
    import openpyxl

    frame = pd.concat([jobs, chinese_failures()], ignore_index=True)
    frame.attrs = {}
    out = write(frame, tmp_path_factory.mktemp("xlsx") / "report", xlsx=True, tz="Asia/Shanghai")
    return frame, out, openpyxl.load_workbook(out / XLSX_FILE)


@pytest.mark.slow  # 1-2 s on a quiet machine: left out of make test-fast
def test_workbook_has_the_sheets_one_row_per_job_and_no_formulas(workbook: Any) -> None:
    """Every sheet is there, jobs has one row per job, and no cell anywhere is a formula."""
    frame, out, book = workbook
    assert book.sheetnames == [
        "findings",
        "jobs",
        "failure groups",
        "summary by type",
        "rates over time",
        "fetch errors",
        "charts",
        "notes",
    ]
    jobs_sheet = book["jobs"]
    assert jobs_sheet.max_row == len(frame) + 1
    ids = [row[0] for row in jobs_sheet.iter_rows(min_row=2, values_only=True)]
    assert ids == frame["job_id"].tolist()
    for sheet in book.worksheets:
        assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row), sheet
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert XLSX_FILE in manifest["files"]
    assert manifest["time_zone"] == "Asia/Shanghai"


def test_workbook_cells_are_typed_and_text_is_kept(workbook: Any) -> None:
    """Times are dates in Beijing time, durations and shares are numbers, Chinese is intact."""
    frame, _, book = workbook
    sheet = book["jobs"]
    header = [cell.value for cell in sheet[1]]
    assert "begin_time (Asia/Shanghai)" in header and "end_time (Asia/Shanghai)" in header
    rows = {
        row[0]: dict(zip(header, row, strict=True))
        for row in sheet.iter_rows(min_row=2, values_only=True)
    }
    chinese = rows["a" * 32]
    assert chinese["fail_reason"] == "镜像文件格式不支持，请检查后重试"
    assert chinese["end_time (Asia/Shanghai)"] == datetime(2024, 11, 5, 23, 30)
    assert rows["b" * 32]["fail_reason"] == '=HYPERLINK("http://x","y")'  # text, not a formula
    col = {name: i + 1 for i, name in enumerate(header)}
    first = sheet.cell(row=2, column=col["begin_time (Asia/Shanghai)"])
    assert first.is_date and first.number_format.startswith("yyyy-mm-dd")
    assert sheet.cell(row=2, column=col["duration"]).number_format == "[h]:mm:ss.000"
    assert isinstance(sheet.cell(row=2, column=col["is_terminal"]).value, bool)
    groups = book["failure groups"]
    share = [c for c in groups[1] if c.value == "share"][0].column
    assert groups.cell(row=2, column=share).number_format == "0.0%"
    assert isinstance(groups.cell(row=2, column=share).value, float)


def test_workbook_sheets_have_frozen_headers_filters_widths_charts_and_notes(
    workbook: Any,
) -> None:
    """Each table has a frozen header, an autofilter and widths; charts; notes name the zone."""
    _, _, book = workbook
    for name in ("jobs", "failure groups", "summary by type", "rates over time"):
        sheet = book[name]
        assert sheet.freeze_panes == "A2", name
        assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith("A1:"), name
        assert sheet.column_dimensions["A"].width >= 8, name
    assert len(book["charts"]._charts) == 2
    notes = {row[0]: row[1] for row in book["notes"].iter_rows(min_row=2, values_only=True)}
    assert notes["time zone"] == "Asia/Shanghai"
    assert "Asia/Shanghai" in notes["times"]


def test_rates_of_a_report_start_at_local_midnight(tmp_path: Path) -> None:
    """With tz, a day is local: 23:30 and 00:30 Beijing time are two days, each with its offset."""
    frame = chinese_failures()
    out = write(frame, tmp_path / "report", tz="Asia/Shanghai", plot=False)
    rates = (out / "rates.csv").read_text(encoding="utf-8").splitlines()
    assert rates[1].startswith('"2024-11-05T00:00:00.000+08:00"')
    assert rates[2].startswith('"2024-11-06T00:00:00.000+08:00"')
    back = read_jobs(out / "jobs.csv")
    pd.testing.assert_series_equal(back["end_time"], frame["end_time"])  # the same moments
    assert "+08:00" in (out / "jobs.csv").read_text(encoding="utf-8")
    utc = write(frame, tmp_path / "utc", plot=False)
    assert (
        (utc / "rates.csv")
        .read_text(encoding="utf-8")
        .splitlines()[1]
        .startswith('"2024-11-05T00:00:00.000Z"')
    )


def test_a_bad_zone_or_nothing_to_write_is_refused_before_any_file(tmp_path: Path) -> None:
    """An unknown zone, or csv=False without xlsx, is a ValueError and leaves no files."""
    with pytest.raises(ValueError, match="not a time zone"):
        write(chinese_failures(), tmp_path / "a", tz="Mars/Olympus")
    with pytest.raises(ValueError, match="nothing to write"):
        write(chinese_failures(), tmp_path / "b", csv=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_workbook_only_has_no_csv(tmp_path: Path) -> None:
    """csv=False with xlsx=True writes the workbook instead of the CSVs."""
    out = write(chinese_failures(), tmp_path / "r", csv=False, xlsx=True, plot=False)
    assert sorted(p.name for p in out.iterdir()) == [FINDINGS_FILE, "manifest.json", XLSX_FILE]


# --- findings ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """The report (with the workbook) of the `regression` scenario, once all its jobs ended."""
    import openpyxl

    clock = ManualClock(1_700_000_000.0)
    sim = Simulator(clock=clock, finish_within=30)
    ids = sim.add_scenario("regression")
    clock.advance(31)
    frame = jobs_to_frame([sim.record(i) for i in ids])
    out = write(
        frame, tmp_path_factory.mktemp("findings") / "report", xlsx=True, tz="Asia/Shanghai"
    )
    return out, openpyxl.load_workbook(out / XLSX_FILE)


@pytest.mark.slow  # 1-2 s on a quiet machine: left out of make test-fast
def test_findings_md_says_what_changed_in_words_and_tables(regression: Any) -> None:
    """findings.md names the new reason, in English then Chinese, with the two tables."""
    out, _ = regression
    text = (out / FINDINGS_FILE).read_text(encoding="utf-8")
    code = SCENARIOS["regression"].changes[0].error_code
    english, chinese = text.split("## 中文")
    assert code in english and "Beijing" in english
    assert code in chinese and "北京时间" in chinese
    assert english.count("\n|") >= 4  # a header, a rule and a row, for changes and drivers
    assert (out / FINDINGS_PLOT).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_manifest_records_the_findings_method_and_its_parameters(regression: Any) -> None:
    """The manifest keeps the method, its parameters and the headline of findings.md."""
    out, _ = regression
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    found = manifest["findings"]
    assert found["changes"] == 1
    assert SCENARIOS["regression"].changes[0].error_code in found["headline"]
    assert found["method"]["clock"] == "begin_time"
    assert {"alpha", "min_jobs", "permutations", "seed"} <= set(found["method"])
    assert FINDINGS_FILE in manifest["files"] and FINDINGS_PLOT in manifest["files"]


def test_workbook_opens_on_the_findings(regression: Any) -> None:
    """The first sheet holds the sentences, then the changes with times in the report's zone."""
    _, book = regression
    sheet = book.worksheets[0]
    assert sheet.title == "findings"
    cells = [row[0] for row in sheet.iter_rows(values_only=True)]
    assert "IMG.0188" in cells[0] and "Beijing" in cells[0]
    header = [c.value for c in sheet[cells.index("changes") + 2]]
    assert "at (Asia/Shanghai)" in header
    moment = sheet.cell(
        row=cells.index("changes") + 3, column=header.index("at (Asia/Shanghai)") + 1
    )
    assert moment.is_date
    assert "drivers" in cells
