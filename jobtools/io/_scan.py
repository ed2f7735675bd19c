"""The JSONL scanner: one compiled pass over a part of a file gathers its raw values.

The scanner (`_kernel.pyx`, compiled by the install; optional) walks each line as a strict
JSON validator and gathers, for the slots of `jobtools.frame.RawJobs` (the record's fields
and the entity keys the rules read), each value's kind and text, the `entities` text as
orjson writes it (compact, its strings escaped as orjson escapes them, the held keys that
open it cut as `frame.split_entities` cuts them) and where each sub-job list is and how
long. Its tables (which keys, which kinds each may have, which text column each goes to)
are made here from the schema at run time, and it knows no rule: `frame.frame_from_raw`
derives every column, for the scanner and for parsed records alike.

Unknown top-level fields go whole into the `extra` text, as orjson writes them. A top-level
field given again (a string or null) is written again: the last wins, as in Python. A line
the scanner does not take as it is goes to Python's rules (`PYTHON`): an escaped key, any
other duplicated key, a value of a kind its slot does not take (a number where text goes),
a number orjson writes otherwise or that may not fit 64 bits, nesting deeper than 64, a
top-level `sub_jobs` (VBS: the rules follow it), or anything that is no JSON object (which
Python reports). Spaces, `\\uXXXX` escapes, CRLF line ends and keys in any order stay on
the fast path.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from jobtools.frame import (
    ARRAY,
    BOOL,
    ENTITY_FIELDS,
    ENTITY_KIND_KEYS,
    ENTITY_TEXT_KEYS,
    FLOAT,
    HELD_ENTITY_KEYS,
    INT,
    NULL,
    OBJECT,
    STRING,
    SUB_JOB_KEYS,
    TOTAL_KEY,
    RawJobs,
    _sub_job_rows,
    slot,
)
from jobtools.schema import RECORD_FIELDS

try:
    from jobtools.io import _kernel  # type: ignore[attr-defined]
except ImportError:  # not compiled: the Python engine reads every file
    _kernel = None

__all__ = ["BUILT", "Part", "scan"]

BUILT = _kernel is not None
OK, PYTHON, BLANK = 0, 1, 2

# The slots in the scanner's order: the top-level fields, then the entity keys. A top-level
# `sub_jobs` is a slot that takes no kind: VBS puts its sub-jobs there (reference, "More
# services with this job API"), and the rules follow them (`frame._with_top_sub_jobs`).
TOP_SUB_JOBS = "sub_jobs"
TOP = (*RECORD_FIELDS, "entities", TOP_SUB_JOBS)
ENTITY_KEYS = tuple(dict.fromkeys((*ENTITY_TEXT_KEYS, *ENTITY_KIND_KEYS)))
SLOTS = (*TOP, *(slot(key) for key in ENTITY_KEYS))
# The text columns it writes, by index (the entities text after them).
TEXT_SLOTS = (*RECORD_FIELDS, *(slot(key) for key in ENTITY_TEXT_KEYS))
KIND_SLOTS = ("entities", *(slot(key) for key in ENTITY_KIND_KEYS))


def _accepted(name: str) -> int:
    """The kinds the scanner takes in a slot, as `frame_from_raw` reads them from Python's
    values; any other kind sends the line to Python's rules (whose text is `str(value)`)."""
    kinds = {NULL, STRING}
    if name == TOP_SUB_JOBS:
        kinds = set()  # any value: Python's rules
    elif name == "entities":
        kinds = {NULL, OBJECT}
    elif name == slot(ENTITY_FIELDS["process_percent"]):
        kinds = {NULL, INT, FLOAT}
    elif name in (slot(TOTAL_KEY), *(slot(key) for key in SUB_JOB_KEYS)):
        kinds = {NULL, STRING, INT, FLOAT, BOOL, OBJECT, ARRAY}  # only the kind is read
    return sum(1 << kind for kind in kinds)


def _tables() -> dict[str, Any]:
    names = [*TOP, *ENTITY_KEYS]
    blob = b"".join(name.encode() for name in names)
    held = {slot(key): rank for rank, key in enumerate(HELD_ENTITY_KEYS)}
    percent = slot(ENTITY_FIELDS["process_percent"])
    lists = {slot(key): i for i, key in enumerate(SUB_JOB_KEYS)}

    def column(values: list[int]) -> np.ndarray:
        return np.array(values, dtype=np.int64)

    return {
        "names": np.frombuffer(blob, dtype=np.uint8).copy(),
        "name_off": column(np.cumsum([0, *(len(n.encode()) for n in names)]).tolist()),
        "n_top": len(TOP),
        "entities": TOP.index("entities"),
        "n_text": len(TEXT_SLOTS),
        "accept": column([_accepted(name) for name in SLOTS]),
        "text": column([TEXT_SLOTS.index(n) if n in TEXT_SLOTS else -1 for n in SLOTS]),
        "held": column([held.get(name, -1) for name in SLOTS]),
        "held_kind": column([FLOAT if name == percent else STRING for name in SLOTS]),
        "span": column([lists.get(name, -1) for name in SLOTS]),
    }


