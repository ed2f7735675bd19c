"""Tests for jobtools.io.parquet: Parquet files and day-partitioned archives, read back equal."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import SEED

from jobtools import jobs_to_frame, read_jobs, write_jobs
from jobtools.io.parquet import ARCHIVE_MARKER, archive_files, is_archive, read_archive
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
