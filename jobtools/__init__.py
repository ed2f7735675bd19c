"""jobtools: the asynchronous jobs of a cloud image service as typed pandas DataFrames."""

from __future__ import annotations

from jobtools.frame import FETCH_COLUMNS, JOB_COLUMNS, OUTCOMES, jobs_to_frame, sub_jobs_to_frame
from jobtools.status import JobStatus
from jobtools.times import parse_job_time, parse_job_times

__version__ = "0.1.0"

__all__ = [
    "FETCH_COLUMNS",
    "JOB_COLUMNS",
    "JobStatus",
    "OUTCOMES",
    "__version__",
    "jobs_to_frame",
    "parse_job_time",
    "parse_job_times",
    "sub_jobs_to_frame",
]
