"""Job ids: validated before they reach a URL, gathered from lists, columns or free text, and
the creation time each one carries."""

from __future__ import annotations

import bisect
import codecs
import csv
import dataclasses
import io
import os
import random
import re
import uuid
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobtools.errors import InvalidIdError, NearMissWarning, RejoinedIdWarning

__all__ = [
    "storable_id",
    "EARLIEST_ID_TIME",
    "ID_TIME_SLACK",
    "IdScan",
    "JobIds",
    "MAX_ID_LENGTH",
    "NearMiss",
    "NearMissWarning",
    "Rejoined",
    "RejoinedIdWarning",
    "as_job_ids",
    "extract_job_ids",
    "job_id_time",
    "job_id_times",
    "job_ids_from_text",
    "make_job_id",
    "resource_id",
    "scan_job_ids",
    "validate_id",
    "validate_job_id",
    "validate_project_id",
]

MAX_ID_LENGTH = 64

# Anything that could change the URL path or the request: separators, traversal,
# query/fragment marks, escapes, whitespace and control characters.
_FORBIDDEN = re.compile(r"[/?#%\s\x00-\x1f\x7f]|\.\.")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_id(value: object, kind: str = "job id") -> str:
    """Return `value` when it is safe in a URL path segment; raise InvalidIdError otherwise.

    >>> validate_id("ff8080814dbd65d7014dbe0d84db0013")
    'ff8080814dbd65d7014dbe0d84db0013'

    Raises:
        InvalidIdError: (a ValueError) naming the value: not a string, empty or blank,
            containing `/`, `..`, `?`, `#`, `%`, whitespace or control characters, or longer
            than 64 characters.
    """
    if not isinstance(value, str):
        raise InvalidIdError(f"{kind} must be a string, got {_show(value)}")
    if not value.strip():
        raise InvalidIdError(f"{kind} is empty or blank: {_show(value)}")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidIdError(f"{kind} is longer than {MAX_ID_LENGTH} characters: {_show(value)}")
    bad = _FORBIDDEN.search(value)
    if bad:
        raise InvalidIdError(f"{kind} contains {bad.group()!r}: {_show(value)}")
    return value


def validate_job_id(value: object) -> str:
    """Validate a job id (see `validate_id`)."""
    return validate_id(value, "job id")


def validate_project_id(value: object) -> str:
    """Validate a project id (see `validate_id`)."""
    return validate_id(value, "project id")


# --- the time inside a job id --------------------------------------------------------------

# Every public job id (2015-2026, every service) is laid out as Hibernate's UUIDHexGenerator
# makes them (reference, "Job ids carry their creation time"): 8 hex node address, 8 hex JVM
# start, 12 hex creation time in milliseconds since the epoch (UTC), 4 hex counter.
_TIME_DIGITS = slice(16, 28)
# Earlier than this, or later than now plus a day, is no job's creation time: a random 32-hex
# value (a project id) lands in 2010..2027 about once in 500.
EARLIEST_ID_TIME = pd.Timestamp("2010-01-01", tz="UTC")
ID_TIME_SLACK = pd.Timedelta(days=1)
_HEX_VALUE = bytes(
    int(chr(b), 16) if chr(b) in "0123456789abcdefABCDEF" else 0xFF for b in range(256)
)


def job_id_times(values: Iterable[Any], *, now: Any = None) -> pd.Series:
    """The creation times in job ids, as a `datetime64[us, UTC]` Series (vectorised).

    NaT for a value that is not 32 hex characters, or whose time is implausible (before 2010 or
    after `now` plus one day; `now` defaults to the present). A Series keeps its index and name.

    >>> job_id_times(["ff8080814dbd65d7014dbe0d84db0013", "0d3a6f8c2b9e4a71b5c8e2f4a6d9b3c1"])
    0   2015-06-04 10:11:06.587+00:00
    1                             NaT
    dtype: datetime64[us, UTC]
    """
    index, name = None, None
    if isinstance(values, pa.Array | pa.ChunkedArray) and pa.types.is_large_string(values.type):
        strings = values  # Arrow text as the readers hold it: read in place
    else:
        raw = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
        text = raw if raw.dtype == "str" else raw.astype("str")
        strings = pa.array(text.array, type=pa.large_string(), from_pandas=True)
        index, name = raw.index, raw.name
    fits, millis = _id_millis(strings)
    out = plausible_id_times(np.where(fits, millis, -1), now=now)
    return pd.Series(out, index=index, name=name).dt.tz_localize("UTC")


