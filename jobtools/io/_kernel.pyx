# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The compiled JSONL scanner behind `jobtools.io._scan` (which documents what it does).

It knows JSON and nothing of jobs: which keys to follow, which value kinds each may have,
where each followed value's text goes and which keys are cut from the front of the entities
text all come from tables `_scan` builds from the schema at run time. No derived column's
rule is here. Every read of the input is bounds-checked by hand against the line's end, and
every write against its region's end (a write past it raises, it never happens silently).
`make fuzz` builds this file with Cython's bounds checks and AddressSanitizer on.
"""

from libc.stdint cimport int8_t, int64_t, uint8_t, uint32_t
from libc.string cimport memchr, memcmp, memcpy, memmove, memset

# Eight bytes at a time where the platform allows (little-endian, GCC or Clang), else byte by
# byte: the first byte of a run that ends plain string content, and the newlines of a part.
# The eight bytes are read with memcpy (no alignment needed) and never past `end`.
cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    #define JT_WORDS 1
    #define JT_ONES 0x0101010101010101ULL
    #define JT_HIGHS 0x8080808080808080ULL
    /* The high bit of each byte of x that is zero, exactly (no borrow between bytes). */
    static inline uint64_t jt_zero_bytes(uint64_t x) {
        return ~(((x & ~JT_HIGHS) + ~JT_HIGHS) | x | ~JT_HIGHS);
    }
    #else
    #define JT_WORDS 0
    #endif

    /* The first place in [i, end) whose byte is a quote, a backslash, below 0x20 or from
       0x80 (`STRING_STOP`), or end. */
    static inline int64_t jt_plain_run(const uint8_t* buf, int64_t i, int64_t end,
                                       const uint8_t* stop) {
    #if JT_WORDS
        while (i + 8 <= end) {
            uint64_t x, hit;
            memcpy(&x, buf + i, 8);
            hit = jt_zero_bytes(x ^ (JT_ONES * 0x22)) | jt_zero_bytes(x ^ (JT_ONES * 0x5C))
                | jt_zero_bytes(x & (JT_ONES * 0xE0)) | (x & JT_HIGHS);
            if (hit)
                return i + (__builtin_ctzll(hit) >> 3);
            i += 8;
        }
    #endif
        while (i < end && !stop[buf[i]])
            i++;
        return i;
    }

    /* The closing quote of the string opening at i when it is plain (no escape, control
       or non-ASCII byte before its quote), else -1. Always inlined where a line is read:
       a call for each of a line's strings cost a fifth of the scan. */
    #if defined(__GNUC__)
    __attribute__((always_inline))
    #endif
    static inline int64_t jt_plain_string(const uint8_t* buf, int64_t i, int64_t end,
                                          const uint8_t* stop) {
        int64_t close = jt_plain_run(buf, i + 1, end, stop);
        return close < end && buf[close] == 0x22 ? close : -1;
    }

    /* The newlines in [lo, hi). */
    static inline int64_t jt_newlines(const uint8_t* buf, int64_t lo, int64_t hi) {
        int64_t n = 0, i = lo;
    #if JT_WORDS
        while (i + 8 <= hi) {
            /* A count a byte, summed across the bytes every 255 words (before one can wrap). */
            uint64_t counts = 0, x;
            int64_t words = 0;
            for (; words < 255 && i + 8 <= hi; words++, i += 8) {
                memcpy(&x, buf + i, 8);
                counts += jt_zero_bytes(x ^ (JT_ONES * 0x0A)) >> 7;
            }
            counts = (counts & 0x00FF00FF00FF00FFULL) + ((counts >> 8) & 0x00FF00FF00FF00FFULL);
            n += (int64_t)((counts * 0x0001000100010001ULL) >> 48);  /* four lanes, < 2^16 */
        }
    #endif
        for (; i < hi; i++)
            n += buf[i] == 10;
        return n;
    }
    """
    int64_t jt_plain_run(const uint8_t* buf, int64_t i, int64_t end,
                         const uint8_t* stop) noexcept nogil
    int64_t jt_newlines(const uint8_t* buf, int64_t lo, int64_t hi) noexcept nogil
    int64_t jt_plain_string(const uint8_t* buf, int64_t i, int64_t end,
                            const uint8_t* stop) noexcept nogil

cdef struct Out:
    uint8_t* data
    const int64_t* base  # n_text + 3: where each column's region starts
    int64_t* used  # n_text + 2

