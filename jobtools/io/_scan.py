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

import numba as nb
import numpy as np
from numba.typed import List

from jobtools.frame import ENTITY_FIELDS, RESOURCE_KEYS, SUB_JOB_KEYS
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

# Contexts: what the object or array being read is.
_TOPC, _ENTC, _LISTC, _JOBC, _SUBENTC, _OTHERC = 0, 1, 2, 3, 4, 5
# Value types seen for a followed key.
_ABSENT, _NULL, _STRING, _INT, _FLOAT, _OTHERT = 0, 1, 2, 3, 4, 5


def _table(keys: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    blob = b"".join(k.encode() for k in keys)
    offsets = np.cumsum([0, *(len(k) for k in keys)]).astype(np.int64)
    return np.frombuffer(blob, dtype=np.uint8).copy(), offsets


_TABLES = (_table(TOP + ("entities",)), _table(ENT_KEYS), _table(SUB_KEYS))
_MONTHS = np.frombuffer(b"janfebmaraprmayjunjulaugsepoctnovdec", dtype=np.uint8).copy()


@nb.njit(cache=True, nogil=True, inline="always")
def _key_id(buf: Any, a: int, b: int, blob: Any, offsets: Any) -> int:
    n = b - a
    for k in range(len(offsets) - 1):
        lo = offsets[k]
        if offsets[k + 1] - lo != n:
            continue
        same = True
        for j in range(n):
            if buf[a + j] != blob[lo + j]:
                same = False
                break
        if same:
            return k
    return -1


@nb.njit(cache=True, nogil=True)
def _utf8_length(buf: Any, i: int, end: int) -> int:
    """Bytes in the valid UTF-8 sequence starting at `i` (a byte >= 0x80), or 0."""
    c = buf[i]
    if 0xC2 <= c <= 0xDF:
        n, low, high = 2, 0x80, 0xBF
    elif c == 0xE0:
        n, low, high = 3, 0xA0, 0xBF
    elif 0xE1 <= c <= 0xEC or c == 0xEE or c == 0xEF:
        n, low, high = 3, 0x80, 0xBF
    elif c == 0xED:
        n, low, high = 3, 0x80, 0x9F
    elif c == 0xF0:
        n, low, high = 4, 0x90, 0xBF
    elif 0xF1 <= c <= 0xF3:
        n, low, high = 4, 0x80, 0xBF
    elif c == 0xF4:
        n, low, high = 4, 0x80, 0x8F
    else:
        return 0
    if i + n > end or not low <= buf[i + 1] <= high:
        return 0
    for k in range(i + 2, i + n):
        if not 0x80 <= buf[k] <= 0xBF:
            return 0
    return n


@nb.njit(cache=True, nogil=True, inline="always")
def _is_hex(c: int) -> bool:
    return (48 <= c <= 57) or (97 <= c <= 102) or (65 <= c <= 70)


@nb.njit(cache=True, nogil=True, inline="always")
def _string_end(buf: Any, i: int, end: int) -> tuple[int, bool]:
    """The closing quote of the string opening at `i` (-1 if invalid), and whether it escapes."""
    i += 1
    escaped = False
    while i < end:
        c = buf[i]
        if c == 34:
            return i, escaped
        if c == 92:
            escaped = True
            if i + 1 >= end:
                return -1, escaped
            d = buf[i + 1]
            if d == 117:  # \uXXXX
                if i + 6 > end:
                    return -1, escaped
                for k in range(i + 2, i + 6):
                    if not _is_hex(buf[k]):
                        return -1, escaped
                i += 6
            elif d in (34, 92, 47, 98, 102, 110, 114, 116):
                i += 2
            else:
                return -1, escaped
        elif c < 32:
            return -1, escaped
        elif c < 128:
            i += 1
        else:
            n = _utf8_length(buf, i, end)
            if n == 0:
                return -1, escaped
            i += n
    return -1, escaped


@nb.njit(cache=True, nogil=True, inline="always")
def _number_end(buf: Any, i: int, end: int) -> tuple[int, bool]:
    """The end of the JSON number at `i` (-1 if none), and whether it is an integer."""
    if i < end and buf[i] == 45:
        i += 1
    if i >= end:
        return -1, False
    if buf[i] == 48:
        i += 1
    elif 49 <= buf[i] <= 57:
        while i < end and 48 <= buf[i] <= 57:
            i += 1
    else:
        return -1, False
    integer = True
    if i < end and buf[i] == 46:
        i += 1
        if i >= end or not 48 <= buf[i] <= 57:
            return -1, False
        while i < end and 48 <= buf[i] <= 57:
            i += 1
        integer = False
    if i < end and (buf[i] == 101 or buf[i] == 69):
        i += 1
        if i < end and (buf[i] == 43 or buf[i] == 45):
            i += 1
        if i >= end or not 48 <= buf[i] <= 57:
            return -1, False
        while i < end and 48 <= buf[i] <= 57:
            i += 1
        integer = False
    return i, integer


@nb.njit(cache=True, nogil=True, inline="always")
def _skip_space(buf: Any, i: int, end: int) -> int:
    while i < end and (buf[i] == 32 or buf[i] == 9 or buf[i] == 13):
        i += 1
    return i


@nb.njit(cache=True, nogil=True)
def _digits(buf: Any, a: int, n: int) -> int:
    """The number in `n` ASCII digits at `a`, or -1."""
    value = 0
    for k in range(a, a + n):
        d = buf[k] - 48
        if d < 0 or d > 9:
            return -1
        value = value * 10 + d
    return value


@nb.njit(cache=True, nogil=True)
def _days_from_civil(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@nb.njit(cache=True, nogil=True)
def _month_days(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


@nb.njit(cache=True, nogil=True)
def _clock(y: int, mo: int, d: int, h: int, mi: int, s: int, ms: int) -> int:
    """Microseconds since the epoch, or -1 when a field is out of range."""
    if min(y, mo, d, h, mi, s, ms) < 0 or y < 1 or not 1 <= mo <= 12:
        return -1
    if not 1 <= d <= _month_days(y, mo) or h > 23 or mi > 59 or s > 59:
        return -1
    seconds = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
    return seconds * 1_000_000 + ms * 1000


@nb.njit(cache=True, nogil=True)
def _job_time(buf: Any, a: int, b: int) -> tuple[int, int]:
    """(kind, microseconds) of a time value: ISO `2015-06-04T10:11:06.586Z` or legacy
    `04-Jun-2015 18:11:06:586` exactly; anything else is TIME_OTHER (the general parser's)."""
    if b - a != 24:
        return (TIME_NONE if b == a else TIME_OTHER), 0
    if buf[a + 4] == 45 and buf[a + 10] == 84 and buf[a + 23] == 90:  # ISO, 'T' and 'Z'
        if not (buf[a + 7] == 45 and buf[a + 13] == 58 and buf[a + 16] == 58):
            return TIME_OTHER, 0
        if buf[a + 19] != 46:
            return TIME_OTHER, 0
        us = _clock(
            _digits(buf, a, 4),
            _digits(buf, a + 5, 2),
            _digits(buf, a + 8, 2),
            _digits(buf, a + 11, 2),
            _digits(buf, a + 14, 2),
            _digits(buf, a + 17, 2),
            _digits(buf, a + 20, 3),
        )
        return (TIME_OTHER, 0) if us < 0 else (TIME_UTC, us)
    if buf[a + 2] == 45 and buf[a + 6] == 45 and buf[a + 11] == 32:  # legacy
        if not (buf[a + 14] == 58 and buf[a + 17] == 58 and buf[a + 20] == 58):
            return TIME_OTHER, 0
        month = -1
        for k in range(12):
            same = True
            for j in range(3):
                c = buf[a + 3 + j]
                if 65 <= c <= 90:
                    c += 32
                if c != _MONTHS[3 * k + j]:
                    same = False
                    break
            if same:
                month = k + 1
                break
        us = _clock(
            _digits(buf, a + 7, 4),
            month,
            _digits(buf, a, 2),
            _digits(buf, a + 12, 2),
            _digits(buf, a + 15, 2),
            _digits(buf, a + 18, 2),
            _digits(buf, a + 21, 3),
        )
        return (TIME_OTHER, 0) if us < 0 else (TIME_LEGACY, us)
    return TIME_OTHER, 0


@nb.njit(cache=True, nogil=True)
def _id_millis(buf: Any, a: int, b: int) -> int:
    """The milliseconds in hex digits 17-28 of a 32-hex job id, or -1 (see `jobtools.ids`)."""
    if b - a != 32:
        return -1
    value = 0
    for k in range(a, b):
        c = buf[k]
        if 48 <= c <= 57:
            d = c - 48
        elif 97 <= c <= 102:
            d = c - 87
        elif 65 <= c <= 70:
            d = c - 55
        else:
            return -1
        if a + 16 <= k < a + 28:
            value = value * 16 + d
    return value


@nb.njit(cache=True, nogil=True)
def _put(out: Any, used: Any, f: int, src: Any, a: int, b: int) -> None:
    """Append `src[a:b]` to output column `f`, growing its buffer when full."""
    need = used[f] + (b - a)
    data = out[f]
    if need > len(data):
        bigger = np.empty(max(need, 2 * len(data)), dtype=np.uint8)
        bigger[: used[f]] = data[: used[f]]
        out[f] = bigger
        data = bigger
    data[used[f] : need] = src[a:b]
    used[f] = need


# Where things are in the kernel's tables (fixed here, checked against the names above).
_JOB_ID = TOP.index("job_id")
_TIMES = np.array([TOP.index("begin_time"), TOP.index("end_time")], dtype=np.int64)
_FIRST_LIST = _E[SUB_JOB_KEYS[0]]
_TOTAL = _E["sub_jobs_total"]
_ERROR, _MESSAGE = _E["error"], _E["errorcode_message"]
_PERCENT = _E["process_percent"]
_ENTITY_ERROR, _RESOURCE = _OUT["entity_error"], _OUT["resource_id"]
assert ENT_KEYS[:_N_RES] == RESOURCE_KEYS and ENT_KEYS[_FIRST_LIST + 1] == SUB_JOB_KEYS[1]
# Flat, as the kernel takes them: (names, offsets) of the top-level, entity, sub-job entity
# and sub-job keys.
_TABLES = tuple(part for table in (*_TABLES, _table(("entities",))) for part in table)

# Parser modes.
_VALUE, _MEMBER, _AFTER, _OPENED = 0, 1, 2, 3


@nb.njit(cache=True, nogil=True, inline="always")
def _line(buf, start, stop, tables, rec):  # noqa: C901, PLR0912, PLR0915 - one state machine
    """Read one line into `rec` (the per-line scratch); its verdict: OK, PYTHON, REJECT, BLANK."""
    top_blob, top_off, ent_blob, ent_off, sub_blob, sub_off, job_blob, job_off = tables
    (kind, ctx, opened, top_t, top_a, top_b, ent_t, ent_a, ent_b,
     list_seen, list_len, res_rank, res_a, res_b, msg_a, msg_b, sub_seen) = rec  # fmt: skip
    n_top = len(top_off) - 1
    pos = _skip_space(buf, start, stop)
    if pos == stop:
        return BLANK
    if buf[pos] != 123:
        return REJECT
    top_t[:] = _ABSENT
    ent_t[:] = _ABSENT
    list_seen[:] = False
    list_len[:] = 0
    msg_a[:] = -1
    verdict = OK
    depth = -1
    ent_depth = 99  # the depth of the entities object while inside it
    here = _TOPC  # context of the value about to be read
    key = -1  # the followed key it belongs to, or -1
    sub = 0  # which sub-job list, and which sub-job in it, is being read
    job = 0
    mode = _VALUE
    while True:
        if mode == _VALUE:
            skipped = _skip_space(buf, pos, stop)
            if skipped != pos and depth >= ent_depth:
                verdict = PYTHON  # spaced entities text: rewritten compact by orjson
            pos = skipped
            if pos >= stop:
                return REJECT
            c = buf[pos]
            vtype = _OTHERT
            va = pos
            vb = pos
            if c == 123 or c == 91:
                if depth + 1 >= len(kind):
                    return PYTHON if verdict != REJECT else REJECT
                child = _OTHERC
                if c == 123:
                    if depth == -1:
                        child = _TOPC
                    elif here == _TOPC and key == n_top - 1:
                        child = _ENTC
                        ent_depth = depth + 1
                    elif here == _LISTC:
                        child = _JOBC
                    elif here == _JOBC and key == 0:
                        child = _SUBENTC
                        sub_seen[:] = False
                elif here == _ENTC and _FIRST_LIST <= key < _FIRST_LIST + 2:
                    child = _LISTC
                    sub = key - _FIRST_LIST
                    list_seen[sub] = True
                    list_len[sub] = 0
                if key >= 0:
                    if here == _TOPC:
                        top_t[key] = _OTHERT
                        if key != n_top - 1 or c != 123:
                            verdict = PYTHON  # a record field that is no text: Python's
                    elif here == _ENTC:
                        ent_t[key] = _OTHERT
                    elif here == _SUBENTC:
                        verdict = PYTHON
                depth += 1
                kind[depth] = 0 if c == 123 else 1
                ctx[depth] = child
                opened[depth] = pos
                pos += 1
                mode = _OPENED
                continue
            if c == 34:
                close, escaped = _string_end(buf, pos, stop)
                if close < 0:
                    return REJECT
                if escaped and (key >= 0 or depth >= ent_depth):
                    verdict = PYTHON
                va, vb, vtype = pos + 1, close, _STRING
                pos = close + 1
            elif c == 45 or 48 <= c <= 57:
                vb, integer = _number_end(buf, pos, stop)
                if vb < 0:
                    return REJECT
                vtype = _INT if integer else _FLOAT
                pos = vb
            elif c == 110 and _literal(buf, pos, stop, 0):
                vtype = _NULL
                pos += 4
            elif c == 116 and _literal(buf, pos, stop, 1):
                pos += 4
            elif c == 102 and _literal(buf, pos, stop, 2):
                pos += 5
            else:
                return REJECT
            if key >= 0:
                if here == _TOPC:
                    top_t[key], top_a[key], top_b[key] = vtype, va, vb
                    if vtype != _NULL and (vtype != _STRING or key == n_top - 1):
                        verdict = PYTHON  # no text where text goes, or entities no object
                elif here == _ENTC:
                    ent_t[key], ent_a[key], ent_b[key] = vtype, va, vb
                elif here == _SUBENTC and job < _SUB_MAX:
                    if vtype == _STRING:
                        if key < _N_RES:
                            if vb > va and key < res_rank[sub, job]:
                                res_rank[sub, job], res_a[sub, job], res_b[sub, job] = key, va, vb
                        elif key == _N_RES and msg_a[sub] < 0:
                            msg_a[sub], msg_b[sub] = va, vb
                    elif vtype != _NULL:
                        verdict = PYTHON  # an odd type where a resource or message goes
            mode = _AFTER
            continue
        if mode == _OPENED:
            skipped = _skip_space(buf, pos, stop)
            if skipped != pos and depth >= ent_depth:
                verdict = PYTHON
            pos = skipped
            if pos >= stop:
                return REJECT
            c = buf[pos]
            if (kind[depth] == 0 and c == 125) or (kind[depth] == 1 and c == 93):
                mode = _AFTER  # empty: the close is read there
                continue
            if kind[depth] == 0:
                mode = _MEMBER
            else:
                here, key = ctx[depth], -1
                if here == _LISTC:
                    job = list_len[sub]
                    list_len[sub] += 1
                    if job < _SUB_MAX:
                        res_rank[sub, job] = _N_RES
                    else:
                        verdict = PYTHON
                mode = _VALUE
            continue
        if mode == _MEMBER:
            pos = _skip_space(buf, pos, stop)
            if pos >= stop or buf[pos] != 34:
                return REJECT
            close, escaped = _string_end(buf, pos, stop)
            if close < 0:
                return REJECT
            here = ctx[depth]
            key = -1
            if escaped:
                if here == _TOPC:
                    verdict = PYTHON
                elif depth >= ent_depth:
                    verdict = PYTHON
            elif here == _TOPC:
                key = _key_id(buf, pos + 1, close, top_blob, top_off)
                if key < 0 or top_t[key] != _ABSENT:
                    verdict = PYTHON  # unknown (for `extra`) or duplicated (the last wins)
                    key = -1
            elif here == _ENTC:
                key = _key_id(buf, pos + 1, close, ent_blob, ent_off)
                if key >= 0 and ent_t[key] != _ABSENT:
                    verdict = PYTHON
                    key = -1
            elif here == _JOBC:
                key = _key_id(buf, pos + 1, close, job_blob, job_off)
            elif here == _SUBENTC:
                key = _key_id(buf, pos + 1, close, sub_blob, sub_off)
                if key >= 0:
                    if sub_seen[key] or key > _N_RES:
                        verdict = PYTHON  # a duplicate, or sub-jobs of a sub-job
                    sub_seen[key] = True
            pos = _skip_space(buf, close + 1, stop)
            if pos >= stop or buf[pos] != 58:
                return REJECT
            if depth >= ent_depth and pos != close + 1:
                verdict = PYTHON
            pos += 1
            mode = _VALUE
            continue
        # _AFTER: a comma or the close of the container at `depth`.
        skipped = _skip_space(buf, pos, stop)
        if skipped != pos and depth >= ent_depth and depth >= 0:
            verdict = PYTHON
        pos = skipped
        if depth < 0:
            break
        if pos >= stop:
            return REJECT
        c = buf[pos]
        if c == 44:
            pos += 1
            if kind[depth] == 0:
                mode = _MEMBER
            else:
                here, key = ctx[depth], -1
                if here == _LISTC:
                    job = list_len[sub]
                    list_len[sub] += 1
                    if job < _SUB_MAX:
                        res_rank[sub, job] = _N_RES
                    else:
                        verdict = PYTHON
                mode = _VALUE
            continue
        if c != (125 if kind[depth] == 0 else 93):
            return REJECT
        pos += 1
        if ctx[depth] == _ENTC:
            top_a[n_top - 1], top_b[n_top - 1] = opened[depth], pos
            ent_depth = 99
        depth -= 1
        mode = _AFTER
    if pos != stop:
        return REJECT
    return verdict


@nb.njit(cache=True, nogil=True, inline="always")
def _literal(buf, pos, stop, which):
    """Whether `null` (0), `true` (1) or `false` (2) is at `pos`."""
    if which == 0:
        return (
            pos + 4 <= stop and buf[pos + 1] == 117 and buf[pos + 2] == 108 and buf[pos + 3] == 108
        )
    if which == 1:
        return (
            pos + 4 <= stop and buf[pos + 1] == 114 and buf[pos + 2] == 117 and buf[pos + 3] == 101
        )
    return (
        pos + 5 <= stop
        and buf[pos + 1] == 97
        and buf[pos + 2] == 108
        and buf[pos + 3] == 115
        and buf[pos + 4] == 101
    )


# The entity keys copied as they are into a column, and which column.
_DIRECT_E = np.array([_E[key] for key in ENTITY_FIELDS.values() if key != "process_percent"])
_DIRECT_OUT = np.array(
    [_OUT[name] for name, key in ENTITY_FIELDS.items() if key != "process_percent"]
)
_TEXT_E = np.array([*range(_N_RES), *_DIRECT_E, _ERROR, _MESSAGE])


@nb.njit(cache=True, nogil=True, inline="always")
def _types_ok(ent_t, ent_a, ent_b):
    """Whether the followed entity values have the types the kernel copies (else Python's)."""
    for k in _TEXT_E:
        if ent_t[k] != _ABSENT and ent_t[k] != _NULL and ent_t[k] != _STRING:
            return False
    if ent_t[_PERCENT] == _STRING or ent_t[_PERCENT] == _OTHERT:
        return False
    return not (ent_t[_TOTAL] == _INT and ent_b[_TOTAL] - ent_a[_TOTAL] > 18)


@nb.njit(cache=True, nogil=True, inline="always")
def _emit(buf, row, rec, out, used, valid, sub_count, time_kind, time_us, id_ms):  # noqa: PLR0912
    """Copy an OK line's values (read by `_line` into `rec`) into the output columns."""
    (_, _, _, top_t, top_a, top_b, ent_t, ent_a, ent_b,
     list_seen, list_len, res_rank, res_a, res_b, msg_a, msg_b, _) = rec  # fmt: skip
    for f in range(ENTITIES):
        if top_t[f] != _STRING:
            continue
        if f == _TIMES[0] or f == _TIMES[1]:
            t = 0 if f == _TIMES[0] else 1
            kind, us = _job_time(buf, top_a[f], top_b[f])
            time_kind[t, row], time_us[t, row] = kind, us
            if kind != TIME_OTHER:
                continue  # parsed here: the text is not needed
        _put(out, used, f, buf, top_a[f], top_b[f])
        valid[f, row] = True
    if top_t[_JOB_ID] == _STRING:
        id_ms[row] = _id_millis(buf, top_a[_JOB_ID], top_b[_JOB_ID])
    if top_t[ENTITIES] != _OTHERT:
        return  # no entities: every entity column is null
    _put(out, used, ENTITIES, buf, top_a[ENTITIES], top_b[ENTITIES])
    valid[ENTITIES, row] = True
    for i in range(len(_DIRECT_E)):
        k = _DIRECT_E[i]
        if ent_t[k] == _STRING:
            _put(out, used, _DIRECT_OUT[i], buf, ent_a[k], ent_b[k])
            valid[_DIRECT_OUT[i], row] = True
    if ent_t[_PERCENT] == _INT or ent_t[_PERCENT] == _FLOAT:
        _put(out, used, len(out) - 1, buf, ent_a[_PERCENT], ent_b[_PERCENT])
        valid[len(out) - 1, row] = True
    chosen = 0 if list_seen[0] else (1 if list_seen[1] else -1)
    # entity_error: IMS `error` (when the key is there), else ECS `errorcode_message`, else
    # the first sub-job's message (`frame._entity_error`).
    own = _ERROR if ent_t[_ERROR] != _ABSENT else _MESSAGE
    if ent_t[own] == _STRING:
        _put(out, used, _ENTITY_ERROR, buf, ent_a[own], ent_b[own])
        valid[_ENTITY_ERROR, row] = True
    elif chosen >= 0 and msg_a[chosen] >= 0:
        _put(out, used, _ENTITY_ERROR, buf, msg_a[chosen], msg_b[chosen])
        valid[_ENTITY_ERROR, row] = True
    # resource_id: the first non-empty resource key, else the sub-jobs' (`frame._resource_id`).
    for k in range(_N_RES):
        if ent_t[k] == _STRING and ent_b[k] > ent_a[k]:
            _put(out, used, _RESOURCE, buf, ent_a[k], ent_b[k])
            valid[_RESOURCE, row] = True
            break
    if not valid[_RESOURCE, row]:
        if chosen >= 0:
            for j in range(list_len[chosen]):
                if res_rank[chosen, j] < _N_RES:
                    if valid[_RESOURCE, row]:
                        _put(out, used, _RESOURCE, _COMMA, 0, 1)
                    _put(out, used, _RESOURCE, buf, res_a[chosen, j], res_b[chosen, j])
                    valid[_RESOURCE, row] = True
    if chosen >= 0:
        sub_count[row] = list_len[chosen]
    elif ent_t[_TOTAL] == _INT:
        negative = buf[ent_a[_TOTAL]] == 45
        value = _digits(buf, ent_a[_TOTAL] + negative, ent_b[_TOTAL] - ent_a[_TOTAL] - negative)
        sub_count[row] = -value if negative else value
    else:
        sub_count[row] = 0


_COMMA = np.frombuffer(b",", dtype=np.uint8).copy()
_NO_COUNT = np.iinfo(np.int64).min


@nb.njit(cache=True, nogil=True)
def _scan_chunk(buf, lo, hi, tables, capacities):
    """Every line of `buf[lo:hi]`: verdicts, line spans, output columns, times, id times."""
    n_out = len(capacities)
    lines = 1
    for i in range(lo, hi):
        if buf[i] == 10:
            lines += 1
    state = np.zeros(lines, dtype=np.int8)
    line_start = np.zeros(lines, dtype=np.int64)
    line_end = np.zeros(lines, dtype=np.int64)
    offsets = np.zeros((n_out, lines + 1), dtype=np.int64)
    valid = np.zeros((n_out, lines), dtype=np.bool_)
    sub_count = np.full(lines, _NO_COUNT, dtype=np.int64)
    time_kind = np.zeros((2, lines), dtype=np.int8)
    time_us = np.zeros((2, lines), dtype=np.int64)
    id_ms = np.full(lines, -1, dtype=np.int64)
    used = np.zeros(n_out, dtype=np.int64)
    out = List()
    for f in range(n_out):
        out.append(np.empty(capacities[f], dtype=np.uint8))
    n_top = len(tables[1]) - 1
    n_ent = len(tables[3]) - 1
    rec = (
        np.zeros(64, dtype=np.int8),
        np.zeros(64, dtype=np.int8),
        np.zeros(64, dtype=np.int64),
        np.zeros(n_top, dtype=np.int8),
        np.zeros(n_top, dtype=np.int64),
        np.zeros(n_top, dtype=np.int64),
        np.zeros(n_ent, dtype=np.int8),
        np.zeros(n_ent, dtype=np.int64),
        np.zeros(n_ent, dtype=np.int64),
        np.zeros(2, dtype=np.bool_),
        np.zeros(2, dtype=np.int64),
        np.zeros((2, _SUB_MAX), dtype=np.int64),
        np.zeros((2, _SUB_MAX), dtype=np.int64),
        np.zeros((2, _SUB_MAX), dtype=np.int64),
        np.zeros(2, dtype=np.int64),
        np.zeros(2, dtype=np.int64),
        np.zeros(len(tables[5]) - 1, dtype=np.bool_),
    )
    row = 0
    start = lo
    while start <= hi:
        stop = start
        while stop < hi and buf[stop] != 10:
            stop += 1
        verdict = _line(buf, start, stop, tables, rec)
        if verdict != BLANK:
            if verdict == OK and not _types_ok(rec[6], rec[7], rec[8]):
                verdict = PYTHON
            state[row], line_start[row], line_end[row] = verdict, start, stop
            if verdict == OK:
                _emit(buf, row, rec, out, used, valid, sub_count, time_kind, time_us, id_ms)
            offsets[:, row + 1] = used
            row += 1
            if verdict == REJECT:
                break
        start = stop + 1
    return (
        state[:row],
        line_start[:row],
        line_end[:row],
        offsets[:, : row + 1],
        valid[:, :row],
        used,
        out,
        sub_count[:row],
        time_kind[:, :row],
        time_us[:, :row],
        id_ms[:row],
    )


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
    out: Any
    sub_count: np.ndarray
    time_kind: np.ndarray
    time_us: np.ndarray
    id_ms: np.ndarray

    def __len__(self) -> int:
        return len(self.state)


# Below this many bytes a file is read in one part: a thread costs more than it saves.
_SPLIT_AT = 1 << 22


def scan(data: Any) -> list[Scanned]:
    """Every line of JSONL bytes, read by the kernel in two parts at once (one for a small file)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    cuts = [0, len(buf)]
    if len(buf) >= _SPLIT_AT:
        newline = np.flatnonzero(buf[len(buf) // 2 : len(buf) // 2 + (1 << 20)] == 10)
        if len(newline):
            cuts.insert(1, len(buf) // 2 + int(newline[0]) + 1)

    def part(lo: int, hi: int) -> Scanned:
        size = hi - lo
        # Generous, since untouched memory is never committed; grown in the kernel if short.
        capacities = np.full(len(STRING_OUTPUTS), size // 6 + 4096, dtype=np.int64)
        capacities[ENTITIES] = size // 2 + 4096
        return Scanned(*_scan_chunk(buf, lo, hi, _TABLES, capacities))

    if len(cuts) == 2:
        return [part(0, len(buf))]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        second = pool.submit(part, cuts[1], cuts[2])
        first = part(cuts[0], cuts[1])
        return [first, second.result()]
