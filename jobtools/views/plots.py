"""Plots of a job frame with matplotlib: durations, failure reasons, a timeline, rates, statuses.

Every function takes `ax=None` (a new figure when None), returns the Axes and never calls
`show()`. They aggregate before drawing, so 1 job and 100,000 jobs read the same: boxes per
job type, the top failure groups, rates per period, a capped timeline. An empty frame gives
an empty plot with its title and labels. Time axes are in UTC unless `tz=` names a zone.

Text from the data is drawn literally: a `$` is a dollar, never the start of matplotlib's
mathtext (so `$\\undefinedmacro{x}$` cannot break a plot or a report), and characters that
would act (a right-to-left override, zero-width spaces) are written out as `\\u202e`.

matplotlib is imported inside the functions, so `import jobtools` does not load it.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from jobtools.analysis.failures import failure_groups
from jobtools.analysis.summary import rates_over_time
from jobtools.schema import STATUS_ORDER, JobStatus
from jobtools.times import to_utc
from jobtools.views._html import visible

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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
# Fonts with Chinese characters (Linux, macOS, Windows; then the `[cjk]` extra's).
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
    "Noto Sans CJK TC",
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
    which = literal(", ".join(str(s) for s in statuses))
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
            "label": f"{literal(_cut(kind, 40))} (n={counts[kind]:,})",
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
    # Right-aligned: the long labels push the axes right, and a centred title would be cut.
    ax.set_title(f"Failure reasons ({total:,} failed jobs, {len(groups):,} groups)")
    ax.title.set_horizontalalignment("right")
    ax.title.set_x(1.0)
    ax.set_xlabel("failed jobs")
    ax.set_ylabel("error code and message template")
    if groups.empty:
        return _say_empty(ax, "no failures")
    shown = groups.sort_values("count", ascending=False).head(top)
    code = shown["error_code"].astype(object).fillna("(no code)").map(lambda c: _cut(c, width))
    labels = [
        literal(f"{c}  {_cut(t, width)}")
        for c, t in zip(code, shown["template"].astype(object).fillna(""), strict=True)
    ]
    counts = shown["count"].tolist()
    rest = groups["count"].sum() - shown["count"].sum()
    if rest > 0:
        labels.append(f"other ({_count(len(groups) - len(shown), 'group')})")
        counts.append(rest)
    shares = [c / total for c in counts]
    positions = np.arange(len(counts))[::-1]  # the biggest at the top
    bars = ax.barh(positions, counts, color=STATUS_COLORS["FAIL"])
    ax.set_yticks(positions, labels, fontfamily=_text_fonts())
    texts = [f"{c:,} ({s:.0%})" for c, s in zip(counts, shares, strict=True)]
    # Never clipped: in a narrow panel a label may cross the frame, but it is read whole.
    ax.bar_label(bars, texts, padding=3, clip_on=False)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts: never 0.5 of a job
    # Room right of the longest bar for its label, so that every label stays inside the axes.
    longest = max(len(t) for t in texts)
    ax.set_xlim(0, max(counts) * (1.08 + 0.028 * longest))
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
    says so. Jobs are labelled (image name, else a shortened id) only while the labels fit
    without overlapping. When unfinished jobs reach to a `now` far past the rest (a sample
    from last month read today), the axis ends shortly after the last known time and their
    bars run off the right edge with an arrow, so the finished jobs are not squeezed.

    Args:
        now: where the bars of unfinished jobs end (default: the current time).
        tz: the zone of the time axis (default UTC).
    """
    from matplotlib.patches import Patch

    jobs = frame[frame["begin_time"].notna().to_numpy()]
    total = len(jobs)
    jobs = jobs.sort_values("begin_time", kind="stable").tail(max_jobs)
    ax = _axes(ax, figsize=(10, float(np.clip(1.5 + 0.18 * len(jobs), 3.5, 10))))
    zone = _zone_name(tz)
    ax.set_xlabel(f"time ({zone})")
    ax.set_ylabel("job")
    shown = f"latest {len(jobs):,} of {total:,} jobs" if len(jobs) < total else f"{total:,} jobs"
    ax.set_title(f"Job timeline ({shown})")
    if jobs.empty:
        return _say_empty(ax)
    present = pd.Timestamp.now(tz="UTC") if now is None else to_utc(now, "now")
    begin = jobs["begin_time"]
    running = (~jobs["is_terminal"].astype(bool) & jobs["end_time"].isna()).to_numpy()
    end = jobs["end_time"].where(~running, present).fillna(begin)
    start, stop = _date_numbers(begin), _date_numbers(end)
    early, left = _early(start, stop[~running])
    if left is not None:
        start, stop = np.maximum(start, left), np.maximum(stop, left)
    known = np.concatenate([start, stop[~running]])
    first, last = float(known.min()), float(known.max())
    cut = None
    if running.any() and float(stop.max()) - last > max(0.25 * (last - first), 1 / 24):
        cut = last + max(0.03 * (last - first), 1 / 1440)  # now is far off: end the axis here
        stop = np.minimum(stop, cut)
    # Keep the shortest jobs visible: at least a 300th of the time shown, a pixel or two.
    span = max(float(stop.max() - start.min()), 1 / 86400)
    widths = np.maximum(stop - start, span / 300)
    rows = np.arange(len(jobs))[::-1]  # the earliest at the top
    status = _status_labels(jobs["status"])
    ax.barh(rows, widths, left=start, height=0.8, color=status.map(_color).tolist())
    ax.set_ylim(-0.6, len(jobs) - 0.4)
    if left is not None:
        ax.set_xlim(left=left)
        ax.plot(
            np.full(int(early.sum()), left), rows[early], "<", color="#555555",
            markersize=4, clip_on=False, label="_began earlier",
        )  # fmt: skip
        first_begin = pd.Timestamp(begin.min()).tz_convert("UTC")
        shown = (
            f"{shown}; ◀ {int(early.sum())} began earlier, from {first_begin:%Y-%m-%d %H:%M} UTC"
        )
        ax.set_title(f"Job timeline ({shown})")
    if cut is not None:
        ax.set_xlim(right=cut)
        off = running & (_date_numbers(end) > cut)
        ax.plot(
            np.full(int(off.sum()), cut), rows[off], ">", color=STATUS_COLORS["RUNNING"],
            markersize=4, clip_on=False, label="_running on",
        )  # fmt: skip
        ax.set_title(f"Job timeline ({shown}; ▶ still running at {present:%Y-%m-%d %H:%M} UTC)")
    if _labels_fit(ax, len(jobs)):
        ax.set_yticks(rows, _job_labels(jobs), fontsize="small", fontfamily=_text_fonts())
    else:
        ax.set_yticks([])
    _time_axis(ax, tz)
    present_statuses = [s for s in _status_order(status) if (status == s).any()]
    ax.legend(
        handles=[Patch(color=_color(s), label=literal(s)) for s in present_statuses],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),  # outside, where no bar can hide under it
        fontsize="small",
    )
    return ax


