"""Job frames to and from files: JSON, JSONL, directories of them, and the CSV written here.

`read_jobs` loads job records as the API returns them (`.json`: one response, a list, or an
object wrapping a list; `.jsonl`/`.ndjson`: one response a line), a directory of such files,
and the CSV and JSONL files `write_jobs` writes; it always returns the `JOB_COLUMNS` frame.

Nothing is dropped silently. A corrupt line (or a `.json` file that is no JSON) is skipped
with a `CorruptInputWarning` naming file and line, and listed in `frame.attrs["corrupt_lines"]`
as `{"file", "line", "error"}` dicts; `errors="raise"` raises `CorruptInputError` instead.

The CSV format (see `frame_to_csv_frame`): one row per job; times as ISO 8601 UTC text
(`2015-06-04T18:11:06.586Z`); each timedelta column as float seconds in `<name>_s`
(`duration_s`); `entities` and `extra` as JSON text; a missing value is an empty cell and an
empty string a quoted `""`, so that reading gives back an equal frame, dtypes included.

Speed (1M records, 360 MB: about 2.3 s against 28 s the plain way; `benchmarks/`): a JSONL
file is memory-mapped and read twice at once. In a worker thread Arrow's strict,
multithreaded JSON reader types the top-level fields and the flattened entity keys, and the
columns are typed there too. Meanwhile this thread cuts each line's `entities` text out with
vectorised byte arithmetic and parses all of them in one orjson call, so `entities` stays
the lossless dict without a million Python-level line parses. When Arrow refuses the file
(a corrupt line, an unexpected type) or it has unknown top-level fields, every line is
parsed whole instead: slower, and exact, with each bad line reported.
"""

from __future__ import annotations

import codecs
import concurrent.futures
import gc
import mmap
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json

from jobtools.frame import (
    FETCH_COLUMNS,
    JOB_COLUMNS,
    KNOWN_FIELDS,
    apply_schema,
    finish_job_frame,
    jobs_to_frame,
    status_categorical,
    type_job_columns,
)
from jobtools.times import TIME_DTYPE, parse_job_times

JSON_SUFFIXES = frozenset({".json"})
LINES_SUFFIXES = frozenset({".jsonl", ".ndjson"})
CSV_SUFFIXES = frozenset({".csv"})
READABLE_SUFFIXES = JSON_SUFFIXES | LINES_SUFFIXES | CSV_SUFFIXES

# Columns that are not in the API's records; JSONL keeps them under this reserved key.
COLUMNS_KEY = "_jobtools"
# Text that a spreadsheet would run as a formula (CSV injection), for `excel=True`.
_FORMULA_START = r"^[=+\-@\t\r]"
# Columns computed from a record, so not written to JSONL.
_DERIVED = (
    *("duration", "is_terminal", "image_id", "image_name", "current_task"),
    *("process_percent", "entity_error_code", "entity_error", "sub_job_count"),
)

Errors = Literal["warn", "raise"]
# Arrow's default pool here is mimalloc, whose way of returning memory costs this VM more
# system time than the whole parse; the system allocator does not (measured: 1.4 s vs 0.25 s
# of system time for a 360 MB file).
_POOL = pa.system_memory_pool()
# What the JSONL reader works on: a file's bytes, mapped or read, or an Arrow buffer.
Bytes: TypeAlias = bytes | memoryview | pa.Buffer


class CorruptInputWarning(UserWarning):
    """Some input could not be read and was skipped; the message names file and line."""


