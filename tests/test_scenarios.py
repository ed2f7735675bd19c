"""The simulator's scenarios are what they claim: each one's stated truth holds in its jobs."""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import subprocess
import sys

import httpx
import pandas as pd
import pytest

import jobtools
from jobtools.sample import DEFAULT_NOW, main
from jobtools.simulator import SCENARIOS, Change, ManualClock, Scenario, Simulator, Truth

NOW = 1_700_000_000.0
FINISH = 60.0
CHANGING = [name for name, s in SCENARIOS.items() if s.changes]
STEADY = [name for name, s in SCENARIOS.items() if not s.changes]


def play(scenario: Scenario | str, seed: int | None = None) -> tuple[pd.DataFrame, Truth]:
    """The scenario served by the simulator, every job fetched once all have ended."""
    chosen = (SCENARIOS[scenario] if isinstance(scenario, str) else scenario).sized(seed=seed)
    clock = ManualClock(NOW)
    sim = Simulator(clock=clock, finish_within=FINISH)
    ids = sim.add_scenario(chosen)
    clock.advance(FINISH + 1)
    return jobtools.jobs_to_frame([sim.record(i) for i in ids]), chosen.truth(NOW)


@pytest.fixture(scope="module")
def played() -> dict[tuple[str, int], tuple[pd.DataFrame, Truth]]:
    return {(name, seed): play(name, seed) for name in SCENARIOS for seed in (0, 1, 2)}


def test_there_is_one_scenario_of_each_kind():
    """A new reason, a reason that grows, one job type, a rise that recovers, no change."""
    truths = {name: s.truth(NOW) for name, s in SCENARIOS.items()}
    changes = {name: t.changes[0] for name, t in truths.items() if t.changes}
    assert changes["regression"].new and changes["regression"].ended_at is None
    assert not changes["growing"].new
    assert changes["one-type"].job_types == ("imsCreateImageByInstance",)
    assert changes["outage"].ended_at is not None
    assert {"realistic", "exports"} <= set(STEADY)
    assert truths["regression"].changes[0].at == truths["regression"].end - dt.timedelta(hours=2)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_job_begins_inside_the_window_and_ends_spread_out(played, name):
    """No job begins before the window; ends are spread (no pile-up at one millisecond)."""
    for seed in (0, 1, 2):
        frame, truth = played[name, seed]
        assert len(frame) == SCENARIOS[name].jobs and frame["is_terminal"].all()
        assert frame["begin_time"].min() >= pd.Timestamp(truth.begin)
        assert frame["begin_time"].max() <= pd.Timestamp(truth.end)
        assert frame["end_time"].value_counts().max() <= 2
        # Jobs still running at "now" end after it, within the simulator's finish_within.
        late = frame["end_time"] - pd.Timestamp(truth.end)
        assert late.max() <= pd.Timedelta(seconds=FINISH)
        assert (frame["end_time"] >= frame["begin_time"]).all()


@pytest.mark.parametrize("name", CHANGING)
def test_a_change_reason_appears_only_in_its_time_and_types(played, name):
    """The change's reason hits only jobs begun in its window, of its job types."""
    for seed in (0, 1, 2):
        frame, truth = played[name, seed]
        change = truth.changes[0]
        mine = frame["error_code"].eq(change.error_code) & frame["status"].eq("FAIL")
        begin = frame["begin_time"]
        inside = begin >= pd.Timestamp(change.at)
        if change.ended_at is not None:
            inside &= begin < pd.Timestamp(change.ended_at)
        if change.new:
            assert not (mine & ~inside).any()
        assert (mine & inside).sum() > 20
        assert set(frame.loc[mine & inside, "job_type"].astype(str)) <= set(change.job_types)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_failure_rates_are_the_stated_ones(played, name):
    """Over three seeds, the failure rate before, during and after a change is as stated."""
    frames = [played[name, seed] for seed in (0, 1, 2)]
    truth = frames[0][1]
    spans = [(truth.begin, None, truth.rate)]
    for change in truth.changes:
        spans = [(truth.begin, change.at, change.rate_before), (change.at, None, change.rate_after)]
        if change.ended_at is not None:
            spans[1] = (change.at, change.ended_at, change.rate_after)
            spans.append((change.ended_at, None, change.rate_before))
    for start, stop, expected in spans:
        failed = jobs = 0
        for frame, _ in frames:
            begin = frame["begin_time"]
            inside = begin >= pd.Timestamp(start)
            if stop is not None:
                inside &= begin < pd.Timestamp(stop)
            jobs += int(inside.sum())
            failed += int(frame.loc[inside, "status"].eq("FAIL").sum())
        # Within four standard errors of a binomial count.
        spread = 4 * (expected * (1 - expected) / jobs) ** 0.5
        assert abs(failed / jobs - expected) < spread, (start, stop, failed, jobs, expected)


