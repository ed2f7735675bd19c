"""Job frames to and from files: JSON, JSONL, directories of them, and the CSV written here.

`read_jobs` loads job records as the API returns them (`.json`: one response, a list, or an
object wrapping a list; `.jsonl`/`.ndjson`: one response a line, gzip-compressed or not), a
directory of such files, and the CSV and JSONL files `write_jobs` writes; it always returns
the `JOB_COLUMNS` frame.
`.parquet` files and day-partitioned Parquet archives: `jobtools.io.parquet`.

Nothing is dropped silently. A corrupt line (or a `.json` file that is no JSON) is skipped
with a `CorruptInputWarning` naming file and line, and listed in `frame.attrs["corrupt_lines"]`
as `{"file", "line", "error"}` dicts; `errors="raise"` raises `CorruptInputError` instead.

The CSV format (see `frame_to_csv_frame`): one row per job, the columns of the schema table
(`jobtools.schema`) and any others; times as ISO 8601 UTC text (`2015-06-04T18:11:06.586Z`);
`duration` as its float seconds, `duration_s`; other timedelta columns as float seconds in
`<name>_s`; `entities` and `extra` as JSON text; categories as their text; a missing value is
an empty cell and an empty string a quoted `""`, so that reading gives back an equal frame,
dtypes included.

JSONL is read by `jobtools.io._jsonl`: the compiled scanner or orjson (`engine=`), the same
frame either way, each bad line reported with its number and the others read. A gzip file
(`.jsonl.gz`, `.ndjson.gz`, or any JSONL file that starts with gzip's magic bytes) is
decompressed as it is read; damaged or cut-short gzip data is reported like a corrupt line,
at the line it cut, and the lines before it are kept.
"""

from __future__ import annotations

import codecs
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from jobtools.errors import (
    CorruptInputError,
    CorruptInputWarning,
    NaiveTimeWarning,
    describe_problems,
)
from jobtools.frame import decode_json, entities_of, frame_to_records, jobs_to_frame
from jobtools.io import parquet
from jobtools.io._csv import CsvError, OnBadLines, read_csv_table
from jobtools.io._jsonl import Engine, read_file_lines
from jobtools.io._polllog import is_poll_log, read_poll_log
from jobtools.io.parquet import BadFileError
from jobtools.schema import COLUMNS, Kind, cast_frame
from jobtools.times import LegacyTz, iso_text, parse_job_times

__all__ = [
    "COLUMNS_KEY",
    "CSV_SUFFIXES",
    "BadFileError",
    "CorruptInputError",
    "CorruptInputWarning",
    "CsvError",
    "Errors",
    "JSON_SUFFIXES",
    "GZIP_LINES_SUFFIXES",
    "LINES_SUFFIXES",
    "NaiveTimeWarning",
    "READABLE_SUFFIXES",
    "frame_to_csv_frame",
    "read_jobs",
    "readable_suffix",
    "write_jobs",
]

JSON_SUFFIXES = frozenset({".json"})
LINES_SUFFIXES = frozenset({".jsonl", ".ndjson"})
# Read, not written: the reader decompresses them as it goes (`_suffix` gives the pair).
GZIP_LINES_SUFFIXES = frozenset({".jsonl.gz", ".ndjson.gz"})
CSV_SUFFIXES = frozenset({".csv"})
READABLE_SUFFIXES = (
    JSON_SUFFIXES | LINES_SUFFIXES | GZIP_LINES_SUFFIXES | CSV_SUFFIXES | parquet.PARQUET_SUFFIXES
)

# Columns that are not in the API's records; JSONL keeps them under this reserved key.
COLUMNS_KEY = "_jobtools"
# Text that a spreadsheet would run as a formula (CSV injection), for `excel=True`: as the
# OWASP CSV-injection guidance lists, a start of = + - @, tab, CR or LF; the same after
# leading spaces (Excel skips them); and the full-width ＝ ＋ － ＠ that Excel on CJK systems
# reads as their ASCII forms.
_FORMULA_START = r"^(?:[\t\r\n]|[ \t\r\n\x{3000}]*[=+\-@\x{FF1D}\x{FF0B}\x{FF0D}\x{FF20}])"
# The contract's columns by name; job columns are all made from a record, so JSONL keeps
# only the others (fetch and wait columns, the caller's own) beside it.
_CONTRACT = {c.name: c for c in COLUMNS}
_FROM_RECORD_ORDER = tuple(c.name for c in COLUMNS if c.group == "job")
_FROM_RECORD = frozenset(_FROM_RECORD_ORDER)
# Timedelta columns written as their own float-seconds column (`duration` as `duration_s`).
_AS_SECONDS = {c.name: f"{c.name}_s" for c in COLUMNS if c.kind is Kind.TIMEDELTA}