def plausible_id_times(millis: np.ndarray, *, now: Any = None) -> np.ndarray:
    """Milliseconds read from ids (-1 where none) as naive UTC `datetime64[us]`, NaT where
    implausible (before 2010, or after `now` plus a day)."""
    latest = (pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)) + ID_TIME_SLACK
    low, high = EARLIEST_ID_TIME.value // 10**6, pd.Timestamp(latest).value // 10**6
    good = (millis >= low) & (millis <= high)
    return np.where(good, millis * 1000, np.iinfo(np.int64).min).view("datetime64[us]")


def _id_millis(strings: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Which strings are 32 hex characters, and the milliseconds in digits 17-28 of those.

    Read straight from Arrow's buffers, a block of rows at a time (temporaries of a few MB,
    reused, instead of new memory the size of the column): the 32 bytes of each 32-byte
    string side by side, checked and decoded by a translation table (no regex, no slicing).
    """
    n = len(strings)
    fits = np.zeros(n, dtype=bool)
    millis = np.zeros(n, dtype=np.int64)
    at = 0
    for chunk in strings.chunks if isinstance(strings, pa.ChunkedArray) else [strings]:
        for lo in range(0, len(chunk), _ID_BLOCK):
            block = chunk.slice(lo, _ID_BLOCK)
            here = slice(at, at + len(block))
            _block_millis(block, fits[here], millis[here])
            at += len(block)
    return fits, millis


_ID_BLOCK = 1 << 16


def _block_millis(strings: pa.Array, fits: np.ndarray, millis: np.ndarray) -> None:
    n = len(strings)
    if not n or strings.null_count == n:
        return
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64)[strings.offset :][: n + 1]
    valid = strings.is_valid().to_numpy(zero_copy_only=False)
    right_length = valid & (np.diff(offsets) == 32)
    rows = np.flatnonzero(right_length)
    # The 32-byte strings side by side (as they are when every one is): an (n, 32) matrix.
    same = strings if len(rows) == n else strings.filter(pa.array(right_length))
    start = np.frombuffer(same.buffers()[1], dtype=np.int64)[same.offset] if len(rows) else 0
    data = np.frombuffer(same.buffers()[2], dtype=np.uint8) if len(rows) else np.zeros(0, np.uint8)
    chars = data[start : start + 32 * len(rows)]
    # Each character's value (0-15; 0xFF for a byte that is no hex digit) by one
    # `bytes.translate`: 3x faster than a numpy lookup table indexed by every byte.
    value = np.frombuffer(chars.tobytes().translate(_HEX_VALUE), dtype=np.uint8)
    value = value.reshape(len(rows), 32)
    hex_rows = ~(value.view(np.uint64) & np.uint64(0xF0F0F0F0F0F0F0F0)).any(axis=1)
    nibbles = value[:, _TIME_DIGITS]
    if not hex_rows.all():
        rows, nibbles = rows[hex_rows], nibbles[hex_rows]
    fits[rows] = True
    packed = np.zeros((len(rows), 8), dtype=np.uint8)
    packed[:, 2:] = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    millis[rows] = packed.view(">u8").ravel().astype(np.int64)


def job_id_time(job_id: object) -> pd.Timestamp | Any:
    """The creation time (UTC) in one job id, or NaT when it carries none.

    >>> job_id_time("ff8080814dbd65d7014dbe0d84db0013")
    Timestamp('2015-06-04 10:11:06.587000+0000', tz='UTC')
    >>> job_id_time("4010a32c-1d2c-4a2b-9b8e-6e3c5b0a1f00")
    NaT
    """
    return job_id_times(pd.Series([job_id], dtype=object)).iloc[0]


def make_job_id(created: float, *, node: int, jvm: int, counter: int) -> str:
    """A job id in the service's layout, created at `created` (epoch seconds).

    >>> make_job_id(1433412666.587, node=0xFF808081, jvm=0x4DBD65D7, counter=0x13)
    'ff8080814dbd65d7014dbe0d84db0013'
    """
    millis = round(created * 1000)
    return f"{node & 0xFFFFFFFF:08x}{jvm & 0xFFFFFFFF:08x}{millis:012x}{counter & 0xFFFF:04x}"


def resource_id(rng: random.Random) -> str:
    """A UUID4 drawn from `rng`, as image, volume and server ids are (no time inside)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# --- finding job ids in free text ----------------------------------------------------------

