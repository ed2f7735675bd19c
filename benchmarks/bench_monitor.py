"""Benchmark: one JobMonitor refresh with 10,000 jobs, beside the plain way of drawing it.

Ours: `JobMonitor.update(snapshot)` sets the values of widgets built once and draws at most
`max_rows` rows per table (running jobs with their progress, failures), by hand-built HTML.
The plain way rebuilds the view from scratch on each refresh, as a notebook loop usually
does: a count table and the running and failed jobs with `DataFrame.to_html`, and a new
progress bar per running job. A "plain,
capped" variant rebuilds the same few rows ours shows, to separate the two causes.

CPU time is `time.thread_time()` around one refresh in this thread (the median of several),
the cost a refresh puts on the kernel. The core's own work for the round (merging 10,000
answers and building the snapshot, done in the monitor's polling thread) is timed as well.

    .venv/bin/python benchmarks/bench_monitor.py [N]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd

from jobtools.api.client import FetchResult, results_to_frame
from jobtools.sample import generate_jobs
from jobtools.views.monitor import JobMonitor
from jobtools.wait.poll import Snapshot, _align, _snapshot, _Wait, iter_snapshots

TASKS = ("CREATE_SNAPSHOT", "EXPORT_IMAGE", "CONVERT_FORMAT", "UPLOAD_TO_OBS")


def make_records(n: int) -> list[dict[str, Any]]:
    """Generated jobs, 40 % of them made RUNNING with a progress, 10 % INIT."""
    records = generate_jobs(n, seed=4)
    for i, record in enumerate(records):
        kind = i % 10
        if kind < 5:
            record["status"] = "RUNNING" if kind < 4 else "INIT"
            record["end_time"] = ""
            record["error_code"] = record["fail_reason"] = None
            entities = dict(record.get("entities") or {})
            entities |= {"process_percent": float(i * 7 % 100), "current_task": TASKS[i % 4]}
            record["entities"] = entities
    return records


class Answering:
    """A client that answers at once from records, moving running jobs on 5 % each round."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = {r["job_id"]: r for r in records}

    async def afetch_jobs(self, ids: list[str], progress: bool = False) -> pd.DataFrame:
        results = []
        for job_id in ids:
            record = self.records[job_id]
            entities = record.get("entities") or {}
            if record["status"] == "RUNNING":
                percent = min(99.0, entities.get("process_percent", 0.0) + 5)
                record["entities"] = {**entities, "process_percent": percent}
            results.append(FetchResult(job_id, record, "ok", 200, request_id="r"))
        return results_to_frame(results)


def cpu(action: Callable[[], object], repeat: int) -> float:
    """Median thread CPU seconds of `action()`."""
    times = []
    for _ in range(repeat):
        start = time.thread_time()
        action()
        times.append(time.thread_time() - start)
    return statistics.median(times)


def plain_refresh(snapshot: Snapshot, cap: int | None) -> widgets.VBox:
    """Rebuild the whole view from the frame, the straightforward way."""
    frame = snapshot.frame
    counts = frame["status"].value_counts(dropna=False).to_frame().to_html()
    running = frame[frame["status"] == "RUNNING"]
    failed = frame[frame["status"] == "FAIL"].sort_values("end_time", ascending=False)
    if cap is not None:
        running, failed = running.head(cap), failed.head(cap)
    columns = ["job_id", "job_type", "current_task", "process_percent", "begin_time"]
    bars = [
        widgets.HBox([widgets.Label(job_id), widgets.FloatProgress(value=p, max=100.0)])
        for job_id, p in zip(running["job_id"], running["process_percent"].fillna(0), strict=True)
    ]
    return widgets.VBox(
        [
            widgets.HTML(counts),
            widgets.IntProgress(value=snapshot.finished, max=snapshot.total),
            *bars,
            widgets.HTML(running[columns].to_html()),
            widgets.HTML(failed[["job_id", "error_code", "fail_reason", "end_time"]].to_html()),
        ]
    )


def main(n: int = 10_000) -> None:
    records = make_records(n)
    ids = [r["job_id"] for r in records]
    client = Answering(records)
    rounds = iter_snapshots(ids, client=client, timeout=None, sleep=_instant)
    first, second = next(rounds), next(rounds)
    rounds.close()
    print(f"{n:,} jobs: {first.counts}")

    monitor = JobMonitor(ids, client, autostart=False)
    snapshots = iter([first, second] * 50)
    ours = cpu(lambda: monitor.update(next(snapshots)), 20)
    plain_capped = cpu(lambda: plain_refresh(second, 10), 5)
    plain = cpu(lambda: plain_refresh(second, None), 1)  # seconds each: once is enough

    # The core's work for one round, in the polling thread: merge the answers, snapshot.
    answer = client_answer(client, ids)

    waits = iter([_Wait(ids, None, 0.0) for _ in range(5)])
    rows = np.arange(len(ids))
    every = [*range(0, len(ids), 2)]
    some = np.array(every)

    def core_round(rows: np.ndarray, asked: list[str]) -> None:
        wait = next(waits)
        changed = wait.merge(rows, _align(answer.iloc[rows], asked), 1.0)
        _snapshot(wait.view(), 1, 1.0, 0.0, len(rows), changed, 5.0)

    core = cpu(lambda: core_round(rows, ids), 5)
    waits = iter([_Wait(ids, None, 0.0) for _ in range(5)])
    core_half = cpu(lambda: core_round(some, [ids[i] for i in every]), 5)

    print(f"refresh, ours (values only, {monitor.max_rows} rows per table): "
          f"{ours * 1000:8.1f} ms CPU")  # fmt: skip
    print(f"refresh, plain capped (rebuild widgets, to_html, 10 rows): "
          f"{plain_capped * 1000:8.1f} ms CPU  ({plain_capped / ours:.1f}x ours)")  # fmt: skip
    print(f"refresh, plain (rebuild, a bar per running job, full to_html): "
          f"{plain * 1000:8.1f} ms CPU  ({plain / ours:.0f}x ours)")  # fmt: skip
    print(f"core round (merge {n:,} answers + snapshot, polling thread): "
          f"{core * 1000:8.1f} ms CPU")  # fmt: skip
    print(f"core round (merge {len(every):,} answers into {n:,} + snapshot): "
          f"{core_half * 1000:8.1f} ms CPU")  # fmt: skip
    verdict = "OK" if ours <= 0.100 else "OVER"
    print(f"budget: one refresh <= 100 ms of kernel CPU -> {verdict}")


def client_answer(client: Answering, ids: list[str]) -> pd.DataFrame:
    import asyncio

    return asyncio.run(client.afetch_jobs(ids))


async def _instant(seconds: float) -> None:
    """No waiting between the benchmark's rounds."""


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