@pytest.mark.parametrize("name", STEADY)
def test_a_steady_scenario_has_one_rate_throughout(played, name):
    """No change: the failure rate of the first half of the begin times equals the second's."""
    halves = [0, 0], [0, 0]
    for seed in (0, 1, 2):
        frame, truth = played[name, seed]
        middle = pd.Timestamp(truth.begin) + (truth.end - truth.begin) / 2
        late = (frame["begin_time"] >= middle).to_numpy()
        failed = frame["status"].eq("FAIL").to_numpy()
        for half, rows in ((0, ~late), (1, late)):
            halves[half][0] += int(failed[rows].sum())
            halves[half][1] += int(rows.sum())
    rates = [f / n for f, n in halves]
    assert abs(rates[0] - rates[1]) < 4 * (rates[0] * (1 - rates[0]) * 2 / halves[0][1]) ** 0.5


def test_running_jobs_end_as_the_scenario_drew_them():
    """The simulator ends a scenario's running jobs with the outcomes the batch drew for them."""
    chosen = SCENARIOS["regression"].sized(seed=5)
    batch = chosen.batch(NOW)
    assert batch.endings and all(s in ("SUCCESS", "FAIL") for s, *_ in batch.endings.values())
    clock = ManualClock(NOW)
    sim = Simulator(clock=clock, finish_within=FINISH)
    sim.add_scenario(chosen)
    clock.advance(FINISH + 1)
    for job_id, (status, code, reason) in batch.endings.items():
        record = sim.record(job_id)
        assert (record["status"], record["error_code"], record["fail_reason"]) == (
            status,
            code,
            reason,
        )


def test_a_scenario_is_sized_and_reseeded():
    """`add_scenario(name, jobs=N)` serves N jobs; another seed draws other jobs."""
    sim = Simulator(clock=ManualClock(NOW))
    assert len(sim.add_scenario("outage", jobs=123)) == 123
    one = SCENARIOS["realistic"].sized(50).records(NOW)
    assert one != SCENARIOS["realistic"].sized(50, seed=9).records(NOW)
    assert one == SCENARIOS["realistic"].sized(50).records(NOW)


def test_a_change_outside_the_window_is_refused():
    """A change must begin inside the window and recover after it began."""
    with pytest.raises(ValueError, match="window"):
        Scenario(window=3600, changes=(Change(since=7200, error_code="X", fail_reason="x"),))
    with pytest.raises(ValueError, match="until"):
        Change(since=100, until=200, error_code="X", fail_reason="x")


def test_a_reason_with_quotes_is_written_as_valid_json():
    """A scenario author's reason with quotes and backslashes stays valid JSON."""
    reason = 'Bucket "{bucket}" refused: C:\\temp\\x'
    chosen = Scenario(jobs=200, changes=(Change(since=3600, error_code="E.1", fail_reason=reason),))
    reasons = {r["fail_reason"] for r in chosen.records(NOW) if r["error_code"] == "E.1"}
    assert reasons and all(r.startswith('Bucket "') and r.endswith("C:\\temp\\x") for r in reasons)


