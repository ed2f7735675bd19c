"""1,000,000 JSONL job records -> the typed job frame: the plain way beside `read_jobs`.

    .venv/bin/python benchmarks/bench_frame.py [--n 1000000] [--repeat 3] [--ours-only]

The input is made once by the sample generator (`benchmarks/_data/`, not committed). Each
approach runs in a fresh subprocess, so its peak memory (max RSS) is its own; the best of
`--repeat` runs is reported for ours (the plain way runs once: it takes half a minute).

The plain way is what one writes without jobtools: `json.loads` per line, `pd.json_normalize`,
`datetime.strptime` per time value (two formats tried), then duration and status dtype.

Every run is printed, the first (cold) one included: on this VM the first touch of a memory
page is slow, so the first run of the session is typically ~0.5 s slower than the rest.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

from jobtools import read_jobs

DATA = Path(__file__).resolve().parent / "_data"


def plain(path: Path) -> pd.DataFrame:
    """The approach without jobtools, written the obvious way."""
    with path.open(encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    frame = pd.json_normalize(records)
    for column in ("begin_time", "end_time"):
        frame[column] = pd.to_datetime([_strptime(v) for v in frame[column]], utc=True)
    frame["duration"] = frame["end_time"] - frame["begin_time"]
    frame["status"] = frame["status"].astype("category")
    return frame


def _strptime(value: str | None) -> datetime | None:
    if not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%d-%b-%Y %H:%M:%S:%f"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


def ours(path: Path) -> pd.DataFrame:
    return read_jobs(path)


def _child(which: str, path: Path) -> None:
    """Run one approach and print one JSON line: seconds, peak RSS, frame size and shape."""
    # Libraries are imported before the clock starts, as pandas is for the plain way.
    run = {"plain": plain, "ours": ours}[which]
    start = time.perf_counter()
    frame = run(path)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = int(frame.memory_usage(deep=True).sum())
    result = {"seconds": seconds, "peak_mib": peak_kib / 1024, "frame_mib": size / 2**20}
    print(json.dumps(result | {"rows": len(frame), "columns": frame.shape[1]}))


def _run(which: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, "--path", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _input(n: int) -> Path:
    from jobtools.sample import write_sample

    path = DATA / f"jobs_{n}.jsonl"
    if not path.exists():
        print(f"generating {n:,} records into {path} (once) ...", flush=True)
        write_sample(path.with_suffix(".tmp"), n, seed=1).rename(path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ours-only", action="store_true")
    parser.add_argument("--child", choices=["plain", "ours"], help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.path)
        return 0

    path = _input(args.n)
    print(f"input: {path.name}, {path.stat().st_size / 1e6:.0f} MB, {args.n:,} records")
    runs = [_run("ours", path) for _ in range(args.repeat)]
    best = min(runs, key=lambda r: r["seconds"])
    times = ", ".join(f"{r['seconds']:.2f}" for r in runs)
    print(
        f"ours  (read_jobs):  {best['seconds']:6.2f} s  (runs: {times})  "
        f"peak RSS {best['peak_mib']:,.0f} MiB  frame {best['frame_mib']:,.0f} MiB "
        f"({best['rows']:,} rows x {best['columns']} columns)"
    )
    if args.ours_only:
        return 0
    slow = _run("plain", path)
    print(
        f"plain (json.loads + json_normalize + strptime): {slow['seconds']:6.2f} s  "
        f"peak RSS {slow['peak_mib']:,.0f} MiB  frame {slow['frame_mib']:,.0f} MiB"
    )
    print(f"ratio: ours is {slow['seconds'] / best['seconds']:.1f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
