"""The poll log: every observation a wait makes, in a local SQLite file that survives restarts.

One row per job per round: when it was observed, its status and `process_percent`, and how
the fetch went. A round is written in one transaction, so a wait killed at any moment (a
kernel restart, Ctrl-C) leaves whole rounds only, and a new wait on the same file resumes:
jobs whose last observation is final (terminal, or 404) come back from the log with their
full record and are not queried again.

Every id a wait is asked for is logged when it starts (with the rows of its `start=` that
had already ended, as round 0), so the log is the whole record of the wait: `restore()`, or
`read_jobs("poll.db")`, gives a row for each of them the next morning, offline. Each
observation carries the job's `polls`, `fetch_errors` and `wait_state` after it, so those
survive a restart too.

The full record (error_code, fail_reason, entities...) is stored on a job's first
observation and on the one that ends its wait; the others carry just the columns above,
which keeps the file small (about 100 bytes a row) for thousands of jobs polled for hours.

`transitions(...)` turns observations into the status changes each job was seen to make.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from jobtools.errors import PollLogWarning
from jobtools.frame import frame_to_records
from jobtools.io._polllog import (
    OBSERVATION_COLUMNS,
    SCHEMA_VERSION,
    SQLITE_MAGIC,
    check_schema,
    restore_frame,
    seconds_to_times,
    upgrade,
)
from jobtools.schema import STATUS_ORDER, Outcome, WaitState, categorical
from jobtools.times import epoch_seconds

__all__ = [
    "OBSERVATION_COLUMNS",
    "SCHEMA_VERSION",
    "TRANSITION_COLUMNS",
    "PollLog",
    "PollLogWarning",
    "transitions",
]

# A wait ends for good on these (see jobtools.wait.poll): they are the ones resumed from the log.
_FINAL_STATES = tuple(s.value for s in WaitState if s.is_final)


class PollLog:
    """An append-only SQLite log of observations (WAL, one transaction per round).

    Safe to share between threads (the monitor writes from its polling thread while the
    notebook reads). Use as a context manager, or call `close()`. `":memory:"` works for a
    log that needs no file.

    Opening refuses, without writing to it, a file that is not a poll log (another
    application's SQLite database, a log of another schema) and a log it cannot write (a
    read-only file or folder). A write that fails later (a full disk) warns once with a
    `PollLogWarning` and the log stops; the wait goes on and returns its results.

    `read_only=True` opens an existing log for reading only (`observations`, `restore`,
    `transitions`), which also works on a file that cannot be written.

    Raises:
        ValueError: not a poll log, or one that cannot be written; the message says which.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        self.failed: str | None = None
        self.read_only = read_only
        if self.path is not None:
            _check_file(self.path, read_only=read_only)
        self._lock = threading.Lock()
        target = str(path)
        if read_only and self.path is not None:
            target = f"file:{self.path.resolve().as_posix()}?mode=ro"
        try:
            self._conn = sqlite3.connect(
                target, check_same_thread=False, isolation_level=None, timeout=30.0, uri=read_only
            )
        except sqlite3.Error as exc:
            raise ValueError(f"cannot open poll log {path}: {exc}") from None
        try:
            version = self._version = check_schema(self._conn, path)
            if read_only:
                if version == "empty":
                    raise ValueError(f"poll log {path} is empty: no wait has written to it")
                self._recorded: set[str] = set()
                return
            if version != "empty":
                self._probe_write()
            self._conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a committed round survives a crash of the process (not of the OS).
            self._conn.execute("PRAGMA synchronous=NORMAL")
            if version != SCHEMA_VERSION:
                upgrade(self._conn, version)
                self._version = SCHEMA_VERSION
            rows = self._conn.execute(
                "SELECT DISTINCT job_id FROM observations WHERE record IS NOT NULL"
            )
            self._recorded = {row[0] for row in rows}
        except sqlite3.Error as exc:
            self._conn.close()
            raise ValueError(f"cannot write poll log {path}: {exc}") from None
        except BaseException:
            self._conn.close()
            raise

    def _probe_write(self) -> None:
        """Fail now, not after an hour of polling, when the log cannot be written."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.execute("UPDATE meta SET value = value WHERE key = 'schema'")
        finally:
            self._conn.execute("ROLLBACK")

    def __repr__(self) -> str:
        return f"PollLog({str(self.path or ':memory:')!r})"

    def __enter__(self) -> PollLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- writing ---------------------------------------------------------------------

    def begin_wait(
        self, wait_id: str, job_ids: list[str], started_at: float, known: pd.DataFrame | None
    ) -> None:
        """Log the ids a wait was asked for, and the rows of `known` that it will not ask.

        Args:
            known: rows the wait starts from (its `start=`); those already final (terminal,
                or 404) are logged as round 0, so the log has every job of the wait.
        """
        rows: list[tuple[Any, ...]] = []
        if known is not None and len(known):
            final = _final_rows(known)
            with self._lock:
                logged = {
                    row[0]
                    for row in self._conn.execute(
                        "SELECT DISTINCT job_id FROM observations WHERE wait_state IN (?, ?)",
                        (WaitState.DONE.value, WaitState.GONE.value),
                    )
                }
            final = final[~final["job_id"].isin(logged).to_numpy()]
            if len(final):
                rows = _observation_rows(final, final, wait_id, 0, started_at, final=True)
        self._write(
            "the wait's job ids",
            [
                (
                    "INSERT OR REPLACE INTO wait_jobs VALUES (?, ?, ?)",
                    [(wait_id, i, job_id) for i, job_id in enumerate(job_ids)],
                ),
                ("INSERT INTO observations VALUES (" + ", ".join("?" * 15) + ")", rows),
            ],
            recorded=[row[0] for row in rows],
        )

    def append_round(
        self,
        wait_id: str,
        round_no: int,
        started_at: float,
        observed: pd.DataFrame,
        merged: pd.DataFrame,
    ) -> None:
        """Append one round in one transaction: all of it, or (on any error) none of it.

        Args:
            observed: what the fetch answered, one row per job queried (job + fetch columns).
            merged: the same jobs as the wait now sees them (with `wait_state`, `observed_at`,
                `polls` and `fetch_errors`); a job whose wait ended here, or seen for the
                first time, gets its full record stored.
        """
        n = len(observed)
        if not n:
            return
        final = merged["wait_state"].isin(_FINAL_STATES).to_numpy(bool)
        first = observed["status"].notna().to_numpy(bool) & ~observed["job_id"].isin(
            self._recorded
        ).to_numpy(bool)
        rows = _observation_rows(observed, merged, wait_id, round_no, None, final=final | first)
        finished = max((row[1] for row in rows), default=started_at)
        self._write(
            f"round {round_no}",
            [
                ("INSERT INTO observations VALUES (" + ", ".join("?" * 15) + ")", rows),
                (
                    "INSERT OR REPLACE INTO rounds VALUES (?, ?, ?, ?, ?)",
                    [(wait_id, round_no, started_at, finished, n)],
                ),
            ],
            recorded=[row[0] for row in rows if row[11] is not None],
        )

    def end_jobs(self, wait_id: str, round_no: int, at: float, merged: pd.DataFrame) -> None:
        """Log that the wait stopped watching these jobs before they ended (cancelled).

        One row per job with its new `wait_state` and counters and no fetch (status NULL, so
        `restore` keeps the last status seen and `transitions` skips it): the morning after,
        the log says "cancelled", as the snapshot and the monitor did, not "waiting".
        """
        if not len(merged):
            return
        rows = _observation_rows(merged[["job_id"]], merged, wait_id, round_no, at, final=False)
        self._write(
            "the jobs the wait stopped watching",
            [("INSERT INTO observations VALUES (" + ", ".join("?" * 15) + ")", rows)],
            recorded=[],
        )

    def _write(
        self, what: str, statements: list[tuple[str, list[Any]]], recorded: list[str]
    ) -> None:
        """Run the statements in one transaction; a failure warns once and stops the log."""
        if self.read_only:
            raise ValueError(f"poll log {self.path} was opened read-only")
        if self.failed is not None:
            return
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for sql, rows in statements:
                        if rows:
                            self._conn.executemany(sql, rows)
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self.failed = f"{exc}"
                warnings.warn(
                    f"poll log {self.path or ':memory:'}: could not write {what} ({exc}); "
                    "logging stopped, the wait goes on and its results are still returned",
                    PollLogWarning,
                    stacklevel=4,
                )
                return
        self._recorded.update(recorded)

    # --- reading ---------------------------------------------------------------------

    def observations(self, job_ids: list[str] | None = None) -> pd.DataFrame:
        """Every observation, oldest first: the `OBSERVATION_COLUMNS`, `wait_id` and `round`."""
        query = f"SELECT {', '.join(OBSERVATION_COLUMNS)}, wait_id, round FROM observations"
        frame = self._read(query + " ORDER BY rowid")
        if job_ids is not None:
            frame = frame[frame["job_id"].isin(job_ids)].reset_index(drop=True)
        return frame

    def rounds(self) -> pd.DataFrame:
        """One row per logged round: wait_id, round, started_at, finished_at, queried."""
        frame = self._read("SELECT * FROM rounds ORDER BY started_at, round")
        for column in ("started_at", "finished_at"):
            frame[column] = _times(frame[column])
        return frame

    def restore(
        self, job_ids: list[str] | None = None, *, ended_only: bool = False
    ) -> pd.DataFrame:
        """The logged jobs as frame rows; works offline, with no client and no credentials.

        Args:
            job_ids: these jobs (those the log has, in this order); None: every id any wait
                on this log was asked for, fetched or not.
            ended_only: only the jobs whose last observation ended their wait.

        Returns:
            The job frame's columns and `FETCH_COLUMNS`, plus `wait_state`, `observed_at`,
            `polls` and `fetch_errors` as last logged (see `jobtools.io._polllog`).
        """
        with self._lock:
            return restore_frame(self._conn, job_ids, ended_only=ended_only, version=self._version)

    def _read(self, query: str) -> pd.DataFrame:
        with self._lock:
            cursor = self._conn.execute(query)
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        frame = pd.DataFrame(rows, columns=names)
        if "observed_at" in frame:
            frame["observed_at"] = _times(frame["observed_at"])
        if "status" in frame:
            frame["status"] = categorical(frame["status"], STATUS_ORDER)
        if "http_status" in frame:
            frame["http_status"] = frame["http_status"].astype("Int64")
        if "process_percent" in frame:
            frame["process_percent"] = frame["process_percent"].astype("float64")
        return frame


def _times(seconds: pd.Series) -> pd.Series:
    return seconds_to_times(seconds).set_axis(seconds.index)


def _check_file(path: Path, *, read_only: bool) -> None:
    """Refuse, before SQLite touches it, a folder or a file that is not SQLite at all."""
    if path.is_dir():
        raise ValueError(f"poll log path is a directory: {path}")
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as file:
            head = file.read(16)
        if head != SQLITE_MAGIC:
            raise ValueError(
                f"not a jobtools poll log: {path} is not an SQLite file; left unchanged"
            )
    if read_only:
        if not path.is_file():
            raise ValueError(f"no poll log at {path}")
        return
    path.parent.mkdir(parents=True, exist_ok=True)


def _final_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows whose wait is over: terminal, or unknown to the service (404)."""
    terminal = frame["is_terminal"].fillna(False).astype(bool).to_numpy()
    gone = (
        frame["outcome"].eq(Outcome.NOT_FOUND).fillna(False).to_numpy(bool)
        if "outcome" in frame
        else False
    )
    out = frame[terminal | gone].drop_duplicates("job_id", keep="last").reset_index(drop=True)
    state = np.where(
        out["is_terminal"].fillna(False).astype(bool), WaitState.DONE.value, WaitState.GONE.value
    )
    return out.assign(wait_state=state)


