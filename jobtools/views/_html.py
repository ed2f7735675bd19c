"""Small HTML pieces shared by the monitor, the styled tables and the plots: text, durations, bars.

Everything returned is HTML with the data escaped, and shows any text literally:

* characters that would act instead of showing (a right-to-left override, zero-width
  spaces, other control characters) are written out as `\\u202e` (`visible`), so a reason
  cannot reorder or hide the text around it;
* a `$` is a dollar: jobtools' HTML sits in an element of class `mathjax_ignore` (`LITERAL`),
  which JupyterLab's MathJax 3 skips with all it contains (`tex2jax_ignore`, MathJax 2's
  name, and `&#36;` do not stop it);
* a long unbroken run (a URL, a token) may break anywhere, words stay whole (`WRAP` for a
  container; `text` marks such runs itself), and text cut to a limit keeps its whole value on
  hover.

Text with Chinese characters is wrapped in `<span lang="zh">`, so that the browser picks a CJK
font for it (without a language the fallback font chosen for Han characters can differ by
browser and look Japanese or boxed).
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
# The class MathJax 3 (JupyterLab 4, Notebook 7) leaves alone, with everything inside it.
LITERAL = "mathjax_ignore"
# A word too long for its line breaks rather than overflowing. Only runs `text` marks break
# anywhere, and only those let a table column shrink below a word's width.
WRAP = "overflow-wrap:break-word"
_LONG_RUN = re.compile(r"\S{25}")
# Characters that act on the text instead of showing as a glyph: controls (C0, C1), bidi
# marks, embeddings, overrides and isolates, zero-width spaces, the soft hyphen, line and
# paragraph separators, invisible operators, the byte-order mark, interlinear annotation,
# tags, and lone surrogates (no encoder takes them). Tab, newline and carriage return stay (they
# are white space in HTML), and so does the zero-width (non-)joiner: emoji
# and Indic, Arabic and Persian words need it to read right.
_ACTING = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\xad\u061c\u180e\u200b\u200e\u200f\u2028-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0001\U000e0020-\U000e007f]"
)


def visible(raw: str) -> str:
    r"""`raw` with every character that would act (a right-to-left override, a zero-width
    space, a control character) written out as its escape: seen, never applied.

    >>> print(visible("abc\u202edef\u200b"))
    abc\u202edef\u200b
    """
    return _ACTING.sub(_escape, raw)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def is_missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or value != value


def text(value: object, limit: int | None = None) -> str:
    """`value` as escaped, literal HTML ('' when missing), lang-marked.

    Cut to `limit` characters with "…", the whole value then shown on hover.
    """
    if is_missing(value):
        return ""
    raw = visible(str(value))
    lang = ' lang="zh"' if _HAN.search(raw) else ""
    # A long unbroken run (a URL, a token, an image name) breaks anywhere: it cannot widen
    # its table beyond the notebook, and the other columns keep their words whole.
    wrap = " style='overflow-wrap:anywhere'" if _LONG_RUN.search(raw) else ""
    if limit is not None and len(raw) > limit:
        cut = html.escape(raw[: limit - 1] + "…")
        return f"<span title='{html.escape(raw)}'{lang}{wrap}>{cut}</span>"
    out = html.escape(raw)
    return f"<span{lang}{wrap}>{out}</span>" if lang or wrap else out


def attribute(value: object) -> str:
    """`value` for a quoted HTML attribute (a tooltip): escaped, every character visible."""
    return "" if is_missing(value) else html.escape(visible(str(value)))


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
    cell_style = f"text-align:left;vertical-align:top;{WRAP}"
    body = "".join(
        "<tr>" + "".join(f"<td style='{cell_style}'>{cell}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return (
        f"<details{' open' if open_ else ''}><summary><b>{html.escape(title)}</b></summary>"
        "<table style='max-width:100%'>"
        f"<thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></details>"
    )
