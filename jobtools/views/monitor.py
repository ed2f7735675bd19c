"""The notebook monitor: a live ipywidgets view over the polling core (`jobtools.wait.poll`).

    monitor = jobtools.JobMonitor(ids, endpoint=url, token=token, log="jobs.db")
    monitor            # displays itself; polls in the background
    monitor.frame      # the current DataFrame, at any time

Polling runs in a background thread with its own event loop, not as a task on the kernel's
loop: each round does blocking work (merging thousands of rows, writing the SQLite log) that
would otherwise stall cell execution and widget messages, and a thread behaves the same in
JupyterLab, classic Notebook, VS Code and a plain script. The thread only sets widget values
and appends to an Output widget with `append_stderr`; it never uses `with output:`, which is
not thread-safe (STYLE.md point 9). Children are built once; a refresh only sets values, and
draws at most `max_rows` rows per table however many jobs there are.

What it shows is what is known, nothing more:

* the wait's state (`monitor.state`): polling, done, cancelled (Stop, or a newer monitor
  over the same log or ids took over), timed out, gave up, or failed (an exception, or every
  fetch of a round refused with 401/403: polling stops, `monitor.reason` says why);
* one bar of the jobs that really ended, in segments by outcome (SUCCESS, FAIL, gone).
  Stopping a wait ends no job: jobs still running are shown as running, "not watched";
* within a round, how many of its jobs were fetched and how fast (a first sweep of 10,000
  jobs takes a minute at the default rate);
* Resume goes on from there: the round counter and the ended count never go backwards;
* once 100 jobs have ended, one line of `jobtools.findings`: whether their failure rate
  changed, since when and why (recomputed every few rounds).

Below the widget, one static HTML record (counts, failures, as of when) is kept current: it
is replaced after every round and every change of state, so a notebook saved at any moment
shows the last state without a kernel, labelled "still polling when saved" while it polled.
While the widget is live it hides that record (a person sees one thing); reopened without
the kernel, the record is what shows. The widget's own text fallback is empty, so no stale
"JobMonitor(...)" line shows above it.

One vocabulary for jobs a stopped wait leaves behind: "not ended, no longer watched" (the
snapshot's `unwatched`), in the widget, the record and the poll log's wait states alike.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import threading
import time
import traceback
import uuid
import warnings
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd

from jobtools import errors
from jobtools._aio import run_sync
from jobtools.ids import JobIds, as_job_ids
from jobtools.progress import ProgressEvent
from jobtools.schema import STATUS_ORDER, Outcome, WaitState
from jobtools.views import _html
from jobtools.views._html import COLOURS
from jobtools.wait.poll import (
    DEFAULT_GIVE_UP_AFTER,
    WAIT_COLUMNS,
    WAIT_STATES,
    CancelToken,
    JobsFetcher,
    Snapshot,
    aiter_snapshots,
    blank_frame,
)
from jobtools.wait.polllog import PollLog
from jobtools.wait.schedule import Schedule

__all__ = ["JobMonitor"]

_MAX_TEXT = 160  # characters of a fail_reason or fetch error shown in a table cell
_RECORD_ROWS = 50  # failures listed in the static record
_FINAL = [s.value for s in WaitState if s.is_final]  # done and gone: really ended
_TICK = 0.25  # seconds between redraws of the within-round count
_FINDINGS_AFTER = 100  # ended jobs before the monitor says whether their failure rate changed
_FINDINGS_EVERY = 3  # rounds between two findings (each takes a fraction of a second)
# Said in the record while polling: the record shows only where the widget does not.
_NO_WIDGET_MANAGER = (
    "Polling. This record stands in for the live widget, which this front-end cannot show: "
    "it lacks the widget manager (install jupyterlab_widgets in JupyterLab's own environment; "
    "README: Shared JupyterLab and JupyterHub). If it stays frozen, so is the kernel's view; "
    "the wait goes on, and the record is complete when it ends."
)
_MONITORS: weakref.WeakSet[JobMonitor] = weakref.WeakSet()
UNWATCHED = "not ended, no longer watched"  # jobs a stopped wait leaves: one phrase everywhere
_NUMBERS = itertools.count(1)


class JobMonitor(widgets.VBox):
    """A live view of many jobs: the wait's state, ended jobs by outcome, running jobs, failures.

    Args:
        job_ids: ids as a list, Series or a frame's `job_id` column.
        client: anything with `async afetch_jobs(ids)`; default `JobsClient(**client_options)`
            (made here, so bad options fail in the cell, not in the background).
        timeout: seconds per run (None: until every job ends or Stop).
        log: a poll log path (or `PollLog`); a monitor started again on it resumes.
        schedule, give_up_after, clock, sleep: as for `jobtools.wait_for`.
        max_rows: rows per table (running jobs, failures, fetch errors).
        autostart: start polling at once (else call `start()`).
    """

    def __init__(
        self,
        job_ids: JobIds,
        client: JobsFetcher | None = None,
        *,
        timeout: float | None = None,
        log: str | Path | PollLog | None = None,
        schedule: Schedule | str | None = None,
        give_up_after: int = DEFAULT_GIVE_UP_AFTER,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        max_rows: int = 10,
        autostart: bool = True,
        **client_options: Any,
    ) -> None:
        super().__init__()
        self.job_ids = as_job_ids(job_ids)
        if client is not None and client_options:
            raise TypeError(f"pass either client= or client options, not both: {client_options}")
        self._owns_client = client is None
        if client is None:
            from jobtools.api.client import JobsClient

            client = JobsClient(**client_options)
        self.client = client
        self.max_rows = max_rows
        self.name = f"JobMonitor #{next(_NUMBERS)}"
        self._options: dict[str, Any] = {
            "timeout": timeout,
            "log": log,
            "schedule": schedule,
            "give_up_after": give_up_after,
            "clock": clock,
            "sleep": sleep,
        }
        self._log_key = _log_key(log)
        self._log_name = _log_name(log)
        self.error: BaseException | None = None
        self.state = "idle"
        self.reason: str | None = None
        self._snapshot: Snapshot | None = None
        self._initial = _waiting_view(self.job_ids)
        self._rounds = 0  # rounds shown, across resumes
        self._offset = 0  # rounds of the runs before this one
        self._polls: np.ndarray | None = None  # per-job fetch counts of this run so far
        self._stop_reason: str | None = None
        self._failure: str | None = None  # why the wait itself failed
        self._token: CancelToken | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._record_id: str | None = None  # set once displayed in a notebook
        self._refused = False  # the service refused the credentials: Resume cannot help
        self.finding: str | None = None  # findings' headline, once enough jobs ended
        self._build()
        self._render()
        _MONITORS.add(self)
        if autostart:
            self.start()

    # --- the widgets, built once ------------------------------------------------------

    def _build(self) -> None:
        self.state_label = widgets.HTML()
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.resume_button = widgets.Button(description="Resume", icon="play", disabled=True)
        self.stop_button.on_click(self._guard(lambda _: self.stop()))
        self.resume_button.on_click(self._guard(lambda _: self.start()))
        self.overall_html = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.finding_html = widgets.HTML()
        self.round_html = widgets.HTML()
        self.counts_html = widgets.HTML()
        self.running_html = widgets.HTML()
        self.failures_html = widgets.HTML()
        self.fetch_errors_html = widgets.HTML()
        self.error_html = widgets.HTML()
        self.output = widgets.Output(layout=widgets.Layout(max_height="20em", overflow="auto"))
        # A style that hides this monitor's static record while the widget is live.
        self.record_style = widgets.HTML(layout=widgets.Layout(display="none"))
        self.add_class("jt-monitor")
        self.add_class(_html.LITERAL)
        self.layout = widgets.Layout(max_width="100%", overflow="hidden")
        self.children = (
            widgets.HBox([self.state_label, self.stop_button, self.resume_button]),
            self.overall_html,
            self.finding_html,
            self.round_html,
            self.counts_html,
            self.running_html,
            self.failures_html,
            self.fetch_errors_html,
            self.error_html,
            self.output,
            self.record_style,
        )

    def _guard(self, action: Callable[[Any], object]) -> Callable[[Any], None]:
        """A button callback whose errors are shown in the widget instead of vanishing."""

        def run(button: Any) -> None:
            try:
                action(button)
            except Exception as exc:
                self._show_error(exc)

        return run

    # --- control ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the background wait is polling."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> JobMonitor:
        """Start polling in the background (again, after Stop or a timeout: resume)."""
        token, thread = self._token, self._thread
        if token is not None and token.cancelled and thread is not None:
            thread.join(10)  # stopped, and drawing its last state: Resume waits for that
        self._take_over()
        with self._lock:
            if self.running:
                return self
            self.error = None
            self.error_html.value = ""
            self.reason = self._stop_reason = self._failure = None
            token = CancelToken()
            start = self._snapshot.frame if self._snapshot is not None else None
            self._token = token
            self._offset, self._polls = self._rounds, None
            self.state = "polling"
            self._render()  # at once: no stale "cancelled" until the next round ends
            self._thread = threading.Thread(
                target=self._run, args=(token, start), name="jobtools-monitor", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, reason: str = "Stop pressed") -> None:
        """Cancel the wait. No job's state changes: the ones still running stay running."""
        token = self._token
        if token is not None and self.running:
            self._stop_reason = reason
            token.cancel()

    def join(self, timeout: float | None = None) -> bool:
        """Block until the background wait ends (or `timeout` seconds); True if it ended."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    @property
    def frame(self) -> pd.DataFrame:
        """The current job frame (a copy): job and fetch columns plus the wait's columns."""
        snapshot = self._snapshot
        return (snapshot.frame if snapshot is not None else self._initial).copy()

    @property
    def snapshot(self) -> Snapshot | None:
        """The latest snapshot (None before the first round)."""
        return self._snapshot

    def _take_over(self) -> None:
        """Stop any other live monitor over the same log or the same ids, with a warning."""
        for other in list(_MONITORS):
            if other is self or not other.running:
                continue
            if self._log_key is not None and other._log_key == self._log_key:
                what = f"log {self._log_name}"
            elif set(other.job_ids) == set(self.job_ids):
                what = f"{len(self.job_ids)} job ids"
            else:
                continue
            other.stop(reason=f"replaced by {self.name}")
            other.join(10)
            message = f"{self.name} stopped {other.name}, which was polling the same {what}"
            self.output.append_stderr(message + "\n")
            warnings.warn(message, UserWarning, stacklevel=4)

    # --- the background wait ------------------------------------------------------------

    def _run(self, token: CancelToken, start: pd.DataFrame | None) -> None:
        try:
            run_sync(lambda: self._poll(token, start))
        except BaseException as exc:  # shown, never lost; the thread ends quietly
            self._show_error(exc)
        else:
            self.state = self._final_state()
            self._render()

    async def _poll(self, token: CancelToken, start: pd.DataFrame | None) -> None:
        async with contextlib.AsyncExitStack() as stack:
            if self._owns_client and hasattr(self.client, "__aenter__"):
                await stack.enter_async_context(self.client)  # type: ignore[arg-type]
            async for snapshot in aiter_snapshots(
                self.job_ids,
                client=self.client,
                cancel=token,
                start=start,
                round_progress=self._round_counter,
                **self._options,
            ):
                self._see(snapshot, token)

    def _see(self, snapshot: Snapshot, token: CancelToken | None) -> None:
        """Take one round's snapshot in; a round whose every fetch was refused fails the wait."""
        polls = snapshot.frame["polls"].to_numpy()
        before = self._polls if self._polls is not None else np.zeros_like(polls)
        self._polls = polls
        asked = np.flatnonzero(polls > before)
        refused = _refused(snapshot.frame, asked)
        if refused is not None and self._failure is None:
            self._failure = self.reason = refused
            self._refused = True
            if token is not None:
                token.cancel()  # polling again cannot fix credentials
        self._snapshot = snapshot
        self._rounds = self._offset + snapshot.round
        self.finding = _finding(snapshot, self._rounds, self.finding)
        self.round_html.value = ""
        if snapshot.done:
            self.state = self._final_state()
        elif refused is None:
            self.state = "polling"
        self._render()

    def update(self, snapshot: Snapshot) -> None:
        """Show `snapshot` (as the background wait does after each round)."""
        self._see(snapshot, None)

    def _round_counter(self, total: int) -> _RoundCount:
        return _RoundCount(self, self._rounds + 1, total)

    def _final_state(self) -> str:
        if self._failure is not None:
            self.reason = self._failure
            return "failed"
        if self._stop_reason is not None:
            self.reason = self._stop_reason
            return "cancelled"
        states = self._snapshot.states if self._snapshot is not None else {}
        if states.get(WaitState.CANCELLED):
            return "cancelled"
        if states.get(WaitState.TIMED_OUT):
            return "timed out"
        if states.get(WaitState.GAVE_UP):
            self.reason = (
                f"{states[WaitState.GAVE_UP]} jobs: every fetch failed, many times in a row"
            )
            return "gave up"
        return "done"

    def _show_error(self, exc: BaseException) -> None:
        self.error = exc
        self._failure = self.reason = f"{type(exc).__name__}: {exc}"
        self.state = "failed"
        self.error_html.value = (
            f"<div style='color:{COLOURS['error']}'><b>error:</b> "
            f"{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</div>"
        )
        self.output.append_stderr("".join(traceback.format_exception(exc)))
        self._render()

    # --- drawing ------------------------------------------------------------------------

    def _render(self) -> None:
        """Redraw every part from the latest snapshot: only widget values change."""
        snapshot = self._snapshot
        frame = snapshot.frame if snapshot is not None else self._initial
        live = self.state == "polling"
        self.state_label.value = self._header()
        self.stop_button.disabled = not live
        self.resume_button.disabled = live or self._refused or not _unfinished(frame)
        ended = _ended(frame)
        self.overall_html.value = _overall(frame, ended)
        self.finding_html.value = _finding_html(self.finding)
        self.counts_html.value = _chips(frame, ended, live)
        now = snapshot.observed_at if snapshot is not None else pd.Timestamp.now("UTC")
        self.running_html.value = _running_table(frame, now, self.max_rows, live)
        self.failures_html.value = _failures_table(frame, self.max_rows)
        self.fetch_errors_html.value = _fetch_errors_table(frame, self.max_rows)
        self._update_record()

    def _header(self) -> str:
        snapshot = self._snapshot
        colour = {"failed": COLOURS["error"], "done": COLOURS["SUCCESS"]}.get(self.state, "")
        parts = [
            f"<b>{html.escape(self.name)}</b>",
            f"<b class='jt-state' data-state='{html.escape(self.state)}' "
            f"style='color:{colour}'>{html.escape(self.state)}</b>",
        ]
        if self._rounds:
            parts.append(f"<span class='jt-round'>round {self._rounds}</span>")
        if snapshot is not None:
            parts.append(f"refreshed {snapshot.observed_at:%H:%M:%S} UTC")
            if self.state == "polling" and snapshot.next_poll_in is not None:
                parts.append(f"next poll in {snapshot.next_poll_in:.0f} s")
        head = " · ".join(parts)
        if self.reason is not None:
            head += (
                f"<div class='jt-reason' style='{_html.WRAP}'>{_html.text(self.reason, 400)}</div>"
            )
        return head

    def _tick(self, count: _RoundCount) -> None:
        """Redraw the within-round count (from the polling thread, a few times a second)."""
        rate = count.rate
        left = (count.total - count.done) / rate if rate > 0 else None
        eta = f" · about {_html.duration(left)} left" if left else ""
        self.round_html.value = (
            f"<div class='jt-round-progress' data-done='{count.done}' data-total='{count.total}'>"
            f"round {count.round}: fetched {count.done:,} of {count.total:,}"
            f" · {rate:.0f} jobs/s{eta}</div>"
        )

    # --- the static record ----------------------------------------------------------------

    def _ipython_display_(self) -> None:
        """Show the widget, and below it the static record, kept current from then on."""
        from IPython.display import display

        if self._record_id is None:
            self._record_id = f"jobtools-monitor-{uuid.uuid4().hex}"
            self.record_style.value = f"<style>.{self._record_id} {{display:none}}</style>"
        bundle = self._repr_mimebundle_()
        # Shown where the widget cannot be (reopened without its kernel): the record below
        # says what was seen, and a repr made now would stay "polling, no round yet" forever.
        bundle["text/plain"] = ""
        display(bundle, raw=True)
        display(self._record_bundle(), raw=True, display_id=self._record_id)

    def _record_bundle(self) -> dict[str, str]:
        return {"text/html": self.record_html(), "text/plain": self._record_text()}

    def _update_record(self) -> None:
        """Replace the record below the widget (after each round and change of state)."""
        if self._record_id is None:
            return
        from IPython.display import update_display

        update_display(self._record_bundle(), raw=True, display_id=self._record_id)

    def record_html(self) -> str:
        """A static HTML summary of the wait (state, counts, failures, when), for the notebook."""
        snapshot = self._snapshot
        frame = snapshot.frame if snapshot is not None else self._initial
        ended = _ended(frame)
        live = self.state in ("idle", "polling")
        now = snapshot.observed_at if snapshot is not None else pd.Timestamp.now("UTC")
        if live:
            doing = "still polling" if self.state == "polling" else "not started"
            when = f"as of {now:%H:%M} UTC, {doing} when saved"
            when = f"{when}, round {self._rounds}" if self._rounds else when
        else:
            when = f"{self.state} at {now:%Y-%m-%d %H:%M:%S} UTC, after {self._rounds} rounds"
        log = f"; log {_html.text(self._log_name)}" if self._log_name else ""
        reason = (
            f"<div class='jt-reason' style='{_html.WRAP}'>{_html.text(self.reason, 400)}</div>"
            if self.reason
            else ""
        )
        classes = " ".join(c for c in ("jt-record", _html.LITERAL, self._record_id) if c)
        note = (
            f"<div class='jt-no-widgets' style='{_html.WRAP}'>{_NO_WIDGET_MANAGER}</div>"
            if self.state == "polling"
            else ""
        )
        return (
            f"{self._no_dead_widget()}"
            f"<div class='{classes}' data-state='{html.escape(self.state)}' "
            "style='border:1px solid #ccc;border-radius:4px;padding:6px;max-width:min(60em,100%);"
            "box-sizing:border-box;overflow-x:auto'>"
            f"<div><b>{html.escape(self.name)}</b>: <span class='jt-when'>{html.escape(when)}"
            f"</span> ({len(frame):,} jobs{log})</div>{reason}{note}"
            f"{_overall(frame, ended)}{_finding_html(self.finding)}{_chips(frame, ended, live)}"
            f"{_running_table(frame, now, self.max_rows, live)}"
            f"{_failures_table(frame, _RECORD_ROWS)}"
            f"{_fetch_errors_table(frame, self.max_rows)}</div>"
        )

    def _no_dead_widget(self) -> str:
        """A style that hides this cell's widget output while no widget renders in it.

        Reopened without its kernel, JupyterLab and Notebook 7 show "Loading widget..." (or
        "Error displaying widget") where the widget was, above the record: a stale line that
        says nothing. Hidden while it holds no monitor; the live widget is never hidden.
        """
        if self._record_id is None:
            return ""
        # The widget's output is the one without a data-mime-type (streams and HTML have one).
        widget = "> .jp-OutputArea-output:not([data-mime-type])"
        return (
            f"<style>.jp-OutputArea-child:has(~ .jp-OutputArea-child .{self._record_id})"
            f":has({widget}):not(:has(.jt-monitor)) {{display:none}}</style>"
        )

    def _record_text(self) -> str:
        frame = self.frame
        ended = int(_ended(frame).sum())
        state = self.state
        if state in ("idle", "polling"):
            snapshot = self._snapshot
            now = snapshot.observed_at if snapshot is not None else pd.Timestamp.now("UTC")
            state = f"as of {now:%H:%M} UTC, still {state} when saved"
        finding = f"; {self.finding}" if self.finding else ""
        return f"{self.name}: {state}, {ended} of {len(frame)} jobs ended{finding}"

    def __repr__(self) -> str:
        state = "polling" if self.running else self.state
        seen = "no round yet" if self._snapshot is None else repr(self._snapshot)
        return f"JobMonitor(jobs={len(self.job_ids)}, {state}, {seen})"


