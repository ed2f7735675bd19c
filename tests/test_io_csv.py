"""Tests for reading CSVs: ours at any size, and other people's (encodings, separators, gaps)."""

from __future__ import annotations

import csv
import io
import json
import pickle
from pathlib import Path

import pandas as pd
import pytest

from jobtools import entities_of, jobs_to_frame, read_jobs, summary_by_type, write_jobs
from jobtools.io._csv import CsvError, EncodingGuessWarning
from jobtools.io.files import CorruptInputWarning, NaiveTimeWarning

DATA = Path(__file__).parent / "data"

HEADER = "job_id,status,job_type,begin_time,end_time,fail_reason"
ROWS = [
    "ff8080814dbd65d7014dbe0d84db0013,SUCCESS,imsNativeExportImageJob,"
    "2024-11-06T06:19:43.195Z,2024-11-06T06:29:43.195Z,",
    "ff8080814dbd65d7014dbe0d84db0014,FAIL,imsNativeExportImageJob,"
    '2024-11-06T06:19:43.195Z,2024-11-06T06:20:43.195Z,"镜像导出失败, 配额不足"',
]


def _write(path, text: str) -> object:
    path.write_bytes(text.encode("utf-8"))
    return path


def test_own_csv_with_multi_line_text_reads_back_at_any_size(tmp_path):
    """A CSV of many rows with multi-line reasons (several MB) reads back equal."""
    records = [
        {
            "job_id": f"{i:032x}",
            "status": "FAIL",
            "begin_time": "2024-11-06T06:19:43.195Z",
            "end_time": "2024-11-06T06:29:43.195Z",
            "fail_reason": f'line one of {i}\nline two, with a comma\r\nand "quotes"',
            "entities": {"image_name": f"镜像-{i}"},
        }
        for i in range(40_000)
    ]
    frame = jobs_to_frame(records)
    path = write_jobs(frame, tmp_path / "big.csv")
    assert path.stat().st_size > 7_000_000
    pd.testing.assert_frame_equal(read_jobs(path), frame)