# Writing: `n` bytes, or one, at the end of column `f`, if its region has room (else False,
# and nothing written). Always inlined (a call for each value cost a tenth of the scan).
cdef extern from *:
    """
    #if defined(__GNUC__)
    #define JT_INLINE __attribute__((always_inline)) static inline
    #else
    #define JT_INLINE static inline
    #endif
    JT_INLINE int jt_put(uint8_t* data, const int64_t* base, int64_t* used, int f,
                         const uint8_t* src, int64_t n) {
        int64_t at = base[f] + used[f];
        uint8_t* to = data + at;
        uint64_t a8, b8;
        uint32_t a4, b4;
        if (n < 0 || at + n > base[f + 1])
            return 0;
        /* Short runs (most values) by two overlapping moves inside [0, n), no call. */
        if (n >= 8 && n <= 16) {
            memcpy(&a8, src, 8); memcpy(&b8, src + n - 8, 8);
            memcpy(to, &a8, 8); memcpy(to + n - 8, &b8, 8);
        } else if (n >= 4 && n < 8) {
            memcpy(&a4, src, 4); memcpy(&b4, src + n - 4, 4);
            memcpy(to, &a4, 4); memcpy(to + n - 4, &b4, 4);
        } else if (n < 4) {
            for (int64_t k = 0; k < n; k++) to[k] = src[k];
        } else {
            memcpy(to, src, n);
        }
        used[f] += n;
        return 1;
    }
    JT_INLINE int jt_put_byte(uint8_t* data, const int64_t* base, int64_t* used, int f,
                              uint8_t c) {
        int64_t at = base[f] + used[f];
        if (at + 1 > base[f + 1])
            return 0;
        data[at] = c;
        used[f] += 1;
        return 1;
    }
    #define JT_PUT(out, f, src, n) jt_put((out)->data, (out)->base, (out)->used, f, src, n)
    #define JT_PUT_BYTE(out, f, c) jt_put_byte((out)->data, (out)->base, (out)->used, f, c)
    """
    bint put "JT_PUT"(Out* out, int f, const uint8_t* src, int64_t n) noexcept nogil
    bint put_byte "JT_PUT_BYTE"(Out* out, int f, uint8_t c) noexcept nogil

import numpy as np

# Value kinds (the same numbers as `jobtools.frame.Kinds`) and line verdicts (`_scan`).
cdef enum:
    K_ABSENT = 0
    K_NULL = 1
    K_STRING = 2
    K_INT = 3
    K_FLOAT = 4
    K_BOOL = 5
    K_OBJECT = 6
    K_ARRAY = 7
cdef enum:
    OK = 0
    PYTHON = 1
    BLANK = 2
# Where a container sits: the line's object, the entities object, anything else.
cdef enum:
    C_TOP = 0
    C_ENT = 1
    C_OTHER = 2
# What comes next.
cdef enum:
    S_VALUE = 0
    S_FIRST = 1  # after `{` or `[`: a member or item, or the close
    S_MEMBER = 2  # after `,` in an object
    S_AFTER = 3  # after a value: `,` or the close
# Limits of what the scanner follows itself; deeper or wider lines go to Python's rules.
cdef enum:
    DEPTH = 64
    MAX_KEYS = 1024

cdef struct Tables:
    const uint8_t* names  # every followed key's bytes, end to end
    const int64_t* name_off  # where each starts (n_slots + 1)
    int n_top  # slots [0, n_top) are top-level keys, [n_top, n_slots) keys of the entities
    int n_slots
    int entities  # the top-level slot whose object is the entities
    const int64_t* accept  # per slot: the kinds taken (1 << kind); any other: Python's
    const int64_t* text  # per slot: the text column its string or number goes to, or -1
    const int64_t* held  # per slot: its rank among the keys cut from the entities, or -1
    const int64_t* held_kind  # per slot: the kind it has when cut
    const int64_t* span  # per slot: where its array's span and length go, or -1
    int n_text  # text columns; column n_text is the entities text, n_text + 1 the extra text


cdef struct Work:
    int8_t* kind  # per slot
    int64_t* a  # per slot: where its value starts
    int64_t* b  # per slot: where it ends
    int64_t* count  # per span slot
    int64_t* text_at  # per slot: where its text starts in its column (for a key given again)
    int64_t* key_a  # the keys of the open objects, for duplicates
    int64_t* key_b


cdef struct Stack:
    int8_t is_array[DEPTH]
    int8_t ctx[DEPTH]
    int target[DEPTH]  # the text column this container's values are written into, or -1;
    # at depth 0 (the line's object, never written itself), that of the member being read
    int slot[DEPTH]  # the slot this container is the value of, or -1
    int member_slot[DEPTH]  # in the entities object: the slot of the member being read
    int64_t keys_from[DEPTH]  # this object's first key in Work.key_a
    int64_t written[DEPTH]  # members or items written
    int64_t member_at[DEPTH]  # in the entities object: where its text goes on after the cut
    int64_t last_rank[DEPTH]  # in the entities object: the rank of the last key cut


