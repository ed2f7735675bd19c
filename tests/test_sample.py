"""Tests for jobtools.sample: deterministic, realistic, and the committed sample matches."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobtools import jobs_to_frame
from jobtools.sample import generate_jobs, main

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample_jobs.jsonl"


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
    """`python -m jobtools.sample` rewrites data/sample_jobs.jsonl byte for byte."""
    out = tmp_path / "sample.jsonl"
    assert main(["--out", str(out)]) == 0
    assert out.read_bytes() == SAMPLE.read_bytes()


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
    assert failed["fail_reason"].str.contains(r"[\u4e00-\u9fff]").any()
    assert frame.loc[frame["status"] == "SUCCESS", "error_code"].isna().all()


def test_running_jobs_report_progress_and_sub_jobs_exist(frame):
    """Running jobs have progress and a current task; some jobs have sub-jobs."""
    running = frame[frame["status"] == "RUNNING"]
    assert running["process_percent"].between(0, 100).all()
    assert running["current_task"].notna().all()
    assert running["end_time"].isna().all()
    assert (frame["sub_job_count"] > 0).sum() > 50
