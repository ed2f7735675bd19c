"""Tests for jobtools.sample: deterministic, realistic, and the committed sample matches."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import jobtools
import jobtools.sample
from jobtools import jobs_to_frame
from jobtools.sample import generate_jobs, main

SAMPLE = Path(__file__).resolve().parent.parent / "jobtools" / "data" / "sample_jobs.jsonl.gz"


@pytest.fixture(scope="module")
def frame():
    return jobs_to_frame(generate_jobs(2000))


def test_same_seed_same_records_other_seed_other_records():
    """The generator is deterministic per seed and `now`."""
    assert generate_jobs(50, seed=3) == generate_jobs(50, seed=3)
    assert generate_jobs(50, seed=3) != generate_jobs(50, seed=4)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert generate_jobs(5, now=now) != generate_jobs(5)


def test_committed_sample_is_reproducible(tmp_path):
    """`python -m jobtools.sample` rewrites jobtools/data/sample_jobs.jsonl.gz byte for byte."""
    out = tmp_path / "sample.jsonl.gz"
    assert main(["--out", str(out)]) == 0
    assert out.read_bytes() == SAMPLE.read_bytes()


def test_the_sample_is_gzip_with_no_name_and_no_time(tmp_path):
    """The shipped sample is gzip whose header holds no file name and a zero time, so its
    bytes do not depend on where or when it was written; it holds the plain JSONL's lines."""
    data = SAMPLE.read_bytes()
    assert data[:4] == b"\x1f\x8b\x08\x00"  # gzip, deflate, no flags (no name)
    assert data[4:8] == b"\x00\x00\x00\x00"  # mtime 0
    plain = tmp_path / "sample.jsonl"
    assert main(["--out", str(plain)]) == 0
    assert gzip.decompress(data) == plain.read_bytes()


def test_every_time_parses_and_both_formats_occur(frame):
    """All generated times parse; legacy and ISO formats are both present."""
    assert frame.attrs["unparsed_times"] == {}
    begins = [job["begin_time"] for job in generate_jobs(2000)]
    assert any(b.endswith("Z") for b in begins)
    assert any(b[2] == "-" and b[6] == "-" for b in begins)


def test_status_shares_are_plausible(frame):
    """Mostly finished jobs, some failures, a few running and initialising."""
    shares = frame["status"].value_counts(normalize=True)
    assert 0.7 < shares["SUCCESS"] < 0.9
    assert 0.05 < shares["FAIL"] < 0.2
    assert 0.02 < shares["RUNNING"] < 0.1
    assert 0.0 < shares["INIT"] < 0.05


def test_durations_differ_by_type_and_are_long_tailed(frame):
    """Member jobs take seconds, cross-region copies most of an hour; the tail is long."""
    medians = frame.groupby("job_type")["duration"].median()
    assert medians["imsAddImageMembersJob"] < medians["imsCreateImageByInstance"]
    assert medians["imsCreateImageByInstance"] < medians["imsCrossRegionCopyImageJob"]
    finished = frame["duration"].dropna()
    assert finished.max() > 10 * finished.median()
    assert (finished > finished.iloc[0] * 0).all()


def test_failures_have_codes_and_varied_reasons(frame):
    """Failures carry IMG codes and about a dozen templates with varying embedded values."""
    failed = frame[frame["status"] == "FAIL"]
    assert failed["error_code"].str.fullmatch(r"IMG\.\d{4}").all()
    assert 10 <= failed["error_code"].nunique() <= 14
    assert failed["fail_reason"].nunique() > 0.8 * len(failed)
    assert failed["fail_reason"].str.contains("[\u4e00-\u9fff]").any()  # pyarrow 18: no \\u
    assert frame.loc[frame["status"] == "SUCCESS", "error_code"].isna().all()


def test_running_jobs_report_progress_and_sub_jobs_exist(frame):
    """Running jobs have progress and a current task; some jobs have sub-jobs."""
    running = frame[frame["status"] == "RUNNING"]
    assert running["process_percent"].between(0, 1).all()  # a fraction, as the service sends
    assert running["process_percent"].max() > 0.5
    assert running["current_task"].notna().all()
    assert running["end_time"].isna().all()
    assert (frame["sub_job_count"] > 0).sum() > 50


def test_ids_carry_the_begin_time_and_legacy_times_are_utc_plus_eight():
    """Each id holds its job's creation time, 1-3 ms after begin_time; legacy times are +08:00."""
    records = generate_jobs(500)
    frame = jobs_to_frame(records)
    gap = frame["created_at"] - frame["begin_time"]
    assert gap.between(pd.Timedelta(0), pd.Timedelta(milliseconds=4)).all()
    assert frame.attrs["legacy_tz"]["offset"] == "+08:00"
    assert frame.attrs["legacy_tz"]["decided_by"] == "ids"
    as_utc = jobs_to_frame(records, legacy_tz="UTC")
    legacy = pd.Series([r["begin_time"][2] == "-" for r in records])
    shift = (as_utc["begin_time"] - frame["begin_time"])[legacy]
    assert (shift == pd.Timedelta(hours=8)).all() and legacy.sum() > 50


def test_sub_job_and_failure_ids_are_real_layout():
    """Sub-job ids carry a time too; project ids in member results are random (no time)."""
    sub = jobtools.sub_jobs_to_frame(generate_jobs(500))
    assert sub["created_at"].notna().all()
    results = [
        r["project_id"] for job in generate_jobs(500) for r in job["entities"].get("results", [])
    ]
    assert results and pd.Series(jobtools.ids.job_id_times(results)).isna().mean() > 0.95


def test_scenario_options(tmp_path):
    """A window, chosen types, a regression and tails shape a batch as asked."""
    now = datetime(2030, 1, 1, tzinfo=UTC)
    since = datetime(2029, 12, 31, 22, tzinfo=UTC)
    regression = jobtools.sample.Regression(since=since, share=1.0)
    records = generate_jobs(
        400,
        now=now,
        window=timedelta(hours=6),
        job_types=["imsNativeExportImageJob", "imsCopyImageInRegionJob"],
        regression=regression,
        fast_tail=0.5,
    )
    frame = jobs_to_frame(records)
    assert set(frame["job_type"].astype(str)) == {
        "imsNativeExportImageJob",
        "imsCopyImageInRegionJob",
    }
    ended = frame[frame["is_terminal"]]
    after = ended["begin_time"] >= pd.Timestamp(since)
    assert ended.loc[after, "error_code"].eq("IMG.0188").all() and after.sum() > 10
    assert not ended.loc[~after, "error_code"].eq("IMG.0188").any()
    assert (frame["duration_s"] < 5).mean() > 0.3  # the fast tail
