"""Tests for jobtools.io: reading every input shape, corrupt input, and write/read round trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from conftest import SEED

from jobtools import JOB_COLUMNS, jobs_to_frame, read_jobs, write_jobs
from jobtools.frame import entities_of
from jobtools.io import CorruptInputError, CorruptInputWarning
from jobtools.io.files import frame_to_csv_frame
from jobtools.sample import generate_jobs
from jobtools.schema import COLUMNS, OUTCOMES, WAIT_STATES, categorical

COLUMNS_BY_NAME = {c.name: c for c in COLUMNS}

SAMPLE = Path(__file__).resolve().parent.parent / "jobtools" / "data" / "sample_jobs.jsonl.gz"


# Every test here runs under both JSONL engines (conftest's `jsonl_engine`).
pytestmark = pytest.mark.usefixtures("jsonl_engine")


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return generate_jobs(300, seed=7)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_typed(frame: pd.DataFrame) -> None:
    assert list(frame.columns[: len(JOB_COLUMNS)]) == list(JOB_COLUMNS)
    for column, dtype in JOB_COLUMNS.items():
        assert str(frame[column].dtype) == dtype, column


def test_jsonl_equals_jobs_to_frame(tmp_path, records):
    """Reading a JSONL file gives exactly the frame jobs_to_frame makes from its records."""
    path = write_lines(tmp_path / "jobs.jsonl", [json.dumps(r) for r in records])
    frame = read_jobs(path)
    assert_typed(frame)
    pd.testing.assert_frame_equal(frame, jobs_to_frame(records))
    assert frame.attrs["corrupt_lines"] == []


def test_committed_sample_reads(records):
    """The committed sample loads with no corrupt lines and no unparsed times."""
    frame = read_jobs(SAMPLE)
    assert len(frame) == 2000
    assert frame.attrs["corrupt_lines"] == [] and frame.attrs["unparsed_times"] == {}


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson", ".JSONL"])
def test_line_suffixes(tmp_path, suffix):
    """All JSON-lines extensions are read, whatever their case."""
    path = write_lines(tmp_path / f"jobs{suffix}", [json.dumps(SEED)])
    assert read_jobs(path)["job_id"].tolist() == [SEED["job_id"]]


@pytest.mark.parametrize(
    "content",
    [
        json.dumps(SEED),
        json.dumps([SEED, SEED]),
        json.dumps({"jobs": [SEED, SEED]}),
        json.dumps(SEED, indent=2),
        "\ufeff" + json.dumps([SEED]),
    ],
    ids=["one", "list", "wrapped", "indented", "bom"],
)
def test_json_shapes(tmp_path, content):
    """A .json file may hold one response, a list, or an object wrapping a list."""
    path = tmp_path / "jobs.json"
    path.write_text(content, encoding="utf-8")
    frame = read_jobs(path)
    assert_typed(frame)
    assert set(frame["job_id"]) == {SEED["job_id"]}


def test_directory_of_files(tmp_path, records):
    """A directory's .json/.jsonl/.csv files are read in name order; other files are ignored."""
    write_lines(tmp_path / "a.jsonl", [json.dumps(r) for r in records[:100]])
    (tmp_path / "b.json").write_text(json.dumps(records[100:150]), encoding="utf-8")
    write_jobs(jobs_to_frame(records[150:]), tmp_path / "c.csv")
    (tmp_path / "notes.txt").write_text("not jobs", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    write_lines(tmp_path / "sub" / "d.jsonl", [json.dumps(SEED)])
    frame = read_jobs(tmp_path)
    assert_typed(frame)
    pd.testing.assert_frame_equal(frame, jobs_to_frame(records), check_categorical=False)
    assert isinstance(frame.index, pd.RangeIndex)


def test_directory_keeps_unknown_statuses_and_unparsed_rows(tmp_path):
    """Files with different unknown statuses and bad times concatenate without losing either."""
    write_lines(tmp_path / "a.jsonl", [json.dumps({**SEED, "status": "QUEUED"})])
    write_lines(tmp_path / "b.jsonl", [json.dumps({**SEED, "status": "X", "begin_time": "bad"})])
    frame = read_jobs(tmp_path)
    assert frame["status"].dtype == "category"
    assert frame["status"].tolist() == ["QUEUED", "X"]
    assert frame.attrs["unparsed_times"] == {"begin_time": {1: "bad"}}


def test_corrupt_lines_are_reported_and_skipped(tmp_path):
    """Corrupt lines are skipped with a warning naming file and line, and kept in attrs."""
    lines = [json.dumps(SEED), "{not json", "", json.dumps({**SEED, "job_id": "b"}), '{"a": ']
    path = write_lines(tmp_path / "jobs.jsonl", lines)
    with pytest.warns(CorruptInputWarning, match=r"jobs\.jsonl:2 .*jobs\.jsonl:5"):
        frame = read_jobs(path)
    assert frame["job_id"].tolist() == [SEED["job_id"], "b"]
    problems = frame.attrs["corrupt_lines"]
    assert [(Path(p["file"]).name, p["line"]) for p in problems] == [
        ("jobs.jsonl", 2),
        ("jobs.jsonl", 5),
    ]
    assert all(p["error"] for p in problems)


def test_corrupt_lines_raise_on_request(tmp_path):
    """With errors="raise", a corrupt line raises a ValueError subclass listing it."""
    path = write_lines(tmp_path / "jobs.jsonl", [json.dumps(SEED), "garbage"])
    with pytest.raises(CorruptInputError, match=r"jobs\.jsonl:2") as info:
        read_jobs(path, errors="raise")
    assert isinstance(info.value, ValueError)
    assert info.value.problems[0]["line"] == 2


def test_corrupt_json_file(tmp_path):
    """A .json file that is not JSON is reported with its line and read as no rows."""
    path = tmp_path / "jobs.json"
    path.write_text('[{"job_id": "a"},\n  oops]', encoding="utf-8")
    with pytest.warns(CorruptInputWarning, match=r"jobs\.json:2"):
        frame = read_jobs(path)
    assert len(frame) == 0
    assert_typed(frame)


def test_non_object_lines_are_reported(tmp_path):
    """A JSONL line that is JSON but no job object is a bad line, reported with its number."""
    path = write_lines(tmp_path / "jobs.jsonl", [json.dumps(SEED), "42", '"text"', "[1,2,3]"])
    with pytest.warns(CorruptInputWarning, match=r"jobs\.jsonl:2 \(not a JSON object"):
        frame = read_jobs(path)
    assert len(frame) == 1
    assert [p["line"] for p in frame.attrs["corrupt_lines"]] == [2, 3, 4]


@pytest.mark.parametrize(
    "line",
    [
        {**SEED, "entities": {"image_id": "a{b}c"}},
        {**SEED, "entities": {"sub_jobs": [{"job_id": "s", "entities": {"x": 1}}]}},
        {**SEED, "entities": {"process_percent": "55"}},
        {**SEED, "entities": None},
        {**SEED, "entities": "text"},
        {**SEED, "job_id": 12345},
        {**SEED, "code": "Ecs.0114", "message": None},
        {"extra_first": {"entities": {"no": 1}}, **SEED},
        {k: v for k, v in SEED.items() if k != "entities"},
    ],
    ids=[
        "brace-in-text",
        "nested",
        "text-number",
        "null",
        "string",
        "number-id",
        "unknown",
        "nested-key-first",
        "no-entities",
    ],
)
@pytest.mark.parametrize("dumps", [json.dumps, lambda r: orjson.dumps(r).decode()])
def test_odd_lines_read_like_jobs_to_frame(tmp_path, line, dumps):
    """Whatever a line holds, however spaced, read_jobs agrees with jobs_to_frame on it."""
    records = [SEED, line, SEED]
    path = write_lines(tmp_path / "jobs.jsonl", [dumps(r) for r in records])
    pd.testing.assert_frame_equal(read_jobs(path), jobs_to_frame(records))


def test_crlf_and_blank_lines(tmp_path):
    """Windows line ends and blank lines are fine."""
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(b"\r\n".join([orjson.dumps(SEED), b"", b"  ", orjson.dumps(SEED), b""]))
    assert len(read_jobs(path)) == 2


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("missing.jsonl", FileNotFoundError),
        ("jobs.txt", ValueError),
        ("empty_dir", FileNotFoundError),
    ],
)
def test_bad_paths(tmp_path, path, error):
    """A missing file, an unknown extension or an empty directory is a clear error."""
    (tmp_path / "jobs.txt").write_text("x", encoding="utf-8")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(error):
        read_jobs(tmp_path / path)


