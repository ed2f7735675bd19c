"""The progress bar: a terminal bar in a terminal, a widget in a notebook (tqdm.auto).

A front-end of `jobtools.progress`: `tqdm_display(total, desc)` makes a subscriber that
draws the core's `ProgressEvent`s. `jobtools/__init__.py` plugs it in as the display that
`progress=True` shows; tqdm is imported only when a bar is made (tqdm.auto pulls in
tqdm.notebook and ipywidgets inside a kernel).
"""

from __future__ import annotations

from typing import Any

from jobtools.progress import ProgressEvent

__all__ = ["TqdmBar", "tqdm_display"]


class TqdmBar:
    """A tqdm.auto bar moved by progress events; closed by the last one."""

    def __init__(self, total: int | None, desc: str = "jobs", unit: str = "job") -> None:
        from tqdm.auto import tqdm

        # Made at once, in the caller's thread, so that a notebook shows it in this cell.
        self.bar: Any = tqdm(total=total, desc=desc, unit=unit, disable=False, dynamic_ncols=True)
        self.shown = 0

    def __call__(self, event: ProgressEvent) -> None:
        if event.total is not None and event.total != self.bar.total:
            self.bar.total = event.total
        if event.note:
            self.bar.set_postfix_str(event.note, refresh=False)
        if event.done != self.shown:
            self.bar.update(event.done - self.shown)
            self.shown = event.done
        if event.closed:
            self.bar.close()


def tqdm_display(total: int | None, desc: str) -> TqdmBar:
    """The `jobtools.progress.Display` that draws a tqdm.auto bar."""
    return TqdmBar(total, desc)