Errors = Literal["warn", "raise"]


# --- reading --------------------------------------------------------------------------


def read_jobs(
    path: str | Path,
    *,
    errors: Errors = "warn",
    encoding: str | None = None,
    sep: str | None = None,
    tz: str = "UTC",
    legacy_tz: LegacyTz | None = None,
    on_bad_lines: OnBadLines = "error",
    on_bad_files: parquet.OnBadFiles = "error",
    engine: Engine = "auto",
) -> pd.DataFrame:
    """Load job records or a written job frame from a file or a directory of files.

    Args:
        path: a `.json`, `.jsonl`, `.ndjson` or `.csv` file (JSONL also gzip-compressed,
            `.jsonl.gz`/`.ndjson.gz`), a poll log (the SQLite file of `wait_for(log=...)`, any
            name: every job of its waits, read offline), or a directory: every such file in
            it (not its subdirectories), in name order.
        errors: `"warn"` skips corrupt lines with a CorruptInputWarning; `"raise"` raises
            CorruptInputError listing every corrupt line.
        encoding, sep: CSV only: the text encoding and the separator; by default detected
            (UTF-8 with or without a BOM, UTF-16, else charset-normalizer's best guess such
            as GB18030, Big5 or cp1252, recorded in `attrs["csv"]["encoding"]`, with an
            `EncodingGuessWarning` when unsure; `,`, `;` or tab, or Excel's `sep=` line).
        tz: CSV only: the zone of times written without one (`2024-11-06 14:19:43`);
            UTC unless said, and recorded in `attrs["naive_times_tz"]`. A time in the hour
            the clocks skip is NaT with its text kept in `attrs["unparsed_times"]`; one in
            the hour they repeat is taken as its first occurrence (summer time); both are
            counted in `attrs["dst_times"]`, with one `NaiveTimeWarning`.
        on_bad_lines: CSV only: a quote that runs past its line into later rows, or a row
            of the wrong number of fields, is an error naming the line (where the quote
            opened); `"skip"` leaves those lines out and reads the rest as their lines say,
            each reported like a corrupt line (`attrs["corrupt_lines"]`, one warning).
        on_bad_files: a file of a directory, or a part file of an archive, that cannot be
            read (another tool's, damaged) is an error naming it; `"skip"` reads the others
            and warns naming the skipped ones (`attrs["skipped_files"]`, `{"file", "error"}`).
        legacy_tz: JSON and JSONL: the zone of legacy-format times, as `jobs_to_frame`
            takes it; by default decided by the ids (see `attrs["legacy_tz"]`).
        engine: JSONL only: `"kernel"` (the compiled scanner), `"python"` (orjson; no
            compiler needed) or `"auto"`: the kernel when it is built. The same frame.

    Returns:
        The job frame (JOB_COLUMNS, plus any other columns a CSV carried), with
        `attrs["corrupt_lines"]` and `attrs["unparsed_times"]` (see `jobs_to_frame`).

    Raises:
        FileNotFoundError: no such path, or a directory without readable files.
        ValueError: an unsupported file type; CorruptInputError (with `errors="raise"`).
    """
    if errors not in ("warn", "raise"):
        raise ValueError(f'errors must be "warn" or "raise", not {errors!r}')
    if on_bad_lines not in ("error", "skip") or on_bad_files not in ("error", "skip"):
        raise ValueError('on_bad_lines and on_bad_files must be "error" or "skip"')
    if parquet.is_archive(path):
        return parquet.read_archive(path, on_bad_files=on_bad_files)
    files = list(_files(Path(path)))
    frames, problems, skipped = [], [], []
    for file in files:
        try:
            frame, found = _read_file(
                file,
                encoding=encoding,
                sep=sep,
                tz=tz,
                legacy_tz=legacy_tz,
                on_bad_lines=on_bad_lines,
                engine=engine,
            )
        except (CsvError, parquet.BadFileError) as exc:
            if on_bad_files != "skip" or len(files) == 1:
                raise
            skipped.append({"file": str(file), "error": str(exc)})
            continue
        frames.append(frame)
        problems.extend(found)
    if skipped:
        parquet._warn_skipped(skipped)
    if not frames:
        raise ValueError(f"no readable files in {path}")
    if problems and errors == "raise":
        raise CorruptInputError(problems)
    frame = frames[0] if len(frames) == 1 else _concat(frames)
    frame.attrs["corrupt_lines"] = problems
    if skipped:
        frame.attrs["skipped_files"] = skipped
    if problems:
        warnings.warn(describe_problems(problems), CorruptInputWarning, stacklevel=2)
    return frame


