from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.text  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from _hostile_text import TEXTS  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from jobtools import failure_groups, jobs_to_frame, write_report  # noqa: E402
from jobtools import rates_over_time as jobtools_rates  # noqa: E402
from jobtools.sample import generate_jobs  # noqa: E402
from jobtools.views.plots import (  # noqa: E402
    NOT_FETCHED,
    STATUS_COLORS,
    plot_durations,
    plot_failure_reasons,
    plot_rates,
    plot_status_counts,
    plot_timeline,
)

NOW = "2024-11-06T12:00:00Z"
PLOTS: dict[str, Callable[..., Axes]] = {
    "durations": plot_durations,
    "failure_reasons": plot_failure_reasons,
    "timeline": lambda frame, **kw: plot_timeline(frame, now=NOW, **kw),
    "rates": plot_rates,
    "status_counts": plot_status_counts,
}


@pytest.fixture(autouse=True)
def _close_figures(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No plot may call show(); every figure a test makes is closed after it."""

    def no_show(*args: object, **kwargs: object) -> None:
        raise AssertionError("a plot function called show()")

    monkeypatch.setattr(plt, "show", no_show)
    yield
    plt.close("all")


def job(job_id: str, status: str, begin: str, seconds: float | None, **fields: object) -> dict:
    end = "" if seconds is None else (pd.Timestamp(begin) + pd.Timedelta(seconds=seconds))
    return {
        "job_id": job_id,
        "job_type": fields.pop("job_type", "imsImportImageJob"),
        "status": status,
        "begin_time": begin,
        "end_time": end if isinstance(end, str) else end.isoformat(),
        **fields,
    }


def small() -> pd.DataFrame:
    return jobs_to_frame(
        [
            job("s1", "SUCCESS", "2024-11-05T10:00:00Z", 60, job_type="export"),
            job("s2", "SUCCESS", "2024-11-05T11:00:00Z", 120, job_type="export"),
            job("s3", "SUCCESS", "2024-11-06T09:00:00Z", 5, job_type="members"),
            job("f1", "FAIL", "2024-11-05T12:00:00Z", 30, error_code="IMG.0015",
                fail_reason="Quota: 50, used: 50."),
            job("f2", "FAIL", "2024-11-06T08:00:00Z", 30, error_code="IMG.0015",
                fail_reason="Quota: 100, used: 100."),
            job("f3", "FAIL", "2024-11-06T08:30:00Z", 30, error_code="IMG.0050",
                fail_reason="镜像文件 a-1.vhd 的格式不支持：qed。"),
            job("r1", "RUNNING", "2024-11-06T11:00:00Z", None),
            job("i1", "INIT", "2024-11-06T11:59:50Z", None),
        ]
    )  # fmt: skip


def bars(ax: Axes) -> list[Rectangle]:
    """The data bars of an Axes (not legend handles, not the background)."""
    return [p for p in ax.patches if isinstance(p, Rectangle)]


@pytest.mark.parametrize("name", PLOTS)
def test_each_plot_returns_the_axes_it_was_given(name: str) -> None:
    """Given an Axes, a plot draws on it and returns it; it never calls show()."""
    fig, ax = plt.subplots()
    assert PLOTS[name](small(), ax=ax) is ax
    assert ax.get_title()


@pytest.mark.parametrize("name", PLOTS)
def test_each_plot_makes_its_own_axes_when_none_given(name: str) -> None:
    """Without an Axes, a plot makes a new figure and returns its Axes."""
    ax = PLOTS[name](small())
    assert isinstance(ax, Axes)
    assert ax.get_xlabel() and ax.get_ylabel()


@pytest.mark.parametrize("name", PLOTS)
def test_an_empty_frame_gives_an_empty_labelled_plot(name: str) -> None:
    """An empty frame is not an error: the plot keeps its title and labels and says why."""
    ax = PLOTS[name](jobs_to_frame([]))
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    assert any(text.get_text().startswith("no ") for text in ax.texts)
    assert not bars(ax) and not ax.get_lines()


@pytest.mark.parametrize("name", PLOTS)
def test_a_single_job_plots(name: str) -> None:
    """One job is enough for every plot; none of them fails on it."""
    frame = jobs_to_frame([job("only", "FAIL", "2024-11-05T10:00:00Z", 30, fail_reason="x")])
    PLOTS[name](frame).figure.canvas.draw()


@pytest.fixture(scope="module")
def many() -> pd.DataFrame:
    return jobs_to_frame(generate_jobs(3000, seed=7))


@pytest.mark.parametrize("name", PLOTS)
def test_many_jobs_are_aggregated_not_labelled_one_by_one(name: str, many: pd.DataFrame) -> None:
    """With thousands of jobs no plot has a label or a bar per job."""
    ax = PLOTS[name](many)
    ax.figure.canvas.draw()
    assert len(ax.get_yticklabels()) <= 40 and len(ax.get_xticklabels()) <= 40
    assert len(bars(ax)) <= 200


def test_durations_one_box_per_type_slowest_on_top() -> None:
    """Boxes per job type, labelled with their counts, ordered by median duration."""
    ax = plot_durations(small())
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["members (n=1)", "export (n=2)"]  # bottom to top: fastest first
    assert ax.get_xscale() == "linear"
    assert "SUCCESS, 3 jobs" in ax.get_title()


def test_durations_log_scale_statuses_and_other() -> None:
    """Log scale on request, failures on request, and types beyond `top` share one box."""
    ax = plot_durations(small(), log=True, statuses=("SUCCESS", "FAIL"), top=2)
    assert ax.get_xscale() == "log"
    labels = {t.get_text() for t in ax.get_yticklabels()}
    assert labels == {"imsImportImageJob (n=3)", "other (2 types) (n=3)"}  # 2 boxes in all


def test_failure_reasons_bars_counts_and_shares() -> None:
    """One bar per group, biggest on top, labelled by code and template with count and share."""
    ax = plot_failure_reasons(small())
    labels = [t.get_text() for t in ax.get_yticklabels()]  # top first
    assert labels[0] == "IMG.0015  Quota: <n>, used: <n>."
    assert labels[1].startswith("IMG.0050  镜像文件 <name>")
    assert [b.get_width() for b in bars(ax)] == [2, 1]
    assert [t.get_text() for t in ax.texts] == ["2 (67%)", "1 (33%)"]
    assert "3 failed jobs, 2 groups" in ax.get_title()


def test_failure_reasons_top_n_and_other_from_a_groups_frame() -> None:
    """Beyond `top`, the remaining groups are one "other" bar; a groups frame is accepted."""
    ax = plot_failure_reasons(failure_groups(small()), top=1, width=10)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["IMG.0015  Quota: <n…", "other (1 group)"]
    assert [t.get_text() for t in ax.texts] == ["2 (67%)", "1 (33%)"]


def test_timeline_bars_span_begin_to_end_or_now_coloured_by_status() -> None:
    """A bar per job from begin to end (to now while running), in its status colour."""
    frame = small()
    ax = plot_timeline(frame, now=NOW)
    drawn = bars(ax)
    assert len(drawn) == len(frame)
    labels = [t.get_text() for t in ax.get_yticklabels()]  # top first = earliest
    assert labels[0] == "s1" and labels[-1] == "i1"
    by_id = dict(zip(labels, drawn, strict=True))
    running = by_id["r1"]
    assert mdates.num2date(running.get_x() + running.get_width()) == pd.Timestamp(NOW)
    assert mcolors.to_hex(running.get_facecolor()) == STATUS_COLORS["RUNNING"].lower()
    assert mcolors.to_hex(by_id["f1"].get_facecolor()) == STATUS_COLORS["FAIL"].lower()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["INIT", "RUNNING", "SUCCESS", "FAIL"]
    assert ax.get_xlabel() == "time (UTC)"


def test_timeline_caps_to_the_latest_jobs_and_shows_the_zone() -> None:
    """Past `max_jobs` only the latest are drawn, the title says so; `tz` sets the axis zone."""
    ax = plot_timeline(small(), now=NOW, max_jobs=3, tz="Asia/Shanghai")
    assert len(bars(ax)) == 3
    assert "latest 3 of 8 jobs" in ax.get_title()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["s3", "r1", "i1"]
    assert ax.get_xlabel() == "time (Asia/Shanghai)"
    ax.figure.canvas.draw()
    # 2024-11-06 is the only day shown; in Shanghai the jobs run from 16:00 to 20:00
    ticks = " ".join(t.get_text() for t in ax.get_xticklabels())
    assert "16:00" in ticks or "17:00" in ticks


def test_rates_plot_two_lines_of_shares() -> None:
    """Success and failure rates are two lines of shares per period."""
    ax = plot_rates(small(), period="1D", min_count=1)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"success rate", "failure rate"}
    assert list(lines["failure rate"].get_ydata()) == pytest.approx([1 / 3, 2 / 3])
    assert "per 1D (6 jobs)" in ax.get_title()
    assert ax.get_xlabel() == "period start (UTC)"


def test_status_counts_bars_in_status_order() -> None:
    """One bar per status present, in the documented order; unfetched rows get their own bar."""
    frame = pd.concat([small(), jobs_to_frame([{"job_id": "lost"}])], ignore_index=True)
    ax = plot_status_counts(frame)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["INIT", "RUNNING", "SUCCESS", "FAIL", NOT_FETCHED]
    assert [b.get_height() for b in bars(ax)] == [1, 1, 3, 3, 1]
    assert [t.get_text() for t in ax.texts] == ["1", "1", "3", "3", "1"]


def test_chinese_failure_reasons_render_without_missing_glyphs() -> None:
    """Chinese templates draw with a CJK font: no "Glyph ... missing" warning (errors here)."""
    ax = plot_failure_reasons(small())
    ax.figure.canvas.draw()
    label = next(t for t in ax.get_yticklabels() if "镜像" in t.get_text())
    assert "Noto Sans CJK SC" in label.get_fontfamily()


def test_failure_reasons_ticks_are_whole_jobs_and_labels_stay_inside() -> None:
    """Count ticks are integers, and every bar label lies inside the axes."""
    ax = plot_failure_reasons(small())
    ax.figure.canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_xticks())
    box = ax.get_window_extent()
    for label in ax.texts:
        extent = label.get_window_extent()
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1, label.get_text()


def test_timeline_is_not_squeezed_by_jobs_running_to_a_far_now() -> None:
    """Running jobs reaching to a now a month later end at the axis edge with an arrow."""
    frame = small()
    far = "2024-12-06T12:00:00Z"
    ax = plot_timeline(frame, now=far)
    right = mdates.num2date(ax.get_xlim()[1])
    assert right < pd.Timestamp("2024-11-07", tz="UTC")  # not a month of empty axis
    arrows = [line for line in ax.get_lines() if line.get_marker() == ">"]
    assert len(arrows) == 1 and len(arrows[0].get_xdata()) == 2  # r1 and i1 run on
    assert "still running at 2024-12-06 12:00 UTC" in ax.get_title()


def test_timeline_labels_never_overlap() -> None:
    """Labels are short (image name or cut id) and dropped when rows are too many to label."""
    records = [
        job(f"{n:032x}", "SUCCESS", f"2024-11-{1 + n % 28:02d}T{n % 24:02d}:00:00Z", 3600)
        for n in range(200)
    ]
    records[0]["entities"] = {"image_name": "ubuntu22-ci-7"}
    ax = plot_timeline(jobs_to_frame(records[:30]), now=NOW)
    ax.figure.canvas.draw()
    labels = ax.get_yticklabels()
    assert "ubuntu22-ci-7" in [t.get_text() for t in labels]
    assert all(len(t.get_text()) <= 24 for t in labels)
    boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.y0)
    assert all(a.y1 <= b.y0 + 0.5 for a, b in zip(boxes, boxes[1:], strict=False))
    many = plot_timeline(jobs_to_frame(records), now=NOW)  # 200 jobs over a month
    assert len(bars(many)) == 200 and list(many.get_yticks()) == []


def test_rates_skip_thin_periods_and_show_volume() -> None:
    """Periods with fewer than `min_count` finished jobs get no rate; volume bars show counts."""
    frame = jobs_to_frame(generate_jobs(3000, seed=7))
    ax = plot_rates(frame, period="2h")
    rates = jobtools_rates(frame, "2h")
    line = next(x for x in ax.get_lines() if x.get_label() == "failure rate")
    assert line.get_marker() in ("", "None")  # hundreds of periods: a line, no dots
    pool = int(np.ceil(len(rates) / 60))
    assert f"pooled over {pool} periods" in ax.get_title()
    pooled = rates["finished"].rolling(pool, center=True, min_periods=1).sum().to_numpy()
    drawn = ~np.isnan(np.asarray(line.get_ydata(), dtype=float))
    assert drawn.any() and (pooled[drawn] >= 5).all()
    sparse = plot_rates(small(), period="1D")  # 3 jobs a day: too few for a rate
    assert all(np.isnan(np.asarray(x.get_ydata(), dtype=float)).all() for x in sparse.get_lines())
    volume = next(other for other in ax.figure.axes if other is not ax)
    assert [p.get_height() for p in bars(volume)] == rates["finished"].tolist()


def test_rates_axis_runs_over_the_periods_jobs_finished_in() -> None:
    """A job still running since a week ago does not stretch the axis over empty hours."""
    day = pd.Timestamp("2026-12-01 10:00", tz="UTC")
    records = [
        {
            "job_id": f"j{i}",
            "status": "SUCCESS",
            "begin_time": (day + pd.Timedelta(minutes=10 * i)).isoformat(),
            "end_time": (day + pd.Timedelta(minutes=10 * i + 5)).isoformat(),
        }
        for i in range(30)
    ]
    records.append({"job_id": "old", "status": "RUNNING", "begin_time": "2026-11-23T10:00:00Z"})
    ax = plot_rates(jobs_to_frame(records), period="1h")
    volume = next(other for other in ax.figure.axes if other is not ax)
    assert len(bars(volume)) == 5  # 10:00 to 14:00, not eight days of hours
    assert "pooled" not in ax.get_title()


def hostile() -> pd.DataFrame:
    """small() with the hostile texts as reasons, codes, job types and image names."""
    records = [
        job(f"h{n}", "FAIL", f"2024-11-06T0{n}:00:00Z", 30, job_type=text, error_code=text[:20],
            fail_reason=text, entities={"image_name": text})
        for n, text in enumerate(TEXTS)
    ]  # fmt: skip
    return pd.concat([small(), jobs_to_frame(records)], ignore_index=True)


@pytest.mark.parametrize("name", PLOTS)
def test_no_text_can_break_a_plot_and_all_is_drawn_literally(name: str) -> None:
    """`$\\undefinedmacro{x}$` draws as written (no mathtext), control characters written out."""
    ax = PLOTS[name](hostile())
    ax.figure.savefig(io.BytesIO(), format="png")  # mathtext would raise ValueError here
    texts = [t for t in ax.figure.findobj(matplotlib.text.Text) if t.get_text()]
    assert not any(t._preprocess_math(t.get_text())[1] for t in texts)  # never mathtext
    drawn = " ".join(t.get_text() for t in texts)
    assert "\u202e" not in drawn and "\u200b" not in drawn


def test_failure_reasons_show_dollars_and_overrides_as_written() -> None:
    """A reason's `$` and right-to-left override appear in its label as written."""
    ax = plot_failure_reasons(hostile(), width=200)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert any("\\$HOME and \\$PATH" in label for label in labels)  # drawn as "$HOME and $PATH"
    assert any("invoice\\u202egpj.exe" in label for label in labels)


def test_failure_reason_labels_are_never_clipped_in_a_narrow_panel() -> None:
    """Beside another plot the bar labels are drawn whole, not clipped at the axes' edge."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 4), layout="constrained")
    plot_failure_reasons(small(), ax=right)
    assert all(not label.get_clip_on() for label in right.texts)


def test_timeline_is_not_stretched_by_a_job_from_the_day_before() -> None:
    """One job of 40 that began the previous afternoon: the axis starts near the rest."""
    records = [job(f"j{n}", "FAIL", f"2024-11-06T{8 + n // 10:02d}:{n % 10 * 5:02d}:00Z", 600)
               for n in range(40)]  # fmt: skip
    records.append(job("old", "FAIL", "2024-11-05T15:00:00Z", 60))
    ax = plot_timeline(jobs_to_frame(records), now=NOW)
    left = mdates.num2date(ax.get_xlim()[0])
    assert left > pd.Timestamp("2024-11-06T07:00:00Z")
    assert "1 began earlier, from 2024-11-05 15:00 UTC" in ax.get_title()


@pytest.mark.slow  # end to end (or a fuzz): `make test` runs it, `make test-fast` not
def test_no_text_can_break_a_report(tmp_path: Path) -> None:
    """write_report draws every plot of the hostile frame into its PNGs without an error."""
    folder = write_report(hostile(), tmp_path / "report")
    assert (folder / "failure_reasons.png").stat().st_size > 0
    assert (folder / "timeline.png").stat().st_size > 0