def _early(start: np.ndarray, ended: np.ndarray) -> tuple[np.ndarray, float | None]:
    """Jobs (at most 1 in 20, of 20 or more) that began long before the rest; the axis' start.

    One job left over from yesterday afternoon would squeeze a batch of a few hours into a
    strip: the axis starts shortly before the rest instead, and those bars come in from
    the left edge. Long before: a gap in the begin times wider than half the time the rest
    spans (and at least an hour).
    """
    none = np.zeros(len(start), dtype=bool)
    few = int(0.05 * len(start))  # 20 jobs or more, one in twenty at most
    if not few:
        return none, None
    order = np.sort(start)
    gaps = np.diff(order[: few + 1])
    k = int(np.argmax(gaps))
    rest_first = float(order[k + 1])
    rest_last = float(max(start.max(), ended.max() if len(ended) else start.max()))
    rest = rest_last - rest_first
    if gaps[k] <= max(0.5 * rest, 1 / 24):
        return none, None
    return start < rest_first, rest_first - max(0.03 * rest, 1 / 1440)


def _labels_fit(ax: Axes, rows: int) -> bool:
    """True when one small label per row fits the axes' height without overlapping."""
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties

    figure = cast("Figure", ax.figure)
    height = figure.get_size_inches()[1] * ax.get_position().height * 72  # points
    size = FontProperties(size="small").get_size_in_points() or rcParams["font.size"]
    return rows <= 60 and height / max(rows, 1) >= 1.15 * size


def _job_labels(jobs: pd.DataFrame) -> list[str]:
    """Image names where known, else the ids' last 10 characters: short, never overlapping.

    An id begins with its creation time, the same for a whole batch; its end tells it apart.
    """
    ids = jobs["job_id"].astype(object).where(jobs["job_id"].notna(), "")
    short = [i if len(i) <= 12 else "…" + i[-10:] for i in ids.tolist()]
    if "image_name" not in jobs:
        return short
    names = jobs["image_name"].astype(object).where(jobs["image_name"].notna(), None).tolist()
    labels = [_cut(str(n), 24) if n else i for n, i in zip(names, short, strict=True)]
    return [literal(label) for label in labels]