def _files(path: Path) -> Iterator[Path]:
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and _suffix(p) in READABLE_SUFFIXES)
        if not found:
            raise FileNotFoundError(
                f"no .json, .jsonl(.gz), .ndjson(.gz), .csv or .parquet files in {path}"
            )
        yield from found
    elif path.is_file():
        if _suffix(path) not in READABLE_SUFFIXES and not is_poll_log(path):
            raise ValueError(
                f"cannot read {path}: expected .json, .jsonl(.gz), .ndjson(.gz), .csv, .parquet "
                "or a poll log (for a text file of job ids, run `jobtools fetch` or `jobtools "
                "watch` first)"
            )
        yield path
    else:
        raise FileNotFoundError(f"no such file or directory: {path}")


def readable_suffix(path: str | Path) -> bool:
    """Whether `read_jobs` reads a file of this name (a poll log it reads by any name)."""
    return _suffix(Path(path)) in READABLE_SUFFIXES


def _suffix(path: Path) -> str:
    """The lower-case suffix, both parts of a compressed one (`.jsonl.gz`)."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return "".join(path.suffixes[-2:]).lower()
    return suffix


def _read_file(
    path: Path,
    *,
    encoding: str | None,
    sep: str | None,
    tz: str,
    legacy_tz: LegacyTz | None,
    on_bad_lines: OnBadLines = "error",
    engine: Engine = "auto",
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    suffix = _suffix(path)
    if is_poll_log(path):
        return read_poll_log(path), []
    if suffix in CSV_SUFFIXES:
        frame = _read_csv(path, encoding=encoding, sep=sep, tz=tz, on_bad_lines=on_bad_lines)
        skipped = frame.attrs["csv"]["skipped_lines"]
        return frame, [{"file": str(path), **problem} for problem in skipped]
    if suffix in parquet.PARQUET_SUFFIXES:
        return parquet.read_parquet(path), []
    if suffix in LINES_SUFFIXES or suffix in GZIP_LINES_SUFFIXES:
        frame, problems = read_file_lines(path, legacy_tz, engine)
        return _with_columns(frame), problems
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        problem = {"file": str(path), "line": exc.lineno, "error": exc.msg}
        return jobs_to_frame([]), [problem]
    return _with_columns(jobs_to_frame(parsed, legacy_tz=legacy_tz)), []


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames of several files as one, row labels renumbered (and unparsed times with them)."""
    unparsed: dict[str, dict[Any, Any]] = {}
    offset = 0
    for frame in frames:
        for column, values in frame.attrs.get("unparsed_times", {}).items():
            unparsed.setdefault(column, {}).update({offset + k: v for k, v in values.items()})
        offset += len(frame)
    frame = pd.concat(frames, ignore_index=True)
    # Categories differ between files (unknown values): rebuild them in order of appearance.
    frame = cast_frame(frame)
    frame.attrs = {"unparsed_times": unparsed}
    return frame


# --- CSV ------------------------------------------------------------------------------