# What marks the value after it as a job id: `job_id=`, `"jobId": "`, `subJobId:`, a
# `/jobs/` or `/job/` path, or the word `job` (then only a 32-hex id or a UUID is taken).
_MARKED = re.compile(
    r"(?:(?P<key>\b(?:sub_?)?job[_-]?id)[\"']?\s*[:=]\s*[\"']?"
    r"|(?P<path>/jobs?/)"
    r"|(?P<word>\bjob\s+))"
    r"(?P<value>[0-9A-Za-z][0-9A-Za-z_.~-]{0,80})",
    re.IGNORECASE,
)
_HEX_TOKEN = re.compile(r"(?<![0-9A-Za-z_.~-])([0-9a-fA-F]{32})(?![0-9A-Za-z_.~-])")
_JOB_ID = re.compile(
    r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
# A value right after a key such as `"image_id": "` or `request_id=`: that key names it.
_KEY_BEFORE = re.compile(r"([A-Za-z_][\w-]*)[\"']?\s*[:=]\s*[\"']?$")
_JOB_KEYS = frozenset({"job_id", "jobid", "job", "sub_job_id", "subjobid", "job-id", "id"})
_PROJECT_PATH = ("/v1/", "/v2/", "/v3/", "/v1.0/", "/v2.1/")
_JOB_WORD = re.compile(r"[jJ][oO][bB]")
# What the lines of a block that may hold an id have (RE2, for Arrow): see `_scan_block`.
_MAY_MARK = r"(?i)(?:sub_?)?job[_-]?id[\"']?\s*[:=]|/jobs?/|\bjob\s+[0-9a-f]{8}"
# The hex piece ending a line (matched on the line reversed, so anchored at its start) and
# the one starting a line.
_ENDS_HEX = r"^\r?(?P<p>[0-9a-fA-F-]{1,35})(?:[^0-9A-Za-z_.~]|$)"
_STARTS_HEX = r"^(?P<p>[0-9a-fA-F-]{1,35})(?:[^0-9A-Za-z_.~]|$)"
# The start of a `job_id` key or a `/jobs/` path ending a line (reversed), and the rest of
# one starting the next.
_ENDS_KEY = r"(?i)^\r?(?:(?:i?[_-]?b)?o)?j(?:_?bus)?(?:[^a-z]|$)|^\r?(?:s?b?o)?j/"
_STARTS_KEY = re.compile(r"(?i)[a-z_-]{0,8}[\"']?\s*[:=]|o?b?s?/")
# Text is read in blocks of whole lines of about this many characters (bounded memory).
_BLOCK = 1 << 20
# The characters either side of a line break looked at for an id cut by a wrap.
_REACH = 120


@dataclasses.dataclass(frozen=True)
class NearMiss:
    """A value marked as a job id that is not one (`job_id=` then 31 hex characters)."""

    line: int
    value: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.value!r} {self.reason}"


@dataclasses.dataclass(frozen=True)
class Rejoined:
    """A job id a line wrap had cut in two (`job_id=ff80…` | `…0013`), read whole."""

    lines: tuple[int, int]
    value: str

    def __str__(self) -> str:
        return f"lines {self.lines[0]}-{self.lines[1]}: {self.value}"


