"""The words of `Findings`: sentences in English and Simplified Chinese, Markdown and HTML."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobtools.times import zone_name

if TYPE_CHECKING:
    from jobtools.analysis.findings import Findings

__all__ = ["headline", "html_view", "markdown", "text"]

_LANGS = ("en", "zh")
# Zones people name by a city or a country rather than by their IANA name.
_ZONE_WORDS = {
    "UTC": ("UTC", "UTC 时间"),
    "Asia/Shanghai": ("Beijing time", "北京时间"),
    "Asia/Chongqing": ("Beijing time", "北京时间"),
    "Asia/Hong_Kong": ("Hong Kong time", "香港时间"),
    "Asia/Singapore": ("Singapore time", "新加坡时间"),
    "Europe/London": ("London time", "伦敦时间"),
    "Europe/Paris": ("Paris time", "巴黎时间"),
    "Europe/Berlin": ("Berlin time", "柏林时间"),
}
# A reason's failures are "in proportion to volume" over job types when its share of each
# type's jobs differs from the type's share of all jobs by at most this much in total
# (half the sum of the absolute differences: the total variation distance).
_PROPORTIONAL = 0.15
_DOMINANT = 0.8  # a driver "is" the change when it explains at least this share


def _lang(lang: str) -> int:
    if lang not in _LANGS:
        raise ValueError(f"lang must be one of {', '.join(_LANGS)}, got {lang!r}")
    return _LANGS.index(lang)


def _zone_words(found: Findings, lang: int) -> str:
    name = zone_name(found.tz)
    words = _ZONE_WORDS.get(name) or (f"{name} time", f"{name} 时间")
    # "自 UTC 时间": a space between Chinese and a Latin word, none before 北京时间.
    return " " + words[1] if lang == 1 and words[1][0].isascii() else words[lang]


def _pct(rate: float) -> str:
    if not np.isfinite(rate):
        return "–"
    value = rate * 100
    if value != 0 and abs(value) < 1:
        return f"{value:.1f} %"
    return f"{value:.0f} %"


def _jobs(n: int) -> str:
    return "1 job" if n == 1 else f"{n:,} jobs"


def _pct_zh(rate: float) -> str:
    return _pct(rate).replace(" %", "%")


def _when(found: Findings, moment: pd.Timestamp, seconds: bool = False) -> str:
    """A moment in the findings' zone: the time, with the date when the data spans days."""
    local = moment.tz_convert(found.tz)
    start, end = found.overall["start"], found.overall["end"]
    same_day = (
        pd.notna(start)
        and pd.notna(end)
        and start.tz_convert(found.tz).date() == end.tz_convert(found.tz).date()
    )
    clock = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    return clock if same_day else f"{local.strftime('%Y-%m-%d')} {clock}"


def _spread(seconds: float, lang: int) -> str:
    units = (("s", "秒"), ("min", "分钟"), ("h", "小时"), ("days", "天"))
    if seconds < 60:
        value, unit = max(round(seconds), 1), units[0]
    elif seconds < 90 * 60:
        value, unit = round(seconds / 60), units[1]
    elif seconds < 36 * 3600:
        value, unit = round(seconds / 3600), units[2]
    else:
        value, unit = round(seconds / 86400), units[3]
    return f"±{value} {unit[lang]}" if lang == 0 else f"±{value} {unit[1]}"


def _quote(template: str, width: int = 80) -> str:
    return template if len(template) <= width else template[: width - 1] + "…"


def _reason_label(found: Findings, group: str, lang: int) -> str:
    row = found.reasons.loc[group] if group in found.reasons.index else None
    if row is None:
        return group
    code = str(row["error_code"]) if row["error_code"] else ""
    template = _quote(str(row["template"]))
    if lang == 0:
        return f"{code} '{template}'".strip()
    return f"{code}「{template}」"


def _top(found: Findings, change: int, dimension: str) -> Any:
    rows = found.drivers[
        (found.drivers["change"] == change) & (found.drivers["dimension"] == dimension)
    ]
    return None if rows.empty else rows.iloc[0]


def _types_of_reason(found: Findings, change: int, group: str) -> tuple[str, str] | None:
    """How a reason's failures after the change spread over job types: a phrase (en, zh)."""
    shares = found.reason_by_type(change, group)
    if shares is None or shares.empty:
        return None
    failures, volume = shares["fail"], shares["ended"]
    if failures.sum() == 0 or len(volume) < 2:  # one job type in all: nothing to say
        return None
    top_type = failures.idxmax()
    top_share = failures.max() / failures.sum()
    distance = 0.5 * float(np.abs(failures / failures.sum() - volume / volume.sum()).sum())
    if (volume > 0).sum() >= 2 and distance <= _PROPORTIONAL and top_share < _DOMINANT + 0.15:
        return (
            "across all job types in proportion to volume",
            "按作业量比例分布在所有作业类型中",
        )
    if top_share >= 0.999:
        return (f"all in {top_type} jobs", f"全部出现在 {top_type} 作业中")
    if top_share >= _DOMINANT:
        return (
            f"{top_share * 100:.0f} % of them in {top_type} jobs",
            f"其中 {top_share * 100:.0f}% 出现在 {top_type} 作业中",
        )
    return None


