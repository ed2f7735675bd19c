"""Job ids: validated before they reach a URL, gathered from lists, columns or free text."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

from jobtools.errors import InvalidIdError

__all__ = [
    "MAX_ID_LENGTH",
    "as_job_ids",
    "extract_job_ids",
    "job_ids_from_text",
    "validate_id",
    "validate_job_id",
    "validate_project_id",
]

MAX_ID_LENGTH = 64

# Anything that could change the URL path or the request: separators, traversal,
# query/fragment marks, escapes, whitespace and control characters.
_FORBIDDEN = re.compile(r"[/?#%\s\x00-\x1f\x7f]|\.\.")

# 32 hex characters (`ff8080814dbd65d7014dbe0d84db0013`) or a UUID, not inside a longer token.
_ID_PATTERN = re.compile(
    r"(?<![0-9A-Za-z_-])"
    r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{32})"
    r"(?![0-9A-Za-z_-])"
)
# A value right after a key such as `"image_id": "` or `request_id=`: that key names it.
_KEY_BEFORE = re.compile(r"([A-Za-z_][\w-]*)[\"']?\s*[:=]\s*[\"']?$")
_JOB_KEYS = frozenset({"job_id", "jobid", "job", "sub_job_id", "subjobid", "id", "job-id"})


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


def extract_job_ids(text: str) -> list[str]:
    """Pull job ids out of free text: log lines, a pasted console table, JSON.

    Finds 32-hex ids and UUIDs, de-duplicated in order of first appearance. Skipped: the
    project id in a `/v1/{project_id}/` path, and values under a key that names something
    else (`"image_id": "…"`, `request_id=…`).

    >>> extract_job_ids("GET /v1/0123456789abcdef0123456789abcdef/jobs/"
    ...                 "ff8080814dbd65d7014dbe0d84db0013 -> 200 | job 4010a32c-1d2c-4a2b-9b8e-"
    ...                 "6e3c5b0a1f00 | again ff8080814dbd65d7014dbe0d84db0013")
    ['ff8080814dbd65d7014dbe0d84db0013', '4010a32c-1d2c-4a2b-9b8e-6e3c5b0a1f00']
    """
    found: dict[str, None] = {}
    for match in _ID_PATTERN.finditer(text):
        before = text[max(0, match.start() - 48) : match.start()]
        if before.endswith(("/v1/", "/v2/", "/v3/")):
            continue
        key = _KEY_BEFORE.search(before)
        if key and key.group(1).lower() not in _JOB_KEYS:
            continue
        found.setdefault(match.group(1))
    return list(found)


def as_job_ids(values: Any, *, unique: bool = True) -> list[str]:
    """Normalise ids given as one id, a list, a Series or Index, or a frame's `job_id` column.

    Every id is validated (InvalidIdError names the first bad one). With `unique`, repeats
    are dropped, keeping the order of first appearance.
    """
    if isinstance(values, str):
        items: Iterable[Any] = [values]
    elif hasattr(values, "columns") and hasattr(values, "__getitem__"):
        if "job_id" not in values.columns:
            raise InvalidIdError("a frame of ids needs a 'job_id' column")
        items = values["job_id"].tolist()
    elif hasattr(values, "tolist"):
        items = values.tolist()
    elif isinstance(values, Iterable):
        items = values
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

    De-duplicated in order of first appearance. Raises InvalidIdError when no id is found.

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
        return as_job_ids([row.get("job_id") or "" for row in rows])
    if header == ["job_id"]:
        lines = lines[1:]
    if lines and all(_PLAIN_LINE.fullmatch(line) for line in lines):
        return as_job_ids(lines)
    ids = extract_job_ids(text)
    if not ids:
        raise InvalidIdError("no job ids found (expected one per line, or 32-hex / UUID ids)")
    return ids