@dataclasses.dataclass(frozen=True)
class IdScan:
    """What `scan_job_ids` found: the job ids in order, the near misses it did not take, and
    the ids it read across a line wrap."""

    ids: list[str]
    near_misses: tuple[NearMiss, ...] = ()
    rejoined: tuple[Rejoined, ...] = ()


# Where the lines of a text start, and their numbers (for lines that are not consecutive).
_Numbering: TypeAlias = tuple[list[int], list[int]]
TextSource: TypeAlias = "str | os.PathLike[str] | IO[str] | Iterable[str]"


def scan_job_ids(source: TextSource) -> IdScan:
    """Find the job ids in free text (log lines, a console table, JSON), and the near misses.

    `source`: the text, a path to a text file (any encoding `read_jobs` detects), an open
    text file or lines; files and lines are read in blocks, in bounded memory.

    Rules (see `extract_job_ids`): a bare 32-hex token is a job id when its middle digits hold a
    plausible creation time (project ids and request ids are random, so they do not); a marked
    value (`job_id=…`, `"job_id": "…"`, `/jobs/<id>`) is a job id whatever its shape, except
    a fragment (hex digits short of an id: what a line wrap leaves of one); a value under a key
    that names something else (`image_id`, `request_id`) or the project id in a
    `/v1/{project_id}/` path never is. 32-hex ids and UUIDs are lower-cased, so the case
    variants of one id are one id. A marked value that is almost a job id (31 or 33 hex
    characters, a stray letter, a fragment) is a near miss: listed, with its line, not taken.
    An id cut in two by a line wrap (its pieces end one line and start the next, with nothing
    between) is read whole and listed in `rejoined` with its lines.
    """
    found: dict[str, bool] = {}  # value -> marked, in order of first appearance
    misses: list[NearMiss] = []
    rejoined: list[Rejoined] = []
    previous: tuple[str, int] | None = None  # the last line of the block before, its number
    for block, first in _blocks(source):
        _scan_block(block, first, found, misses, rejoined)
        if previous is not None:
            text = previous[0] + "\n" + block[: block.find("\n") + 1 or len(block)]
            _rejoin(text, [0, len(previous[0])], previous[1], found, rejoined)
        last = block.rstrip("\n").rsplit("\n", 1)[-1]
        previous = (last[-_REACH:], first + block.rstrip("\n").count("\n"))
    misses = [m for m in misses if not _rejoined_piece(m, rejoined)]
    candidates = list(found)
    times = job_id_times(candidates) if candidates else pd.Series([], dtype=object)
    # A bare token counts only with a plausible time; a marked one counts anyway.
    ids = [v for v, t in zip(candidates, times, strict=True) if found[v] or t is not pd.NaT]
    return IdScan(ids, tuple(misses), tuple(rejoined))


def _blocks(source: TextSource) -> Iterator[tuple[str, int]]:
    """Blocks of whole lines of the text, with the number of each block's first line."""
    if isinstance(source, str):
        chunks: Iterable[str] = (source[i : i + _BLOCK] for i in range(0, len(source), _BLOCK))
    elif isinstance(source, os.PathLike):
        chunks = _file_chunks(Path(source))
    elif hasattr(source, "read"):
        chunks = iter(lambda: source.read(_BLOCK), "")
    else:
        chunks = source
    line, rest = 1, ""
    for chunk in chunks:
        text = rest + chunk
        end = text.rfind("\n") + 1
        if end == 0 and len(text) < 16 * _BLOCK:
            rest = text
            continue
        end = end or len(text)
        block, rest = text[:end], text[end:]
        yield block, line
        line += block.count("\n")
    if rest:
        yield rest, line


