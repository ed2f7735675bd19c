"""Job ids: validated before they reach a URL, gathered from lists, columns or free text, and
the creation time each one carries."""

from __future__ import annotations

import csv
import dataclasses
import io
import random
import re
import uuid
import warnings
from collections.abc import Iterable
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa

from jobtools.errors import InvalidIdError

__all__ = [
    "storable_id",
    "EARLIEST_ID_TIME",
    "ID_TIME_SLACK",
    "IdScan",
    "JobIds",
    "MAX_ID_LENGTH",
    "NearMiss",
    "NearMissWarning",
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
_NIBBLES = np.zeros(256, dtype=np.uint8)
_IS_HEX = np.zeros(256, dtype=bool)
for _digit, _char in enumerate("0123456789abcdef"):
    _NIBBLES[ord(_char)] = _NIBBLES[ord(_char.upper())] = _digit
    _IS_HEX[ord(_char)] = _IS_HEX[ord(_char.upper())] = True


def job_id_times(values: Iterable[Any], *, now: Any = None) -> pd.Series:
    """The creation times in job ids, as a `datetime64[us, UTC]` Series (vectorised).

    NaT for a value that is not 32 hex characters, or whose time is implausible (before 2010 or
    after `now` plus one day; `now` defaults to the present). A Series keeps its index and name.

    >>> job_id_times(["ff8080814dbd65d7014dbe0d84db0013", "0d3a6f8c2b9e4a71b5c8e2f4a6d9b3c1"])
    0   2015-06-04 10:11:06.587+00:00
    1                             NaT
    dtype: datetime64[us, UTC]
    """
    raw = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    text = raw if raw.dtype == "str" else raw.astype("str")
    strings = pa.array(text.array, type=pa.large_string(), from_pandas=True)
    fits, millis = _id_millis(strings)
    out = plausible_id_times(np.where(fits, millis, -1), now=now)
    return pd.Series(out, index=raw.index, name=raw.name).dt.tz_localize("UTC")


def plausible_id_times(millis: np.ndarray, *, now: Any = None) -> np.ndarray:
    """Milliseconds read from ids (-1 where none) as naive UTC `datetime64[us]`, NaT where
    implausible (before 2010, or after `now` plus a day)."""
    latest = (pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)) + ID_TIME_SLACK
    low, high = EARLIEST_ID_TIME.value // 10**6, pd.Timestamp(latest).value // 10**6
    good = (millis >= low) & (millis <= high)
    return np.where(good, millis * 1000, np.iinfo(np.int64).min).view("datetime64[us]")


