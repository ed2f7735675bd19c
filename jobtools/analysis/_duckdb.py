"""The analysis functions answered by DuckDB over an archive's Parquet files, on one machine.

`summary_by_type`, `rates_over_time` and `failure_groups` hand a Dask frame here when it is
an archive read as it is and no scheduler was chosen (`_engines.embedded_files`). DuckDB
reads only the columns a question needs and counts in compiled code on every core; what it
returns is small (a row per job type, per period, per distinct failure message), and the
result is finished by the same pandas code as the other engines', so the answers are
equal: the pandas frame's, percentiles exact (DuckDB's `quantile_cont` is pandas' linear
interpolation), failure templates made by `failures.template_codes` (each distinct message
masked once). A question this module does not cover returns None, and Dask answers.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.tseries.offsets import Day, Tick

from jobtools.analysis import failures, summary
from jobtools.schema import JobStatus

__all__ = ["binned_counts", "failure_groups", "rates_over_time", "summary_by_type"]

_US = 1_000
# What Python's str.strip() removes (pandas' `.str.strip()`), for a blank fail_reason:
# every character whose str.isspace() is true.
_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


@functools.lru_cache(maxsize=4096)
def _schema(path: str, mtime_ns: int) -> pa.Schema:
    """A file's schema (an archive's files are never rewritten; a new time reads it again)."""
    return pq.read_schema(path)


def _schemas(files: Sequence[str]) -> list[pa.Schema]:
    return [_schema(path, os.stat(path).st_mtime_ns) for path in files]


@contextmanager
def _connection(files: Sequence[str], columns: Sequence[str]) -> Iterator[Any]:
    """A DuckDB connection with the view `jobs`: `columns` of every file, NULL where missing.

    Files written at different times may lack a column added since: union_by_name reads
    those as NULL, and a column no file has is NULL too.
    """
    present = {name for schema in _schemas(files) for name in schema.names}
    listed = ", ".join(_literal(f) for f in files)
    select = ", ".join(_quote(c) if c in present else f"NULL AS {_quote(c)}" for c in columns)
    # A database of its own for each question, closed after it: DuckDB keeps what it
    # allocated while it is open (0.2 GiB more at the next question, past 1 GB at 10M).
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")  # the zone its times come back in
        con.execute(
            f"CREATE TEMP VIEW jobs AS SELECT {select} FROM read_parquet([{listed}], "
            "union_by_name = true, hive_partitioning = false)"
        )
        yield con
    finally:
        con.close()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- summary_by_type ------------------------------------------------------------------------


def summary_by_type(files: Sequence[str]) -> pd.DataFrame:
    """`summary.summary_by_type` of the files' jobs: counts and exact percentiles."""
    levels = ", ".join(str(q) for q in summary._QUANTILES.values())
    sql = f"""
        SELECT job_type,
            count(*) AS count,
            count(*) FILTER (status = '{JobStatus.SUCCESS}') AS success,
            count(*) FILTER (status = '{JobStatus.FAIL}') AS fail,
            count(*) FILTER (status IS NOT NULL AND NOT coalesce(is_terminal, false)) AS running,
            quantile_cont(duration / 1e6, [{levels}]) FILTER (status = '{JobStatus.SUCCESS}')
                AS quantiles
        FROM jobs GROUP BY job_type"""
    with _connection(files, ["job_type", "status", "is_terminal", "duration"]) as con:
        table = con.sql(sql).to_arrow_table()
    out = table.drop_columns(["quantiles"]).to_pandas()
    quantiles = table["quantiles"].to_pylist()
    for i, name in enumerate(summary._QUANTILES):
        out[name] = [np.nan if q is None else q[i] for q in quantiles]
    out["job_type"] = out["job_type"].astype(object).where(out["job_type"].notna(), np.nan)
    return summary._summary_table(out.set_index("job_type"))


# --- rates_over_time -----------------------------------------------------------------------