def _scan_block(
    block: str,
    first: int,
    found: dict[str, bool],
    misses: list[NearMiss],
    rejoined: list[Rejoined],
) -> None:
    """`_scan_into` and `_rejoin` on the lines of a block that may hold an id.

    Arrow's regex engine (RE2, linear time) picks them over all the lines at once: a line
    with a job key or `/jobs/` (and the line after it), one with 32 hex digits in a row (and
    the line before when they start it: it may hold their key), and the line breaks where a
    wrap may have cut an id (a hex piece ending one line and one starting the next, 32 to 36
    long together; or a piece of a `job_id` key). The lines of a big log that hold nothing
    cost next to nothing. The ids are added to `found` in the order they stand in the block.
    """
    lines = pc.split_pattern(pa.array([block], pa.large_string()), "\n").flatten()

    def has(pattern: str) -> np.ndarray:
        found_: np.ndarray = pc.match_substring_regex(lines, pattern).to_numpy(zero_copy_only=False)
        return found_

    marked, hexes = has(_MAY_MARK), has(r"[0-9a-fA-F]{32}")
    # Marked values on the lines with a job key (and the line after: `job_id=` may end one),
    # bare ids on the lines with 32 hex digits (and the line before: it may hold their key),
    # each pass over its own lines; the ids put in the order they came in.
    after, before = marked.copy(), hexes.copy()
    after[1:] |= marked[:-1]
    before[:-1] |= has(r"^\s*[\"']?[0-9a-fA-F]{32}")[1:]
    seen: list[tuple[int, int, str, bool]] = []
    passes: tuple[tuple[np.ndarray, Literal["marked", "bare"]], ...] = (
        (after, "marked"),
        (before, "bare"),
    )
    for keep, kinds in passes:
        rows = np.flatnonzero(keep)
        if len(rows):
            text, numbers = _joined(lines, rows, first)
            _scan_into(text, first, found, misses, numbers, kinds=kinds, seen=seen)
    # A hex piece ending a line and one starting the next make an id only if together
    # they are 32 to 36 characters long (32 hex digits, and a UUID's 4 dashes).
    reversed_ = pc.utf8_reverse(lines)
    ends = _piece_lengths(reversed_, _ENDS_HEX)
    begins = _piece_lengths(lines, _STARTS_HEX)
    together = ends[:-1] + begins[1:]
    cut_hex = (ends[:-1] > 0) & (begins[1:] > 0) & (together >= 32) & (together <= 36)
    key_ends: np.ndarray = pc.match_substring_regex(reversed_, _ENDS_KEY).to_numpy(
        zero_copy_only=False
    )
    cut_key = key_ends[:-1].copy()
    for k in np.flatnonzero(cut_key).tolist():  # few: checked here
        cut_key[k] = bool(_STARTS_KEY.match(lines[k + 1].as_py()))
    for k in np.flatnonzero(cut_hex | cut_key).tolist():
        tail, head = lines[k].as_py(), lines[k + 1].as_py()
        _rejoin(tail + "\n" + head, [len(tail)], first + k, found, rejoined, seen)
    for _, _, value, is_marked in sorted(seen):
        found[value] = found.get(value, False) or is_marked


def _joined(lines: pa.Array, rows: np.ndarray, first: int) -> tuple[str, _Numbering]:
    """Some lines as one text, and where each starts with its number.

    Lines that do not follow each other are kept apart by a NUL, which no pattern crosses
    (a key on one line never marks a value on a line far below).
    """
    texts = lines.take(pa.array(rows)).to_pylist()
    gaps = (np.diff(rows, prepend=rows[0]) > 1).tolist()
    parts, starts, offset = [], [], 0
    for text, gap in zip(texts, gaps, strict=True):
        if gap:
            parts.append("\x00\n")
            offset += 2
        starts.append(offset)
        parts.append(text + "\n")
        offset += len(text) + 1
    return "".join(parts), (starts, (rows + first).tolist())


def _piece_lengths(lines: pa.Array, pattern: str) -> np.ndarray:
    """The length of each line's piece that `pattern`'s group `p` takes (0 where none)."""
    pieces = pc.extract_regex(lines, pattern).field("p")
    lengths = pc.fill_null(pc.utf8_length(pieces), 0)
    counted: np.ndarray = lengths.to_numpy(zero_copy_only=False)
    return counted