def plot_rates(
    frame: pd.DataFrame,
    *,
    ax: Axes | None = None,
    period: str | None = None,
    by: str = "begin",
    groupby: str | None = None,
    tz: str | tzinfo | None = None,
    min_count: int = 5,
    top: int = 5,
) -> Axes:
    """Success and failure rate per period, as shares of the jobs of the period that finished.

    Grey bars behind the lines show how many jobs finished in each period (right axis), so a
    rate of 3 jobs does not read like one of 300. Periods where fewer than `min_count` jobs
    finished get no rate point (a rate of 1 or 2 jobs swings between 0 and 100 %). With more
    than 60 periods each rate is pooled with its neighbours' (the title says over how many).
    The axis runs from the first period a job finished in to the last.

    Args:
        period: a pandas frequency, e.g. "1h", "1D", "1W"; None: chosen from the time the
            jobs span, for about 20 to 60 periods.
        by: the clock a finished job counts on, as in `rates_over_time`: `"begin"` (the
            default: a cause that starts failing jobs at 17:28 shows as a step there) or
            `"end"`.
        groupby: None, or as in `rates_over_time`: `"reason"` and `"error_code"` stack each
            of the `top` biggest reasons' failure rates (they add up to the period's rate);
            `"job_type"` or another column draws one failure-rate line per value.
        tz: the zone of the time axis and of the periods (default UTC): days start at its
            midnight.
        min_count: the fewest finished jobs for a period's rate to be drawn.
        top: with `groupby`, the values drawn; the rest are summed as "other".
    """
    ax = _axes(ax, figsize=(10, 4))
    if period is None:
        period = _period_for(frame, by)
    if groupby is not None:
        return _plot_grouped_rates(frame, ax, period, by, groupby, tz, min_count, top)
    rates = rates_over_time(frame, period, by=by, tz=tz)
    finished = int(rates["finished"].sum())
    rule = f"; a rate where ≥ {min_count} finished" if min_count > 1 else ""
    # A medium title: two panels side by side still fit it.
    ax.set_title(f"Success and failure rate per {period} ({finished:,} jobs{rule})")
    ax.title.set_fontsize("medium")
    clock = f", by {by} time" if by == "end" else ""
    ax.set_xlabel(f"period start ({_zone_name(tz)}{clock})")
    ax.set_ylabel("share of finished jobs")
    ax.set_ylim(-0.02, 1.02)
    _percent_axis(ax)
    if not (rates["finished"] > 0).any():
        return _say_empty(ax, "no finished jobs")
    # From the first period anything finished in to the last (gaps between stay): a job that
    # began days before the rest would otherwise stretch the axis over empty periods.
    ended = rates.index[rates["finished"] > 0]
    rates = rates.loc[ended[0] : ended[-1]]
    x = _date_numbers(pd.Series(rates.index))
    width = pd.Timedelta(_period_nanos(period), unit="ns") / pd.Timedelta(days=1)
    volume = ax.twinx()
    volume.bar(x, rates["finished"].to_numpy(), width=width * 0.9, align="edge", color="#d9d9d9")
    volume.set_ylabel("finished jobs per period", color="#7f7f7f")
    volume.set_ylim(0, max(int(rates["finished"].max()), 1) * 3)  # the bars stay low
    from matplotlib.ticker import MaxNLocator

    volume.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    ax.set_zorder(volume.get_zorder() + 1)  # the rate lines over the volume bars
    ax.patch.set_visible(False)
    # Hundreds of periods (2h over a month): pool each with its neighbours, so that the
    # line shows the trend, not the noise of a handful of jobs per period.
    pool = max(1, int(np.ceil(len(rates) / 60)))
    counts = rates[["success", "fail", "finished"]]
    if pool > 1:
        counts = counts.rolling(pool, center=True, min_periods=1).sum()
        ax.set_title(f"{ax.get_title()}, pooled over {pool} periods", fontsize="medium")
    enough = (counts["finished"] >= min_count).to_numpy()
    for column, status in (("success", "SUCCESS"), ("fail", "FAIL")):
        share = (counts[column] / counts["finished"]).where(enough)
        ax.plot(
            x + width / 2,
            share.to_numpy(),
            marker="" if pool > 1 else "o",
            markersize=3,
            linewidth=1.5,
            color=STATUS_COLORS[status],
            label="success rate" if status == "SUCCESS" else "failure rate",
        )
    _time_axis(ax, tz)
    ax.legend(loc="center left", fontsize="small")
    return ax


# Periods `plot_rates` picks from, shortest first.
_PERIODS = ("1min", "5min", "15min", "30min", "1h", "2h", "6h", "12h", "1D", "7D", "30D")


def _period_for(frame: Any, by: str) -> str:
    """The shortest period in `_PERIODS` giving at most 60 periods over the jobs' times."""
    times = frame["begin_time" if by == "begin" else "end_time"]
    low, high = times.min(), times.max()
    if hasattr(low, "compute"):  # a Dask frame: one pass for both
        import dask.base

        low, high = dask.base.compute(low, high)
    if pd.isna(low) or pd.isna(high):
        return "1D"
    span = pd.Timestamp(high) - pd.Timestamp(low)
    for period in _PERIODS:
        if span / pd.Timedelta(period) <= 60:
            return period
    return _PERIODS[-1]


