"""10,000,000 job records past one machine's pandas: Dask on JSONL and on a Parquet archive.

    .venv/bin/python benchmarks/bench_archive.py [--n 10000000] [--files 20] [--limit-gib 8]
        [--only dask-jsonl,dask-jsonl-once,pandas-jsonl,dask-parquet,pandas-parquet]

In one run, on the same records (made once by the sample generator, `benchmarks/_data/`, not
committed; about 3.4 GB of JSONL in 20 files):

1. Dask, JSONL: `summary_by_type` and `failure_groups` of `read_jobs_dask("*.jsonl")` on a
   2-worker `LocalCluster` (one thread each): time, and each worker's peak memory (max RSS);
   once with each function reading the files, once reading them once (`persist` of the
   columns the two need).
2. Plain pandas: `read_jobs` of the same files, then the same two functions, in a child
   process that is killed when its memory passes `--limit-gib` (others share this machine);
   its peak memory and time, or how far it got.
3. The Parquet archive: the files appended one by one with `write_jobs(..., partition_by=
   "day")` (as a daily job would), its size on disk against the JSONL, then 1. again on it.
4. Plain pandas on the archive, as 2.

The figures go to stdout and `benchmarks/_data/bench_archive.json`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _archive_data import DATA, make  # noqa: E402

WORKERS = 2
# Dask's own limit per worker, above the 2 GB target so that the target is measured, not
# enforced; two workers stay well under the ~10 GB this machine can spare.
WORKER_LIMIT = "3.5GiB"
_GIB = 2**30
PHASES = ("dask-jsonl", "dask-jsonl-once", "pandas-jsonl", "dask-parquet", "pandas-parquet")


def _peak_rss() -> int:
    """This process's peak memory in bytes (run on each worker)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# The columns summary_by_type and failure_groups read: what a one-pass run keeps in memory.
NEEDED = [
    *("job_id", "job_type", "status", "is_terminal", "duration", "begin_time", "end_time"),
    *("error_code", "fail_reason", "entity_error_code", "entity_error"),
]