def _change_sentence(found: Findings, i: int, lang: int) -> str:
    change = found.changes.iloc[i]
    at, low, high = change["at"], change["at_low"], change["at_high"]
    half = max((at - low).total_seconds(), (high - at).total_seconds())
    when = _when(found, at, seconds=half < 60)
    spread = _spread(half, lang)
    zone = _zone_words(found, lang)
    before, after = change["rate_before"], change["rate_after"]
    excess = float(change["excess"])
    rising = after > before
    if lang == 0:
        first = (
            f"Since {when} ({spread}) {zone}, {_pct(after)} of jobs fail against "
            f"{_pct(before)} before"
        )
    else:
        first = (
            f"自{zone} {when}（{spread}）起，{_pct_zh(after)} 的作业失败，此前为 {_pct_zh(before)}"
        )
    cause = _cause(found, i, lang, excess, rising)
    sentence = first + (("; " if lang == 0 else "；") + cause if cause else "")
    sentence += "." if lang == 0 else "。"
    return sentence + _ending(found, i, lang)


def _cause(found: Findings, i: int, lang: int, excess: float, rising: bool) -> str:
    total = round(abs(excess))
    if not total:
        return ""
    reason = _top(found, i, "reason")
    job_type = _top(found, i, "job_type")
    if rising and reason is not None and reason["share"] >= 0.5:
        part = min(round(float(reason["excess"])), total)
        label = _reason_label(found, str(reason["value"]), lang)
        spread = _types_of_reason(found, i, str(reason["value"]))
        if lang == 0:
            kind = "one new reason" if reason["new"] else "one reason that grew"
            some = f"all {total:,}" if part >= total else f"{part:,} of the {total:,}"
            words = f"{some} extra failures are {kind}, {label}"
            return words + (f", {spread[0]}" if spread else "")
        kind = "一个新原因" if reason["new"] else "一个增多的原因"
        some = "全部" if part >= total else f"中有 {part:,} 次"
        words = f"新增的 {total:,} 次失败{some}来自{kind} {label}"
        return words + (f"，{spread[1]}" if spread else "")
    if rising and job_type is not None and job_type["share"] >= 0.5:
        part = min(round(float(job_type["excess"])), total)
        name = job_type["value"]
        if lang == 0:
            return f"{part:,} of the {total:,} extra failures are in {name} jobs"
        return f"新增的 {total:,} 次失败中有 {part:,} 次出现在 {name} 作业中"
    if not rising:
        gone = found.drivers[
            (found.drivers["change"] == i) & (found.drivers["dimension"] == "reason")
        ]
        gone = gone.sort_values("excess")
        if len(gone) and float(gone.iloc[0]["excess"]) <= -0.5 * total:
            label = _reason_label(found, str(gone.iloc[0]["value"]), lang)
            fewer = round(-float(gone.iloc[0]["excess"]))
            if lang == 0:
                some = f"all {total:,}" if fewer >= total else f"{fewer:,} of the {total:,}"
                return f"{some} fewer failures are {label}"
            some = "全部" if fewer >= total else f"中有 {fewer:,} 次"
            return f"减少的 {total:,} 次失败{some}是 {label}"
    return ""


def _ending(found: Findings, i: int, lang: int) -> str:
    change = found.changes.iloc[i]
    ended = change["ended_at"]
    last = i == len(found.changes) - 1
    if pd.notna(ended):
        back = found.changes.iloc[i + 1]["rate_after"]
        when = _when(found, ended)
        if lang == 0:
            return f" It ended at {when} ({_pct(back)} fail since)."
        return f"它在 {when} 结束（此后失败率 {_pct_zh(back)}）。"
    if last and change["rate_after"] > change["rate_before"]:
        return " It is still going on." if lang == 0 else "目前仍在持续。"
    if last:
        return " The lower rate holds." if lang == 0 else "较低的失败率保持至今。"
    return ""


def _no_change(found: Findings, lang: int) -> str:
    overall = found.overall
    jobs = overall["jobs"]
    if not jobs:
        if lang == 0:
            return "No job has ended yet: nothing to say about failures."
        return "还没有作业结束：无法判断失败率。"
    low, high = overall["interval"]
    zone = _zone_words(found, lang)
    start, end = _when(found, overall["start"]), _when(found, overall["end"])
    if lang == 0:
        return (
            f"No change in the failure rate: {_pct(overall['rate'])} of {_jobs(jobs)} failed "
            f"(95 % interval {_pct(low)} to {_pct(high)}), jobs that began from {start} to "
            f"{end} {zone}."
        )
    return (
        f"失败率没有变化：{zone.strip()} {start} 至 {end} 开始的 {jobs:,} 个作业中 "
        f"{_pct_zh(overall['rate'])} 失败（95% 区间 {_pct_zh(low)}–{_pct_zh(high)}）。"
    )


