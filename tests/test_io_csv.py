"""Tests for reading CSVs: ours at any size, and other people's (encodings, separators, gaps)."""

from __future__ import annotations

import csv
import io
import json
import pickle

import pandas as pd
import pytest

from jobtools import entities_of, jobs_to_frame, read_jobs, summary_by_type, write_jobs
from jobtools.io._csv import CsvError

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
