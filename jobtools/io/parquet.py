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
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jobtools.errors import BadFileError
from jobtools.schema import COLUMNS, Kind, cast_frame
from jobtools.times import parse_job_times

__all__ = [
    "ARCHIVE_MARKER",
    "ArchiveMode",
    "BadFileError",
    "OnBadFiles",
    "PARQUET_SUFFIXES",
    "archive_files",
    "check_part",
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
# The archive layouts this version reads and writes (the marker's "version").
ARCHIVE_VERSIONS = (1,)
OnBadFiles = Literal["error", "skip"]
ArchiveMode = Literal["append", "overwrite", "error"]
# What makes two rows the same observation of a job, for `write_archive`: a wait's rows carry
# their observation time; a fetch's rows are the same when the job's state is.
_SAME_ROW = (("job_id", "observed_at"), ("job_id", "status", "end_time", "process_percent"))


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
        # partitioning=None: a file under `day=...` is not a Hive dataset (pyarrow 18 and 19 add
        # an inferred `day` column otherwise; 26 does not).
        wanted = None if columns is None else list(columns)
        table = pq.read_table(path, columns=wanted, partitioning=None)
    except (pa.ArrowInvalid, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise BadFileError(path, f"not a readable Parquet file ({exc})") from None
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
        if not _is_ours(file.schema_arrow):
            # Another tool's file: read whole (missing columns are derived from the others),
            # brought into the contract, then typed as ours.
            table = file.read() if row_group is None else file.read_row_group(row_group)
            frame = table_to_frame(table)
            keep = [c for c in frame.columns if wanted is None or c in wanted]
            tables.append(frame_to_table(frame[keep]))
            continue
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


def _is_ours(schema: pa.Schema) -> bool:
    return _META_KEY in (schema.metadata or {})


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """Undo `frame_to_table` (a whole table, or some of its columns).

    A table another tool wrote (pandas' `to_parquet`, Spark) is brought into the contract
    as a CSV is: times to UTC (Spark's int96 and naive times are taken as UTC), categories,
    nested values as JSON text, missing job columns derived or added empty and named in
    `attrs["missing_columns"]`.
    """
    if not _is_ours(table.schema):
        return _foreign(table)
    return _decoded(table.to_pandas(), _ours(table))


def _foreign(table: pa.Table) -> pd.DataFrame:
    from jobtools.io.files import _completed

    # Spark's and pandas' metadata restore their own dtypes, not the contract's.
    frame = table.replace_schema_metadata(None).to_pandas()
    columns: dict[str, Any] = {}
    for label, values in frame.items():
        name = str(label)
        column = COLUMNS_BY_NAME.get(name)
        if column is not None and column.kind is Kind.TIME:
            values = _utc_times(values)
        elif column is not None and column.kind is Kind.TIMEDELTA:
            if not pd.api.types.is_timedelta64_dtype(values.dtype):
                values = pd.to_timedelta(pd.to_numeric(values, errors="coerce"), unit="s")
        elif column is not None and column.kind is Kind.JSON and values.dtype == object:
            values = _from_json_text(values)
            values = pd.Series(_json_text(values).to_pylist(), index=frame.index, dtype="str")
        columns[name] = values
    out = pd.DataFrame(columns, index=frame.index)
    out, absent = _completed(out)
    out = cast_frame(out)
    out.attrs = {"unparsed_times": {}, "missing_columns": absent, "foreign": True}
    return out


def _utc_times(values: pd.Series) -> pd.Series:
    """Times of another tool's file in UTC: naive ones (Spark's int96) taken as UTC."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        out: pd.Series = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        out = values.dt.tz_localize("UTC")
    elif pd.api.types.is_numeric_dtype(values.dtype):  # milliseconds since the epoch
        out = pd.Series(pd.to_datetime(values, unit="ms", utc=True), index=values.index)
    else:
        return parse_job_times(values.astype("str"))
    return out.astype("datetime64[us, UTC]")


def _decoded(frame: pd.DataFrame, ours: dict[str, Any]) -> pd.DataFrame:
    for name in ours.get("json_columns", []):
        if name in frame:
            frame[name] = _from_json_text(frame[name])
    for name, categories in ours.get("categories", {}).items():
        if name in frame:
            # The contract's own categories first, in its order, whatever the metadata says.
            column = COLUMNS_BY_NAME.get(name)
            known = list(column.categories) if column is not None else []
            named = [*known, *(c for c in categories if c not in set(known))]
            frame[name] = _categorical(frame[name], named)
    unparsed = {
        column: {position: raw for position, raw in pairs if position < len(frame)}
        for column, pairs in ours.get("unparsed_times", {}).items()
        if column in frame
    }
    frame.attrs["unparsed_times"] = {column: found for column, found in unparsed.items() if found}
    return frame


def _categorical(values: pd.Series, categories: list[Any]) -> pd.Series:
    """`values` over `categories` (in that order), then any value the metadata did not name.

    The metadata is a hint, checked: a file merged by another tool (`pa.concat_tables`) or
    edited keeps one file's list, and a value outside it is still that value, never NaN.
    """
    text = values.astype("str") if not isinstance(values.dtype, pd.CategoricalDtype) else values
    present = text.cat.categories if isinstance(text.dtype, pd.CategoricalDtype) else text.unique()
    named = set(categories)
    seen = [str(v) for v in present if not pd.isna(v) and str(v) not in named]
    categories = [*categories, *sorted(set(seen))]
    index = pd.Index(categories, dtype="str") if categories else pd.Index([], dtype="str")
    dtype = pd.CategoricalDtype(index, ordered=getattr(values.dtype, "ordered", False))
    return pd.Series(pd.Categorical(text, dtype=dtype), index=values.index, name=values.name)


def _json_text(values: pd.Series) -> pa.Array:
    def dumps(value: Any) -> str | None:
        if value is None or (isinstance(value, float) and value != value):
            return None
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()

    return pa.array([dumps(value) for value in values.tolist()], type=pa.large_string())


def _from_json_text(values: pd.Series) -> pd.Series:
    def loads(value: Any) -> Any:
        if not isinstance(value, str | bytes):
            return None if value is None or value is pd.NA or value != value else value
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value

    parsed = [loads(v) for v in values.tolist()]
    objects = np.empty(len(parsed), dtype=object)
    objects[:] = parsed
    return pd.Series(objects, index=values.index, dtype=object, name=values.name)


# --- archives ---------------------------------------------------------------------------


def is_archive(path: str | Path) -> bool:
    """True for a directory that `write_archive` made."""
    return (Path(path) / ARCHIVE_MARKER).is_file()


def _checked_marker(folder: Path) -> dict[str, Any]:
    """The archive's marker, refused when it is not one this version knows."""
    marker = folder / ARCHIVE_MARKER
    try:
        found = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{marker}: not a readable archive marker ({exc})") from None
    if not isinstance(found, dict) or found.get("format") != "jobtools-archive":
        raise ValueError(f"{marker}: not a jobtools archive marker")
    if found.get("version") not in ARCHIVE_VERSIONS:
        raise ValueError(
            f"{marker}: archive version {found.get('version')!r} is not one this jobtools "
            f"knows ({', '.join(map(str, ARCHIVE_VERSIONS))}); a newer jobtools wrote it: "
            "upgrade to read or add to it"
        )
    return found


def write_archive(
    frame: pd.DataFrame,
    folder: str | Path,
    partition_by: str = "day",
    *,
    mode: ArchiveMode = "append",
) -> Path:
    """Add a job frame to a Parquet archive (made when missing): one new file per day.

    Files already in the archive are never rewritten; two writers never pick the same name.

    Args:
        mode: `"append"` (default) writes the rows the archive does not hold yet: a row is
            held when one with the same `job_id` and `observed_at` (a wait's observation)
            is there, or, without `observed_at`, the same `job_id`, `status`, `end_time` and
            `process_percent`; so writing the same frame twice (a notebook cell run again)
            adds nothing, with a warning counting what was left out. `"error"` refuses a
            frame with any such row; `"overwrite"` replaces everything the archive holds.

    Raises:
        ValueError: `partition_by` is not "day", or `folder` is an archive partitioned
            otherwise or of an unknown version, or a directory with other files in it that
            is not an archive; rows already there with `mode="error"`.
    """
    if partition_by not in PARTITIONINGS:
        raise ValueError(f"partition_by must be one of {PARTITIONINGS}, not {partition_by!r}")
    if mode not in ("append", "overwrite", "error"):
        raise ValueError(f'mode must be "append", "overwrite" or "error", not {mode!r}')
    folder = Path(folder)
    marker = folder / ARCHIVE_MARKER
    replaced: list[Path] = []
    if marker.is_file():
        found = _checked_marker(folder).get("partition_by")
        if found != partition_by:
            raise ValueError(
                f"{folder} is an archive partitioned by {found!r}, not {partition_by!r}"
            )
        if mode == "overwrite":
            replaced = archive_files(folder)
        else:
            new = _new_rows(frame, folder, mode)
            if new is None:
                return folder
            frame = new
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
    # Overwriting: the old files go only once the new ones are all there.
    for path in replaced:
        path.unlink(missing_ok=True)
    return folder


def _new_rows(frame: pd.DataFrame, folder: Path, mode: ArchiveMode) -> pd.DataFrame | None:
    """The rows of `frame` the archive does not hold yet (None: none, and nothing to write)."""
    key = next((k for k in _SAME_ROW if set(k) <= set(frame.columns)), None)
    if key is None or not len(frame):
        return frame
    days = sorted(set(_days(frame).tolist()))
    held = []
    for path in archive_files(folder, days):
        schema = pq.read_schema(path)
        if set(key) <= set(schema.names):
            held.append(pq.read_table(path, columns=list(key)).to_pandas())
    if not held:
        return frame
    old = _row_keys(pd.concat(held, ignore_index=True), key)
    # A row without a job id names no job: it is never taken for one already there.
    repeated = _row_keys(frame, key).isin(old) & frame["job_id"].notna().to_numpy()
    count = int(repeated.sum())
    if not count:
        return frame
    said = f"{count:,} of the {len(frame):,} rows are already in the archive {folder}"
    if mode == "error":
        raise ValueError(f"{said} (same {', '.join(key)}); mode='append' adds only the others")
    warnings.warn(f"{said} (same {', '.join(key)}): not written again", stacklevel=3)
    if count == len(frame):
        return None
    out = frame[~repeated].reset_index(drop=True)
    out.attrs = {}  # unparsed times are by row label: the kept rows' labels changed
    return out


def _row_keys(frame: pd.DataFrame, key: Sequence[str]) -> pd.Index:
    """The rows' `key` values as one text per row, alike for equal values of any dtype."""
    parts = []
    for name in key:
        values = frame[name]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            values = values.dt.tz_convert("UTC").astype("datetime64[us, UTC]").astype("int64")
        text = values.astype(object).where(values.notna(), None).astype("str")
        parts.append(text.fillna("\x00"))
    text = parts[0]
    for part in parts[1:]:
        text = text + "\x1f" + part
    return pd.Index(text.to_numpy())


def _days(frame: pd.DataFrame) -> np.ndarray:
    """The UTC day (`YYYY-MM-DD`, or "unknown") each row is filed under."""
    when = frame["begin_time"] if "begin_time" in frame else pd.Series(pd.NaT, index=frame.index)
    if "created_at" in frame:
        when = frame["created_at"].fillna(when)
    text = when.dt.strftime("%Y-%m-%d") if len(when) else when.astype(object)
    return np.asarray(text.astype(object).where(when.notna(), _UNKNOWN_DAY), dtype=object)


def archive_files(folder: str | Path, days: Iterable[str] | None = None) -> list[Path]:
    """The archive's files in the order written (`days`: only those `YYYY-MM-DD` days).

    Raises:
        FileNotFoundError: not an archive.
        ValueError: an archive marker of a version this jobtools does not know.
    """
    folder = Path(folder)
    if not is_archive(folder):
        raise FileNotFoundError(f"not a jobtools archive (no {ARCHIVE_MARKER}): {folder}")
    _checked_marker(folder)
    wanted = None if days is None else {f"day={day}" for day in days}
    files = [
        path
        for path in folder.glob("day=*/part-*.parquet")
        if wanted is None or path.parent.name in wanted
    ]
    return sorted(files, key=lambda path: (path.name, path.parent.name))


def read_archive(
    folder: str | Path,
    columns: Sequence[str] | None = None,
    *,
    on_bad_files: OnBadFiles = "error",
) -> pd.DataFrame:
    """Every frame appended to the archive, concatenated in the order written (RangeIndex).

    Args:
        on_bad_files: a part file that is not the archive's own (another tool's, a
            different layout, damaged) is an error naming it by default; `"skip"` reads the
            others, warns naming the skipped ones and lists them in `attrs["skipped_files"]`
            as `{"file", "error"}`.

    Raises:
        FileNotFoundError: `folder` is not an archive, or it has no files yet.
        BadFileError: a part file that cannot be read with the others (the message names it).
    """
    files = archive_files(folder)
    if not files:
        raise FileNotFoundError(f"no Parquet files in the archive {folder}")
    wanted = None if columns is None else [*columns, ROW_COLUMN]
    numbers = _batch_numbers(files)
    skipped: list[dict[str, str]] = []
    # Write by write: its files read, its rows put back in the order written (one write's
    # worth of copying at a time, not the whole archive's), the files let go.
    batches = []
    for number in sorted(set(numbers)):
        mine = []
        for path, n in zip(files, numbers, strict=True):
            if n != number:
                continue
            try:
                mine.append(_part(path, wanted))
            except BadFileError as exc:
                if on_bad_files != "skip":
                    raise
                skipped.append({"file": exc.path, "error": exc.reason})
        if not mine:
            continue
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
    if skipped:
        _warn_skipped(skipped)
    if not batches:
        raise FileNotFoundError(f"no readable Parquet files in the archive {folder}")
    combined, ours = _united(batches)
    del batches
    # Arrow's memory is released column by column as pandas takes it over.
    frame = combined.to_pandas(self_destruct=True, split_blocks=True)
    del combined
    frame = _decoded(frame, ours)
    if skipped:
        frame.attrs["skipped_files"] = skipped
    return frame


def _part(path: Path, columns: list[str] | None) -> pa.Table:
    """One part file of an archive, checked: the archive's own layout and the contract's types."""
    check_part(path)
    try:
        table = pq.read_table(path, columns=columns, partitioning=None)  # no inferred `day`
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadFileError(path, f"not a readable Parquet file ({exc})") from None
    try:
        return _contract_types(table)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise BadFileError(path, f"its columns do not fit the frame's types ({exc})") from None


def check_part(path: str | Path) -> None:
    """Raise BadFileError unless `path`'s footer shows a part file of an archive of ours.

    Only the footer is read: the archive's own metadata and row positions, and every
    contract column in its contract type (or one that casts to it without loss).
    """
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadFileError(path, f"not a readable Parquet file ({exc})") from None
    if not _is_ours(schema) or ROW_COLUMN not in schema.names:
        raise BadFileError(
            path, "not written by write_archive (no jobtools metadata or row positions)"
        )
    for field in schema:
        column = COLUMNS_BY_NAME.get(field.name)
        if column is not None and not _same_kind(field.type, column.arrow_type):
            raise BadFileError(
                path, f"column {field.name} is {field.type}, not {column.arrow_type}"
            )


def _same_kind(found: pa.DataType, wanted: pa.DataType) -> bool:
    """Whether a stored type is the contract's, or one that casts to it without loss."""
    if found == wanted:
        return True
    # Text, plain or as a dictionary, is text: a category stored plain casts to one.
    if pa.types.is_dictionary(found):
        found = found.value_type
    if pa.types.is_dictionary(wanted):
        wanted = wanted.value_type
    text = (pa.types.is_string, pa.types.is_large_string)
    if any(f(found) for f in text) and any(f(wanted) for f in text):
        return True
    if pa.types.is_timestamp(found) and pa.types.is_timestamp(wanted):
        return found.tz is not None  # a naive time says nothing of its zone
    if pa.types.is_integer(found):
        return bool(pa.types.is_integer(wanted) or pa.types.is_floating(wanted))
    return bool(pa.types.is_floating(found) and pa.types.is_floating(wanted))


def _warn_skipped(skipped: list[dict[str, str]]) -> None:
    from jobtools.io.files import CorruptInputWarning

    shown = "; ".join(f"{s['file']} ({s['error']})" for s in skipped[:5])
    more = f", and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    warnings.warn(
        f"skipped {len(skipped)} unreadable file(s): {shown}{more}",
        CorruptInputWarning,
        stacklevel=4,
    )


def _united(tables: list[pa.Table]) -> tuple[pa.Table, dict[str, Any]]:
    """Tables as one (Arrow unites their dictionaries), and their metadata as one."""
    ours: dict[str, Any] = {"json_columns": [], "categories": {}, "unparsed_times": {}}
    offset = 0
    for table in tables:
        found = _ours(table)
        json_columns = found.get("json_columns", [])
        ours["json_columns"] = list(dict.fromkeys([*ours["json_columns"], *json_columns]))
        for name, categories in found.get("categories", {}).items():
            known = ours["categories"].setdefault(name, [])
            known.extend(c for c in categories if c not in known)
        for column, pairs in found.get("unparsed_times", {}).items():
            ours["unparsed_times"].setdefault(column, []).extend(
                [offset + position, raw] for position, raw in pairs
            )
        offset += table.num_rows
    # One table, converted to pandas once; the pandas metadata of the first file types it.
    first = tables[0].schema.metadata or {}
    pandas_meta = {b"pandas": first[b"pandas"]} if b"pandas" in first else None
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