def _file_chunks(path: Path) -> Iterator[str]:
    """A text file in chunks, decoded in the encoding its first bytes show."""
    from jobtools.io._csv import decode_text

    with path.open("rb") as file:
        head = file.read(1 << 16)
        if not head:
            return
        # The encoding is decided on the first 64 KiB.
        _, encoding = decode_text(head, path, final=False)
        decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        yield decoder.decode(head)
        while chunk := file.read(_BLOCK):
            yield decoder.decode(chunk)
        yield decoder.decode(b"", final=True)


def _scan_into(
    text: str,
    first: int,
    found: dict[str, bool],
    misses: list[NearMiss],
    numbers: _Numbering | None = None,
    *,
    kinds: Literal["both", "marked", "bare"] = "both",
    seen: list[tuple[int, int, str, bool]] | None = None,
) -> list[tuple[int, int, str, bool]]:
    """Add the ids and near misses of `text` (its first line numbered `first`) to the lists.

    `numbers`: where `text`'s lines start and their numbers, when they are not consecutive.
    `kinds`: look for marked values, bare 32-hex tokens or both. `seen`: collect the ids as
    `(line, column, value, marked)` there instead of adding them to `found`.
    Returns the ids found with their spans: `(start, end, value, marked)`.
    """
    spans: list[tuple[int, int, str, bool]] = []
    taken: set[int] = set()
    newlines: list[int] | None = None
    # Most blocks of a big log name no job: a plain search skips the costly pattern.
    look = kinds != "bare" and _JOB_WORD.search(text)
    marks = _MARKED.finditer(text) if look else iter(())
    for match in marks:
        value, start = match.group("value"), match.start("value")
        taken.add(start)
        if _JOB_ID.fullmatch(value):
            spans.append((match.start(), match.end(), value.lower(), True))
        elif (reason := _near_miss(value)) is not None:
            if numbers is not None:
                line = numbers[1][bisect.bisect_right(numbers[0], start) - 1]
            else:
                if newlines is None:
                    newlines = [m.start() for m in re.finditer("\n", text)]
                line = bisect.bisect_left(newlines, start) + first
            misses.append(NearMiss(line, value, reason))
        elif match.group("word") is None and _other_shape(value):
            spans.append((match.start(), match.end(), value, True))
    tokens = _HEX_TOKEN.finditer(text) if kinds != "marked" else iter(())
    for match in tokens:
        start = match.start(1)
        if start in taken:
            continue
        before = text[max(0, start - 48) : start]
        if before.endswith(_PROJECT_PATH):
            continue
        key = _KEY_BEFORE.search(before)
        if key and key.group(1).lower() not in _JOB_KEYS:
            continue
        spans.append((start, match.end(1), match.group(1).lower(), False))
    if seen is not None and numbers is not None:
        for start, _, value, marked in spans:
            at = bisect.bisect_right(numbers[0], start) - 1
            seen.append((numbers[1][at], start - numbers[0][at], value, marked))
        return spans
    for _, _, value, marked in sorted(spans):
        found[value] = found.get(value, False) or marked
    return spans


def _rejoin(
    text: str,
    points: list[int],
    first: int,
    found: dict[str, bool],
    rejoined: list[Rejoined],
    seen: list[tuple[int, int, str, bool]] | None = None,
) -> None:
    """Ids that read whole when the line break at each of `points` is taken out.

    `seen`: collect them there as `(line, column, value, marked)`, not in `found`.
    """
    for point in points:
        if point <= 0 or text[point] != "\n":
            continue
        start = text.rfind("\n", 0, point) + 1
        tail = text[max(start, point - _REACH) : point].rstrip("\r")
        end = text.find("\n", point + 1)
        head = text[point + 1 : end if end >= 0 else len(text)][:_REACH]
        if not tail or not head or tail[-1].isspace() or head[0].isspace():
            continue
        joined: dict[str, bool] = {}
        spans = _scan_into(tail + head, 0, joined, [])
        line = first + text.count("\n", 0, point)
        column = max(start, point - _REACH) - start
        for span_start, span_end, value, marked in spans:
            if span_start < len(tail) < span_end and _whole(value):
                if value not in found and all(r.value != value for r in rejoined):
                    rejoined.append(Rejoined((line, line + 1), value))
                if seen is not None:
                    seen.append((line, column + span_start, value, marked))
                else:
                    found[value] = found.get(value, False) or marked