class CorruptInputError(ValueError):
    """Input could not be read (with `errors="raise"`); `.problems` lists file and line."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        self.problems = problems
        super().__init__(_describe(problems))


# --- reading --------------------------------------------------------------------------


def read_jobs(path: str | Path, *, errors: Errors = "warn") -> pd.DataFrame:
    """Load job records or a written job frame from a file or a directory of files.

    Args:
        path: a `.json`, `.jsonl`, `.ndjson` or `.csv` file, or a directory: every such file
            in it (not its subdirectories), in name order.
        errors: `"warn"` skips corrupt lines with a CorruptInputWarning; `"raise"` raises
            CorruptInputError listing every corrupt line.

    Returns:
        The job frame (JOB_COLUMNS, plus any other columns a CSV carried), with
        `attrs["corrupt_lines"]` and `attrs["unparsed_times"]` (see `jobs_to_frame`).

    Raises:
        FileNotFoundError: no such path, or a directory without readable files.
        ValueError: an unsupported file type; CorruptInputError (with `errors="raise"`).
    """
    if errors not in ("warn", "raise"):
        raise ValueError(f'errors must be "warn" or "raise", not {errors!r}')
    files = list(_files(Path(path)))
    frames, problems = [], []
    for file in files:
        frame, found = _read_file(file)
        frames.append(frame)
        problems.extend(found)
    if problems and errors == "raise":
        raise CorruptInputError(problems)
    frame = frames[0] if len(frames) == 1 else _concat(frames)
    frame.attrs["corrupt_lines"] = problems
    if problems:
        warnings.warn(_describe(problems), CorruptInputWarning, stacklevel=2)
    return frame


def _files(path: Path) -> Iterator[Path]:
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and _suffix(p) in READABLE_SUFFIXES)
        if not found:
            raise FileNotFoundError(f"no .json, .jsonl, .ndjson or .csv files in {path}")
        yield from found
    elif path.is_file():
        if _suffix(path) not in READABLE_SUFFIXES:
            raise ValueError(f"cannot read {path}: expected .json, .jsonl, .ndjson or .csv")
        yield path
    else:
        raise FileNotFoundError(f"no such file or directory: {path}")


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def _read_file(path: Path) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    suffix = _suffix(path)
    if suffix in CSV_SUFFIXES:
        return _read_csv(path), []
    if suffix in LINES_SUFFIXES:
        return _read_lines(_mapped(path), path)
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        problem = {"file": str(path), "line": exc.lineno, "error": exc.msg}
        return jobs_to_frame([]), [problem]
    return _with_columns(jobs_to_frame(parsed)), []


def _mapped(path: Path) -> memoryview:
    """The file's bytes without its UTF-8 BOM, memory-mapped where the platform allows.

    A big file mapped (and populated at once) costs a fraction of reading it into fresh
    memory, page by page; nothing here writes to it.
    """
    populate = getattr(mmap, "MAP_POPULATE", None)
    size = path.stat().st_size
    if populate is None or size == 0:
        data = memoryview(path.read_bytes())
    else:
        with path.open("rb") as file:
            flags = mmap.MAP_PRIVATE | populate
            data = memoryview(mmap.mmap(file.fileno(), 0, flags=flags, prot=mmap.PROT_READ))
    return data[3:] if data[:3] == codecs.BOM_UTF8 else data


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames of several files as one, row labels renumbered (and unparsed times with them)."""
    unparsed: dict[str, dict[Any, Any]] = {}
    offset = 0
    for frame in frames:
        for column, values in frame.attrs.get("unparsed_times", {}).items():
            unparsed.setdefault(column, {}).update({offset + k: v for k, v in values.items()})
        offset += len(frame)
    frame = pd.concat(frames, ignore_index=True)
    # Categories differ between files (unknown statuses): rebuild them in order of appearance.
    frame["status"] = status_categorical(frame["status"].astype("str"))
    frame = apply_schema(frame)
    frame.attrs = {"unparsed_times": unparsed}
    return frame


# --- JSONL ------------------------------------------------------------------------------

_ENTITY_TYPE = pa.struct(
    [
        ("image_id", pa.large_string()),
        ("image_name", pa.large_string()),
        ("current_task", pa.large_string()),
        ("process_percent", pa.float64()),
        ("error_code", pa.large_string()),
        ("error", pa.large_string()),
        ("errorcode_message", pa.large_string()),
        # Only the lengths matter here; the sub-jobs themselves stay in the entities dicts.
        ("sub_jobs_result", pa.list_(pa.struct([]))),
        ("sub_jobs", pa.list_(pa.struct([]))),
        ("sub_jobs_total", pa.int64()),
    ]
)
_TOP_LEVEL_TEXT = (
    *("status", "job_id", "job_type", "begin_time", "end_time", "error_code", "fail_reason"),
)
_ARROW_SCHEMA = pa.schema(
    # large_string: what pandas' `str` columns hold, so no column is copied to convert it.
    [(name, pa.large_string()) for name in _TOP_LEVEL_TEXT] + [("entities", _ENTITY_TYPE)]
)