def dask_run(source: str, *, persist: bool) -> dict[str, Any]:
    """Both functions on a fresh 2-worker cluster: seconds each, and each worker's peak.

    `persist`: read the files once, keeping the columns both functions need in the
    workers' memory; otherwise each function reads the files itself (two passes).
    """
    import distributed

    import jobtools

    with (
        distributed.LocalCluster(
            n_workers=WORKERS,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit=WORKER_LIMIT,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        frame = jobtools.read_jobs_dask(source)
        start = time.perf_counter()
        if persist:
            frame = client.persist(frame[NEEDED])
            distributed.wait(frame)
        read = time.perf_counter()
        summary = jobtools.summary_by_type(frame)
        middle = time.perf_counter()
        groups = jobtools.failure_groups(frame)
        end = time.perf_counter()
        peaks = sorted(client.run(_peak_rss).values())
    return {
        "partitions": frame.npartitions,
        "persist": persist,
        "read_s": read - start,
        "summary_s": middle - read,
        "failures_s": end - middle,
        "seconds": end - start,
        "worker_peak_gib": [p / _GIB for p in peaks],
        "rows": int(summary["count"].sum()),
        "groups": len(groups),
    }


def _pandas_child(source: str) -> None:
    import jobtools

    start = time.perf_counter()
    frame = jobtools.read_jobs(source)
    read = time.perf_counter()
    summary = jobtools.summary_by_type(frame)
    jobtools.failure_groups(frame)
    end = time.perf_counter()
    size = int(frame.memory_usage(deep=True).sum())
    result = {"read_s": read - start, "seconds": end - start, "frame_gib": size / _GIB}
    print(json.dumps(result | {"rows": int(summary["count"].sum())}), flush=True)


def pandas_run(source: str, limit: int) -> dict[str, Any]:
    """The pandas path in a child process, killed if its memory passes `limit` bytes."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, __file__, "--pandas-child", source],
        stdout=subprocess.PIPE,
        text=True,
    )
    process = psutil.Process(child.pid)
    peak, killed = 0, False
    while child.poll() is None:
        try:
            rss = process.memory_info().rss
        except psutil.NoSuchProcess:
            break
        peak = max(peak, rss)
        if rss > limit:
            child.kill()
            killed = True
            break
        time.sleep(0.05)
    out, _ = child.communicate()
    seconds = time.perf_counter() - start
    if killed or child.returncode != 0:
        return {"finished": False, "peak_gib": peak / _GIB, "after_s": seconds}
    result = json.loads(out.strip().splitlines()[-1])
    return {"finished": True, "peak_gib": peak / _GIB} | result


def make_archive(paths: list[Path], folder: Path) -> dict[str, Any]:
    """Append each JSONL file to the archive, as daily writes would (made once)."""
    from jobtools import read_jobs, write_jobs

    done = folder / "_complete"
    if not done.exists():
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        start = time.perf_counter()
        for path in paths:
            write_jobs(read_jobs(path), folder, partition_by="day")
        done.write_text(f"{time.perf_counter() - start:.1f}\n")
    files = list(folder.rglob("*.parquet"))
    return {
        "write_s": float(done.read_text()),
        "files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--limit-gib", type=float, default=8.0)
    parser.add_argument("--only", help="a comma-separated subset of: " + ", ".join(PHASES))
    parser.add_argument("--pandas-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pandas_child:
        _pandas_child(args.pandas_child)
        return 0

    paths = make(args.n, args.files)
    jsonl_bytes = sum(p.stat().st_size for p in paths)
    glob = str(paths[0].parent / "*.jsonl")
    limit = int(args.limit_gib * _GIB)
    print(f"{args.n:,} records, {len(paths)} JSONL files, {jsonl_bytes / 1e9:.2f} GB", flush=True)
    results: dict[str, Any] = {"n": args.n, "jsonl_bytes": jsonl_bytes}
    wanted = set(args.only.split(",")) if args.only else set(PHASES)
    archive = DATA / f"archive-{args.n}-{args.files}.parquet.d"

    if "dask-jsonl" in wanted:
        results["dask_jsonl"] = dask_run(glob, persist=False)
        _show("Dask, JSONL, two passes", results["dask_jsonl"])
    if "dask-jsonl-once" in wanted:
        results["dask_jsonl_once"] = dask_run(glob, persist=True)
        _show("Dask, JSONL, one pass (persist)", results["dask_jsonl_once"])
    if "pandas-jsonl" in wanted:
        results["pandas_jsonl"] = pandas_run(str(paths[0].parent), limit)
        _show_pandas("pandas, JSONL", results["pandas_jsonl"], args.limit_gib)
    if wanted & {"dask-parquet", "pandas-parquet"}:
        results["archive"] = made = make_archive(paths, archive)
        print(
            f"archive: {made['files']} Parquet files, {made['bytes'] / 1e9:.2f} GB "
            f"({made['bytes'] / jsonl_bytes:.1%} of the JSONL), appended in "
            f"{made['write_s']:.0f} s",
            flush=True,
        )
    if "dask-parquet" in wanted:
        results["dask_parquet"] = dask_run(str(archive), persist=False)
        _show("Dask, Parquet archive, two passes", results["dask_parquet"])
    if "pandas-parquet" in wanted:
        results["pandas_parquet"] = pandas_run(str(archive), limit)
        _show_pandas("pandas, Parquet archive", results["pandas_parquet"], args.limit_gib)

    if {"dask_jsonl", "dask_parquet"} <= set(results):
        j, p = results["dask_jsonl"], results["dask_parquet"]
        print(f"Parquet vs JSONL on Dask (two passes each): {j['seconds'] / p['seconds']:.1f}x")
    # Phases run on their own (--only) add to the figures of earlier runs.
    out = DATA / "bench_archive.json"
    earlier = json.loads(out.read_text()) if args.only and out.exists() else {}
    out.write_text(json.dumps(earlier | results, indent=2) + "\n")
    return 0


def _show(label: str, r: dict[str, Any]) -> None:
    peaks = ", ".join(f"{p:.2f}" for p in r["worker_peak_gib"])
    read = f"read and persist {r['read_s']:.1f} s, " if r["persist"] else ""
    print(
        f"{label}: {r['seconds']:.1f} s ({read}summary_by_type {r['summary_s']:.1f} s, "
        f"failure_groups {r['failures_s']:.1f} s) over {r['partitions']} partitions; "
        f"worker peaks {peaks} GiB (target <= 2); {r['rows']:,} rows, {r['groups']} groups",
        flush=True,
    )


def _show_pandas(label: str, r: dict[str, Any], limit: float) -> None:
    if r["finished"]:
        print(
            f"{label}: {r['seconds']:.1f} s (read {r['read_s']:.1f} s), peak {r['peak_gib']:.2f}"
            f" GiB, frame {r['frame_gib']:.2f} GiB, {r['rows']:,} rows",
            flush=True,
        )
    else:
        print(
            f"{label}: did not finish within {limit:g} GiB (stopped after {r['after_s']:.0f} s,"
            f" at {r['peak_gib']:.2f} GiB)",
            flush=True,
        )


if __name__ == "__main__":
    raise SystemExit(main())
