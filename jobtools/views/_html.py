"""Small HTML pieces shared by the monitor and the styled tables: text, durations, bars.

Everything returned is HTML with the data escaped. Text with Chinese characters is wrapped in
`<span lang="zh">`, so that the browser picks a CJK font for it (without a language the
fallback font chosen for Han characters can differ by browser and look Japanese or boxed).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence

import pandas as pd

# Okabe-Ito colours, as in views.plots: the same outcome the same colour everywhere.
COLOURS = {
    "INIT": "#999999",
    "RUNNING": "#0072B2",
    "SUCCESS": "#009E73",
    "FAIL": "#D55E00",
    "PENDING_PAYMENT": "#E69F00",
    "gone": "#CC79A7",
    "error": "#B00020",
}
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")


def is_missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or value != value


def text(value: object, limit: int | None = None) -> str:
    """`value` as escaped HTML ('' when missing), cut to `limit` characters, lang-marked."""
    if is_missing(value):
        return ""
    raw = str(value)
    if limit is not None and len(raw) > limit:
        raw = raw[: limit - 1] + "…"
    out = html.escape(raw)
    return f'<span lang="zh">{out}</span>' if _HAN.search(raw) else out


def duration(seconds: float | None) -> str:
    """A duration for reading: "45s", "12m 05s", "5h 30m", "3d 4h" ('' when missing).

    >>> duration(19800), duration(725), duration(45.2), duration(273600)
    ('5h 30m', '12m 05s', '45s', '3d 4h')
    """
    if seconds is None or not math.isfinite(seconds):
        return ""
    whole = int(round(max(seconds, 0.0)))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def percent(fraction: float | None, digits: int = 0) -> str:
    """A 0-1 fraction as a percentage ('' when missing): 0.456 -> '46%'."""
    if fraction is None or not math.isfinite(fraction):
        return ""
    return f"{100 * fraction:.{digits}f}%"


def segments(parts: Sequence[tuple[str, int, str]], total: int, *, height: str = "1em") -> str:
    """One bar of coloured segments `(label, count, colour)` out of `total`; the rest empty."""
    total = max(total, 1)
    cells = "".join(
        f"<div class='jt-seg' data-outcome='{html.escape(label)}' title='{html.escape(label)} "
        f"{count}' style='width:{100 * count / total:.3f}%;background:{colour}'></div>"
        for label, count, colour in parts
        if count > 0
    )
    return (
        f"<div class='jt-bar' style='display:flex;width:100%;height:{height};"
        f"background:#e9ecef;border-radius:3px;overflow:hidden'>{cells}</div>"
    )


def table(
    title: str, head: Sequence[str], rows: Iterable[Sequence[str]], *, open_: bool = True
) -> str:
    """A titled, collapsible table of cells that are already HTML."""
    header = "".join(
        f"<th style='text-align:left;white-space:nowrap'>{html.escape(h)}</th>" for h in head
    )
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left'>{cell}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return (
        f"<details{' open' if open_ else ''}><summary><b>{html.escape(title)}</b></summary>"
        f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></details>"
    )