def _read_lines(data: Bytes, path: Path) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        # Arrow releases the GIL: a worker reads and types the columns while this thread
        # builds the entities dicts.
        typing = pool.submit(_typed_from_arrow, data)
        located = _fast_entities(data)
        typed = typing.result()
    if typed is not None and located is not None and typed[0] == len(located.entities):
        _, columns, unparsed, present = typed
        entities = located.settle(data, present)
        if entities is not None:
            extra = np.full(len(entities), None, dtype=object)
            return _with_columns(finish_job_frame(columns, entities, extra, unparsed)), []
    # The slow, forgiving path: a corrupt line, an odd record, types Arrow refused, or
    # unknown fields (which go to `extra`). Every line is parsed in full, and reported.
    scan = _scan_lines(data, path)
    return _with_columns(jobs_to_frame(scan.records)), scan.problems


def _typed_from_arrow(
    data: Bytes,
) -> tuple[int, dict[str, Any], dict[str, Any], np.ndarray] | None:
    """Row count, typed columns, unparsed times and where entities are present (not null).

    None when the fast path does not hold: Arrow refused the file (a corrupt line, a type
    it did not expect), or the file has unknown top-level fields, which belong in `extra`.
    """
    table = _arrow_table(data)
    if table is None or not set(table.column_names) <= KNOWN_FIELDS:
        return None
    typed, unparsed = type_job_columns(_arrow_columns(table))
    present = table.column("entities").is_valid().to_numpy(zero_copy_only=False)
    return table.num_rows, typed, unparsed, np.asarray(present, dtype=bool)


def _arrow_table(data: Bytes) -> pa.Table | None:
    # "infer" adds a column for any unknown top-level field, which sends the file to the slow
    # path, where such fields are kept in `extra` exactly.
    options = pa_json.ParseOptions(explicit_schema=_ARROW_SCHEMA, unexpected_field_behavior="infer")
    try:
        return pa_json.read_json(pa.py_buffer(data), parse_options=options, memory_pool=_POOL)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None


class _Scan:
    """Every line parsed in full: the records, and the lines that are not JSON."""

    def __init__(self) -> None:
        self.records: list[Any] = []
        self.problems: list[dict[str, Any]] = []


def _scan_lines(data: Bytes, path: Path) -> _Scan:
    scan = _Scan()
    for number, line in enumerate(bytes(data).split(b"\n"), start=1):
        try:
            scan.records.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            if line.strip():
                scan.problems.append({"file": str(path), "line": number, "error": exc.msg})
    return scan


@dataclass
class _Located:
    """Entities cut out of clean JSONL, where `parsed`; other rows may need their whole line."""

    entities: np.ndarray
    parsed: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    def settle(self, data: Bytes, present: np.ndarray) -> np.ndarray | None:
        """Reconcile with Arrow's reading (`present`: entities neither absent nor null)."""
        entities = self.entities
        entities[~present] = None
        for row in np.flatnonzero(present & ~self.parsed).tolist():
            try:
                entities[row] = orjson.loads(data[self.starts[row] : self.ends[row]])["entities"]
            except (orjson.JSONDecodeError, TypeError, KeyError):
                return None
        return entities


