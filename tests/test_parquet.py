"""Tests for jobtools.io.parquet: Parquet files and day-partitioned archives, read back equal."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SEED

from jobtools import jobs_to_frame, read_jobs, write_jobs
from jobtools.io import CorruptInputWarning
from jobtools.io.parquet import (
    ARCHIVE_MARKER,
    BadFileError,
    archive_files,
    is_archive,
    read_archive,
)
from jobtools.sample import generate_jobs
from jobtools.schema import OUTCOMES, WAIT_COLUMNS, WAIT_STATES, categorical


def job_frame(n: int = 200, seed: int = 3) -> pd.DataFrame:
    """Sample jobs plus the awkward ones: unknown status, bad time, no record, extra fields."""
    odd = [
        {**SEED, "fail_reason": 'quote " comma , newline \n', "error_code": ""},
        {**SEED, "begin_time": "2015-06-04T18:11:06.123456Z", "status": "QUEUED"},
        {**SEED, "begin_time": "32-Jun-2015 10:00:00:000", "x": [1, {"y": None}]},
        {},
        "not a record",
        {**SEED, "entities": {"image_name": "镜像-01", "process_percent": 0.1 + 0.2}},
    ]
    return jobs_to_frame(generate_jobs(n, seed=seed) + odd)


def with_fetch_columns(frame: pd.DataFrame) -> pd.DataFrame:
    n = len(frame)
    return frame.assign(
        outcome=categorical((["ok", "not_found", "weird"] * n)[:n], OUTCOMES),
        http_status=pd.array(([200, 404, None] * n)[:n], dtype="Int64"),
        fetch_error_code=pd.array(([None, "IMG.0023", ""] * n)[:n], dtype="str"),
        fetch_error=pd.array(([None, "job not found", None] * n)[:n], dtype="str"),
        request_id=pd.array((["r1", "r2", None] * n)[:n], dtype="str"),
        raw_body=pd.array(([None, None, "<html>"] * n)[:n], dtype="str"),
    )


def with_wait_columns(frame: pd.DataFrame) -> pd.DataFrame:
    n = len(frame)
    observed = pd.Series(pd.date_range("2024-11-06", periods=n, freq="s", tz="UTC"))
    states = categorical((["done", "timed_out", "weird"] * n)[:n], WAIT_STATES)
    return frame.assign(
        wait_state=states,
        observed_at=observed.astype(WAIT_COLUMNS["observed_at"]).to_numpy(),
        polls=pd.array(range(n), dtype=WAIT_COLUMNS["polls"]),
        fetch_errors=pd.array([i % 2 for i in range(n)], dtype=WAIT_COLUMNS["fetch_errors"]),
    )


FRAMES = {
    "jobs": job_frame,
    "with-fetch-columns": lambda: with_fetch_columns(job_frame()),
    "with-fetch-and-wait-columns": lambda: with_wait_columns(with_fetch_columns(job_frame())),
    "empty": lambda: jobs_to_frame([]),
}


@pytest.mark.parametrize("make", FRAMES.values(), ids=FRAMES.keys())
def test_parquet_round_trip(tmp_path, make):
    """write_jobs then read_jobs of a .parquet file gives an equal frame, dtypes included."""
    frame = make()
    path = write_jobs(frame, tmp_path / "jobs.parquet")
    back = read_jobs(path)
    pd.testing.assert_frame_equal(back, frame)
    assert back.attrs["unparsed_times"] == frame.attrs["unparsed_times"]


@pytest.mark.parametrize("make", FRAMES.values(), ids=FRAMES.keys())
def test_archive_round_trip(tmp_path, make):
    """A frame written to a day-partitioned archive reads back equal, rows in their order."""
    frame = make()
    folder = write_jobs(frame, tmp_path / "archive", partition_by="day")
    assert is_archive(folder)
    back = read_jobs(folder)
    pd.testing.assert_frame_equal(back, frame)
    assert back.attrs["unparsed_times"] == frame.attrs["unparsed_times"]


def test_archive_is_partitioned_by_day(tmp_path):
    """One directory per UTC begin day; rows without a begin time are filed as unknown."""
    frame = job_frame()
    write_jobs(frame, tmp_path / "archive", partition_by="day")
    days = {path.parent.name for path in archive_files(tmp_path / "archive")}
    expected = set("day=" + frame["begin_time"].dropna().dt.strftime("%Y-%m-%d"))
    assert days == expected | {"day=unknown"}


def test_archive_day_comes_from_created_at_first(tmp_path):
    """Where the frame has created_at, a job is filed under its creation day."""
    frame = jobs_to_frame([SEED, {**SEED, "begin_time": None}])
    frame["created_at"] = pd.Series(pd.to_datetime(["2015-06-03", None], utc=True)).astype(
        "datetime64[us, UTC]"
    )
    write_jobs(frame, tmp_path / "archive", partition_by="day")
    days = sorted(path.parent.name for path in archive_files(tmp_path / "archive"))
    assert days == ["day=2015-06-03", "day=unknown"]


def test_archive_appends_without_rewriting(tmp_path):
    """A second write adds files and leaves the first write's files byte for byte as they were."""
    # The second frame without the odd rows both have: rows already there are not added.
    first, second = job_frame(120, seed=1), jobs_to_frame(generate_jobs(80, seed=2))
    folder = tmp_path / "archive"
    write_jobs(first, folder, partition_by="day")
    before = {path: path.read_bytes() for path in archive_files(folder)}
    write_jobs(second, folder, partition_by="day")
    after = archive_files(folder)
    assert set(before) < set(after)
    assert all(path.read_bytes() == data for path, data in before.items())
    back = read_archive(folder)
    expected = read_jobs_concat(first, second)
    pd.testing.assert_frame_equal(back, expected)
    assert back.attrs["unparsed_times"] == expected.attrs["unparsed_times"]


