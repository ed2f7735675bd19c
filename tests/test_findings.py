"""Tests for findings: batches with a known truth, the statistics over seeds, Dask, words, views."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import local_cluster

import jobtools
from jobtools import findings
from jobtools.analysis.findings import CHANGE_COLUMNS, DRIVER_COLUMNS, _Scan, _segment
from jobtools.schema import cast_frame

START = pd.Timestamp("2024-11-05T09:00:00Z")  # 17:00 in Beijing
HOURS = 6.0
TYPES = ("imsExportImageJob", "imsImportImageJob", "imsCreateImageByInstance")
BASE_REASONS = {
    "IMG.0001": "The disk of image {i} is smaller than 40GB.",
    "IMG.0023": "The quota of images is exceeded: {i} images.",
    "IMG.0105": "Server ecs-{i} did not stop in time.",
}
NEW_CODE = "IMG.0188"
NEW_REASON = "OBS 桶 bucket-{i} 的加密密钥已禁用"


@dataclass(frozen=True)
class Event:
    """From `start` to `end` (fractions of the window), `extra` of the jobs fail with `code`."""

    start: float
    end: float = 1.0
    extra: float = 0.4
    code: str = NEW_CODE
    reason: str = NEW_REASON
    job_type: str | None = None  # only jobs of this type

    def moment(self, at: float) -> pd.Timestamp:
        return START + pd.Timedelta(hours=HOURS * at)


def batch(
    n: int = 2000, *, seed: int = 0, base: float = 0.12, events: tuple[Event, ...] = ()
) -> pd.DataFrame:
    """A night batch of `n` jobs over six hours, `base` failing for the usual reasons."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.uniform(0, HOURS * 3600, n))
    job_type = rng.choice(TYPES, n, p=[0.5, 0.3, 0.2])
    failed = rng.random(n) < base
    codes = np.array(list(BASE_REASONS))[rng.integers(0, len(BASE_REASONS), n)].astype(object)
    reasons = np.array([BASE_REASONS[c].format(i=i) for i, c in enumerate(codes)], dtype=object)
    for event in events:
        inside = (seconds >= event.start * HOURS * 3600) & (seconds < event.end * HOURS * 3600)
        hit = inside & ~failed & (rng.random(n) < event.extra)
        if event.job_type:
            hit &= job_type == event.job_type
        failed |= hit
        codes[hit] = event.code
        reasons[hit] = [event.reason.format(i=i) for i in np.flatnonzero(hit)]
    begin = START + pd.to_timedelta(seconds, unit="s")
    frame = pd.DataFrame(
        {
            "job_id": [f"job-{i:06d}" for i in range(n)],
            "job_type": job_type,
            "status": np.where(failed, "FAIL", "SUCCESS"),
            "begin_time": begin,
            "end_time": begin + pd.to_timedelta(rng.lognormal(6, 1.2, n), unit="s"),
            "error_code": np.where(failed, codes, None),
            "fail_reason": pd.Series(np.where(failed, reasons, None), dtype="str"),
        }
    )
    frame["is_terminal"] = True
    return cast_frame(frame)


def covers(found: jobtools.Findings, row: int, moment: pd.Timestamp) -> bool:
    change = found.changes.iloc[row]
    return bool(change["at_low"] <= moment <= change["at_high"])


# --- batches with a known truth ---------------------------------------------------------------


def test_a_new_reason_at_a_known_moment_is_found_named_and_said() -> None:
    """The moment, the new reason, its spread over all types, and that it is still going on."""
    event = Event(start=0.5)
    found = findings(batch(events=(event,)), tz="Asia/Shanghai")
    assert tuple(found.changes.columns) == CHANGE_COLUMNS
    assert tuple(found.drivers.columns) == DRIVER_COLUMNS
    assert len(found.changes) == 1
    assert covers(found, 0, event.moment(0.5))
    change = found.changes.iloc[0]
    assert change["rate_before"] < 0.16 < 0.4 < change["rate_after"]
    assert pd.isna(change["ended_at"]) and change["p_value"] < 1e-6
    top = found.drivers.iloc[0]
    assert (top["dimension"], top["new"]) == ("reason", True)
    assert top["label"].startswith(NEW_CODE) and top["share"] > 0.85
    text = found.text()
    assert text.startswith("Since 20:") and "Beijing time" in text
    assert "extra failures are one new reason, IMG.0188 'OBS 桶 <name> 的加密密钥已禁用'" in text
    assert "across all job types in proportion to volume" in text
    assert text.endswith("It is still going on.")


