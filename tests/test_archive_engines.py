"""Which engine answers for an archive's Dask frame, and that every engine answers alike.

On one machine (no scheduler chosen) DuckDB answers over the archive's files; with a
distributed client, its cluster (here a real `LocalCluster` of two worker processes). Each
is compared with pandas on the same archive, written to disk by `write_jobs`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import local_cluster

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
pytest.importorskip("duckdb")

import jobtools  # noqa: E402
from jobtools import read_jobs, read_jobs_dask, write_jobs  # noqa: E402
from jobtools.analysis import _dask, _engines  # noqa: E402
from jobtools.sample import Regression, generate_jobs  # noqa: E402

# Rows that take the less travelled roads: a blank reason (Chinese space) whose entity holds the
# message, no message and no code at all, no end time (seen at its begin), two failures seen at
# the same moment (examples then by job id), a job with no type, a job that never began.
EDGES = [
    {
        "job_id": "edge-1",
        "status": "FAIL",
        "job_type": "imsX",
        "begin_time": "2024-11-01T00:00:00Z",
        "end_time": "2024-11-01T00:10:00Z",
        "fail_reason": " \u3000",
        "entities": {"error": "磁盘 40GB 不足", "error_code": "IMG.0001"},
    },
    {"job_id": "edge-2", "status": "FAIL", "job_type": "imsX", "begin_time": "2024-11-01T01:00Z"},
    {
        "job_id": "edge-3",
        "status": "FAIL",
        "job_type": "imsY",
        "begin_time": "2024-11-01T02:00:00Z",
        "end_time": "2024-11-01T03:00:00Z",
        "error_code": "IMS.0002",
        "fail_reason": "image web-01 not found",
    },
    {
        "job_id": "edge-4",
        "status": "FAIL",
        "job_type": "imsX",
        "begin_time": "2024-11-01T02:30:00Z",
        "end_time": "2024-11-01T03:00:00Z",
        "error_code": "IMS.0002",
        "fail_reason": "image web-02 not found",
    },
    {
        "job_id": "edge-5",
        "status": "SUCCESS",
        "begin_time": "2024-11-01T04:00:00Z",
        "end_time": "2024-11-01T04:00:01.5Z",
    },
    {"job_id": "edge-6", "status": "INIT", "job_type": "imsX"},
]
QUESTIONS = {
    "summary_by_type": lambda f: jobtools.summary_by_type(f),
    "rates by day": lambda f: jobtools.rates_over_time(f, "1D"),
    "rates by 15 minutes, by end": lambda f: jobtools.rates_over_time(f, "15min", by="end"),
    "rates by day and type": lambda f: jobtools.rates_over_time(f, "1D", groupby="job_type"),
    "rates by hour and status, by end": lambda f: jobtools.rates_over_time(
        f, "1h", by="end", groupby="status"
    ),
    "rates by week (Dask)": lambda f: jobtools.rates_over_time(f, "1W"),
    "rates by reason (Dask)": lambda f: jobtools.rates_over_time(f, "1D", groupby="reason"),
    "failure_groups": lambda f: jobtools.failure_groups(f),
    "failure_groups, no examples": lambda f: jobtools.failure_groups(f, examples=0),
    "findings' changes": lambda f: jobtools.findings(f, permutations=19).changes,
    "findings' drivers": lambda f: jobtools.findings(f, permutations=19).drivers,
}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    """An archive of 4,006 jobs written a day at a time, and the frame read_jobs makes of it.

    A reason that fails 40 % of the jobs from a moment on: findings has a change to find.
    """
    folder = tmp_path_factory.mktemp("archive") / "jobs"
    since = datetime(2024, 10, 25, tzinfo=UTC)
    records = generate_jobs(4000, seed=5, regression=Regression(since=since))
    frame = jobtools.jobs_to_frame(records + EDGES)
    write_jobs(frame, folder, partition_by="day")
    return read_jobs(folder), folder


@pytest.mark.parametrize("question", QUESTIONS)
def test_an_archive_on_one_machine_is_answered_by_duckdb(archive, question):
    """With no scheduler chosen, DuckDB answers over the files: pandas' answers, exactly."""
    pandas_frame, folder = archive
    frame = read_jobs_dask(folder, rows=500)
    assert _engines.embedded_files(frame) is not None
    ask = QUESTIONS[question]
    pd.testing.assert_frame_equal(ask(frame), ask(pandas_frame))


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    """Two worker processes on loopback, its dashboard on a free port."""
    with local_cluster() as cluster:
        yield cluster


@pytest.mark.slow
def test_an_archive_on_a_cluster_is_answered_by_dask(cluster, archive):
    """With a distributed client the cluster answers; the same answers, percentiles as stated.

    The client is this test's own: once it closes, no scheduler is chosen again.
    """
    pandas_frame, folder = archive
    with distributed.Client(cluster):
        frame = read_jobs_dask(folder, rows=500)
        assert _engines.embedded_files(frame) is None
        for question, ask in QUESTIONS.items():
            got, expected = ask(frame), ask(pandas_frame)
            percentiles = [c for c in ("p50_s", "p90_s", "p99_s") if c in expected]
            pd.testing.assert_frame_equal(
                got.drop(columns=percentiles), expected.drop(columns=percentiles), obj=question
            )
            exact, approx = expected[percentiles].to_numpy(), got[percentiles].to_numpy()
            bound = _dask.RELATIVE_ERROR * np.abs(exact) + 1e-3
            same = (np.abs(approx - exact) <= bound) | (np.isnan(exact) & np.isnan(approx))
            assert same.all(), question
    assert _engines.embedded_files(frame) is not None


def test_what_duckdb_does_not_answer(archive, tmp_path):
    """Only jobtools' own Parquet files read as they are, with no scheduler chosen."""
    pandas_frame, folder = archive
    frame = read_jobs_dask(folder)
    assert _engines.embedded_files(frame[["status", "job_type"]]) is not None  # still every row
    assert _engines.embedded_files(frame[frame["status"] == "FAIL"]) is None  # a filter
    write_jobs(pandas_frame, tmp_path / "jobs.jsonl")
    assert _engines.embedded_files(read_jobs_dask(tmp_path / "jobs.jsonl")) is None
    pandas_frame.to_parquet(tmp_path / "theirs.parquet")  # another tool's file
    assert _engines.embedded_files(read_jobs_dask(tmp_path / "theirs.parquet")) is None
    with dask.config.set(scheduler="sync"):
        assert _engines.embedded_files(frame) is None


def test_an_empty_archive_on_one_machine(tmp_path):
    """An archive of no jobs has pandas' empty answers, with their columns and dtypes."""
    write_jobs(jobtools.jobs_to_frame([]), tmp_path / "jobs", partition_by="day")
    frame, pandas_frame = read_jobs_dask(tmp_path / "jobs"), read_jobs(tmp_path / "jobs")
    for question, ask in QUESTIONS.items():
        pd.testing.assert_frame_equal(ask(frame), ask(pandas_frame), obj=question)