def _id_millis(strings: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Which strings are 32 hex characters, and the milliseconds in digits 17-28 of those.

    Read straight from Arrow's buffers: the 32 bytes of each 32-byte string gathered into a
    matrix, checked and decoded by lookup tables (no regex, no per-string slicing).
    """
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    n = len(strings)
    fits = np.zeros(n, dtype=bool)
    millis = np.zeros(n, dtype=np.int64)
    if not n:
        return fits, millis
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64)[strings.offset :][: n + 1]
    valid = strings.is_valid().to_numpy(zero_copy_only=False)
    right_length = valid & (np.diff(offsets) == 32)
    rows = np.flatnonzero(right_length)
    # The 32-byte strings side by side (as they are when every one is): an (n, 32) matrix.
    same = strings if len(rows) == n else strings.filter(pa.array(right_length))
    start = np.frombuffer(same.buffers()[1], dtype=np.int64)[same.offset] if len(rows) else 0
    data = np.frombuffer(same.buffers()[2], dtype=np.uint8) if len(rows) else np.zeros(0, np.uint8)
    chars = data[start : start + 32 * len(rows)].reshape(len(rows), 32)
    hex_rows = _IS_HEX[chars].all(axis=1)
    rows, chars = rows[hex_rows], chars[hex_rows]
    fits[rows] = True
    nibbles = _NIBBLES[chars[:, _TIME_DIGITS]]
    packed = np.zeros((len(rows), 8), dtype=np.uint8)
    packed[:, 2:] = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    millis[rows] = packed.view(">u8").ravel().astype(np.int64)
    return fits, millis


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


@dataclasses.dataclass(frozen=True)
class NearMiss:
    """A value marked as a job id that is not one (`job_id=` then 31 hex characters)."""

    line: int
    value: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.value!r} {self.reason}"


@dataclasses.dataclass(frozen=True)
class IdScan:
    """What `scan_job_ids` found: the job ids in order, and the near misses it did not take."""

    ids: list[str]
    near_misses: tuple[NearMiss, ...] = ()


class NearMissWarning(UserWarning):
    """Text held values marked as job ids that are not job ids (a character short, say)."""


def scan_job_ids(text: str) -> IdScan:
    """Find the job ids in free text (log lines, a console table, JSON), and the near misses.

    Rules (see `extract_job_ids`): a bare 32-hex token is a job id when its middle digits hold a
    plausible creation time (project ids and request ids are random, so they do not); a marked
    value (`job_id=…`, `"job_id": "…"`, `/jobs/<id>`) is a job id whatever its shape; a value
    under a key that names something else (`image_id`, `request_id`) or the project id in a
    `/v1/{project_id}/` path never is. 32-hex ids and UUIDs are lower-cased, so the case
    variants of one id are one id. A marked value that is almost a job id (31 or 33 hex
    characters, a stray letter) is a near miss: listed, with its line, not taken.
    """
    found: list[tuple[int, str]] = []
    misses: list[tuple[int, NearMiss]] = []
    taken: set[int] = set()
    for match in _MARKED.finditer(text):
        value, start = match.group("value"), match.start("value")
        taken.add(start)
        if _JOB_ID.fullmatch(value):
            found.append((start, value.lower()))
        elif (reason := _near_miss(value)) is not None:
            line = text.count("\n", 0, start) + 1
            misses.append((start, NearMiss(line, value, reason)))
        elif match.group("word") is None and _other_shape(value):
            found.append((start, value))
    for match in _HEX_TOKEN.finditer(text):
        start = match.start(1)
        if start in taken:
            continue
        before = text[max(0, start - 48) : start]
        if before.endswith(_PROJECT_PATH):
            continue
        key = _KEY_BEFORE.search(before)
        if key and key.group(1).lower() not in _JOB_KEYS:
            continue
        found.append((start, match.group(1).lower()))
    candidates = list(dict.fromkeys(value for _, value in sorted(found)))
    # A bare token counts only with a plausible time; a marked one counts anyway.
    marked = {value for start, value in found if start in taken}
    times = job_id_times(candidates) if candidates else pd.Series([], dtype=object)
    ids = [v for v, t in zip(candidates, times, strict=True) if v in marked or t is not pd.NaT]
    return IdScan(ids, tuple(miss for _, miss in sorted(misses, key=lambda m: m[0])))


def _near_miss(value: str) -> str | None:
    """Why a marked value is almost, but not, a job id; None when it is something else."""
    bare = value.replace("-", "")
    hex_share = sum(ch in "0123456789abcdefABCDEF" for ch in bare) / max(1, len(bare))
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


def extract_job_ids(text: str) -> list[str]:
    """Pull job ids out of free text: log lines, a pasted console table, JSON.

    By default only job ids: 32-hex tokens whose middle digits hold a plausible creation time,
    lower-cased, and any value the text marks as a job id (`job_id=…`, `"job_id": "…"`,
    `/jobs/<id>`, `job <uuid>`). Not taken: the project id in a `/v1/{project_id}/` path,
    resource UUIDs (`exporting image <uuid>`), values under another key (`request_id=…`).
    De-duplicated in order of first appearance. Near misses (`job_id=` then 31 or 33 hex
    characters) raise a `NearMissWarning` naming their lines; `scan_job_ids` returns them.

    >>> extract_job_ids("GET /v1/0123456789abcdef0123456789abcdef/jobs/"
    ...     "ff8080814dbd65d7014dbe0d84db0013 -> 200 | exporting image 4010a32c-1d2c-4a2b-"
    ...     "9b8e-6e3c5b0a1f00 | again FF8080814DBD65D7014DBE0D84DB0013")
    ['ff8080814dbd65d7014dbe0d84db0013']
    """
    scan = scan_job_ids(text)
    _warn(scan.near_misses)
    return scan.ids


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


def job_ids_from_text(text: str) -> list[str]:
    """Read job ids from the text of an ids file, whatever its layout.

    - one id per line (blank lines and `#` comments skipped, a `job_id` header allowed):
      every line is validated, so a typo is an error naming it, not a silent skip;
    - CSV with a `job_id` column: that column;
    - anything else (a log, a pasted console table, JSON): `extract_job_ids`.

    32-hex ids and UUIDs are lower-cased (the service writes them so), then de-duplicated in
    order of first appearance. Raises InvalidIdError when no id is found.

    >>> job_ids_from_text("# ids\\njob_id\\nj-1\\nj-2\\nj-1\\n")
    ['j-1', 'j-2']
    """
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
    ids = extract_job_ids(text)
    if not ids:
        raise InvalidIdError("no job ids found (expected one per line, or 32-hex / UUID ids)")
    return ids


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
