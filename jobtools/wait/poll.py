"""Waiting for many jobs: rounds of fetches that back off, one snapshot per round, cancellation.

The core is `aiter_snapshots`, an async generator. Each round fetches the jobs still waited
for (never one whose wait has ended), merges the answers into one frame (one row per job id
asked for), appends the observations to the poll log in one transaction, yields a
`Snapshot`, then sleeps until the next job is due. `iter_snapshots`, `wait_for` and
`wait_for_async` are thin over it, and so is the notebook monitor (`jobtools.views.monitor`).

How each job's wait ends, in the `wait_state` column:

    done       its status is terminal (SUCCESS or FAIL; FAIL keeps error_code, fail_reason
               and entities)
    gone       the service does not know the job (`not_found`: 400 IMG.0023 or Common.0011,
               or a 404). Final, never asked again.
    expired    `not_found` for an id whose creation time (in the id) is older than
               `retention`: the job ran and was deleted after it ended (ECS: about a day
               later). Final; `created_at` still says when it ran.
    gave_up    `give_up_after` fetches in a row failed (5xx, timeouts, bad bodies...).
               Fewer failures are simply retried next round (the client already retried 429
               and 5xx within a round); one good answer resets the count. Also every job
               at once when the API does not exist at the endpoint (404 APIGW.0101: a
               configuration error, which says nothing about any job).
    refused    the service refused the credentials (`jobtools.errors.refuses_credentials`)
               and accepted none in that round: no later round could succeed, so every job
               still waited for ends at once.
    timed_out  not terminal when the timeout passed
    cancelled  the wait was cancelled before the job ended
    awaiting_payment  PENDING_PAYMENT, unchanged for `payment_patience` seconds: a yearly or
               monthly order that moves only when someone pays (a cancelled order never
               does). `payment_patience=None` keeps waiting, up to the timeout.
    waiting    still polled (seen only in snapshots before the last)

A failed fetch never erases what was known: the row keeps the job's last observed fields and
takes the failed fetch's `outcome`, `http_status`, `fetch_error_code` and `fetch_error`.

When to look again: the first round goes out at once; after that each job has its own next
look, from the schedule (`jobtools.wait.schedule`. `Backoff`: 2 s, doubling to 30 s, partly
jittered; `Adaptive`: when jobs of its type usually end). A job due within a quarter of its
interval joins the current round, so requests go out in batches rather than one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import random
import threading
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from jobtools import errors
from jobtools._aio import LoopThread
from jobtools.api.options import UNSET, Unset
from jobtools.frame import FETCH_COLUMNS, JOB_COLUMNS, jobs_to_frame
from jobtools.ids import JobIds, as_job_ids, job_id_times, storable_id
from jobtools.progress import OnProgress, ProgressReporter, subscriber
from jobtools.schema import (
    WAIT_COLUMNS,
    WAIT_STATES,
    Outcome,
    WaitState,
    cast_frame,
    categorical,
)
from jobtools.times import epoch_seconds
from jobtools.wait.options import Patience
from jobtools.wait.polllog import PollLog
from jobtools.wait.schedule import Schedule, make_schedule

__all__ = [
    "CancelToken",
    "DEFAULT_GIVE_UP_AFTER",
    "DEFAULT_PAYMENT_PATIENCE",
    "DEFAULT_RETENTION",
    "DEFAULT_TIMEOUT",
    "JobsFetcher",
    "LAST_LOOK",
    "NO_STATUS",
    "Patience",
    "Snapshot",
    "WAIT_COLUMNS",
    "WAIT_STATES",
    "advancing_sleep",
    "aiter_snapshots",
    "blank_frame",
    "is_final",
    "iter_snapshots",
    "summarize",
    "wait_for",
    "wait_for_async",
]

T = TypeVar("T")


DEFAULT_TIMEOUT = Patience().timeout
DEFAULT_GIVE_UP_AFTER = Patience().give_up_after
DEFAULT_PAYMENT_PATIENCE = Patience().payment_patience
DEFAULT_RETENTION = Patience().retention

# Seconds the fetch of the last look, at the deadline, may take: the most a wait overruns.
LAST_LOOK = 10.0
NO_STATUS = "NO_STATUS"  # the `counts` key for jobs never fetched successfully

_FRAME_COLUMNS = [*JOB_COLUMNS, *FETCH_COLUMNS]


class JobsFetcher(Protocol):
    """What a wait needs from a client: `jobtools.JobsClient` is one."""

    async def afetch_jobs(self, ids: list[str], progress: Any = False) -> pd.DataFrame: ...


# ---------------------------------------------------------------------------------------
# Time and cancellation


def advancing_sleep(clock: Any) -> Callable[[float], Awaitable[None]]:
    """A sleep that moves a manual clock (one with `.advance(seconds)`) instead of waiting."""

    async def sleep(seconds: float) -> None:
        clock.advance(max(seconds, 0.0))
        await asyncio.sleep(0)  # still let other tasks run, as a real sleep would

    return sleep


def _sleeper(
    clock: Callable[[], float], sleep: Callable[[float], Awaitable[Any]] | None
) -> Callable[[float], Awaitable[Any]]:
    if sleep is not None:
        return sleep
    # A manual clock (the simulator's ManualClock) is advanced: tests wait for nothing.
    return advancing_sleep(clock) if hasattr(clock, "advance") else asyncio.sleep


class CancelToken:
    """Cancels a wait from any thread; a wait that is sleeping wakes at once."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is already closed
                loop.call_soon_threadsafe(event.set)

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        """Return once cancelled."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            if self._event.is_set():
                return
            self._waiters.append(entry)
        try:
            await event.wait()
        finally:
            with self._lock:
                self._waiters.remove(entry)

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self.cancelled})"


async def _unless_cancelled(work: Awaitable[T], token: CancelToken) -> tuple[bool, T | None]:
    """Run `work` unless `token` is cancelled first: (True, None) then, else (False, result)."""
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(token.wait())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stop):
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending
    if task.done() and not task.cancelled():
        return False, task.result()
    return True, None


# ---------------------------------------------------------------------------------------
# Snapshots


@dataclass(frozen=True)
class Snapshot:
    """The state of a wait after one round. `frame` is new each round and never changed."""

    frame: pd.DataFrame
    round: int
    observed_at: pd.Timestamp
    elapsed: float
    queried: int
    changed: pd.DataFrame
    counts: dict[str, int]
    states: dict[str, int]
    fetch_errors: dict[str, int]
    next_poll_in: float | None
    done: bool

    @property
    def total(self) -> int:
        return len(self.frame)

    @property
    def waiting(self) -> int:
        return self.states.get(WaitState.WAITING, 0)

    @property
    def finished(self) -> int:
        """Jobs whose wait has ended, for any reason."""
        return self.total - self.waiting

    @property
    def unwatched(self) -> int:
        """Jobs not ended, no longer watched: the wait stopped before they ended (cancelled,
        timed out, gave up, refused, awaiting payment). The job itself changed nothing."""
        ended = (WaitState.WAITING, *(s.value for s in WaitState if s.is_final))
        return sum(n for state, n in self.states.items() if state not in ended)

    def __repr__(self) -> str:
        # `done` is the wait's end, not the jobs': say what it left behind beside it.
        return (
            f"Snapshot(round={self.round}, total={self.total}, waiting={self.waiting}, "
            f"unwatched={self.unwatched}, counts={self.counts}, done={self.done})"
        )


def blank_frame(job_ids: list[str]) -> pd.DataFrame:
    """Rows for jobs not fetched yet: job_id set, NaN elsewhere, typed like a client frame."""
    frame = jobs_to_frame([{"job_id": job_id} for job_id in job_ids])
    for column in FETCH_COLUMNS:
        frame[column] = pd.Series([None] * len(frame), dtype=object)
    return cast_frame(frame)


def is_final(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose wait needs no more polling: terminal, or not known to the service
    (`not_found`: 400 IMG.0023 / Common.0011, or a 404; never a wrong route's 404 APIGW.0101)."""
    unknown = frame["outcome"].eq(Outcome.NOT_FOUND).to_numpy(bool)
    return frame["is_terminal"].to_numpy(bool) | unknown


