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
from _hostile_text import LONG, TEXTS
from conftest import CountingTransport, client_for

import jobtools
import jobtools.simulator
from jobtools.api.client import JobsClient
from jobtools.progress import ProgressReporter
from jobtools.simulator import DEMO_TOKEN, ManualClock, Simulator
from jobtools.views.monitor import UNWATCHED, JobMonitor, _failures_table, _progress_cell
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


def _ended(monitor: JobMonitor) -> int:
    """The count the overall bar shows as ended."""
    return int(re.search(r"data-ended='(\d+)'", monitor.overall_html.value).group(1))


def _chips(monitor: JobMonitor) -> dict[str, int]:
    found = re.findall(r"data-name='([^']+)' data-count='(\d+)'", monitor.counts_html.value)
    return {name: int(count) for name, count in found}


def test_views_follow_the_rounds(sim: Simulator, client: JobsClient, clock: ManualClock) -> None:
    """After each simulated round the bar, counts, tables and refresh time match the frame."""
    monitor = JobMonitor([*sim.job_ids, GONE], client, autostart=False, max_rows=4)
    assert monitor.frame["wait_state"].eq("waiting").all() and len(monitor.frame) == 13
    start = clock()
    snapshots = iter_snapshots([*sim.job_ids, GONE], client=client, clock=clock, seed=2)

    first = next(snapshots)
    monitor.update(first)
    assert _chips(monitor) == {"INIT": 12, "gone (404)": 1}
    assert _ended(monitor) == 1  # the 404 has ended; nothing else has
    assert "INIT" in monitor.running_html.value and _rows(monitor.running_html.value) == 4
    assert "not_found 1" in monitor.fetch_errors_html.value
    assert f"title='{GONE}'" in monitor.fetch_errors_html.value  # the id on hover
    refreshed = pd.Timestamp(start, unit="s", tz="UTC").strftime("%H:%M:%S")
    assert refreshed in monitor.state_label.value and monitor.state == "polling"

    for snapshot in snapshots:
        monitor.update(snapshot)
        frame = snapshot.frame
        assert _ended(monitor) == int(frame["is_terminal"].sum()) + 1
        for status, count in snapshot.counts.items():
            name = {"NO_STATUS": "gone (404)"}.get(status, status)  # only the 404 has none
            assert _chips(monitor)[name] == count
        open_jobs = int((frame["status"].notna() & ~frame["is_terminal"]).sum())
        assert _rows(monitor.running_html.value) == min(4, open_jobs)
        assert _rows(monitor.failures_html.value) == min(4, snapshot.counts.get("FAIL", 0))
        assert f"round {snapshot.round}" in monitor.state_label.value
        assert snapshot.observed_at.strftime("%H:%M:%S") in monitor.state_label.value
    assert snapshot.done and monitor.state == "done"
    assert monitor.frame["wait_state"].isin(["done", "gone"]).all()
    assert _chips(monitor) == {"SUCCESS": 8, "FAIL": 4, "gone (404)": 1}
    assert monitor.running_html.value == ""


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
    assert _ended(monitor) == 12 and monitor.state == "done"
    assert "data-state='done'" in monitor.state_label.value
    assert monitor.stop_button.disabled and monitor.resume_button.disabled
    # One bar in segments by outcome: 8 successes and 4 failures of 12, nothing red-all-over.
    assert "data-outcome='SUCCESS' title='SUCCESS 8' style='width:66.667%" in (
        monitor.overall_html.value
    )
    assert "data-outcome='FAIL' title='FAIL 4' style='width:33.333%" in monitor.overall_html.value


def test_stop_is_cancelled_not_ended_and_resume_goes_on(
    sim: Simulator, client: JobsClient, clock: ManualClock, transport: CountingTransport
) -> None:
    """Stop cancels the wait but ends no job; Resume goes on, never counting backwards."""
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
    assert monitor.state == "cancelled" and monitor.reason == "Stop pressed"
    assert _ended(monitor) == 2  # not "12 of 12 ended"
    chips = _chips(monitor)
    assert "cancelled" not in chips and chips["RUNNING"] == 10  # still running, as last seen
    assert UNWATCHED in monitor.running_html.value and UNWATCHED in monitor.counts_html.value
    assert monitor.frame["wait_state"].value_counts()["cancelled"] == 10
    assert monitor.stop_button.disabled and not monitor.resume_button.disabled
    rounds = monitor._rounds

    # Resume: one more round, then held asleep by the gate: counts and rounds went on.
    gate.sleeping.clear()
    monitor.resume_button.click()
    assert monitor.state == "polling"  # at once, not when the next round ends
    assert UNWATCHED not in monitor.running_html.value
    assert gate.sleeping.wait(10)
    assert monitor._rounds == rounds + 1 and f"round {rounds + 1}" in monitor.state_label.value
    assert _ended(monitor) >= 2

    monitor.stop()
    assert monitor.join(10)
    transport.asked.clear()
    gate.open = True
    monitor.start()
    assert monitor.join(30)
    assert monitor.error is None
    assert not ended & set(transport.asked)  # the jobs ended before were not asked again
    assert monitor.frame["wait_state"].eq("done").all()
    assert monitor.state == "done" and _ended(monitor) == 12


