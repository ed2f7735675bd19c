"""Job archives as one lazy Dask DataFrame: `read_jobs_dask` (needs the `jobtools[dask]` extra).

The frame's columns and dtypes are exactly those of `read_jobs` on the same files (its `meta`
is the contract's empty frame), and each partition is what `read_jobs` makes of its piece:

* a Parquet archive (`write_jobs(..., partition_by="day")`) or `.parquet` files: row
  groups of consecutive files gathered into partitions of about `rows` rows, reading only
  the columns a computation uses;
* JSONL files (`.jsonl`, `.ndjson`), a glob of them or a directory: each file cut into
  byte ranges of about `blocksize`, at line boundaries, each read as `read_jobs` reads
  JSONL (the compiled scanner, or orjson);
* `.csv` files written by `write_jobs`, and `.json` files: one partition per file.

A corrupt line is reported with its file and its line number in that file, as `read_jobs`
does: `errors="raise"` fails the computation with `CorruptInputError` (listing the bad
lines of the first partition that has any); `"warn"` skips it
with a `CorruptInputWarning`, which on a `distributed` cluster reaches the client too.

The columns are those of the first file (of its first MiB, for JSONL): a column that only
later files have is left out, one they lack is missing there. Rows come file by file
(Parquet files after the others), each partition with its own RangeIndex (`.compute()` then
has repeated labels: `reset_index(drop=True)` gives `read_jobs`' index). An archive's
partitions are in the order written, but a write's rows are grouped by day there;
`read_jobs` restores their order.
"""

from __future__ import annotations

import codecs
import glob
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import dask
import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jobtools.errors import CorruptInputError, CorruptInputWarning, describe_problems
from jobtools.frame import jobs_to_frame
from jobtools.io import files, parquet
from jobtools.io._jsonl import read_lines
from jobtools.schema import cast_frame
from jobtools.times import LegacyTz

__all__ = ["parquet_files", "read_jobs_dask"]

Errors = Literal["warn", "raise"]
Kind = Literal["parquet", "lines", "csv", "json"]

# About 64 MiB of JSONL (~180,000 records) makes a partition of ~75 MB, and its reading peaks
# at a few times that: small enough for a worker of 2 GB with room for several at once.
BLOCKSIZE = 64 * 2**20
# read_jobs' defaults for CSV and JSON files: detected encoding and separator, naive times UTC.
_READ_OPTIONS: dict[str, Any] = {"encoding": None, "sep": None, "tz": "UTC"}
# An archive's row groups are gathered into partitions of about this many rows (~125 MB of
# frame when every column is read, a fraction of that for the few an analysis reads). Half a
# million rather than a million: at 10M records a worker peaked at 0.82 GiB, not 0.95, in
# the same time (benchmarks/bench_archive.py).
ROWS = 500_000
# How much of the first JSONL file is read to learn its columns.
_SAMPLE_BYTES = 1 << 20


@dataclass(frozen=True)
class _Piece:
    """One partition's input: a file, a byte range of it, or Parquet row groups of files."""

    kind: Kind
    path: str
    start: int = 0
    end: int = -1
    row_groups: tuple[tuple[str, int], ...] = ()