def rates_over_time(
    files: Sequence[str], offset: Any, by: str, groupby: str | None
) -> pd.DataFrame | None:
    """`summary.rates_over_time` in UTC of the files' jobs, or None for what it leaves to Dask.

    Covered: periods of a fixed length that divide a day (their bins start at the epoch,
    which is where pandas starts them too, at the first day's midnight), without `groupby`
    or by a text column. Calendar periods, `"7h"`, reasons and error codes go to Dask.
    """
    from jobtools.analysis._dask import rates_of_pairs

    if not isinstance(offset, Tick | Day) or (
        pd.Timedelta(days=1) % pd.Timedelta(offset.nanos, unit="ns") != pd.Timedelta(0)
    ):
        return None
    if groupby in ("reason", "error_code") or (
        groupby is not None and not _is_text(files, groupby)
    ):
        return None
    period = offset.nanos // _US
    clock = "begin_time" if by == "begin" else "end_time"
    key = "" if groupby is None else f", coalesce({_quote(groupby)}, '(none)') AS key"
    ended = f"end_time IS NOT NULL AND coalesce(is_terminal, false) AND {clock} IS NOT NULL"
    # One pass: jobs counted per (period begun, period counted in); few pairs, summed after.
    sql = f"""
        SELECT {_slot("begin_time", period)} AS begun,
            CASE WHEN {ended} THEN {_slot(clock, period)} END AS counted{key},
            count(*) AS n,
            count(*) FILTER (status = '{JobStatus.SUCCESS}') AS success,
            count(*) FILTER (status = '{JobStatus.FAIL}') AS fail
        FROM jobs GROUP BY ALL"""
    columns = ["status", "is_terminal", "begin_time", "end_time"]
    with _connection(files, list(dict.fromkeys([*columns, groupby or "status"]))) as con:
        pairs = con.sql(sql).df()
    return rates_of_pairs(pairs, offset, groupby)


def _is_text(files: Sequence[str], column: str) -> bool:
    """Whether `column` is text (or missing) in every file: DuckDB's text is pandas' str."""
    for schema in _schemas(files):
        if column in schema.names:
            kind = schema.field(column).type
            if pa.types.is_dictionary(kind):
                kind = kind.value_type
            if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
                return False
    return True


def _slot(column: str, period: int) -> str:
    """The number of `column`'s period since the epoch, floored (also before 1970)."""
    us = f"epoch_us({column})"
    return f"CASE WHEN {us} >= 0 THEN {us} // {period} ELSE -((-{us} - 1) // {period}) - 1 END"


# --- failure_groups ------------------------------------------------------------------------


def failure_groups(files: Sequence[str], examples: int) -> pd.DataFrame:
    """`failures.failure_groups` of the files' jobs, exactly.

    DuckDB finds the distinct messages of the failures; each is masked once by
    `failures.distinct_templates`; then DuckDB groups the failures by error code and
    template, with their times, job types and latest examples. The failures are read twice
    rather than held: a second scan costs less than a million rows kept (time and memory).
    """
    columns = [
        *("job_id", "job_type", "status", "begin_time", "end_time"),
        *("error_code", "entity_error_code", "fail_reason", "entity_error"),
    ]
    latest = (
        f"max_by(job_id, (coalesce(epoch_us(seen), -9223372036854775807), job_id), {examples})"
        if examples
        else "[]::VARCHAR[]"
    )
    with _connection(files, columns) as con:
        con.execute(
            f"""CREATE TEMP VIEW fails AS SELECT
                coalesce(error_code, entity_error_code) AS code,
                {_message()} AS message,
                job_type, job_id, begin_time, end_time,
                coalesce(end_time, begin_time) AS seen
            FROM jobs WHERE status = '{JobStatus.FAIL}'"""
        )
        distinct = "SELECT DISTINCT message FROM fails WHERE message IS NOT NULL"
        messages = con.sql(distinct).to_arrow_table()["message"].combine_chunks()
        where, templates = failures.distinct_templates(messages)
        con.register("masks", pa.table({"message": messages, "template": templates.take(where)}))
        groups = con.execute(
            f"""SELECT code AS error_code, coalesce(template, {_literal(failures.NO_MESSAGE)})
                    AS template, count(*) AS count,
                min(begin_time) AS first_begun, max(begin_time) AS last_begun,
                min(end_time) AS first_ended, max(end_time) AS last_ended,
                string_agg(DISTINCT job_type, ', ' ORDER BY job_type) AS job_types,
                array_to_string({latest}, ', ') AS example_job_ids
            FROM fails LEFT JOIN masks USING (message)
            GROUP BY ALL"""
        ).df()
    if not len(groups):
        return failures._empty_groups()
    groups["group"] = [
        failures._group_key("" if pd.isna(c) else c, t)
        for c, t in zip(groups["error_code"], groups["template"], strict=True)
    ]
    groups["share"] = groups["count"] / groups["count"].sum()
    groups["example_job_ids"] = groups["example_job_ids"].where(
        groups["example_job_ids"] != "", np.nan
    )
    groups = groups.sort_values(
        ["count", "error_code", "template"], ascending=[False, True, True], na_position="last"
    )
    return failures._typed_groups(groups.reset_index(drop=True))


# --- findings' counts ----------------------------------------------------------------------


