"""Job frames as Parquet: one file, or an archive partitioned by day that only ever grows.

A `.parquet` file holds one frame, read back equal (`pd.testing.assert_frame_equal`, dtypes
included): the contract's columns are stored in the schema table's Arrow types
(`jobtools.schema`) and Arrow's pandas metadata restores their dtypes; categories are named,
in their order, in our own metadata, with `attrs["unparsed_times"]`; other object columns
(a caller's own) are written as JSON text and decoded on reading.

An archive is a directory:

    archive/_jobtools_archive.json            the marker (format, version, partitioning)
    archive/day=2024-11-06/part-<stamp>.parquet
    archive/day=unknown/part-<stamp>.parquet  rows without a time to file them under

Each `write_archive` adds one file per day it has rows for and never touches a file already
there, so an archive is a log of fetches that a daily job appends to. The day is the UTC day
of `created_at` (the time read from the job id, which never changes for a job) where the
frame has that column, else of `begin_time`. Each file keeps its rows' positions in the frame
written (`_jobtools_row`), so `read_archive` gives back the frames in the order written, each
row where it was: the concatenation of all writes, equal to them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jobtools.schema import COLUMNS

__all__ = [
    "ARCHIVE_MARKER",
    "PARQUET_SUFFIXES",
    "archive_files",
    "is_archive",
    "read_archive",
    "read_parquet",
    "read_parts",
    "table_to_frame",
    "write_archive",
    "write_parquet",
]

PARQUET_SUFFIXES = frozenset({".parquet"})
ARCHIVE_MARKER = "_jobtools_archive.json"
PARTITIONINGS = ("day",)
# The key of our own entry in a Parquet file's metadata, beside Arrow's b"pandas".
_META_KEY = b"jobtools"
# Each row's position in the frame written, so that an archive reads back in that order.
ROW_COLUMN = "_jobtools_row"
_UNKNOWN_DAY = "unknown"
# The compression: zstd is both smaller and about as fast as snappy on these frames.
_COMPRESSION = "zstd"
COLUMNS_BY_NAME = {c.name: c for c in COLUMNS}


# --- one file -------------------------------------------------------------------------


def write_parquet(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a job frame to one Parquet file, read back equal by `read_parquet`."""
    path = Path(path)
    pq.write_table(frame_to_table(frame), path, compression=_COMPRESSION)
    return path