def test_an_existing_reason_that_grows_is_a_grown_reason() -> None:
    """A reason seen before the change that fails many more jobs after it is "grew", not new."""
    grows = Event(start=0.6, extra=0.3, code="IMG.0023", reason=BASE_REASONS["IMG.0023"])
    found = findings(batch(seed=4, events=(grows,)))
    assert len(found.changes) == 1 and covers(found, 0, grows.moment(0.6))
    top = found.drivers.iloc[0]
    assert (top["dimension"], top["value"] == "", top["new"]) == ("reason", False, False)
    assert "IMG.0023" in top["label"]
    assert "one reason that grew, IMG.0023" in found.text()


def test_a_change_in_one_job_type_names_that_type() -> None:
    """A reason hitting one job type only: the type is the driver and the words say so."""
    event = Event(start=0.4, extra=0.7, job_type="imsImportImageJob")
    found = findings(batch(seed=5, events=(event,)))
    assert len(found.changes) == 1 and covers(found, 0, event.moment(0.4))
    by_type = found.drivers[found.drivers["dimension"] == "job_type"].iloc[0]
    assert by_type["value"] == "imsImportImageJob" and by_type["share"] > 0.9
    assert "all in imsImportImageJob jobs" in found.text()


def test_a_rise_then_a_recovery_are_two_changes_and_the_first_ended() -> None:
    """Failures rise at 30 % of the window and recover at 70 %: the first change ended."""
    event = Event(start=0.3, end=0.7, extra=0.5)
    found = findings(batch(seed=6, events=(event,)), tz="Asia/Shanghai")
    assert len(found.changes) == 2
    assert covers(found, 0, event.moment(0.3)) and covers(found, 1, event.moment(0.7))
    first, second = found.changes.iloc[0], found.changes.iloc[1]
    assert first["ended_at"] == second["at"] and pd.isna(second["ended_at"])
    assert second["rate_after"] < first["rate_after"]
    paragraphs = found.text().split("\n\n")
    assert "It ended at " in paragraphs[0] and paragraphs[1].endswith("The lower rate holds.")
    assert found.headline().startswith(f"Failures {round(second['rate_before'] * 100)} % → ")
    assert "它在 " in found.text("zh")


def test_no_change_says_so_with_the_rate_and_its_interval() -> None:
    """No change: empty tables, and a sentence with the overall rate and its Wilson interval."""
    found = findings(batch(seed=7), tz="Asia/Shanghai")
    assert found.changes.empty and found.drivers.empty
    low, high = found.overall["interval"]
    assert low < found.overall["rate"] < high
    assert found.text() == (
        "No change in the failure rate: 13 % of 2,000 jobs failed (95 % interval 12 % to 15 %), "
        "jobs that began from 17:00 to 22:59 Beijing time."
    )
    assert found.text("zh") == (
        "失败率没有变化：北京时间 17:00 至 22:59 开始的 2,000 个作业中 "
        "13% 失败（95% 区间 12%–15%）。"
    )
    assert found.headline() == "No change: 13 % of 2,000 jobs fail (12 % to 15 %)"


def test_nothing_ended_and_bad_arguments() -> None:
    """A frame with no ended job says so; a bad alpha or language is a ValueError."""
    frame = batch(50)
    frame["status"] = frame["status"].cat.rename_categories({"SUCCESS": "X", "FAIL": "Y"})
    found = findings(jobtools.jobs_to_frame([]))
    assert found.changes.empty and "nothing to say" in found.text()
    with pytest.raises(ValueError, match="alpha"):
        findings(batch(50), alpha=2)
    with pytest.raises(ValueError, match="lang"):
        findings(batch(50)).text(lang="fr")


def test_findings_are_the_same_for_the_same_frame_and_do_not_touch_it() -> None:
    """Seeded: the same frame gives the same findings; the frame is left as it was."""
    frame = batch(events=(Event(start=0.5),))
    before = frame.copy()
    one, two = findings(frame), findings(frame)
    pd.testing.assert_frame_equal(one.changes, two.changes)
    pd.testing.assert_frame_equal(one.drivers, two.drivers)
    pd.testing.assert_frame_equal(frame, before)


