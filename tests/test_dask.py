"""Tests for read_jobs_dask and the analysis on Dask frames, on a real 2-worker LocalCluster."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import local_cluster

pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import jobtools  # noqa: E402
from jobtools import read_jobs, read_jobs_dask, write_jobs  # noqa: E402
from jobtools.analysis import _dask  # noqa: E402
from jobtools.io import CorruptInputError, CorruptInputWarning  # noqa: E402
from jobtools.sample import generate_jobs  # noqa: E402

# About 100 KB per partition: the 2,000 records below make 8 partitions, so that lines are
# cut at block edges and every combining step runs.
BLOCKSIZE = 100_000
ODD = [
    {"job_id": "odd-1", "status": "QUEUED", "job_type": "imsX", "begin_time": "bad time"},
    {"job_id": "odd-2", "status": "FAIL", "begin_time": "2024-11-01T00:00:00Z", "end_time": ""},
    {"job_id": "odd-3", "status": "SUCCESS", "end_time": "2024-11-02T00:00:00Z"},
    {"job_id": "odd-4", "status": "FAIL", "job_type": None, "fail_reason": "disk 40GB full"},
]


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    """One cluster for the module: 2 worker processes on loopback, its dashboard on a free port."""
    with local_cluster() as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same 2,004 records as two JSONL files, a CSV and a day-partitioned archive."""
    folder = tmp_path_factory.mktemp("dask")
    records = generate_jobs(2000, seed=11) + ODD
    # In time order, as logs are: then each partition covers days of its own.
    begin = jobtools.jobs_to_frame(records)["begin_time"]
    lines = [json.dumps(records[i]) for i in np.argsort(begin.to_numpy(), kind="stable")]
    (folder / "a.jsonl").write_text("\n".join(lines[:1100]) + "\n", encoding="utf-8")
    (folder / "b.jsonl").write_text("\n".join(lines[1100:]) + "\n", encoding="utf-8")
    frame = read_jobs(folder)
    write_jobs(frame, folder / "jobs.csv")
    write_jobs(frame, folder / "archive", partition_by="day")
    return {"jsonl": folder / "*.jsonl", "csv": folder / "jobs.csv", "archive": folder / "archive"}


@pytest.fixture(scope="module")
def frames(client, files: dict[str, Path]) -> tuple[pd.DataFrame, object]:
    """The pandas frame and the Dask frame of the same data, read once into the workers."""
    frame = read_jobs_dask(str(files["jsonl"]), blocksize=BLOCKSIZE)
    return read_jobs(files["csv"]), client.persist(frame)


@pytest.mark.parametrize("source", ["jsonl", "csv", "archive"])
def test_read_jobs_dask_has_the_pandas_columns_and_rows(client, files, source):
    """The Dask frame's columns and dtypes are read_jobs', and it computes to the same rows."""
    expected = read_jobs(files["csv"])
    frame = read_jobs_dask(str(files[source]), blocksize=BLOCKSIZE, rows=500)
    assert list(frame.columns) == list(expected.columns)
    for name, dtype in expected.dtypes.items():
        meta = frame.dtypes[name]
        if isinstance(dtype, pd.CategoricalDtype):
            # The contract's categories; unknown values join them as the partitions meet them.
            assert list(meta.categories) == list(dtype.categories)[: len(meta.categories)]
        else:
            assert meta == dtype, name
    got = client.compute(frame).result().reset_index(drop=True)
    if source == "archive":  # partitions go day by day there
        got = got.set_index("job_id").loc[expected["job_id"]].reset_index()
    pd.testing.assert_frame_equal(got, expected, check_categorical=source != "archive")


def test_jsonl_is_split_at_line_boundaries(files):
    """Small blocks cut files into many partitions, and no line is lost or read twice."""
    frame = read_jobs_dask(str(files["jsonl"]), blocksize=BLOCKSIZE)
    assert frame.npartitions >= 8
    assert len(frame.compute(scheduler="sync")) == 2004


def test_archive_reads_only_the_columns_used(client, files):
    """A projection reads just those columns from Parquet, with their dtypes."""
    frame = read_jobs_dask(files["archive"], rows=500)
    assert frame.npartitions >= 4  # a few days' files gathered into each
    frame = frame[["job_id", "status"]]
    got = client.compute(frame).result()
    assert list(got.columns) == ["job_id", "status"]
    assert got["status"].dtype == "category"


@pytest.fixture
def corrupt(tmp_path: Path) -> Path:
    """A JSONL file with bad lines deep in it, past the first blocks."""
    lines = [json.dumps(r) for r in generate_jobs(600, seed=5)]
    lines[450] = '{"job_id": "cut off'
    lines[523] = "not json"
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_corrupt_lines_raise_with_file_and_line(client, corrupt):
    """errors="raise" fails the computation naming file and line, as read_jobs would."""
    with pytest.raises(CorruptInputError) as expected:
        read_jobs(corrupt, errors="raise")
    frame = read_jobs_dask(corrupt, blocksize=BLOCKSIZE, errors="raise")
    with pytest.raises(CorruptInputError) as raised:
        client.compute(frame).result()
    # The first partition to fail ends the computation: its bad lines are those reported.
    assert [p["line"] for p in expected.value.problems] == [451, 524]
    assert raised.value.problems
    assert all(p in expected.value.problems for p in raised.value.problems)


