"""1,000,000 JSONL job records -> a typed job table: jobtools beside its peers, in one run.

    .venv/bin/python benchmarks/bench_frame.py [--n 1000000] [--repeat 5] [--ours-only]

The input is made once by the sample generator (`benchmarks/_data/`, not committed). Each
approach runs in a fresh subprocess, so its peak memory (max RSS) is its own; the best of
`--repeat` runs is reported for ours and each peer (the plain way runs once: it takes half
a minute). Every approach does the same job: both time formats parsed to UTC (the legacy one
as UTC+08:00), status typed, the entity fields pulled out, duration computed.

- plain: what one writes without jobtools: `json.loads` per line, `pd.json_normalize`,
  `datetime.strptime` per time value (two formats tried).
- duckdb: `read_json` with declared columns, `try_strptime` for both formats, the entity
  fields extracted with `->>`; the result as an Arrow table (its own in-memory form).
- polars: `read_ndjson`, `str.to_datetime` for both formats, the entities struct unnested.
- pyarrow: Arrow's JSON reader alone, nothing typed: the floor for any reader built on it.

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
from typing import Any

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


def duckdb_peer(path: Path) -> Any:
    import duckdb

    text = {
        name: "VARCHAR"
        for name in ("status", "job_id", "job_type", "begin_time", "end_time", "error_code")
    }
    columns = {**text, "fail_reason": "VARCHAR", "entities": "JSON"}

    def when(name: str) -> str:
        # ISO 8601 with Z, or the legacy format, which is UTC+08:00.
        return (
            f"coalesce(try_strptime({name}, '%Y-%m-%dT%H:%M:%S.%gZ'),"
            f" try_strptime({name}, '%d-%b-%Y %H:%M:%S:%g') - INTERVAL 8 HOUR)"
        )

    query = f"""
        SELECT job_id, job_type, status::VARCHAR AS status,
               {when("begin_time")} AS begin_time, {when("end_time")} AS end_time,
               CASE WHEN status IN ('SUCCESS', 'FAIL')
                    THEN {when("end_time")} - {when("begin_time")} END AS duration,
               error_code, fail_reason,
               entities->>'image_id' AS image_id, entities->>'image_name' AS image_name,
               entities->>'current_task' AS current_task,
               TRY_CAST(entities->>'process_percent' AS DOUBLE) AS process_percent,
               entities->>'error_code' AS entity_error_code,
               coalesce(entities->>'error', entities->>'errorcode_message') AS entity_error,
               entities::VARCHAR AS entities
        FROM read_json(?, format='newline_delimited', columns={columns!r})
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con.sql(query, params=[str(path)]).to_arrow_table()


def polars_peer(path: Path) -> Any:
    import polars as pl

    def when(name: str) -> Any:
        column = pl.col(name)
        iso = column.str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ", strict=False, time_zone="UTC")
        legacy = column.str.to_datetime("%d-%b-%Y %H:%M:%S:%3f", strict=False)
        legacy = legacy.dt.replace_time_zone("Asia/Shanghai").dt.convert_time_zone("UTC")
        return pl.coalesce(iso, legacy).alias(name)

    frame = pl.read_ndjson(path, infer_schema_length=None)
    frame = frame.with_columns(when("begin_time"), when("end_time"))
    terminal = pl.col("status").is_in(["SUCCESS", "FAIL"])
    duration = pl.when(terminal).then(pl.col("end_time") - pl.col("begin_time"))
    frame = frame.with_columns(pl.col("status").cast(pl.Categorical), duration.alias("duration"))
    return frame.unnest("entities", separator=".")


def pyarrow_reader(path: Path) -> Any:
    import pyarrow.json as pa_json

    return pa_json.read_json(path)


def _size(result: Any) -> int:
    if isinstance(result, pd.DataFrame):
        return int(result.memory_usage(deep=True).sum())
    if hasattr(result, "estimated_size"):  # polars
        return int(result.estimated_size())
    return int(result.nbytes)  # Arrow


APPROACHES = {
    "ours": ours,
    "plain": plain,
    "duckdb": duckdb_peer,
    "polars": polars_peer,
    "pyarrow": pyarrow_reader,
}
LABELS = {
    "ours": "jobtools read_jobs",
    "plain": "plain pandas (json.loads + json_normalize + strptime)",
    "duckdb": "DuckDB read_json + try_strptime",
    "polars": "polars read_ndjson + str.to_datetime",
    "pyarrow": "pyarrow.json.read_json alone (untyped)",
}


def _child(which: str, path: Path) -> None:
    """Run one approach and print one JSON line: seconds, peak RSS, frame size and shape."""
    # Libraries are imported before the clock starts, as pandas is for the plain way.
    import duckdb  # noqa: F401
    import polars  # noqa: F401
    import pyarrow.json  # noqa: F401

    run = APPROACHES[which]
    start = time.perf_counter()
    frame = run(path)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = _size(frame)
    result = {"seconds": seconds, "peak_mib": peak_kib / 1024, "frame_mib": size / 2**20}
    if which == "ours":
        result["parts"] = _parts(frame)
    print(json.dumps(result | {"rows": len(frame), "columns": frame.shape[1]}))


def _parts(frame: pd.DataFrame) -> dict[str, float]:
    """Where the frame's bytes are (MiB): the text itself, the 8-byte offsets pandas keeps for
    each row of each `str` column, and everything else (times, numbers, category codes)."""
    import pyarrow as pa

    text = offsets = 0
    for name in frame.columns:
        if str(frame[name].dtype) == "str":
            for chunk in pa.chunked_array(pa.array(frame[name].array)).chunks:
                text += chunk.buffers()[2].size if chunk.buffers()[2] else 0
                offsets += (len(chunk) + 1) * 8
    other = int(frame.memory_usage(deep=True).sum()) - text - offsets
    return {"text": text / 2**20, "offsets": offsets / 2**20, "other": other / 2**20}


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
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ours-only", action="store_true")
    parser.add_argument("--child", choices=list(APPROACHES), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.path)
        return 0

    path = _input(args.n)
    print(f"input: {path.name}, {path.stat().st_size / 1e6:.0f} MB, {args.n:,} records")
    chosen = ["ours"] if args.ours_only else ["ours", "duckdb", "polars", "pyarrow", "plain"]
    results = {}
    for which in chosen:
        repeat = 1 if which == "plain" else args.repeat
        runs = [_run(which, path) for _ in range(repeat)]
        best = min(runs, key=lambda r: r["seconds"])
        results[which] = best
        times = ", ".join(f"{r['seconds']:.2f}" for r in runs)
        parts = best.get("parts")
        print(
            f"{LABELS[which]:55s} {best['seconds']:6.2f} s  (runs: {times})  "
            f"peak RSS {best['peak_mib']:,.0f} MiB  result {best['frame_mib']:,.0f} MiB  "
            f"({best['rows']:,} x {best['columns']})",
            flush=True,
        )
        if parts:
            print(
                f"{'':55s} the frame: text {parts['text']:.0f} MiB, offsets "
                f"{parts['offsets']:.0f} MiB, times/numbers/codes {parts['other']:.0f} MiB"
            )
    ours_best = results["ours"]
    for which, best in results.items():
        if which != "ours":
            print(
                f"ratio {which:8s}: time {best['seconds'] / ours_best['seconds']:5.2f}x ours, "
                f"result {best['frame_mib'] / ours_best['frame_mib']:4.2f}x ours, "
                f"peak {best['peak_mib'] / ours_best['peak_mib']:4.2f}x ours"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