# The bytes that end a run of plain string content: a quote, a backslash, a control
# character, or the start of a multi-byte UTF-8 sequence.
cdef uint8_t STRING_STOP[256]
for _byte in range(256):
    STRING_STOP[_byte] = _byte == 34 or _byte == 92 or _byte < 32 or _byte >= 128
cdef const char* HEX = b"0123456789abcdef"


class NoRoom(ValueError):
    """The caller's row arrays have no room for another row (nothing was written past them)."""


class RegionOverflow(RuntimeError):
    """A column's region was too small: a bug in the sizes `_scan` gives, never silent."""


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


cdef inline int hex_value(uint8_t c) noexcept nogil:
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


cdef inline int64_t hex4(const uint8_t* buf, int64_t i, int64_t end) noexcept nogil:
    """The code unit of the four hex digits at `i`, or -1."""
    cdef int64_t value = 0, k
    cdef int d
    if i + 4 > end:
        return -1
    for k in range(i, i + 4):
        d = hex_value(buf[k])
        if d < 0:
            return -1
        value = value * 16 + d
    return value


cdef inline int64_t string_end(const uint8_t* buf, int64_t i, int64_t end,
                               bint* escaped) noexcept nogil:
    """The closing quote of the string opening at `i`, or -1 when it is no valid JSON string
    (a lone surrogate escape included: orjson refuses those)."""
    cdef uint8_t c, d
    cdef int64_t n, unit, low
    i += 1
    escaped[0] = False
    while i < end:
        i = jt_plain_run(buf, i, end, STRING_STOP)
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
            if d == 117:  # \uXXXX, a surrogate only as a pair
                unit = hex4(buf, i + 2, end)
                if unit < 0 or 0xDC00 <= unit <= 0xDFFF:
                    return -1
                if 0xD800 <= unit <= 0xDBFF:
                    if i + 12 > end or buf[i + 6] != 92 or buf[i + 7] != 117:
                        return -1
                    low = hex4(buf, i + 8, end)
                    if not (0xDC00 <= low <= 0xDFFF):
                        return -1
                    i += 6
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


cdef inline int key_id(const uint8_t* buf, int64_t a, int64_t b, const Tables* T,
                       int first, int last) noexcept nogil:
    """The slot in [first, last) whose key is `buf[a:b]`, or -1."""
    cdef int64_t n = b - a, lo
    cdef int k
    for k in range(first, last):
        lo = T.name_off[k]
        # The first byte before the call: most keys differ there.
        if T.name_off[k + 1] - lo == n and (n == 0 or T.names[lo] == buf[a]) and memcmp(
            buf + a, T.names + lo, n
        ) == 0:
            return k
    return -1


# --- writing -----------------------------------------------------------------------------
# Each write is checked against its region's end; one that would pass it returns False, the
# line stops and `scan` raises RegionOverflow. Each region is as large as the part it is read
# from, and no column's text is longer than the part's bytes, so it never happens.

cdef inline bint put_code_point(Out* out, int f, uint32_t cp) noexcept nogil:
    """The code point as UTF-8."""
    cdef uint8_t b[4]
    cdef int n
    if cp < 0x80:
        b[0], n = cp, 1
    elif cp < 0x800:
        b[0], b[1], n = 0xC0 | (cp >> 6), 0x80 | (cp & 0x3F), 2
    elif cp < 0x10000:
        b[0], b[1], b[2], n = 0xE0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F), 3
    else:
        b[0], b[1] = 0xF0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3F)
        b[2], b[3], n = 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F), 4
    return put(out, f, b, n)