def frame_to_csv_frame(frame: pd.DataFrame, *, tz: Any = None) -> pd.DataFrame:
    """The frame as it is written to CSV: a new frame of text and numbers (input unchanged).

    Timezone-aware times become ISO 8601 UTC text with milliseconds, or microseconds when a
    value has them (`2015-06-04T18:11:06.586Z`); with `tz` (a zone name or tzinfo) they are
    that zone's local time with its offset (`2015-06-05T02:11:06.586+08:00`), which reads
    back as the same moment. A time that did not parse is written as its
    raw text (from `attrs["unparsed_times"]`), so it is not lost. `duration` is carried by
    `duration_s`; any other timedelta column `<name>` becomes float seconds in `<name>_s`.
    Object columns become JSON text; categories become their values. Missing values stay
    missing.
    """
    out: dict[str, Any] = {}
    unparsed = frame.attrs.get("unparsed_times", {})
    for label, values in frame.items():
        name = str(label)
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            text = iso_text(values) if _is_utc(tz) else _local_iso_text(values, tz)
            out[name] = _with_raw(text, values, unparsed.get(name, {}))
        elif pd.api.types.is_timedelta64_dtype(values.dtype):
            seconds = _AS_SECONDS.get(name, f"{name}_s")
            if seconds not in frame.columns:
                out[seconds] = values.dt.total_seconds()
        elif isinstance(values.dtype, pd.CategoricalDtype):
            out[name] = values.astype("str")
        elif values.dtype == object:
            out[name] = _json_text(values)
        else:
            out[name] = values
    return pd.DataFrame(out, index=frame.index)


def _is_utc(tz: Any) -> bool:
    return tz is None or str(tz).upper() == "UTC"


def _local_iso_text(values: pd.Series, tz: Any) -> pd.Series:
    """Aware times as ISO 8601 local time in `tz` with each value's offset (`+08:00`)."""
    utc = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
    if not len(values):
        return pd.Series([], index=values.index, dtype="str")
    shown = values.dt.tz_convert(tz).dt.tz_localize(None).to_numpy("datetime64[us]")
    minutes = (shown - utc).astype("timedelta64[m]").astype("int64")
    hours, rest = np.divmod(np.abs(minutes), 60)
    sign = np.where(minutes < 0, "-", "+")
    pad = np.char.zfill
    suffix = np.char.add(
        np.char.add(sign, pad(hours.astype(str), 2)), np.char.add(":", pad(rest.astype(str), 2))
    )
    micros = shown.astype("int64") % 1000 != 0
    text = np.where(
        micros, np.datetime_as_string(shown, unit="us"), np.datetime_as_string(shown, unit="ms")
    ).astype(object)
    text = np.char.add(text.astype(str), suffix).astype(object)
    text[np.isnat(utc)] = None
    return pd.Series(text, index=values.index, dtype="str")


def _with_raw(text: pd.Series, values: pd.Series, unparsed: dict[Any, Any]) -> pd.Series:
    for label, raw in unparsed.items():
        if label in text.index and pd.isna(values.get(label)):
            text[label] = raw if isinstance(raw, str) else orjson.dumps(raw, default=str).decode()
    return text


def _json_text(values: pd.Series) -> pd.Series:
    """Objects as compact JSON text (None and NaN stay missing)."""

    def dumps(value: Any) -> str | None:
        if value is None or (isinstance(value, float) and value != value):
            return None
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()

    text = [dumps(value) for value in values.tolist()]
    return pd.Series(text, index=values.index, dtype="str")


_ARROW_TEXT: dict[Kind, pa.DataType] = {
    Kind.FLOAT: pa.float64(),
    Kind.INT: pa.int64(),
    Kind.NULLABLE_INT: pa.int64(),
    Kind.BOOL: pa.bool_(),
}


def _read_csv(
    path: Path,
    *,
    encoding: str | None,
    sep: str | None,
    tz: str,
    on_bad_lines: OnBadLines = "error",
) -> pd.DataFrame:
    """A CSV written by `write_jobs`, or by anyone, with some of its columns, as a job frame.

    Contract columns that are missing are derived where the data allows (`duration` and
    `duration_s` from the times, `is_terminal` from the status, the entity columns such as
    `resource_id` from `entities`) or added empty, and named in
    `attrs["missing_columns"]`; a CSV without `job_id` or `status` is refused.
    """
    types = {c.name: _ARROW_TEXT.get(c.kind, pa.string()) for c in COLUMNS}
    table, how = read_csv_table(path, types, encoding=encoding, sep=sep, on_bad_lines=on_bad_lines)
    missing = [name for name in _REQUIRED if name not in table.column_names]
    if missing:
        found = ", ".join(table.column_names[:12]) or "none"
        raise CsvError(str(path), f"no {' or '.join(missing)} column (columns: {found})")
    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    frame = _from_csv_frame(frame, tz=tz)
    dst = frame.attrs.pop("dst_times", {"ambiguous": {}, "nonexistent": {}})
    frame, absent = _completed(frame)
    frame.attrs |= {"csv": how, "naive_times_tz": tz, "missing_columns": absent}
    frame.attrs["dst_times"] = dst
    _warn_dst(path, tz, dst)
    return frame