def test_errors_argument_is_checked(tmp_path):
    """Only "warn" and "raise" are accepted."""
    with pytest.raises(ValueError, match="errors"):
        read_jobs(SAMPLE, errors="ignore")  # type: ignore[arg-type]


def _with_fetch_columns(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    n = len(frame)
    frame["outcome"] = categorical((["ok", "not_found", "weird"] * n)[:n], OUTCOMES)
    frame["http_status"] = pd.array(([200, 404, None] * n)[:n], dtype="Int64")
    frame["fetch_error_code"] = pd.array(([None, "IMG.0023", ""] * n)[:n], dtype="str")
    frame["fetch_error"] = pd.array(([None, "job not found", None] * n)[:n], dtype="str")
    frame["request_id"] = pd.array((["r1", "r2", None] * n)[:n], dtype="str")
    frame["raw_body"] = pd.array(([None, None, "<html>"] * n)[:n], dtype="str")
    return frame


def _odd_frame(records: list[dict]) -> pd.DataFrame:
    """A frame with every kind of awkward value the writers must carry."""
    odd = [
        {**SEED, "fail_reason": 'quote " comma , newline \n and =SUM(A1)', "error_code": ""},
        {**SEED, "begin_time": "2015-06-04T18:11:06.123456Z", "status": "QUEUED"},
        {**SEED, "begin_time": "32-Jun-2015 10:00:00:000", "x": [1, {"y": None}]},
        {},
        {**SEED, "entities": {"image_name": "镜像-01", "process_percent": 0.1 + 0.2}},
    ]
    return jobs_to_frame(records + odd)


def _with_wait_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns a wait adds, with every state and a missing observation."""
    n = len(frame)
    frame = _with_fetch_columns(frame)
    frame["wait_state"] = categorical((list(WAIT_STATES) * n)[:n], WAIT_STATES)
    observed = pd.Series(pd.to_datetime(1.7e9 + np.arange(n) * 0.001, unit="s", utc=True))
    frame["observed_at"] = observed.astype("datetime64[us, UTC]").where(np.arange(n) % 5 != 4)
    frame["polls"] = np.arange(n, dtype="int64")
    frame["fetch_errors"] = np.arange(n, dtype="int64") % 3
    frame["note"] = pd.array((["mine", None] * n)[:n], dtype="str")  # a column of the caller's
    return frame


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
@pytest.mark.parametrize(
    "columns",
    [lambda f: f, _with_fetch_columns, _with_wait_columns],
    ids=["jobs", "with-fetch-columns", "with-wait-columns"],
)
def test_round_trip(tmp_path, records, suffix, columns):
    """write_jobs then read_jobs gives an equal frame, dtypes and unparsed times included."""
    frame = columns(_odd_frame(records))
    path = write_jobs(frame, tmp_path / f"jobs{suffix}")
    back = read_jobs(path)
    pd.testing.assert_frame_equal(back, frame)
    assert back.attrs["unparsed_times"] == frame.attrs["unparsed_times"]
    for name in back.columns.intersection(list(COLUMNS_BY_NAME)):
        assert str(back[name].dtype) == COLUMNS_BY_NAME[name].dtype, name


@pytest.mark.slow  # 1-2 s on a quiet machine: left out of make test-fast
@pytest.mark.slow  # end to end (or a fuzz): `make test` runs it, `make test-fast` not
@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_round_trip_of_a_real_wait(tmp_path, simulator_server, suffix):
    """A frame a wait returned over loopback (job, fetch, wait columns) comes back equal."""
    from jobtools import Backoff, JobsClient, wait_for

    ids = simulator_server.simulator.add_jobs(8, finish_within=1)
    client = JobsClient(
        endpoint=simulator_server.url,
        project_id=simulator_server.project_id,
        token=simulator_server.token,
    )
    schedule = Backoff(first=0.2, factor=1.5, cap=0.5)
    frame = wait_for([*ids, "0" * 32], client=client, timeout=20, schedule=schedule)
    assert set(frame["wait_state"]) == {"done", "gone"}
    back = read_jobs(write_jobs(frame, tmp_path / f"waited{suffix}"))
    pd.testing.assert_frame_equal(back, frame)


def test_write_does_not_change_the_frame(tmp_path, records):
    """Writing leaves the caller's frame and its dicts untouched."""
    frame = _with_fetch_columns(_odd_frame(records))
    before = frame.copy(deep=True)
    write_jobs(frame, tmp_path / "a.csv")
    write_jobs(frame, tmp_path / "a.jsonl")
    read_jobs(tmp_path / "a.jsonl")
    pd.testing.assert_frame_equal(frame, before)


def test_csv_text_format(tmp_path):
    """Times are ISO 8601 UTC with milliseconds, durations are seconds, entities JSON text."""
    frame = jobs_to_frame([{**SEED, "end_time": "2015-06-04T10:12:00Z"}])
    text = frame_to_csv_frame(frame)
    assert text.loc[0, "begin_time"] == "2015-06-04T10:11:06.586Z"  # legacy: UTC+08:00
    assert text.loc[0, "end_time"] == "2015-06-04T10:12:00.000Z"
    assert text.loc[0, "duration_s"] == pytest.approx(53.414)
    assert "duration" not in text.columns
    # The frame's own column: the image id is in its column, once.
    assert json.loads(text.loc[0, "entities"]) == {}
    write_jobs(frame, tmp_path / "a.csv")
    header, row = (tmp_path / "a.csv").read_text(encoding="utf-8").splitlines()
    assert header.split(",")[:7] == [
        '"job_id"',
        '"job_type"',
        '"status"',
        '"begin_time"',
        '"end_time"',
        '"created_at"',
        '"duration_s"',
    ]
    assert '"2015-06-04T10:11:06.586Z"' in row


def test_jsonl_lines_look_like_api_records(tmp_path):
    """Written JSONL holds API-shaped records, end_time "" while a job has not ended."""
    frame = jobs_to_frame([SEED])
    write_jobs(frame, tmp_path / "a.jsonl")
    record = json.loads((tmp_path / "a.jsonl").read_text(encoding="utf-8"))
    assert record["begin_time"] == "2015-06-04T10:11:06.586Z"
    assert record["end_time"] == ""
    assert record["entities"] == SEED["entities"]
    assert "_jobtools" not in record and "duration" not in record


def test_excel_csv(tmp_path):
    """excel=True adds a UTF-8 BOM and neutralises formula-like text."""
    frame = jobs_to_frame([{**SEED, "fail_reason": "=HYPERLINK(1)", "job_type": "-x"}])
    write_jobs(frame, tmp_path / "a.csv", excel=True)
    raw = (tmp_path / "a.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert '"\'=HYPERLINK(1)"' in raw.decode("utf-8-sig")
    assert '"\'-x"' in raw.decode("utf-8-sig")


def test_write_jobs_to_xlsx_says_where_a_workbook_comes_from(tmp_path):
    with pytest.raises(ValueError, match=r"write_report\(frame, folder, xlsx=True\)"):
        write_jobs(jobs_to_frame([SEED]), tmp_path / "jobs.xlsx")


@pytest.mark.parametrize("name", ["a.txt", "a.json"])
def test_write_rejects_unknown_formats(tmp_path, name):
    """Only CSV, JSONL and Parquet are written."""
    with pytest.raises(ValueError, match="cannot write"):
        write_jobs(jobs_to_frame([SEED]), tmp_path / name)


@pytest.mark.parametrize(
    "entities",
    [
        {"sub_jobs_result": [{"job_id": 5}]},
        {"sub_jobs_result": [{"job_id": "j2", "undocumented": {"a": [1]}}]},
        {"sub_jobs": [{"entities": {"image_id": 7, "server_id": "s1"}}]},
        {"results": [{"status": {"a": 1}}]},
        {"results": [], "sub_jobs_result": None, "sub_jobs": [{}]},
    ],
    ids=["number-in-sub-job", "undocumented-field", "ecs-sub-job", "odd-result", "empty"],
)
def test_nested_lists_of_any_shape(tmp_path, entities):
    """Sub-jobs and member results of any shape read as jobs_to_frame reads them, none lost."""
    records = [{**SEED, "entities": entities}, SEED]
    path = write_lines(tmp_path / "jobs.jsonl", [json.dumps(r) for r in records])
    frame = read_jobs(path)
    pd.testing.assert_frame_equal(frame, jobs_to_frame(records))
    assert frame.attrs["corrupt_lines"] == []


@pytest.mark.parametrize(
    ("content", "rows"),
    [
        (b"", 0),
        (b"\n\n", 0),
        (orjson.dumps(SEED), 1),
        (b"\xef\xbb\xbf" + orjson.dumps(SEED) + b"\n", 1),
    ],
    ids=["empty", "blank", "no-final-newline", "bom"],
)
def test_jsonl_edges(tmp_path, content, rows):
    """Empty files, blank lines, a missing final newline and a UTF-8 BOM all read cleanly."""
    path = tmp_path / "jobs.jsonl"
    path.write_bytes(content)
    frame = read_jobs(path)
    assert_typed(frame)
    assert len(frame) == rows
    assert entities_of(frame).tolist() == [SEED["entities"]] * rows


def test_read_jobs_takes_the_legacy_zone(tmp_path):
    """read_jobs decides the legacy zone from the ids, or takes `legacy_tz=`, like jobs_to_frame."""
    path = write_lines(tmp_path / "seed.jsonl", [json.dumps(SEED)])
    decided = read_jobs(path)
    assert decided.attrs["legacy_tz"]["offset"] == "+08:00"
    assert decided["begin_time"][0] == pd.Timestamp("2015-06-04 10:11:06.586", tz="UTC")
    told = read_jobs(path, legacy_tz="UTC")
    assert told["begin_time"][0] == pd.Timestamp("2015-06-04 18:11:06.586", tz="UTC")


def test_every_column_of_a_read_frame_takes_a_value_set_in_it(tmp_path, records):
    """The frame keeps its columns without a copy: none may be a read-only view (a user's
    `frame.loc[...] = ...` would fail), whatever the percents, statuses or times hold."""
    whole = [{**r, "entities": {"process_percent": 0.5}} for r in records[:5]]  # no nulls
    path = write_lines(tmp_path / "jobs.jsonl", [json.dumps(r) for r in [*whole, *records]])
    for frame in (read_jobs(path), jobs_to_frame(records), read_jobs(path).head(5)):
        for at, name in enumerate(frame.columns):
            frame.iloc[0, at] = frame.iloc[1, at]  # raises on a read-only column
            assert pd.isna(frame.iloc[0, at]) or frame.iloc[0, at] == frame.iloc[1, at], name