cdef inline bint put_string(Out* out, int f, const uint8_t* buf, int64_t a, int64_t b,
                            bint canonical) noexcept nogil:
    """The content of a valid JSON string `buf[a:b]` (quotes excluded, escapes in it),
    decoded to UTF-8; or `canonical`: quoted and escaped as orjson writes it (only `"`, `\\`
    and control characters escaped; `\\n`-style where JSON has one, else `\\u00XX`)."""
    cdef int64_t i = a, run
    cdef uint8_t d
    cdef uint32_t cp
    cdef uint8_t esc[6]
    if canonical and not put_byte(out, f, 34):
        return False
    while i < b:
        run = i
        while i < b and buf[i] != 92:
            i += 1
        if not put(out, f, buf + run, i - run):
            return False
        if i >= b:
            break
        d = buf[i + 1]
        if d == 117:
            cp = <uint32_t>hex4(buf, i + 2, b)
            i += 6
            if 0xD800 <= cp <= 0xDBFF:  # a pair, as `string_end` made sure
                cp = 0x10000 + ((cp - 0xD800) << 10) + (<uint32_t>hex4(buf, i + 2, b) - 0xDC00)
                i += 6
        else:
            cp = (8 if d == 98 else 12 if d == 102 else 10 if d == 110 else 13 if d == 114
                  else 9 if d == 116 else d)
            i += 2
        if not canonical or (cp >= 32 and cp != 34 and cp != 92):
            if not put_code_point(out, f, cp):
                return False
            continue
        esc[0] = 92
        if cp == 34 or cp == 92:
            esc[1] = cp
            run = 2
        elif cp == 8 or cp == 12 or cp == 10 or cp == 13 or cp == 9:
            esc[1] = 98 if cp == 8 else 102 if cp == 12 else 110 if cp == 10 else 114 if cp == 13 else 116
            run = 2
        else:
            esc[1], esc[2], esc[3] = 117, 48, 48
            esc[4], esc[5] = HEX[cp >> 4], HEX[cp & 15]
            run = 6
        if not put(out, f, esc, run):
            return False
    return not canonical or put_byte(out, f, 34)


# --- one line -----------------------------------------------------------------------------

cdef int read_line(const uint8_t* buf, int64_t start, int64_t stop, const Tables* T,
                   Work* W, Out* out, Stack* S, bint* overflow, int64_t* end) noexcept nogil:
    """Read the line at `start` (up to its newline, or `stop`): its verdict, and in `end`
    where it ends. For an OK line, `W` holds each slot's kind and the output columns hold its
    texts; a line for Python leaves the columns as they were."""
    cdef int verdict = read_object(buf, start, stop, T, W, out, S, overflow, end)
    cdef const uint8_t* at
    if verdict == PYTHON:
        at = <const uint8_t*>memchr(buf + start, 10, stop - start) if start < stop else NULL
        end[0] = stop if at == NULL else at - buf
    return verdict


