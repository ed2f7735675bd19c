"""The picture of `Findings`: the failure rate over begin time, changes marked.

`Findings.plot` draws through this front-end, imported when it is called (as `DataFrame.plot`
imports its backend): the axes, fonts (Chinese included) and literal text (`$` never
mathematics) are the plots module's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from jobtools.views.plots import (
    _axes,
    _count,
    _cut,
    _date_numbers,
    _percent_axis,
    _say_empty,
    _text_fonts,
    _time_axis,
    _zone_name,
    literal,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from jobtools.analysis.findings import Findings

__all__ = ["plot_findings"]


def plot_findings(found: Findings, *, ax: Axes | None = None, top: int = 3) -> Axes:
    """The failure rate over begin time with each change marked and its interval shaded.

    Failures per period are stacked by the top `top` reasons of the changes (bars, right
    axis, kept low); the dots are the failure rate per period, the line the rate of each
    stretch between changes; a change is a dashed line, its 99 % interval shaded. Made by
    `Findings.plot`; the time axis is in the findings' zone.
    """
    ax = _axes(ax, figsize=(10, 4))
    zone = found.tz
    changes = found.changes
    title = "Failure rate by begin time: " + (
        "no change" if changes.empty else _count(len(changes), "change")
    )
    ax.set_title(title, loc="left", fontsize="medium")
    ax.set_xlabel(f"job begin time ({_zone_name(zone)})")
    ax.set_ylabel("share of ended jobs that failed")
    _percent_axis(ax)
    series = found.series
    if series.empty:
        return _say_empty(ax, "no ended jobs")
    counts = found.counts
    first = int(series["first"].min())
    span = max(int(series["last"].max()) - first, 1)
    step = _nice_step(span / 60)
    period = (counts["first"].to_numpy() - first) // step
    groups = found.drivers[found.drivers["dimension"] == "reason"]["value"]
    shown = list(dict.fromkeys(groups.tolist()))[:top]
    label = np.where(counts["group"].isin(shown), counts["group"], "")
    table = pd.DataFrame(
        {"period": period, "label": label, "fail": counts["fail"], "ended": counts["ended"]}
    )
    per = table.groupby("period")[["ended", "fail"]].sum()
    per = per.reindex(np.arange(int(per.index.max()) + 1), fill_value=0)
    x = _date_numbers(pd.Series(pd.to_datetime(first + per.index * step, unit="ms", utc=True)))
    width = step / 86_400_000
    stacked = table[table["fail"] > 0].pivot_table(
        index="period", columns="label", values="fail", aggfunc="sum", fill_value=0
    )
    stacked = stacked.reindex(index=per.index, fill_value=0)
    volume = ax.twinx()
    bottom = np.zeros(len(per))
    colours = ["#D55E00", "#0072B2", "#CC79A7", "#E69F00"]
    for i, key in enumerate([*shown, ""]):
        if key not in stacked.columns:
            continue
        values = stacked[key].to_numpy(dtype=float)
        name = "other failures" if key == "" else literal(_cut(found_label(found, key), 50))
        colour = "#bdbdbd" if key == "" else colours[i % len(colours)]
        volume.bar(
            x,
            values,
            width=width * 0.9,
            bottom=bottom,
            align="edge",
            color=colour,
            alpha=0.55,
            label=name,
        )
        bottom += values
    volume.set_ylim(0, max(float(bottom.max()), 1.0) * 3)
    volume.set_ylabel("failed jobs per period", color="#7f7f7f")
    ax.set_zorder(volume.get_zorder() + 1)
    ax.patch.set_visible(False)
    enough = per["ended"] >= 5
    rate = (per["fail"] / per["ended"].where(per["ended"] > 0)).where(enough)
    ax.plot(
        x + width / 2,
        rate.to_numpy(),
        "o",
        markersize=3,
        color="#444444",
        label="failure rate per period",
    )
    # The rate of each stretch between changes, as a step line.
    edges = [first, *(int(t.value // 1_000_000) for t in changes["at"]), first + span]
    rates = [*changes["rate_before"].tolist()[:1], *changes["rate_after"].tolist()]
    if changes.empty:
        rates = [found.overall["rate"]]
    ex = _date_numbers(pd.Series(pd.to_datetime(edges, unit="ms", utc=True)))
    for i, value in enumerate(rates):
        ax.plot(
            ex[i : i + 2],
            [value, value],
            color="#D55E00",
            linewidth=2,
            label="rate between changes" if i == 0 else None,
        )
    for change in changes.itertuples(index=False):
        at, low, high = _date_numbers(pd.Series([change.at, change.at_low, change.at_high]))
        ax.axvline(at, color="#D55E00", linestyle="--", linewidth=1)
        ax.axvspan(low, high, color="#D55E00", alpha=0.12, linewidth=0)
    unjudged = found.overall.get("unjudged_from")
    if unjudged is not None and pd.notna(unjudged):
        low, high = _date_numbers(pd.Series([unjudged, found.overall["unjudged_to"]]))
        ax.axvspan(
            low,
            high,
            color="#999999",
            alpha=0.15,
            linewidth=0,
            label="left out: many still running",
        )
    top_rate = float(np.nanmax([*rate.to_numpy(dtype=float), *rates, 0.05]))
    ax.set_ylim(0, min(1.02, top_rate * 1.25))
    _time_axis(ax, zone)
    lines, names = ax.get_legend_handles_labels()
    bars, bar_names = volume.get_legend_handles_labels()
    ax.legend(
        lines + bars,
        names + bar_names,
        loc="best",
        prop={"family": _text_fonts(), "size": "x-small"},
    )
    return ax


def found_label(found: Findings, group: str) -> str:
    """A failure group's code and template as the findings name it."""
    reasons = found.reasons
    if group not in reasons.index:
        return group
    code, template = reasons.loc[group, "error_code"], reasons.loc[group, "template"]
    return f"{code!s} {template!s}".strip()


def _nice_step(milliseconds: float) -> int:
    """A round period near `milliseconds`: 1, 2, 5, 10, 15, 30 s, 1, 2, 5, ... min, hours, days."""
    steps = [s * 1000 for s in (1, 2, 5, 10, 15, 30)]
    steps += [m * 60_000 for m in (1, 2, 5, 10, 15, 30)]
    steps += [h * 3_600_000 for h in (1, 2, 3, 6, 12)]
    steps += [d * 86_400_000 for d in (1, 2, 7, 14, 30)]
    for step in steps:
        if step >= milliseconds:
            return step
    return steps[-1]
