"""The JSONL fast path of `read_jobs`: a million records in about 2.3 s instead of 28 s.

A JSONL file (memory-mapped by `jobtools.io`) is read twice at once. In a worker thread
Arrow's strict, multithreaded JSON reader types the top-level fields and the flattened entity
keys, and the columns are typed there too. Meanwhile this thread cuts each line's `entities`
text out with vectorised byte arithmetic and checks it in a few bulk orjson calls, so the
`entities` column is the lossless JSON text without a million Python-level line parses.

When Arrow refuses the file (a corrupt line, an unexpected type) or it has unknown top-level
fields, every line is parsed whole instead (`_scan_lines`): slower, and exact, with each bad
line reported.
"""

from __future__ import annotations

import concurrent.futures
import gc
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from jobtools.frame import (
    ENTITY_FIELDS,
    RESOURCE_KEYS,
    arrow_derived_entities,
    jobs_to_frame,
    type_job_columns,
)
from jobtools.schema import COLUMNS, KNOWN_FIELDS, RECORD_FIELDS, Kind
from jobtools.times import LegacyTz

# Arrow's default pool here is mimalloc, whose way of returning memory costs this VM more
# system time than the whole parse; the system allocator does not (measured: 1.4 s vs 0.25 s
# of system time for a 360 MB file).
_POOL = pa.system_memory_pool()
# What the reader works on: a file's bytes, mapped or read, or an Arrow buffer.
Bytes: TypeAlias = bytes | memoryview | pa.Buffer

_SUB_JOB_ENTITY_KEYS = tuple(
    dict.fromkeys(("image_id", "image_name", "errorcode_message", *RESOURCE_KEYS))
)
# Sub-jobs and member results as the API documents them. Only the lengths of these lists
# matter here (the items stay in the entities dicts), but a field Arrow has to infer is held
# unconverted until the end of the file: declared, the reading peaks at the table's own
# size (318 MB for the benchmark's file) instead of 538 MB. Undocumented fields are still
# inferred (more memory, same result); a documented one of another type sends the file to
# the slow path, as a top-level one does.
_SUB_JOB = pa.struct(
    [(name, pa.string()) for name in RECORD_FIELDS]
    + [("entities", pa.struct([(key, pa.string()) for key in _SUB_JOB_ENTITY_KEYS]))]
)
_RESULT = pa.struct(
    [("image_id", pa.string()), ("project_id", pa.string()), ("status", pa.string())]
)
_ENTITY_TYPE = pa.struct(
    [
        (c.key, pa.float64() if c.kind is Kind.FLOAT else pa.large_string())
        for c in COLUMNS
        if c.source == "entities" and c.key is not None
    ]
    + [
        # What the derived columns are made of (`entity_error`, `resource_id`, `sub_job_count`).
        *((key, pa.large_string()) for key in RESOURCE_KEYS if key not in ENTITY_FIELDS.values()),
        ("error", pa.large_string()),
        ("errorcode_message", pa.large_string()),
        ("sub_jobs_result", pa.list_(_SUB_JOB)),
        ("sub_jobs", pa.list_(_SUB_JOB)),
        ("sub_jobs_total", pa.int64()),
        ("results", pa.list_(_RESULT)),
    ]
)
_ARROW_SCHEMA = pa.schema(
    # large_string: what pandas' `str` columns hold, so no column is copied to convert it.
    [(name, pa.large_string()) for name in RECORD_FIELDS] + [("entities", _ENTITY_TYPE)]
)


