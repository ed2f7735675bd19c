"""The input of `bench_archive.py`: a Parquet archive of N job records, made once, fast.

    .venv/bin/python benchmarks/_archive_data.py [--n 10000000]

The records are the sample generator's kind (`jobtools.sample`: its job types and shares,
log-normal durations by type, statuses, failure templates in English and Chinese), but made
column by column with NumPy, a day at a time, and appended with `write_archive` as a daily
job would: one file per day over 30 days. Ten million records take about a minute or two.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from jobtools.io.parquet import archive_files, write_archive
from jobtools.sample import _FAILURES, _JOB_TYPES, DEFAULT_NOW, DEFAULT_SEED
from jobtools.schema import cast_frame, empty_frame

DATA = Path(__file__).resolve().parent / "_data"
DAYS = 30
_OS = np.array(["centos7", "ubuntu22", "euleros2", "win2019", "debian12", "rocky9", "suse15"])
_BUCKETS = np.array(["ims-export", "backup-bucket", "prod-images", "golden-img", "migration-obs"])
_FORMATS = np.array(["vhdx", "qed", "raw.gz", "img.xz", "iso9660"])
_REGIONS = np.array(["cn-north-4", "cn-east-3", "ap-southeast-1", "eu-west-0", "af-south-1"])
_FLAVORS = np.array(["s6.large.2", "c7.xlarge.4", "m6.2xlarge.8", "kc1.large.2"])


def archive_dir(n: int) -> Path:
    return DATA / f"archive-{n}.parquet.d"


def _hex(
    rng: np.random.Generator, n: int, dashes: tuple[int, ...] = (), *, raw: bool = False
) -> np.ndarray:
    """`n` random 32-digit hex strings (a UUID's layout with `dashes=(8, 12, 16, 20)`)."""
    alphabet = np.frombuffer(b"0123456789abcdef", dtype="S1")
    chars = alphabet[rng.integers(0, 16, size=(n, 32))]
    dash = np.full((n, 1), b"-", dtype="S1")
    pieces = np.split(chars, dashes, axis=1)
    joined = np.concatenate([p for piece in pieces for p in (piece, dash)][:-1], axis=1)
    ascii = joined.view(f"S{joined.shape[1]}").ravel()
    return ascii if raw else ascii.astype(str)


def _reasons(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` failures' `(error_code, fail_reason)`, the sample's templates filled by column."""
    weights = np.array([w for *_, w in _FAILURES], dtype=float)
    which = rng.choice(len(_FAILURES), size=n, p=weights / weights.sum())
    pick = {
        "quota": lambda k: rng.choice([50, 100, 200], size=k).astype(str),
        "image_name": lambda k: np.char.add(
            np.char.add(rng.choice(_OS, size=k), "-web-"),
            np.char.zfill(rng.integers(1, 400, size=k).astype(str), 3),
        ),
        "object": lambda k: np.char.add(
            np.char.add(rng.choice(_OS, size=k), "-"),
            np.char.add(
                np.char.zfill(rng.integers(0, 10**5, size=k).astype(str), 5),
                np.char.add(".", rng.choice(_FORMATS, size=k)),
            ),
        ),
        "bucket": lambda k: np.char.add(
            np.char.add(rng.choice(_BUCKETS, size=k), "-"),
            np.char.zfill(rng.integers(0, 100, size=k).astype(str), 2),
        ),
        "size": lambda k: rng.choice([20, 40, 80, 100, 200, 500, 1200, 2048], size=k).astype(str),
        "seconds": lambda k: rng.choice([1800, 3600, 7200], size=k).astype(str),
        "region": lambda k: rng.choice(_REGIONS, size=k),
        "fmt": lambda k: rng.choice(_FORMATS, size=k),
        "min_disk": lambda k: rng.choice([40, 60, 100], size=k).astype(str),
        "az": lambda k: np.char.add(rng.choice(_REGIONS, size=k), rng.choice(["a", "b"], size=k)),
        "flavor": lambda k: rng.choice(_FLAVORS, size=k),
    }
    for name in ("volume_id", "server_id", "image_id"):
        pick[name] = lambda k: _hex(rng, k, (8, 12, 16, 20))
    for name in ("job_ref", "request_id"):
        pick[name] = lambda k: _hex(rng, k)
    pick["used"] = pick["quota"]
    codes = np.empty(n, dtype=object)
    reasons = np.empty(n, dtype=object)
    for index, (code, template, _) in enumerate(_FAILURES):
        rows = np.flatnonzero(which == index)
        names = [f for f in pick if "{" + f + "}" in template]
        values = [pick[f](len(rows)).tolist() for f in names]
        reasons[rows] = [
            template.format(**dict(zip(names, v, strict=True))) for v in zip(*values, strict=True)
        ]
        codes[rows] = code
    return codes, reasons


def day_frame(rng: np.random.Generator, n: int, day: pd.Timestamp) -> pd.DataFrame:
    """`n` jobs begun on `day` (UTC), with every job column of the contract, typed."""
    names = [t.name for t in _JOB_TYPES]
    weights = np.array([t.weight for t in _JOB_TYPES])
    kind = rng.choice(len(_JOB_TYPES), size=n, p=weights / weights.sum())
    median = np.array([t.median_s for t in _JOB_TYPES])[kind]
    sigma = np.array([t.sigma for t in _JOB_TYPES])[kind]
    fail_rate = np.array([t.fail_rate for t in _JOB_TYPES])[kind]
    seconds = np.maximum(0.2, median * np.exp(rng.normal(0, 1, size=n) * sigma))
    roll = rng.random(n)
    status = np.where(roll < 0.015, "INIT", np.where(roll < 0.065, "RUNNING", "SUCCESS")).astype(
        object
    )
    failed = (status == "SUCCESS") & (rng.random(n) < fail_rate)
    status[failed] = "FAIL"
    seconds[failed] *= rng.uniform(0.05, 1.0, size=failed.sum())
    begin = day + pd.to_timedelta(np.sort(rng.integers(0, 86_400_000_000, size=n)), unit="us")
    terminal = (status == "SUCCESS") | (status == "FAIL")
    duration = pd.to_timedelta(np.where(terminal, seconds * 1e6, np.nan), unit="us")
    codes, reasons = _reasons(rng, int(failed.sum()))
    error_code = np.full(n, None, dtype=object)
    fail_reason = np.full(n, None, dtype=object)
    error_code[failed], fail_reason[failed] = codes, reasons
    image_name = np.char.add(
        np.char.add(rng.choice(_OS, size=n), "-base-"),
        np.char.zfill(rng.integers(1, 400, size=n).astype(str), 3),
    ).astype(object)
    image_name[~failed] = None
    columns = {
        "job_id": pd.Series(pa.array(_hex(rng, n, raw=True)).cast(pa.large_string()), dtype="str"),
        "job_type": np.array(names, dtype=object)[kind],
        "status": status,
        "begin_time": begin,
        "end_time": begin + duration,
        "created_at": begin + pd.Timedelta(milliseconds=2),
        "duration": duration,
        "duration_s": duration.total_seconds(),
        "is_terminal": terminal,
        "error_code": error_code,
        "fail_reason": fail_reason,
        "image_name": image_name,
        "entity_error_code": error_code,
        "entity_error": fail_reason,
    }
    empty = empty_frame("job")
    # The columns these jobs leave empty, typed (an empty typed column stretched to n rows).
    rows = pd.RangeIndex(n)
    frame = pd.DataFrame(
        {
            name: columns[name] if name in columns else empty[name].reindex(rows)
            for name in empty.columns
        }
    )
    return cast_frame(frame)


def make(n: int) -> Path:
    """The archive of `n` records over `DAYS` days, made where missing."""
    folder = archive_dir(n)
    done = folder / "_complete"
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    first = (pd.Timestamp(DEFAULT_NOW) - pd.Timedelta(days=DAYS)).normalize()
    per_day = np.full(DAYS, n // DAYS)
    per_day[: n % DAYS] += 1
    for number, count in enumerate(per_day.tolist()):
        rng = np.random.default_rng([DEFAULT_SEED, n, number])
        write_archive(day_frame(rng, count, first + pd.Timedelta(days=number)), folder)
    done.write_text(f"{time.perf_counter() - start:.1f}\n")
    files = archive_files(folder)
    size = sum(f.stat().st_size for f in files)
    print(
        f"wrote {n:,} records in {len(files)} files, {size / 1e9:.2f} GB, "
        f"in {time.perf_counter() - start:.0f} s: {folder}",
        flush=True,
    )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    make(parser.parse_args().n)


if __name__ == "__main__":
    main()