class _RoundCount:
    """The subscriber `aiter_snapshots` tells as a round's answers arrive (`OnProgress`)."""

    def __init__(self, monitor: JobMonitor, round_no: int, total: int) -> None:
        self.monitor, self.round, self.total = monitor, round_no, total
        self.done = 0
        self.rate = 0.0
        self._drawn = 0.0

    def __call__(self, event: ProgressEvent) -> None:
        self.done, self.rate = event.done, event.rate or 0.0
        now = time.monotonic()
        if now - self._drawn >= _TICK or self.done >= self.total:
            self._drawn = now
            self.monitor._tick(self)


def _finding(snapshot: Snapshot, round_no: int, last: str | None) -> str | None:
    """`findings(...).headline()` of the jobs ended so far: every few rounds and at the end,
    once enough have ended for a failure rate to mean something (else `last`)."""
    frame = snapshot.frame
    ended = int(frame["status"].isin(["SUCCESS", "FAIL"]).sum())
    due = last is None or snapshot.done or round_no % _FINDINGS_EVERY == 0
    if ended < _FINDINGS_AFTER or not due:
        return last
    from jobtools.analysis.findings import findings

    return findings(frame).headline()


def _finding_html(finding: str | None) -> str:
    if not finding:
        return ""
    return f"<div class='jt-finding'><b>finding:</b> {_html.text(finding, 400)}</div>"