def _observation_rows(
    observed: pd.DataFrame,
    merged: pd.DataFrame,
    wait_id: str,
    round_no: int,
    now: float | None,
    *,
    final: Any,
) -> list[tuple[Any, ...]]:
    """The observation rows of a round (or of round 0), in table order, for executemany."""
    n = len(observed)
    if "observed_at" in merged and merged["observed_at"].notna().any():
        stamp = epoch_seconds(pd.to_datetime(merged["observed_at"], utc=True))
        if now is not None:
            stamp = np.where(np.isnan(stamp), now, stamp)
    else:
        stamp = np.full(n, now if now is not None else np.nan)
    records: list[Any] = [None] * n
    wanted = np.broadcast_to(np.asarray(final, dtype=bool), (n,))
    if wanted.any():
        chosen = np.flatnonzero(wanted)
        for i, text in zip(chosen, _record_json(merged.iloc[chosen]), strict=True):
            records[i] = text
    counters = [
        _counter(merged, "polls", n),
        _counter(merged, "fetch_errors", n),
        _nullable(merged["wait_state"]) if "wait_state" in merged else [None] * n,
    ]
    columns = [
        observed["job_id"].tolist(),
        stamp.tolist(),
        *(_nullable(observed[c]) if c in observed else [None] * n for c in OBSERVATION_COLUMNS[2:]),
        [wait_id] * n,
        [round_no] * n,
        records,
        *counters,
    ]
    return list(zip(*columns, strict=True))


