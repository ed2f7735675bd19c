"""The JSONL kernel: one compiled pass over the bytes reads every job line into columns.

`scan` walks each line as a strict JSON validator (strings, escapes, UTF-8, numbers,
literals, nesting), and on the way copies out what the frame needs: the top-level fields, the
`entities` text, the entity fields, `resource_id`, `entity_error` and `sub_job_count` (by the
rules of `jobtools.frame`), both job times when they have one of the service's two exact
shapes, and the creation time in the job id. It runs compiled (numba), without the GIL, on
both halves of a file at once.

Each line ends in one of three states. `OK`: every value was taken. `PYTHON`: valid as far
as the kernel can tell, but something in it is for the exact Python rules (an escape in a
value taken, an unknown top-level field, a duplicated key, an odd type in the entities, a
spaced `entities` text); the caller parses just those lines with orjson. `REJECT`: not a JSON
object of job fields (then the whole file goes the slow, reporting way). Blank lines are no
rows. A time of another shape is left for the general parser (`TIME_OTHER`).
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from typing import Any

import numpy as np

from jobtools.frame import ENTITY_FIELDS, RESOURCE_KEYS, SUB_JOB_KEYS
from jobtools.io import _kernel  # type: ignore[attr-defined]
from jobtools.schema import RECORD_FIELDS

__all__ = ["Scanned", "scan"]

OK, PYTHON, REJECT, BLANK = 0, 1, 2, 3
TIME_NONE, TIME_UTC, TIME_LEGACY, TIME_OTHER = 0, 1, 2, 3

# The columns the kernel writes, by index: the record's fields, then these.
TOP = RECORD_FIELDS
ENTITIES = len(TOP)
STRING_OUTPUTS = (
    *TOP,
    "entities",
    "image_id",
    "image_name",
    "current_task",
    "entity_error_code",
    "entity_error",
    "resource_id",
    "process_percent",
)
_OUT = {name: i for i, name in enumerate(STRING_OUTPUTS)}
# The entity keys the kernel follows. Resource keys keep RESOURCE_KEYS' order of preference.
ENT_KEYS = (
    *RESOURCE_KEYS,
    "image_name",
    "current_task",
    "process_percent",
    "error_code",
    "error",
    "errorcode_message",
    *SUB_JOB_KEYS,
    "sub_jobs_total",
)
_E = {key: i for i, key in enumerate(ENT_KEYS)}
# Which output column each followed entity key fills as it is (the rest feed derived ones).
_ENT_OUTPUT = np.full(len(ENT_KEYS), -1, dtype=np.int64)
for _name, _key in ENTITY_FIELDS.items():
    _ENT_OUTPUT[_E[_key]] = _OUT[_name]
SUB_KEYS = (*RESOURCE_KEYS, "errorcode_message", *SUB_JOB_KEYS)
_N_RES = len(RESOURCE_KEYS)
_SUB_MAX = 256  # sub-jobs per list the kernel follows; more goes to the Python rules



def _table(keys: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    blob = b"".join(k.encode() for k in keys)
    offsets = np.cumsum([0, *(len(k) for k in keys)]).astype(np.int64)
    return np.frombuffer(blob, dtype=np.uint8).copy(), offsets


_TABLES = (_table(TOP + ("entities",)), _table(ENT_KEYS), _table(SUB_KEYS))


# Where things are in the kernel's tables (fixed here, checked against the names above).
_JOB_ID = TOP.index("job_id")
_TIMES = np.array([TOP.index("begin_time"), TOP.index("end_time")], dtype=np.int64)
_FIRST_LIST = _E[SUB_JOB_KEYS[0]]
_TOTAL = _E["sub_jobs_total"]
_ERROR, _MESSAGE = _E["error"], _E["errorcode_message"]
_PERCENT = _E["process_percent"]
_ENTITY_ERROR, _RESOURCE = _OUT["entity_error"], _OUT["resource_id"]
_PERCENT_OUT = _OUT["process_percent"]
assert ENT_KEYS[:_N_RES] == RESOURCE_KEYS and ENT_KEYS[_FIRST_LIST + 1] == SUB_JOB_KEYS[1]
# Flat, as the kernel takes them: (names, offsets) of the top-level, entity, sub-job entity
# and sub-job keys.
_TABLES = tuple(part for table in _TABLES for part in table)

# The entity keys copied as they are into a column, and which column.
_DIRECT_E = np.array([_E[key] for key in ENTITY_FIELDS.values() if key != "process_percent"])
_DIRECT_OUT = np.array(
    [_OUT[name] for name, key in ENTITY_FIELDS.items() if key != "process_percent"]
)

_kernel.layout(
    {
        "n_top": len(TOP) + 1,
        "n_ent": len(ENT_KEYS),
        "n_sub": len(SUB_KEYS),
        "n_res": _N_RES,
        "n_out": len(STRING_OUTPUTS),
        "sub_max": _SUB_MAX,
        "job_id": _JOB_ID,
        "begin": int(_TIMES[0]),
        "end": int(_TIMES[1]),
        "first_list": _FIRST_LIST,
        "total": _TOTAL,
        "error": _ERROR,
        "message": _MESSAGE,
        "percent": _PERCENT,
        "o_entities": ENTITIES,
        "o_entity_error": _ENTITY_ERROR,
        "o_resource": _RESOURCE,
        "o_percent": _PERCENT_OUT,
    },
    _DIRECT_E.tolist(),
    _DIRECT_OUT.tolist(),
    b"janfebmaraprmayjunjulaugsepoctnovdec",
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


# Below this many bytes a file is read in one part: a thread costs more than it saves.
_SPLIT_AT = 1 << 22


def scan(data: Any) -> list[tuple[Scanned, list[np.ndarray]]]:
    """Every line of JSONL bytes, read by the kernel in two parts at once (one for a small file)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    cuts = [0, len(buf)]
    if len(buf) >= _SPLIT_AT:
        newline = np.flatnonzero(buf[len(buf) // 2 : len(buf) // 2 + (1 << 20)] == 10)
        if len(newline):
            cuts.insert(1, len(buf) // 2 + int(newline[0]) + 1)

    def part(lo: int, hi: int) -> tuple[Scanned, list[np.ndarray]]:
        # A region per column, a quarter of the part each (the entities text is the largest
        # column, about a third of a file); memory never written is never committed. When a
        # region is too small, the part is read again with regions as long as the part.
        for share in (4, 1):
            cap = (hi - lo) // share + 4096
            out = np.empty(cap * len(STRING_OUTPUTS), dtype=np.uint8)
            scanned = Scanned(*_kernel.scan_chunk(buf, lo, hi, _TABLES, out))
            if not scanned.used[-1]:
                break
        return scanned, [out[f * cap : f * cap + scanned.used[f]] for f in range(len(STRING_OUTPUTS))]

    if len(cuts) == 2:
        return [part(0, len(buf))]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        second = pool.submit(part, cuts[1], cuts[2])
        first = part(cuts[0], cuts[1])
        return [first, second.result()]