def text(found: Findings, lang: str = "en") -> str:
    """One paragraph per change, in time order; or one saying that nothing changed."""
    which = _lang(lang)
    if found.changes.empty:
        words = _no_change(found, which)
    else:
        words = "\n\n".join(_change_sentence(found, i, which) for i in range(len(found.changes)))
    return words + _left_out(found, which)


def _left_out(found: Findings, lang: int) -> str:
    """The latest jobs left out while many of them run: said, so nobody wonders."""
    since = found.overall.get("unjudged_from")
    if since is None or pd.isna(since):
        return ""
    running = found.overall["unjudged_running"]
    share = running / max(running + found.overall["unjudged_ended"], 1)
    when = _when(found, since)
    if lang == 0:
        return (
            f" Jobs that began from {when} on are left out: {_pct(share)} of them have not "
            "ended yet."
        )
    return f"{when} 之后开始的作业未计入：其中 {_pct_zh(share)} 尚未结束。"


def headline(found: Findings, lang: str = "en") -> str:
    """The largest change in one line, or the overall rate when nothing changed."""
    which = _lang(lang)
    if found.changes.empty:
        overall = found.overall
        if not overall["jobs"]:
            return _no_change(found, which)
        low, high = overall["interval"]
        if which == 0:
            return (
                f"No change: {_pct(overall['rate'])} of {_jobs(overall['jobs'])} fail "
                f"({_pct(low)} to {_pct(high)})"
            )
        return (
            f"失败率无变化：{overall['jobs']:,} 个作业中 {_pct_zh(overall['rate'])} 失败"
            f"（{_pct_zh(low)}–{_pct_zh(high)}）"
        )
    # The latest change: where things stand now (a monitor's one line).
    i = len(found.changes) - 1
    change = found.changes.iloc[i]
    when = _when(found, change["at"])
    zone = _zone_words(found, which)
    reason = _top(found, i, "reason")
    label = ""
    if reason is not None and abs(reason["share"]) >= 0.5:
        label = _reason_label(found, str(reason["value"]), which)
    before, after = change["rate_before"], change["rate_after"]
    if which == 0:
        line = f"Failures {_pct(before)} → {_pct(after)} since {when} {zone}"
        return line + (f": {label}" if label else "")
    line = f"失败率 {_pct_zh(before)} → {_pct_zh(after)}，自{zone} {when}起"
    return line + (f"：{label}" if label else "")


def _tables(found: Findings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The changes and the drivers as they read in a table: local times, percentages."""
    changes = found.changes.copy()
    for column in ("at", "at_low", "at_high", "ended_at"):
        changes[column] = [
            "" if pd.isna(t) else t.tz_convert(found.tz).strftime("%Y-%m-%d %H:%M:%S")
            for t in changes[column]
        ]
    for column in ("rate_before", "rate_after"):
        changes[column] = [_pct(r) for r in changes[column]]
    changes["excess"] = changes["excess"].round().astype("int64")
    changes["p_value"] = [f"{p:.2g}" for p in changes["p_value"]]
    drivers = found.drivers.drop(columns="value").copy()
    drivers["excess"] = drivers["excess"].round(1)
    drivers["share"] = [_pct(s) for s in drivers["share"]]
    return changes, drivers


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        text = str(value).replace("\\", "\\\\").replace("|", "\\|")
        return " ".join(text.split())

    head = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([head, rule, *rows])


def markdown(found: Findings, lang: str = "en") -> str:
    """The sentences, then the changes and drivers tables (nothing but the sentences if none)."""
    parts = ["# Findings" if lang == "en" else "# 发现", text(found, lang)]
    if not found.changes.empty:
        changes, drivers = _tables(found)
        zone = zone_name(found.tz)
        parts += [f"## Changes (begin time, {zone})", _markdown_table(changes)]
        parts += ["## Drivers", _markdown_table(drivers)]
    parts.append(f"_Method: {found.method['name']}; {found.method['test']}._")
    return "\n\n".join(parts) + "\n"


def _escape(value: Any) -> str:
    """HTML-escaped, with `$` kept literal (no MathJax in a notebook)."""
    return html.escape(str(value)).replace("$", "&#36;")


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{_escape(c)}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_escape(v)}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def html_view(found: Findings, picture: str | None) -> str:
    """Sentences, the tables and the picture, every text escaped, `$` kept literal."""
    paragraphs = "".join(f"<p>{_escape(p)}</p>" for p in text(found).split("\n\n"))
    parts = [f"<h4>Findings</h4>{paragraphs}"]
    if picture:
        parts.append(
            f'<img src="{picture}" alt="failure rate over begin time" style="max-width:100%">'
        )
    if not found.changes.empty:
        changes, drivers = _tables(found)
        parts.append(f"<h5>Changes ({_escape(zone_name(found.tz))})</h5>{_html_table(changes)}")
        parts.append(f"<h5>Drivers</h5>{_html_table(drivers.head(30))}")
    return '<div class="mathjax_ignore">' + "".join(parts) + "</div>"