def _log_key(log: str | Path | PollLog | None) -> str | None:
    """What identifies a log: its resolved path (an in-memory log: the object)."""
    if log is None:
        return None
    path = log.path if isinstance(log, PollLog) else log
    return str(Path(path).resolve()) if path is not None else f"memory:{id(log)}"


def _log_name(log: str | Path | PollLog | None) -> str | None:
    """A log as the user named it."""
    if log is None:
        return None
    path = log.path if isinstance(log, PollLog) else log
    return str(path) if path is not None else "(in memory)"


def _waiting_view(job_ids: list[str]) -> pd.DataFrame:
    frame = blank_frame(job_ids)
    n = len(frame)
    return frame.assign(
        wait_state=pd.Categorical([WaitState.WAITING] * n, categories=WAIT_STATES),
        observed_at=pd.Series(pd.NaT, index=frame.index, dtype=WAIT_COLUMNS["observed_at"]),
        polls=np.zeros(n, dtype="int64"),
        fetch_errors=np.zeros(n, dtype="int64"),
    )


def _refused(frame: pd.DataFrame, asked: np.ndarray) -> str | None:
    """Why the wait fails when every fetch of the round was refused (the one predicate,
    `errors.refuses_credentials`), else None."""
    if not len(asked):
        return None
    rows = frame.iloc[asked]
    if not errors.refused_rows(rows["outcome"], rows["fetch_error_code"]).all():
        return None
    first = frame.iloc[int(asked[0])]
    detail = " ".join(
        str(first[c])
        for c in ("http_status", "fetch_error_code", "fetch_error")
        if not _html.is_missing(first[c])
    )
    return (
        f"the service refused the credentials for all {len(asked)} jobs asked ({detail}); "
        "polling stopped (Resume would send them again: other credentials need a new monitor)"
    )