def read_jobs_dask(
    paths: str | Path | Iterable[str | Path],
    *,
    blocksize: int = BLOCKSIZE,
    rows: int = ROWS,
    errors: Errors = "warn",
    legacy_tz: LegacyTz | None = None,
    on_bad_files: parquet.OnBadFiles = "error",
) -> dd.DataFrame:
    """A lazy Dask DataFrame of job records: archives, `.parquet`, JSONL, `.csv`, `.json` files.

    Args:
        paths: a file, a directory (an archive, or the readable files in it), a glob such as
            `"logs/*.jsonl"`, or a list of these.
        blocksize: the bytes of JSONL per partition (cut at line boundaries).
        rows: the rows of Parquet per partition, about (whole row groups are gathered).
        errors: `"warn"` skips corrupt lines with a CorruptInputWarning; `"raise"` fails the
            computation with CorruptInputError naming file and line.
        legacy_tz: as for `read_jobs` (JSON and JSONL); by default decided from the ids of
            each block.
        on_bad_files: an archive's part file that is not its own (another tool's, drifted,
            damaged, as its footer shows) is an error naming it; `"skip"` leaves it out with
            a CorruptInputWarning naming it. Parquet files given by name may be another
            tool's: they are brought into the contract as `read_jobs` does.

    Raises:
        FileNotFoundError: a path or glob that matches nothing.
        ValueError: an unsupported file type, or a bad `errors` or `blocksize`.
    """
    if errors not in ("warn", "raise"):
        raise ValueError(f'errors must be "warn" or "raise", not {errors!r}')
    if blocksize < 1 or rows < 1:
        raise ValueError(f"blocksize and rows must be positive, not {blocksize} and {rows}")
    inputs = _inputs(paths, on_bad_files)
    pieces = [
        piece
        for kind, path in inputs
        if kind != "parquet"
        for piece in _pieces(kind, path, blocksize)
    ]
    pieces += _parquet_pieces([path for kind, path in inputs if kind == "parquet"], rows)
    options = {**_READ_OPTIONS, "legacy_tz": legacy_tz}
    meta = _meta(*inputs[0], options)
    reader = _Reader(meta=meta, errors=errors, options=options)
    # Dask would turn our `str` columns (NaN for missing) into its own string dtype (NA).
    with dask.config.set({"dataframe.convert-string": False}):
        frame: dd.DataFrame = dd.from_map(
            reader, pieces, meta=meta, label="read-jobs", enforce_metadata=False
        )
    return frame


def parquet_files(frame: dd.DataFrame) -> list[str] | None:
    """The Parquet files `frame` reads as they are: jobtools' own files, none left out.

    None when the frame is anything else: JSONL or CSV, another tool's Parquet (brought into
    the contract on reading), or the read followed by more than a choice of columns (a
    filter, new columns). Those files can then be answered by another engine over them
    (`analysis._duckdb`) with the same result as the frame.
    """
    expr = frame.expr
    while type(expr).__name__ == "Projection":  # frame[columns]: still every row
        expr = expr.frame
    try:
        reader, pieces = expr.operand("func"), expr.operand("iterables")[0]
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return None
    if not isinstance(reader, _Reader) or not all(
        isinstance(p, _Piece) and p.kind == "parquet" for p in pieces
    ):
        return None
    groups = {group for piece in pieces for group in piece.row_groups}
    found = list(dict.fromkeys(path for piece in pieces for path, _ in piece.row_groups))
    if not found:  # no rows at all: nothing to gain
        return None
    for path in found:
        metadata = pq.ParquetFile(path).metadata
        every = {(path, g) for g in range(metadata.num_row_groups)}
        schema = metadata.schema.to_arrow_schema()
        duration = schema.field("duration").type if "duration" in schema.names else None
        if (
            not parquet._is_ours(schema)
            or not every <= groups
            or (duration is not None and duration != pa.duration("us"))
        ):
            return None
    return found


# --- what to read -----------------------------------------------------------------------


def _inputs(
    paths: str | Path | Iterable[str | Path], on_bad_files: parquet.OnBadFiles = "error"
) -> list[tuple[Kind, Path]]:
    """Every file to read, with its kind, in order."""
    given = [paths] if isinstance(paths, str | Path) else list(paths)
    found: list[tuple[Kind, Path]] = []
    for item in given:
        path = Path(item)
        if parquet.is_archive(path):
            found += [("parquet", p) for p in _good_parts(path, on_bad_files)]
        elif path.is_dir():
            found += [(_kind(p), p) for p in files._files(path)]
        elif path.is_file():
            found.append((_kind(path), path))
        else:
            matches = sorted(glob.glob(str(item)))
            if not matches:
                raise FileNotFoundError(f"no such file, directory or match: {item}")
            found += [(_kind(Path(m)), Path(m)) for m in matches if Path(m).is_file()]
    if not found:
        raise FileNotFoundError(f"no files to read in {paths!r}")
    return found


