"""The JSONL kernel: one compiled pass over the bytes reads every job line into columns.

The kernel (`_kernel.pyx`, built by the install) walks each line as a strict JSON validator
(strings, escapes, UTF-8, numbers, literals, nesting), and on the way copies out what the
frame needs: the top-level fields, the `entities` text (less the held keys, as
`frame.split_entities` cuts them), the entity fields, `resource_id`, `entity_error` and
`sub_job_count` (by the rules of `jobtools.frame`), both job times when they have one of the
service's two exact shapes, and the creation time in the job id. It runs without the GIL, on
both halves of a file at once. This module lays out its tables and hands it the buffers.

Each line ends in one of three states. `OK`: every value was taken. `PYTHON`: valid as far
as the kernel can tell, but something in it is for the exact Python rules (an escape in a
value taken, an unknown top-level field, a duplicated key, an odd type in the entities, a
spaced `entities` text, a number orjson writes otherwise); the caller parses just those lines
with orjson. `REJECT`: not a JSON object of job fields (then the whole file goes the slow,
reporting way). Blank lines are no rows. A time of another shape is left for the general
parser (`TIME_OTHER`).
"""

from __future__ import annotations

import concurrent.futures
import mmap
from dataclasses import dataclass
from typing import Any

import numpy as np

from jobtools.frame import (
    ENTITY_FIELDS,
    ERROR_KEYS,
    HELD_ENTITY_KEYS,
    RESOURCE_KEYS,
    SUB_JOB_KEYS,
    TOTAL_KEY,
)
from jobtools.io import _kernel  # type: ignore[attr-defined]
from jobtools.schema import RECORD_FIELDS

__all__ = ["Scanned", "scan"]

OK, PYTHON, REJECT, BLANK = 0, 1, 2, 3
TIME_NONE, TIME_UTC, TIME_LEGACY, TIME_OTHER = 0, 1, 2, 3

# The columns the kernel writes, by index: the record's fields, the entities text, the entity
# fields that are text, the two derived text columns, and the progress (as its number's text).
TOP = RECORD_FIELDS
ENTITIES = len(TOP)
STRING_OUTPUTS = (
    *TOP,
    "entities",
    *(name for name, key in ENTITY_FIELDS.items() if key != "process_percent"),
    "entity_error",
    "resource_id",
    "process_percent",
)
_OUT = {name: i for i, name in enumerate(STRING_OUTPUTS)}
# The entity keys the kernel follows, resource keys first (their order is their preference).
ENT_KEYS = tuple(
    dict.fromkeys((*RESOURCE_KEYS, *ENTITY_FIELDS.values(), *ERROR_KEYS, *SUB_JOB_KEYS, TOTAL_KEY))
)
_E = {key: i for i, key in enumerate(ENT_KEYS)}
# The keys followed in a sub-job's entities: its resource, its message, and sub-jobs of its own
# (which only Python's rules follow).
SUB_KEYS = (*RESOURCE_KEYS, ERROR_KEYS[1], *SUB_JOB_KEYS)
_N_RES = len(RESOURCE_KEYS)
_SUB_MAX = 256  # sub-jobs per list the kernel follows; more goes to the Python rules
assert ENT_KEYS[:_N_RES] == RESOURCE_KEYS and set(ENTITY_FIELDS.values()) <= set(ENT_KEYS)