def _whole(value: str) -> bool:
    return bool(_JOB_ID.fullmatch(value))


def _rejoined_piece(miss: NearMiss, rejoined: list[Rejoined]) -> bool:
    """A near miss that was the first piece of an id read whole across its line's wrap."""
    return any(miss.line == r.lines[0] and r.value.startswith(miss.value.lower()) for r in rejoined)


def _near_miss(value: str) -> str | None:
    """Why a marked value is almost, but not, a job id; None when it is something else."""
    bare = value.replace("-", "")
    hex_share = sum(ch in "0123456789abcdefABCDEF" for ch in bare) / max(1, len(bare))
    if hex_share == 1 and len(bare) < 32 and any(ch.isdigit() for ch in bare):
        return f"is {len(bare)} hex characters, a piece of a job id (cut by a line wrap?)"
    if not (28 <= len(bare) <= 36 and hex_share >= 0.9):
        return None
    if len(bare) != 32:
        return f"has {len(bare)} hex characters where a job id has 32"
    if hex_share < 1:
        return "has a character that is not hex"
    return "is not laid out as a UUID (8-4-4-4-12)"


def _other_shape(value: str) -> bool:
    """Another id shape a text marks as a job id (`job-42`): with a digit, not a null word."""
    return any(ch.isdigit() for ch in value) and _valid(value)


def _valid(value: str) -> bool:
    try:
        validate_id(value)
    except InvalidIdError:
        return False
    return True


def extract_job_ids(source: TextSource, *, strict: bool = False) -> list[str]:
    """Pull job ids out of free text: log lines, a pasted console table, JSON, an ids file.

    By default only job ids: 32-hex tokens whose middle digits hold a plausible creation time,
    lower-cased, and any value the text marks as a job id (`job_id=…`, `"job_id": "…"`,
    `/jobs/<id>`, `job <uuid>`) that is not a fragment of one. Not taken: the project id in a
    `/v1/{project_id}/` path, resource UUIDs (`exporting image <uuid>`), values under another
    key (`request_id=…`). De-duplicated in order of first appearance. Near misses (`job_id=`
    then 31 or 33 hex characters, or a piece of an id) raise a `NearMissWarning` naming their
    lines; ids a line wrap cut in two are read whole, with a `RejoinedIdWarning` naming their
    lines; `scan_job_ids` returns both. `source` may be a path or an open file, read in
    bounded memory (a log of a gigabyte is fine).

    With `strict`, `source` is an ids file, whatever its layout:

    - one id per line (blank lines and `#` comments skipped, a `job_id` header allowed):
      every line is validated, so a typo is an error naming it, not a silent skip;
    - CSV with a `job_id` column: that column;
    - anything else: free text, as above;

    and no id at all is an InvalidIdError.

    >>> extract_job_ids("GET /v1/0123456789abcdef0123456789abcdef/jobs/"
    ...     "ff8080814dbd65d7014dbe0d84db0013 -> 200 | exporting image 4010a32c-1d2c-4a2b-"
    ...     "9b8e-6e3c5b0a1f00 | again FF8080814DBD65D7014DBE0D84DB0013")
    ['ff8080814dbd65d7014dbe0d84db0013']
    >>> extract_job_ids("# ids\\njob_id\\nj-1\\nj-2\\nj-1\\n", strict=True)
    ['j-1', 'j-2']
    """
    if strict:
        text = _whole_text(source)
        listed = _listed_ids(text)
        if listed is not None:
            return listed
        source = text
    scan = scan_job_ids(source)
    _warn(scan.near_misses)
    if scan.rejoined:
        shown = "; ".join(str(r) for r in scan.rejoined[:5])
        more = f" (and {len(scan.rejoined) - 5} more)" if len(scan.rejoined) > 5 else ""
        warnings.warn(
            f"{len(scan.rejoined)} job id(s) cut by a line wrap were read whole: {shown}{more}",
            RejoinedIdWarning,
            stacklevel=2,
        )
    if strict and not scan.ids:
        raise InvalidIdError("no job ids found (expected one per line, or 32-hex / UUID ids)")
    return scan.ids