def read_parquet(path: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A Parquet file written by jobtools (or one with the same columns) as a job frame.

    Args:
        columns: read only these columns (Parquet is columnar: the others are not read).

    Raises:
        ValueError: the file is not Parquet (the message names it).
    """
    path = Path(path)
    try:
        # partitioning=None: a file under `day=...` is not a Hive dataset (pyarrow 18 adds
        # an inferred `day` column otherwise; 26 does not).
        wanted = None if columns is None else list(columns)
        table = pq.read_table(path, columns=wanted, partitioning=None)
    except (pa.ArrowInvalid, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a readable Parquet file ({exc})") from None
    return table_to_frame(table)


def frame_to_table(frame: pd.DataFrame, *, rows: np.ndarray | None = None) -> pa.Table:
    """The Arrow table written for `frame`: object columns as JSON text, attrs in metadata.

    `rows`: a `ROW_COLUMN` to add (archives keep each row's position in the frame written).
    """
    columns: dict[str, Any] = {}
    encoded = []
    for label, values in frame.items():
        name = str(label)
        if values.dtype == object:
            columns[name] = _json_text(values)
            encoded.append(name)
        else:
            columns[name] = values.array  # by position: the index is not written
    plain = pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))
    if rows is not None:
        plain[ROW_COLUMN] = rows
    table = _contract_types(pa.Table.from_pandas(plain, preserve_index=False))
    # Unparsed times are kept by row position: the index itself is not written.
    positions = {label: i for i, label in enumerate(frame.index)}
    unparsed = {
        column: [[positions[label], raw] for label, raw in values.items() if label in positions]
        for column, values in (frame.attrs.get("unparsed_times") or {}).items()
    }
    # Parquet keeps only the categories that occur (none in an empty file): name them all.
    categories = {
        str(name): values.cat.categories.tolist()
        for name, values in frame.items()
        if isinstance(values.dtype, pd.CategoricalDtype)
    }
    ours = {"version": 1, "json_columns": encoded, "categories": categories}
    return _with_ours(table, {**ours, "unparsed_times": unparsed})


def read_parts(
    units: Sequence[tuple[str | Path, int | None]], columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Row groups of files (None: the whole file) as one job frame, without the row column."""
    wanted = None if columns is None else [c for c in columns if c != ROW_COLUMN]
    tables = []
    for path, row_group in units:
        file = pq.ParquetFile(path)
        if row_group is None:
            table, offset = file.read(columns=wanted), 0
        else:
            table = file.read_row_group(row_group, columns=wanted)
            offset = sum(file.metadata.row_group(g).num_rows for g in range(row_group))
        ours = _ours(file.schema_arrow.empty_table())
        ours["unparsed_times"] = {
            column: [[p - offset, raw] for p, raw in pairs if 0 <= p - offset < table.num_rows]
            for column, pairs in ours.get("unparsed_times", {}).items()
        }
        tables.append(_with_ours(table, ours))
    combined, ours = _united(tables)
    if ROW_COLUMN in combined.column_names:
        combined = combined.drop_columns([ROW_COLUMN])
    return _decoded(combined.to_pandas(), ours)


def _contract_types(table: pa.Table) -> pa.Table:
    """The contract's columns in the Arrow types of the schema table, the same in every file."""
    fields = [
        pa.field(f.name, COLUMNS_BY_NAME[f.name].arrow_type) if f.name in COLUMNS_BY_NAME else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def _with_ours(table: pa.Table, ours: dict[str, Any]) -> pa.Table:
    metadata = {**(table.schema.metadata or {}), _META_KEY: orjson.dumps(ours, default=str)}
    return table.replace_schema_metadata(metadata)


def _ours(table: pa.Table) -> dict[str, Any]:
    found: dict[str, Any] = orjson.loads((table.schema.metadata or {}).get(_META_KEY, b"{}"))
    return found


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """Undo `frame_to_table` (a whole table, or some of its columns)."""
    return _decoded(table.to_pandas(), _ours(table))


def _decoded(frame: pd.DataFrame, ours: dict[str, Any]) -> pd.DataFrame:
    for name in ours.get("json_columns", []):
        if name in frame:
            frame[name] = _from_json_text(frame[name])
    for name, categories in ours.get("categories", {}).items():
        if name in frame:
            frame[name] = _categorical(frame[name], categories)
    unparsed = {
        column: {position: raw for position, raw in pairs if position < len(frame)}
        for column, pairs in ours.get("unparsed_times", {}).items()
        if column in frame
    }
    frame.attrs["unparsed_times"] = {column: found for column, found in unparsed.items() if found}
    return frame


def _categorical(values: pd.Series, categories: list[Any]) -> pd.Series:
    """`values` over exactly `categories` (in that order), typed as the frame's were."""
    index = pd.Index(categories, dtype="str") if categories else pd.Index([], dtype="str")
    text = values.astype("str") if not isinstance(values.dtype, pd.CategoricalDtype) else values
    dtype = pd.CategoricalDtype(index, ordered=getattr(values.dtype, "ordered", False))
    return pd.Series(pd.Categorical(text, dtype=dtype), index=values.index, name=values.name)


def _json_text(values: pd.Series) -> pa.Array:
    def dumps(value: Any) -> str | None:
        if value is None or (isinstance(value, float) and value != value):
            return None
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()

    return pa.array([dumps(value) for value in values.tolist()], type=pa.large_string())


def _from_json_text(values: pd.Series) -> pd.Series:
    loads = orjson.loads
    parsed = [None if not isinstance(v, str) else loads(v) for v in values.tolist()]
    objects = np.empty(len(parsed), dtype=object)
    objects[:] = parsed
    return pd.Series(objects, index=values.index, dtype=object, name=values.name)


# --- archives ---------------------------------------------------------------------------


def is_archive(path: str | Path) -> bool:
    """True for a directory that `write_archive` made."""
    return (Path(path) / ARCHIVE_MARKER).is_file()


def write_archive(frame: pd.DataFrame, folder: str | Path, partition_by: str = "day") -> Path:
    """Append a job frame to a Parquet archive (made when missing): one new file per day.

    Files already in the archive are never rewritten; two writers never pick the same name.

    Raises:
        ValueError: `partition_by` is not "day", or `folder` is an archive partitioned
            otherwise, or a directory with other files in it that is not an archive.
    """
    if partition_by not in PARTITIONINGS:
        raise ValueError(f"partition_by must be one of {PARTITIONINGS}, not {partition_by!r}")
    folder = Path(folder)
    marker = folder / ARCHIVE_MARKER
    if marker.is_file():
        found = json.loads(marker.read_text()).get("partition_by")
        if found != partition_by:
            raise ValueError(
                f"{folder} is an archive partitioned by {found!r}, not {partition_by!r}"
            )
    elif folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder} is a directory with files in it, not a jobtools archive")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(
            {"format": "jobtools-archive", "version": 1, "partition_by": partition_by}
        )
        marker.write_text(text + "\n")
    days = _days(frame)
    stamp = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
    codes, uniques = pd.factorize(days, sort=True)
    if not len(frame):
        # An empty frame still has columns and dtypes, which a reader needs: keep them.
        codes, uniques = np.empty(0, dtype=np.int64), np.array([_UNKNOWN_DAY])
    table = frame_to_table(frame, rows=np.arange(len(frame), dtype=np.int64))
    ours = _ours(table)
    unparsed = ours.pop("unparsed_times")
    for code, day in enumerate(uniques):
        rows = np.flatnonzero(codes == code)
        where = dict(zip(rows.tolist(), range(len(rows)), strict=True))
        mine = {
            column: [[where[p], raw] for p, raw in pairs if p in where]
            for column, pairs in unparsed.items()
        }
        part = _with_ours(table.take(pa.array(rows)), {**ours, "unparsed_times": mine})
        directory = folder / f"day={day}"
        directory.mkdir(exist_ok=True)
        # Written under a temporary name and renamed: a reader never sees half a file.
        partial = directory / f".{stamp}.tmp"
        pq.write_table(part, partial, compression=_COMPRESSION)
        partial.rename(directory / stamp)
    return folder


def _days(frame: pd.DataFrame) -> np.ndarray:
    """The UTC day (`YYYY-MM-DD`, or "unknown") each row is filed under."""
    when = frame["begin_time"] if "begin_time" in frame else pd.Series(pd.NaT, index=frame.index)
    if "created_at" in frame:
        when = frame["created_at"].fillna(when)
    text = when.dt.strftime("%Y-%m-%d") if len(when) else when.astype(object)
    return np.asarray(text.astype(object).where(when.notna(), _UNKNOWN_DAY), dtype=object)


def archive_files(folder: str | Path, days: Iterable[str] | None = None) -> list[Path]:
    """The archive's files in the order written (`days`: only those `YYYY-MM-DD` days)."""
    folder = Path(folder)
    if not is_archive(folder):
        raise FileNotFoundError(f"not a jobtools archive (no {ARCHIVE_MARKER}): {folder}")
    wanted = None if days is None else {f"day={day}" for day in days}
    files = [
        path
        for path in folder.glob("day=*/part-*.parquet")
        if wanted is None or path.parent.name in wanted
    ]
    return sorted(files, key=lambda path: (path.name, path.parent.name))


def read_archive(folder: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Every frame appended to the archive, concatenated in the order written (RangeIndex).

    Raises:
        FileNotFoundError: `folder` is not an archive, or it has no files yet.
    """
    files = archive_files(folder)
    if not files:
        raise FileNotFoundError(f"no Parquet files in the archive {folder}")
    wanted = None if columns is None else [*columns, ROW_COLUMN]
    numbers = _batch_numbers(files)
    # Write by write: its files read, its rows put back in the order written (one write's
    # worth of copying at a time, not the whole archive's), the files let go.
    batches = []
    for number in sorted(set(numbers)):
        mine = [
            pq.read_table(p, columns=wanted, partitioning=None)  # no inferred `day` column
            for p, n in zip(files, numbers, strict=True)
            if n == number
        ]
        table, ours = _united(mine)
        del mine
        order = np.argsort(table.column(ROW_COLUMN).to_numpy(), kind="stable")
        where = np.empty(len(order), dtype=np.int64)
        where[order] = np.arange(len(order))
        ours["unparsed_times"] = {
            column: [[int(where[p]), raw] for p, raw in pairs]
            for column, pairs in ours["unparsed_times"].items()
        }
        ordered = table.drop_columns([ROW_COLUMN]).take(pa.array(order))
        batches.append(_with_ours(ordered, ours))
        del table, ordered
    combined, ours = _united(batches)
    del batches
    # Arrow's memory is released column by column as pandas takes it over.
    frame = combined.to_pandas(self_destruct=True, split_blocks=True)
    del combined
    return _decoded(frame, ours)


def _united(tables: list[pa.Table]) -> tuple[pa.Table, dict[str, Any]]:
    """Tables as one (Arrow unites their dictionaries), and their metadata as one."""
    ours: dict[str, Any] = {"json_columns": [], "categories": {}, "unparsed_times": {}}
    offset = 0
    for table in tables:
        found = _ours(table)
        ours["json_columns"] = list(dict.fromkeys([*ours["json_columns"], *found["json_columns"]]))
        for name, categories in found["categories"].items():
            known = ours["categories"].setdefault(name, [])
            known.extend(c for c in categories if c not in known)
        for column, pairs in found["unparsed_times"].items():
            ours["unparsed_times"].setdefault(column, []).extend(
                [offset + position, raw] for position, raw in pairs
            )
        offset += table.num_rows
    # One table, converted to pandas once; the pandas metadata of the first file types it.
    pandas_meta = {b"pandas": tables[0].schema.metadata[b"pandas"]}
    tables = [t.replace_schema_metadata(pandas_meta) for t in tables]
    return pa.concat_tables(tables, promote_options="permissive"), ours


def _batch_numbers(files: list[Path]) -> list[int]:
    """For each file (in written order), the number of the write it came from."""
    names = [path.name for path in files]
    codes, _ = pd.factorize(pd.Series(names), sort=True)
    return codes.tolist()


def concat_frames(frames: list[pd.DataFrame], order: np.ndarray | None = None) -> pd.DataFrame:
    """Frames as one, categories united (known ones first), rows in `order`, a RangeIndex."""
    offsets = np.cumsum([0, *(len(f) for f in frames)])
    unparsed: dict[str, dict[Any, Any]] = {}
    for offset, frame in zip(offsets.tolist(), frames, strict=False):
        for column, values in (frame.attrs.get("unparsed_times") or {}).items():
            unparsed.setdefault(column, {}).update(
                {offset + frame.index.get_loc(label): raw for label, raw in values.items()}
            )
    frames = _united_categories(frames)
    combined = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].copy()
    if order is not None:
        combined = combined.iloc[order].reset_index(drop=True)
        where = np.empty(len(order), dtype=np.int64)
        where[order] = np.arange(len(order))
        unparsed = {c: {int(where[k]): v for k, v in vs.items()} for c, vs in unparsed.items()}
    combined.attrs = {"unparsed_times": unparsed}
    return combined


def _united_categories(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """Give every categorical column the same categories in all frames (first seen order)."""
    if len(frames) < 2:
        return frames
    united: dict[str, list[Any]] = {}
    for frame in frames:
        for name, values in frame.items():
            if isinstance(values.dtype, pd.CategoricalDtype):
                known = united.setdefault(str(name), [])
                seen = set(known)
                known.extend(c for c in values.cat.categories if c not in seen)
    out = []
    for frame in frames:
        changes = {
            name: frame[name].cat.set_categories(categories)
            for name, categories in united.items()
            if name in frame and list(frame[name].cat.categories) != categories
        }
        out.append(frame.assign(**changes) if changes else frame)
    return out
