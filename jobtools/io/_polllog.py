"""The poll log's tables: their schema, the check that a file is one, and reading jobs back.

Core, so that both `read_jobs("poll.db")` and `jobtools.wait.PollLog` use it without `io`
importing `wait`. Reading needs no network and no credentials.

Tables (schema 2): `meta` (key, value: the schema version), `observations` (one row per job
per round: the observation columns, the job's `polls`, `fetch_errors` and `wait_state` after
it, and its full record on the first and on the final observation), `rounds` (one row per
round) and `wait_jobs` (every id each wait was asked for, in order, fetched or not).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from jobtools.frame import jobs_to_frame
from jobtools.schema import (
    FETCH_COLUMNS,
    STATUS_ORDER,
    TERMINAL_STATUSES,
    WAIT_STATES,
    Outcome,
    WaitState,
    cast_frame,
    categorical,
)

__all__ = [
    "OBSERVATION_COLUMNS",
    "SCHEMA_VERSION",
    "check_schema",
    "is_poll_log",
    "read_poll_log",
    "restore_frame",
]

SCHEMA_VERSION = "2"
# The first 16 bytes of every SQLite 3 file.
SQLITE_MAGIC = b"SQLite format 3\x00"

SCHEMA = """
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
    round INTEGER NOT NULL,          -- 0: known when the wait started (its start= rows)
    record TEXT,                     -- the job as JSON, on its first and its final observation
    polls INTEGER NOT NULL DEFAULT 0,
    fetch_errors INTEGER NOT NULL DEFAULT 0,
    wait_state TEXT
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
CREATE TABLE IF NOT EXISTS wait_jobs (
    wait_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    PRIMARY KEY (wait_id, position)
);
"""

# The observation columns, in table order (without wait_id, round, record and the counters).
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
# Schema 1 lacked these; a schema-1 log is upgraded by adding them (nothing is rewritten).
_ADDED_IN_2 = (
    "ALTER TABLE observations ADD COLUMN polls INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE observations ADD COLUMN fetch_errors INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE observations ADD COLUMN wait_state TEXT",
)
_OUR_TABLES = {"meta", "observations", "rounds", "wait_jobs"}
_FINAL_STATES = tuple(s.value for s in WaitState if s.is_final)
_TERMINAL = sorted(TERMINAL_STATUSES)


def is_poll_log(path: Path) -> bool:
    """Whether `path` is an SQLite file (by its first bytes, whatever its name)."""
    try:
        with path.open("rb") as file:
            return file.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def check_schema(conn: sqlite3.Connection, path: object) -> str:
    """What the open database is: "empty", "1" (an older log) or SCHEMA_VERSION; read only.

    Raises:
        ValueError: the file is another application's database, or a log of another schema.
            Nothing has been written to it.
    """
    try:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"not a jobtools poll log: {path} ({exc})") from None
    if not tables:
        return "empty"
    if "meta" not in tables or "observations" not in tables:
        found = ", ".join(sorted(tables)[:5])
        raise ValueError(
            f"not a jobtools poll log: {path} is another SQLite database (tables: {found}); "
            "left unchanged, give the log a file of its own"
        )
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    version = None if row is None else str(row[0])
    if version not in ("1", SCHEMA_VERSION):
        raise ValueError(
            f"poll log {path} has schema {version}, this jobtools reads {SCHEMA_VERSION}; "
            "left unchanged"
        )
    columns = {row[1] for row in conn.execute("PRAGMA table_info(observations)")}
    missing = {*OBSERVATION_COLUMNS, "wait_id", "round", "record"} - columns
    if missing:
        raise ValueError(
            f"poll log {path}: its observations table lacks {sorted(missing)}; left unchanged"
        )
    return version


def upgrade(conn: sqlite3.Connection, version: str) -> None:
    """Create the tables of an empty file, or add what schema 2 added to a schema-1 log."""
    added = "".join(f"{statement};\n" for statement in _ADDED_IN_2) if version == "1" else ""
    # One transaction: an upgrade cut short leaves the log as it was.
    conn.executescript(
        f"BEGIN IMMEDIATE;\n{added}{SCHEMA}"
        f"INSERT OR REPLACE INTO meta VALUES ('schema', '{SCHEMA_VERSION}');\nCOMMIT;"
    )


def read_poll_log(path: str | Path) -> pd.DataFrame:
    """Every job a poll log knows, as a job frame: `restore_frame` of the file, opened read-only.

    Raises:
        ValueError: the file is not a jobtools poll log (it is left unchanged).
    """
    uri = f"file:{Path(path).resolve().as_posix()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise ValueError(f"cannot open poll log {path}: {exc}") from None
    try:
        version = check_schema(conn, path)
        if version == "empty":
            raise ValueError(f"poll log {path} is empty: no wait has written to it")
        return restore_frame(conn, None, version=version)
    except sqlite3.Error as exc:
        raise ValueError(f"cannot read poll log {path}: {exc}") from None
    finally:
        conn.close()


def restore_frame(
    conn: sqlite3.Connection,
    job_ids: list[str] | None,
    *,
    ended_only: bool = False,
    version: str = SCHEMA_VERSION,
) -> pd.DataFrame:
    """The jobs of the log as frame rows: each job's last observation over its last record.

    Args:
        job_ids: these jobs only (in this order, those the log has), or None: every id any
            wait was asked for, in the order first asked, fetched or not.
        ended_only: only jobs whose last observation ended their wait (terminal, or 404):
            what a resumed wait needs not ask again.

    Returns:
        The job frame's columns, `FETCH_COLUMNS`, and `wait_state`, `observed_at`, `polls`
        and `fetch_errors` as the wait last logged them. A job never observed is a row with
        only its id (`wait_state` "waiting", no polls).
    """
    counters = "polls, fetch_errors, wait_state" if version != "1" else "0, 0, NULL"
    last = conn.execute(
        f"SELECT {', '.join(OBSERVATION_COLUMNS)}, {counters} FROM observations "
        "WHERE rowid IN (SELECT max(rowid) FROM observations GROUP BY job_id)"
    )
    names = [*OBSERVATION_COLUMNS, "polls", "fetch_errors", "wait_state"]
    seen = pd.DataFrame(last.fetchall(), columns=names).set_index("job_id", drop=False)
    records = dict(
        conn.execute(
            "SELECT job_id, record FROM observations WHERE rowid IN (SELECT max(rowid) "
            "FROM observations WHERE record IS NOT NULL GROUP BY job_id)"
        ).fetchall()
    )
    # A failed fetch logs no status; the wait kept the last one seen, and so does this.
    status = pd.DataFrame(
        conn.execute(
            "SELECT job_id, status, process_percent FROM observations WHERE rowid IN (SELECT "
            "max(rowid) FROM observations WHERE status IS NOT NULL GROUP BY job_id)"
        ).fetchall(),
        columns=["job_id", "status", "process_percent"],
    ).set_index("job_id")
    seen["status"] = status["status"].reindex(seen.index)
    seen["process_percent"] = status["process_percent"].reindex(seen.index)
    if job_ids is None:
        asked = [row[0] for row in conn.execute(_ASKED if version != "1" else _OBSERVED)]
        ids = list(dict.fromkeys([*asked, *seen.index]))
    else:
        ids = [i for i in dict.fromkeys(job_ids) if i in seen.index]
    if ended_only:
        final = _final(seen)
        ids = [i for i in ids if final.get(i, False)]
    return _frame(ids, seen.reindex(ids), records)


_ASKED = "SELECT job_id FROM wait_jobs GROUP BY job_id ORDER BY min(rowid)"
_OBSERVED = "SELECT job_id FROM observations GROUP BY job_id ORDER BY min(rowid)"


def _final(seen: pd.DataFrame) -> dict[str, bool]:
    """Whether each job's last observation ended its wait (terminal status, or 404)."""
    state = seen["wait_state"].astype(object)
    ended = seen["status"].isin(_TERMINAL) | seen["outcome"].eq(Outcome.NOT_FOUND)
    final = state.isin(_FINAL_STATES) | (state.isna() & ended)
    return dict(zip(seen.index, final.to_numpy(bool), strict=True))