def test_corrupt_lines_warn_on_the_client(client, corrupt):
    """errors="warn" skips bad lines, and the workers' warnings reach the client."""
    with pytest.warns(CorruptInputWarning):
        expected = read_jobs(corrupt)
    frame = read_jobs_dask(corrupt, blocksize=BLOCKSIZE)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        got = client.compute(frame).result().reset_index(drop=True)
        # The warning travels as an event from worker to scheduler to client: wait for it.
        deadline = time.monotonic() + 30
        while not any(f"{corrupt}:524" in str(w.message) for w in seen):
            assert time.monotonic() < deadline, [str(w.message) for w in seen]
            time.sleep(0.05)
    pd.testing.assert_frame_equal(got, expected)
    assert any(f"{corrupt}:451" in str(w.message) for w in seen)


def test_warn_without_a_cluster(corrupt):
    """On the local scheduler the warning is an ordinary one, naming file and line."""
    frame = read_jobs_dask(corrupt, blocksize=BLOCKSIZE)
    with pytest.warns(CorruptInputWarning) as seen:
        frame.compute(scheduler="sync")
    text = " ".join(str(w.message) for w in seen)
    assert "bad.jsonl:451" in text and "bad.jsonl:524" in text


@pytest.mark.parametrize(
    ("paths", "kwargs", "error"),
    [
        ("nothing-*.jsonl", {}, FileNotFoundError),
        ("jobs.txt", {}, ValueError),
        ("*.jsonl", {"errors": "ignore"}, ValueError),
        ("*.jsonl", {"blocksize": 0}, ValueError),
    ],
)
def test_bad_arguments(files, paths, kwargs, error):
    """No match, an unknown file type or a bad argument is a clear error, before any work."""
    folder = files["csv"].parent
    (folder / "jobs.txt").write_text("x")
    with pytest.raises(error):
        read_jobs_dask(str(folder / paths), **kwargs)


# --- the analysis, both ways ---------------------------------------------------------------


def test_summary_by_type(client, frames):
    """Counts and success rates are exact; each percentile is within the stated bound."""
    pandas_frame, dask_frame = frames
    expected = jobtools.summary_by_type(pandas_frame)
    got = jobtools.summary_by_type(dask_frame)
    percentiles = ["p50_s", "p90_s", "p99_s"]
    pd.testing.assert_frame_equal(got.drop(columns=percentiles), expected.drop(columns=percentiles))
    exact, approx = expected[percentiles].to_numpy(), got[percentiles].to_numpy()
    assert np.array_equal(np.isnan(exact), np.isnan(approx))
    bound = _dask.RELATIVE_ERROR * np.abs(exact) + 1e-3
    assert np.all(np.abs(approx - exact)[~np.isnan(exact)] <= bound[~np.isnan(exact)])


@pytest.mark.parametrize("period", ["1D", "15min", "7h", "2D", "1W", "MS"])
def test_rates_over_time(client, frames, period):
    """Per-period counts and rates are exactly pandas', gaps included, for any period."""
    pandas_frame, dask_frame = frames
    expected = jobtools.rates_over_time(pandas_frame, period)
    pd.testing.assert_frame_equal(jobtools.rates_over_time(dask_frame, period), expected)


@pytest.mark.parametrize("examples", [3, 0])
def test_failure_groups(client, frames, examples):
    """Groups, counts, shares, times, job types and examples are exactly pandas'."""
    pandas_frame, dask_frame = frames
    expected = jobtools.failure_groups(pandas_frame, examples=examples)
    got = jobtools.failure_groups(dask_frame, examples=examples)
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize("side", ["both", "before", "after"])
def test_compare_failures(client, frames, side):
    """Either side or both may be Dask frames; the comparison is the same."""
    pandas_frame, dask_frame = frames
    half = pandas_frame["begin_time"] < pd.Timestamp("2024-10-25", tz="UTC")
    before_pd, after_pd = pandas_frame[half.to_numpy()], pandas_frame[~half.to_numpy()]
    dask_half = dask_frame["begin_time"] < pd.Timestamp("2024-10-25", tz="UTC")
    before_dd, after_dd = dask_frame[dask_half], dask_frame[~dask_half]
    before = before_dd if side in ("both", "before") else before_pd
    after = after_dd if side in ("both", "after") else after_pd
    expected = jobtools.compare_failures(before_pd, after_pd)
    pd.testing.assert_frame_equal(jobtools.compare_failures(before, after), expected)


