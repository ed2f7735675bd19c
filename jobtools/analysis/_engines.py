"""Which engine answers for a frame: pandas, Dask, or DuckDB over an archive's files."""

from __future__ import annotations

import importlib.util
import sys
from typing import TYPE_CHECKING, TypeGuard

if TYPE_CHECKING:
    import dask.dataframe as dd


def is_dask(frame: object) -> TypeGuard[dd.DataFrame]:
    """True for a Dask DataFrame, without importing Dask (whoever made one has imported it)."""
    dd = sys.modules.get("dask.dataframe")
    return dd is not None and isinstance(frame, dd.DataFrame)


def embedded_files(frame: dd.DataFrame) -> list[str] | None:
    """The Parquet files DuckDB answers from in this process, or None: Dask answers.

    DuckDB (the `jobtools[archive]` extra) answers for a Dask frame that is jobtools' own
    Parquet files as read by `read_jobs_dask` (an archive), when no scheduler was chosen:
    no `distributed.Client` (whose cluster then does the work, wherever it runs) and no
    `dask.config.set(scheduler=...)`. On one machine it reads only the columns a question
    needs, in compiled code on every core, with no task graph: several times Dask's pace
    (`benchmarks/bench_archive.py`).
    """
    import dask

    if dask.config.get("scheduler", None) is not None:
        return None
    if importlib.util.find_spec("duckdb") is None:
        return None
    from jobtools.io.dask import parquet_files

    return parquet_files(frame)
