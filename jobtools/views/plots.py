"""Plots of a job frame with matplotlib: durations, failure reasons, a timeline, rates, statuses.

Every function takes `ax=None` (a new figure when None), returns the Axes and never calls
`show()`. They aggregate before drawing, so 1 job and 100,000 jobs read the same: boxes per
job type, the top failure groups, rates per period, a capped timeline. An empty frame gives
an empty plot with its title and labels. Time axes are in UTC unless `tz=` names a zone.

matplotlib is imported inside the functions, so `import jobtools` does not load it.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobtools.analysis.failures import failure_groups
from jobtools.analysis.summary import rates_over_time
from jobtools.schema import STATUS_ORDER, JobStatus
from jobtools.times import to_utc

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "STATUS_COLORS",
    "plot_durations",
    "plot_failure_reasons",
    "plot_rates",
    "plot_status_counts",
    "plot_timeline",
]

# Colour-blind-safe (Okabe-Ito) colours, the same status the same colour in every plot.
STATUS_COLORS: dict[str, str] = {
    "INIT": "#999999",
    "RUNNING": "#0072B2",
    "SUCCESS": "#009E73",
    "FAIL": "#D55E00",
    "PENDING_PAYMENT": "#E69F00",
}
_OTHER_COLOR = "#CC79A7"  # unknown statuses, and rows that were never fetched
NOT_FETCHED = "(not fetched)"
# Fonts with Chinese characters (the first ships with mplfonts; then Linux, macOS, Windows).
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "Microsoft YaHei",
    "SimHei",
    "Arial Unicode MS",
)


def plot_durations(
    frame: pd.DataFrame,
    *,
    ax: Axes | None = None,
    log: bool = False,
    top: int = 16,
    statuses: Iterable[str] = (JobStatus.SUCCESS,),
) -> Axes:
    """The duration distribution of each job type, one box per type, slowest median on top.

    Boxes span the 25th to 75th percentile with a line at the median; whiskers reach the 1st
    and 99th percentiles (no single points, so 100,000 jobs draw as fast as 10). The `top`
    most frequent types get their own box; the rest share an "other" box.

    Args:
        log: a logarithmic duration axis, for types from seconds to hours side by side.
        statuses: whose durations; by default successful jobs only, as in `summary_by_type`.
    """
    ax = _axes(ax, figsize=(8, 5))
    wanted = frame["status"].isin([str(s) for s in statuses]).to_numpy()
    seconds = frame["duration"].dt.total_seconds()[wanted]
    kinds = frame["job_type"][wanted]
    has = seconds.notna().to_numpy()
    seconds, kinds = seconds[has], kinds[has].fillna("(no type)")
    which = ", ".join(str(s) for s in statuses)
    ax.set_title(f"Duration by job type ({which}, {len(seconds):,} jobs)")
    ax.set_xlabel("duration (s, log scale)" if log else "duration (s)")
    ax.set_ylabel("job type")
    if seconds.empty:
        return _say_empty(ax)
    kinds = _top_or_other(kinds, top, "type")
    levels = [0.01, 0.25, 0.5, 0.75, 0.99]
    stats = seconds.groupby(kinds.to_numpy()).quantile(levels).unstack()
    counts = kinds.value_counts()
    stats = stats.loc[stats[0.5].sort_values().index]
    boxes = [
        {
            "label": f"{kind} (n={counts[kind]:,})",
            "whislo": row[0.01],
            "q1": row[0.25],
            "med": row[0.5],
            "q3": row[0.75],
            "whishi": row[0.99],
            "fliers": [],
        }
        for kind, row in stats.iterrows()
    ]
    ax.bxp(boxes, orientation="horizontal", showfliers=False)
    if log:
        # A zero-second job has no place on a log axis; the positive ones set the range.
        ax.set_xscale("log")
        positive = seconds[seconds > 0]
        if not positive.empty:
            ax.set_xlim(left=positive.quantile(0.01) / 2)
    return ax


def plot_failure_reasons(
    data: pd.DataFrame, *, ax: Axes | None = None, top: int = 10, width: int = 60
) -> Axes:
    """The biggest failure groups as bars, labelled with error code, template, count and share.

    Args:
        data: a job frame, or the frame `failure_groups` made of one.
        top: how many groups get a bar; the rest are summed into one "other" bar.
        width: template text longer than this is cut with "…".
    """
    groups = data if "template" in data.columns else failure_groups(data, examples=0)
    ax = _axes(ax, figsize=(9, 5))
    total = int(groups["count"].sum())
    ax.set_title(f"Failure reasons ({total:,} failed jobs, {len(groups):,} groups)")
    ax.set_xlabel("failed jobs")
    ax.set_ylabel("error code and message template")
    if groups.empty:
        return _say_empty(ax, "no failures")
    shown = groups.sort_values("count", ascending=False).head(top)
    code = shown["error_code"].fillna("(no code)")
    labels = (code + "  " + shown["template"].map(lambda t: _cut(t, width))).tolist()
    counts = shown["count"].tolist()
    rest = groups["count"].sum() - shown["count"].sum()
    if rest > 0:
        labels.append(f"other ({_count(len(groups) - len(shown), 'group')})")
        counts.append(rest)
    shares = [c / total for c in counts]
    positions = np.arange(len(counts))[::-1]  # the biggest at the top
    bars = ax.barh(positions, counts, color=STATUS_COLORS["FAIL"])
    ax.set_yticks(positions, labels, fontfamily=_text_fonts())
    ax.bar_label(bars, [f"{c:,} ({s:.0%})" for c, s in zip(counts, shares, strict=True)], padding=3)
    ax.set_xlim(right=max(counts) * 1.2)  # room for the labels
    return ax


def plot_timeline(
    frame: pd.DataFrame,
    *,
    ax: Axes | None = None,
    now: datetime | str | None = None,
    max_jobs: int = 200,
    tz: str | tzinfo | None = None,
) -> Axes:
    """A Gantt chart: one bar per job from begin to end (or to `now` while it runs), by status.

    Beyond `max_jobs` jobs only the latest `max_jobs` (by begin time) are drawn and the title
    says so; job ids label the bars when there are few enough to read.

    Args:
        now: where the bars of unfinished jobs end (default: the current time).
        tz: the zone of the time axis (default UTC).
    """
    from matplotlib.patches import Patch

    ax = _axes(ax, figsize=(10, 5))
    zone = _zone_name(tz)
    ax.set_xlabel(f"time ({zone})")
    ax.set_ylabel("job")
    jobs = frame[frame["begin_time"].notna().to_numpy()]
    total = len(jobs)
    jobs = jobs.sort_values("begin_time", kind="stable").tail(max_jobs)
    shown = f"latest {len(jobs):,} of {total:,} jobs" if len(jobs) < total else f"{total:,} jobs"
    ax.set_title(f"Job timeline ({shown})")
    if jobs.empty:
        return _say_empty(ax)
    present = pd.Timestamp.now(tz="UTC") if now is None else to_utc(now, "now")
    begin = jobs["begin_time"]
    running = ~jobs["is_terminal"].astype(bool) & jobs["end_time"].isna()
    end = jobs["end_time"].where(~running, present).fillna(begin)
    start, stop = _date_numbers(begin), _date_numbers(end)
    # Keep the shortest jobs visible: at least a 300th of the time shown, a pixel or two.
    span = max(float(stop.max() - start.min()), 1 / 86400)
    widths = np.maximum(stop - start, span / 300)
    rows = np.arange(len(jobs))[::-1]  # the earliest at the top
    status = _status_labels(jobs["status"])
    ax.barh(rows, widths, left=start, height=0.8, color=status.map(_color).tolist())
    if len(jobs) <= 40:
        ax.set_yticks(rows, jobs["job_id"].fillna("").tolist(), fontsize="small")
    else:
        ax.set_yticks([])
    _time_axis(ax, tz)
    present_statuses = [s for s in _status_order(status) if (status == s).any()]
    ax.legend(
        handles=[Patch(color=_color(s), label=s) for s in present_statuses],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),  # outside, where no bar can hide under it
        fontsize="small",
    )
    return ax


def plot_rates(
    frame: pd.DataFrame,
    *,
    ax: Axes | None = None,
    period: str = "1D",
    tz: str | tzinfo | None = None,
) -> Axes:
    """Success and failure rate per period, as shares of the jobs that finished in it.

    Args:
        period: a pandas frequency, e.g. "1h", "1D", "1W".
        tz: the zone of the time axis and of the periods (default UTC): days start at its midnight.
    """
    ax = _axes(ax, figsize=(9, 4))
    rates = rates_over_time(frame, period, tz=tz)
    ax.set_title(f"Success and failure rate per {period} ({int(rates['finished'].sum()):,} jobs)")
    ax.set_xlabel(f"period start ({_zone_name(tz)})")
    ax.set_ylabel("share of finished jobs")
    ax.set_ylim(-0.02, 1.02)
    _percent_axis(ax)
    rates = rates[rates["finished"] > 0]
    if rates.empty:
        return _say_empty(ax, "no finished jobs")
    x = _date_numbers(pd.Series(rates.index))
    for column, status in (("success_rate", "SUCCESS"), ("failure_rate", "FAIL")):
        ax.plot(
            x,
            rates[column].to_numpy(),
            marker="o",
            markersize=3,
            color=STATUS_COLORS[status],
            label=column.replace("_", " "),
        )
    _time_axis(ax, tz)
    ax.legend(loc="center left", fontsize="small")
    return ax


def plot_status_counts(frame: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """How many jobs are in each status, as labelled bars (rows never fetched get their own)."""
    ax = _axes(ax, figsize=(7, 4))
    ax.set_title(f"Jobs by status ({len(frame):,} jobs)")
    ax.set_xlabel("status")
    ax.set_ylabel("jobs")
    if frame.empty:
        return _say_empty(ax)
    status = _status_labels(frame["status"])
    counts = status.value_counts()
    order = [s for s in _status_order(status) if counts.get(s, 0) > 0]
    values = [int(counts[s]) for s in order]
    bars = ax.bar(order, values, color=[_color(s) for s in order])
    ax.bar_label(bars, [f"{v:,}" for v in values], padding=2)
    ax.set_ylim(top=max(values) * 1.15)
    return ax


def _axes(ax: Axes | None, *, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new = plt.subplots(figsize=figsize, layout="constrained")
    return new


def _say_empty(ax: Axes, text: str = "no jobs") -> Axes:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="gray")
    return ax


def _top_or_other(kinds: pd.Series, top: int, what: str) -> pd.Series:
    kinds = kinds.astype("str")  # a categorical would refuse the new "other" value
    counts = kinds.value_counts()
    if len(counts) <= top:
        return kinds
    keep = counts.index[: max(top - 1, 1)]
    other = f"other ({_count(len(counts) - len(keep), what)})"
    return kinds.where(kinds.isin(keep), other)


@functools.cache
def _text_fonts() -> list[str]:
    """matplotlib's default font, then the first installed font that has Chinese characters.

    `fail_reason` texts can be Chinese, which the default font (DejaVu Sans) lacks; matplotlib
    falls back from one family of the list to the next glyph by glyph. The `mplfonts`
    dependency ships one, so no system font is needed.
    """
    from matplotlib import font_manager, rcParams

    bundled = _bundled_cjk_font()
    if bundled is not None:
        # Registered for this process only: no rcParams changed, no files copied.
        font_manager.fontManager.addfont(str(bundled))
    installed = {font.name for font in font_manager.fontManager.ttflist}
    chinese = [name for name in _CJK_FONTS if name in installed][:1]
    return [*rcParams["font.sans-serif"][:1], *chinese]


def _bundled_cjk_font() -> Path | None:
    """Noto Sans CJK SC as shipped by the `mplfonts` package, found without importing it."""
    spec = importlib.util.find_spec("mplfonts")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "fonts" / "NotoSansCJKsc-Regular.otf"
        if path.is_file():
            return path
    return None


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _status_labels(status: pd.Series) -> pd.Series:
    return status.astype("str").fillna(NOT_FETCHED)


def _status_order(status: pd.Series) -> list[str]:
    unknown = sorted(set(status.unique()) - set(STATUS_ORDER) - {NOT_FETCHED})
    return [*STATUS_ORDER, *unknown, NOT_FETCHED]


def _color(status: str) -> str:
    return STATUS_COLORS.get(status, _OTHER_COLOR)


def _zone_name(tz: str | tzinfo | None) -> str:
    return "UTC" if tz is None else str(tz)


def _date_numbers(times: pd.Series) -> np.ndarray:
    """matplotlib date numbers (days since the epoch) of UTC times, vectorised."""
    from matplotlib.dates import date2num

    naive = pd.DatetimeIndex(times).tz_convert("UTC").tz_localize(None)
    return np.asarray(date2num(naive.to_numpy()), dtype=float)


def _time_axis(ax: Axes, tz: str | tzinfo | None) -> None:
    """Date ticks and labels in `tz` (UTC by default) for an axis of UTC date numbers."""
    import matplotlib.dates as mdates

    zone: Any = tz if tz is not None else "UTC"
    locator = mdates.AutoDateLocator(tz=zone)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=zone))


def _percent_axis(ax: Axes) -> None:
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