def test_the_poll_log_says_cancelled_as_the_monitor_did(
    sim: Simulator, client: JobsClient, clock: ManualClock, tmp_path: Any
) -> None:
    """After Stop the log, read the next morning, names the jobs' wait as the snapshot did."""
    gate = GatedSleep(clock)
    clock.advance(40)
    log = tmp_path / "poll.db"
    monitor = JobMonitor(sim.job_ids, client, clock=clock, sleep=gate, log=log)
    assert gate.sleeping.wait(10)
    monitor.stop()
    assert monitor.join(10)
    assert monitor.snapshot.unwatched == 10 and "unwatched=10" in repr(monitor.snapshot)
    morning = jobtools.read_jobs(log)
    states = morning["wait_state"].value_counts()[lambda c: c > 0].to_dict()
    assert states == {"cancelled": 10, "done": 2}
    assert morning["status"].value_counts()[lambda c: c > 0].to_dict() == {
        "RUNNING": 10,
        "SUCCESS": 2,
    }
    stays = jobtools.transitions(log)
    assert stays["status"].notna().all()  # the wait's end is no observation of a status


def test_stop_during_the_first_sweep_ends_nothing(sim: Simulator, clock: ManualClock) -> None:
    """Stopped before any answer: cancelled, 0 ended, every job shown as never fetched."""
    asked = threading.Event()

    class Slow:
        async def afetch_jobs(self, ids: list[str], progress: Any = False) -> pd.DataFrame:
            asked.set()
            await asyncio.Event().wait()  # a first sweep that takes long; Stop cancels it
            raise AssertionError("never answered")

    monitor = JobMonitor(sim.job_ids, Slow(), clock=clock)
    assert asked.wait(10)
    monitor.stop()
    assert monitor.join(10)
    assert monitor.state == "cancelled" and _ended(monitor) == 0
    assert _chips(monitor) == {"never fetched": 12}
    assert "data-outcome" not in monitor.overall_html.value  # an empty bar, not a full one


def test_a_timeout_is_the_wait_s_state_not_the_jobs(
    sim: Simulator, client: JobsClient, clock: ManualClock
) -> None:
    """At the deadline the wait is "timed out"; its jobs still show the status last seen."""
    monitor = JobMonitor(sim.job_ids, client, clock=clock, timeout=0)
    assert monitor.join(30)
    assert monitor.state == "timed out" and _ended(monitor) == 0
    assert _chips(monitor) == {"INIT": 12} and UNWATCHED in monitor.running_html.value
    assert not monitor.resume_button.disabled


def test_refused_credentials_fail_the_wait(sim: Simulator, transport: CountingTransport) -> None:
    """Every fetch of a round refused (401): the wait fails with its reason and stops polling."""
    wrong = JobsClient(
        endpoint="http://simulator",
        token="not-the-token",
        project_id=sim.project_id,
        transport=transport,
        rate_limit=None,
    )
    monitor = JobMonitor(sim.job_ids, wrong, clock=sim.clock)
    assert monitor.join(30)
    assert monitor.state == "failed"
    assert "refused the credentials" in monitor.reason and "401" in monitor.reason
    assert sum(transport.asked.values()) <= len(sim.job_ids)  # one round at most, then no more
    assert _ended(monitor) == 0 and "data-state='failed'" in monitor.state_label.value
    assert "not-the-token" not in monitor.record_html()
    assert "data-state='failed'" in monitor.record_html()
    assert monitor.resume_button.disabled  # the same credentials would be refused again
    assert "new monitor" in monitor.reason


def test_a_round_shows_its_progress(sim: Simulator, client: JobsClient) -> None:
    """Within a round the monitor subscribes to the fetch's progress events: it counts the
    jobs fetched so far, with the rate the core reports."""
    monitor = JobMonitor(sim.job_ids, client, autostart=False)
    reporter = ProgressReporter(monitor._round_counter(2000), 2000)
    reporter.update(1)  # the first answer is drawn at once
    assert "round 1: fetched 1 of 2,000" in monitor.round_html.value
    assert "jobs/s" in monitor.round_html.value
    for _ in range(1999):
        reporter.update(1)
    assert "fetched 2,000 of 2,000" in monitor.round_html.value  # the last always drawn