def test_time_quality(client, frames):
    """The flags are pandas' row for row, the unparsed time of a partition included."""
    pandas_frame, dask_frame = frames
    expected = jobtools.time_quality(pandas_frame, now="2024-11-06")
    got = jobtools.time_quality(dask_frame, now="2024-11-06")
    computed = client.compute(got).result().reset_index(drop=True)
    pd.testing.assert_frame_equal(computed, expected)
    assert computed["unparsed_time"].sum() == 1


def test_buckets_stand_for_their_values():
    """Every duration's bucket stands for a value within RELATIVE_ERROR of it (or 1 ms)."""
    rng = np.random.default_rng(1)
    seconds = np.concatenate([rng.lognormal(3, 4, 100_000), -rng.lognormal(0, 2, 1000), [0.0]])
    values = _dask._bucket_values(_dask._buckets(seconds))
    assert np.all(np.abs(values - seconds) <= _dask.RELATIVE_ERROR * np.abs(seconds) + 1e-3)


def test_import_jobtools_does_not_import_dask():
    """`import jobtools` and the pandas analysis never load Dask; read_jobs_dask does."""
    code = (
        "import sys, jobtools\n"
        "jobtools.summary_by_type(jobtools.jobs_to_frame([]))\n"
        "print(any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules))\n"
        "jobtools.read_jobs_dask\n"
        "print('dask.dataframe' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


# --- foreign Parquet parts ------------------------------------------------------------------


@pytest.mark.parametrize("writer", ["pandas", "spark"])
def test_foreign_parquet_reads_like_read_jobs(tmp_path, writer):
    """pandas' to_parquet and Spark's int96 files: the contract, as read_jobs makes it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    foreign = pd.DataFrame(
        {
            "job_id": ["ff8080814dbd65d7014dbe0d84db0013", "ff8080814dbd65d7014dbe0d84db0014"],
            "status": ["SUCCESS", "FAIL"],
            "begin_time": pd.to_datetime(["2024-11-06 06:19:43", "2024-11-06 06:20:00"]),
            "end_time": pd.to_datetime(["2024-11-06 06:29:43", "2024-11-06 06:21:00"]),
        }
    )
    path = tmp_path / "foreign.parquet"
    if writer == "pandas":
        foreign.to_parquet(path)
    else:
        table = pa.Table.from_pandas(foreign, preserve_index=False).replace_schema_metadata(None)
        pq.write_table(table, path, use_deprecated_int96_timestamps=True)
    lazy = read_jobs_dask(path)
    assert "error_code" in lazy.columns
    got = lazy.compute(scheduler="sync").reset_index(drop=True)
    expected = read_jobs(path)
    pd.testing.assert_frame_equal(got, expected[list(got.columns)], check_categorical=False)


def test_a_bad_archive_part_is_named_or_skipped(tmp_path):
    """A foreign part file in an archive: an error naming it, or left out with on_bad_files."""
    from jobtools.io.parquet import BadFileError

    frame = read_jobs_frame = jobtools.jobs_to_frame(generate_jobs(30, seed=6))
    folder = write_jobs(read_jobs_frame, tmp_path / "archive", partition_by="day")
    part = sorted(folder.glob("day=*"))[0] / "part-99999999999999999999-bad.parquet"
    pd.DataFrame({"job_id": ["x"], "status": ["FAIL"]}).to_parquet(part)
    with pytest.raises(BadFileError, match=part.name):
        read_jobs_dask(folder)
    with pytest.warns(CorruptInputWarning, match=part.name):
        lazy = read_jobs_dask(folder, on_bad_files="skip")
    assert len(lazy.compute(scheduler="sync")) == len(frame)


def test_a_cp1252_csv_with_a_sep_line_has_its_columns(tmp_path):
    """The meta of a CSV from European Excel: its header read in its encoding and separator."""
    path = tmp_path / "excel.csv"
    text = "sep=;\r\njob_id;status;fail_reason\r\nj1;FAIL;Échec de l'exportation à 10 h\r\n"
    path.write_bytes(text.encode("cp1252"))
    got = read_jobs_dask(path).compute(scheduler="sync").reset_index(drop=True)
    assert got["fail_reason"][0] == "Échec de l'exportation à 10 h"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8"])
def test_a_csv_past_64_kib_has_its_columns_in_its_encoding(tmp_path, encoding):
    """The header of a big UTF-16 or UTF-8 CSV is read from its start, cut inside a character."""
    rows = "".join(f"j{i},FAIL,镜像导出失败 {i}\r\n" for i in range(6000))
    path = tmp_path / "big.csv"
    path.write_bytes(("job_id,status,fail_reason\r\n" + rows).encode(encoding))
    assert path.stat().st_size > 1 << 16
    got = read_jobs_dask(path).compute(scheduler="sync")
    assert len(got) == 6000 and got["fail_reason"].iloc[0] == "镜像导出失败 0"
