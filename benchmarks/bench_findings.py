"""Benchmark: findings' statistics over many seeds, its time on millions of jobs, and on Dask.

    .venv/bin/python benchmarks/bench_findings.py [--seeds 200] [--sizes 1000000 2000000 4000000]
        [--archive 2000000] [--quick]      (--seeds 0 --sizes --archive 10000000: only Dask)

1. Statistics, each over `--seeds` batches through the public `findings`:
   * no change: 2,000 jobs over six hours at 13 %: the share reported as "no change"
     (target >= 95 %);
   * a change from 10 % to 20 %: the share where it is found, found exactly once, and found
     with the true moment inside [at_low, at_high] (target >= 90 %), for several sizes.
2. Time of `findings` on 1M, 2M, 4M jobs (linear?), beside the plain way: a change-point scan
   that tries every split of the jobs in turn (a Python loop over the splits, each summing
   both sides: O(n^2)), timed on a few thousand jobs and extrapolated.
3. `findings` of a Parquet archive (`read_jobs_dask`) on a 2-worker `LocalCluster`, counted
   per partition and computed once, beside pandas on the same jobs.

Figures vary with the machine's load: the development machine is shared, so read the
ratios measured in the same run rather than the absolute times.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import jobtools
from jobtools.schema import cast_frame

START = pd.Timestamp("2024-11-05T09:00:00Z")
REASONS = np.array(
    [
        "The disk of image img-{} is smaller than 40GB.",
        "The quota of images is exceeded: {} images.",
        "Server ecs-{} did not stop in time.",
    ],
    dtype=object,
)
CODES = np.array(["IMG.0001", "IMG.0023", "IMG.0105"], dtype=object)


def batch(
    n: int,
    *,
    seed: int,
    hours: float = 6.0,
    low: float = 0.13,
    high: float | None = None,
    at: float = 1.0,
) -> pd.DataFrame:
    """`n` jobs over `hours`; from `at` (fraction of the window) `high` of them fail."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.uniform(0, hours * 3600, n))
    after = seconds >= at * hours * 3600
    rate = np.where(after, low if high is None else high, low)
    failed = rng.random(n) < rate
    pick = rng.integers(0, len(REASONS), n)
    # A hundred distinct messages per reason: the masks have something to do.
    numbers = rng.integers(0, 100, n).astype(str)
    reasons = np.char.replace(REASONS[pick].astype(str), "{}", numbers)
    begin = START + pd.to_timedelta(seconds, unit="s")
    frame = pd.DataFrame(
        {
            "job_id": pd.Series(np.char.add("job-", np.arange(n).astype(str)), dtype="str"),
            "job_type": rng.choice(["imsExport", "imsImport", "imsCreate", "imsCopy"], n),
            "status": np.where(failed, "FAIL", "SUCCESS"),
            "begin_time": begin,
            "end_time": begin + pd.to_timedelta(rng.integers(1, 3600, n), unit="s"),
            "error_code": np.where(failed, CODES[pick], None),
            "fail_reason": pd.Series(np.where(failed, reasons, None), dtype="str"),
        }
    )
    frame["is_terminal"] = True
    return cast_frame(frame)


def statistics(seeds: int) -> None:
    print(f"1. Statistics over {seeds} seeds (alpha = 1 %, 99 % bootstrap interval)")
    start = time.perf_counter()
    quiet = sum(jobtools.findings(batch(2000, seed=s)).changes.empty for s in range(seeds))
    print(
        f"   no change, 2,000 jobs at 13 %: 'no change' in {quiet / seeds:6.1%} of seeds "
        f"(target >= 95 %)  [{time.perf_counter() - start:.0f} s]"
    )
    for before, after in ((1500, 500), (1700, 300), (1000, 1000), (400, 400)):
        start = time.perf_counter()
        n = before + after
        found = once = covered = 0
        for s in range(seeds):
            frame = batch(n, seed=s, low=0.10, high=0.20, at=before / n)
            # The true moment lies between the last job before and the first job after.
            times = frame["begin_time"].sort_values().reset_index(drop=True)
            changes = jobtools.findings(frame).changes
            found += not changes.empty
            once += len(changes) == 1
            covered += bool(
                (
                    (changes["at_low"] <= times.iloc[before - 1])
                    & (times.iloc[before] <= changes["at_high"])
                ).any()
            )
        print(
            f"   10 % -> 20 %, {before:,} jobs then {after:,}: found {found / seeds:6.1%}, "
            f"exactly once {once / seeds:6.1%}, found with the moment inside the interval "
            f"{covered / seeds:6.1%}  [{time.perf_counter() - start:.0f} s]"
        )