def test_a_new_monitor_on_the_same_log_stops_the_earlier(
    sim: Simulator, client: JobsClient, clock: ManualClock, tmp_path: Any
) -> None:
    """A second monitor over the same poll log stops the first, with a warning naming it."""
    gate = GatedSleep(clock)
    log = tmp_path / "poll.db"
    first = JobMonitor(sim.job_ids, client, clock=clock, sleep=gate, log=log)
    assert gate.sleeping.wait(10)
    gate.open = True
    with pytest.warns(UserWarning, match=f"stopped {first.name}, which was polling the same log"):
        second = JobMonitor(sim.job_ids[:3], client, clock=clock, log=str(log))
    assert not first.running and first.state == "cancelled"
    assert first.reason == f"replaced by {second.name}"
    assert second.join(30) and second.state == "done"


class Displayed:
    """IPython's display and update_display, as a notebook front-end would keep them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import IPython.display

        self.outputs: list[dict[str, Any]] = []  # what the cell shows, in order
        self.by_id: dict[str, int] = {}
        self.lock = threading.Lock()
        monkeypatch.setattr(IPython.display, "display", self.display)
        monkeypatch.setattr(IPython.display, "update_display", self.update)

    def display(self, bundle: dict[str, Any], raw: bool, display_id: str | None = None) -> None:
        with self.lock:
            if display_id is not None:
                self.by_id[display_id] = len(self.outputs)
            self.outputs.append(dict(bundle))

    def update(self, bundle: dict[str, Any], raw: bool, display_id: str) -> None:
        with self.lock:
            if display_id in self.by_id:
                self.outputs[self.by_id[display_id]] = dict(bundle)

    def records(self) -> list[str]:
        with self.lock:
            return [o["text/html"] for o in self.outputs if "jt-record" in o.get("text/html", "")]


def test_the_saved_record_is_always_the_latest(
    sim: Simulator, client: JobsClient, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One record below the widget, replaced every round: saved at any moment it is true."""
    shown = Displayed(monkeypatch)
    gate = GatedSleep(clock)
    clock.advance(40)
    monitor = JobMonitor(sim.job_ids, client, clock=clock, sleep=gate, autostart=False)
    monitor._ipython_display_()
    widget, record = shown.outputs
    assert widget["text/plain"] == ""  # no repr that would stay "polling, no round yet"
    assert f".{monitor._record_id} {{display:none}}" in monitor.record_style.value
    monitor.start()
    assert gate.sleeping.wait(10)
    [record] = shown.records()
    as_of = f"as of {monitor.snapshot.observed_at:%H:%M} UTC, still polling when saved"
    assert "data-state='polling'" in record and as_of in record and "2 of 12 ended" in record
    assert monitor._record_id in record and "mathjax_ignore" in record

    name = monitor.name
    monitor.stop()
    assert monitor.join(10)
    [record] = shown.records()
    assert "data-state='cancelled'" in record and UNWATCHED in record

    gate.sleeping.clear()
    monitor.start()  # Resume: the record says polling again at once, not "cancelled"
    [record] = shown.records()
    assert "data-state='polling'" in record and UNWATCHED not in record
    assert gate.sleeping.wait(10)
    [record] = shown.records()
    assert f"<b>{name}</b>" in record and ", round 2" in record  # its number and rounds go on
    monitor.stop()
    assert monitor.join(10)
    assert len(shown.outputs) == 2  # the widget and one record, whatever happened


def test_the_record_is_static_html(sim: Simulator, client: JobsClient, clock: ManualClock) -> None:
    """When the wait ends the record holds its state, counts, failures and when it ended."""
    monitor = JobMonitor(sim.job_ids, client, clock=clock, max_rows=2)
    assert monitor.join(30)
    record = monitor.record_html()
    assert "data-state='done'" in record and "12 of 12 ended" in record
    assert "Latest failures (4; 4 shown)" in record  # more rows than the live view
    assert f"done at {monitor.snapshot.observed_at:%Y-%m-%d %H:%M:%S} UTC" in record
    bundle = monitor._record_bundle()
    assert bundle["text/html"] == record
    assert bundle["text/plain"] == f"{monitor.name}: done, 12 of 12 jobs ended"


def test_chinese_text_is_marked_and_jobs_are_named(
    simulator: Simulator, sim_clock: ManualClock
) -> None:
    """Chinese fail reasons carry lang="zh"; a job shows its image name, the id on hover."""
    job = simulator.add_job(
        status="FAIL",
        run_for=1,
        fail_reason="导出镜像到桶 b1 失败：没有写权限",
        entities={"image_name": "ubuntu22-ci-7"},
    )
    client = JobsClient(
        endpoint="http://simulator",
        token=DEMO_TOKEN,
        project_id=simulator.project_id,
        transport=simulator.transport(),
        rate_limit=None,
    )
    monitor = JobMonitor([job], client, clock=sim_clock)
    assert monitor.join(30)
    table = monitor.failures_html.value
    assert '<span lang="zh">导出镜像到桶 b1 失败：没有写权限</span>' in table
    assert f"title='ubuntu22-ci-7\n{job}'" in table and ">ubuntu22-ci-7</span>" in table


