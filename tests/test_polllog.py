"""Tests for jobtools.wait.polllog: SQLite poll log (WAL, rounds, restore) and transitions."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import jobtools
from jobtools.wait.polllog import (
    OBSERVATION_COLUMNS,
    TRANSITION_COLUMNS,
    PollLog,
    PollLogWarning,
    transitions,
)

T0 = pd.Timestamp("2026-03-01T12:00:00Z")

RECORDS = [
    {
        "job_id": "a" * 32,
        "job_type": "imsNativeExportImageJob",
        "status": "FAIL",
        "begin_time": "2026-03-01T11:50:00.125Z",
        "end_time": "04-Mar-2026 12:00:00:000",
        "error_code": "IMG.0090",
        "fail_reason": "Failed to export the image to bucket b-1: <AccessDenied> & more.",
        "entities": {"image_id": "i-1", "error_code": "IMG.0090", "process_percent": 40.0},
        "region_hint": "cn-north-4",  # an unknown field, kept in `extra`
    },
    {
        "job_id": "b" * 32,
        "job_type": "imsImportImageJob",
        "status": "RUNNING",
        "begin_time": "2026-03-01T11:55:00Z",
        "end_time": "",
        "entities": {"process_percent": 55.5, "current_task": "CONVERT_FORMAT"},
    },
    {
        "job_id": "c" * 32,
        "job_type": "imsImportImageJob",
        "status": "SUCCESS",
        "begin_time": "2026-03-01T11:40:00Z",
        "end_time": "2026-03-01T11:59:00Z",
        "entities": {"image_id": "i-3"},
    },
]


def _round(records: list[dict[str, Any]], states: list[str], at: pd.Timestamp) -> tuple:
    """What a wait hands the log for one round: the answer and the merged rows."""
    observed = jobtools.jobs_to_frame(records)
    observed["outcome"] = pd.Categorical(["ok"] * len(records))
    observed["http_status"] = pd.array([200] * len(records), dtype="Int64")
    for column in ("fetch_error_code", "fetch_error", "request_id", "raw_body"):
        observed[column] = pd.array([None] * len(records), dtype="str")
    merged = observed.assign(
        wait_state=pd.Categorical(states), observed_at=pd.Series([at] * len(records))
    )
    return observed, merged


@pytest.fixture
def log(tmp_path: Path) -> PollLog:
    with PollLog(tmp_path / "poll.db") as log:
        yield log


def test_log_is_a_wal_sqlite_file(tmp_path: Path) -> None:
    """The log is a real SQLite file in WAL mode, readable by any SQLite client."""
    path = tmp_path / "poll.db"
    with PollLog(path) as log:
        log.append_round("w1", 1, T0.timestamp(), *_round(RECORDS, ["done", "waiting", "done"], T0))
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 3
        assert db.execute("SELECT wait_id, round, queried FROM rounds").fetchall() == [("w1", 1, 3)]


def test_observations_come_back_typed(log: PollLog) -> None:
    """Every observation comes back in order with its time, status, percent and outcome."""
    log.append_round("w1", 1, T0.timestamp(), *_round(RECORDS, ["done", "waiting", "done"], T0))
    seen = log.observations()
    assert list(seen.columns) == [*OBSERVATION_COLUMNS, "wait_id", "round"]
    assert seen["job_id"].tolist() == [r["job_id"] for r in RECORDS]
    assert seen["observed_at"].eq(T0).all()
    assert str(seen["observed_at"].dtype) == "datetime64[us, UTC]"
    assert seen["status"].astype(str).tolist() == ["FAIL", "RUNNING", "SUCCESS"]
    assert seen["process_percent"].tolist()[:2] == [40.0, 55.5]
    assert seen["http_status"].dtype == "Int64"
    assert log.observations(["b" * 32])["job_id"].tolist() == ["b" * 32]


def test_restore_returns_ended_jobs_with_their_whole_record(log: PollLog) -> None:
    """Jobs whose last observation ended their wait come back losslessly; others do not."""
    log.append_round("w1", 1, T0.timestamp(), *_round(RECORDS, ["done", "waiting", "done"], T0))
    ids = [r["job_id"] for r in RECORDS]
    restored = log.restore(ids, ended_only=True).set_index("job_id")
    original = jobtools.jobs_to_frame(RECORDS).set_index("job_id").loc[restored.index]
    assert sorted(restored.index) == ["a" * 32, "c" * 32]
    for column in jobtools.JOB_COLUMNS:
        if column == "job_id":
            continue
        pd.testing.assert_series_equal(restored[column], original[column], check_categorical=False)
    assert restored["outcome"].eq("ok").all()
    assert restored["observed_at"].eq(T0).all()
    assert log.restore(["c" * 32], ended_only=True).shape[0] == 1
    assert log.restore([]).empty


def test_restore_follows_the_last_observation(log: PollLog) -> None:
    """Only the latest observation of a job counts: a job running again is not ended."""
    log.append_round("w1", 1, T0.timestamp(), *_round(RECORDS[2:], ["done"], T0))
    later = T0 + pd.Timedelta(seconds=5)
    log.append_round("w2", 1, later.timestamp(), *_round(RECORDS[1:2], ["waiting"], later))
    ids = [r["job_id"] for r in RECORDS]
    assert log.restore(ids, ended_only=True)["job_id"].tolist() == ["c" * 32]
    everything = log.restore(ids)
    assert everything["job_id"].tolist() == ["b" * 32, "c" * 32]
    assert everything["wait_state"].astype(str).tolist() == ["waiting", "done"]


def test_a_failing_round_writes_nothing(log: PollLog) -> None:
    """A round is one transaction: an error while writing it leaves no row of it behind.

    The error is one warning and the log stops; the wait that writes it goes on.
    """
    log.append_round("w1", 1, T0.timestamp(), *_round(RECORDS[:1], ["waiting"], T0))
    observed, merged = _round(RECORDS, ["waiting"] * 3, T0)
    observed["request_id"] = pd.Series([None, None, object()], dtype=object)  # cannot be stored
    with pytest.warns(PollLogWarning, match="could not write round 2"):
        log.append_round("w1", 2, T0.timestamp(), observed, merged)
    log.append_round("w1", 3, T0.timestamp(), *_round(RECORDS[:1], ["waiting"], T0))
    assert len(log.observations()) == 1
    assert log.rounds()["round"].tolist() == [1]


@pytest.mark.parametrize("content", [b"not a database at all" * 100, b""])
def test_a_file_that_is_not_a_log_is_refused(tmp_path: Path, content: bytes) -> None:
    """A file that is not SQLite is refused with a clear error; an empty one becomes a log."""
    path = tmp_path / "poll.db"
    path.write_bytes(content)
    if content:
        with pytest.raises(ValueError, match="not a jobtools poll log"):
            PollLog(path)
    else:
        PollLog(path).close()


# --- transitions -----------------------------------------------------------------------------


def _seen(rows: list[tuple[str, int, str | None]]) -> pd.DataFrame:
    """Observations from (job_id, seconds after T0, status)."""
    return pd.DataFrame(
        {
            "job_id": [r[0] for r in rows],
            "observed_at": [T0 + pd.Timedelta(seconds=r[1]) for r in rows],
            "status": [r[2] for r in rows],
        }
    )


def _s(seconds: float | None) -> pd.Timedelta | Any:
    return pd.NaT if seconds is None else pd.Timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            # INIT seen at 0 and 10, RUNNING at 20..50, SUCCESS at 60: a failed fetch at 55 skipped
            [("j", 0, "INIT"), ("j", 10, "INIT"), ("j", 20, "RUNNING"), ("j", 35, "RUNNING"),
             ("j", 50, "RUNNING"), ("j", 55, None), ("j", 60, "SUCCESS")],
            [("INIT", None, 10, None), ("RUNNING", "INIT", 30, 50),
             ("SUCCESS", "RUNNING", 0, None)],
        ),
        (
            # first seen RUNNING: the time before is unknown, so no upper bound
            [("j", 0, "RUNNING"), ("j", 30, "FAIL")],
            [("RUNNING", None, 0, None), ("FAIL", "RUNNING", 0, None)],
        ),
        (
            # observations out of order are sorted by time first
            [("j", 30, "SUCCESS"), ("j", 0, "INIT"), ("j", 10, "RUNNING")],
            [("INIT", None, 0, None), ("RUNNING", "INIT", 0, 30), ("SUCCESS", "RUNNING", 0, None)],
        ),
    ],
)  # fmt: skip
def test_transitions_bound_the_time_in_each_status(
    rows: list[tuple[str, int, str | None]], expected: list[tuple]
) -> None:
    """Each stay in a status gets its observed time as a lower bound and, when known, an upper."""
    got = transitions(_seen(rows))
    assert list(got.columns) == list(TRANSITION_COLUMNS)
    summary = [
        (str(r.status), None if pd.isna(r.previous_status) else str(r.previous_status),
         r.min_time, r.max_time)
        for r in got.itertuples()
    ]  # fmt: skip
    assert summary == [(s, p, _s(lo), _s(hi)) for s, p, lo, hi in expected]
    assert (got["min_time"] <= got["max_time"]).where(got["max_time"].notna(), True).all()


def test_transitions_keep_jobs_apart() -> None:
    """Stays never run across jobs, and every job's rows come in time order."""
    got = transitions(
        _seen([("a", 0, "INIT"), ("b", 0, "RUNNING"), ("a", 10, "RUNNING"), ("b", 10, "RUNNING"),
               ("a", 20, "SUCCESS")])
    )  # fmt: skip
    assert got["job_id"].tolist() == ["a", "a", "a", "b"]
    b = got[got["job_id"] == "b"].iloc[0]
    assert (b["observations"], b["min_time"]) == (2, pd.Timedelta(seconds=10))
    assert pd.isna(b["left_before"]) and pd.isna(b["entered_after"])