def _text(values: pd.Series) -> np.ndarray:
    return values.astype(object).where(values.notna(), "").to_numpy(dtype=object)


class _Wait:
    """The state of one wait: the frame plus per-job counters, updated round by round."""

    def __init__(
        self,
        ids: list[str],
        start: pd.DataFrame | None,
        started: float,
        *,
        retention: float = DEFAULT_RETENTION,
        payment_patience: float | None = DEFAULT_PAYMENT_PATIENCE,
    ) -> None:
        self.ids = ids
        self.frame = blank_frame(ids)
        n = len(ids)
        self.retention = retention
        self.payment_patience = payment_patience
        # When each job was created, from its id (NaN where the id carries no time).
        self.created = epoch_seconds(job_id_times(ids)) if n else np.zeros(0)
        self.pending_since = np.full(n, np.nan)  # first seen PENDING_PAYMENT, unchanged since
        self.state = np.full(n, WaitState.WAITING.value, dtype=object)
        self.observed = np.full(n, np.nan)
        self.polls = np.zeros(n, dtype="int64")
        self.errors = np.zeros(n, dtype="int64")
        self.due = np.full(n, started)
        self.interval = np.zeros(n)
        # Raw text of times that did not parse, by column and row: kept round after round.
        self.unparsed: dict[str, dict[int, Any]] = {}
        if start is not None and len(start):
            self._seed(start, started)

    def _seed(self, start: pd.DataFrame, started: float) -> None:
        """Put rows already known (from the log or an earlier wait) in; final ones end here."""
        known = start.drop_duplicates("job_id", keep="last")
        position = pd.Index(self.ids).get_indexer(pd.Index(known["job_id"]))
        known, rows = known[position >= 0], position[position >= 0]
        if not len(rows):
            return
        self.frame = _replace_rows(self.frame, rows, known.reset_index(drop=True))
        self._move_unparsed(rows, known, dict(zip(known.index, rows, strict=True)))
        after = self.frame.iloc[rows]
        terminal = after["is_terminal"].to_numpy(bool)
        gone = is_final(after) & ~terminal
        self.state[rows[terminal]] = WaitState.DONE.value
        self._not_found(rows[gone], started)
        for name, counter in (("polls", self.polls), ("fetch_errors", self.errors)):
            if name in known.columns:  # resumed from the log: the counts go on
                counter[rows] = pd.to_numeric(known[name]).fillna(0).to_numpy("int64")
        if "observed_at" in known.columns:
            stamps = pd.to_datetime(known["observed_at"], utc=True)
            self.observed[rows] = epoch_seconds(stamps)

    def pending(self) -> np.ndarray:
        return np.flatnonzero(self.state == WaitState.WAITING)

    def _move_unparsed(
        self, replaced: np.ndarray, source: pd.DataFrame, row_of: dict[Any, int]
    ) -> None:
        """Rows `replaced` now hold `source`'s values (`row_of`: its label -> row): so do
        their raw unparsed times."""
        rows = set(replaced.tolist())
        for values in self.unparsed.values():
            for row in rows:
                values.pop(row, None)
        for column, values in source.attrs.get("unparsed_times", {}).items():
            for label, raw in values.items():
                row = row_of.get(label)
                if row is not None and int(row) in rows:
                    self.unparsed.setdefault(column, {})[int(row)] = raw

    def merge(self, rows: np.ndarray, answer: pd.DataFrame, now: float) -> np.ndarray:
        """Merge one round's answers (aligned to `rows`); return the rows that changed.

        A row changed when its status, outcome or wait state differs from before the round.
        """
        before = self.frame.iloc[rows]
        old_status, old_outcome = _text(before["status"]), _text(before["outcome"])
        old_state = self.state[rows].copy()

        ok = answer["outcome"].eq(Outcome.OK).to_numpy(bool)
        keep = ~ok & before["status"].notna().to_numpy(bool)
        new = answer
        if keep.any():
            # A failed fetch keeps what was known of the job and reports how the fetch went.
            kept = before.loc[keep, list(JOB_COLUMNS)].reset_index(drop=True)
            fetch = answer.loc[keep, list(FETCH_COLUMNS)].reset_index(drop=True)
            patched = pd.concat([kept, fetch], axis=1).set_axis(np.flatnonzero(keep))
            new = _fix_categories(pd.concat([answer[~keep], patched]).sort_index())
        self.frame = _replace_rows(self.frame, rows, new.reset_index(drop=True))
        self._move_unparsed(rows[~keep], answer, dict(enumerate(rows)))

        self.polls[rows] += 1
        self.observed[rows] = now
        self.errors[rows] = np.where(ok, 0, self.errors[rows] + 1)
        after = self.frame.iloc[rows]
        terminal = after["is_terminal"].to_numpy(bool)
        gone = after["outcome"].eq(Outcome.NOT_FOUND).to_numpy(bool) & ~terminal
        self.state[rows[terminal]] = WaitState.DONE.value
        self._not_found(rows[gone], now)
        self._payment(rows, after, old_status, now)
        changed: np.ndarray = rows[
            (old_status != _text(after["status"]))
            | (old_outcome != _text(after["outcome"]))
            | (old_state != self.state[rows])
        ]
        return changed

    def _not_found(self, rows: np.ndarray, now: float) -> None:
        """404s: `expired` where the id was created longer ago than the retention."""
        old = self.created[rows] < now - self.retention  # False for NaN: no time, no evidence
        self.state[rows] = np.where(old, WaitState.EXPIRED.value, WaitState.GONE.value)

    def _payment(self, rows: np.ndarray, after: pd.DataFrame, old: np.ndarray, now: float) -> None:
        """Unchanged PENDING_PAYMENT for `payment_patience` seconds ends as awaiting_payment."""
        status = _text(after["status"])
        pending = status == "PENDING_PAYMENT"
        since = self.pending_since[rows]
        restart = pending & ((old != status) | np.isnan(since))
        since = np.where(restart, now, np.where(pending, since, np.nan))
        self.pending_since[rows] = since
        if self.payment_patience is not None:
            stuck = (
                pending
                & (now - since >= self.payment_patience)
                & (self.state[rows] == WaitState.WAITING)
            )
            self.state[rows[stuck]] = WaitState.AWAITING_PAYMENT.value

    def give_up(self, limit: int) -> np.ndarray:
        rows = np.flatnonzero((self.state == WaitState.WAITING) & (self.errors >= limit))
        self.state[rows] = WaitState.GAVE_UP.value
        return rows

    def end(self, state: WaitState) -> np.ndarray:
        """End every job still waiting with `state` (timed_out, cancelled, refused, gave_up)."""
        rows = self.pending()
        self.state[rows] = state.value
        return rows

    def view(self) -> pd.DataFrame:
        """The frame a snapshot shows: the job frame plus the WAIT_COLUMNS."""
        observed = pd.to_datetime(self.observed, unit="s", utc=True).astype(
            WAIT_COLUMNS["observed_at"]
        )
        frame = self.frame.assign(
            wait_state=categorical(self.state, WAIT_STATES),
            observed_at=observed,
            polls=self.polls.copy(),
            fetch_errors=self.errors.copy(),
        )
        frame.attrs["unparsed_times"] = {c: dict(v) for c, v in self.unparsed.items() if v}
        return frame