def read_jobs_concat(*frames: pd.DataFrame) -> pd.DataFrame:
    """What two frames written one after the other are, as one frame."""
    from jobtools.io.parquet import concat_frames

    return concat_frames(list(frames))


def test_archive_reads_only_some_columns(tmp_path):
    """read_archive(columns=...) reads just those columns, in the order written."""
    frame = job_frame()
    write_jobs(frame, tmp_path / "archive", partition_by="day")
    back = read_archive(tmp_path / "archive", columns=["job_id", "status"])
    pd.testing.assert_frame_equal(back, frame[["job_id", "status"]])


@pytest.mark.parametrize(
    ("setup", "kwargs", "match"),
    [
        ("none", {"partition_by": "month"}, "partition_by"),
        ("other-files", {"partition_by": "day"}, "not a jobtools archive"),
    ],
)
def test_archive_refuses(tmp_path, setup, kwargs, match):
    """An unknown partitioning, or a directory that holds other files, is a clear error."""
    folder = tmp_path / "archive"
    if setup == "other-files":
        folder.mkdir()
        (folder / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=match):
        write_jobs(job_frame(10), folder, **kwargs)
    assert not (folder / ARCHIVE_MARKER).exists()


def test_not_parquet_is_a_clear_error(tmp_path):
    """A .parquet file that is not Parquet names the file."""
    path = tmp_path / "bad.parquet"
    path.write_text("hello")
    with pytest.raises(ValueError, match="bad.parquet"):
        read_jobs(path)


# --- other people's Parquet, and archives that meet the world ------------------------------


def _two_jobtools_files(tmp_path):
    """Two files written by write_jobs whose job types and error codes differ."""
    first = jobs_to_frame([{**SEED, "job_id": "a1", "job_type": "typeA", "error_code": "E.1"}])
    second = jobs_to_frame(
        [{**SEED, "job_id": f"b{i}", "job_type": "typeB", "error_code": "E.2"} for i in range(3)]
    )
    return write_jobs(first, tmp_path / "a.parquet"), write_jobs(second, tmp_path / "b.parquet")


def test_a_file_merged_with_concat_tables_keeps_every_value(tmp_path):
    """pa.concat_tables of two files keeps the first one's category list: values still read."""
    a, b = _two_jobtools_files(tmp_path)
    merged = pa.concat_tables([pq.read_table(a), pq.read_table(b)], promote_options="permissive")
    pq.write_table(merged, tmp_path / "merged.parquet")
    frame = read_jobs(tmp_path / "merged.parquet")
    assert frame["job_type"].tolist() == ["typeA"] + ["typeB"] * 3
    assert frame["error_code"].tolist() == ["E.1"] + ["E.2"] * 3


def test_crafted_category_metadata_decides_no_value(tmp_path):
    """Metadata naming only some statuses: the others are read, not turned into NaN."""
    frame = jobs_to_frame(generate_jobs(60, seed=4))
    table = pq.read_table(write_jobs(frame, tmp_path / "jobs.parquet"))
    ours = json.loads(table.schema.metadata[b"jobtools"])
    ours["categories"]["status"] = ["SUCCESS"]
    ours["categories"]["job_type"] = []
    crafted = table.replace_schema_metadata(
        {**table.schema.metadata, b"jobtools": json.dumps(ours).encode()}
    )
    pq.write_table(crafted, tmp_path / "crafted.parquet")
    back = read_jobs(tmp_path / "crafted.parquet")
    assert back["status"].astype("str").tolist() == frame["status"].astype("str").tolist()
    assert list(back["status"].cat.categories[:4]) == ["INIT", "RUNNING", "SUCCESS", "FAIL"]
    assert back["job_type"].notna().sum() == frame["job_type"].notna().sum()


def _foreign_frame() -> pd.DataFrame:
    """Jobs as another tool holds them: plain text, naive times, no derived columns."""
    return pd.DataFrame(
        {
            "job_id": ["ff8080814dbd65d7014dbe0d84db0013", "ff8080814dbd65d7014dbe0d84db0014"],
            "status": ["SUCCESS", "FAIL"],
            "job_type": ["imsNativeExportImageJob"] * 2,
            "begin_time": pd.to_datetime(["2024-11-06 06:19:43", "2024-11-06 06:20:00"]),
            "end_time": pd.to_datetime(["2024-11-06 06:29:43", "2024-11-06 06:21:00"]),
            "fail_reason": [None, "disk full"],
        }
    )


