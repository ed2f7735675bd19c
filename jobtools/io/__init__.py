"""Reading and writing job frames: JSON, JSONL (the Arrow fast path) and CSV."""

from __future__ import annotations

from jobtools.io.files import CorruptInputError, CorruptInputWarning, read_jobs, write_jobs

__all__ = ["CorruptInputError", "CorruptInputWarning", "read_jobs", "write_jobs"]