def test_sample_command_lists_its_options(capsys):
    """`python -m jobtools.sample --help` names what it takes."""
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out
    for option in ("--n", "--seed", "--scenario", "--out", "--now", "outage"):
        assert option in shown


def test_sample_command_writes_a_sized_scenario(tmp_path, capsys):
    """`--scenario outage --n 400` writes 400 jobs begun in the six hours before --now."""
    out = tmp_path / "outage.jsonl"
    assert main(["--scenario", "outage", "--n", "400", "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    frame = jobtools.jobs_to_frame(records)
    assert len(frame) == 400 and "wrote 400 jobs" in capsys.readouterr().out
    assert frame["begin_time"].min() >= pd.Timestamp(DEFAULT_NOW) - pd.Timedelta(hours=6)
    assert frame["error_code"].eq("IMG.0199").sum() > 20


# --- findings against the truth ---------------------------------------------------------------


def covers(change: pd.Series, moment: dt.datetime) -> bool:
    """Whether a found change's interval holds a true moment."""
    return bool(change["at_low"] <= pd.Timestamp(moment) <= change["at_high"])


@pytest.mark.slow
@pytest.mark.parametrize("name", CHANGING)
def test_findings_name_the_moment_the_reason_and_the_types(played, name):
    """On three seeds, findings finds each change (and recovery) inside its interval, with
    the true reason, new or grown as it is, and the job types it hits."""
    for seed in (0, 1, 2):
        frame, truth = played[name, seed]
        found = jobtools.findings(frame)
        changes, drivers = found.changes, found.drivers
        expected = sum(1 + (c.ended_at is not None) for c in truth.changes)
        assert len(changes) == expected, (seed, found.text())
        row = 0
        for change in truth.changes:
            found_change = changes.iloc[row]
            assert covers(found_change, change.at), (seed, found_change, change.at)
            mine = drivers[drivers["change"].eq(row)]
            top_code = mine[mine["dimension"].eq("error_code")].iloc[0]
            assert top_code["value"] == change.error_code and top_code["share"] > 0.7
            assert bool(top_code["new"]) == change.new
            types = mine[mine["dimension"].eq("job_type") & mine["excess"].gt(0)]
            if len(change.job_types) == 1:
                assert types.iloc[0]["value"] == change.job_types[0]
                assert types.iloc[0]["share"] > 0.7
            else:
                # Across all job types in proportion to their volume: no one type dominates.
                assert len(types) >= 5 and types["share"].max() < 0.6
            if change.ended_at is not None:
                recovery = changes.iloc[row + 1]
                assert covers(recovery, change.ended_at)
                assert found_change["ended_at"] == recovery["at"]
                assert recovery["rate_after"] < found_change["rate_after"]
                row += 1
            else:
                assert pd.isna(found_change["ended_at"])
            row += 1
        assert truth.changes[0].error_code in found.headline()


@pytest.mark.slow
@pytest.mark.parametrize("name", STEADY)
def test_findings_say_no_change_where_there_is_none(played, name):
    """On three seeds of a scenario with one failure rate throughout, findings find none."""
    for seed in (0, 1, 2):
        frame, truth = played[name, seed]
        found = jobtools.findings(frame)
        assert found.changes.empty, (seed, found.text())
        assert found.headline().startswith("No change")


@pytest.mark.slow  # a child process: `make test` runs it, `make test-fast` does not
def test_serve_sizes_a_scenario(tmp_path):
    """`jobtools serve --scenario one-type --jobs 150` serves that scenario alone, 150 jobs."""
    ids_file = tmp_path / "ids.txt"
    command = [sys.executable, "-m", "jobtools", "serve", "--port", "0", "--no-auth"]
    command += ["--scenario", "one-type", "--jobs", "150", "--ids-out", str(ids_file)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", banner).group()
        listed = httpx.get(f"{url}/_simulator/jobs").json()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    ids = ids_file.read_text().split()
    assert len(ids) == 150 and len(listed["jobs"]) == 150