# --- the statistics over seeds ------------------------------------------------------------


def scan_once(seed: int, before: int, after: int, low: float, high: float) -> tuple[int, bool]:
    """The changes found in one Bernoulli sequence, and whether the true split is covered."""
    rng = np.random.default_rng(seed)
    fails = np.r_[rng.random(before) < low, rng.random(after) < high].astype(np.int64)
    ones = np.ones(len(fails), dtype=np.int64)
    scan = _Scan(ones, fails, min_jobs=30, permutations=199, seed=seed)
    splits = _segment(scan, alpha=0.01, min_delta=0.01, max_changes=8)
    bounds = [0, *(k for k, _ in splits), len(fails)]
    covered = False
    for i, (k, _) in enumerate(splits):
        low_bin, high_bin = scan.interval(bounds[i], k, bounds[i + 2])
        covered |= low_bin <= before <= high_bin
    return len(splits), covered


@pytest.mark.slow
def test_no_change_is_reported_as_none_in_nearly_every_seed() -> None:
    """Over 40 seeds of 1,000 jobs at 13 %, at most two report a change (alpha = 1 %)."""
    found = [scan_once(seed, 1000, 0, 0.13, 0.13)[0] for seed in range(40)]
    assert sum(n > 0 for n in found) <= 2


@pytest.mark.slow
def test_a_change_from_10_to_20_percent_is_found_and_covered() -> None:
    """1,500 jobs at 10 % then 500 at 20 %: found and covered in at least 17 of 20 seeds.

    (benchmarks/bench_findings.py measures both rates over 200 seeds.)
    """
    runs = [scan_once(seed, 1500, 500, 0.10, 0.20) for seed in range(20)]
    assert sum(n >= 1 and covered for n, covered in runs) >= 17


# --- the parts and the views ----------------------------------------------------------------


def test_compare_failures_at_a_change_examines_it_with_the_existing_tool() -> None:
    """A change's moment goes straight into compare_failures; the new reason is "new"."""
    frame = batch(events=(Event(start=0.5),))
    groups = jobtools.failure_groups(frame)
    first = groups.loc[groups["error_code"] == NEW_CODE, "first_begun"].iloc[0]
    diff = jobtools.compare_failures(frame, at=first)
    assert diff.iloc[0]["error_code"] == NEW_CODE and diff.iloc[0]["trend"] == "new"
    found = findings(frame)
    at_change = jobtools.compare_failures(frame, at=found.changes["at"].iloc[0])
    assert at_change.iloc[0]["error_code"] == NEW_CODE
    with pytest.raises(ValueError, match="not both"):
        jobtools.compare_failures(frame, frame, at=first)


def test_words_views_and_method() -> None:
    """Markdown has the tables; headline is one line; method names its parameters."""
    found = findings(batch(events=(Event(start=0.5),)), tz="Asia/Shanghai")
    markdown = found.to_markdown()
    assert markdown.startswith("# Findings\n\nSince 20:")
    assert "## Changes (begin time, Asia/Shanghai)" in markdown and "## Drivers" in markdown
    assert "\n" not in found.headline() and "→" in found.headline()
    zh = found.text("zh")
    assert zh.startswith("自北京时间 20:") and "一个新原因 IMG.0188「OBS 桶" in zh
    assert zh.endswith("目前仍在持续。")
    assert found.method["clock"] == "begin_time" and found.method["alpha"] == 0.01
    assert repr(found).startswith('Findings("Failures 13 % → 47 % since 20:01 Beijing time')