cdef int read_object(const uint8_t* buf, int64_t start, int64_t stop, const Tables* T,
                     Work* W, Out* out, Stack* S, bint* overflow, int64_t* end) noexcept nogil:
    """`read_line` but where a line for Python ends. The line's end is found as it is read
    (no search for the newline first): no JSON token holds a newline byte, and whitespace
    here is only spaces, tabs and CRs, so a line read as OK never passes its newline, and any
    other line stops at it at the latest."""
    cdef int64_t pos, close = 0, vb, nkeys = 0, k
    cdef int depth = 0, state = S_FIRST, slot = -1, kind, f, child, ent = T.n_text, parent
    cdef int extra = T.n_text + 1, w, extras = 0
    cdef bint escaped, integer
    cdef uint8_t c
    pos = skip_space(buf, start, stop)
    if pos == stop or buf[pos] == 10:
        end[0] = pos
        return BLANK
    if buf[pos] != 123:
        return PYTHON  # not an object: Python's rules report it
    memset(W.kind, K_ABSENT, T.n_slots)  # (a loop stored a byte at a time: 5 % of the scan)
    S.is_array[0], S.ctx[0], S.target[0], S.slot[0] = 0, C_TOP, -1, -1
    S.keys_from[0], S.written[0] = 0, 0
    pos += 1
    while True:
        if state == S_VALUE:
            pos = skip_space(buf, pos, stop)
            if pos >= stop:
                return PYTHON
            c = buf[pos]
            w = S.target[depth]
            if c == 123 or c == 91:
                kind = K_OBJECT if c == 123 else K_ARRAY
                if slot >= 0:
                    if not (T.accept[slot] >> kind) & 1:
                        return PYTHON
                    W.kind[slot], W.a[slot] = kind, pos
                if depth + 1 >= DEPTH:
                    return PYTHON  # deeper than followed: for orjson to judge
                child = C_OTHER
                if S.ctx[depth] == C_TOP and slot == T.entities and kind == K_OBJECT:
                    child, w = C_ENT, ent
                if w >= 0 and not put_byte(out, w, c):
                    overflow[0] = True
                    return PYTHON
                depth += 1
                S.is_array[depth], S.ctx[depth], S.target[depth] = kind == K_ARRAY, child, w
                S.slot[depth], S.keys_from[depth], S.written[depth] = slot, nkeys, 0
                if child == C_ENT:
                    S.member_at[depth] = out.used[ent]
                    S.last_rank[depth] = -1
                    S.member_slot[depth] = -1
                if slot >= 0 and T.span[slot] >= 0:
                    W.count[T.span[slot]] = 0
                pos += 1
                state = S_FIRST
                continue
            vb = -1
            if c == 34:
                # The common string (plain ASCII up to its quote) found inline, else
                # `string_end` (a call for each string cost a fifth of the scan).
                close = jt_plain_string(buf, pos, stop, STRING_STOP)
                escaped = False
                if close < 0:
                    close = string_end(buf, pos, stop, &escaped)
                if close < 0:
                    return PYTHON
                kind = K_STRING
                vb = close + 1
                if w >= 0 and not (put_string(out, w, buf, pos + 1, close, True) if escaped
                                   else put(out, w, buf + pos, vb - pos)):
                    overflow[0] = True
                    return PYTHON
            elif c == 45 or 48 <= c <= 57:
                vb = number_end(buf, pos, stop, &integer)
                if vb < 0 or not canonical_number(buf, pos, vb):
                    # Not JSON, or a number orjson writes otherwise (an exponent, 19+ digits
                    # that may not fit 64 bits): Python's rules, which keep big integers.
                    return PYTHON
                kind = K_INT if integer else K_FLOAT
                if w >= 0 and not put(out, w, buf + pos, vb - pos):
                    overflow[0] = True
                    return PYTHON
            elif c == 110 and literal(buf, pos, stop, b"null", 4):
                kind, vb = K_NULL, pos + 4
            elif c == 116 and literal(buf, pos, stop, b"true", 4):
                kind, vb = K_BOOL, pos + 4
            elif c == 102 and literal(buf, pos, stop, b"false", 5):
                kind, vb = K_BOOL, pos + 5
            else:
                return PYTHON
            if w >= 0 and (kind == K_NULL or kind == K_BOOL) and not put(out, w, buf + pos,
                                                                        vb - pos):
                overflow[0] = True
                return PYTHON
            if slot >= 0:
                if not (T.accept[slot] >> kind) & 1:
                    return PYTHON
                W.kind[slot], W.a[slot], W.b[slot] = kind, pos, vb
                f = T.text[slot]
                if f >= 0 and (kind == K_STRING or kind == K_INT or kind == K_FLOAT):
                    W.text_at[slot] = out.used[f]
                    if kind != K_STRING:
                        if not put(out, f, buf + pos, vb - pos):
                            overflow[0] = True
                            return PYTHON
                    elif not (put_string(out, f, buf, pos + 1, close, False) if escaped
                              else put(out, f, buf + pos + 1, close - pos - 1)):
                        overflow[0] = True
                        return PYTHON
            pos = vb
            if S.ctx[depth] == C_ENT:
                member_done(T, out, S, depth, kind)
            state = S_AFTER
            continue
        if state == S_FIRST:
            pos = skip_space(buf, pos, stop)
            if pos >= stop:
                return PYTHON
            c = buf[pos]
            if c == (93 if S.is_array[depth] else 125):
                state = S_AFTER  # empty: closed there
                continue
            if S.is_array[depth]:
                slot = -1
                if S.slot[depth] >= 0 and T.span[S.slot[depth]] >= 0:
                    W.count[T.span[S.slot[depth]]] += 1
                state = S_VALUE
                continue
            state = S_MEMBER
            continue
        if state == S_MEMBER:
            pos = skip_space(buf, pos, stop)
            if pos >= stop or buf[pos] != 34:
                return PYTHON
            # The common string (plain ASCII up to its quote) found inline, else
            # `string_end` (a call for each string cost a fifth of the scan).
            close = jt_plain_string(buf, pos, stop, STRING_STOP)
            escaped = False
            if close < 0:
                close = string_end(buf, pos, stop, &escaped)
            if close < 0 or escaped:
                return PYTHON  # an escaped key: for Python to decode and compare
            slot = -1
            if S.ctx[depth] == C_TOP:
                slot = key_id(buf, pos + 1, close, T, 0, T.n_top)
            if slot >= 0 and W.kind[slot] != K_ABSENT:
                # A known top-level key again: the last one wins, as in Python. Its value
                # is text or nothing (a slot that takes objects or arrays: Python's rules),
                # the last written into its column: taken back, to be written again.
                if T.accept[slot] & ((1 << K_OBJECT) | (1 << K_ARRAY)):
                    return PYTHON
                f = T.text[slot]
                if f >= 0 and K_STRING <= W.kind[slot] <= K_FLOAT:
                    out.used[f] = W.text_at[slot]
            elif slot < 0:
                # Any other duplicated key: Python's rules (the last wins there, but where
                # the first was: its text cannot simply be written again).
                for k in range(S.keys_from[depth], nkeys):
                    if W.key_b[k] - W.key_a[k] == close - pos - 1 and (
                        close == pos + 1 or buf[W.key_a[k]] == buf[pos + 1]
                    ) and memcmp(buf + W.key_a[k], buf + pos + 1, close - pos - 1) == 0:
                        return PYTHON
                if nkeys >= MAX_KEYS:
                    return PYTHON
                W.key_a[nkeys], W.key_b[nkeys] = pos + 1, close
                nkeys += 1
            if S.ctx[depth] == C_TOP:
                S.target[0] = -1
                if slot < 0:
                    # An unknown top-level field: written whole into the extra text, as
                    # orjson writes `{key: value, ...}` of those fields (`frame._extra`).
                    if not put_byte(out, extra, 44 if extras else 123) or not put(
                        out, extra, buf + pos, close + 1 - pos
                    ) or not put_byte(out, extra, 58):
                        overflow[0] = True
                        return PYTHON
                    extras += 1
                    S.target[0] = extra
            elif S.ctx[depth] == C_ENT:
                slot = key_id(buf, pos + 1, close, T, T.n_top, T.n_slots)
                S.member_slot[depth] = slot
            if depth > 0 and S.target[depth] >= 0:
                if S.written[depth] and not put_byte(out, S.target[depth], 44):
                    overflow[0] = True
                    return PYTHON
                if not put(out, S.target[depth], buf + pos, close + 1 - pos) or not put_byte(
                    out, S.target[depth], 58
                ):
                    overflow[0] = True
                    return PYTHON
            S.written[depth] += 1
            pos = skip_space(buf, close + 1, stop)
            if pos >= stop or buf[pos] != 58:
                return PYTHON
            pos += 1
            state = S_VALUE
            continue
        # S_AFTER: a comma, or the close of the container at `depth`.
        pos = skip_space(buf, pos, stop)
        if pos >= stop:
            return PYTHON
        c = buf[pos]
        if c == 44:
            pos += 1
            if S.is_array[depth]:
                if S.target[depth] >= 0 and not put_byte(out, S.target[depth], 44):
                    overflow[0] = True
                    return PYTHON
                slot = -1
                if S.slot[depth] >= 0 and T.span[S.slot[depth]] >= 0:
                    W.count[T.span[S.slot[depth]]] += 1
                state = S_VALUE
            else:
                state = S_MEMBER
            continue
        if c != (93 if S.is_array[depth] else 125):
            return PYTHON
        pos += 1
        if depth > 0 and S.target[depth] >= 0 and not put_byte(out, S.target[depth], c):
            overflow[0] = True
            return PYTHON
        if S.slot[depth] >= 0:
            W.b[S.slot[depth]] = pos
        if not S.is_array[depth]:
            nkeys = S.keys_from[depth]
        depth -= 1
        if depth < 0:
            break
        if S.ctx[depth] == C_ENT:
            member_done(T, out, S, depth, K_OBJECT if c == 125 else K_ARRAY)
        state = S_AFTER
    pos = skip_space(buf, pos, stop)
    if pos != stop and buf[pos] != 10:
        return PYTHON  # something after the object
    end[0] = pos
    if extras and not put_byte(out, extra, 125):
        overflow[0] = True
        return PYTHON
    return OK