def _ended(frame: pd.DataFrame) -> np.ndarray:
    """Jobs that really ended: a terminal status, or unknown to the service (404)."""
    final = frame["wait_state"].isin(_FINAL).to_numpy(bool)
    return frame["is_terminal"].to_numpy(bool) | final


def _unfinished(frame: pd.DataFrame) -> bool:
    return bool((~_ended(frame)).any())


def _status_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Jobs per status: the ended outcomes first, then the documented order, unknown last."""
    counts = frame["status"].value_counts(sort=False)
    out = {str(k): int(v) for k, v in counts.items() if v > 0}
    known = ("SUCCESS", "FAIL", *(s for s in STATUS_ORDER if s not in ("SUCCESS", "FAIL")))
    order = [s for s in known if s in out] + [s for s in out if s not in STATUS_ORDER]
    return {s: out[s] for s in order}


def _overall(frame: pd.DataFrame, ended: np.ndarray) -> str:
    """One bar of the ended jobs in segments by outcome, and how many ended of all."""
    status = frame["status"]
    success = int(status.eq("SUCCESS").sum())
    fail = int(status.eq("FAIL").sum())
    n_ended = int(ended.sum())
    gone = n_ended - success - fail
    total = len(frame)
    bar = _html.segments(
        [
            ("SUCCESS", success, COLOURS["SUCCESS"]),
            ("FAIL", fail, COLOURS["FAIL"]),
            ("gone", gone, COLOURS["gone"]),
        ],
        total,
    )
    return (
        f"<div class='jt-overall' data-ended='{n_ended}' data-total='{total}'>{bar}"
        f"<div>{n_ended:,} of {total:,} ended ({_html.percent(n_ended / max(total, 1))})</div>"
        "</div>"
    )


def _chips(frame: pd.DataFrame, ended: np.ndarray, live: bool) -> str:
    """Counts per status in the documented order; jobs never fetched; the wait's own counts."""
    chips = [_chip(name, count) for name, count in _status_counts(frame).items()]
    never = int((frame["status"].isna() & frame["wait_state"].ne(WaitState.GONE)).sum())
    if never:
        chips.append(_chip("not fetched yet" if live else "never fetched", never))
    states = frame["wait_state"].value_counts()
    for state, label, colour in _STATE_CHIPS:
        if states.get(state, 0):
            chips.append(_chip(label, int(states[state]), colour))
    unwatched = int((~ended).sum())
    if not live and unwatched and ended.sum() < len(frame):
        chips.append(
            f"<span class='jt-unwatched' data-count='{unwatched}'>· {unwatched:,} {UNWATCHED} ·"
            "</span>"
        )
    return f"<div class='jt-counts'>{' '.join(chips)} <span>total {len(frame):,}</span></div>"


