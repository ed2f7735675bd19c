"""The poll log: every observation a wait makes, in a local SQLite file that survives restarts.

One row per job per round: when it was observed, its status and `process_percent`, and how
the fetch went. A round is written in one transaction, so a wait killed at any moment (a
kernel restart, Ctrl-C) leaves whole rounds only, and a new wait on the same file resumes:
jobs whose last observation is final (terminal, or 404) come back from the log with their
full record and are not queried again.

The full record (error_code, fail_reason, entities...) is stored only on the observation that
ends a job's wait; progress observations carry just the columns above, which keeps the file
small (about 100 bytes a row) for thousands of jobs polled for hours.

`transitions(...)` turns observations into the status changes each job was seen to make.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from jobtools.frame import FETCH_COLUMNS, frame_to_records, jobs_to_frame
from jobtools.schema import STATUS_ORDER, WaitState, cast_frame, categorical
from jobtools.times import epoch_seconds

__all__ = ["OBSERVATION_COLUMNS", "PollLog", "SCHEMA_VERSION", "TRANSITION_COLUMNS", "transitions"]

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS observations (
    job_id TEXT NOT NULL,
    observed_at REAL NOT NULL,       -- epoch seconds (UTC)
    status TEXT,                     -- NULL when the fetch failed
    process_percent REAL,
    outcome TEXT,
    http_status INTEGER,
    fetch_error_code TEXT,
    fetch_error TEXT,
    request_id TEXT,
    wait_id TEXT NOT NULL,
    round INTEGER NOT NULL,
    record TEXT                      -- the job as JSON, on the observation that ends its wait
);
CREATE INDEX IF NOT EXISTS observations_by_job ON observations (job_id);
CREATE TABLE IF NOT EXISTS rounds (
    wait_id TEXT NOT NULL,
    round INTEGER NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    queried INTEGER NOT NULL,
    PRIMARY KEY (wait_id, round)
);
"""

# The observation columns, in table order (without wait_id, round and record).
OBSERVATION_COLUMNS = (
    "job_id",
    "observed_at",
    "status",
    "process_percent",
    "outcome",
    "http_status",
    "fetch_error_code",
    "fetch_error",
    "request_id",
)
# A wait ends for good on these (see jobtools.wait.poll): they are the ones resumed from the log.
_FINAL_STATES = tuple(s.value for s in WaitState if s.is_final)


class PollLog:
    """An append-only SQLite log of observations (WAL, one transaction per round).

    Safe to share between threads (the monitor writes from its polling thread while the
    notebook reads). Use as a context manager, or call `close()`. `":memory:"` works for a
    log that needs no file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        if self.path is not None and self.path.is_dir():
            raise ValueError(f"poll log path is a directory: {self.path}")
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(
                str(path), check_same_thread=False, isolation_level=None, timeout=30.0
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a committed round survives a crash of the process (not of the OS).
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"not a jobtools poll log: {path} ({exc})") from None

    def _check_version(self) -> None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None:
            self._conn.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        elif row[0] != SCHEMA_VERSION:
            raise ValueError(f"poll log schema {row[0]}, this jobtools writes {SCHEMA_VERSION}")

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
            merged: the same jobs as the wait now sees them (with `wait_state` and
                `observed_at`); a job whose wait ended here gets its full record stored.
        """
        n = len(observed)
        if not n:
            return
        stamp = epoch_seconds(merged["observed_at"])
        records: list[Any] = [None] * n
        final = merged["wait_state"].isin(_FINAL_STATES).to_numpy(bool)
        if final.any():
            for i, text in zip(np.flatnonzero(final), _record_json(merged[final]), strict=True):
                records[i] = text
        columns = [
            observed["job_id"].tolist(),
            stamp.tolist(),
            _nullable(observed["status"]),
            _nullable(observed["process_percent"]),
            _nullable(observed["outcome"]),
            _nullable(observed["http_status"]),
            _nullable(observed["fetch_error_code"]),
            _nullable(observed["fetch_error"]),
            _nullable(observed["request_id"]),
            [wait_id] * n,
            [round_no] * n,
            records,
        ]
        rows = zip(*columns, strict=True)
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany(
                    "INSERT INTO observations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
                self._conn.execute(
                    "INSERT OR REPLACE INTO rounds VALUES (?, ?, ?, ?, ?)",
                    (wait_id, round_no, started_at, float(np.nanmax(stamp)), n),
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

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

    def restore(self, job_ids: list[str]) -> pd.DataFrame:
        """The jobs among `job_ids` whose last observation ended their wait, as frame rows.

        Columns: the job frame's and `FETCH_COLUMNS`, plus `observed_at`. Jobs still
        waiting (or never observed) are not returned: a resumed wait queries them again.
        """
        query = (
            f"SELECT {', '.join(OBSERVATION_COLUMNS)}, record FROM observations "
            "WHERE rowid IN (SELECT max(rowid) FROM observations GROUP BY job_id) "
            "AND record IS NOT NULL"
        )
        with self._lock:
            cursor = self._conn.execute(query)
            names = [d[0] for d in cursor.description]
            found = pd.DataFrame(cursor.fetchall(), columns=names)
        found = found[found["job_id"].isin(job_ids)].reset_index(drop=True)
        frame = jobs_to_frame([orjson.loads(text) for text in found["record"]])
        frame["job_id"] = found["job_id"].astype("str")  # the record may lack a readable id
        for column in FETCH_COLUMNS:
            frame[column] = found[column] if column in found.columns else None
        frame = cast_frame(frame)
        frame["observed_at"] = _times(found["observed_at"])
        return frame

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
    values = pd.to_numeric(seconds, errors="coerce").astype("float64")
    return pd.to_datetime(values, unit="s", utc=True).astype("datetime64[us, UTC]")


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
        with PollLog(source) as log:
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