cdef inline void member_done(const Tables* T, Out* out, Stack* S, int depth,
                             int kind) noexcept nogil:
    """A member of the entities object has been written: while the members so far are held
    keys in the held order, each of the kind its column gives back whole, it is cut from the
    text again (`jobtools.frame.split_entities`)."""
    cdef int slot = S.member_slot[depth]
    if S.member_at[depth] < 0:
        return  # the run of held keys has ended
    if slot >= 0 and T.held[slot] > S.last_rank[depth] and T.held_kind[slot] == kind:
        out.used[T.n_text] = S.member_at[depth]
        S.written[depth] = 0
        S.last_rank[depth] = T.held[slot]
    else:
        S.member_at[depth] = -1


# --- a part of a file ------------------------------------------------------------------------

def count_lines(const uint8_t[::1] data, int64_t lo, int64_t hi):
    """The lines of `data[lo:hi]` (its newlines, plus one): the rows `scan` may fill."""
    cdef const uint8_t* buf = &data[0] if len(data) else NULL
    cdef int64_t lines
    if not (0 <= lo <= hi <= len(data)):
        raise ValueError("part out of the buffer")
    with nogil:
        lines = jt_newlines(buf, lo, hi) + 1
    return lines


def scan(const uint8_t[::1] data, int64_t lo, int64_t hi, dict tables, uint8_t[::1] out_data,
         const int64_t[::1] regions, dict rows_out):
    """Every line of `data[lo:hi]`: per row (a line not blank) its verdict, its line number
    within the part, where it is, each slot's kind, the text columns (Arrow offsets and
    validity) and each span slot's array (where it is, how many items), written into the
    arrays of `rows_out` (made by the caller, to be used again for the next part: new memory
    for each part costs more than the scan); returned: the rows filled, the part's lines and
    each text column's bytes.

    `out_data[regions[f]:regions[f + 1]]` is text column f's region; each must be as large
    as the part (no column's text is longer). Raises `RegionOverflow` if one is not.
    """
    cdef const uint8_t* buf = &data[0] if len(data) else NULL
    cdef int64_t i, row = 0, start, stop, line = 0
    cdef int verdict, f, s, n_text, n_span
    cdef int8_t k
    cdef bint overflow = False, full = False
    cdef int64_t room
    cdef const uint8_t[::1] names = tables["names"]
    cdef const int64_t[::1] name_off = tables["name_off"]
    cdef const int64_t[::1] accept = tables["accept"], text = tables["text"]
    cdef const int64_t[::1] held = tables["held"], held_kind = tables["held_kind"]
    cdef const int64_t[::1] span = tables["span"]
    cdef Tables T
    if not (0 <= lo <= hi <= len(data)):
        raise ValueError("part out of the buffer")
    T.n_top, T.n_slots = tables["n_top"], len(accept)
    T.entities, T.n_text = tables["entities"], tables["n_text"]
    n_text, n_span = T.n_text, int(np.max(span)) + 1 if len(span) else 0
    # Real checks (not asserts, which `python -O` removes): the tables agree with each other.
    if not (0 < T.n_top <= T.n_slots and 0 <= T.entities < T.n_top and n_span <= T.n_slots):
        raise ValueError("slot tables disagree")
    if len(name_off) != T.n_slots + 1 or name_off[T.n_slots] > len(names) or name_off[0] != 0:
        raise ValueError("key table disagrees with the slots")
    if len(text) != T.n_slots or len(held) != T.n_slots or len(held_kind) != T.n_slots:
        raise ValueError("slot tables differ in length")
    if len(span) != T.n_slots:
        raise ValueError("slot tables differ in length")
    for s in range(T.n_slots):
        if not (-1 <= text[s] < n_text) or not (-1 <= span[s] < n_span):
            raise ValueError("a slot's column is out of range")
        if name_off[s + 1] < name_off[s]:
            raise ValueError("key table out of order")
    # Each text column and each list's span is one slot's (every row's cells are written
    # from the slots, once: a cell of no slot would keep the last part's value).
    targets = [int(f) for f in text if f >= 0]
    spans = [int(f) for f in span if f >= 0]
    if sorted(targets) != list(range(n_text)) or sorted(spans) != list(range(n_span)):
        raise ValueError("a text column or list span has no slot, or several")
    if len(regions) != n_text + 3 or regions[0] != 0 or regions[n_text + 2] > len(out_data):
        raise ValueError("regions disagree with the text columns")
    for f in range(n_text + 2):
        if regions[f + 1] - regions[f] < hi - lo:
            raise ValueError("a region is smaller than the part")
    T.names = &names[0] if len(names) else NULL
    T.name_off, T.accept, T.text = &name_off[0], &accept[0], &text[0]
    T.held, T.held_kind, T.span = &held[0], &held_kind[0], &span[0]

    cdef int8_t[::1] state = rows_out["state"]
    cdef int64_t[::1] line_no = rows_out["line"]
    cdef int64_t[:, ::1] where = rows_out["where"], offsets = rows_out["offsets"]
    cdef int8_t[:, ::1] kind = rows_out["kind"]
    cdef uint8_t[:, ::1] valid = rows_out["valid"]
    cdef int64_t[:, :, ::1] arrays = rows_out["arrays"]
    # Real checks: every array is in the tables' shapes, and rows are written only while
    # every array has room for one more (checked row by row below: no count of the lines
    # first, which would be a pass over the part of its own).
    if where.shape[0] != 2:
        raise ValueError("rows_out['where'] has the wrong shape")
    if kind.shape[0] != T.n_slots:
        raise ValueError("rows_out['kind'] has the wrong shape")
    if offsets.shape[0] != n_text + 2 or offsets.shape[1] < 1:
        raise ValueError("rows_out['offsets'] has the wrong shape")
    if valid.shape[0] != n_text + 2:
        raise ValueError("rows_out['valid'] has the wrong shape")
    if arrays.shape[0] < n_span or arrays.shape[1] != 3:
        raise ValueError("rows_out['arrays'] has the wrong shape")
    room = min(state.shape[0], line_no.shape[0], where.shape[1], kind.shape[1],
               offsets.shape[1] - 1, valid.shape[1], arrays.shape[2])
    used_a = np.zeros(n_text + 2, dtype=np.int64)
    work_a = np.zeros((4, max(T.n_slots, 1)), dtype=np.int64)
    keys_a = np.zeros((2, MAX_KEYS), dtype=np.int64)
    cdef int64_t[::1] used = used_a
    cdef int64_t[:, ::1] work = work_a, keys = keys_a
    kind_w = np.zeros(max(T.n_slots, 1), dtype=np.int8)
    cdef int8_t[::1] kind_work = kind_w
    cdef Work W
    W.kind, W.a, W.b, W.count = &kind_work[0], &work[0, 0], &work[1, 0], &work[2, 0]
    W.text_at = &work[3, 0]
    W.key_a, W.key_b = &keys[0, 0], &keys[1, 0]
    cdef Out out
    out.data = &out_data[0]
    out.base = &regions[0]
    out.used = &used[0]
    cdef Stack S
    with nogil:
        for f in range(n_text + 2):
            offsets[f, 0] = 0
        start = lo
        while start <= hi and not overflow:
            verdict = read_line(buf, start, hi, &T, &W, &out, &S, &overflow, &stop)
            if verdict != BLANK:
                if row >= room:
                    full = True
                    break
                state[row], line_no[row] = verdict, line
                where[0, row], where[1, row] = start, stop
                if verdict != OK:
                    # What the line wrote is taken back: each column as the row before left it.
                    for f in range(n_text + 2):
                        used[f] = offsets[f, row]
                # Every cell of the row is written once (the arrays hold the last part's
                # values): each text column and each list's span belongs to one slot.
                for s in range(T.n_slots):
                    k = W.kind[s] if verdict == OK else K_ABSENT
                    kind[s, row] = k
                    f = <int>T.text[s]
                    if f >= 0:
                        valid[f, row] = K_STRING <= k <= K_FLOAT
                    f = <int>T.span[s]
                    if f >= 0:
                        arrays[f, 0, row] = W.a[s] if k == K_ARRAY else 0
                        arrays[f, 1, row] = W.b[s] if k == K_ARRAY else 0
                        arrays[f, 2, row] = W.count[f] if k == K_ARRAY else 0
                valid[n_text, row] = verdict == OK and W.kind[T.entities] == K_OBJECT
                # Unknown fields written: the extra text.
                valid[n_text + 1, row] = used[n_text + 1] > offsets[n_text + 1, row]
                for f in range(n_text + 2):
                    offsets[f, row + 1] = used[f]
                row += 1
            line += 1
            start = stop + 1
    if full:
        raise NoRoom("rows_out has no room for the part's lines")
    if overflow:
        raise RegionOverflow("a text column outgrew its region")
    return row, line, used_a


