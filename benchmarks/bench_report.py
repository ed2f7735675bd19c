"""Benchmark: the report workbook of N jobs (1,000,000 by default): time and peak memory.

    .venv/bin/python benchmarks/bench_report.py [--n 1000000] [--repeat 1] [--peers]

`write_report(frame, folder, xlsx=True, csv=False, plot=False, tz="Asia/Shanghai")` writes
report.xlsx: every job on the jobs sheet, the failure groups, summary and rates sheets with
typed cells (dates in the report's zone, durations, percentages), frozen headers, filters,
print layout and native charts, and the analysis that fills them. It runs in a child process
that reads the jobs from Parquet first, so its peak memory (max RSS) is the report's, with the
frame it reports on (the frame's own size is printed too). The target: at most 60 s and 1.5 GB.

`--peers` also times the plain way, in the same kind of child process: pandas' `to_excel` of
the jobs alone (the zone stripped from the time columns, which it refuses, object columns made
text), with xlsxwriter (slow: minutes at a million rows).

The jobs are the sample generator's (`generate_jobs`), made once into `benchmarks/_data/`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

DATA = Path(__file__).resolve().parent / "_data"
_GIB = 2**30
# Jobs generated per call: the generator's dicts of a million records at once take gigabytes.
_SLICE = 100_000


def jobs_file(n: int) -> Path:
    """A Parquet file of `n` generated jobs, made when missing."""
    from jobtools import jobs_to_frame, write_jobs
    from jobtools.io.parquet import concat_frames
    from jobtools.sample import DEFAULT_SEED, generate_jobs

    path = DATA / f"report-jobs-{n}.parquet"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        frames = [
            jobs_to_frame(generate_jobs(min(_SLICE, n - i), seed=DEFAULT_SEED + i))
            for i in range(0, n, _SLICE)
        ]
        partial = path.with_suffix(".tmp.parquet")
        write_jobs(concat_frames(frames), partial)
        partial.rename(path)
        print(f"generated {n:,} jobs in {time.perf_counter() - start:.0f} s: {path}", flush=True)
    return path


def _child(way: str, source: str) -> None:
    """Run one way in this (child) process; print its seconds and peak memory as JSON."""
    from jobtools import read_jobs
    from jobtools.report import XLSX_FILE, write_report

    frame = read_jobs(source)
    frame_gib = frame.memory_usage(deep=True).sum() / _GIB
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        if way == "jobtools":
            write_report(frame, folder / "r", xlsx=True, csv=False, plot=False, tz="Asia/Shanghai")
            size = (folder / "r" / XLSX_FILE).stat().st_size
        else:
            plain(frame, folder / "plain.xlsx")
            size = (folder / "plain.xlsx").stat().st_size
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / _GIB
    print(
        json.dumps({"seconds": seconds, "peak_gib": peak, "frame_gib": frame_gib, "mb": size / 1e6})
    )


def plain(frame: pd.DataFrame, path: Path) -> None:
    """What one does without jobtools: strip the zones, stringify objects, to_excel."""
    out = frame.copy()
    for name, values in out.items():
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            out[name] = values.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
        elif values.dtype == object:
            out[name] = values.astype("str")
    out.to_excel(path, sheet_name="jobs", index=False, engine="xlsxwriter")


def run(way: str, source: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", way, str(source)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="best of this many runs")
    parser.add_argument("--peers", action="store_true", help="also time pandas' to_excel")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    source = jobs_file(args.n)
    ways = ["jobtools", *(["pandas to_excel (xlsxwriter)"] if args.peers else [])]
    results = {}
    for way in ways:
        runs = [
            run("jobtools" if way == "jobtools" else "plain", source) for _ in range(args.repeat)
        ]
        results[way] = min(runs, key=lambda r: r["seconds"])
    frame_gib = results["jobtools"]["frame_gib"]
    print(f"{args.n:,} jobs (frame {frame_gib:.2f} GiB in memory), best of {args.repeat}")
    for way, r in results.items():
        ratio = r["seconds"] / results["jobtools"]["seconds"]
        print(
            f"  {way:30} {r['seconds']:7.1f} s ({ratio:4.1f}x jobtools), peak "
            f"{r['peak_gib']:.2f} GiB, {r['mb']:.0f} MB",
            flush=True,
        )
    ours = results["jobtools"]
    verdict = "met" if ours["seconds"] <= 60 and ours["peak_gib"] <= 1.5 else "NOT met"
    print(f"  target (<= 60 s, <= 1.5 GiB peak): {verdict}")


if __name__ == "__main__":
    main()
