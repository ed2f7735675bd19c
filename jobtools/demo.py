"""The demo: the analyst's path end to end against the local simulator, no cloud account.

It starts the simulator on loopback playing a realistic scenario (`regression`: six hours of
jobs, most ended, a few still running, and from two hours ago a new failure reason), fetches
every job through the real HTTP client with AK/SK signing, waits for the ones still running,
prints the findings (did failures rise, since when, and why, in one line) and writes the
report (findings.md, CSVs, PNGs, manifest) into a folder it names at the end. So "since when
did this start?" and "first half against second half" have real answers.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from jobtools.analysis.findings import findings
from jobtools.analysis.summary import summary_by_type
from jobtools.api.client import JobsClient
from jobtools.report import write_report
from jobtools.simulator import DEMO_AK, DEMO_SK, Simulator
from jobtools.wait.poll import wait_for
from jobtools.wait.schedule import Backoff

__all__ = ["run_demo"]


def run_demo(
    out: str | Path | None = None,
    *,
    scenario: str = "regression",
    sample: str | Path | None = None,
    finish_within: float = 15.0,
    progress: bool | None = None,
    excel: bool = False,
    xlsx: bool = False,
) -> Path:
    """Run the demo and return the report folder (default `out/demo-<UTC time>/`).

    The simulator plays `scenario` (see `jobtools.simulator.SCENARIOS`), plus the records
    of `sample` when given (e.g. `jobtools.sample.SAMPLE_PATH`). Running jobs end within
    `finish_within` seconds of the simulator's start. The server is stopped on the way out,
    also on Ctrl-C. `excel` and `xlsx` are `write_report`'s.
    """
    started = time.perf_counter()
    folder = Path(out) if out else Path("out") / f"demo-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    # Ended jobs are deleted a day after they end, as ECS does; the scenario's are younger.
    simulator = Simulator(sample, finish_within=finish_within, retention=86400.0)
    simulator.add_scenario(scenario)
    source = f"scenario {scenario}" + (f" and {sample}" if sample else "")
    with simulator.serve() as server:
        print(f"simulator: {server.url} serving {len(simulator.job_ids)} jobs ({source})")
        # No client-side rate limit: it protects the real gateway (200 calls/s), not this one.
        client = JobsClient(
            endpoint=server.url,
            project_id=simulator.project_id,
            ak=DEMO_AK,
            sk=DEMO_SK,
            rate_limit=None,
        )
        fetched = client.fetch_jobs(simulator.job_ids, progress=progress)
        running = int((~fetched["is_terminal"]).sum())
        print(f"fetched {len(fetched)} jobs; waiting for {running} still running")
        frame = wait_for(
            fetched["job_id"],
            client=client,
            start=fetched,
            timeout=4 * finish_within,
            # Jobs here end within seconds: look again every few seconds, not every 30.
            schedule=Backoff(first=1.0, cap=4.0),
            progress=progress,
        )
    inputs = [source, f"fetched from the simulator at {server.url}"]
    write_report(frame, folder, inputs=inputs, period=_period(frame), excel=excel, xlsx=xlsx)
    _print_summary(frame)
    print(f"\nfindings: {findings(frame).headline()}  (the whole story: {folder}/findings.md)")
    print(f"\nreport written to {folder}/ in {time.perf_counter() - started:.1f} s")
    return folder


def _period(frame: pd.DataFrame) -> str:
    """Hours when the jobs ended within two days (a scenario's few hours: one daily point would
    say nothing), else days."""
    ended = frame["end_time"].dropna()
    return "1h" if ended.empty or ended.max() - ended.min() <= pd.Timedelta(days=2) else "1D"


def _print_summary(frame: pd.DataFrame) -> None:
    with pd.option_context("display.width", 120, "display.max_columns", 12):
        print("\nstatus counts:")
        counts = frame["status"].value_counts(dropna=False)
        print(counts[counts > 0].to_string())
        print("\nper job type:")
        print(summary_by_type(frame).round(2).to_string(index=False))
