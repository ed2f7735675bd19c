# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The compiled JSONL kernel behind `jobtools.io._scan` (which documents what it does).

Everything here runs without the GIL on a byte buffer; every read of it is bounds-checked by
hand against the line's end, so no input can make it read outside the buffer.
"""

from libc.stdint cimport int8_t, int64_t, uint8_t
from libc.string cimport memchr, memcmp

import numpy as np

# Line verdicts and time kinds (the same numbers as in `_scan`).
cdef enum:
    OK = 0
    PYTHON = 1
    REJECT = 2
    BLANK = 3
    TIME_NONE = 0
    TIME_UTC = 1
    TIME_LEGACY = 2
    TIME_OTHER = 3

# Contexts, value types and parser modes.
cdef enum:
    C_TOP = 0
    C_ENT = 1
    C_LIST = 2
    C_JOB = 3
    C_SUBENT = 4
    C_OTHER = 5
cdef enum:
    T_ABSENT = 0
    T_NULL = 1
    T_STRING = 2
    T_INT = 3
    T_FLOAT = 4
    T_OTHER = 5
cdef enum:
    M_VALUE = 0
    M_MEMBER = 1
    M_AFTER = 2
    M_OPENED = 3

# Table sizes, checked against `_scan`'s tables by `layout()`.
cdef enum:
    N_TOP = 8  # the record's fields, then "entities"
    N_ENT = 16
    N_SUB = 10
    N_RES = 7
    N_OUT = 15
    SUB_MAX = 256
    DEPTH = 64

# Places in the tables and outputs (as `_scan` lays them out).
cdef int64_t JOB_ID, BEGIN, END, FIRST_LIST, TOTAL, ERROR, MESSAGE, PERCENT
cdef int64_t O_ENTITIES, O_ENTITY_ERROR, O_RESOURCE, O_PERCENT, N_DIRECT
cdef int64_t DIRECT_E[8]
cdef int64_t DIRECT_OUT[8]
cdef int64_t HELD_RANK[N_ENT]  # where an entity key comes in the held order, or -1
cdef uint8_t MONTHS[36]
# The bytes that end a run of plain string content: a quote, a backslash, a control
# character, or the start of a multi-byte UTF-8 sequence.
cdef uint8_t STRING_STOP[256]
for _byte in range(256):
    STRING_STOP[_byte] = _byte == 34 or _byte == 92 or _byte < 32 or _byte >= 128


def layout(places, direct_e, direct_out, months, held_rank):
    """Set the kernel's places (a dict of names to indexes) from `_scan`'s tables."""
    global JOB_ID, BEGIN, END, FIRST_LIST, TOTAL, ERROR, MESSAGE, PERCENT
    global O_ENTITIES, O_ENTITY_ERROR, O_RESOURCE, O_PERCENT, N_DIRECT
    assert places["n_top"] == N_TOP and places["n_ent"] == N_ENT and places["n_sub"] == N_SUB
    assert places["n_res"] == N_RES and places["n_out"] == N_OUT and places["sub_max"] == SUB_MAX
    JOB_ID, BEGIN, END = places["job_id"], places["begin"], places["end"]
    FIRST_LIST, TOTAL = places["first_list"], places["total"]
    ERROR, MESSAGE, PERCENT = places["error"], places["message"], places["percent"]
    O_ENTITIES, O_ENTITY_ERROR = places["o_entities"], places["o_entity_error"]
    O_RESOURCE, O_PERCENT = places["o_resource"], places["o_percent"]
    N_DIRECT = len(direct_e)
    for i in range(N_DIRECT):
        DIRECT_E[i], DIRECT_OUT[i] = direct_e[i], direct_out[i]
    for i in range(36):
        MONTHS[i] = months[i]
    for i in range(N_ENT):
        HELD_RANK[i] = held_rank[i]


cdef struct Tables:
    const uint8_t* top
    const int64_t* top_off
    const uint8_t* ent
    const int64_t* ent_off
    const uint8_t* sub
    const int64_t* sub_off


cdef struct Line:
    int8_t kind[DEPTH]
    int8_t ctx[DEPTH]
    int64_t opened[DEPTH]
    int8_t top_t[N_TOP]
    int64_t top_a[N_TOP]
    int64_t top_b[N_TOP]
    int8_t ent_t[N_ENT]
    int64_t ent_a[N_ENT]
    int64_t ent_b[N_ENT]
    bint list_seen[2]
    int64_t list_len[2]
    int64_t res_rank[2][SUB_MAX]
    int64_t res_a[2][SUB_MAX]
    int64_t res_b[2][SUB_MAX]
    int64_t msg_a[2]
    int64_t msg_b[2]
    bint sub_seen[N_SUB]
    int64_t strip_end  # where the entities text goes on after the held keys cut out, or -1


cdef inline int key_id(const uint8_t* buf, int64_t a, int64_t b, const uint8_t* blob,
                       const int64_t* off, int count) noexcept nogil:
    cdef int64_t n = b - a, j, lo
    cdef int k
    for k in range(count):
        lo = off[k]
        if off[k + 1] - lo != n:
            continue
        j = 0
        while j < n and buf[a + j] == blob[lo + j]:
            j += 1
        if j == n:
            return k
    return -1


cdef inline int64_t utf8_length(const uint8_t* buf, int64_t i, int64_t end) noexcept nogil:
    """Bytes in the valid UTF-8 sequence at `i` (a byte >= 0x80), or 0."""
    cdef uint8_t c = buf[i], low, high
    cdef int64_t n, k
    if 0xC2 <= c <= 0xDF:
        n, low, high = 2, 0x80, 0xBF
    elif c == 0xE0:
        n, low, high = 3, 0xA0, 0xBF
    elif (0xE1 <= c <= 0xEC) or c == 0xEE or c == 0xEF:
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
    if i + n > end or not (low <= buf[i + 1] <= high):
        return 0
    for k in range(i + 2, i + n):
        if not (0x80 <= buf[k] <= 0xBF):
            return 0
    return n


cdef inline bint is_hex(uint8_t c) noexcept nogil:
    return (48 <= c <= 57) or (97 <= c <= 102) or (65 <= c <= 70)


cdef inline int64_t string_end(const uint8_t* buf, int64_t i, int64_t end,
                               bint* escaped) noexcept nogil:
    """The closing quote of the string opening at `i`, or -1 if it is no valid JSON string."""
    cdef uint8_t c, d
    cdef int64_t k, n
    i += 1
    escaped[0] = False
    while i < end:
        while i < end and not STRING_STOP[buf[i]]:
            i += 1
        if i >= end:
            return -1
        c = buf[i]
        if c == 34:
            return i
        if c == 92:
            escaped[0] = True
            if i + 1 >= end:
                return -1
            d = buf[i + 1]
            if d == 117:  # \uXXXX
                if i + 6 > end:
                    return -1
                for k in range(i + 2, i + 6):
                    if not is_hex(buf[k]):
                        return -1
                i += 6
            elif d == 34 or d == 92 or d == 47 or d == 98 or d == 102 or d == 110 or d == 114 or d == 116:
                i += 2
            else:
                return -1
        elif c < 32:
            return -1
        else:
            n = utf8_length(buf, i, end)
            if n == 0:
                return -1
            i += n
    return -1


cdef inline int64_t digits_end(const uint8_t* buf, int64_t i, int64_t end) noexcept nogil:
    """The end of the run of at least one ASCII digit at `i`, or -1 when there is none."""
    if i >= end or not (48 <= buf[i] <= 57):
        return -1
    while i < end and 48 <= buf[i] <= 57:
        i += 1
    return i


cdef inline int64_t number_end(const uint8_t* buf, int64_t i, int64_t end,
                               bint* integer) noexcept nogil:
    """The end of the JSON number at `i`, or -1."""
    integer[0] = True
    if i < end and buf[i] == 45:
        i += 1
    if i < end and buf[i] == 48:
        i += 1
    else:
        i = digits_end(buf, i, end)  # no leading zero: a 0 was taken above
        if i < 0:
            return -1
    if i < end and buf[i] == 46:
        i = digits_end(buf, i + 1, end)
        if i < 0:
            return -1
        integer[0] = False
    if i < end and (buf[i] == 101 or buf[i] == 69):
        i += 1
        if i < end and (buf[i] == 43 or buf[i] == 45):
            i += 1
        i = digits_end(buf, i, end)
        if i < 0:
            return -1
        integer[0] = False
    return i


cdef inline bint canonical_number(const uint8_t* buf, int64_t a, int64_t b) noexcept nogil:
    """Whether orjson writes the number `buf[a:b]` back the same: an integer of at most 18
    digits (not -0), or a plain decimal of at most 15 significant digits, no trailing zero in
    its fraction, and not below 0.0001 (checked against orjson over random numbers)."""
    cdef int64_t i = a, dot = -1, k, leading = 0
    cdef bint negative = buf[a] == 45, zero = True
    if negative:
        i += 1
    for k in range(i, b):
        if buf[k] == 46:
            dot = k
        elif buf[k] == 101 or buf[k] == 69:
            return False
        elif buf[k] != 48:
            zero = False
    if negative and zero:
        return False
    if dot < 0:
        return b - i <= 18
    if buf[b - 1] == 48 and b - dot - 1 != 1:
        return False
    if dot - i == 1 and buf[i] == 48:
        while dot + 1 + leading < b and buf[dot + 1 + leading] == 48:
            leading += 1
        return leading < 4 and b - dot - 1 - leading <= 15
    return (dot - i) + (b - dot - 1) <= 15


cdef inline int64_t skip_space(const uint8_t* buf, int64_t i, int64_t end) noexcept nogil:
    while i < end and (buf[i] == 32 or buf[i] == 9 or buf[i] == 13):
        i += 1
    return i


cdef inline bint literal(const uint8_t* buf, int64_t pos, int64_t stop, const char* word,
                         int n) noexcept nogil:
    cdef int j
    if pos + n > stop:
        return False
    for j in range(n):
        if buf[pos + j] != <uint8_t>word[j]:
            return False
    return True


cdef inline int64_t digits(const uint8_t* buf, int64_t a, int64_t n) noexcept nogil:
    """The number in `n` ASCII digits at `a`, or -1."""
    cdef int64_t value = 0, k
    cdef int d
    for k in range(a, a + n):
        d = buf[k] - 48
        if d < 0 or d > 9:
            return -1
        value = value * 10 + d
    return value


cdef inline int64_t days_from_civil(int64_t y, int64_t m, int64_t d) noexcept nogil:
    cdef int64_t era, yoe, doy, doe
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef inline int64_t month_days(int64_t y, int64_t m) noexcept nogil:
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    if m == 4 or m == 6 or m == 9 or m == 11:
        return 30
    return 31


cdef inline int64_t clock(int64_t y, int64_t mo, int64_t d, int64_t h, int64_t mi, int64_t s,
                          int64_t ms) noexcept nogil:
    """Microseconds since the epoch, or -1 when a field is out of range."""
    if y < 1 or mo < 1 or mo > 12 or d < 1 or h < 0 or mi < 0 or s < 0 or ms < 0:
        return -1
    if d > month_days(y, mo) or h > 23 or mi > 59 or s > 59:
        return -1
    return (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000000 + ms * 1000


cdef inline int job_time(const uint8_t* buf, int64_t a, int64_t b, int64_t* us) noexcept nogil:
    """The kind of a time value (ISO `2015-06-04T10:11:06.586Z` or legacy
    `04-Jun-2015 18:11:06:586` exactly, else TIME_OTHER), its microseconds in `us`."""
    cdef int64_t month = -1, value
    cdef int k, j
    cdef uint8_t c
    if b - a != 24:
        return TIME_NONE if b == a else TIME_OTHER
    if buf[a + 4] == 45 and buf[a + 10] == 84 and buf[a + 23] == 90:
        if not (buf[a + 7] == 45 and buf[a + 13] == 58 and buf[a + 16] == 58 and buf[a + 19] == 46):
            return TIME_OTHER
        value = clock(digits(buf, a, 4), digits(buf, a + 5, 2), digits(buf, a + 8, 2),
                      digits(buf, a + 11, 2), digits(buf, a + 14, 2), digits(buf, a + 17, 2),
                      digits(buf, a + 20, 3))
        if value < 0:
            return TIME_OTHER
        us[0] = value
        return TIME_UTC
    if buf[a + 2] == 45 and buf[a + 6] == 45 and buf[a + 11] == 32:
        if not (buf[a + 14] == 58 and buf[a + 17] == 58 and buf[a + 20] == 58):
            return TIME_OTHER
        for k in range(12):
            for j in range(3):
                c = buf[a + 3 + j]
                if 65 <= c <= 90:
                    c += 32
                if c != MONTHS[3 * k + j]:
                    break
            else:
                month = k + 1
                break
        value = clock(digits(buf, a + 7, 4), month, digits(buf, a, 2), digits(buf, a + 12, 2),
                      digits(buf, a + 15, 2), digits(buf, a + 18, 2), digits(buf, a + 21, 3))
        if value < 0:
            return TIME_OTHER
        us[0] = value
        return TIME_LEGACY
    return TIME_OTHER


cdef inline int64_t id_millis(const uint8_t* buf, int64_t a, int64_t b) noexcept nogil:
    """The milliseconds in hex digits 17-28 of a 32-hex job id, or -1 (see `jobtools.ids`)."""
    cdef int64_t value = 0, k, d
    cdef uint8_t c
    if b - a != 32:
        return -1
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


cdef struct Out:
    uint8_t* data
    const int64_t* base  # where each column's region starts in `data`; N_OUT + 1 of them
    int64_t* used  # N_OUT + 1: the last is 1 once a column's region is full


cdef inline void put(Out* out, int f, const uint8_t* src, int64_t a, int64_t b) noexcept nogil:
    cdef int64_t at = out.used[f], k
    cdef uint8_t* dst
    if out.base[f] + at + (b - a) > out.base[f + 1]:
        out.used[N_OUT] = 1
        return
    dst = out.data + out.base[f] + at
    for k in range(b - a):
        dst[k] = src[a + k]
    out.used[f] = at + b - a


cdef inline int next_item(Line* L, int depth, int sub, int* here, int* key, int* job,
                          int* verdict) noexcept nogil:
    """The mode for the next item of the container at `depth`: a member's key in an object; in
    an array a value, counted as a sub-job when the array is a sub-job list."""
    if L.kind[depth] == 0:
        return M_MEMBER
    here[0], key[0] = L.ctx[depth], -1
    if here[0] == C_LIST:
        job[0] = L.list_len[sub]
        L.list_len[sub] += 1
        if job[0] < SUB_MAX:
            L.res_rank[sub][job[0]] = N_RES
        else:
            verdict[0] = PYTHON
    return M_VALUE


cdef int read_line(const uint8_t* buf, int64_t start, int64_t stop, const Tables* T,
                   Line* L) noexcept nogil:
    """Read one line into `L`; its verdict (OK, PYTHON, REJECT or BLANK)."""
    cdef int64_t pos, skipped, close, va, vb
    cdef int verdict = OK, depth = -1, ent_depth = 99, here = C_TOP, key = -1, sub = 0, job = 0
    cdef int mode = M_VALUE, child, vtype, k, rank = -1, pending = -1
    cdef bint prefix = False
    cdef bint escaped, integer
    cdef uint8_t c
    pos = skip_space(buf, start, stop)
    if pos == stop:
        return BLANK
    if buf[pos] != 123:
        return REJECT
    for k in range(N_TOP):
        L.top_t[k] = T_ABSENT
    for k in range(N_ENT):
        L.ent_t[k] = T_ABSENT
    for k in range(2):
        L.list_seen[k] = False
        L.list_len[k] = 0
        L.msg_a[k] = -1
    while True:
        if mode == M_VALUE:
            skipped = skip_space(buf, pos, stop)
            if skipped != pos and depth >= ent_depth:
                verdict = PYTHON  # spaced entities text: rewritten compact by orjson
            pos = skipped
            if pos >= stop:
                return REJECT
            c = buf[pos]
            vtype = T_OTHER
            va = pos
            vb = pos
            if c == 123 or c == 91:
                if depth + 1 >= DEPTH:
                    return PYTHON  # deeper than followed: orjson's to judge
                child = C_OTHER
                if c == 123:
                    if depth == -1:
                        child = C_TOP
                    elif here == C_TOP and key == N_TOP - 1:
                        child = C_ENT
                        ent_depth = depth + 1
                        L.strip_end, rank, prefix = -1, -1, True
                    elif here == C_LIST:
                        child = C_JOB
                    elif here == C_JOB and key == 0:
                        child = C_SUBENT
                        for k in range(N_SUB):
                            L.sub_seen[k] = False
                elif here == C_ENT and FIRST_LIST <= key < FIRST_LIST + 2:
                    child = C_LIST
                    sub = key - FIRST_LIST
                    L.list_seen[sub] = True
                    L.list_len[sub] = 0
                if here == C_ENT:
                    prefix = False  # a container ends the held keys' run
                if key >= 0:
                    if here == C_TOP:
                        L.top_t[key] = T_OTHER
                        if key != N_TOP - 1 or c != 123:
                            verdict = PYTHON  # a record field that is no text: Python's
                    elif here == C_ENT:
                        L.ent_t[key] = T_OTHER
                    elif here == C_SUBENT:
                        verdict = PYTHON
                depth += 1
                L.kind[depth] = 0 if c == 123 else 1
                L.ctx[depth] = child
                L.opened[depth] = pos
                pos += 1
                mode = M_OPENED
                continue
            if c == 34:
                close = string_end(buf, pos, stop, &escaped)
                if close < 0:
                    return REJECT
                if escaped and (key >= 0 or depth >= ent_depth):
                    verdict = PYTHON
                va, vb, vtype = pos + 1, close, T_STRING
                pos = close + 1
            elif c == 45 or 48 <= c <= 57:
                vb = number_end(buf, pos, stop, &integer)
                if vb < 0:
                    return REJECT
                vtype = T_INT if integer else T_FLOAT
                if depth >= ent_depth and not canonical_number(buf, pos, vb):
                    verdict = PYTHON  # orjson would write it otherwise
                pos = vb
            elif c == 110 and literal(buf, pos, stop, b"null", 4):
                vtype = T_NULL
                pos += 4
            elif c == 116 and literal(buf, pos, stop, b"true", 4):
                pos += 4
            elif c == 102 and literal(buf, pos, stop, b"false", 5):
                pos += 5
            else:
                return REJECT
            if key >= 0:
                if here == C_TOP:
                    L.top_t[key], L.top_a[key], L.top_b[key] = vtype, va, vb
                    if vtype != T_NULL and (vtype != T_STRING or key == N_TOP - 1):
                        verdict = PYTHON  # no text where text goes, or entities no object
                elif here == C_ENT:
                    L.ent_t[key], L.ent_a[key], L.ent_b[key] = vtype, va, vb
                    # A held key (its column gives it back whole): cut out while the run
                    # from the object's start goes on, in the held order.
                    if prefix and pending >= 0 and (
                        (vtype == T_STRING and key != PERCENT) or (vtype == T_FLOAT and key == PERCENT)
                    ):
                        L.strip_end, rank = pos, pending
                    else:
                        prefix = False
                elif here == C_SUBENT and job < SUB_MAX:
                    if vtype == T_STRING:
                        if key < N_RES:
                            if vb > va and key < L.res_rank[sub][job]:
                                L.res_rank[sub][job] = key
                                L.res_a[sub][job], L.res_b[sub][job] = va, vb
                        elif key == N_RES and L.msg_a[sub] < 0:
                            L.msg_a[sub], L.msg_b[sub] = va, vb
                    elif vtype != T_NULL:
                        verdict = PYTHON  # an odd type where a resource or message goes
            if here == C_ENT and key < 0:
                prefix = False
            mode = M_AFTER
            continue
        if mode == M_OPENED:
            skipped = skip_space(buf, pos, stop)
            if skipped != pos and depth >= ent_depth:
                verdict = PYTHON
            pos = skipped
            if pos >= stop:
                return REJECT
            c = buf[pos]
            if (L.kind[depth] == 0 and c == 125) or (L.kind[depth] == 1 and c == 93):
                mode = M_AFTER  # empty: the close is read there
                continue
            mode = next_item(L, depth, sub, &here, &key, &job, &verdict)
            continue
        if mode == M_MEMBER:
            pos = skip_space(buf, pos, stop)
            if pos >= stop or buf[pos] != 34:
                return REJECT
            close = string_end(buf, pos, stop, &escaped)
            if close < 0:
                return REJECT
            here = L.ctx[depth]
            key = -1
            if escaped:
                if here == C_TOP or depth >= ent_depth:
                    verdict = PYTHON
            elif here == C_TOP:
                key = key_id(buf, pos + 1, close, T.top, T.top_off, N_TOP)
                if key < 0 or L.top_t[key] != T_ABSENT:
                    verdict = PYTHON  # unknown (for `extra`) or duplicated (the last wins)
                    key = -1
            elif here == C_ENT:
                key = key_id(buf, pos + 1, close, T.ent, T.ent_off, N_ENT)
                if key >= 0 and L.ent_t[key] != T_ABSENT:
                    verdict = PYTHON
                    key = -1
                pending = HELD_RANK[key] if key >= 0 and HELD_RANK[key] > rank else -1
            elif here == C_JOB:
                # In a sub-job only `entities` is followed (the last of the top-level names).
                if close - pos - 1 == 8 and memcmp(buf + pos + 1, b"entities", 8) == 0:
                    key = 0
            elif here == C_SUBENT:
                key = key_id(buf, pos + 1, close, T.sub, T.sub_off, N_SUB)
                if key >= 0:
                    if L.sub_seen[key] or key > N_RES:
                        verdict = PYTHON  # a duplicate, or sub-jobs of a sub-job
                    L.sub_seen[key] = True
            pos = skip_space(buf, close + 1, stop)
            if pos >= stop or buf[pos] != 58:
                return REJECT
            if depth >= ent_depth and pos != close + 1:
                verdict = PYTHON
            pos += 1
            mode = M_VALUE
            continue
        # M_AFTER: a comma, or the close of the container at `depth`.
        skipped = skip_space(buf, pos, stop)
        if skipped != pos and depth >= ent_depth:
            verdict = PYTHON
        pos = skipped
        if depth < 0:
            break
        if pos >= stop:
            return REJECT
        c = buf[pos]
        if c == 44:
            pos += 1
            mode = next_item(L, depth, sub, &here, &key, &job, &verdict)
            continue
        if c != (125 if L.kind[depth] == 0 else 93):
            return REJECT
        pos += 1
        if L.ctx[depth] == C_ENT:
            L.top_a[N_TOP - 1], L.top_b[N_TOP - 1] = L.opened[depth], pos
            ent_depth = 99
        depth -= 1
        mode = M_AFTER
    if pos != stop:
        return REJECT
    return verdict


cdef bint types_ok(const Line* L, const uint8_t* buf) noexcept nogil:
    """Whether the followed entity values have the types the kernel copies (else Python's)."""
    cdef int k
    for k in range(N_ENT):
        if k == PERCENT or k == TOTAL or FIRST_LIST <= k < FIRST_LIST + 2:
            continue
        if L.ent_t[k] != T_ABSENT and L.ent_t[k] != T_NULL and L.ent_t[k] != T_STRING:
            return False
    if L.ent_t[PERCENT] == T_STRING or L.ent_t[PERCENT] == T_OTHER:
        return False
    return not (L.ent_t[TOTAL] == T_INT and L.ent_b[TOTAL] - L.ent_a[TOTAL] > 18)


cdef void emit(const uint8_t* buf, int64_t row, const Line* L, Out* out, uint8_t[:, ::1] valid,
               int64_t[::1] sub_count, int8_t[:, ::1] time_kind, int64_t[:, ::1] time_us,
               int64_t[::1] id_ms) noexcept nogil:
    """Copy an OK line's values (read by `read_line` into `L`) into the output columns."""
    cdef int f, t, k, i, own, chosen
    cdef int64_t us = 0, j, value
    cdef bint negative
    for f in range(N_TOP - 1):
        if L.top_t[f] != T_STRING:
            continue
        if f == BEGIN or f == END:
            t = 0 if f == BEGIN else 1
            time_kind[t, row] = job_time(buf, L.top_a[f], L.top_b[f], &us)
            time_us[t, row] = us
            if time_kind[t, row] != TIME_OTHER:
                continue  # parsed here: the text is not needed
        put(out, f, buf, L.top_a[f], L.top_b[f])
        valid[f, row] = 1
    if L.top_t[JOB_ID] == T_STRING:
        id_ms[row] = id_millis(buf, L.top_a[JOB_ID], L.top_b[JOB_ID])
    if L.top_t[N_TOP - 1] != T_OTHER:
        return  # no entities: every entity column is null
    # The entities text without the held keys at its start (`frame.split_entities`).
    if L.strip_end < 0:
        put(out, O_ENTITIES, buf, L.top_a[N_TOP - 1], L.top_b[N_TOP - 1])
    elif buf[L.strip_end] == 44:
        put(out, O_ENTITIES, <const uint8_t*>b"{", 0, 1)
        put(out, O_ENTITIES, buf, L.strip_end + 1, L.top_b[N_TOP - 1])
    else:
        put(out, O_ENTITIES, <const uint8_t*>b"{}", 0, 2)
    valid[O_ENTITIES, row] = 1
    for i in range(N_DIRECT):
        k = DIRECT_E[i]
        if L.ent_t[k] == T_STRING:
            put(out, DIRECT_OUT[i], buf, L.ent_a[k], L.ent_b[k])
            valid[DIRECT_OUT[i], row] = 1
    if L.ent_t[PERCENT] == T_INT or L.ent_t[PERCENT] == T_FLOAT:
        put(out, O_PERCENT, buf, L.ent_a[PERCENT], L.ent_b[PERCENT])
        valid[O_PERCENT, row] = 1
    chosen = 0 if L.list_seen[0] else (1 if L.list_seen[1] else -1)
    # entity_error: IMS `error` (when the key is there), else ECS `errorcode_message`, else
    # the first sub-job's message (`frame._entity_error`).
    own = ERROR if L.ent_t[ERROR] != T_ABSENT else MESSAGE
    if L.ent_t[own] == T_STRING:
        put(out, O_ENTITY_ERROR, buf, L.ent_a[own], L.ent_b[own])
        valid[O_ENTITY_ERROR, row] = 1
    elif chosen >= 0 and L.msg_a[chosen] >= 0:
        put(out, O_ENTITY_ERROR, buf, L.msg_a[chosen], L.msg_b[chosen])
        valid[O_ENTITY_ERROR, row] = 1
    # resource_id: the first non-empty resource key, else the sub-jobs' (`frame._resource_id`).
    for k in range(N_RES):
        if L.ent_t[k] == T_STRING and L.ent_b[k] > L.ent_a[k]:
            put(out, O_RESOURCE, buf, L.ent_a[k], L.ent_b[k])
            valid[O_RESOURCE, row] = 1
            break
    if not valid[O_RESOURCE, row] and chosen >= 0:
        for j in range(L.list_len[chosen]):
            if L.res_rank[chosen][j] < N_RES:
                if valid[O_RESOURCE, row]:
                    put(out, O_RESOURCE, <const uint8_t*>b",", 0, 1)
                put(out, O_RESOURCE, buf, L.res_a[chosen][j], L.res_b[chosen][j])
                valid[O_RESOURCE, row] = 1
    if chosen >= 0:
        sub_count[row] = L.list_len[chosen]
    elif L.ent_t[TOTAL] == T_INT:
        negative = buf[L.ent_a[TOTAL]] == 45
        value = digits(buf, L.ent_a[TOTAL] + negative, L.ent_b[TOTAL] - L.ent_a[TOTAL] - negative)
        sub_count[row] = -value if negative else value
    else:
        sub_count[row] = 0


NO_COUNT = -(2**63)
cdef int64_t NO_COUNT_C = NO_COUNT


def scan_chunk(const uint8_t[::1] data, int64_t lo, int64_t hi, tables, uint8_t[::1] out_data,
               const int64_t[::1] regions):
    """Every line of `data[lo:hi]`: verdicts, line spans, output columns, times, id times.

    `out_data` holds a region for each output column, `out_data[regions[f]:regions[f + 1]]`;
    the kernel fills them and returns how much of each it used (and, in the last slot, 1 if a
    region was too small).
    """
    cdef const uint8_t* buf = &data[0] if len(data) else NULL
    cdef int64_t lines = 1, i, row = 0, start, stop
    cdef int verdict, f
    cdef const uint8_t* at
    with nogil:
        i = lo
        while i < hi:
            at = <const uint8_t*>memchr(buf + i, 10, hi - i)
            if at == NULL:
                break
            lines += 1
            i = at - buf + 1
    state_a = np.zeros(lines, dtype=np.int8)
    line_start_a = np.zeros(lines, dtype=np.int64)
    line_end_a = np.zeros(lines, dtype=np.int64)
    offsets_a = np.zeros((N_OUT, lines + 1), dtype=np.int64)
    valid_a = np.zeros((N_OUT, lines), dtype=np.uint8)
    # Left unwritten (so never committed) for blank lines: set row by row below.
    sub_count_a = np.empty(lines, dtype=np.int64)
    time_kind_a = np.zeros((2, lines), dtype=np.int8)
    time_us_a = np.zeros((2, lines), dtype=np.int64)
    id_ms_a = np.empty(lines, dtype=np.int64)
    used_a = np.zeros(N_OUT + 1, dtype=np.int64)
    cdef int8_t[::1] state = state_a
    cdef int64_t[::1] line_start = line_start_a, line_end = line_end_a
    cdef int64_t[:, ::1] offsets = offsets_a
    cdef uint8_t[:, ::1] valid = valid_a
    cdef int64_t[::1] sub_count = sub_count_a, id_ms = id_ms_a, used = used_a
    cdef int8_t[:, ::1] time_kind = time_kind_a
    cdef int64_t[:, ::1] time_us = time_us_a
    cdef const uint8_t[::1] top = tables[0], ent = tables[2], sub = tables[4]
    cdef const int64_t[::1] top_off = tables[1], ent_off = tables[3], sub_off = tables[5]
    cdef Tables T
    T.top, T.top_off, T.ent, T.ent_off = &top[0], &top_off[0], &ent[0], &ent_off[0]
    T.sub, T.sub_off = &sub[0], &sub_off[0]
    cdef Out out
    assert len(regions) == N_OUT + 1 and regions[N_OUT] <= len(out_data)
    out.data = &out_data[0]
    out.base = &regions[0]
    out.used = &used[0]
    cdef Line L
    with nogil:
        start = lo
        while start <= hi:
            at = <const uint8_t*>memchr(buf + start, 10, hi - start) if start < hi else NULL
            stop = hi if at == NULL else at - buf
            verdict = read_line(buf, start, stop, &T, &L)
            if verdict != BLANK:
                if verdict == OK and not types_ok(&L, buf):
                    verdict = PYTHON
                state[row], line_start[row], line_end[row] = verdict, start, stop
                sub_count[row], id_ms[row] = NO_COUNT_C, -1
                if verdict == OK:
                    emit(buf, row, &L, &out, valid, sub_count, time_kind, time_us, id_ms)
                for f in range(N_OUT):
                    offsets[f, row + 1] = used[f]
                row += 1
                if verdict == REJECT or used[N_OUT]:
                    break
            start = stop + 1
    return (
        state_a[:row],
        line_start_a[:row],
        line_end_a[:row],
        offsets_a[:, : row + 1],
        valid_a[:, :row].view(bool),
        used_a,
        sub_count_a[:row],
        time_kind_a[:, :row],
        time_us_a[:, :row],
        id_ms_a[:row],
    )