def _fast_entities(data: Bytes) -> _Located | None:
    """Cut the raw `entities` out of every line of JSONL and parse them in one orjson call.

    Parsing a million whole lines in Python is what makes the plain approach slow, so only
    the entities are parsed here. Their text is found with vectorised byte arithmetic
    (Arrow's substring search over views of the buffer, numpy for the rest): a line's first
    `"entities":` is its top-level key, given what Arrow's strict reading of the same file
    proves (every top-level field known, appearing once, holding a string, null or, for
    entities, an object; a `"` inside a string is escaped). A flat object value ends at the
    next `}`, a nested one where its braces balance again. A brace inside a string can
    mislead that, but then the text cut out is not valid JSON (a valid JSON object ends
    exactly where its braces balance): such lines are parsed whole instead.

    Returns None when a line is not an object (the slow path reports it).
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines, opens, closes = _positions(buf, (b"\n", b"{", b"}"))
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(buf)]))
    first = buf[np.minimum(starts, max(len(buf) - 1, 0))] if len(buf) else starts
    is_row = (ends > starts) & (first == ord("{"))
    for line in np.flatnonzero(~is_row & (ends > starts)).tolist():
        if bytes(data[starts[line] : ends[line]]).strip():
            return None
    lines = _views(data, np.concatenate((starts, [len(buf)])))
    rows = np.flatnonzero(is_row)
    found = pc.find_substring(lines, '"entities":').to_numpy(zero_copy_only=False)[rows]
    starts, ends = starts[rows], ends[rows]
    has_key = found >= 0
    at = np.where(has_key, np.minimum(starts + found + len(b'"entities":'), ends - 1), starts)
    for _ in range(2):  # `json.dumps` writes `"entities": {`
        at = np.where(has_key & (buf[at] == ord(" ")), np.minimum(at + 1, ends - 1), at)
    is_object = has_key & (buf[at] == ord("{"))

    # The first `}` after the value's `{`, and whether a `{` comes before it (then nested).
    close = _next(closes, at + 1)
    is_object &= (close >= 0) & (close < ends)
    next_open = _next(opens, at + 1)
    flat = is_object & ((next_open < 0) | (next_open > close))
    nested = is_object & ~flat

    entities = np.full(len(rows), None, dtype=object)
    unsure = np.zeros(len(rows), dtype=bool)
    chosen = np.flatnonzero(flat)
    _parse_into(entities, unsure, chosen, data, at[chosen], close[chosen] + 1)
    chosen = np.flatnonzero(nested)
    if len(chosen):
        # Nested entities (sub-jobs, member results): copy just those lines together and
        # balance their braces there.
        picked = lines.take(pa.array(rows[chosen]))
        offsets = np.frombuffer(picked.buffers()[1], dtype=np.int64)[: len(chosen) + 1]
        text = picked.buffers()[2].slice(0, offsets[-1])
        local = offsets[:-1] + (at[chosen] - starts[chosen])
        opens, closes = _positions(np.frombuffer(text, dtype=np.uint8), (b"{", b"}"))
        balanced = _matching_close(local, np.ones(len(local), dtype=bool), opens, closes)
        good = (balanced > local) & (balanced < offsets[1:])
        unsure[chosen[~good]] = True
        chosen, local, balanced = chosen[good], local[good], balanced[good]
        _parse_into(entities, unsure, chosen, text, local, balanced + 1)
    return _Located(entities, is_object & ~unsure, starts, ends)


def _next(positions: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The first of the sorted `positions` at or after each of `after`, or -1."""
    index = np.searchsorted(positions, after)
    found = index < len(positions)
    return np.where(found, positions[np.minimum(index, max(len(positions) - 1, 0))], -1)


def _views(data: Bytes, bounds: np.ndarray) -> pa.LargeStringArray:
    """Arrow strings `data[bounds[i]:bounds[i + 1]]`, without copying; bounds must not fall."""
    offsets = pa.py_buffer(np.ascontiguousarray(bounds, dtype=np.int64))
    return pa.LargeStringArray.from_buffers(len(bounds) - 1, offsets, pa.py_buffer(data))


def _parse_into(
    entities: np.ndarray,
    unsure: np.ndarray,
    rows: np.ndarray,
    data: Bytes,
    begins: np.ndarray,
    ends: np.ndarray,
) -> None:
    """Parse `data[begins[i]:ends[i]]` into `entities[rows[i]]`; mark the bad ones unsure."""
    parsed = _parse_spans(data, begins, ends)
    if parsed is not None:
        entities[rows] = parsed
        return
    # Some text was cut wrong (a brace inside a string): find which, one by one.
    view = memoryview(data)
    for row, begin, end in zip(rows.tolist(), begins.tolist(), ends.tolist(), strict=True):
        try:
            entities[row] = orjson.loads(view[begin:end])
        except orjson.JSONDecodeError:
            unsure[row] = True