def _frame(ids: list[str], last: pd.DataFrame, records: dict[str, str]) -> pd.DataFrame:
    """Rows of `ids`: the record stored last for each, overlaid with its last observation."""
    parsed = [orjson.loads(records[i]) if i in records else {"job_id": i} for i in ids]
    frame = jobs_to_frame(parsed)
    frame["job_id"] = pd.Series(ids, dtype="str")  # a record may lack a readable id
    observed = last.reset_index(drop=True)
    # The latest observation wins over an older record: a job first recorded RUNNING and
    # last seen at 80 % shows 80 %.
    has_status = observed["status"].notna().to_numpy()
    if has_status.any():
        status = frame["status"].astype(object).where(~has_status, observed["status"].to_numpy())
        frame["status"] = categorical(status.where(status.notna(), None), STATUS_ORDER)
        percent = pd.to_numeric(observed["process_percent"], errors="coerce").to_numpy()
        keep = frame["process_percent"].to_numpy(dtype="float64")
        frame["process_percent"] = np.where(has_status & ~np.isnan(percent), percent, keep)
    for column in FETCH_COLUMNS:
        frame[column] = observed[column].to_numpy(dtype=object) if column in observed else None
    frame = cast_frame(_terminal(frame))
    state = observed["wait_state"].where(observed["wait_state"].notna(), _state(frame))
    frame["wait_state"] = categorical(state, WAIT_STATES)
    frame["observed_at"] = seconds_to_times(observed["observed_at"])
    for column in ("polls", "fetch_errors"):
        frame[column] = pd.to_numeric(observed[column]).fillna(0).astype("int64").to_numpy()
    return frame


def _terminal(frame: pd.DataFrame) -> pd.DataFrame:
    frame["is_terminal"] = frame["status"].isin(_TERMINAL).to_numpy(bool)
    return frame


def _state(frame: pd.DataFrame) -> pd.Series:
    """The wait state of rows logged before schema 2 kept it: done, gone or waiting."""
    done = frame["is_terminal"].to_numpy(bool)
    gone = frame["outcome"].eq(Outcome.NOT_FOUND).fillna(False).to_numpy(bool) & ~done
    return pd.Series(
        np.select(
            [done, gone], [WaitState.DONE.value, WaitState.GONE.value], WaitState.WAITING.value
        ),
        index=frame.index,
    )


def seconds_to_times(seconds: Any) -> pd.Series:
    """Epoch seconds (REAL) as UTC times, microseconds; missing stays NaT."""
    values = pd.to_numeric(pd.Series(seconds), errors="coerce").astype("float64")
    return (
        pd.to_datetime(values, unit="s", utc=True)
        .astype("datetime64[us, UTC]")
        .reset_index(drop=True)
    )