# How waits ended other than by a status, beside the status counts. Cancelled and timed out
# are the wait's own state (in its header), not the jobs'.
_STATE_CHIPS = (
    (WaitState.GONE, "gone (404)", COLOURS["gone"]),
    (WaitState.EXPIRED, "expired (404 after retention)", COLOURS["gone"]),
    (WaitState.AWAITING_PAYMENT, "awaiting payment", COLOURS["PENDING_PAYMENT"]),
    (WaitState.GAVE_UP, "given up", None),
)


def _chip(name: str, count: int, colour: str | None = None) -> str:
    colour = colour or COLOURS.get(name, "#6c757d")
    return (
        f"<span class='jt-chip' data-name='{html.escape(name)}' data-count='{count}' "
        f"style='background-color:{colour};color:white;border-radius:4px;padding:1px 6px;"
        f"margin-right:4px'>{html.escape(name)} {count:,}</span>"
    )


def _label(row: pd.Series) -> str:
    """A job as its image name when known (else a short id), with the full id on hover."""
    job_id = str(row["job_id"])
    name = row.get("image_name")
    # Ids begin with their creation time, shared by a whole batch: the end tells them apart.
    short = _html.text("…" + job_id[-10:])
    shown = _html.text(name, 40) if not _html.is_missing(name) else short
    hover = job_id if _html.is_missing(name) else f"{name}\n{job_id}"
    return f"<span class='jt-job' title='{_html.attribute(hover)}'>{shown}</span>"