def _replace_rows(frame: pd.DataFrame, rows: np.ndarray, new: pd.DataFrame) -> pd.DataFrame:
    """A new frame with `frame.iloc[rows]` replaced by `new` (same length, in that order)."""
    if not len(rows):
        return frame
    if len(rows) == len(frame) and (rows == np.arange(len(frame))).all():
        return _fix_categories(new[_FRAME_COLUMNS].reset_index(drop=True))
    keep = np.ones(len(frame), dtype=bool)
    keep[rows] = False
    old = frame[keep]
    out = pd.concat([old, new[_FRAME_COLUMNS].set_axis(rows)]).sort_index()
    return _fix_categories(out).reset_index(drop=True)


def _fix_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """concat turns categoricals with different categories into objects; turn them back."""
    return cast_frame(frame)


def _counts(values: pd.Series, missing: str | None) -> dict[str, int]:
    counts = values.value_counts(dropna=missing is None, sort=False)
    counts = counts[counts.index.notna() & (counts.to_numpy() > 0)]
    out = {str(k): int(v) for k, v in counts.items()}
    if missing is not None and values.isna().any():
        out[missing] = int(values.isna().sum())
    return out


# ---------------------------------------------------------------------------------------
# The waits


async def aiter_snapshots(
    job_ids: JobIds,
    *,
    client: JobsFetcher | None = None,
    patience: Patience | None = None,
    timeout: float | None | Unset = UNSET,
    schedule: Schedule | str | None = None,
    log: str | Path | PollLog | None = None,
    cancel: CancelToken | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[Any]] | None = None,
    give_up_after: int | None = None,
    start: pd.DataFrame | None = None,
    early: float | None = None,
    seed: int | None = None,
    round_progress: Callable[[int], OnProgress] | None = None,
    payment_patience: float | None | Unset = UNSET,
    retention: float | None = None,
    **client_options: Any,
) -> AsyncGenerator[Snapshot, None]:
    """Poll jobs until every one's wait has ended, yielding a `Snapshot` after each round.

    Args:
        job_ids: ids as a list, Series, or a frame's `job_id` column; repeats count once.
        client: anything with `async afetch_jobs(ids)`; default `JobsClient(**client_options)`
            (e.g. `limits=`, `retries=`, `timeouts=`, `endpoint=`).
        patience: a `Patience` (timeout, give_up_after, payment_patience, retention, early);
            the single keywords of those names override its fields.
        timeout: seconds; jobs still running then end as `timed_out`. None: no limit. A
            round's fetches end by the deadline too (the last look at it: within `LAST_LOOK`).
        schedule: a `Backoff`, an `Adaptive`, "backoff" (default) or "adaptive".
        log: a poll log (path or `PollLog`). Jobs whose last logged observation is final
            (terminal, or unknown to the service) come back from it and are not queried again.
        cancel: a `CancelToken`; cancelling ends the jobs still waiting as `cancelled`.
        clock: epoch seconds (default `time.time`); tests pass the simulator's ManualClock.
        sleep: how to wait (default `asyncio.sleep`; for a clock with `.advance()`, advancing
            it, so that a whole wait runs at once).
        give_up_after: consecutive failed fetches after which a job ends as `gave_up`.
        start: rows already known (e.g. a previous snapshot's frame); final ones are kept.
        early: a job due within this share of its interval joins the current round.
        seed: seeds the jitter.
        round_progress: called with the number of jobs of each round; returns a subscriber
            (`jobtools.progress.OnProgress`) told as their answers arrive (the monitor shows
            progress within a long first sweep).
        payment_patience: seconds a job may stay PENDING_PAYMENT unchanged before its wait
            ends as `awaiting_payment`; None keeps waiting (up to `timeout`).
        retention: seconds the service keeps ended jobs; an unknown id created longer
            ago ends as `expired` rather than `gone`.
    """
    # An id no row can hold (a lone surrogate) is waited for in its escaped form, so that it
    # keeps a row with the service's answer instead of breaking the wait.
    ids = [storable_id(job_id) for job_id in as_job_ids(job_ids)]
    chosen = _patience(
        patience,
        timeout=timeout,
        give_up_after=give_up_after,
        payment_patience=payment_patience,
        retention=retention,
        early=early,
    )
    poller = _Poller(
        ids,
        chosen,
        client=client,
        client_options=client_options,
        schedule=make_schedule(schedule),
        log=log,
        cancel=cancel or CancelToken(),
        clock=clock,
        pause=_sleeper(clock, sleep),
        rng=random.Random(seed),
        round_progress=round_progress,
    )
    try:
        async for snapshot in poller.run(start):
            yield snapshot
    finally:
        await poller.close()