@pytest.mark.parametrize(
    ("encoding", "sep", "written_as"),
    [
        ("utf-8", ",", "utf-8"),
        ("utf-8-sig", ",", "utf-8"),
        ("gb18030", ",", "gb18030"),
        ("gbk", ";", "gb18030"),
        ("utf-8", "\t", "utf-8"),
        ("utf-8-sig", ";", "utf-8"),
    ],
)
def test_other_peoples_csvs_are_detected(tmp_path, encoding, sep, written_as):
    """UTF-8 with or without BOM, GBK/GB18030, and `;` or tab separators are all read."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator="\r\n")  # as Excel writes
    for line in csv.reader([HEADER, *ROWS]):
        writer.writerow(line)
    path = tmp_path / "excel.csv"
    path.write_bytes(out.getvalue().encode(encoding))
    frame = read_jobs(path)
    assert frame["fail_reason"].iloc[1] == "镜像导出失败, 配额不足"
    assert frame["status"].tolist() == ["SUCCESS", "FAIL"]
    assert frame.attrs["csv"]["sep"] == sep
    assert frame.attrs["csv"]["encoding"].replace("-sig", "") == written_as


def test_encoding_and_separator_can_be_given(tmp_path):
    """`encoding=` and `sep=` override the detection."""
    text = "\n".join([HEADER, *ROWS]).replace(",", "|") + "\n"
    path = tmp_path / "pipes.csv"
    path.write_bytes(text.encode("gbk"))
    frame = read_jobs(path, encoding="gbk", sep="|")
    assert frame["fail_reason"].iloc[1] == "镜像导出失败| 配额不足"


def test_missing_columns_are_derived_and_the_analysis_works(tmp_path):
    """duration and is_terminal come from the times and the status; summaries work."""
    path = _write(tmp_path / "few.csv", "\n".join([HEADER, *ROWS]) + "\n")
    frame = read_jobs(path)
    assert frame["duration"].tolist() == [pd.Timedelta(minutes=10), pd.Timedelta(minutes=1)]
    assert frame["duration_s"].tolist() == [600.0, 60.0]
    assert frame["is_terminal"].all()
    assert "duration" in frame.attrs["missing_columns"]
    summary = summary_by_type(frame)
    assert summary["count"].tolist() == [2]


def test_a_csv_without_job_ids_is_refused_by_name(tmp_path):
    """No job_id column: one clear error naming the file and the columns it has."""
    path = _write(tmp_path / "nope.csv", "id,state\nx,SUCCESS\n")
    with pytest.raises(CsvError, match=r"nope\.csv.*no job_id or status column.*id, state"):
        read_jobs(path)


def test_duplicated_column_names_are_an_error(tmp_path):
    """A column named twice is refused, not silently dropped."""
    path = _write(tmp_path / "dup.csv", "job_id,status,status\nx,SUCCESS,FAIL\n")
    with pytest.raises(CsvError, match=r"dup\.csv.*duplicated column name\(s\): status"):
        read_jobs(path)


def test_a_broken_row_names_file_and_line_in_our_words(tmp_path):
    """A row with too many fields: the file and line, and no raw parser message."""
    path = _write(tmp_path / "bad.csv", "\n".join([HEADER, ROWS[0], "a,b,c,d,e,f,g,h"]) + "\n")
    with pytest.raises(CsvError) as caught:
        read_jobs(path)
    message = str(caught.value)
    assert "bad.csv, line 3" in message and "CSV parse error" not in message
    assert pickle.loads(pickle.dumps(caught.value)).line == 3


def test_text_that_is_not_the_encoding_names_the_line(tmp_path):
    """Bytes that are neither UTF-8 nor the given encoding: file and line."""
    path = tmp_path / "latin.csv"
    path.write_bytes(HEADER.encode() + b"\nx,SUCCESS,t,,,caf\xe9\n")
    with pytest.raises(CsvError, match=r"latin\.csv, line 2: not ascii text"):
        read_jobs(path, encoding="ascii")


def test_naive_times_get_the_stated_zone(tmp_path):
    """Times without a zone are UTC unless `tz=` says otherwise; the choice is recorded."""
    text = "job_id,status,begin_time\nx,RUNNING,2024-11-06 14:19:43\n"
    path = _write(tmp_path / "naive.csv", text)
    assert read_jobs(path)["begin_time"][0] == pd.Timestamp("2024-11-06 14:19:43", tz="UTC")
    local = read_jobs(path, tz="Asia/Shanghai")
    assert local["begin_time"][0] == pd.Timestamp("2024-11-06 06:19:43", tz="UTC")
    assert local.attrs["naive_times_tz"] == "Asia/Shanghai"


def test_an_older_csv_gets_its_entity_columns_from_entities(tmp_path):
    """A CSV from before resource_id and entity_error existed, entities whole: both are read."""
    entities = {"server_id": "s1", "sub_jobs": [{"entities": {"errorcode_message": "disk full"}}]}
    whole = json.dumps(entities).replace('"', '""')
    text = f'job_id,status,entities\nj1,FAIL,"{whole}"\n'
    frame = read_jobs(_write(tmp_path / "old.csv", text))
    assert frame.loc[0, "resource_id"] == "s1"
    assert frame.loc[0, "entity_error"] == "disk full"
    assert frame.loc[0, "sub_job_count"] == 1
    assert {"resource_id", "entity_error"} <= set(frame.attrs["missing_columns"])
    assert entities_of(frame)[0] == entities


# --- other people's CSVs: what used to be lost or wrong silently ---------------------------


def _stray_quote_csv(rows: int = 50, bad: int = 4) -> str:
    """A CSV of `rows` jobs whose row `bad` has a reason with an opening quote only."""
    lines = [HEADER]
    for i in range(1, rows + 1):
        reason = f'"reason {i}' if i == bad else f"reason {i}"
        lines.append(
            f"{i:032x},FAIL,imsNativeExportImageJob,2024-11-06T06:19:43.195Z,"
            f"2024-11-06T06:29:43.195Z,{reason}"
        )
    return "\n".join(lines) + "\n"


def test_a_stray_quote_is_an_error_naming_the_line_it_opened(tmp_path):
    """A quote that swallows rows 5-50 into one reason: an error at line 5 (row 4), not 4 rows."""
    path = _write(tmp_path / "stray.csv", _stray_quote_csv())
    with pytest.raises(CsvError, match=r"stray\.csv, line 5: a quote opened here"):
        read_jobs(path)


def test_a_stray_quote_is_skipped_on_request_and_counted(tmp_path):
    """on_bad_lines="skip": the bad line is left out, the 49 others read by their lines."""
    path = _write(tmp_path / "stray.csv", _stray_quote_csv())
    with pytest.warns(CorruptInputWarning, match=r"skipped 1 .*stray\.csv:5"):
        frame = read_jobs(path, on_bad_lines="skip")
    assert len(frame) == 49 and frame["fail_reason"].str.len().max() < 20
    assert frame.attrs["corrupt_lines"][0]["line"] == 5


def test_a_stray_quote_later_closed_by_another_field_is_found(tmp_path):
    """The runaway quote closes on a later quoted reason: still found, at its line."""
    text = _stray_quote_csv(10, bad=3).replace("reason 8", '"closed, here"')
    path = _write(tmp_path / "closed.csv", text)
    with pytest.raises(CsvError, match=r"line 4: a quote"):
        read_jobs(path)


def test_multi_line_reasons_are_not_stray_quotes(tmp_path):
    """Quoted reasons over several lines, one with commas, are ordinary text."""
    text = HEADER + '\nj1,FAIL,t,,,"line one\nline two, with, commas"\nj2,SUCCESS,t,,,\n'
    frame = read_jobs(_write(tmp_path / "ok.csv", text))
    assert frame["fail_reason"][0] == "line one\nline two, with, commas" and len(frame) == 2


@pytest.mark.parametrize(
    ("encoding", "reason"),
    [
        ("cp1252", "Échec de l'exportation : quota dépassé, réessayez à 10 h"),
        ("big5", "映像匯出失敗，配額不足，請聯絡管理員"),
        ("utf-16", "镜像导出失败, 配额不足"),
        ("utf-16-le", "Échec de l'exportation"),
        ("gbk", "镜像导出失败，配额不足"),
    ],
)
def test_other_encodings_are_detected_and_recorded(tmp_path, encoding, reason):
    """cp1252, Big5 and UTF-16 (with or without a BOM) are read as written; attrs say which."""
    text = f'{HEADER}\r\nj1,FAIL,t,,,"{reason}"\r\nj2,SUCCESS,t,,,\r\n'
    path = tmp_path / "excel.csv"
    path.write_bytes(text.encode(encoding))
    frame = read_jobs(path)
    assert frame["fail_reason"][0] == reason
    used = frame.attrs["csv"]["encoding"].replace("_", "-")
    assert used.startswith(encoding.replace("gbk", "gb18030").split("-le")[0])


def test_an_uncertain_guess_warns(tmp_path):
    """Two accented letters of Latin text could be several code pages: said, not silent."""
    path = tmp_path / "short.csv"
    path.write_bytes("job_id,status,fail_reason\nj1,FAIL,\xe9\xe8\n".encode("latin-1"))
    with pytest.warns(EncodingGuessWarning, match=r"short\.csv"):
        read_jobs(path)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (b"\xef\xbb\xbf\r\n", "empty"),
        (b"job_id,status\rj1,SUCCESS\rj2,FAIL\r", "CR alone"),
    ],
)
def test_empty_and_cr_only_files_are_one_clear_error(tmp_path, data, match):
    """An empty file or CR-only line ends: one CsvError naming the file."""
    path = tmp_path / "odd.csv"
    path.write_bytes(data)
    with pytest.raises(CsvError, match=rf"odd\.csv.*{match}"):
        read_jobs(path)


def test_excels_sep_line_is_honoured(tmp_path):
    """`sep=;` on the first line sets the separator and is not a header; lines still count."""
    text = 'sep=;\r\njob_id;status;fail_reason\r\nj1;FAIL;a, b\r\nj2;FAIL;"x\r\nj3;FAIL;y\r\n'
    path = _write(tmp_path / "sep.csv", text)
    with pytest.raises(CsvError, match=r"sep\.csv, line 4"):
        read_jobs(path)
    path = _write(tmp_path / "sep.csv", text.replace('"x', "x"))
    frame = read_jobs(path)
    assert frame["fail_reason"][0] == "a, b" and frame.attrs["csv"]["sep"] == ";"


def test_the_sample_files_in_tests_data_are_read(tmp_path):
    """The small files under tests/data: Excel cp1252 with sep=, and Notepad UTF-16."""
    cp1252 = read_jobs(DATA / "excel_cp1252_sep.csv")
    assert cp1252["fail_reason"][0].startswith("Échec") and cp1252.attrs["csv"]["sep"] == ";"
    utf16 = read_jobs(DATA / "notepad_utf16.csv")
    assert utf16["fail_reason"][1] == "镜像导出失败, 配额不足"


@pytest.mark.parametrize(
    ("times", "zone", "ambiguous", "gap"),
    [
        (["2024-11-03 01:30:00", "2024-11-03 01:45:00"], "America/New_York", 2, 0),
        (["2024-03-31 02:30:00", "2024-03-31 04:00:00"], "Europe/Berlin", 0, 1),
    ],
)
def test_naive_times_in_a_dst_change_keep_their_value(tmp_path, times, zone, ambiguous, gap):
    """The repeated hour is its first occurrence; the skipped hour is NaT with its text kept."""
    rows = "".join(f"j{i},RUNNING,{t}\n" for i, t in enumerate(times))
    path = _write(tmp_path / "dst.csv", "job_id,status,begin_time\n" + rows)
    with pytest.warns(NaiveTimeWarning, match=r"dst\.csv") as caught:
        frame = read_jobs(path, tz=zone)
    assert len(caught) == 1
    assert sum(frame.attrs["dst_times"]["ambiguous"].values()) == ambiguous
    assert sum(frame.attrs["dst_times"]["nonexistent"].values()) == gap
    if ambiguous:
        first = pd.Timestamp(times[0]).tz_localize(zone, ambiguous=True)
        assert frame["begin_time"][0] == first
    if gap:
        assert pd.isna(frame["begin_time"][0])
        assert frame.attrs["unparsed_times"]["begin_time"] == {0: times[0]}
        back = tmp_path / "back.csv"
        write_jobs(frame, back)
        assert times[0] in back.read_text()


def test_a_bad_file_in_a_folder_is_named_or_skipped(tmp_path):
    """One unreadable CSV among good ones: an error naming it, or skipped with on_bad_files."""
    _write(tmp_path / "a.csv", "\n".join([HEADER, *ROWS]) + "\n")
    (tmp_path / "b.csv").write_bytes(b"")
    with pytest.raises(CsvError, match=r"b\.csv"):
        read_jobs(tmp_path)
    with pytest.warns(CorruptInputWarning, match=r"skipped 1 unreadable file.*b\.csv"):
        frame = read_jobs(tmp_path, on_bad_files="skip")
    assert len(frame) == 2 and frame.attrs["skipped_files"][0]["file"].endswith("b.csv")


def test_skip_also_leaves_out_rows_of_the_wrong_width(tmp_path):
    """on_bad_lines="skip": a row with extra fields is left out, named with its line."""
    text = "job_id,status,fail_reason\nj1,FAIL,a\nj2,FAIL,b,extra,more\nj3,SUCCESS,\n"
    path = _write(tmp_path / "wide.csv", text)
    with pytest.raises(CsvError, match=r"wide\.csv, line 3"):
        read_jobs(path)
    with pytest.warns(CorruptInputWarning, match=r"wide\.csv:3 \(expected 3 fields, found 5\)"):
        frame = read_jobs(path, on_bad_lines="skip")
    assert frame["job_id"].tolist() == ["j1", "j3"]


def test_a_multi_line_reason_with_commas_is_not_a_stray_quote(tmp_path):
    """Three columns, a reason whose second line has two commas: ordinary text, read whole."""
    text = 'job_id,status,fail_reason\nj1,FAIL,"disk full\nsee: a, b, c"\nj2,SUCCESS,\n'
    frame = read_jobs(_write(tmp_path / "ok.csv", text))
    assert frame["fail_reason"][0] == "disk full\nsee: a, b, c" and len(frame) == 2
