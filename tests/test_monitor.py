"""Headless tests for jobtools.views.monitor: the widgets' state after simulated rounds.

No front-end and no kernel: widgets keep their state without one. Time is the simulator's
ManualClock, advanced by the waits' sleeps (or held by a gate the test opens), so no test
sleeps to let time pass.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
from typing import Any

import pandas as pd
import pytest
from conftest import CountingTransport

import jobtools
from jobtools.api.client import JobsClient
from jobtools.simulator import ManualClock, Simulator
from jobtools.views.monitor import JobMonitor
from jobtools.wait.poll import iter_snapshots

GONE = "f" * 32


class GatedSleep:
    """A sleep that holds the wait until the test opens the gate, then advances the clock."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.sleeping = threading.Event()
        self.open = False

    async def __call__(self, seconds: float) -> None:
        if not self.open:
            self.sleeping.set()
            await asyncio.Event().wait()  # until cancelled (Stop)
        self.clock.advance(seconds)


@pytest.fixture
def sim(simulator: Simulator) -> Simulator:
    """Twelve jobs, INIT for 5 s then RUNNING for 20..130 s; every third one fails."""
    sim = simulator
    for n in range(12):
        failed = n % 3 == 2
        sim.add_job(
            f"{n + 1:032x}",
            status="FAIL" if failed else "SUCCESS",
            init_for=5,
            run_for=20 + 10 * n,
            error_code="IMG.0090" if failed else None,
            fail_reason=f"Failed to export <image {n}> & more" if failed else None,
        )
    return sim


def _rows(html_text: str) -> int:
    return html_text.count("<tr>") - 1 if html_text else 0  # minus the header row


def _visible_bars(monitor: JobMonitor) -> list[tuple[str, float, str]]:
    return [
        (name.value, bar.value, text.value)
        for row, name, bar, text in monitor.bars
        if row.layout.display != "none"
    ]


def test_views_follow_the_rounds(sim: Simulator, client: JobsClient, clock: ManualClock) -> None:
    """After each simulated round the counts, bars, tables and refresh time match the frame."""
    monitor = JobMonitor([*sim.job_ids, GONE], client, autostart=False, max_rows=4, max_bars=3)
    assert monitor.frame["wait_state"].eq("waiting").all() and len(monitor.frame) == 13
    start = clock()
    snapshots = iter_snapshots([*sim.job_ids, GONE], client=client, clock=clock, seed=2)

    first = next(snapshots)
    monitor.update(first)
    assert "INIT 12" in monitor.counts_html.value and "gone 1" in monitor.counts_html.value
    assert (monitor.overall.value, monitor.overall.max) == (1, 13)  # the 404 has ended
    assert _visible_bars(monitor) == [] and monitor.running_html.value == ""
    assert (
        "not_found 1" in monitor.fetch_errors_html.value and GONE in monitor.fetch_errors_html.value
    )
    refreshed = pd.Timestamp(start, unit="s", tz="UTC").strftime("%H:%M:%S")
    assert refreshed in monitor.state_label.value and "polling" in monitor.state_label.value

    for snapshot in snapshots:
        monitor.update(snapshot)
        frame = snapshot.frame
        running = frame[frame["status"] == "RUNNING"]
        assert monitor.overall.value == snapshot.finished
        for status, count in snapshot.counts.items():
            assert f"{status} {count}" in monitor.counts_html.value
        bars = _visible_bars(monitor)
        assert len(bars) == min(3, len(running))
        percent = running.set_index("job_id")["process_percent"]
        assert all(value == pytest.approx(percent[name]) for name, value, _ in bars)
        assert _rows(monitor.running_html.value) == min(4, len(running))
        extra = len(running) - 3
        assert monitor.more_running.value == (f"… and {extra} more running" if extra > 0 else "")
        assert _rows(monitor.failures_html.value) == min(4, snapshot.counts.get("FAIL", 0))
        stamp = snapshot.observed_at.strftime("%H:%M:%S")
        assert stamp in monitor.state_label.value
    assert snapshot.done
    assert monitor.frame["wait_state"].isin(["done", "gone"]).all()
    assert "SUCCESS 8" in monitor.counts_html.value and "FAIL 4" in monitor.counts_html.value
    assert "done" in monitor.state_label.value


def test_failures_table_shows_escaped_fail_reasons(
    sim: Simulator, client: JobsClient, clock: ManualClock
) -> None:
    """The failures table lists the latest failures first with fail_reason, HTML-escaped."""
    monitor = JobMonitor(sim.job_ids, client, autostart=False, max_rows=2)
    for snapshot in iter_snapshots(sim.job_ids, client=client, clock=clock):
        monitor.update(snapshot)
    table = monitor.failures_html.value
    assert "Latest failures (4; 2 shown)" in table
    assert "Failed to export &lt;image 11&gt; &amp; more" in table  # the last to fail, first
    assert "<image" not in table
    reasons = re.findall(r"&lt;image (\d+)&gt;", table)
    assert reasons == ["11", "8"]