def _warn_dst(path: Path, tz: str, dst: dict[str, dict[str, int]]) -> None:
    """One warning for the naive times that fell in a clock change of `tz`."""
    gap, repeated = sum(dst["nonexistent"].values()), sum(dst["ambiguous"].values())
    said = []
    if gap:
        said.append(
            f"{gap} in the hour skipped when the clocks go forward (no such time: NaT, the "
            "text kept in attrs['unparsed_times'])"
        )
    if repeated:
        said.append(
            f"{repeated} in the hour repeated when the clocks go back (taken as its first "
            "occurrence, summer time)"
        )
    if said:
        warnings.warn(
            f"{path}: naive times read in {tz}: {'; '.join(said)}; counts in attrs['dst_times']",
            NaiveTimeWarning,
            stacklevel=4,
        )


# Without these a CSV is not a job table; everything else can be derived or left empty.
_REQUIRED = ("job_id", "status")


def _completed(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The job columns a CSV lacks: derived from the others, or empty; and which they were."""
    absent = [name for name in _FROM_RECORD_ORDER if name not in frame.columns]
    if not absent:
        return frame, []
    records = frame[[c for c in frame.columns if c in ("job_id", "status")]].to_dict("records")
    if "entities" in frame.columns:
        # A CSV from before a column existed (`resource_id`, `entity_error`): read from the
        # entities, whole or as the frame keeps them.
        for record, entities in zip(records, entities_of(frame), strict=True):
            record["entities"] = entities
    derived = jobs_to_frame(records)
    terminal = derived["is_terminal"].to_numpy()
    for name in absent:
        if name == "is_terminal":
            frame[name] = terminal
        elif name == "duration" and {"begin_time", "end_time"} <= set(frame.columns):
            duration = (frame["end_time"] - frame["begin_time"]).where(terminal)
            frame[name] = duration.astype("timedelta64[us]")
        elif name == "duration_s" and "duration" in frame:
            frame[name] = frame["duration"].dt.total_seconds()
        else:
            frame[name] = derived[name].array if name in derived else None
    order = [*_FROM_RECORD_ORDER, *[c for c in frame.columns if c not in _FROM_RECORD]]
    return cast_frame(frame[order]), absent


def _from_csv_frame(frame: pd.DataFrame, *, tz: str = "UTC") -> pd.DataFrame:
    """Undo `frame_to_csv_frame` for the contract columns (naive times taken to be in `tz`)."""
    columns: dict[str, Any] = {}
    unparsed: dict[str, dict[Any, Any]] = {}
    dst: dict[str, dict[str, int]] = {"ambiguous": {}, "nonexistent": {}}
    seconds_of = {seconds: name for name, seconds in _AS_SECONDS.items()}
    for label, values in frame.items():
        name = str(label)
        kind = _CONTRACT[name].kind if name in _CONTRACT else None
        if name in seconds_of:
            columns[seconds_of[name]] = _timedelta(values)
            columns[name] = values.astype("float64")
        elif kind is Kind.TIME:
            raw = parse_job_times(values)
            parsed, gap, repeated = _naive_in(raw, values, tz)
            columns[name] = parsed
            lost = {**raw.attrs["unparsed"], **gap}
            if lost:
                unparsed[name] = lost
            if gap:
                dst["nonexistent"][name] = len(gap)
            if repeated:
                dst["ambiguous"][name] = repeated
        elif kind is None and name.endswith("_s") and name[:-2] in _CONTRACT:
            columns[name[:-2]] = _timedelta(values)
        else:
            columns[name] = values
    typed = cast_frame(pd.DataFrame(columns, index=frame.index))
    typed.attrs["unparsed_times"] = unparsed
    typed.attrs["dst_times"] = dst
    return typed


_NAIVE_ISO = r"^\s*\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?\s*$"


def _naive_in(parsed: pd.Series, raw: pd.Series, tz: str) -> tuple[pd.Series, dict[Any, Any], int]:
    """Times written without a zone were read as UTC: move them to `tz` where it is another.

    Returns the times, the raw text of those in the hour the clocks skip (NaT: no such
    time), and how many fell in the hour they repeat (taken as the first occurrence).
    """
    if tz == "UTC" or not len(raw):
        return parsed, {}, 0
    naive = raw.astype("str").str.match(_NAIVE_ISO).fillna(False).to_numpy(bool)
    if not naive.any():
        return parsed, {}, 0
    wall = parsed.dt.tz_localize(None)
    summer = np.ones(len(wall), dtype=bool)
    first = wall.dt.tz_localize(tz, ambiguous=summer, nonexistent="NaT").dt.tz_convert("UTC")
    second = wall.dt.tz_localize(tz, ambiguous=~summer, nonexistent="NaT").dt.tz_convert("UTC")
    known = first.notna().to_numpy() & second.notna().to_numpy()
    repeated = naive & known & (first != second).to_numpy()
    gap = naive & wall.notna().to_numpy() & first.isna().to_numpy()
    parsed = parsed.where(~naive, first.astype(parsed.dtype))
    lost = {label: raw[label] for label in raw.index[gap]}
    return parsed, lost, int(repeated.sum())


def _timedelta(seconds: pd.Series) -> pd.Series:
    micros = np.round(pd.to_numeric(seconds, errors="coerce").astype("float64").to_numpy() * 1e6)
    # Missing values cast to integers by hand: pandas 3.0.0's to_timedelta casts NaN itself and
    # warns ("invalid value encountered in cast") on every CSV with a running job.
    missing = ~np.isfinite(micros)
    out = np.where(missing, 0, micros).astype("int64").view("timedelta64[us]")
    out[missing] = np.timedelta64("NaT")
    return pd.Series(out, index=seconds.index)


# --- writing ------------------------------------------------------------------------------


def write_jobs(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    excel: bool = False,
    tz: Any = None,
    partition_by: str | None = None,
    mode: parquet.ArchiveMode = "append",
) -> Path:
    """Write a job frame as CSV, JSONL records (`.jsonl`/`.ndjson`) or Parquet, by the extension.

    Args:
        frame: a job frame (from `jobs_to_frame`, `read_jobs` or the client); not changed.
        path: the file to write; its directory must exist.
        partition_by: `"day"` appends the frame to the Parquet archive at `path` (a
            directory, made when missing), one new file per day (`jobtools.io.parquet`).
        mode: archives only: `"append"` adds only the rows the archive does not hold yet
            (so a cell run twice adds nothing), `"error"` refuses rows already there,
            `"overwrite"` replaces the archive's content (see `write_archive`).
        excel: CSV only: start with a UTF-8 byte order mark (so Excel reads UTF-8 text) and
            neutralise text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`,
            tab, CR or LF at the start, also after spaces, and full-width ＝＋－＠; header
            names too) by prefixing `'`. The file is then no longer read back equal: it is
            meant for people, not for `read_jobs`.
        tz: CSV only: write times in this zone with their offset (default UTC, `Z`); they
            read back as the same moments.

    Returns:
        The path written.

    JSONL lines are records shaped like the API's responses (read back by `read_jobs`);
    columns the API does not have (fetch outcome, your own) ride along under the
    `_jobtools` key. Either format is read back as an equal frame (a RangeIndex; the index
    itself is not written).
    """
    path = Path(path)
    suffix = _suffix(path)
    if partition_by is not None:
        return parquet.write_archive(frame, path, partition_by, mode=mode)
    if suffix in parquet.PARQUET_SUFFIXES:
        return parquet.write_parquet(frame, path)
    if suffix in LINES_SUFFIXES:
        if excel:
            raise ValueError("excel=True applies to CSV files only")
        _write_lines(frame, path)
    elif suffix in CSV_SUFFIXES:
        _write_csv(frame_to_csv_frame(frame, tz=tz), path, excel=excel)
    elif suffix in (".xlsx", ".xls"):
        raise ValueError(
            f"cannot write {path}: write_jobs writes .csv, .jsonl, .ndjson or .parquet; an Excel "
            "workbook (jobs, failure groups, rates, charts) comes from "
            "jobtools.write_report(frame, folder, xlsx=True), or write_jobs(..., excel=True) "
            "for a CSV that Excel opens cleanly"
        )
    else:
        raise ValueError(f"cannot write {path}: expected .csv, .jsonl, .ndjson or .parquet")
    return path


def _write_csv(csv_frame: pd.DataFrame, path: Path, *, excel: bool) -> None:
    table = pa.Table.from_pandas(_arrow_ready(csv_frame), preserve_index=False)
    if excel:
        table = _neutralised(table)
    with pa.OSFile(str(path), "wb") as out:
        if excel:
            out.write(codecs.BOM_UTF8)
        pa_csv.write_csv(table, out)


def _arrow_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns Arrow cannot type (mixed values) become text."""
    out = frame.copy(deep=False)
    for name, values in out.items():
        if values.dtype == object:
            out[name] = values.astype("str")
    return out


def _neutralised(table: pa.Table) -> pa.Table:
    """Text cells, and the header's names, that a spreadsheet would run, prefixed with `'`."""
    names = pa.array([str(name) for name in table.column_names], pa.string())
    risky_names = pc.match_substring_regex(names, _FORMULA_START).to_pylist()
    table = table.rename_columns(
        [
            f"'{name}" if risky else name
            for name, risky in zip(names.to_pylist(), risky_names, strict=True)
        ]
    )
    for index, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            column = table.column(index)
            risky = pc.fill_null(pc.match_substring_regex(column, _FORMULA_START), False)
            empty, quote = pa.scalar("", field.type), pa.scalar("'", field.type)
            quoted = pc.binary_join_element_wise(quote, column, empty)
            table = table.set_column(index, field, pc.if_else(risky, quoted, column))
    return table


def _write_lines(frame: pd.DataFrame, path: Path) -> None:
    """One API-shaped record a line; the columns a record does not hold under COLUMNS_KEY."""
    text = frame_to_csv_frame(frame)
    others = [
        name
        for name in text.columns
        if name not in _FROM_RECORD and name.removesuffix("_s") not in _FROM_RECORD
    ]
    carried = {name: _plain(text[name]) for name in others}
    records = frame_to_records(frame)
    with path.open("wb") as out:
        for i, record in enumerate(records):
            if others:
                if not isinstance(record, dict):
                    record = {"_record": record}
                record[COLUMNS_KEY] = {name: carried[name][i] for name in others}
            out.write(orjson.dumps(record, default=str, option=orjson.OPT_NON_STR_KEYS) + b"\n")


def _plain(values: pd.Series) -> list[Any]:
    """Plain Python values for JSON: None for missing."""
    objects = values.astype(object)
    return objects.where(values.notna(), None).tolist()


def _with_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Move the `_jobtools` columns a JSONL file carried out of `extra` into columns."""
    if not frame["extra"].notna().any() or not frame["extra"].str.contains(COLUMNS_KEY).any():
        return frame
    extras = decode_json(frame["extra"]).tolist()
    carrying = [i for i, e in enumerate(extras) if isinstance(e, dict) and COLUMNS_KEY in e]
    if not carrying:
        return frame
    frame = frame.copy()
    carried = {}
    for i in carrying:
        # Only names that are no column already: a record's own `_jobtools` key (not written
        # here) cannot replace or duplicate a contract column; what it holds stays in `extra`.
        value = extras[i][COLUMNS_KEY]
        if not isinstance(value, dict):
            continue
        carried[frame.index[i]] = {k: v for k, v in value.items() if k not in frame.columns}
        kept = {k: v for k, v in value.items() if k in frame.columns}
        if kept:
            extras[i][COLUMNS_KEY] = kept
        else:
            del extras[i][COLUMNS_KEY]
    if not any(carried.values()):
        return frame
    frame["extra"] = _json_text(pd.Series([e or None for e in extras], index=frame.index))
    columns = pd.DataFrame.from_dict(carried, orient="index").reindex(frame.index)
    # The caller's own columns get the dtype their values suggest (text as `str`).
    restored = _from_csv_frame(columns.astype(object).where(columns.notna(), None))
    restored = restored.infer_objects()
    out = pd.concat([frame, restored], axis=1)
    out.attrs = frame.attrs  # concat keeps attrs only when all frames agree
    return out