def test_transitions_from_a_log(tmp_path: Path) -> None:
    """A log (path or PollLog) gives the same transitions as its observations."""
    path = tmp_path / "poll.db"
    with PollLog(path) as log:
        for i, status in enumerate(["INIT", "RUNNING", "SUCCESS"]):
            at = T0 + pd.Timedelta(seconds=10 * i)
            record = dict(RECORDS[2], status=status)
            log.append_round("w", i + 1, at.timestamp(), *_round([record], ["waiting"], at))
        from_log = transitions(log)
    from_path = transitions(path)
    pd.testing.assert_frame_equal(from_log, from_path)
    running = from_path[from_path["status"] == "RUNNING"].iloc[0]
    assert (running["min_time"], running["max_time"]) == (pd.Timedelta(0), pd.Timedelta(seconds=20))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (pd.DataFrame({"job_id": ["a"]}), "columns"),
        (Path("/nonexistent/poll.db"), "no poll log"),
    ],
)
def test_transitions_bad_input(source: Any, message: str) -> None:
    """Missing columns or a missing log file raise a clear ValueError."""
    with pytest.raises(ValueError, match=message):
        transitions(source)


def test_transitions_of_nothing_is_empty() -> None:
    """No observations give an empty frame with the documented columns."""
    got = transitions(_seen([]).astype({"job_id": object, "status": object}))
    assert got.empty and list(got.columns) == list(TRANSITION_COLUMNS)
    assert np.issubdtype(got["observations"].dtype, np.integer)


