"""JSONL job records -> a typed job table, for each layout people's files have: jobtools'
two engines beside their peers, in one run.

    .venv/bin/python benchmarks/bench_frame.py [--records 1000000] [--repeat 5]
        [--layouts compact,dumps,cjk,crlf,odd,dupkeys,perline] [--only kernel,python,duckdb,...]

The layouts (`benchmarks/_data/`, made once from the sample generator, not committed):
compact (orjson), dumps (`json.dumps` defaults: `", "` and `": "`), cjk (one record in ten
carries Chinese text, written with `ensure_ascii`: `\\uXXXX` escapes), crlf (Windows line
ends), odd (one line in a hundred has an unknown top-level field, which the scanner writes to
`extra` itself), dupkeys (one line in a hundred gives a top-level field twice: the scanner
writes the last, as Python keeps it) and perline (one line in a hundred gives a key twice in
its entities: the per-line rules). DuckDB refuses the dupkeys file; it reads perline's
entities as JSON text, where a key given twice is no error to it.

Each approach runs in a fresh subprocess, so its peak memory (max RSS) is its own; the best of
`--repeat` runs is reported (the plain way runs once). Every approach does the same job: both
time formats parsed to UTC (the legacy one as UTC+08:00), status typed, the entity fields
pulled out, duration computed.

- kernel / python: `read_jobs(path, engine=...)`: the compiled scanner, or orjson (a MiB
  of lines a call); both then derive every column by the same vectorised rules (one frame).
  The Python engine parses these files in worker processes too: its CPU figure is the
  reading process's own, without theirs.
- plain: what one writes without jobtools: `json.loads` per line, `pd.json_normalize`,
  `datetime.strptime` per time value (two formats tried).
- duckdb: `read_json` with declared columns, `try_strptime` for both formats, the entity
  fields extracted with `->>`; the result as an Arrow table (its own in-memory form).
- polars: `read_ndjson`, `str.to_datetime` for both formats, the entities struct unnested.
- pyarrow: Arrow's JSON reader alone, nothing typed: the floor for any reader built on it.

Targets: the kernel faster than DuckDB on every layout, the Python engine within 3x of the
kernel, the frame at most 300 MiB per million records, peak RSS at most 4x the file.
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

import orjson
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


def kernel(path: Path) -> pd.DataFrame:
    return read_jobs(path, engine="kernel")


def python_engine(path: Path) -> pd.DataFrame:
    return read_jobs(path, engine="python")


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
    "kernel": kernel,
    "python": python_engine,
    "plain": plain,
    "duckdb": duckdb_peer,
    "polars": polars_peer,
    "pyarrow": pyarrow_reader,
}
LABELS = {
    "kernel": "jobtools read_jobs, kernel engine",
    "python": "jobtools read_jobs, Python engine",
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
    usage = resource.getrusage(resource.RUSAGE_SELF)
    size = _size(frame)
    result = {"seconds": seconds, "peak_mib": usage.ru_maxrss / 1024, "frame_mib": size / 2**20}
    # CPU seconds of the whole process (imports included): on a loaded machine a steadier
    # figure than the wall clock, which counts the time others had the cores.
    result["cpu"] = usage.ru_utime + usage.ru_stime
    if which in ("kernel", "python"):
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


def _run(which: str, path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, "--path", str(path)],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        return {"failed": (out.stderr.strip().splitlines() or ["?"])[-1][:120]}
    parsed: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return parsed


LAYOUTS = ("compact", "dumps", "cjk", "crlf", "odd", "dupkeys", "perline")
_CJK = {"fail_reason": "镜像创建失败：磁盘空间不足", "image_name": "镜像-测试"}


def _layout(line: bytes, i: int, layout: str) -> bytes:
    """One compact record line in the layout."""
    if layout == "compact":
        return line
    if layout == "crlf":
        return line + b"\r"
    record = orjson.loads(line)
    if layout == "dumps":
        return json.dumps(record).encode()
    if layout == "cjk":
        if i % 10 == 0:
            record["fail_reason"] = _CJK["fail_reason"]
            if isinstance(record.get("entities"), dict):
                record["entities"]["image_name"] = _CJK["image_name"]
        return json.dumps(record, separators=(",", ":")).encode()  # ensure_ascii: \\uXXXX
    if layout == "odd":
        if i % 100 == 0:
            record["region"] = "cn-north-4"  # unknown top-level field: for `extra`
        return orjson.dumps(record)
    if layout == "dupkeys":
        if i % 100 == 0:  # a top-level field given again (the scanner writes the last)
            return orjson.dumps(record)[:-1] + b',"status":' + orjson.dumps(record["status"]) + b"}"
        return orjson.dumps(record)
    if layout == "perline":
        if i % 100 == 0:  # a key given twice in the entities: the per-line rules
            entities = record.get("entities")
            inner = orjson.dumps(entities)[1:-1] if isinstance(entities, dict) else b""
            twice = b'{"z":0,"z":0' + (b"," + inner if inner else b"") + b"}"
            return orjson.dumps({**record, "entities": "E"}).replace(
                b'"entities":"E"', b'"entities":' + twice
            )
        return orjson.dumps(record)
    raise ValueError(layout)


def _input(n: int, layout: str) -> Path:
    from jobtools.sample import write_sample

    DATA.mkdir(exist_ok=True)
    base = DATA / f"jobs_{n}.jsonl"
    if not base.exists():
        print(f"generating {n:,} records into {base} (once) ...", flush=True)
        write_sample(base.with_suffix(".tmp"), n, seed=1).rename(base)
    if layout == "compact":
        return base
    path = DATA / f"jobs_{n}_{layout}.jsonl"
    if not path.exists():
        with base.open("rb") as src, path.with_suffix(".tmp").open("wb") as out:
            for i, line in enumerate(src):
                out.write(_layout(line.rstrip(b"\n"), i, layout) + b"\n")
        path.with_suffix(".tmp").rename(path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", "--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--only", default=",".join(APPROACHES), help="approaches to run")
    parser.add_argument("--child", choices=list(APPROACHES), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.path)
        return 0

    chosen = [a for a in APPROACHES if a in args.only.split(",")]
    summary = []
    for layout in args.layouts.split(","):
        path = _input(args.records, layout)
        size_mib = path.stat().st_size / 2**20
        print(f"\n== {layout}: {path.name}, {size_mib:,.0f} MiB, {args.records:,} records")
        results: dict[str, dict[str, Any]] = {}
        for which in chosen:
            repeat = 1 if which == "plain" else args.repeat
            runs = [_run(which, path) for _ in range(repeat)]
            good = [r for r in runs if "failed" not in r]
            if not good:
                print(f"{LABELS[which]:55s} failed: {runs[0]['failed']}", flush=True)
                continue
            best = min(good, key=lambda r: r["seconds"])
            results[which] = best
            times = ", ".join(f"{r['seconds']:.2f}" for r in good)
            print(
                f"{LABELS[which]:55s} {best['seconds']:6.2f} s  (runs: {times}; "
                f"CPU {best['cpu']:.1f} s)  "
                f"peak RSS {best['peak_mib']:,.0f} MiB ({best['peak_mib'] / size_mib:.1f}x file)"
                f"  result {best['frame_mib']:,.0f} MiB  ({best['rows']:,} x {best['columns']})",
                flush=True,
            )
            parts = best.get("parts")
            if parts:
                print(
                    f"{'':55s} the frame: text {parts['text']:.0f} MiB, offsets "
                    f"{parts['offsets']:.0f} MiB, times/numbers/codes {parts['other']:.0f} MiB"
                )
        if "kernel" in results:
            ours = results["kernel"]
            for which, best in results.items():
                if which != "kernel":
                    print(
                        f"ratio {which:8s}: time {best['seconds'] / ours['seconds']:5.2f}x the "
                        f"kernel's, result {best['frame_mib'] / ours['frame_mib']:4.2f}x, "
                        f"peak {best['peak_mib'] / ours['peak_mib']:4.2f}x"
                    )
            summary.append((layout, {k: v["seconds"] for k, v in results.items()}))
    if summary:
        print("\nseconds by layout (best run):")
        names = [a for a in chosen if any(a in t for _, t in summary)]
        print(f"{'layout':10s}" + "".join(f"{n:>10s}" for n in names))
        for layout, times in summary:
            cells = "".join(f"{times[n]:10.2f}" if n in times else f"{'-':>10s}" for n in names)
            print(f"{layout:10s}{cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