def _counter(frame: pd.DataFrame, column: str, n: int) -> list[int]:
    if column not in frame:
        return [0] * n
    return pd.to_numeric(frame[column]).fillna(0).astype("int64").tolist()


def _nullable(values: pd.Series) -> list[Any]:
    """Plain Python values for SQLite, None for missing (NaN, NaT, pd.NA)."""
    objects = values.astype(object)
    return objects.where(values.notna(), None).tolist()


def _record_json(frame: pd.DataFrame) -> list[str]:
    """Rows of a job frame back as API-shaped JSON records, which `jobs_to_frame` reads."""
    return [orjson.dumps(r, default=str).decode() for r in frame_to_records(frame)]


# --- transitions --------------------------------------------------------------------

TRANSITION_COLUMNS = (
    "job_id",
    "status",
    "previous_status",
    "entered_after",
    "first_seen",
    "last_seen",
    "left_before",
    "observations",
    "min_time",
    "max_time",
)


def transitions(source: str | Path | PollLog | pd.DataFrame) -> pd.DataFrame:
    """The stays in each status each job was observed in, with bounds from the poll interval.

    Args:
        source: a poll log (path or `PollLog`), or a frame of observations with at least
            `job_id`, `observed_at` and `status` (failed fetches, status NaN, are skipped).

    Returns:
        A new frame, one row per job per stay, in order of job then time:
        `status` and `previous_status`; `entered_after` (the last observation before, NaT if
        the job was first seen in it), `first_seen`, `last_seen`, `left_before` (the first
        observation after, NaT while still in it); `observations`; and the time spent in the
        status, at least `min_time = last_seen - first_seen` and at most `max_time =
        left_before - entered_after` (NaT when a side is unknown). The gap between the two is
        the poll interval on each side. Filter `status` for the time in INIT or RUNNING.
    """
    if isinstance(source, pd.DataFrame):
        seen = source
    elif isinstance(source, PollLog):
        seen = source.observations()
    else:
        if not Path(source).is_file():
            raise ValueError(f"no poll log at {source}")
        with PollLog(source, read_only=True) as log:
            seen = log.observations()
    missing = {"job_id", "observed_at", "status"} - set(seen.columns)
    if missing:
        raise ValueError(f"observations need the columns {sorted(missing)}")
    seen = seen.loc[seen["status"].notna(), ["job_id", "observed_at", "status"]]
    seen = seen.assign(observed_at=pd.to_datetime(seen["observed_at"], utc=True))
    seen = seen.sort_values(["job_id", "observed_at"], kind="stable").reset_index(drop=True)
    status = seen["status"].astype(object)
    job = seen["job_id"].astype(object)
    new_job = job.ne(job.shift())
    stay = (new_job | status.ne(status.shift())).cumsum()
    grouped = seen.groupby(stay, sort=False)
    out = pd.DataFrame(
        {
            "job_id": grouped["job_id"].first().to_numpy(),
            "status": grouped["status"].first().astype(object).to_numpy(),
            "first_seen": grouped["observed_at"].min().to_numpy(),
            "last_seen": grouped["observed_at"].max().to_numpy(),
            "observations": grouped["observed_at"].size().to_numpy("int64"),
        }
    )
    same_before = out["job_id"].eq(out["job_id"].shift())
    same_after = out["job_id"].eq(out["job_id"].shift(-1))
    out["previous_status"] = out["status"].shift().where(same_before)
    out["entered_after"] = out["last_seen"].shift().where(same_before)
    out["left_before"] = out["first_seen"].shift(-1).where(same_after)
    out["min_time"] = out["last_seen"] - out["first_seen"]
    out["max_time"] = out["left_before"] - out["entered_after"]
    out["job_id"] = out["job_id"].astype("str")
    out["status"] = categorical(out["status"], STATUS_ORDER)
    out["previous_status"] = categorical(out["previous_status"], STATUS_ORDER)
    return out[list(TRANSITION_COLUMNS)]