def _table(keys: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Names as the kernel matches them: their bytes end to end, and where each starts."""
    blob = b"".join(k.encode() for k in keys)
    offsets = np.cumsum([0, *(len(k) for k in keys)]).astype(np.int64)
    return np.frombuffer(blob, dtype=np.uint8).copy(), offsets


# (names, offsets) of the top-level keys, the entity keys and a sub-job's entity keys.
_TABLES = tuple(part for keys in (TOP + ("entities",), ENT_KEYS, SUB_KEYS) for part in _table(keys))
# The entity keys copied as they are into a column, and which column.
_DIRECT = [(_E[key], _OUT[name]) for name, key in ENTITY_FIELDS.items() if key != "process_percent"]

_kernel.layout(
    {
        "n_top": len(TOP) + 1,
        "n_ent": len(ENT_KEYS),
        "n_sub": len(SUB_KEYS),
        "n_res": _N_RES,
        "n_out": len(STRING_OUTPUTS),
        "sub_max": _SUB_MAX,
        "job_id": TOP.index("job_id"),
        "begin": TOP.index("begin_time"),
        "end": TOP.index("end_time"),
        "first_list": _E[SUB_JOB_KEYS[0]],
        "total": _E[TOTAL_KEY],
        "error": _E[ERROR_KEYS[0]],
        "message": _E[ERROR_KEYS[1]],
        "percent": _E["process_percent"],
        "o_entities": ENTITIES,
        "o_entity_error": _OUT["entity_error"],
        "o_resource": _OUT["resource_id"],
        "o_percent": _OUT["process_percent"],
    },
    [e for e, _ in _DIRECT],
    [o for _, o in _DIRECT],
    b"janfebmaraprmayjunjulaugsepoctnovdec",
    [HELD_ENTITY_KEYS.index(key) if key in HELD_ENTITY_KEYS else -1 for key in ENT_KEYS],
)
NO_COUNT = _kernel.NO_COUNT


@dataclass
class Scanned:
    """One part of a file, read by the kernel: per line its verdict and where it is, the output
    columns (Arrow buffers), the sub-job counts, both job times and the ids' times."""

    state: np.ndarray
    line_start: np.ndarray
    line_end: np.ndarray
    offsets: np.ndarray
    valid: np.ndarray
    used: np.ndarray
    sub_count: np.ndarray
    time_kind: np.ndarray
    time_us: np.ndarray
    id_ms: np.ndarray

    def __len__(self) -> int:
        return len(self.state)


def _buffer(size: int) -> np.ndarray:
    """Room for the output regions: anonymous memory, committed page by page as written.

    Not numpy's allocation: numpy asks for huge pages on large arrays, and on a machine whose
    memory is fragmented the kernel compacts memory at each first touch of one, which made
    the whole read up to half a second slower (measured: 1.7 s against 1.2 s a read).
    """
    return np.frombuffer(mmap.mmap(-1, max(size, 1)), dtype=np.uint8)


# Below this many bytes a file is read in one part: a thread costs more than it saves.
_SPLIT_AT = 1 << 22


def scan(data: Any) -> list[tuple[Scanned, list[np.ndarray]]] | None:
    """Every line of JSONL bytes, read by the kernel in two parts at once (one for a small file).

    None when the output regions cannot be had (a huge file whose one column takes more than a
    quarter of it): the caller reads it the slow way.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    cuts = [0, len(buf)]
    if len(buf) >= _SPLIT_AT:
        newline = np.flatnonzero(buf[len(buf) // 2 : len(buf) // 2 + (1 << 20)] == 10)
        if len(newline):
            cuts.insert(1, len(buf) // 2 + int(newline[0]) + 1)

    def part(lo: int, hi: int) -> tuple[Scanned, list[np.ndarray]]:
        # A region per column: the whole part for the entities text (a third of a file, or
        # all of it), a quarter for each other column; memory never written is never
        # committed. When a region is too small, the part is read again with room for all.
        size = hi - lo + 1
        for share in (4, 1):
            sizes = np.full(len(STRING_OUTPUTS), size // share, dtype=np.int64)
            sizes[ENTITIES] = size
            regions = np.concatenate(([0], np.cumsum(sizes)))
            out = _buffer(int(regions[-1]))
            scanned = Scanned(*_kernel.scan_chunk(buf, lo, hi, _TABLES, out, regions))
            if not scanned.used[-1]:
                break
        columns = [out[regions[f] : regions[f] + scanned.used[f]] for f in range(len(sizes))]
        return scanned, columns

    try:
        if len(cuts) == 2:
            return [part(0, len(buf))]
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            second = pool.submit(part, cuts[1], cuts[2])
            first = part(cuts[0], cuts[1])
            return [first, second.result()]
    except MemoryError:
        return None
