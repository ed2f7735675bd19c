"""Job records read from files, and their times as epoch seconds."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Job records from a `.jsonl` file (one a line) or a `.json` list or `{"jobs": [...]}`,
    gzip-compressed or not (`.jsonl.gz`: the packaged sample).

    Raises:
        ValueError: for a line or file that is not JSON, or damaged gzip, naming the file
            (and the line).
    """
    path = Path(path)
    data = path.read_bytes()
    # The simulator holds every record anyway, so the file is decompressed whole.
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: damaged gzip data ({exc})") from None
    if path.name.lower().removesuffix(".gz").endswith((".jsonl", ".ndjson")):
        records = []
        for number, line in enumerate(data.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
        return records
    try:
        loaded = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    if isinstance(loaded, Mapping):
        loaded = loaded.get("jobs", [loaded])
    return list(loaded)


def epochs(values: Sequence[object]) -> list[float | None]:
    """Epoch seconds for each job time; None for `""`, None and anything unparsable."""
    from jobtools.times import epoch_seconds, parse_job_times

    seconds = epoch_seconds(parse_job_times(list(values)))
    return [None if s != s else float(s) for s in seconds]  # NaN for NaT, unparsed or ""