def binned_counts(files: Sequence[str], optional: Sequence[str]) -> pd.DataFrame | None:
    """`findings.binned_counts` of the files' jobs (`optional`: the frame's region, project).

    None (Dask counts) when an optional column is not text.
    """
    from jobtools.analysis import findings

    if not all(_is_text(files, c) for c in optional):
        return None
    fail, success = f"'{JobStatus.FAIL}'", f"'{JobStatus.SUCCESS}'"
    columns = [
        *("job_type", "status", "begin_time", "error_code", "entity_error_code"),
        *("fail_reason", "entity_error", *optional),
    ]
    with _connection(files, columns) as con:
        con.execute(
            f"""CREATE TEMP VIEW counted AS SELECT *, {_slot("begin_time", _US)} AS ms,
                status IN ({fail}, {success}) AS ended, status = {fail} AS failed,
                coalesce(error_code, entity_error_code) AS code, {_message()} AS message
            FROM jobs WHERE begin_time IS NOT NULL AND status IS NOT NULL"""
        )
        stats = "SELECT min(ms), max(ms), count(*) FILTER (ended) FROM counted"
        ((low, high, ended),) = con.sql(stats).fetchall()
        if not ended:
            return findings._empty_counts()
        width = findings._width(int(low), int(high))
        distinct = "SELECT DISTINCT message FROM counted WHERE failed AND message IS NOT NULL"
        messages = con.sql(distinct).to_arrow_table()["message"].combine_chunks()
        where, templates = failures.distinct_templates(messages)
        con.register("masks", pa.table({"message": messages, "template": templates.take(where)}))
        keys = "".join(
            f", CASE WHEN ended THEN coalesce({_quote(c)}, '') END AS {_quote(c)}" for c in optional
        )
        rows = con.sql(
            f"""SELECT ms // {width} AS bin, ended,
                CASE WHEN ended THEN coalesce(CAST(job_type AS VARCHAR), '') END AS job_type,
                CASE WHEN failed THEN code END AS code,
                CASE WHEN failed THEN coalesce(template, {_literal(failures.NO_MESSAGE)}) END
                    AS template{keys},
                count(*) AS n, count(*) FILTER (failed) AS fail, min(ms) AS first, max(ms) AS last
            FROM counted LEFT JOIN masks ON failed AND counted.message = masks.message
            GROUP BY ALL"""
        ).df()
    return _binned(rows, width, optional)


def _message() -> str:
    """A failure's message, as `failures._failures` takes it: its reason, unless blank."""
    # Blank unless it starts with something else: trimming every message costs seconds.
    blank = _literal(_WHITESPACE)
    return f"""coalesce(CASE WHEN NOT contains({blank}, left(fail_reason, 1))
        OR trim(fail_reason, {blank}) <> '' THEN fail_reason END, entity_error)"""


def _binned(rows: pd.DataFrame, width: int, optional: Sequence[str]) -> pd.DataFrame:
    """The grouped rows as `findings._count_chunk` makes them, combined by its own code."""
    from jobtools.analysis import findings

    ended = rows[rows["ended"].to_numpy(dtype=bool)].drop(columns="ended")
    failed = ended["code"].notna() | ended["template"].notna()
    pairs = ended.loc[failed, ["code", "template"]].drop_duplicates()
    key = {
        (c, t): failures._group_key("" if pd.isna(c) else c, t)
        for c, t in zip(pairs["code"], pairs["template"], strict=True)
    }
    ended["group"] = [
        key[(c, t)] if f else findings._EMPTY
        for c, t, f in zip(ended["code"], ended["template"], failed, strict=True)
    ]
    ended["error_code"] = ended["code"].where(ended["code"].notna(), findings._EMPTY)
    ended["template"] = ended["template"].where(ended["template"].notna(), findings._EMPTY)
    for name in findings._OPTIONAL:
        if name not in optional:
            ended[name] = findings._EMPTY
    # The first and last begin of each bin, over all its ended jobs.
    times = ended.groupby("bin").agg(first=("first", "min"), last=("last", "max"))
    ended = ended.drop(columns=["first", "last"]).join(times, on="bin")
    ended = ended.rename(columns={"n": "ended"}).assign(running=0, width=width)
    going = rows[~rows["ended"].to_numpy(dtype=bool)]
    running = going.groupby("bin")["n"].sum().rename("running").reset_index()
    running = running.assign(
        ended=0,
        fail=0,
        first=findings._NO_FIRST,
        last=findings._NO_LAST,
        width=width,
        **dict.fromkeys(findings._KEYS, findings._EMPTY),
    )
    parts = [findings._typed_counts(p) for p in (ended, running) if len(p)]
    return findings._combine_counts(pd.concat(parts, ignore_index=True))