def test_plot_returns_the_axes_with_the_change_marked() -> None:
    """plot draws on the given Axes and returns it; an interval is shaded per change."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = findings(batch(events=(Event(start=0.3, end=0.7, extra=0.5),)), tz="Asia/Shanghai")
    fig, ax = plt.subplots()
    try:
        assert found.plot(ax=ax) is ax
        assert "2 changes" in ax.get_title(loc="left")
        assert len(ax.patches) >= 2  # the two shaded intervals
        assert "Asia/Shanghai" in ax.get_xlabel()
    finally:
        plt.close(fig)


def test_html_escapes_hostile_text_and_keeps_dollars_literal() -> None:
    """A reason with markup and dollars shows as text; MathJax is told to leave it alone."""
    hostile = Event(start=0.5, reason="<script>alert(1)</script> costs $5 and $6 {i}")
    found = findings(batch(events=(hostile,)))
    page = found._repr_html_()
    assert page.startswith('<div class="mathjax_ignore">')
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "$" not in page and "costs &#36;&lt;n&gt; and &#36;&lt;n&gt;" in page
    assert '<img src="data:image/png;base64,' in page


def test_the_cli_explains_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`jobtools explain FILE --tz --lang zh` prints only the findings."""
    from jobtools.cli import main

    path = tmp_path / "jobs.csv"
    jobtools.write_jobs(batch(events=(Event(start=0.5),)), path)
    assert main(["explain", str(path), "--tz", "Asia/Shanghai", "--lang", "zh"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("自北京时间 20:") and "IMG.0188" in out
    assert main(["report", str(path), "--out", str(tmp_path / "report"), "--no-plots"]) == 0
    assert capsys.readouterr().out.startswith("Since 12:")  # report: the sentences too


def test_a_region_column_is_a_driver_dimension_too() -> None:
    """Where the frame has a region, a change in one region names it."""
    frame = batch(seed=9)
    rng = np.random.default_rng(9)
    frame["region"] = rng.choice(["cn-north-4", "cn-east-3"], len(frame))
    late = (frame["begin_time"] >= START + pd.Timedelta(hours=3)).to_numpy()
    hit = late & (frame["region"] == "cn-east-3").to_numpy() & (rng.random(len(frame)) < 0.6)
    frame["status"] = frame["status"].where(~hit, "FAIL")
    frame["error_code"] = frame["error_code"].astype("str").where(~hit, NEW_CODE)
    frame["fail_reason"] = frame["fail_reason"].where(~hit, "OBS endpoint unreachable")
    found = findings(cast_frame(frame))
    assert len(found.changes) == 1
    region = found.drivers[found.drivers["dimension"] == "region"].iloc[0]
    assert region["value"] == "cn-east-3" and region["share"] > 0.9


# --- Dask -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    """A real 2-worker LocalCluster on loopback, as tests/test_dask.py uses."""
    distributed = pytest.importorskip("distributed")
    with local_cluster() as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.mark.slow
def test_findings_of_a_dask_archive_are_the_pandas_findings(client: object, tmp_path: Path) -> None:
    """Counted per partition of JSONL files read by read_jobs_dask: the same answers."""
    frame = batch(4000, events=(Event(start=0.3, end=0.7, extra=0.5),))
    jobtools.write_jobs(frame.iloc[:2500], tmp_path / "a.jsonl")
    jobtools.write_jobs(frame.iloc[2500:], tmp_path / "b.jsonl")
    pandas_frame = jobtools.read_jobs(tmp_path)
    lazy = jobtools.read_jobs_dask(str(tmp_path / "*.jsonl"), blocksize=200_000)
    assert lazy.npartitions > 2
    expected, got = findings(pandas_frame), findings(lazy)
    assert len(expected.changes) == 2
    pd.testing.assert_frame_equal(got.changes, expected.changes)
    pd.testing.assert_frame_equal(got.drivers, expected.drivers)
    assert got.text() == expected.text()
    for groupby in ("job_type", "reason"):
        pd.testing.assert_frame_equal(
            jobtools.rates_over_time(lazy, "1h", groupby=groupby),
            jobtools.rates_over_time(pandas_frame, "1h", groupby=groupby),
        )


def test_the_latest_jobs_are_left_out_while_many_still_run() -> None:
    """The quick failures end first: a tail where most jobs still run is no rise, and is said."""
    frame = batch(seed=8)
    late = np.arange(len(frame)) >= len(frame) - 200
    running = late & frame["status"].eq("SUCCESS").to_numpy()
    frame["status"] = frame["status"].where(~running, "RUNNING")
    frame.loc[running, "end_time"] = pd.NaT
    frame["is_terminal"] = ~running
    # Among the last 200 jobs only failures have ended: judged as they are, a rise to 100 %.
    found = findings(frame)
    assert found.changes.empty
    assert found.overall["unjudged_running"] >= 150
    assert "Jobs that began from " in found.text() and "have not ended yet." in found.text()
    assert "之后开始的作业未计入" in found.text("zh")