def splice(uint8_t[::1] region, int64_t used, const int64_t[::1] offsets,
           const int64_t[::1] rows, const int64_t[::1] their_offsets,
           const uint8_t[::1] their_data):
    """Text put into empty rows of a text column, in place: `region[:used]` holds the
    column's text (`offsets`, n + 1 of them, from 0), `rows` (in order, each empty) get the
    strings `their_data[their_offsets[j]:their_offsets[j + 1]]`. The text after each row is
    moved along once, from the end (no new memory; `_scan.put`). Returns the text's new
    length, or -1 when the region has no room for it (nothing moved then)."""
    cdef int64_t n = offsets.shape[0] - 1, k = rows.shape[0], j, at, end, shift, length, total
    if n < 0 or their_offsets.shape[0] != k + 1:
        raise ValueError("offsets disagree with the rows")
    if offsets[0] != 0 or offsets[n] != used or not (0 <= used <= region.shape[0]):
        raise ValueError("the column's offsets disagree with its text")
    if their_offsets[0] < 0 or their_offsets[k] > their_data.shape[0]:
        raise ValueError("the new text's offsets are out of its buffer")
    for j in range(k):
        if not (0 <= rows[j] < n) or (j and rows[j] <= rows[j - 1]):
            raise ValueError("rows out of the column or out of order")
        if offsets[rows[j]] != offsets[rows[j] + 1]:
            raise ValueError("a row that gets text is not empty")
        if their_offsets[j + 1] < their_offsets[j]:
            raise ValueError("the new text's offsets are out of order")
    total = their_offsets[k] - their_offsets[0]
    if used + total > region.shape[0]:
        return -1
    with nogil:
        end, shift = used, total
        for j in range(k - 1, -1, -1):
            at = offsets[rows[j]]
            if end > at:
                memmove(&region[at + shift], &region[at], end - at)
            length = their_offsets[j + 1] - their_offsets[j]
            shift -= length
            if length:
                memcpy(&region[at + shift], &their_data[their_offsets[j]], length)
            end = at
    return used + total