def _whole_text(source: TextSource) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, os.PathLike):
        from jobtools.io._csv import decode_text

        path = Path(source)
        return decode_text(path.read_bytes(), path)[0] if path.stat().st_size else ""
    if hasattr(source, "read"):
        return str(source.read())
    return "\n".join(line.rstrip("\n") for line in source)


def _listed_ids(text: str) -> list[str] | None:
    """The ids of a one-per-line list or a CSV with a job_id column; None for other text."""
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines:
        raise InvalidIdError("no job ids found: the input is empty")
    header = [cell.strip().strip('"') for cell in lines[0].split(",")]
    if len(header) > 1 and "job_id" in header:
        rows = csv.DictReader(io.StringIO("\n".join(lines)))
        return _canonical(as_job_ids([row.get("job_id") or "" for row in rows]))
    if header == ["job_id"]:
        lines = lines[1:]
    if lines and all(_PLAIN_LINE.fullmatch(line) for line in lines):
        return _canonical(as_job_ids(lines))
    return None


def _warn(misses: Iterable[NearMiss]) -> None:
    misses = list(misses)
    if misses:
        shown = "; ".join(str(m) for m in misses[:5])
        more = f" (and {len(misses) - 5} more)" if len(misses) > 5 else ""
        warnings.warn(
            f"{len(misses)} value(s) marked as job ids are not job ids: {shown}{more}",
            NearMissWarning,
            stacklevel=3,
        )


# What every function taking job ids accepts (through `as_job_ids`): one id, any iterable of
# ids, a Series or Index of them, or a frame with a `job_id` column.
JobIds: TypeAlias = "str | Iterable[str] | pd.Series[Any] | pd.Index[Any] | pd.DataFrame"


def as_job_ids(values: JobIds, *, unique: bool = True) -> list[str]:
    """Normalise ids given as one id, a list, a Series or Index, or a frame's `job_id` column.

    Every id is validated (InvalidIdError names the first bad one). With `unique`, repeats
    are dropped, keeping the order of first appearance.
    """
    given: Any = values  # duck-typed from here on: any frame with columns, any `tolist`
    if isinstance(given, str):
        items: Iterable[Any] = [given]
    elif hasattr(given, "columns") and hasattr(given, "__getitem__"):
        if "job_id" not in given.columns:
            raise InvalidIdError("a frame of ids needs a 'job_id' column")
        items = given["job_id"].tolist()
    elif hasattr(given, "tolist"):
        items = given.tolist()
    elif isinstance(given, Iterable):
        items = given
    else:
        raise InvalidIdError(f"job ids must be a list, a Series or a column, got {_show(values)}")
    ids = [validate_job_id(item) for item in items]
    return list(dict.fromkeys(ids)) if unique else ids


# A line that is nothing but one id-like token (no spaces, commas, pipes or semicolons).
_PLAIN_LINE = re.compile(r"[^\s,;|]+")


def job_ids_from_text(text: TextSource) -> list[str]:
    """The ids of an ids file: `extract_job_ids(text, strict=True)`, under its older name."""
    return extract_job_ids(text, strict=True)


def _canonical(ids: list[str]) -> list[str]:
    """32-hex ids and UUIDs lower-cased, so that case variants of one id are one id."""
    lowered = [value.lower() if _JOB_ID.fullmatch(value) else value for value in ids]
    return list(dict.fromkeys(lowered))


def storable_id(job_id: str) -> str:
    """The id as a frame row can hold it: a lone surrogate (unsendable, unstorable) escaped.

    >>> storable_id("ab" + chr(0xDC80) + "cd")
    'ab\\\\udc80cd'
    """
    try:
        job_id.encode("utf-8")
    except UnicodeEncodeError:
        return job_id.encode("utf-8", "backslashreplace").decode("ascii", "replace")
    return job_id