def _parse_spans(data: Bytes, begins: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """Parse the JSON texts `data[begins[i]:ends[i]]` in one orjson call; None if one is bad.

    Each text is preceded by a byte of its own (the `:` of its key, or a space) and
    followed by one more (the text ends inside its line). Arrow gathers those slices into one
    new buffer (a string array over `data` whose odd elements are the gaps, then `take` of
    the even ones), and in that buffer, which is ours, the bytes before the texts become the
    `[` and `,`s of one JSON array and the last byte its `]`.
    """
    if not len(begins):
        return np.empty(0, dtype=object)
    bounds = np.empty(2 * len(begins), dtype=np.int64)
    bounds[0::2], bounds[1::2] = begins - 1, ends
    bounds[-1] += 1
    if bounds[0] < 0 or bounds[-1] > len(memoryview(data)):
        return None
    gathered = _views(data, bounds).take(pa.array(np.arange(0, len(bounds), 2)))
    offsets = np.frombuffer(gathered.buffers()[1], dtype=np.int64)[: len(begins) + 1]
    text = np.frombuffer(gathered.buffers()[2], dtype=np.uint8)[: offsets[-1]]
    text[offsets[:-1]] = ord(",")
    text[0], text[-1] = ord("["), ord("]")
    enabled = gc.isenabled()
    gc.disable()  # a million new dicts would set off the cyclic collector over and over
    try:
        parsed = orjson.loads(text.data)
    except orjson.JSONDecodeError:
        return None
    finally:
        if enabled:
            gc.enable()
    if len(parsed) != len(begins):
        return None  # a badly cut text merged with its neighbour
    return np.fromiter(parsed, dtype=object, count=len(parsed))


def _matching_close(
    at: np.ndarray, wanted: np.ndarray, opens: np.ndarray, closes: np.ndarray
) -> np.ndarray:
    """For each `{` at `at` (where `wanted`), the position of the `}` that balances it, or -1.

    The depth after every brace comes from one cumulative sum over all braces in order; the
    balancing `}` is the first later one whose depth is one less than that of the `{`.
    """
    close = np.full(len(at), -1, dtype=np.int64)
    if not wanted.any() or not len(closes):
        return close
    # Merge the two sorted position lists without sorting: each brace's place in the merge
    # is its own index plus the number of the other kind before it.
    open_at = np.arange(len(opens)) + np.searchsorted(closes, opens)
    close_at = np.arange(len(closes)) + np.searchsorted(opens, closes)
    position = np.empty(len(opens) + len(closes), dtype=np.int64)
    step = np.empty(len(position), dtype=np.int8)
    position[open_at], step[open_at] = opens, 1
    position[close_at], step[close_at] = closes, -1
    depth = np.cumsum(step, dtype=np.int32)
    is_close = step < 0
    rows = np.flatnonzero(wanted)
    level = depth[np.searchsorted(position, at[rows])] - 1
    for target in np.unique(level).tolist():
        candidates = position[is_close & (depth == target)]
        mine = rows[level == target]
        index = np.searchsorted(candidates, at[mine])
        found = index < len(candidates)
        close[mine[found]] = candidates[index[found]]
    return close


def _positions(buf: np.ndarray, needles: tuple[bytes, ...]) -> list[np.ndarray]:
    """Sorted positions of each single-byte needle, scanned in chunks to reuse one mask."""
    found: list[list[np.ndarray]] = [[] for _ in needles]
    chunk = 1 << 18  # small enough for the CPU cache: the mask is read right after
    mask = np.empty(min(chunk, len(buf)), dtype=bool)
    for base in range(0, len(buf), chunk):
        part = buf[base : base + chunk]
        view = mask[: len(part)]
        for i, needle in enumerate(needles):
            np.equal(part, needle[0], out=view)
            found[i].append(np.flatnonzero(view) + base)
    return [np.concatenate(f) if f else np.empty(0, np.int64) for f in found]


def _arrow_columns(table: pa.Table) -> dict[str, Any]:
    """The raw columns of `type_job_columns` from Arrow's table (entities and extra aside)."""
    columns: dict[str, Any] = {name: _column(table, name) for name in _TOP_LEVEL_TEXT}
    ents = _column(table, "entities")

    def field(name: str) -> pa.Array:
        return pc.struct_field(ents, name)

    columns |= {name: field(name) for name in ("image_id", "image_name", "current_task")}
    columns["process_percent"] = field("process_percent")
    columns["entity_error_code"] = field("error_code")
    columns["entity_error"] = pc.coalesce(field("error"), field("errorcode_message"))
    count = pc.coalesce(
        pc.list_value_length(field("sub_jobs_result")).cast(pa.int64()),
        pc.list_value_length(field("sub_jobs")).cast(pa.int64()),
        field("sub_jobs_total"),
        pa.scalar(0, pa.int64()),
    )
    sub_job_count = pc.if_else(ents.is_valid(), count, pa.scalar(None, pa.int64()))
    columns["sub_job_count"] = pd.array(sub_job_count, dtype="Int64")
    return columns


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    return table.column(name)


# --- CSV ------------------------------------------------------------------------------


def frame_to_csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as it is written to CSV: a new frame of text and numbers (input unchanged).

    Timezone-aware times become ISO 8601 UTC text with milliseconds, or microseconds when a
    value has them (`2015-06-04T18:11:06.586Z`); a time that did not parse is written as its
    raw text (from `attrs["unparsed_times"]`), so it is not lost. Each timedelta column
    `<name>` becomes float seconds in `<name>_s`. Object columns (`entities`, `extra`) become
    JSON text; categories become their values. Missing values stay missing.
    """
    out: dict[str, Any] = {}
    unparsed = frame.attrs.get("unparsed_times", {})
    for label, values in frame.items():
        name = str(label)
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            out[name] = _iso_text(values, unparsed.get(name, {}))
        elif pd.api.types.is_timedelta64_dtype(values.dtype):
            out[f"{name}_s"] = values.dt.total_seconds()
        elif isinstance(values.dtype, pd.CategoricalDtype):
            out[name] = values.astype("str")
        elif values.dtype == object:
            out[name] = _json_text(values)
        else:
            out[name] = values
    return pd.DataFrame(out, index=frame.index)


def _iso_text(values: pd.Series, unparsed: dict[Any, Any]) -> pd.Series:
    utc = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
    micros = utc.astype("int64") % 1000 != 0
    text = np.where(
        micros, np.datetime_as_string(utc, unit="us"), np.datetime_as_string(utc, unit="ms")
    ).astype(object)
    text = np.char.add(text.astype(str), "Z").astype(object)
    text[np.isnat(utc)] = None
    series = pd.Series(text, index=values.index, dtype="str")
    for label, raw in unparsed.items():
        if label in series.index and pd.isna(values.get(label)):
            series[label] = raw if isinstance(raw, str) else orjson.dumps(raw, default=str).decode()
    return series


def _json_text(values: pd.Series) -> pd.Series:
    """Objects as compact JSON text (None and NaN stay missing)."""

    def dumps(value: Any) -> str | None:
        if value is None or (isinstance(value, float) and value != value):
            return None
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()

    text = [dumps(value) for value in values.tolist()]
    return pd.Series(text, index=values.index, dtype="str")


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV written by `write_jobs` (or any CSV with some of its columns) as a typed frame."""
    text_columns = {**JOB_COLUMNS, **FETCH_COLUMNS}
    types: dict[str, pa.DataType] = {
        name: pa.string() for name, dtype in text_columns.items() if dtype != "float64"
    }
    types |= {"duration_s": pa.float64(), "process_percent": pa.float64()}
    types |= {"http_status": pa.int64(), "sub_job_count": pa.int64(), "is_terminal": pa.bool_()}
    options = pa_csv.ConvertOptions(
        column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False
    )
    read = pa_csv.ReadOptions()
    table = pa_csv.read_csv(path, read_options=read, convert_options=options)
    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    return _from_csv_frame(frame)


def _from_csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Undo `frame_to_csv_frame` for the contract columns."""
    columns: dict[str, Any] = {}
    unparsed: dict[str, dict[Any, Any]] = {}
    for label, values in frame.items():
        name = str(label)
        if name in JOB_COLUMNS and JOB_COLUMNS[name] == TIME_DTYPE:
            parsed = parse_job_times(values)
            columns[name] = parsed
            if parsed.attrs["unparsed"]:
                unparsed[name] = parsed.attrs["unparsed"]
        elif name.endswith("_s") and name[:-2] in JOB_COLUMNS:
            seconds = values.astype("float64").to_numpy()
            columns[name[:-2]] = pd.to_timedelta(np.round(seconds * 1e6), unit="us")
        elif name in ("entities", "extra"):
            columns[name] = _from_json_text(values)
        else:
            columns[name] = values
    typed = apply_schema(pd.DataFrame(columns, index=frame.index))
    typed.attrs["unparsed_times"] = unparsed
    return typed


def _from_json_text(values: pd.Series) -> pd.Series:
    loads = orjson.loads
    parsed = [None if pd.isna(v) else loads(v) for v in values.tolist()]
    return pd.Series(np.array(parsed + [None], dtype=object)[:-1], index=values.index, dtype=object)


# --- writing ------------------------------------------------------------------------------


def write_jobs(frame: pd.DataFrame, path: str | Path, *, excel: bool = False) -> Path:
    """Write a job frame as CSV, or as JSONL records (`.jsonl`/`.ndjson`), by the extension.

    Args:
        frame: a job frame (from `jobs_to_frame`, `read_jobs` or the client); not changed.
        path: the file to write; its directory must exist.
        excel: CSV only: start with a UTF-8 byte order mark (so Excel reads UTF-8 text) and
            neutralise text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`,
            tab, CR at the start) by prefixing `'`. The file is then no longer read back
            equal: it is meant for people, not for `read_jobs`.

    Returns:
        The path written.

    JSONL lines are records shaped like the API's responses (read back by `read_jobs`);
    columns the API does not have (fetch outcome, your own) ride along under the
    `_jobtools` key. Either format is read back as an equal frame (a RangeIndex; the index
    itself is not written).
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix in LINES_SUFFIXES:
        if excel:
            raise ValueError("excel=True applies to CSV files only")
        _write_lines(frame, path)
    elif suffix in CSV_SUFFIXES:
        _write_csv(frame_to_csv_frame(frame), path, excel=excel)
    else:
        raise ValueError(f"cannot write {path}: expected .csv, .jsonl or .ndjson")
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
    for index, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            column = table.column(index)
            risky = pc.fill_null(pc.match_substring_regex(column, _FORMULA_START), False)
            empty, quote = pa.scalar("", field.type), pa.scalar("'", field.type)
            quoted = pc.binary_join_element_wise(quote, column, empty)
            table = table.set_column(index, field, pc.if_else(risky, quoted, column))
    return table


def _write_lines(frame: pd.DataFrame, path: Path) -> None:
    """One API-shaped record a line; other columns under COLUMNS_KEY."""
    text = frame_to_csv_frame(frame)
    api = [name for name in (*_TOP_LEVEL_TEXT, "entities") if name in frame.columns]
    others = [
        name
        for name in text.columns
        if name not in api
        and name != "extra"
        and name.removesuffix("_s") not in _DERIVED
        and name not in _DERIVED
    ]
    rows = {name: _plain(text[name]) for name in [*api, *others]}
    entities = frame["entities"].tolist() if "entities" in frame else [None] * len(frame)
    extras = frame["extra"].tolist() if "extra" in frame else [None] * len(frame)
    with path.open("wb") as out:
        for i in range(len(frame)):
            extra = extras[i]
            record: dict[str, Any] = dict(extra) if isinstance(extra, dict) else {}
            for name in api:
                record[name] = entities[i] if name == "entities" else rows[name][i]
            if "end_time" in record and record["end_time"] is None:
                record["end_time"] = ""  # the API's "not ended"
            if others:
                record[COLUMNS_KEY] = {name: rows[name][i] for name in others}
            out.write(orjson.dumps(record, default=str, option=orjson.OPT_NON_STR_KEYS) + b"\n")


def _plain(values: pd.Series) -> list[Any]:
    """Plain Python values for JSON: None for missing."""
    objects = values.astype(object)
    return objects.where(values.notna(), None).tolist()


def _with_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Move the `_jobtools` columns a JSONL file carried out of `extra` into columns."""
    extras = frame["extra"].to_numpy(dtype=object)
    rows = np.flatnonzero(frame["extra"].notna().to_numpy())
    carrying = [i for i in rows.tolist() if COLUMNS_KEY in extras[i]]
    if not carrying:
        return frame
    frame = frame.copy()
    # These dicts were parsed from the file just now, so they are ours to change.
    carried = {frame.index[i]: extras[i].pop(COLUMNS_KEY) for i in carrying}
    frame["extra"] = [e or None for e in extras]
    columns = pd.DataFrame.from_dict(carried, orient="index").reindex(frame.index)
    restored = _from_csv_frame(columns.astype(object).where(columns.notna(), None))
    out = pd.concat([frame, restored], axis=1)
    out.attrs = frame.attrs  # concat keeps attrs only when all frames agree
    return out


def _describe(problems: list[dict[str, Any]]) -> str:
    shown = ", ".join(f"{p['file']}:{p['line']} ({p['error']})" for p in problems[:10])
    more = f", and {len(problems) - 10} more" if len(problems) > 10 else ""
    return f"skipped {len(problems)} unreadable record(s): {shown}{more}"