def _good_parts(folder: Path, on_bad_files: parquet.OnBadFiles) -> list[Path]:
    """The archive's part files whose footers are its own; the others refused or skipped."""
    good, skipped = [], []
    for path in parquet.archive_files(folder):
        try:
            parquet.check_part(path)
        except parquet.BadFileError as exc:
            if on_bad_files != "skip":
                raise
            skipped.append({"file": exc.path, "error": exc.reason})
        else:
            good.append(path)
    if skipped:
        parquet._warn_skipped(skipped)
    return good


def _kind(path: Path) -> Kind:
    suffix = path.suffix.lower()
    if suffix in parquet.PARQUET_SUFFIXES:
        return "parquet"
    if suffix in files.LINES_SUFFIXES:
        return "lines"
    if suffix in files.CSV_SUFFIXES:
        return "csv"
    if suffix in files.JSON_SUFFIXES:
        return "json"
    raise ValueError(f"cannot read {path}: expected .json, .jsonl, .ndjson, .csv or .parquet")


def _pieces(kind: Kind, path: Path, blocksize: int) -> list[_Piece]:
    if kind == "lines":
        size = path.stat().st_size
        starts = range(0, max(size, 1), blocksize)
        return [_Piece(kind, str(path), s, min(s + blocksize, size)) for s in starts]
    return [_Piece(kind, str(path))]


def _parquet_pieces(paths: list[Path], rows: int) -> list[_Piece]:
    """Row groups of consecutive files gathered into partitions of about `rows` rows.

    An archive's files are small (one day of one write): a partition each would spend more
    on scheduling than on reading.
    """
    pieces: list[_Piece] = []
    gathered: list[tuple[str, int]] = []
    count = 0
    for path in paths:
        try:
            metadata = pq.ParquetFile(path).metadata
        except (pa.ArrowInvalid, OSError) as exc:
            raise parquet.BadFileError(path, f"not a readable Parquet file ({exc})") from None
        for group in range(metadata.num_row_groups):
            gathered.append((str(path), group))
            count += metadata.row_group(group).num_rows
            if count >= rows:
                pieces.append(_Piece("parquet", str(path), row_groups=tuple(gathered)))
                gathered, count = [], 0
    if gathered or (paths and not pieces):
        pieces.append(_Piece("parquet", str(paths[-1]), row_groups=tuple(gathered)))
    return pieces


def _meta(kind: Kind, path: Path, options: dict[str, Any]) -> pd.DataFrame:
    """The frame's empty form: the columns of the first file, in the contract's dtypes."""
    if kind == "parquet":
        sample = parquet.table_to_frame(pq.read_schema(path).empty_table())
        sample = sample.drop(columns=parquet.ROW_COLUMN, errors="ignore")
    elif kind == "lines":
        data = _line_range(Path(path), 0, min(_SAMPLE_BYTES, path.stat().st_size))
        sample = files._with_columns(read_lines(data, path, options["legacy_tz"])[0])
    elif kind == "csv":
        header = _csv_header(path)
        text = pd.DataFrame({name: pd.Series([], dtype="str") for name in header})
        sample = files._from_csv_frame(text)
    else:
        sample = files._read_file(path, **options)[0]
    empty = sample.iloc[:0]
    # The categories of the contract (statuses, outcomes), not those of the sample.
    typed = cast_frame(empty)
    typed.attrs = {}
    return typed


def _csv_header(path: Path) -> list[str]:
    """The column names of a CSV, read as `read_jobs` reads it (encoding, `sep=` line)."""
    from jobtools.io._csv import CsvError, decode_text, sniff_header

    with path.open("rb") as file:
        head = file.read(1 << 16)
    text = decode_text(head, path, final=len(head) < 1 << 16)[0] if head.strip() else ""
    if not text.strip():
        raise CsvError(str(path), "the file is empty: no header line, no rows")
    return sniff_header(text)