def _first(positions: np.ndarray, keys: np.ndarray, n: int) -> np.ndarray:
    """The `positions` with the `n` smallest keys, in key order, without a full sort."""
    if len(positions) > n > 0:
        part = np.argpartition(keys, n - 1)[:n]
        positions, keys = positions[part], keys[part]
    return positions[np.argsort(keys, kind="stable")][:n]


def _instants(times: pd.Series, *, latest_first: bool = False) -> np.ndarray:
    """Sort keys for times: int64 microseconds (negated for latest first), NaT always last."""
    values = times.to_numpy("datetime64[us]")
    keys = values.astype("int64")
    return np.where(np.isnat(values), np.iinfo("int64").max, -keys if latest_first else keys)


def _progress_cell(fraction: float) -> str:
    """`process_percent` (a 0-1 fraction, as the service sends it) as a small bar and a %."""
    if np.isnan(fraction):
        return ""
    share = float(np.clip(fraction, 0.0, 1.0))
    return (
        f"<span class='jt-progress' data-fraction='{share:.4f}'>"
        f"<span style='display:inline-block;width:6em;height:0.7em;background-color:#e9ecef;"
        f"vertical-align:middle'><span style='display:block;height:100%;width:{100 * share:.1f}%;"
        f"background-color:{COLOURS['RUNNING']}'></span></span> {_html.percent(share)}</span>"
    )