TABLES = _tables()
_SUB_JOB_INDEX = {key: i for i, key in enumerate(SUB_JOB_KEYS)}


@dataclass
class Part:
    """One part of a file as the scanner read it: the raw values of its rows (lines not
    blank; a line left to Python has no values), each row's verdict and line number (from 0
    at the part's start), the rows left to Python and where their lines are (start, end),
    and how many lines the part has."""

    raw: RawJobs
    state: np.ndarray
    line: np.ndarray
    left: np.ndarray
    left_where: np.ndarray
    lines: int
    # Where its text columns are written (`_regions`), and how much of each: room to `put`.
    memory: np.ndarray
    bounds: np.ndarray
    used: np.ndarray


def _regions(part_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """Room for the text columns of a part, each as large as the part (no column's text is
    longer): anonymous memory, committed page by page as written, so a region costs only
    what is written into it, and its columns are kept without a copy.

    Not numpy's allocation: numpy asks for huge pages on large arrays, and on a machine whose
    memory is fragmented the kernel compacts memory at each first touch of one (measured:
    a whole read up to half a second slower).
    """
    per = max(part_bytes, 1)
    bounds = np.arange(len(TEXT_SLOTS) + 3, dtype=np.int64) * per  # + entities, extra
    private = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS  # not shared memory: cheaper page faults
    return np.frombuffer(mmap.mmap(-1, int(bounds[-1]), flags=private), dtype=np.uint8), bounds


def _room(lines: int) -> int:
    return lines + lines // 4 + 1024


class Scratch:
    """The scanner's per-row arrays, used again for part after part (each part's values are
    copied out, only those kept): new arrays for every part would be new memory every time,
    which costs more than the scan itself on a virtual machine. One per thread."""

    def __init__(self) -> None:
        self.capacity = 0
        self.arrays: dict[str, np.ndarray] = {}
        self._nulls = pa.nulls(0, pa.large_string())
        self._rows_a_byte = 0.0  # the most rows a byte any part so far held

    def for_part(self, buf: np.ndarray, lo: int, hi: int) -> dict[str, np.ndarray]:
        """Arrays with room for the rows `buf[lo:hi]` likely holds: as many a byte as the
        densest part so far, and a quarter more; the first part's lines are counted (a pass
        over the part of its own: 0.1 s a million records, saved for the others)."""
        if not self._rows_a_byte:
            return self.for_lines(_room(_kernel.count_lines(buf, lo, hi)))
        return self.for_lines(_room(int((hi - lo) * self._rows_a_byte)))

    def held(self, rows: int, size: int) -> None:
        self._rows_a_byte = max(self._rows_a_byte, rows / max(size, 1))

    def nulls(self, n: int) -> pa.Array:
        """A text column of `n` nulls: a slice of one kept here (Arrow's all-null column has
        offsets of 8 bytes a row, and most of the slots are empty in most parts: a new one
        for each would hold 170 MB of zeros for a million records)."""
        if len(self._nulls) < n:
            self._nulls = pa.nulls(max(n, 2 * len(self._nulls)), pa.large_string())
        return self._nulls.slice(0, n)

    def for_lines(self, lines: int) -> dict[str, np.ndarray]:
        if lines > self.capacity:
            cap = self.capacity = lines
            n_text = len(TEXT_SLOTS) + 2  # + entities, extra
            self.arrays = {
                "state": np.zeros(cap, dtype=np.int8),
                "line": np.zeros(cap, dtype=np.int64),
                "where": np.zeros((2, cap), dtype=np.int64),
                "kind": np.zeros((len(SLOTS), cap), dtype=np.int8),
                "offsets": np.zeros((n_text, cap + 1), dtype=np.int64),
                "valid": np.zeros((n_text, cap), dtype=np.uint8),
                "arrays": np.zeros((max(len(SUB_JOB_KEYS), 1), 3, cap), dtype=np.int64),
            }
        return self.arrays


def scan(buf: np.ndarray, lo: int, hi: int, scratch: Scratch | None = None) -> Part:
    """The lines of `buf[lo:hi]`, read by the scanner (which must be built)."""
    if _kernel is None:
        raise RuntimeError("the JSONL scanner is not built")
    memory, bounds = _regions(hi - lo)
    scratch = scratch or Scratch()
    got = scratch.for_part(buf, lo, hi)
    try:
        n, lines, used = _kernel.scan(buf, lo, hi, TABLES, memory, bounds, got)
    except _kernel.NoRoom:  # more rows than any part before held: counted, and read again
        got = scratch.for_lines(_kernel.count_lines(buf, lo, hi))
        n, lines, used = _kernel.scan(buf, lo, hi, TABLES, memory, bounds, got)
    scratch.held(n, hi - lo)
    columns = []
    for f in range(len(TEXT_SLOTS) + 2):
        start = int(bounds[f])
        valid = got["valid"][f, :n].view(bool)
        if not valid.any():
            columns.append(scratch.nulls(n))  # no offsets kept for nothing
            continue
        columns.append(
            pa.LargeStringArray.from_buffers(
                n,
                pa.py_buffer(got["offsets"][f, : n + 1].copy()),
                pa.py_buffer(memory[start : start + int(used[f])]),
                None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little")),
            )
        )
    kind = {name: got["kind"][SLOTS.index(name), :n].copy() for name in KIND_SLOTS}
    arrays = got["arrays"]
    items = {key: arrays[i, 2, :n].copy() for i, key in enumerate(SUB_JOB_KEYS)}
    chosen = _sub_job_rows(kind, items)
    rows = np.fromiter(chosen, dtype=np.int64, count=len(chosen))
    which = np.array([_SUB_JOB_INDEX[key] for key in chosen.values()], dtype=np.int64)
    view = buf.data  # the part's bytes, as a memoryview
    sub_jobs = {
        row: bytes(view[a:b])
        for row, a, b in zip(
            chosen, arrays[which, 0, rows].tolist(), arrays[which, 1, rows].tolist(), strict=True
        )
    }
    raw = RawJobs(
        n,
        dict(zip(TEXT_SLOTS, columns[:-2], strict=True)),
        kind,
        items,
        columns[-2],
        columns[-1],
        sub_jobs,
    )
    state = got["state"][:n].copy()
    left = np.flatnonzero(state == PYTHON)
    line = got["line"][:n].copy()
    return Part(raw, state, line, left, got["where"][:, left], int(lines), memory, bounds, used)


def put(part: Part, rows: np.ndarray, read: RawJobs) -> RawJobs:
    """The part's rows with `rows` (left empty by the scanner, in order) holding the rows of
    `read` (the lines Python's rules read), as `RawJobs.put` puts them, but each text column's
    new values moved into its region, the text after them moved along once (`_kernel.splice`:
    no new memory, 10x faster than a copy of the column, which one without room still gets)."""

    def spliced(name: str, old: pa.Array, new: pa.Array) -> pa.Array | None:
        return _spliced(part, _COLUMN[name], old, new, rows)

    return part.raw.put(rows, read, spliced)


# Each text column's place among the regions (`_regions`).
_COLUMN = {name: f for f, name in enumerate((*TEXT_SLOTS, "entities", "extra"))}


def _spliced(part: Part, f: int, old: pa.Array, new: pa.Array, rows: np.ndarray) -> pa.Array | None:
    n = len(old)
    region = part.memory[int(part.bounds[f]) : int(part.bounds[f + 1])]
    used = int(part.used[f])
    valid = np.array(old.is_valid(), dtype=bool)  # (a copy: set below)
    if valid.any():
        offsets = np.frombuffer(old.buffers()[1], dtype=np.int64)[old.offset : old.offset + n + 1]
    else:
        offsets = np.zeros(n + 1, dtype=np.int64)  # a shared null column: nothing written
    if offsets[0] != 0 or offsets[n] != used:
        return None  # not the region's text as the scanner wrote it
    theirs = np.frombuffer(new.buffers()[1], dtype=np.int64)[new.offset : new.offset + len(new) + 1]
    data = new.buffers()[2]
    text = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    spliced = _kernel.splice(region, used, offsets, rows, theirs, text)
    if spliced < 0:
        return None  # no room (a value Python writes longer than its line)
    lengths = np.zeros(n + 1, dtype=np.int64)
    lengths[rows + 1] = np.diff(theirs)
    valid[rows] = np.asarray(new.is_valid())
    return pa.LargeStringArray.from_buffers(
        n,
        pa.py_buffer(offsets + np.cumsum(lengths)),
        pa.py_buffer(region[:spliced]),
        None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little")),
    )
