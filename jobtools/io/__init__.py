"""Reading and writing job frames: JSON, JSONL (the compiled scanner, or orjson), CSV, Parquet."""

from __future__ import annotations

from jobtools.io.files import CorruptInputError, CorruptInputWarning, read_jobs, write_jobs

__all__ = ["CorruptInputError", "CorruptInputWarning", "read_jobs", "write_jobs"]