def _running_table(frame: pd.DataFrame, now: pd.Timestamp, max_rows: int, live: bool) -> str:
    """The jobs not ended yet that have a status, longest running first: one row each."""
    status = frame["status"]
    open_ = np.flatnonzero((status.notna() & ~frame["is_terminal"].astype(bool)).to_numpy(bool))
    if not len(open_):
        return ""
    shown = frame.take(_first(open_, _instants(frame["begin_time"])[open_], max_rows))
    age = (now - shown["begin_time"]).dt.total_seconds().to_numpy("float64", na_value=np.nan)
    fractions = shown["process_percent"].to_numpy("float64", na_value=np.nan)
    rows = [
        (
            _label(row),
            _html.text(row["status"]),
            _html.text(row["job_type"]),
            _html.text(row["current_task"]),
            _progress_cell(fractions[i]),
            _html.duration(age[i]),
        )
        for i, (_, row) in enumerate(shown.iterrows())
    ]
    what = "Running" if live else f"{UNWATCHED} (running when the wait stopped)"
    title = f"{what}: {len(open_):,}" + (
        f" ({len(shown)} longest shown)" if len(open_) > len(shown) else ""
    )
    head = ("job", "status", "job_type", "current_task", "progress", "running for")
    return f"<div class='jt-running'>{_html.table(title, head, rows)}</div>"