def test_background_run_ends_by_itself(
    sim: Simulator, client: JobsClient, clock: ManualClock
) -> None:
    """Started, the monitor polls in its thread until every job ended, then stops by itself."""
    monitor = JobMonitor(sim.job_ids, client, clock=clock)
    assert monitor.join(30)
    assert monitor.error is None
    assert monitor.frame["is_terminal"].all()
    assert monitor.overall.value == 12 and "done" in monitor.state_label.value
    assert monitor.stop_button.disabled and monitor.resume_button.disabled
    assert monitor.overall.bar_style == "danger"  # some jobs failed


def test_stop_and_resume(
    sim: Simulator, client: JobsClient, clock: ManualClock, transport: CountingTransport
) -> None:
    """Stop cancels a sleeping wait; Resume polls only the jobs that had not ended, to the end."""
    gate = GatedSleep(clock)
    clock.advance(40)  # some jobs end within 25..45 s: the first round sees 2 of them ended
    monitor = JobMonitor(sim.job_ids, client, clock=clock, sleep=gate)
    assert gate.sleeping.wait(10)
    assert monitor.running and not monitor.stop_button.disabled
    assert monitor.resume_button.disabled
    ended = set(monitor.frame.loc[monitor.frame["is_terminal"], "job_id"])
    assert len(ended) == 2

    monitor.stop_button.click()
    assert monitor.join(10)
    assert "stopped" in monitor.state_label.value
    assert monitor.frame["wait_state"].value_counts()["cancelled"] == 10
    assert monitor.stop_button.disabled and not monitor.resume_button.disabled

    transport.asked.clear()
    gate.open = True
    monitor.resume_button.click()
    assert monitor.join(30)
    assert monitor.error is None
    assert not ended & set(transport.asked)
    assert monitor.frame["wait_state"].eq("done").all()
    assert "done" in monitor.state_label.value


def test_background_exception_is_shown(sim: Simulator, clock: ManualClock) -> None:
    """An exception in the polling thread appears in the widget and in `.error`, never lost."""

    class Broken:
        async def afetch_jobs(self, ids: list[str], progress: bool = False) -> pd.DataFrame:
            raise RuntimeError("the service exploded")

    monitor = JobMonitor(sim.job_ids, Broken(), clock=clock)
    assert monitor.join(10)
    assert isinstance(monitor.error, RuntimeError)
    assert "RuntimeError: the service exploded" in monitor.error_html.value
    assert "error" in monitor.state_label.value
    stderr = "".join(o["text"] for o in monitor.output.outputs if o.get("name") == "stderr")
    assert "Traceback" in stderr and "the service exploded" in stderr
    assert not monitor.resume_button.disabled
    assert len(monitor.frame) == 12  # the frame is still there


def test_button_errors_are_shown(sim: Simulator, client: JobsClient) -> None:
    """An error raised by a button's action is shown in the widget instead of vanishing."""
    monitor = JobMonitor(sim.job_ids, client, autostart=False)

    def broken() -> None:
        raise OSError("cannot stop")

    monitor.stop = broken  # type: ignore[method-assign]
    monitor.stop_button.click()
    assert "OSError: cannot stop" in monitor.error_html.value
    assert isinstance(monitor.error, OSError)


def test_children_are_built_once(sim: Simulator, client: JobsClient, clock: ManualClock) -> None:
    """Refreshes change widget values, never the widget tree."""
    monitor = JobMonitor(sim.job_ids, client, autostart=False)
    children = monitor.children
    for snapshot in iter_snapshots(sim.job_ids, client=client, clock=clock):
        monitor.update(snapshot)
    assert len(monitor.children) == len(children)
    assert all(a is b for a, b in zip(monitor.children, children, strict=True))


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"job_ids": ["bad/id"]}, ValueError),
        ({"job_ids": ["a" * 32], "token": "t"}, TypeError),  # a client and client options
    ],
)
def test_bad_input_fails_in_the_cell(
    options: dict[str, Any], error: type, client: JobsClient
) -> None:
    """Bad ids or options raise where the monitor is made, not later in the background."""
    with pytest.raises(error):
        JobMonitor(client=client, autostart=False, **options)


def test_monitor_is_loaded_lazily() -> None:
    """`import jobtools` does not import ipywidgets; `jobtools.JobMonitor` does, on first use."""
    code = (
        "import sys, jobtools\n"
        "assert 'ipywidgets' not in sys.modules\n"
        "assert jobtools.JobMonitor.__module__ == 'jobtools.views.monitor'\n"
        "assert 'ipywidgets' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert jobtools.JobMonitor is JobMonitor
