"""Tests for jobtools.views.tables: frames shown for reading, the frames themselves unchanged."""

from __future__ import annotations

import pandas as pd
import pytest

import jobtools
from jobtools.sample import SAMPLE_PATH
from jobtools.views._html import duration
from jobtools.views.tables import style_table


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return jobtools.read_jobs(SAMPLE_PATH)


def test_summary_reads_as_percentages_and_durations(frame: pd.DataFrame) -> None:
    """success_rate as a percentage, p50_s..p99_s as "1h 38m" under p50..p99; raw frame kept."""
    summary = jobtools.summary_by_type(frame)
    before = summary.copy()
    html = style_table(summary).to_html()
    pd.testing.assert_frame_equal(summary, before)
    first = summary.iloc[0]
    assert f"{100 * first['success_rate']:.1f}%" in html
    assert f">{duration(first['p99_s'])}<" in html
    assert ">p99<" in html and "p99_s" not in html


def test_failure_groups_show_whole_templates_left_aligned_and_marked_zh(
    frame: pd.DataFrame,
) -> None:
    """Templates are whole, escaped, left-aligned and wrapped; Chinese ones carry lang="zh"."""
    groups = jobtools.failure_groups(frame)[["error_code", "template", "count", "share"]]
    html = style_table(groups).to_html()
    chinese = next(t for t in groups["template"] if "镜像" in t)
    escaped = chinese.replace("<", "&lt;").replace(">", "&gt;")
    assert f'<span lang="zh">{escaped}</span>' in html
    assert "<name>" not in html  # escaped, never markup
    assert "text-align: left" in html and "white-space: pre-wrap" in html
    assert "min-width: 24em" in html  # the template column is wide enough to read


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        (pd.Series([1234567]), "1,234,567"),
        (pd.Series([pd.Timestamp("2024-11-06 11:58:01", tz="UTC")]), "2024-11-06 11:58 UTC"),
        (pd.Series([pd.Timedelta(hours=5, minutes=30)]), "5h 30m"),
        (pd.Series([0.0425], name="share_change"), "+4.2 pp"),
        (pd.Series([None], dtype="float64", name="failure_rate"), "<td"),
    ],
)
def test_values_are_formatted_by_kind(values: pd.Series, shown: str) -> None:
    """Counts, UTC times, timedeltas and share changes each read their own way."""
    name = values.name or "value"
    html = style_table(values.rename(name).to_frame()).to_html()
    assert shown in html


def test_long_frames_are_cut_with_a_caption() -> None:
    """Only the first `max_rows` rows are drawn, and the caption says of how many."""
    frame = pd.DataFrame({"count": range(120)})
    html = style_table(frame, max_rows=10).to_html()
    assert "first 10 of 120 rows" in html and html.count("<tr>") == 11