def _plot_grouped_rates(
    frame: pd.DataFrame,
    ax: Axes,
    period: str,
    by: str,
    groupby: str,
    tz: str | tzinfo | None,
    min_count: int,
    top: int,
) -> Axes:
    """Failure rates per period by reason (stacked) or by another column (one line each)."""
    rates = rates_over_time(frame, period, by=by, groupby=groupby, tz=tz)
    ax.set_title(f"Failure rate per {period} by {groupby}", fontsize="medium")
    ax.set_xlabel(f"period start ({_zone_name(tz)}, by {by} time)")
    ax.set_ylabel("share of finished jobs")
    _percent_axis(ax)
    if rates.empty:
        return _say_empty(ax, "no finished jobs")
    fails = rates["fail"].unstack(groupby, fill_value=0)
    finished = rates["finished"].unstack(groupby, fill_value=0)
    order = fails.sum().sort_values(ascending=False).index
    shown = list(order[:top])
    x = _date_numbers(pd.Series(fails.index))
    width = pd.Timedelta(_period_nanos(period), unit="ns") / pd.Timedelta(days=1)
    stacked = groupby in ("reason", "error_code")
    colours = ["#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]
    if stacked:
        total = finished.iloc[:, 0].to_numpy(dtype=float)
        enough = total >= min_count
        bottom = np.zeros(len(fails))
        names = _group_names(frame, shown) if groupby == "reason" else {k: k for k in shown}
        rest = fails.drop(columns=shown).sum(axis=1).to_numpy(dtype=float)
        for i, key in enumerate([*shown, None]):
            counts = rest if key is None else fails[key].to_numpy(dtype=float)
            share = np.where(enough, counts / np.maximum(total, 1), 0.0)
            label = f"other ({len(order) - len(shown)})" if key is None else names[key]
            if key is None and not rest.any():
                continue
            ax.bar(
                x,
                share,
                width=width * 0.9,
                bottom=bottom,
                align="edge",
                color="#bdbdbd" if key is None else colours[i % len(colours)],
                label=_cut(str(label), 50),
            )
            bottom += share
        ax.set_ylim(0, max(float(bottom.max()), 0.05) * 1.15)
    else:
        for i, key in enumerate(shown):
            done = finished[key].to_numpy(dtype=float)
            share = np.where(done >= min_count, fails[key] / np.maximum(done, 1), np.nan)
            ax.plot(
                x + width / 2,
                share,
                marker="o",
                markersize=3,
                linewidth=1.5,
                color=colours[i % len(colours)],
                label=_cut(str(key), 40),
            )
        ax.set_ylim(-0.02, 1.02)
    _time_axis(ax, tz)
    ax.legend(loc="upper left", prop={"family": _text_fonts(), "size": "x-small"})
    return ax


def _group_names(frame: Any, keys: list[str]) -> dict[str, str]:
    """Failure group keys -> "code template" for a legend."""
    groups = failure_groups(frame, examples=0).set_index("group")
    return {
        key: f"{groups.loc[key, 'error_code']!s} {groups.loc[key, 'template']!s}".strip()
        if key in groups.index
        else key
        for key in keys
    }


def _period_nanos(period: str) -> int:
    """The length of a fixed pandas period in nanoseconds (a month counts 30 days)."""
    offset = pd.tseries.frequencies.to_offset(period)
    try:
        return int(offset.nanos)
    except ValueError:  # "MS", "W-SUN"...: not fixed; near enough for a bar width
        return int(pd.Timedelta(days=30 if "M" in period else 7).value)


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
    bars = ax.bar([literal(s) for s in order], values, color=[_color(s) for s in order])
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
    falls back from one family of the list to the next glyph by glyph. A system font is
    used when there is one (Debian: fonts-noto-cjk), else the `jobtools[cjk]` extra's.
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
    """Noto Sans CJK from the `[cjk]` extra's package, found without importing it."""
    spec = importlib.util.find_spec("cvttf_NotoSansCJK_Regular")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "NotoSansCJKtc-Regular.otf"
        if path.is_file():
            return path
    return None


def literal(text: object) -> str:
    r"""`text` as matplotlib draws it literally: `$` escaped, acting characters written out.

    >>> literal("$HOME costs $5")
    '\\$HOME costs \\$5'
    """
    return visible(str(text)).replace("$", r"\$")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _cut(text: object, width: int) -> str:
    text = visible(str(text))  # cut after writing out: an escape is never cut in half
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