def plain_scan(fails: np.ndarray, min_jobs: int = 30) -> int:
    """The plain way: every split tried in turn, both sides summed again each time."""
    n = len(fails)
    best, where = -np.inf, -1
    total = fails.sum()

    def ll(f: float, m: int) -> float:
        p = f / m
        return 0.0 if p in (0.0, 1.0) else f * np.log(p) + (m - f) * np.log(1 - p)

    whole = ll(total, n)
    for k in range(min_jobs, n - min_jobs):
        left = fails[:k].sum()
        right = fails[k:].sum()
        ratio = ll(left, k) + ll(right, n - k) - whole
        if ratio > best:
            best, where = ratio, k
    return where


def timing(sizes: list[int]) -> None:
    print("2. Time of findings (one change, a day of jobs), beside the plain O(n^2) scan")
    per_job = None
    for n in sizes:
        frame = batch(n, seed=1, hours=24, low=0.13, high=0.18, at=0.6)
        jobtools.findings(batch(10_000, seed=2))  # imports and caches warm
        start = time.perf_counter()
        found = jobtools.findings(frame)
        seconds = time.perf_counter() - start
        per_job = seconds / n
        print(
            f"   {n:>10,} jobs: {seconds:6.2f} s ({seconds / n * 1e6:.2f} µs per job), "
            f"{len(found.changes)} change(s); target < 2 s for 1,000,000"
        )
        del frame
    fails = (np.random.default_rng(3).random(4000) < 0.13).astype(np.int64)
    start = time.perf_counter()
    plain_scan(fails)
    plain = time.perf_counter() - start
    # One scan of the plain way is quadratic: n^2 / 4000^2 times the measured one.
    million = plain * (1_000_000 / 4000) ** 2
    print(
        f"   plain scan, 4,000 jobs, one split search only: {plain:.2f} s -> 1,000,000 jobs "
        f"about {million / 3600:,.0f} h (quadratic)"
        + (f"; findings {million / (per_job * 1_000_000):,.0f}x faster" if per_job else "")
    )


def dask_archive(n: int) -> None:
    import distributed

    folder = Path(tempfile.mkdtemp(prefix="bench-findings-"))
    try:
        days = 10
        start = time.perf_counter()
        for day in range(days):
            last = day == days - 1  # the change happens at noon of the last day
            part = batch(n // days, seed=100 + day, hours=24, high=0.2 if last else None, at=0.5)
            part["job_id"] = (f"d{day}-" + part["job_id"]).astype("str")
            for column in ("begin_time", "end_time"):
                part[column] += pd.Timedelta(days=day)
            jobtools.write_jobs(part, folder, partition_by="day")
        print(
            f"3. Dask: a Parquet archive of {n:,} jobs over {days} days, written in "
            f"{time.perf_counter() - start:.0f} s"
        )
        with (
            distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0",
            ) as cluster,
            distributed.Client(cluster),
        ):
            lazy = jobtools.read_jobs_dask(str(folder))
            start = time.perf_counter()
            found = jobtools.findings(lazy)
            seconds = time.perf_counter() - start
            print(
                f"   findings on a 2-worker LocalCluster: {seconds:.1f} s over "
                f"{lazy.npartitions} partitions: {found.headline()}"
            )
        start = time.perf_counter()
        whole = jobtools.read_jobs(folder)
        read = time.perf_counter() - start
        start = time.perf_counter()
        same = jobtools.findings(whole)
        print(
            f"   pandas: read {read:.1f} s + findings {time.perf_counter() - start:.1f} s; "
            f"same changes: {same.changes.equals(found.changes)}"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 2_000_000, 4_000_000])
    parser.add_argument("--archive", type=int, default=2_000_000)
    parser.add_argument("--quick", action="store_true", help="20 seeds, 1M jobs, 500k archive")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.sizes, args.archive = 20, [1_000_000], 500_000
    if args.seeds:  # --seeds 0 --sizes: only the archive (e.g. --archive 10000000)
        statistics(args.seeds)
    if args.sizes:
        timing(args.sizes)
    if args.archive:
        dask_archive(args.archive)


if __name__ == "__main__":
    main()
