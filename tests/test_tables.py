"""Tests for jobtools.views.tables: frames shown for reading, the frames themselves unchanged."""

from __future__ import annotations

from html import escape

import pandas as pd
import pytest
from _hostile_text import INVISIBLE, LONG, RTL, SCRIPT, TEXTS

import jobtools
from jobtools.sample import SAMPLE_PATH
from jobtools.views._html import duration, visible
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


@pytest.mark.parametrize(
    "text", TEXTS, ids=["dollars", "macro", "script", "rtl", "invisible", "long"]
)
def test_any_text_is_shown_literally_in_cells_headers_and_index(text: str) -> None:
    """Cells, column names and index labels are escaped; the table is out of MathJax's reach."""
    frame = pd.DataFrame({text: [text], "count": [1]}, index=pd.Index([text]))
    html = style_table(frame).to_html()
    assert "<img" not in html and "\u202e" not in html and "\u200b" not in html
    assert 'class="mathjax_ignore"' in html
    if text in (RTL, INVISIBLE):
        assert "\\u202e" in html or "\\u200b" in html
    if text == LONG:  # cut with the whole value on hover; headers shorter still
        assert f"title='{text}'" in html and text[:499] + "…" in html
    elif text == SCRIPT:
        assert html.count("&lt;img src=x onerror=") == 3
    else:
        assert html.count(escape(visible(text), quote=False)) >= 3


def test_long_unbroken_text_breaks_anywhere() -> None:
    """A long token breaks anywhere, so it cannot push the table off-screen; words stay whole."""
    html = style_table(pd.DataFrame({"fail_reason": [LONG, "Quota exceeded"]})).to_html()
    assert "overflow-wrap:anywhere'>https://obs" in html and "max-width: 100%" in html
    assert ">Quota exceeded<" in html  # no anywhere-break for ordinary words


def test_compare_failures_rates_read_as_percentages() -> None:
    """rate_before and rate_after are shares of jobs: percentages, not 0.00333."""
    html = style_table(pd.DataFrame({"rate_before": [1 / 300], "p_adjusted": [0.0543]})).to_html()
    assert "0.3%" in html and "0.0543" in html and "0.00333" not in html
