"""Reading creation times out of job ids, and job ids out of a console log.

(a) 1,000,000 ids: `job_id_times` (one regex and one table lookup over Arrow's buffer)
    against the plain loop (`int(job_id[16:28], 16)` per id, then `pd.to_datetime`) and
    pandas' string methods (`.str.slice` then `.apply(int, base=16)`), same results.
(b) A console log of 1,500 export jobs (image UUIDs, the project id in every path,
    upper-case repeats): `extract_job_ids` finds the 1,500 job ids; the id-like regex a new
    user would write finds many more, each a 404 to come.

    .venv/bin/python benchmarks/bench_ids.py
"""

from __future__ import annotations

import random
import re
import time
import warnings

import pandas as pd

from jobtools.ids import extract_job_ids, job_id_times, make_job_id

N = 1_000_000
PROJECT = "0d3a6f8c2b9e4a71b5c8e2f4a6d9b3c1"


def timed(label: str, work, *args):
    started = time.perf_counter()
    result = work(*args)
    seconds = time.perf_counter() - started
    print(f"  {label:<34} {seconds:8.3f} s")
    return result, seconds


def plain_loop(ids: list[str]) -> pd.Series:
    millis = [int(i[16:28], 16) if len(i) == 32 else None for i in ids]
    return pd.Series(pd.to_datetime(millis, unit="ms", utc=True))


def pandas_str(ids: pd.Series) -> pd.Series:
    millis = ids.str.slice(16, 28).apply(int, base=16)
    return pd.to_datetime(millis, unit="ms", utc=True)


def console_log(count: int) -> str:
    rng = random.Random(5)
    start = pd.Timestamp("2024-11-06T08:00:00Z").timestamp()
    lines = []
    for number in range(count):
        job_id = make_job_id(start + number * 2.5, node=0xFF808081, jvm=77, counter=number)
        image = f"{rng.getrandbits(32):08x}-1d2c-4a2b-9b8e-{rng.getrandbits(48):012x}"
        lines += [
            f"INFO exporting image {image} to obs://bucket/{image}.qcow2",
            f'INFO POST /v1/{PROJECT}/cloudimages/{image}/file -> 200 {{"job_id": "{job_id}"}}',
            f"| {job_id.upper()} | {image} | RUNNING |",
        ]
    return "\n".join(lines)


def main() -> None:
    rng = random.Random(1)
    start = pd.Timestamp("2020-01-01", tz="UTC").timestamp()
    ids = [
        make_job_id(start + rng.uniform(0, 2e8), node=0xFF808081, jvm=7, counter=n)
        for n in range(N)
    ]
    series = pd.Series(ids, dtype="str")
    print(f"(a) creation times of {N:,} job ids")
    ours, t_ours = timed("job_id_times", job_id_times, series)
    loop, t_loop = timed("plain loop + pd.to_datetime", plain_loop, ids)
    text, t_text = timed("pandas .str.slice + .apply", pandas_str, series)
    assert ours.equals(loop.astype(ours.dtype)) and ours.equals(text.astype(ours.dtype))
    print(f"  ratio: {t_loop / t_ours:.1f}x the loop, {t_text / t_ours:.1f}x pandas str")

    print("(b) a console log of 1,500 export jobs")
    log = console_log(1500)
    naive = re.findall(r"[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}|[0-9a-fA-F]{32}", log)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found, _ = timed("extract_job_ids", extract_job_ids, log)
    print(f"  extract_job_ids: {len(found):,} ids; an id-like regex: {len(set(naive)):,}")


if __name__ == "__main__":
    main()
