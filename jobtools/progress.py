"""Progress as events: the core reports, the front-ends show (as tqdm keeps its core apart).

The client and the waits never draw: they call a subscriber, `on_progress(event)`, with a
`ProgressEvent` (done, total, rate, a note of counts, and a last event when the work ends).
The front-ends subscribe: the terminal or notebook bar (`jobtools.views.bar`), the monitor's
round counter, any callable of the caller's. `progress=True/False/None` keeps working: it
picks the display the package plugs in here (`set_display`, done by `jobtools/__init__.py`,
which loads the bar, and tqdm, only when one is shown).

    >>> seen = []
    >>> reporter = ProgressReporter(seen.append, total=2)
    >>> reporter.update(2, note="not_found=1")
    >>> reporter.close()
    >>> [(e.done, e.total, e.note, e.closed) for e in seen]
    [(2, 2, 'not_found=1', False), (2, 2, 'not_found=1', True)]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, runtime_checkable

__all__ = [
    "Display",
    "OnProgress",
    "Progress",
    "ProgressEvent",
    "ProgressReporter",
    "Progressing",
    "in_notebook",
    "set_display",
    "should_show",
    "subscriber",
]


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """Where a piece of work stands: what a subscriber is told."""

    done: int  # items done so far (jobs fetched, or jobs whose wait ended)
    total: int | None  # items in all, None when not known
    rate: float | None = None  # items a second since the work began; None before any
    note: str = ""  # counts worth showing beside the figures, e.g. "not_found=1"
    closed: bool = False  # the last event: the work ended (or stopped)


# A subscriber: any callable taking an event (its return value is ignored).
OnProgress: TypeAlias = Callable[[ProgressEvent], object]
# A display: makes a subscriber for work of `total` items described as `desc`.
Display: TypeAlias = Callable[[int | None, str], OnProgress]


@runtime_checkable
class Progress(Protocol):
    """A bar object (tqdm's shape) a caller may still pass as `progress`: updated, not closed."""

    def update(self, n: float = 1) -> Any: ...

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> Any: ...

    def close(self) -> Any: ...


# What a `progress=` argument takes: a switch, a subscriber, or a bar object.
Progressing: TypeAlias = "bool | None | OnProgress | Progress"

_display: Display | None = None


def set_display(display: Display | None) -> Display | None:
    """Plug in what `progress=True` (or an interactive None) shows; returns the previous one."""
    global _display
    previous, _display = _display, display
    return previous


def in_notebook() -> bool:
    """True inside a Jupyter kernel (checked without importing IPython)."""
    return "ipykernel.zmqshell" in sys.modules and "IPython" in sys.modules


def should_show(progress: bool | None) -> bool:
    """Resolve `progress`: True/False as given; None shows a bar in a notebook or a terminal."""
    if progress is not None:
        return bool(progress)
    if in_notebook():
        return True
    stream = sys.stderr
    return stream is not None and hasattr(stream, "isatty") and stream.isatty()


def subscriber(progress: Progressing, total: int | None, desc: str = "jobs") -> OnProgress | None:
    """The subscriber `progress` asks for: a callable as given, a bar object adapted, the
    plugged-in display for True (or None when interactive), nothing for False."""
    if isinstance(progress, Progress):
        return _BarSubscriber(progress)
    if callable(progress):
        return progress
    if not should_show(progress) or _display is None:
        return None
    return _display(total, desc)


class _BarSubscriber:
    """A caller's bar object as a subscriber: moved to each event's count; the caller closes it."""

    def __init__(self, bar: Progress) -> None:
        self.bar, self.shown = bar, 0

    def __call__(self, event: ProgressEvent) -> None:
        if event.note:
            self.bar.set_postfix_str(event.note, refresh=False)
        if event.done != self.shown:
            self.bar.update(event.done - self.shown)
            self.shown = event.done


class ProgressReporter:
    """The core's side: counts what is done, works out the rate, tells the subscriber.

    A subscriber that raises is ignored from then on: a broken display never costs a row.
    """

    def __init__(
        self,
        on_progress: OnProgress | None,
        total: int | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.on_progress, self.total, self.clock = on_progress, total, clock
        self.done = 0
        self.note = ""
        self.started = clock()
        self.closed = False

    def update(self, n: int = 1, *, note: str | None = None) -> None:
        """`n` more items are done (`note`: the counts to show now, if they changed)."""
        self.advance_to(self.done + n, note=note)

    def advance_to(self, done: int, *, note: str | None = None, total: int | None = None) -> None:
        """`done` items are done in all."""
        self.done = done
        if note is not None:
            self.note = note
        if total is not None:
            self.total = total
        self._tell(closed=False)

    def close(self) -> None:
        """Tell the subscriber the work ended (once)."""
        if not self.closed:
            self.closed = True
            self._tell(closed=True)

    def _tell(self, *, closed: bool) -> None:
        if self.on_progress is None:
            return
        elapsed = self.clock() - self.started
        rate = self.done / elapsed if self.done and elapsed > 0 else None
        event = ProgressEvent(self.done, self.total, rate, self.note, closed)
        try:
            self.on_progress(event)
        except Exception:
            self.on_progress = None  # a broken display is dropped; the work goes on

    def __enter__(self) -> ProgressReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