def test_any_text_shows_literally_in_the_widget_and_the_record(
    simulator: Simulator, sim_clock: ManualClock
) -> None:
    """Reasons and image names with `$`, HTML, overrides and 2,000 characters: escaped, written
    out, cut with the whole value on hover, out of MathJax's reach; failures of two days dated."""
    jobs = [
        simulator.add_job(
            status="FAIL", run_for=1 + n, fail_reason=text, entities={"image_name": text}
        )
        for n, text in enumerate(TEXTS)
    ]
    client = JobsClient(
        endpoint="http://simulator",
        token=DEMO_TOKEN,
        project_id=simulator.project_id,
        transport=simulator.transport(),
        rate_limit=None,
    )
    monitor = JobMonitor(jobs, client, clock=sim_clock)
    assert monitor.join(30)
    assert "mathjax_ignore" in monitor._dom_classes
    record = monitor.record_html()
    for html in (monitor.failures_html.value, record):
        assert "<img" not in html and "\\u202e" in html and "\\u200b" in html
        assert "\u202e" not in html and "\u200b" not in html  # never the characters
        assert "$HOME and $PATH" in html and "overflow-wrap:anywhere" in html
        assert f"title='{LONG}" in html and LONG not in html.replace(f"title='{LONG}", "")
    assert "class='jt-record mathjax_ignore" in record
    assert re.search(r">\d\d:\d\d:\d\d</span>", record)  # one day: times alone


def test_failures_of_different_days_show_their_dates() -> None:
    """The "ended (UTC)" column shows the date when the failures span more than a day."""
    frame = jobtools.jobs_to_frame(
        [
            {"job_id": "a" * 32, "status": "FAIL", "end_time": "2024-11-05T23:50:00Z"},
            {"job_id": "b" * 32, "status": "FAIL", "end_time": "2024-11-07T00:10:00Z"},
        ]
    ).assign(observed_at=pd.NaT)
    html = _failures_table(frame, 10)
    assert "2024-11-07 00:10:00" in html and "2024-11-05 23:50:00" in html


@pytest.mark.parametrize(
    ("fraction", "width", "text"),
    [
        (0.456, "45.6%", "46%"),
        (0.0, "0.0%", "0%"),
        (1.0, "100.0%", "100%"),
        (7.0, "100.0%", "100%"),
    ],
)
def test_progress_is_a_fraction(fraction: float, width: str, text: str) -> None:
    """`process_percent` is the service's 0-1 fraction, shown as a percentage (clipped)."""
    cell = _progress_cell(fraction)
    assert f"width:{width}" in cell and cell.endswith(f"{text}</span>")


def test_background_exception_is_shown(sim: Simulator, clock: ManualClock) -> None:
    """An exception in the polling thread appears in the widget and in `.error`, never lost."""

    class Broken:
        async def afetch_jobs(self, ids: list[str], progress: Any = False) -> pd.DataFrame:
            raise RuntimeError("the service exploded")

    monitor = JobMonitor(sim.job_ids, Broken(), clock=clock)
    assert monitor.join(10)
    assert isinstance(monitor.error, RuntimeError)
    assert "RuntimeError: the service exploded" in monitor.error_html.value
    assert monitor.state == "failed" and monitor.reason == "RuntimeError: the service exploded"
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


def test_a_change_in_the_failure_rate_is_one_line(sim_clock: ManualClock) -> None:
    """Once 100 jobs have ended, the monitor says in one line whether their failure rate
    changed (the `regression` scenario's new reason), in the live view and in the record."""
    served = Simulator(clock=sim_clock, finish_within=60)
    ids = served.add_scenario("regression")
    client = client_for(served, served.transport())
    monitor = JobMonitor(ids[:99], client, autostart=False)
    for snapshot in iter_snapshots(ids[:99], client=client, clock=sim_clock):
        monitor.update(snapshot)
    assert monitor.finding is None and monitor.finding_html.value == ""  # too few ended
    monitor = JobMonitor(ids, client, clock=sim_clock)
    assert monitor.join(60) and monitor.state == "done"
    code = jobtools.simulator.SCENARIOS["regression"].changes[0].error_code
    assert monitor.finding is not None and code in monitor.finding
    assert code in monitor.finding_html.value and "jt-finding" in monitor.record_html()
    assert monitor._record_bundle()["text/plain"].endswith(monitor.finding)