def _failures_table(frame: pd.DataFrame, max_rows: int) -> str:
    failed = np.flatnonzero(frame["status"].eq("FAIL").to_numpy(bool))
    if not len(failed):
        return ""
    ended = _instants(frame["end_time"].fillna(frame["observed_at"]), latest_first=True)
    shown = frame.take(_first(failed, ended[failed], max_rows))
    code = shown["error_code"].fillna(shown["entity_error_code"])
    reason = shown["fail_reason"].fillna(shown["entity_error"])
    ends = shown["end_time"].dropna()
    # Times alone read as unsorted when failures come from different days: then the date too.
    spans_days = len(ends) > 0 and ends.max() - ends.min() > pd.Timedelta(days=1)
    clock = "%Y-%m-%d %H:%M:%S" if spans_days else "%H:%M:%S"
    # The reason last: however long it is, the columns before it stay in view.
    rows = [
        (
            _label(row),
            "<span style='white-space:nowrap'>"
            + _html.text(
                row["end_time"].strftime(clock) if not _html.is_missing(row["end_time"]) else None
            )
            + "</span>",
            _html.text(code.iloc[i]),
            _html.text(row["job_type"]),
            _html.text(reason.iloc[i], _MAX_TEXT),
        )
        for i, (_, row) in enumerate(shown.iterrows())
    ]
    title = f"Latest failures ({len(failed):,}; {len(shown)} shown)"
    head = ("job", "ended (UTC)", "error_code", "job_type", "fail_reason")
    return f"<div class='jt-failures'>{_html.table(title, head, rows)}</div>"


def _fetch_errors_table(frame: pd.DataFrame, max_rows: int) -> str:
    outcome = frame["outcome"]
    bad = np.flatnonzero((outcome.notna() & outcome.ne(Outcome.OK)).to_numpy(bool))
    if not len(bad):
        return ""
    shown = frame.take(bad[:max_rows])
    rows = [
        (
            _label(row),
            _html.text(row["outcome"]),
            _html.text(row["http_status"]),
            _html.text(row["fetch_error_code"]),
            _html.text(row["fetch_error"], _MAX_TEXT),
            _html.text(row["wait_state"]),
        )
        for _, row in shown.iterrows()
    ]
    counts = outcome[outcome.notna() & outcome.ne(Outcome.OK)].astype(str).value_counts()
    summary = ", ".join(f"{k} {v}" for k, v in counts.items())
    title = f"Fetch errors ({summary}; {len(shown)} shown)"
    head = ("job", "outcome", "http", "error_code", "error", "wait")
    return f"<div class='jt-fetch-errors'>{_html.table(title, head, rows)}</div>"
