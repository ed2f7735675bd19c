"""Tests for jobtools.wait.poll: snapshots, wait_for, cancellation, resume, schedules in use.

Waits run against the simulator through its in-process transport on a `ManualClock` shared
by the simulator and the wait: a sleep advances the clock, so no test waits for time to pass.
One test goes over a real loopback socket.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
from typing import Any

import pandas as pd
import pytest
from conftest import CountingTransport, client_for

import jobtools
from jobtools.api.client import JobsClient
from jobtools.cli import main
from jobtools.simulator import DEMO_TOKEN, ManualClock, Simulator
from jobtools.wait.poll import (
    WAIT_COLUMNS,
    CancelToken,
    aiter_snapshots,
    iter_snapshots,
    wait_for,
    wait_for_async,
)
from jobtools.wait.polllog import PollLog
from jobtools.wait.schedule import Adaptive, Backoff

START = 1_780_000_000.0
GONE = "f" * 32


@pytest.fixture
def sim(simulator: Simulator) -> Simulator:
    """Six jobs of known timelines: four SUCCESS, two FAIL, ending between 12 s and 130 s."""
    sim = simulator
    for n, (status, init_for, run_for) in enumerate(
        [
            ("SUCCESS", 2, 10),
            ("SUCCESS", 5, 30),
            ("FAIL", 3, 20),
            ("SUCCESS", 10, 60),
            ("FAIL", 1, 100),
            ("SUCCESS", 30, 100),
        ]
    ):
        sim.add_job(
            f"{n + 1:032x}",
            status=status,
            init_for=init_for,
            run_for=run_for,
            error_code="IMG.0090" if status == "FAIL" else None,
            fail_reason=f"Failed to export image {n}: AccessDenied." if status == "FAIL" else None,
            entities={"image_name": f"img-{n}"},
        )
    return sim


# --- schedules -------------------------------------------------------------------------


@pytest.mark.slow  # end to end (or a fuzz): `make test` runs it, `make test-fast` not
def test_adaptive_with_history_sends_fewer_requests() -> None:
    """Durations seen before (last batch's frame) let a new batch be polled far less often."""

    def batch(seed: int, schedule: Any) -> tuple[pd.DataFrame, int]:
        clock = ManualClock(START)
        sim = Simulator(clock=clock, seed=seed)
        ids = sim.add_jobs(40, finish_within=300, job_type="imsNativeExportImageJob")
        transport = CountingTransport(sim)
        frame = wait_for(ids, client=client_for(sim, transport), clock=clock,
                         schedule=schedule, progress=False, seed=1)  # fmt: skip
        return frame, sum(transport.asked.values())

    history, _ = batch(1, Backoff())
    backoff_frame, backoff_requests = batch(2, Backoff())
    adaptive_frame, adaptive_requests = batch(2, Adaptive(history=history))
    assert backoff_frame["wait_state"].eq("done").all()
    assert adaptive_frame["wait_state"].eq("done").all()
    assert adaptive_requests < 0.6 * backoff_requests


# --- waiting -----------------------------------------------------------------------------


def test_wait_for_returns_every_job_terminal(
    sim: Simulator, client: JobsClient, clock: ManualClock
) -> None:
    """All jobs end; FAIL keeps error_code, fail_reason and entities; time passed on the clock."""
    start = clock()
    frame = wait_for(sim.job_ids, client=client, clock=clock, progress=False, seed=1)
    assert frame["job_id"].tolist() == sim.job_ids
    assert list(frame.columns[-len(WAIT_COLUMNS) :]) == list(WAIT_COLUMNS)
    assert frame["wait_state"].eq("done").all()
    assert frame["status"].astype(str).tolist() == [
        "SUCCESS", "SUCCESS", "FAIL", "SUCCESS", "FAIL", "SUCCESS"
    ]  # fmt: skip
    failed = frame[frame["status"] == "FAIL"]
    assert failed["error_code"].eq("IMG.0090").all()
    assert failed["fail_reason"].str.contains("AccessDenied").all()
    assert jobtools.entities_of(failed).map(lambda e: e["image_name"]).str.startswith("img-").all()
    assert clock() - start >= 130
    # Each job was seen to end soon after it did: the backoff caps at 30 s (+ jitter).
    lag = (frame["observed_at"] - frame["end_time"]).dt.total_seconds()
    assert lag.between(0, 31).all()


def test_terminal_jobs_are_never_queried_again(
    sim: Simulator, client: JobsClient, clock: ManualClock, transport: CountingTransport
) -> None:
    """Each job is requested exactly as often as it was polled, the last time seeing it end."""
    log = PollLog(":memory:")
    frame = wait_for(sim.job_ids, client=client, clock=clock, log=log, progress=False)
    polls = dict(zip(frame["job_id"], frame["polls"], strict=True))
    assert dict(transport.asked) == polls
    seen = log.observations()
    last = seen.groupby("job_id")["status"].last().astype(str)
    assert set(last) <= {"SUCCESS", "FAIL"}
    assert seen.groupby("job_id").size().to_dict() == polls


def test_unknown_job_is_gone_not_failed(
    sim: Simulator, client: JobsClient, clock: ManualClock, transport: CountingTransport
) -> None:
    """An unknown job (400 IMG.0023, as documented) ends its wait as `gone` after one request,
    with its outcome, apart from FAIL."""
    frame = wait_for([*sim.job_ids, GONE], client=client, clock=clock, progress=False)
    row = frame.set_index("job_id").loc[GONE]
    assert (row["wait_state"], row["outcome"], row["http_status"]) == ("gone", "not_found", 400)
    assert row["fetch_error_code"] == "IMG.0023"
    assert pd.isna(row["status"]) and not row["is_terminal"]
    assert transport.asked[GONE] == 1
    assert (frame["status"] == "FAIL").sum() == 2


def test_transient_errors_are_retried_then_given_up(sim: Simulator, clock: ManualClock) -> None:
    """A job that cannot be fetched is retried each round and given up after N errors in a row."""
    broken = sim.job_ids[0]
    transport = CountingTransport(sim, broken=[broken])
    client = client_for(sim, transport)
    frame = wait_for(sim.job_ids, client=client, clock=clock, give_up_after=3, progress=False)
    row = frame.set_index("job_id").loc[broken]
    assert (row["wait_state"], row["outcome"], row["fetch_errors"]) == (
        "gave_up",
        "server_error",
        3,
    )
    assert transport.asked[broken] == 3 * client.max_attempts
    assert frame["wait_state"].value_counts()["done"] == 5


def test_failed_fetch_keeps_what_was_known(sim: Simulator, clock: ManualClock) -> None:
    """A job seen RUNNING that then cannot be fetched keeps RUNNING and shows the error."""
    transport = CountingTransport(sim)
    client = client_for(sim, transport)
    job = sim.job_ids[5]  # INIT for 30 s, then RUNNING
    snapshots = iter_snapshots([job], client=client, clock=clock, give_up_after=2)
    for snapshot in snapshots:
        if snapshot.counts.get("RUNNING"):
            transport.broken.add(job)
        if snapshot.done:
            break
    row = snapshot.frame.iloc[0]
    assert (row["status"], row["outcome"], row["wait_state"]) == (
        "RUNNING",
        "server_error",
        "gave_up",
    )
    assert row["process_percent"] >= 0


def test_timeout_marks_jobs_without_raising(
    sim: Simulator, client: JobsClient, clock: ManualClock, transport: CountingTransport
) -> None:
    """Jobs running at the timeout end as `timed_out`, after a last look at the deadline."""
    start = clock()
    frame = wait_for(sim.job_ids, client=client, clock=clock, timeout=40, progress=False)
    states = frame.set_index("job_id")["wait_state"].astype(str)
    assert states.tolist() == ["done", "done", "done", "timed_out", "timed_out", "timed_out"]
    assert clock() == pytest.approx(start + 40, abs=0.01)
    assert frame.loc[frame["wait_state"] == "timed_out", "status"].eq("RUNNING").all()


def test_timeout_zero_looks_once(sim: Simulator, client: JobsClient, clock: ManualClock) -> None:
    """timeout=0 fetches every job once and returns."""
    frame = wait_for(sim.job_ids, client=client, clock=clock, timeout=0, progress=False)
    assert frame["polls"].eq(1).all() and frame["wait_state"].eq("timed_out").all()


def test_snapshots_report_rounds_counts_and_changes(
    sim: Simulator, client: JobsClient, clock: ManualClock
) -> None:
    """Each snapshot numbers its round, counts statuses and lists the rows that changed."""
    snapshots = list(iter_snapshots(sim.job_ids, client=client, clock=clock, seed=3))
    first, last = snapshots[0], snapshots[-1]
    assert (first.round, first.queried, first.counts) == (1, 6, {"INIT": 6})
    assert len(first.changed) == 6  # every job went from unknown to INIT
    assert [s.round for s in snapshots] == list(range(1, len(snapshots) + 1))
    assert all(not s.done for s in snapshots[:-1]) and last.done
    assert last.counts == {"SUCCESS": 4, "FAIL": 2} and last.states == {"done": 6}
    assert last.next_poll_in is None
    queried = [s.queried for s in snapshots]
    assert queried == sorted(queried, reverse=True)  # never more jobs than the round before
    for before, after in zip(snapshots, snapshots[1:], strict=False):
        moved = after.frame["status"].astype(str) != before.frame["status"].astype(str)
        assert set(after.frame.loc[moved, "job_id"]) <= set(after.changed["job_id"])
        gap = (after.observed_at - before.observed_at).total_seconds()
        assert gap == pytest.approx(before.next_poll_in, abs=1e-5)


def test_on_round_sees_every_snapshot(
    sim: Simulator, client: JobsClient, clock: ManualClock
) -> None:
    """The per-round callback is called once per round, in order."""
    rounds: list[int] = []
    wait_for(
        sim.job_ids,
        client=client,
        clock=clock,
        progress=False,
        on_round=lambda s: rounds.append(s.round),
    )
    assert rounds == list(range(1, len(rounds) + 1)) and len(rounds) > 3


def test_progress_bar_counts_ended_jobs(
    sim: Simulator, client: JobsClient, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """Outside a notebook the wait draws a terminal bar of ended jobs, with the counts."""
    wait_for(sim.job_ids, client=client, clock=clock, progress=True)
    err = capsys.readouterr().err
    assert "6/6" in err and "SUCCESS=4" in err and "FAIL=2" in err


def test_cancel_ends_the_wait(sim: Simulator, client: JobsClient, clock: ManualClock) -> None:
    """Cancelling from the callback ends the jobs still waiting as `cancelled`."""
    token = CancelToken()

    def after(snapshot: jobtools.Snapshot) -> None:
        if snapshot.round == 2:
            token.cancel()

    frame = wait_for(
        sim.job_ids, client=client, clock=clock, cancel=token, on_round=after, progress=False
    )
    assert frame["wait_state"].eq("cancelled").all()
    assert frame["polls"].eq(2).all()


def test_cancel_from_another_thread_wakes_a_sleeping_wait(
    sim: Simulator, client: JobsClient
) -> None:
    """A wait sleeping on a sleep that never ends stops as soon as another thread cancels."""
    sleeping = threading.Event()

    async def forever(seconds: float) -> None:
        sleeping.set()
        await asyncio.Event().wait()

    token = CancelToken()
    result: list[pd.DataFrame] = []
    worker = threading.Thread(
        target=lambda: result.append(
            wait_for(sim.job_ids, client=client, sleep=forever, cancel=token, progress=False)
        )
    )
    worker.start()
    assert sleeping.wait(10)
    token.cancel()
    worker.join(10)
    assert not worker.is_alive()
    assert result[0]["wait_state"].eq("cancelled").all()


def test_works_where_an_event_loop_already_runs(
    sim: Simulator, client: JobsClient, clock: ManualClock
) -> None:
    """wait_for works inside a running loop (as in a notebook), and so does wait_for_async."""

    async def main() -> tuple[pd.DataFrame, pd.DataFrame]:
        inside = wait_for(sim.job_ids, client=client, clock=clock, progress=False)
        awaited = await wait_for_async(sim.job_ids, client=client, clock=clock)
        return inside, awaited

    inside, awaited = asyncio.run(main())
    assert inside["wait_state"].eq("done").all() and awaited["wait_state"].eq("done").all()


def test_breaking_out_of_the_iterator_stops_polling(
    sim: Simulator, client: JobsClient, clock: ManualClock, transport: CountingTransport
) -> None:
    """Leaving a loop over snapshots stops the polling; nothing more is requested."""
    for snapshot in iter_snapshots(sim.job_ids, client=client, clock=clock):
        if snapshot.round == 2:
            break
    asked = sum(transport.asked.values())
    assert asked == 12
    clock.advance(1000)
    assert sum(transport.asked.values()) == asked


@pytest.mark.parametrize(
    ("ids", "options", "error"),
    [
        (["bad/id"], {}, ValueError),
        (["a" * 32], {"give_up_after": 0}, ValueError),
        (["a" * 32], {"timeout": -1}, ValueError),
        (["a" * 32], {"schedule": "sometimes"}, ValueError),
        (["a" * 32], {"token": "x"}, TypeError),  # a client and client options
    ],
)
def test_bad_input_is_refused_before_any_request(
    ids: list[str],
    options: dict[str, Any],
    error: type[Exception],
    client: JobsClient,
    transport: CountingTransport,
) -> None:
    """Bad ids or options raise a clear error and send nothing."""
    with pytest.raises(error):
        wait_for(ids, client=client, progress=False, **options)
    assert not transport.asked


def test_no_ids_returns_an_empty_frame(client: JobsClient) -> None:
    """Waiting for nothing returns at once with an empty frame of the full schema."""
    frame = wait_for([], client=client, progress=False)
    assert frame.empty and list(frame.columns[-len(WAIT_COLUMNS) :]) == list(WAIT_COLUMNS)


# --- resume --------------------------------------------------------------------------------


def test_resume_does_not_query_ended_jobs(
    sim: Simulator,
    client: JobsClient,
    clock: ManualClock,
    transport: CountingTransport,
    tmp_path: Any,
) -> None:
    """A wait stopped halfway and started again on the same log skips the jobs that had ended."""
    log = tmp_path / "poll.db"
    token = CancelToken()
    stop_at_two_ended = lambda s: token.cancel() if s.states.get("done", 0) >= 2 else None  # noqa: E731
    first = wait_for([*sim.job_ids, GONE], client=client, clock=clock, log=log, cancel=token,
                     on_round=stop_at_two_ended, progress=False)  # fmt: skip
    ended = set(first.loc[first["wait_state"].isin(["done", "gone"]), "job_id"])
    assert GONE in ended and len(ended) >= 3
    assert first["wait_state"].eq("cancelled").any()

    transport.asked.clear()
    second = wait_for([*sim.job_ids, GONE], client=client, clock=clock, log=log, progress=False)
    assert not ended & set(transport.asked)  # no job that had ended was asked for again
    assert set(transport.asked) == set(first["job_id"]) - ended
    assert second["wait_state"].isin(["done", "gone"]).all()
    resumed = second.set_index("job_id").loc[sorted(ended - {GONE})]
    # polls survive the restart: the log carries each job's count.
    assert (resumed["polls"] == first.set_index("job_id").loc[resumed.index, "polls"]).all()
    # Rows that came back from the log keep their whole record, failure details included.
    before = first.set_index("job_id").loc[resumed.index]
    for column in ("status", "error_code", "fail_reason", "end_time", "entities", "outcome"):
        pd.testing.assert_series_equal(resumed[column], before[column], check_categorical=False)
    assert second.set_index("job_id").loc[GONE, "outcome"] == "not_found"


def test_resume_with_everything_ended_sends_nothing(
    sim: Simulator,
    client: JobsClient,
    clock: ManualClock,
    transport: CountingTransport,
    tmp_path: Any,
) -> None:
    """When the log says every job ended, a new wait returns the frame without a request."""
    log = tmp_path / "poll.db"
    wait_for(sim.job_ids, client=client, clock=clock, log=log, progress=False)
    transport.asked.clear()
    snapshots = list(iter_snapshots(sim.job_ids, client=client, clock=clock, log=log))
    assert not transport.asked
    assert len(snapshots) == 1 and snapshots[0].round == 0 and snapshots[0].done
    assert snapshots[0].frame["wait_state"].eq("done").all()


def test_ctrl_c_leaves_whole_rounds_in_the_log(
    sim: Simulator, clock: ManualClock, tmp_path: Any
) -> None:
    """Ctrl-C during a round's fetch raises KeyboardInterrupt; the log keeps whole rounds only."""
    transport = CountingTransport(sim)
    real = client_for(sim, transport)

    class InterruptedClient:
        """Round 3's fetch is interrupted as a real Ctrl-C would be: SIGINT to the process."""

        rounds = 0

        async def afetch_jobs(self, ids: list[str], progress: bool = False) -> pd.DataFrame:
            self.rounds += 1
            if self.rounds == 3:
                os.kill(os.getpid(), signal.SIGINT)
                await asyncio.Event().wait()  # the fetch is still in flight when Ctrl-C lands
            return await real.afetch_jobs(ids, progress=progress)

    log = tmp_path / "poll.db"
    with pytest.raises(KeyboardInterrupt):
        wait_for(sim.job_ids, client=InterruptedClient(), clock=clock, log=log, progress=False)
    with sqlite3.connect(log) as db:
        rounds = db.execute("SELECT round, queried FROM rounds ORDER BY round").fetchall()
        per_round = db.execute("SELECT round, count(*) FROM observations GROUP BY round").fetchall()
    assert rounds == [(1, 6), (2, 6)]
    assert per_round == [(1, 6), (2, 6)]
    # And the same call resumes from it.
    frame = wait_for(sim.job_ids, client=real, clock=clock, log=log, progress=False)
    assert frame["wait_state"].eq("done").all()


def test_loopback_wait_queries_only_jobs_not_ended(tmp_path: Any) -> None:
    """Over a real socket: a resumed wait sends exactly one request per poll of a job not ended."""
    clock = ManualClock()
    sim = Simulator(clock=clock, seed=11)
    ids = sim.add_jobs(20, finish_within=90)
    log = tmp_path / "poll.db"
    with sim.serve() as server:
        options = {"endpoint": server.url, "token": DEMO_TOKEN, "project_id": sim.project_id,
                   "rate_limit": None}  # fmt: skip
        first = wait_for(ids, clock=clock, log=log, timeout=30, progress=False, **options)
        ended = first["wait_state"].eq("done")
        assert 0 < ended.sum() < len(ids)
        before = sim.stats().requests
        second = wait_for(ids, clock=clock, log=log, progress=False, **options)
        # polls go on from the log, so the second wait asked for the difference.
        assert sim.stats().requests - before == second["polls"].sum() - first["polls"].sum()
    assert (second["polls"] == first["polls"])[ended.to_numpy()].all()
    assert second["wait_state"].eq("done").all()


def test_aiter_snapshots_is_an_async_iterator(
    sim: Simulator, client: JobsClient, clock: ManualClock
) -> None:
    """The async iterator serves custom loops in async code."""

    async def rounds() -> list[int]:
        return [s.round async for s in aiter_snapshots(sim.job_ids, client=client, clock=clock)]

    got = asyncio.run(rounds())
    assert got == list(range(1, len(got) + 1)) and len(got) > 3


# --- the watch command -------------------------------------------------------------------------


@pytest.fixture
def watch_env(simulator_server: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Credentials in the environment, as the command reads them, and the server's options."""
    monkeypatch.setenv("JOBTOOLS_AUTH_TOKEN", simulator_server.token)
    for name in ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return ["--endpoint", simulator_server.url, "--project-id", simulator_server.project_id]


def _ended_jobs(simulator_server: Any, n: int) -> list[str]:
    """New jobs on the session's simulator that have already ended (no waiting needed)."""
    sim = simulator_server.simulator
    return [
        sim.add_job(status="FAIL" if i % 3 == 0 else "SUCCESS", init_for=0, run_for=0)
        for i in range(n)
    ]


def test_watch_writes_the_jobs_and_resumes_from_its_log(
    simulator_server: Any, watch_env: list[str], tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`jobtools watch` waits, writes the CSV, exits 0; run again on its log it sends nothing."""
    ids = _ended_jobs(simulator_server, 6)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    out, log = tmp_path / "jobs.csv", tmp_path / "poll.db"
    argv = ["watch", str(ids_file), *watch_env, "--log", str(log), "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    frame = jobtools.read_jobs(out)
    assert frame["job_id"].tolist() == ids and frame["is_terminal"].all()
    err = capsys.readouterr().err
    assert err.startswith("jobtools watch: 6 jobs: done 6") and str(out) in err

    simulator_server.simulator.reset_stats()
    assert main(argv) == 0
    assert simulator_server.simulator.stats().requests == 0


def test_watch_exits_2_when_some_jobs_did_not_end(
    simulator_server: Any, watch_env: list[str], tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Jobs unknown to the service or still running at the timeout make the exit code 3."""
    running = simulator_server.simulator.add_job(init_for=0, run_for=3600)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(f"{_ended_jobs(simulator_server, 1)[0]}\n{running}\n{GONE}\n")
    argv = ["watch", str(ids_file), *watch_env, "--timeout", "0", "--no-progress"]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "done 1" in err and "gone 1" in err and "timed_out 1" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.txt"], "No such file"),
        (["ids.txt", "--out", "exists.csv"], "exists; use --force"),
        (["ids.txt", "--cap", "0.5"], "backoff needs"),
        (["bad.txt"], "job id"),
    ],
)
def test_watch_errors_are_one_line(
    args: list[str],
    message: str,
    watch_env: list[str],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bad input is one line on stderr and exit code 1, before any request."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ids.txt").write_text("a" * 32 + "\n")
    (tmp_path / "bad.txt").write_text("job/../1\n")
    (tmp_path / "exists.csv").write_text("keep me\n")
    assert main(["watch", *args, *watch_env, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("jobtools watch: error:") and message in err
    assert (tmp_path / "exists.csv").read_text() == "keep me\n"


def test_unparsed_times_survive_rounds_and_a_resume(simulator_server, tmp_path):
    """A time that did not parse keeps its raw text through every round and a resume."""
    from jobtools import Backoff, JobsClient

    odd = {
        "job_id": "ff8080814dbd65d7014dbe0d84db9999",
        "job_type": "imsNativeExportImageJob",
        "status": "SUCCESS",
        "begin_time": "32-Jun-2015 10:00:00:000",
        "end_time": "2015-06-04T10:20:00.000Z",
        "entities": {},
    }
    (bad,) = simulator_server.simulator.add_jobs([odd])
    running = simulator_server.simulator.add_jobs(1, finish_within=1.5)
    client = JobsClient(
        endpoint=simulator_server.url,
        project_id=simulator_server.project_id,
        token=simulator_server.token,
    )
    options = {"client": client, "schedule": Backoff(first=0.2, cap=0.4), "progress": False}
    log = tmp_path / "poll.db"
    first = wait_for([bad, *running], timeout=20, log=log, **options)
    assert first["polls"].max() > 1  # more rounds came after the odd job ended
    assert first.attrs["unparsed_times"] == {"begin_time": {0: "32-Jun-2015 10:00:00:000"}}
    again = wait_for([bad, *running], timeout=20, log=log, **options)
    assert again.attrs["unparsed_times"] == first.attrs["unparsed_times"]


# --- PENDING_PAYMENT and expired jobs ------------------------------------------------------


def _sim_and_client(clock: ManualClock, **options: Any) -> tuple[Simulator, JobsClient]:
    sim = Simulator(clock=clock, seed=3, **options)
    # The simulator adds no latency here, so its transport never sleeps.
    return sim, client_for(sim, sim.transport())


def test_unpaid_order_ends_awaiting_payment(clock: ManualClock) -> None:
    """A PENDING_PAYMENT job unchanged for `payment_patience` ends its wait on its own."""
    sim, client = _sim_and_client(clock)
    unpaid = sim.add_job(service="ecs", pending_payment=True)
    normal = sim.add_job(init_for=1, run_for=5)
    frame = wait_for(
        [unpaid, normal], client=client, clock=clock, progress=False, payment_patience=120
    )
    states = frame.set_index("job_id")["wait_state"].astype(str).to_dict()
    assert states == {unpaid: "awaiting_payment", normal: "done"}
    assert frame.set_index("job_id").loc[unpaid, "status"] == "PENDING_PAYMENT"


def test_keep_waiting_for_payment_on_request(clock: ManualClock) -> None:
    """With payment_patience=None the wait holds on; once paid, the job runs and is done."""
    sim, client = _sim_and_client(clock)
    unpaid = sim.add_job(service="ecs", pending_payment=True, run_for=30)
    last = None
    for snapshot in iter_snapshots(
        [unpaid], client=client, clock=clock, payment_patience=None, timeout=3600
    ):
        if snapshot.elapsed > 700 and sim.record(unpaid)["status"] == "PENDING_PAYMENT":
            sim.pay(unpaid)
        last = snapshot
    assert last is not None and last.frame.loc[0, "wait_state"] == "done"
    assert last.frame.loc[0, "status"] == "SUCCESS"


def test_404_for_an_old_id_is_expired_not_gone(clock: ManualClock) -> None:
    """A job the service deleted after its retention is `expired`; an unknown id is `gone`."""
    sim, client = _sim_and_client(clock, retention=3600)
    old = sim.add_job(init_for=0, run_for=10)
    clock.advance(2 * 86400)
    unknown = jobtools.ids.make_job_id(clock() - 60, node=1, jvm=2, counter=3)
    frame = wait_for([old, unknown, GONE], client=client, clock=clock, progress=False)
    rows = frame.set_index("job_id")
    assert rows["wait_state"].astype(str).to_dict() == {
        old: "expired",
        unknown: "gone",
        GONE: "gone",
    }
    assert (rows["outcome"] == "not_found").all()
    assert rows.loc[old, "created_at"] < pd.Timestamp(clock() - 86400, unit="s", tz="UTC")


def test_a_wait_keeps_a_row_for_an_id_no_row_can_hold(simulator_server):
    """An id with a lone surrogate gets its row (escaped), with why, and the others go on."""
    from jobtools import Backoff, JobsClient

    (good,) = simulator_server.simulator.add_jobs(1, finish_within=0.5)
    odd = "ff8080814dbd65d7014dbe0d84db" + chr(0xDC80)
    client = JobsClient(
        endpoint=simulator_server.url,
        project_id=simulator_server.project_id,
        token=simulator_server.token,
    )
    frame = wait_for(
        [good, odd], client=client, timeout=20, schedule=Backoff(first=0.2, cap=0.4), progress=False
    )
    assert len(frame) == 2 and frame["job_id"][0] == good
    assert frame["job_id"][1] == "ff8080814dbd65d7014dbe0d84db\\udc80"
    assert frame["wait_state"][0] == "done"
    assert frame["outcome"][1] != "ok" and frame["wait_state"][1] != "waiting"