# --- reading one piece ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Reader:
    """Reads one piece into a partition; Dask passes `columns` to read only what it uses."""

    meta: pd.DataFrame
    errors: Errors
    options: dict[str, Any]

    def __call__(self, piece: _Piece, columns: Sequence[str] | None = None) -> pd.DataFrame:
        path = Path(piece.path)
        wanted = list(self.meta.columns) if columns is None else list(columns)
        problems: list[dict[str, Any]] = []
        if piece.kind == "parquet":
            if piece.row_groups:
                frame = parquet.read_parts(piece.row_groups, wanted)
            else:  # files without row groups: their schema only
                frame = parquet.read_parts([(piece.path, None)], wanted)
        elif piece.kind == "lines":
            frame, problems = _read_block(path, piece.start, piece.end, self.options["legacy_tz"])
        else:
            frame, problems = files._read_file(path, **self.options)
        if problems:
            _report(problems, self.errors)
        return _conform(frame, self.meta[wanted], problems)


def _read_block(
    path: Path, start: int, end: int, legacy_tz: LegacyTz | None
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The lines starting in [start, end) of a JSONL file, with their problems."""
    data = _line_range(path, start, end)
    if not data.strip():
        return jobs_to_frame([]), []
    frame, problems = read_lines(data, path, legacy_tz)
    if problems:
        first = _first_line_number(path, start)
        problems = [{**p, "line": p["line"] + first - 1} for p in problems]
    return files._with_columns(frame), problems


def _line_range(path: Path, start: int, end: int) -> bytes:
    """The bytes of the lines that start at or after `start` and before `end`."""
    with path.open("rb") as file:
        if start > 0:
            file.seek(start - 1)
            file.readline()  # the rest of the line in progress belongs to the previous block
        begin = file.tell()
        data = file.read(max(end - begin, 0)) if begin < end else b""
        if data and not data.endswith(b"\n"):
            data += file.readline()
    if start == 0 and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    return data


def _first_line_number(path: Path, start: int) -> int:
    """The line number of the first line starting at or after `start` (counted only on need)."""
    if start == 0:
        return 1
    # The lines before it: the newlines before byte start - 1, and the one that ends the
    # line in progress there (see `_line_range`).
    newlines, remaining = 1, start - 1
    with path.open("rb") as file:
        while remaining > 0:
            chunk = file.read(min(remaining, 1 << 24))
            if not chunk:
                break
            newlines += chunk.count(b"\n")
            remaining -= len(chunk)
    return newlines + 1


def _report(problems: list[dict[str, Any]], errors: Errors) -> None:
    if errors == "raise":
        raise CorruptInputError(problems)
    message = describe_problems(problems)
    try:
        from distributed import get_worker, warn

        get_worker()
    except (ImportError, ValueError):
        warnings.warn(message, CorruptInputWarning, stacklevel=3)
    else:
        # On a worker, distributed's `warn` also shows the warning to the clients.
        warn(message, CorruptInputWarning)


def _conform(frame: pd.DataFrame, meta: pd.DataFrame, problems: list[Any]) -> pd.DataFrame:
    """The partition with exactly `meta`'s columns; categories are the contract's, then its own."""
    columns: dict[str, Any] = {}
    for name in meta.columns:
        dtype = meta[name].dtype
        values = frame[name] if name in frame else meta[name].reindex(frame.index)
        if isinstance(dtype, pd.CategoricalDtype):
            if not isinstance(values.dtype, pd.CategoricalDtype):
                values = values.astype("category")
            own = [c for c in values.cat.categories if c not in set(dtype.categories)]
            categories = pd.Index([*dtype.categories, *own], dtype=dtype.categories.dtype)
            if not values.cat.categories.equals(categories):
                values = values.cat.set_categories(categories)
        elif values.dtype != dtype:
            values = values.astype(dtype)
        columns[name] = values
    out = pd.DataFrame(columns, index=frame.index)
    out.attrs = {
        "unparsed_times": frame.attrs.get("unparsed_times", {}),
        "corrupt_lines": problems,
    }
    return out