def _patience(patience: Patience | None, **fields: Any) -> Patience:
    """`patience` (or the defaults) with the keywords given replaced."""
    given = {k: v for k, v in fields.items() if v is not UNSET and v is not None}
    for name in ("timeout", "payment_patience"):
        if fields[name] is None:
            given[name] = None  # None is "no limit" for these two, not "not given"
    return dataclasses.replace(patience or Patience(), **given)


class _Poller:
    """One wait, step by step: `run` yields a snapshot per round; each step is a method."""

    def __init__(
        self,
        ids: list[str],
        patience: Patience,
        *,
        client: JobsFetcher | None,
        client_options: dict[str, Any],
        schedule: Schedule,
        log: str | Path | PollLog | None,
        cancel: CancelToken,
        clock: Callable[[], float],
        pause: Callable[[float], Awaitable[Any]],
        rng: random.Random,
        round_progress: Callable[[int], OnProgress] | None,
    ) -> None:
        self.ids = ids
        self.patience = patience
        self.client_options = client_options
        # Our own client is made at the first fetch: a wait the log answers needs no
        # credentials.
        self.fetcher = _make_client(client, client_options) if client is not None else None
        self.schedule = schedule
        self.owned_log = log is not None and not isinstance(log, PollLog)
        self.poll_log = log if isinstance(log, PollLog) or log is None else PollLog(log)
        self.cancel = cancel
        self.clock = clock
        self.pause = pause
        self.rng = rng
        self.round_progress = round_progress
        self.pool = contextlib.AsyncExitStack()
        self.round_no = 0
        self.started = 0.0
        self.deadline: float | None = None
        self.wait_id = uuid.uuid4().hex

    async def run(self, start: pd.DataFrame | None) -> AsyncIterator[Snapshot]:
        """The rounds: fetch what is due, merge, log, yield, sleep until the next is due."""
        wait = self._begin(start)
        nothing = np.arange(0)
        while True:
            now = self.clock()
            pending = wait.pending()
            if not len(pending):
                # Everything was known already (resumed from the log, or no ids at all).
                yield self._snapshot(wait.view(), now, 0, nothing, None)
                return
            if self.cancel.cancelled:
                changed = wait.end(WaitState.CANCELLED)
                view = wait.view()
                if self.poll_log is not None:
                    self.poll_log.end_jobs(self.wait_id, self.round_no, now, view.iloc[changed])
                yield self._snapshot(view, now, 0, changed, None)
                return
            rows = self._due(wait, pending, now)
            if len(rows):
                answered = await self._fetch_round(wait, rows, now)
                if answered is None:
                    continue  # cancelled: the next pass ends the wait as cancelled
                now, view, changed = answered
                if not len(wait.pending()):
                    yield self._snapshot(view, now, len(rows), changed, None)
                    return
                delay = self._next_delay(wait, now)
                yield self._snapshot(view, now, len(rows), changed, delay)
            else:
                delay = self._next_delay(wait, now)
            if delay > 0:
                await _unless_cancelled(self.pause(delay), self.cancel)

    def _begin(self, start: pd.DataFrame | None) -> _Wait:
        """The wait's state from what is known already (the log, `start`); the log told."""
        self.started = self.clock()
        timeout = self.patience.timeout
        self.deadline = None if timeout is None else self.started + timeout
        known = [k for k in (start,) if k is not None and len(k)]
        if self.poll_log is not None:
            known.insert(0, self.poll_log.restore(self.ids))
        wait = _Wait(
            self.ids,
            pd.concat(known, ignore_index=True) if known else None,
            self.started,
            retention=self.patience.retention,
            payment_patience=self.patience.payment_patience,
        )
        if self.poll_log is not None:
            self.poll_log.begin_wait(self.wait_id, self.ids, self.started, start)
        return wait

    def _due(self, wait: _Wait, pending: np.ndarray, now: float) -> np.ndarray:
        """The rows this round asks about: those due (or nearly), or all at the deadline."""
        if self.deadline is not None and now >= self.deadline:
            return pending  # a last look at everything at the deadline
        early = self.patience.early * wait.interval[pending]
        due: np.ndarray = pending[wait.due[pending] - early <= now]
        return due

    async def _fetch_round(
        self, wait: _Wait, rows: np.ndarray, now: float
    ) -> tuple[float, pd.DataFrame, np.ndarray] | None:
        """Fetch `rows`, merge and end what the answers end, schedule, log: `(now, view,
        changed)`, or None when the wait was cancelled meanwhile."""
        fetcher = await self._fetcher()
        self.round_no += 1
        asked = [self.ids[r] for r in rows]
        # The round's fetch reports to the subscriber the caller makes for it (the monitor).
        bar = self.round_progress(len(rows)) if self.round_progress is not None else False
        limit = None if self.deadline is None else self.deadline - now
        limit = LAST_LOOK if limit is not None and limit <= 0 else limit
        cancelled, fetched = await _unless_cancelled(
            _fetch(fetcher, asked, bar, limit), self.cancel
        )
        if cancelled or fetched is None:
            return None
        round_started, now = now, self.clock()
        answer = _align(fetched, asked)
        changed = np.union1d(
            wait.merge(rows, answer, now), wait.give_up(self.patience.give_up_after)
        )
        changed = np.union1d(changed, self._end_on_stop(wait, answer))
        if self.deadline is not None and now >= self.deadline:
            changed = np.union1d(changed, wait.end(WaitState.TIMED_OUT))
        self._schedule(wait, rows, now)
        view = wait.view()
        if self.poll_log is not None:
            self.poll_log.append_round(
                self.wait_id, self.round_no, round_started, answer, view.iloc[rows]
            )
        return now, view, changed

    async def _fetcher(self) -> JobsFetcher:
        if self.fetcher is None:
            self.fetcher = _make_client(None, self.client_options)
            if hasattr(self.fetcher, "__aenter__"):
                # Our own client keeps one connection pool open across rounds.
                await self.pool.enter_async_context(self.fetcher)  # type: ignore[arg-type]
        return self.fetcher

    @staticmethod
    def _end_on_stop(wait: _Wait, answer: pd.DataFrame) -> np.ndarray:
        """End every job still waited for when no later round can succeed: the credentials
        were refused (`refused`), or the API does not exist at the endpoint (`gave_up`: a
        configuration error, never a statement about a job). Only when nothing was ok."""
        outcomes, codes = answer["outcome"], answer["fetch_error_code"]
        if outcomes.eq(Outcome.OK).any():
            return np.arange(0)
        if errors.refused_rows(outcomes, codes).any():
            return wait.end(WaitState.REFUSED)
        no_api = [errors.canonical_code(c) in errors.NO_API_CODES for c in codes.dropna()]
        if any(no_api):
            return wait.end(WaitState.GAVE_UP)
        return np.arange(0)

    def _schedule(self, wait: _Wait, rows: np.ndarray, now: float) -> None:
        """When each job of the round still waited for is due next."""
        still = rows[wait.state[rows] == WaitState.WAITING]
        if len(still):
            intervals = self.schedule.intervals(wait.frame, still, wait.polls[still], now, self.rng)
            wait.interval[still] = intervals
            wait.due[still] = now + intervals

    def _next_delay(self, wait: _Wait, now: float) -> float:
        """Seconds until the next job is due (or the deadline, if sooner)."""
        wake = float(wait.due[wait.pending()].min())
        if self.deadline is not None:
            wake = min(wake, self.deadline)
        return max(wake - now, 0.0)

    def _snapshot(
        self,
        frame: pd.DataFrame,
        now: float,
        queried: int,
        changed: np.ndarray,
        delay: float | None,
    ) -> Snapshot:
        return _snapshot(frame, self.round_no, now, self.started, queried, changed, delay)

    async def close(self) -> None:
        await self.pool.aclose()
        if self.owned_log and self.poll_log is not None:
            self.poll_log.close()


