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
draws at most `max_rows` table rows and `max_bars` progress bars however many jobs there are.

Stop cancels the wait (jobs still running end as `cancelled`); Resume starts a new wait that
keeps the jobs already ended and polls the others (from the poll log when one is given). An
exception in the background is shown in the widget and kept in `.error`.
"""

from __future__ import annotations

import contextlib
import html
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd

from jobtools._aio import run_sync
from jobtools.ids import as_job_ids
from jobtools.schema import STATUS_ORDER, WaitState
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

# Colours for the status chips; unknown statuses and wait states get grey.
_COLOURS = {
    "INIT": "#6c757d",
    "RUNNING": "#0d6efd",
    "SUCCESS": "#198754",
    "FAIL": "#dc3545",
    "PENDING_PAYMENT": "#fd7e14",
    "gone": "#6f42c1",
    "expired": "#6f42c1",
    "awaiting_payment": "#fd7e14",
    "gave_up": "#d63384",
    "timed_out": "#fd7e14",
    "cancelled": "#6c757d",
}
# Chips beside the status counts: how waits ended other than by a terminal status.
_ENDED_STATES = tuple(s.value for s in WaitState if s.is_ended and s is not WaitState.DONE)
_MAX_TEXT = 160  # characters of a fail_reason or fetch error shown in a table cell
# The columns each part of the view draws.
_BAR_COLUMNS = ["job_id", "process_percent", "current_task"]
_RUNNING_COLUMNS = ["job_id", "job_type", "current_task", "process_percent", "begin_time"]
_FAILURE_COLUMNS = ["job_id", "job_type", "error_code", "entity_error_code", "fail_reason"]
_FAILURE_COLUMNS += ["entity_error", "end_time"]
_FETCH_ERROR_COLUMNS = ["job_id", "outcome", "http_status", "fetch_error_code", "fetch_error"]
_FETCH_ERROR_COLUMNS += ["wait_state"]


class JobMonitor(widgets.VBox):
    """A live view of many jobs: counts, progress, running jobs, failures and fetch errors.

    Args:
        job_ids: ids as a list, Series or a frame's `job_id` column.
        client: anything with `async afetch_jobs(ids)`; default `JobsClient(**client_options)`
            (made here, so bad options fail in the cell, not in the background).
        timeout: seconds per run (None: until every job ends or Stop).
        log: a poll log path (or `PollLog`); a monitor started again on it resumes.
        schedule, give_up_after, clock, sleep: as for `jobtools.wait_for`.
        max_rows: rows per table (running jobs, failures, fetch errors).
        max_bars: progress bars for individual running jobs.
        autostart: start polling at once (else call `start()`).
    """

    def __init__(
        self,
        job_ids: Any,
        client: JobsFetcher | None = None,
        *,
        timeout: float | None = None,
        log: str | Path | PollLog | None = None,
        schedule: Schedule | str | None = None,
        give_up_after: int = DEFAULT_GIVE_UP_AFTER,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        max_rows: int = 10,
        max_bars: int = 8,
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
        self._options: dict[str, Any] = {
            "timeout": timeout,
            "log": log,
            "schedule": schedule,
            "give_up_after": give_up_after,
            "clock": clock,
            "sleep": sleep,
        }
        self.error: BaseException | None = None
        self._snapshot: Snapshot | None = None
        self._initial = _waiting_view(self.job_ids)
        self._token: CancelToken | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._build(max_bars)
        self._show_state("idle")
        if autostart:
            self.start()

    # --- the widgets, built once ------------------------------------------------------

    def _build(self, max_bars: int) -> None:
        self.state_label = widgets.HTML()
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.resume_button = widgets.Button(description="Resume", icon="play", disabled=True)
        self.stop_button.on_click(self._guard(lambda _: self.stop()))
        self.resume_button.on_click(self._guard(lambda _: self.start()))
        self.counts_html = widgets.HTML()
        self.overall = widgets.IntProgress(
            value=0, min=0, max=max(len(self.job_ids), 1), bar_style="info"
        )
        self.overall_label = widgets.Label()
        self.bars: list[tuple[widgets.HBox, widgets.Label, widgets.FloatProgress, widgets.Label]]
        self.bars = []
        for _ in range(max_bars):
            name = widgets.Label(layout=widgets.Layout(width="22em"))
            # process_percent is a fraction from 0 to 1, as the service sends it.
            bar = widgets.FloatProgress(min=0.0, max=1.0, layout=widgets.Layout(width="40%"))
            text = widgets.Label()
            row = widgets.HBox([name, bar, text], layout=widgets.Layout(display="none"))
            self.bars.append((row, name, bar, text))
        self.more_running = widgets.Label()
        self.running_html = widgets.HTML()
        self.failures_html = widgets.HTML()
        self.fetch_errors_html = widgets.HTML()
        self.error_html = widgets.HTML()
        self.output = widgets.Output(layout=widgets.Layout(max_height="20em", overflow="auto"))
        self.children = (
            widgets.HBox([self.state_label, self.stop_button, self.resume_button]),
            self.counts_html,
            widgets.HBox([self.overall, self.overall_label]),
            widgets.VBox([b[0] for b in self.bars] + [self.more_running]),
            self.running_html,
            self.failures_html,
            self.fetch_errors_html,
            self.error_html,
            self.output,
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
        with self._lock:
            if self.running:
                return self
            self.error = None
            self.error_html.value = ""
            token = CancelToken()
            start = self._snapshot.frame if self._snapshot is not None else None
            self._token = token
            self._thread = threading.Thread(
                target=self._run, args=(token, start), name="jobtools-monitor", daemon=True
            )
            self._show_state("polling")
            self._thread.start()
        return self

    def stop(self) -> None:
        """Cancel the wait; the jobs still running end as `cancelled` (Resume goes on)."""
        token = self._token
        if token is not None:
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

    # --- the background wait ------------------------------------------------------------

    def _run(self, token: CancelToken, start: pd.DataFrame | None) -> None:
        try:
            run_sync(lambda: self._poll(token, start))
        except BaseException as exc:  # shown, never lost; the thread ends quietly
            self._show_error(exc)
        else:
            self._show_state(self._final_state())

    async def _poll(self, token: CancelToken, start: pd.DataFrame | None) -> None:
        async with contextlib.AsyncExitStack() as stack:
            if self._owns_client and hasattr(self.client, "__aenter__"):
                await stack.enter_async_context(self.client)  # type: ignore[arg-type]
            async for snapshot in aiter_snapshots(
                self.job_ids, client=self.client, cancel=token, start=start, **self._options
            ):
                self.update(snapshot)

    def _final_state(self) -> str:
        snapshot = self._snapshot
        if snapshot is None:
            return "stopped"
        states = snapshot.states
        if states.get("cancelled"):
            return "stopped"
        if states.get("timed_out"):
            return "timed out"
        return "done"

    def _show_state(self, state: str) -> None:
        snapshot = self._snapshot
        parts = [f"<b>{html.escape(state)}</b>"]
        if snapshot is not None:
            parts.append(f"round {snapshot.round}")
            parts.append(f"refreshed {snapshot.observed_at:%Y-%m-%d %H:%M:%S} UTC")
            if state == "polling" and snapshot.next_poll_in is not None:
                parts.append(f"next poll in {snapshot.next_poll_in:.0f} s")
        self.state_label.value = " · ".join(parts)
        polling = state == "polling"
        self.stop_button.disabled = not polling
        unfinished = snapshot is None or any(snapshot.states.get(s) for s in _RESUMABLE)
        self.resume_button.disabled = polling or not unfinished

    def _show_error(self, exc: BaseException) -> None:
        self.error = exc
        text = "".join(traceback.format_exception(exc))
        self.error_html.value = (
            f"<div style='color:{_COLOURS['FAIL']}'><b>error:</b> "
            f"{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</div>"
        )
        self.output.append_stderr(text)
        self._show_state("error")

    # --- one refresh ----------------------------------------------------------------------

    def update(self, snapshot: Snapshot) -> None:
        """Show `snapshot`: only widget values change, and only a few rows are drawn."""
        self._snapshot = snapshot
        frame = snapshot.frame
        self._show_state("polling" if not snapshot.done else self._final_state())
        self.counts_html.value = _chips(snapshot)
        self.overall.max = max(snapshot.total, 1)
        self.overall.value = snapshot.finished
        self.overall.bar_style = "danger" if snapshot.counts.get("FAIL") else "info"
        if snapshot.done and not snapshot.waiting and not snapshot.counts.get("FAIL"):
            self.overall.bar_style = "success"
        self.overall_label.value = f"{snapshot.finished} of {snapshot.total} ended"

        # Work on row positions and pull out only the few rows drawn: no copy of 10,000 rows.
        status = frame["status"]
        running = np.flatnonzero(status.eq("RUNNING").to_numpy(bool))
        failed = np.flatnonzero(status.eq("FAIL").to_numpy(bool))
        begin = _instants(frame["begin_time"])
        oldest = _pick(running, begin[running], max(len(self.bars), self.max_rows))
        self._show_bars(_rows(frame, oldest[: len(self.bars)], _BAR_COLUMNS), len(running))
        self.running_html.value = _running_table(
            _rows(frame, oldest[: self.max_rows], _RUNNING_COLUMNS),
            len(running),
            snapshot.observed_at,
        )
        ended = _instants(frame["end_time"].fillna(frame["observed_at"]), latest_first=True)
        latest = _pick(failed, ended[failed], self.max_rows)
        self.failures_html.value = _failures_table(
            _rows(frame, latest, _FAILURE_COLUMNS), len(failed)
        )
        self.fetch_errors_html.value = _fetch_errors_table(frame, snapshot, self.max_rows)

    def _show_bars(self, shown: pd.DataFrame, running: int) -> None:
        ids = shown["job_id"].tolist()
        percents = shown["process_percent"].to_numpy("float64", na_value=np.nan)
        tasks = shown["current_task"].astype(object).where(shown["current_task"].notna(), "")
        for i, (row, name, bar, text) in enumerate(self.bars):
            if i < len(ids):
                percent = percents[i]
                name.value = ids[i]
                bar.value = 0.0 if np.isnan(percent) else float(np.clip(percent, 0, 1))
                text.value = f"{_percent(percent) or '?'} {tasks.iloc[i]}".strip()
                row.layout.display = "flex"
            else:
                row.layout.display = "none"
        extra = running - len(ids)
        self.more_running.value = f"… and {extra} more running" if extra > 0 else ""

    def __repr__(self) -> str:
        state = "polling" if self.running else "idle"
        seen = "no round yet" if self._snapshot is None else repr(self._snapshot)
        return f"JobMonitor(jobs={len(self.job_ids)}, {state}, {seen})"


_RESUMABLE = tuple(s.value for s in WaitState if s.is_resumable)


def _waiting_view(job_ids: list[str]) -> pd.DataFrame:
    frame = blank_frame(job_ids)
    n = len(frame)
    return frame.assign(
        wait_state=pd.Categorical(["waiting"] * n, categories=WAIT_STATES),
        observed_at=pd.Series(pd.NaT, index=frame.index, dtype=WAIT_COLUMNS["observed_at"]),
        polls=np.zeros(n, dtype="int64"),
        fetch_errors=np.zeros(n, dtype="int64"),
    )


def _instants(times: pd.Series, *, latest_first: bool = False) -> np.ndarray:
    """Sort keys for times: int64 microseconds (negated for latest first), NaT always last."""
    values = times.to_numpy("datetime64[us]")
    keys = values.astype("int64")
    return np.where(np.isnat(values), np.iinfo("int64").max, -keys if latest_first else keys)


def _rows(frame: pd.DataFrame, positions: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """The few rows drawn, with only the columns drawn (taking all 30 costs several times more)."""
    return frame[columns].take(positions)


def _pick(positions: np.ndarray, keys: np.ndarray, n: int) -> np.ndarray:
    """The `positions` with the `n` smallest keys, in key order, without a full sort."""
    if len(positions) > n > 0:
        part = np.argpartition(keys, n - 1)[:n]
        positions, keys = positions[part], keys[part]
    return positions[np.argsort(keys, kind="stable")][:n]


def _chips(snapshot: Snapshot) -> str:
    """Counts per status (in the documented order, unknown ones after) and per ended state."""
    counts = snapshot.counts
    names = [s for s in STATUS_ORDER if counts.get(s)]
    names += [s for s in counts if s not in STATUS_ORDER]
    chips = [_chip(name, counts[name]) for name in names]
    states = snapshot.states
    chips += [_chip(state, states[state]) for state in _ENDED_STATES if states.get(state)]
    return f"<div>{' '.join(chips)} <span>total {snapshot.total}</span></div>"


def _chip(name: str, count: int) -> str:
    colour = _COLOURS.get(name, "#6c757d")
    return (
        f"<span style='background:{colour};color:white;border-radius:4px;padding:1px 6px;"
        f"margin-right:4px'>{html.escape(name)} {count}</span>"
    )


def _running_table(shown: pd.DataFrame, running: int, now: pd.Timestamp) -> str:
    if not running:
        return ""
    age = (now - shown["begin_time"]).dt.total_seconds().to_numpy("float64", na_value=np.nan)
    rows = zip(
        _cells(shown["job_id"]),
        _cells(shown["job_type"]),
        _cells(shown["current_task"]),
        [_percent(p) for p in shown["process_percent"].to_numpy("float64", na_value=np.nan)],
        [_duration(a) for a in age],
        strict=True,
    )
    title = f"Running ({running}; the {len(shown)} longest running shown)"
    return _table(title, ("job_id", "job_type", "current_task", "progress", "running for"), rows)


def _failures_table(shown: pd.DataFrame, failed: int) -> str:
    if not failed:
        return ""
    rows = zip(
        _cells(shown["job_id"]),
        _cells(shown["job_type"]),
        _cells(shown["error_code"].fillna(shown["entity_error_code"])),
        _cells(shown["fail_reason"].fillna(shown["entity_error"]), _MAX_TEXT),
        _cells(shown["end_time"].dt.strftime("%H:%M:%S")),
        strict=True,
    )
    title = f"Latest failures ({failed}; {len(shown)} shown)"
    return _table(title, ("job_id", "job_type", "error_code", "fail_reason", "ended"), rows)


def _fetch_errors_table(frame: pd.DataFrame, snapshot: Snapshot, max_rows: int) -> str:
    if not snapshot.fetch_errors:
        return ""
    outcome = frame["outcome"]
    bad = np.flatnonzero((outcome.notna() & outcome.ne("ok")).to_numpy(bool))
    shown = _rows(frame, bad[:max_rows], _FETCH_ERROR_COLUMNS)
    rows = zip(
        _cells(shown["job_id"]),
        _cells(shown["outcome"]),
        _cells(shown["http_status"]),
        _cells(shown["fetch_error_code"]),
        _cells(shown["fetch_error"], _MAX_TEXT),
        _cells(shown["wait_state"]),
        strict=True,
    )
    summary = ", ".join(f"{k} {v}" for k, v in snapshot.fetch_errors.items())
    title = f"Fetch errors ({summary}; {len(shown)} shown)"
    head = ("job_id", "outcome", "http", "error_code", "error", "wait")
    return _table(title, head, rows)


def _cells(values: pd.Series, limit: int | None = None) -> list[str]:
    """Escaped text of a few values ('' for missing), cut to `limit` characters."""
    out = []
    for value in values.tolist():
        missing = value is None or value is pd.NA or value is pd.NaT or value != value
        text = "" if missing else str(value)
        if limit is not None and len(text) > limit:
            text = text[: limit - 1] + "…"
        out.append(html.escape(text))
    return out


def _percent(value: float) -> str:
    return "" if np.isnan(value) else f"{value * 100:.0f}%"  # a fraction, shown as percent


def _duration(seconds: float) -> str:
    if np.isnan(seconds):
        return ""
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def _table(title: str, head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    header = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return (
        f"<details open><summary><b>{html.escape(title)}</b></summary>"
        f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></details>"
    )