def read_lines(
    data: Bytes, path: Path, legacy_tz: LegacyTz | None = None
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The job frame of JSONL bytes (`path` names the file in problems), and its bad lines."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        # Arrow releases the GIL: a worker reads and types the columns while this thread
        # builds the entities dicts.
        typing = pool.submit(_typed_from_arrow, data, legacy_tz)
        located = _fast_entities(data)
        typed = typing.result()
    if typed is not None and located is not None and typed[0] == len(located.starts):
        _, columns, attrs, present = typed
        entities = located.settle(data, present)
        if entities is not None:
            columns["entities"] = pd.array(entities, dtype="str")
            columns["extra"] = pd.array(pa.nulls(len(entities), pa.large_string()), dtype="str")
            frame = pd.DataFrame(columns)
            frame.attrs.update(attrs)
            return frame, []
    # The slow, forgiving path: a corrupt line, an odd record, types Arrow refused, or
    # unknown fields (which go to `extra`). Every line is parsed in full, and reported.
    scan = _scan_lines(data, path)
    return jobs_to_frame(scan.records, legacy_tz=legacy_tz), scan.problems


def _typed_from_arrow(
    data: Bytes, legacy_tz: LegacyTz | None = None
) -> tuple[int, dict[str, Any], dict[str, Any], np.ndarray] | None:
    """Row count, typed columns, unparsed times and where entities are present (not null).

    None when the fast path does not hold: Arrow refused the file (a corrupt line, a type
    it did not expect), or the file has unknown top-level fields, which belong in `extra`.
    """
    table = _arrow_table(data)
    if table is None or not set(table.column_names) <= KNOWN_FIELDS:
        return None
    columns = _arrow_columns(table)
    # Filled in by the reading thread; typed here as null text to keep the column order.
    columns["entities"] = columns["extra"] = pa.nulls(table.num_rows, pa.large_string())
    typed, attrs = type_job_columns(columns, legacy_tz=legacy_tz)
    present = table.column("entities").is_valid().to_numpy(zero_copy_only=False)
    return table.num_rows, typed, attrs, np.asarray(present, dtype=bool)


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
    """Each line's `entities` JSON text where it was `cut` right; where its lines are."""

    texts: pa.Array
    cut: np.ndarray
    starts: np.ndarray
    stops: np.ndarray

    def settle(self, data: Bytes, present: np.ndarray) -> pa.Array | None:
        """The entities column as JSON text, given Arrow's reading (`present`: not null).

        Rows whose text could not be cut are parsed from their whole line; text with
        `json.dumps` spacing is rewritten compact, so the column is the same whichever way a
        file is read.
        """
        # The same text buffers, with the rows not cut right marked null (no copy).
        valid = pa.array(self.cut & present).buffers()[1]
        texts = pa.LargeStringArray.from_buffers(len(self.cut), *self.texts.buffers()[1:], valid)
        loose = pc.fill_null(pc.match_substring(texts, '": '), False)
        redo = np.flatnonzero((present & ~self.cut) | loose.to_numpy(zero_copy_only=False))
        if not len(redo):
            return texts
        fixed = []
        for row in redo.tolist():
            try:
                value = orjson.loads(data[self.starts[row] : self.stops[row]])["entities"]
            except (orjson.JSONDecodeError, TypeError, KeyError):
                return None
            fixed.append(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode())
        mask = np.zeros(len(self.cut), dtype=bool)
        mask[redo] = True
        return pc.replace_with_mask(texts, pa.array(mask), pa.array(fixed, pa.large_string()))


def _fast_entities(data: Bytes) -> _Located | None:
    """Find the raw `entities` text in every line of JSONL, without parsing whole lines.

    Parsing a million whole lines in Python is what makes the plain approach slow, so only
    the entities are looked at here. Their text is found with vectorised byte arithmetic
    (Arrow's substring search over views of the buffer, numpy for the rest): a line's first
    `"entities":` is its top-level key, given what Arrow's strict reading of the same file
    proves (every top-level field known, appearing once, holding a string, null or, for
    entities, an object; a `"` inside a string is escaped). A flat object value ends at the
    first `}` outside a string: with no backslash in it, that is the first `}` after an even
    number of quotes. A nested one ends where its braces balance again, which a brace inside
    a string can mislead, but then the text cut out is not valid JSON (a valid JSON object
    ends exactly where its braces balance): nested texts are checked by bulk orjson calls,
    and lines whose text cannot be trusted are parsed whole instead.

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
    stop = np.where(flat, close + 1, at)

    chosen = np.flatnonzero(is_object & ~flat)
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
        chosen, balanced = chosen[good], (balanced - offsets[:-1])[good]
        stop[chosen] = starts[chosen] + balanced + 1
    texts = _spans(data, np.where(stop > at, at, stop), stop)
    # A flat text is cut right when its quotes pair up and none is escaped (then the first
    # `}` is outside any string); a nested one when it is valid JSON.
    quotes = pc.count_substring(texts, '"', memory_pool=_POOL).to_numpy(zero_copy_only=False)
    escaped = pc.match_substring(texts, "\\", memory_pool=_POOL).to_numpy(zero_copy_only=False)
    cut = flat & (quotes % 2 == 0) & ~escaped
    if len(chosen):
        cut[chosen] = _valid_spans(data, at[chosen], stop[chosen])
    return _Located(texts, cut, starts, ends)


def _spans(data: Bytes, begins: np.ndarray, ends: np.ndarray) -> pa.LargeStringArray:
    """Arrow strings `data[begins[i]:ends[i]]` gathered in one copy (spans in order, disjoint)."""
    bounds = np.empty(2 * len(begins) + 1, dtype=np.int64)
    bounds[1::2], bounds[2::2] = begins, ends
    bounds[0] = begins[0] if len(begins) else 0
    return pc.take(_views(data, bounds), np.arange(1, len(bounds), 2), memory_pool=_POOL)


def _next(positions: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The first of the sorted `positions` at or after each of `after`, or -1."""
    index = np.searchsorted(positions, after)
    found = index < len(positions)
    return np.where(found, positions[np.minimum(index, max(len(positions) - 1, 0))], -1)


def _views(data: Bytes, bounds: np.ndarray) -> pa.LargeStringArray:
    """Arrow strings `data[bounds[i]:bounds[i + 1]]`, without copying; bounds must not fall."""
    offsets = pa.py_buffer(np.ascontiguousarray(bounds, dtype=np.int64))
    return pa.LargeStringArray.from_buffers(len(bounds) - 1, offsets, pa.py_buffer(data))


def _valid_spans(data: Bytes, begins: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which of the texts `data[begins[i]:ends[i]]` are valid JSON (checked in bulk calls)."""
    valid = np.ones(len(begins), dtype=bool)
    if not len(begins):
        return valid
    if begins[0] < 1 or ends[-1] >= len(memoryview(data)):
        valid[:] = False
        return valid
    enabled = gc.isenabled()
    gc.disable()  # many new dicts would set off the cyclic collector over and over
    try:
        for first, stop in itertools.pairwise(_chunks(ends - begins + 1, _TEXT_PER_CALL)):
            try:
                ok = len(orjson.loads(_array_text(data, begins[first:stop], ends[first:stop])))
            except orjson.JSONDecodeError:
                ok = -1
            if ok != stop - first:
                # Some text was cut wrong (a brace inside a string): find which, one by one.
                view = memoryview(data)
                for i in range(first, stop):
                    try:
                        orjson.loads(view[begins[i] : ends[i]])
                    except orjson.JSONDecodeError:
                        valid[i] = False
    finally:
        if enabled:
            gc.enable()
    return valid


# The text checked per orjson call by `_valid_spans`: chunks reuse the same memory.
_TEXT_PER_CALL = 1 << 20


def _chunks(sizes: np.ndarray, budget: int) -> np.ndarray:
    """Where to cut items of these sizes into runs of about `budget`: 0, ..., len(sizes)."""
    total = np.cumsum(sizes)
    cuts = np.searchsorted(total, np.arange(budget, total[-1], budget), side="right")
    return np.unique(np.concatenate(([0], cuts, [len(sizes)])))


def _array_text(data: Bytes, begins: np.ndarray, ends: np.ndarray) -> memoryview:
    """The texts `data[begins[i]:ends[i]]` gathered as the JSON array `[text0,text1,...]`."""
    bounds = np.empty(2 * len(begins), dtype=np.int64)
    bounds[0::2], bounds[1::2] = begins - 1, ends
    bounds[-1] += 1
    gathered = pc.take(_views(data, bounds), np.arange(0, len(bounds), 2), memory_pool=_POOL)
    offsets = np.frombuffer(gathered.buffers()[1], dtype=np.int64)[: len(begins) + 1]
    text = np.frombuffer(gathered.buffers()[2], dtype=np.uint8)[: offsets[-1]]
    text[offsets[:-1]] = ord(",")
    text[0], text[-1] = ord("["), ord("]")
    return text.data


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
    columns: dict[str, Any] = {name: table.column(name) for name in RECORD_FIELDS}
    ents = table.column("entities")

    def field(name: str) -> pa.Array:
        return pc.struct_field(ents, name)

    columns |= {name: field(key) for name, key in ENTITY_FIELDS.items()}
    columns |= arrow_derived_entities(ents)
    count = pc.coalesce(
        pc.list_value_length(field("sub_jobs_result")).cast(pa.int64()),
        pc.list_value_length(field("sub_jobs")).cast(pa.int64()),
        field("sub_jobs_total"),
        pa.scalar(0, pa.int64()),
    )
    sub_job_count = pc.if_else(ents.is_valid(), count, pa.scalar(None, pa.int64()))
    columns["sub_job_count"] = pd.array(sub_job_count, dtype="Int64")
    return columns