# --- the log as the record of a wait, and the log under faults ----------------------------


def _client(sim: Any) -> Any:
    """A client of the in-process simulator that tries once, so faults show as fetch errors."""
    from jobtools.api.client import JobsClient
    from jobtools.simulator import DEMO_TOKEN

    async def no_wait(seconds: float) -> None:
        return None

    return JobsClient(
        endpoint="http://simulator",
        token=DEMO_TOKEN,
        project_id=sim.project_id,
        transport=sim.transport(),
        rate_limit=None,
        max_attempts=1,
        sleep=no_wait,
    )


def _ended(job_id: str) -> dict[str, Any]:
    return {**RECORDS[2], "job_id": job_id}


def test_every_id_of_a_wait_is_logged_and_restored_offline(
    tmp_path: Path, simulator: Any, sim_clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wait over running, unknown and already-ended (start=) jobs logs every id; restore
    gives them back with no client and no credentials, polls and fetch_errors included."""
    from jobtools.simulator import Faults

    running = simulator.add_jobs(8, finish_within=600)
    known = [f"{n:032x}" for n in range(1, 4)]
    start = jobtools.jobs_to_frame([_ended(i) for i in known])
    unknown = "f" * 32
    ids = [*running, *known, unknown]
    path = tmp_path / "poll.db"
    with simulator.injecting(Faults(error_503=0.3)):
        result = jobtools.wait_for(ids, client=_client(simulator), clock=sim_clock, log=path,
                                   start=start, timeout=60, progress=False)  # fmt: skip
    assert result["fetch_errors"].sum() > 0  # the faults left some

    for name in ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "JOBTOOLS_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with PollLog(path) as log:
        restored = log.restore()
    assert restored["job_id"].tolist() == ids
    mine = result.set_index("job_id").loc[ids]
    for column in ("polls", "fetch_errors"):
        assert restored[column].tolist() == mine[column].tolist(), column
    assert restored["wait_state"].astype(str).tolist() == mine["wait_state"].astype(str).tolist()
    assert restored["status"].astype(str).tolist() == mine["status"].astype(str).tolist()
    from_file = jobtools.read_jobs(path)
    pd.testing.assert_frame_equal(from_file, restored)


def test_ids_never_fetched_are_rows_too(tmp_path: Path) -> None:
    """The ids of a wait are logged when it starts: a kill before round 1 loses none."""
    ids = ["a" * 32, "b" * 32]
    with PollLog(tmp_path / "poll.db") as log:
        log.begin_wait("w1", ids, T0.timestamp(), None)
        restored = log.restore()
    assert restored["job_id"].tolist() == ids
    assert restored["wait_state"].astype(str).tolist() == ["waiting", "waiting"]
    assert restored["polls"].tolist() == [0, 0]
    assert restored["status"].isna().all()


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO customers VALUES (1, 'Ada')")
    sqlite3.connect(path).close()


def _other_schema(path: Path) -> None:
    with PollLog(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")


@pytest.mark.parametrize(
    ("make", "message"),
    [(_foreign, "another SQLite database"), (_other_schema, "schema 99")],
    ids=["another application's database", "another schema"],
)
def test_a_database_that_is_not_our_log_is_refused_unchanged(
    tmp_path: Path, make: Any, message: str
) -> None:
    """Another application's SQLite file, or a log of another schema, is refused, byte for byte
    unchanged, by PollLog, by a wait and by read_jobs."""
    path = tmp_path / "other.db"
    make(path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=message):
        PollLog(path)
    with pytest.raises(ValueError, match=message):
        jobtools.read_jobs(path)
    assert path.read_bytes() == before
    if make is _foreign:  # (a WAL log, as ours are, may keep its -wal and -shm beside it)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_a_read_only_log_is_found_when_it_opens(tmp_path: Path) -> None:
    """A log that cannot be written fails at open with one clear error, not mid-wait; it can
    still be read."""
    import subprocess

    path = tmp_path / "poll.db"
    with PollLog(path) as log:
        log.begin_wait("w1", ["a" * 32], T0.timestamp(), None)
    # chattr +i makes the file read-only even for root (chmod does not, and tests run as root).
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        with pytest.raises(ValueError, match="cannot write poll log .*readonly"):
            PollLog(path)
        # Reading still works: read_jobs, a read-only PollLog and transitions.
        assert jobtools.read_jobs(path)["job_id"].tolist() == ["a" * 32]
        with PollLog(path, read_only=True) as log:
            assert log.restore()["job_id"].tolist() == ["a" * 32]
            with pytest.raises(ValueError, match="read-only"):
                log.begin_wait("w2", ["b" * 32], T0.timestamp(), None)
        assert transitions(path).empty
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_full_disk_while_waiting_is_one_warning_and_the_results_come_back(
    tmp_path: Path, simulator: Any, sim_clock: Any
) -> None:
    """When the log cannot grow (SQLite's "database or disk is full"), the wait warns once,
    goes on and returns every row; the log keeps the rounds written before."""
    ids = simulator.add_jobs(40, finish_within=300)
    path = tmp_path / "poll.db"
    with PollLog(path) as log:
        pages = log._conn.execute("PRAGMA page_count").fetchone()[0]
        # The file may not grow past its size now: the very fault a full disk gives.
        log._conn.execute(f"PRAGMA max_page_count = {pages + 1}")
        with pytest.warns(PollLogWarning, match="full") as caught:
            result = jobtools.wait_for(ids, client=_client(simulator), clock=sim_clock, log=log,
                                       timeout=600, progress=False)  # fmt: skip
        assert log.failed is not None
    assert len([w for w in caught if w.category is PollLogWarning]) == 1
    assert result["job_id"].tolist() == ids
    assert result["wait_state"].eq("done").all()


V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE observations (
    job_id TEXT NOT NULL, observed_at REAL NOT NULL, status TEXT, process_percent REAL,
    outcome TEXT, http_status INTEGER, fetch_error_code TEXT, fetch_error TEXT,
    request_id TEXT, wait_id TEXT NOT NULL, round INTEGER NOT NULL, record TEXT
);
CREATE TABLE rounds (
    wait_id TEXT NOT NULL, round INTEGER NOT NULL, started_at REAL NOT NULL,
    finished_at REAL NOT NULL, queried INTEGER NOT NULL, PRIMARY KEY (wait_id, round)
);
INSERT INTO meta VALUES ('schema', '1');
"""


def test_a_log_of_the_first_schema_is_read_and_upgraded(tmp_path: Path) -> None:
    """A schema-1 log (no counters, no wait_jobs) reads as it is, and opening it upgrades it."""
    import orjson

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)
        row = ("c" * 32, T0.timestamp(), "SUCCESS", None, "ok", 200, None, None, None, "w", 1)
        db.execute(
            "INSERT INTO observations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*row, orjson.dumps(RECORDS[2]).decode()),
        )
    old = jobtools.read_jobs(path)
    assert old["job_id"].tolist() == ["c" * 32]
    assert old["wait_state"].astype(str).tolist() == ["done"]
    with PollLog(path) as log:
        assert log.restore()["status"].astype(str).tolist() == ["SUCCESS"]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("2",)


def test_a_wait_the_log_answers_needs_no_client_and_no_credentials(
    tmp_path: Path, simulator: Any, sim_clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run again on a log where every job has ended, wait_for builds no client: it works
    offline, with no credentials, and gives the jobs back with their polls."""
    ids = simulator.add_jobs(5, finish_within=30)
    path = tmp_path / "poll.db"
    first = jobtools.wait_for(ids, client=_client(simulator), clock=sim_clock, log=path,
                              timeout=600, progress=False)  # fmt: skip
    assert first["wait_state"].eq("done").all()
    for name in ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "JOBTOOLS_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    again = jobtools.wait_for(ids, endpoint="http://127.0.0.1:9", log=path, progress=False)
    assert again["job_id"].tolist() == ids
    assert again["polls"].tolist() == first["polls"].tolist()
