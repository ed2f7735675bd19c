"""Progress as events: the core reports to a subscriber; the bar is a front-end, tqdm lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jobtools.progress import (
    ProgressEvent,
    ProgressReporter,
    set_display,
    should_show,
    subscriber,
)
from jobtools.views.bar import TqdmBar


@pytest.mark.parametrize(("progress", "shown"), [(False, False), (True, True)])
def test_progress_switch(progress, shown):
    """progress=False subscribes nothing; True subscribes the bar even when not interactive."""
    assert should_show(progress) is shown
    on_progress = subscriber(progress, 3)
    assert isinstance(on_progress, TqdmBar) is shown
    with ProgressReporter(on_progress, 3) as reporter:
        reporter.update(1, note="x")


def test_progress_auto_is_off_when_not_interactive():
    """progress=None shows nothing under pytest (stderr is not a terminal, no kernel)."""
    assert should_show(None) is False
    assert subscriber(None, 3) is None


def test_a_callable_is_told_done_total_rate_and_the_end():
    """A caller's callable gets every event: counts, total, a rate once work is done, the end."""
    events: list[ProgressEvent] = []
    times = iter([0.0, 2.0, 4.0, 4.0])
    with ProgressReporter(subscriber(events.append, 4), 4, clock=lambda: next(times)) as r:
        r.update(2, note="not_found=1")
        r.update(2)
    assert [(e.done, e.total, e.rate, e.note, e.closed) for e in events] == [
        (2, 4, 1.0, "not_found=1", False),
        (4, 4, 1.0, "not_found=1", False),
        (4, 4, 1.0, "not_found=1", True),
    ]


def test_a_broken_subscriber_is_dropped_and_the_work_goes_on():
    """A subscriber that raises is not called again; the reporter itself never raises."""
    calls = []

    def broken(event: ProgressEvent) -> None:
        calls.append(event)
        raise RuntimeError("display gone")

    with ProgressReporter(broken, 2) as reporter:
        reporter.update(1)
        reporter.update(1)
    assert len(calls) == 1


def test_the_display_is_pluggable():
    """`set_display` decides what progress=True shows (the package plugs in the tqdm bar)."""
    made = []

    def listener(event: ProgressEvent) -> None:
        """A display's subscriber."""

    def display(total: int | None, desc: str) -> object:
        made.append((total, desc))
        return listener

    previous = set_display(display)
    try:
        assert subscriber(True, 5, "jobs") is listener
    finally:
        set_display(previous)
    assert made == [(5, "jobs")]


def test_tqdm_is_imported_only_for_a_bar():
    """Importing jobtools leaves tqdm unloaded until progress=True shows a bar."""
    code = (
        "import sys, jobtools, jobtools.progress as p\n"
        "before = 'tqdm' in sys.modules\n"
        "bar = p.subscriber(True, 1)\n"
        "bar(p.ProgressEvent(1, 1, closed=True))\n"
        "print(before, 'tqdm.auto' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