def _fetch(
    fetcher: JobsFetcher, ids: list[str], progress: Any, limit: float | None
) -> Awaitable[pd.DataFrame]:
    """One round's fetch; a client that takes `time_limit` is held to the wait's deadline."""
    if limit is not None and "time_limit" in inspect.signature(fetcher.afetch_jobs).parameters:
        return fetcher.afetch_jobs(ids, progress=progress, time_limit=limit)  # type: ignore[call-arg]
    return fetcher.afetch_jobs(ids, progress=progress)


def _align(fetched: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """The client's answer as one row per id asked, in that order (a missing id: a NaN row)."""
    if len(fetched) == len(ids) and fetched["job_id"].tolist() == ids:
        return fetched[_FRAME_COLUMNS].reset_index(drop=True)  # the usual case: as asked
    answer = fetched.drop_duplicates("job_id").set_index("job_id").reindex(ids)
    answer = answer.rename_axis("job_id").reset_index()[_FRAME_COLUMNS]
    if len(fetched) != len(ids) or answer["outcome"].isna().any():
        answer = cast_frame(answer)  # reindexed holes turned bool and Int64 into objects
    return answer


def _snapshot(
    frame: pd.DataFrame,
    round_no: int,
    now: float,
    started: float,
    queried: int,
    changed: np.ndarray,
    delay: float | None,
) -> Snapshot:
    outcome = frame["outcome"]
    failed = outcome[outcome.notna() & outcome.ne(Outcome.OK)]
    return Snapshot(
        frame=frame,
        round=round_no,
        observed_at=pd.Timestamp(now, unit="s", tz="UTC").as_unit("us"),
        elapsed=now - started,
        queried=queried,
        changed=frame.iloc[np.sort(changed)],
        counts=_counts(frame["status"], NO_STATUS),
        states=_counts(frame["wait_state"], None),
        fetch_errors=_counts(failed.astype(object), None),
        next_poll_in=delay,
        done=delay is None,
    )


def _make_client(client: JobsFetcher | None, options: dict[str, Any]) -> JobsFetcher:
    if client is not None:
        if options:
            raise TypeError(f"pass either client= or client options, not both: {sorted(options)}")
        return client
    from jobtools.api.client import JobsClient

    return JobsClient(**options)


def iter_snapshots(job_ids: JobIds, **options: Any) -> Iterator[Snapshot]:
    """`aiter_snapshots` as a plain iterator, for loops in scripts and notebook cells.

    The polling runs on a private event loop in a helper thread, so this works where a loop
    already runs (a notebook kernel) and Ctrl-C lands here, between rounds' awaits, never in
    the middle of writing the poll log. Breaking out of the loop, or Ctrl-C, stops the
    polling; the log keeps every round that completed.
    """
    runner = LoopThread("jobtools-poll")
    agen = aiter_snapshots(job_ids, **options)
    try:
        while True:
            try:
                snapshot = runner.run(_anext(agen))
            except StopAsyncIteration:
                return
            yield snapshot
    finally:
        with contextlib.suppress(Exception):
            runner.run(agen.aclose())
        runner.close()


async def _anext(agen: AsyncIterator[T]) -> T:
    return await agen.__anext__()


async def wait_for_async(
    job_ids: JobIds,
    *,
    on_round: Callable[[Snapshot], object] | None = None,
    progress: bool | None | OnProgress = False,
    **options: Any,
) -> pd.DataFrame:
    """Await every job's end (or the timeout); return the final frame. See `aiter_snapshots`."""
    last: Snapshot | None = None
    with _Progress(progress) as bar:
        async for snapshot in aiter_snapshots(job_ids, **options):
            last = snapshot
            bar.update(snapshot)
            if on_round is not None:
                on_round(snapshot)
    assert last is not None
    return last.frame


def wait_for(
    job_ids: JobIds,
    *,
    timeout: float | None | Unset = UNSET,
    on_round: Callable[[Snapshot], object] | None = None,
    progress: bool | None | OnProgress = None,
    **options: Any,
) -> pd.DataFrame:
    """Wait until every job is terminal or `timeout` seconds pass; return the job frame.

    Nothing is raised for jobs that fail, vanish or outlast the timeout: each row says how
    its wait ended in `wait_state` (see the module docstring), next to the job's columns and
    the fetch outcome columns. `on_round(snapshot)` is called after every round. `progress`
    shows a bar of jobs ended (a terminal bar, or a widget in a notebook); None (default)
    shows one in a notebook or when stderr is a terminal; a callable is called with a
    `jobtools.progress.ProgressEvent` after every round (done: jobs whose wait ended). Other
    options are those of `aiter_snapshots` (client, patience, log, schedule, cancel, clock,
    sleep, give_up_after, client options such as limits, retries and timeouts). `timeout`
    defaults to `Patience().timeout` (1800 s).

    Ctrl-C raises KeyboardInterrupt as usual; the poll log then holds every completed
    round, so the same call with the same `log` resumes.
    """
    last: Snapshot | None = None
    with _Progress(progress) as bar:
        for snapshot in iter_snapshots(job_ids, timeout=timeout, **options):
            last = snapshot
            bar.update(snapshot)
            if on_round is not None:
                on_round(snapshot)
    assert last is not None
    return last.frame


class _Progress:
    """Reports the jobs whose wait ended, with the counts, to the subscriber `progress` asks
    for (made at the first snapshot, in the caller's thread, once the total is known)."""

    def __init__(self, progress: bool | None | OnProgress) -> None:
        self.progress = progress
        self.reporter: ProgressReporter | None = None

    def __enter__(self) -> _Progress:
        return self

    def update(self, snapshot: Snapshot) -> None:
        if self.reporter is None:
            on_progress = subscriber(self.progress, snapshot.total)
            self.reporter = ProgressReporter(on_progress, snapshot.total)
        self.reporter.advance_to(snapshot.finished, note=_summary(snapshot))

    def __exit__(self, *exc: object) -> None:
        if self.reporter is not None:
            self.reporter.close()


def _summary(snapshot: Snapshot) -> str:
    parts = [f"{k}={v}" for k, v in snapshot.counts.items()]
    parts += [f"{k}={v}" for k, v in snapshot.fetch_errors.items()]
    return " ".join(parts)


def summarize(frame: pd.DataFrame) -> str:
    """One line: how many jobs ended how, e.g. `12 jobs: done 10 (SUCCESS 9, FAIL 1), ...`."""
    states = _counts(frame["wait_state"], None) if "wait_state" in frame else {}
    statuses = _counts(frame["status"], NO_STATUS)
    head = f"{len(frame)} jobs: " + ", ".join(f"{k} {v}" for k, v in states.items())
    return head + " | " + ", ".join(f"{k} {v}" for k, v in statuses.items())
