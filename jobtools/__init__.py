"""jobtools: the asynchronous jobs of a cloud image service as typed pandas DataFrames."""

from __future__ import annotations

from jobtools.status import JobStatus

__version__ = "0.1.0"

__all__ = [
    "JobStatus",
    "__version__",
]