@pytest.mark.parametrize("writer", ["pandas", "spark"])
def test_foreign_parquet_is_brought_into_the_contract(tmp_path, writer):
    """pandas' to_parquet and Spark's int96 times: contract dtypes, derived columns, named gaps."""
    path = tmp_path / f"{writer}.parquet"
    if writer == "pandas":
        _foreign_frame().to_parquet(path)
    else:
        table = pa.Table.from_pandas(_foreign_frame(), preserve_index=False)
        pq.write_table(
            table.replace_schema_metadata(None), path, use_deprecated_int96_timestamps=True
        )
    frame = read_jobs(path)
    assert isinstance(frame["status"].dtype, pd.CategoricalDtype)
    assert "error_code" in frame.columns and "error_code" in frame.attrs["missing_columns"]
    assert str(frame["begin_time"].dtype) == "datetime64[us, UTC]"
    assert frame["begin_time"][0] == pd.Timestamp("2024-11-06 06:19:43", tz="UTC")
    assert frame["duration"][1] == pd.Timedelta(minutes=1)
    assert frame["is_terminal"].all()


def test_an_unknown_archive_version_is_refused(tmp_path):
    """A marker of a later layout is refused by name, for reading and for writing."""
    folder = write_jobs(job_frame(20), tmp_path / "archive", partition_by="day")
    (folder / ARCHIVE_MARKER).write_text(
        json.dumps({"format": "jobtools-archive", "version": 2, "partition_by": "day"})
    )
    with pytest.raises(ValueError, match="archive version 2"):
        read_jobs(folder)
    with pytest.raises(ValueError, match="archive version 2"):
        write_jobs(job_frame(5), folder, partition_by="day")


@pytest.mark.parametrize("bad", ["foreign", "drifted", "damaged"])
def test_a_bad_part_file_is_named_or_skipped(tmp_path, bad):
    """One foreign, drifted or damaged part: an error naming it, or the rest with skip."""
    frame = jobs_to_frame(generate_jobs(30, seed=6))
    folder = write_jobs(frame, tmp_path / "archive", partition_by="day")
    day = sorted(folder.glob("day=*"))[0]
    part = day / "part-99999999999999999999-bad.parquet"
    if bad == "foreign":
        _foreign_frame().to_parquet(part)
    elif bad == "drifted":
        drifted = pd.DataFrame({"job_id": ["x"], "begin_time": ["yesterday"], "_jobtools_row": [0]})
        table = pa.Table.from_pandas(drifted, preserve_index=False)
        table = table.replace_schema_metadata({**table.schema.metadata, b"jobtools": b"{}"})
        pq.write_table(table, part)
    else:
        part.write_bytes(b"PAR1 not really")
    with pytest.raises(BadFileError, match=part.name):
        read_jobs(folder)
    with pytest.warns(CorruptInputWarning, match=rf"skipped 1 unreadable file.*{part.name}"):
        back = read_jobs(folder, on_bad_files="skip")
    assert len(back) == len(frame)
    assert back.attrs["skipped_files"][0]["file"] == str(part)


def test_writing_the_same_frame_twice_adds_nothing(tmp_path):
    """A notebook cell run again: the second write adds no row, and says so."""
    frame = jobs_to_frame(generate_jobs(40, seed=8))
    folder = tmp_path / "archive"
    write_jobs(frame, folder, partition_by="day")
    files = archive_files(folder)
    with pytest.warns(UserWarning, match="40 of the 40 rows are already in the archive"):
        write_jobs(frame, folder, partition_by="day")
    assert archive_files(folder) == files
    pd.testing.assert_frame_equal(read_jobs(folder), frame)
    with pytest.raises(ValueError, match="already in the archive"):
        write_jobs(frame, folder, partition_by="day", mode="error")
    write_jobs(frame.iloc[:10], folder, partition_by="day", mode="overwrite")
    assert len(read_jobs(folder)) == 10


def test_new_observations_of_the_same_jobs_are_appended(tmp_path):
    """Rows of a wait seen at another time are new rows, not repeats."""
    frame = with_wait_columns(jobs_to_frame(generate_jobs(10, seed=9)))
    folder = tmp_path / "archive"
    write_jobs(frame, folder, partition_by="day")
    later = frame.assign(observed_at=frame["observed_at"] + pd.Timedelta(minutes=5))
    write_jobs(later, folder, partition_by="day")
    assert len(read_jobs(folder)) == 20


def test_a_part_with_a_category_stored_as_plain_text_is_still_read(tmp_path):
    """A part whose status is plain text (another writer's habit), not a dictionary: read."""
    frame = jobs_to_frame(generate_jobs(20, seed=7))
    folder = write_jobs(frame, tmp_path / "archive", partition_by="day")
    for part in archive_files(folder):
        table = pq.read_table(part)
        index = table.schema.get_field_index("status")
        plain = table.column(index).cast(pa.large_string())
        table = table.set_column(index, pa.field("status", pa.large_string()), plain)
        pq.write_table(table, part)
    pd.testing.assert_frame_equal(read_jobs(folder), frame)
